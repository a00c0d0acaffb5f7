"""A live command center on loopback for browser tests and the dashboard benchmark.

The real app (API, sessions, dashboard) on the shipped Jiangyin grid and the demo roster, served
by waitress from a thread, with a SQLite database in a temporary data folder. Helpers log a
browser context in and make a small JPEG for photo uploads.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Flask

from dashboards import dashboard_of, mount_dashboard
from dashboards.figures import Trace
from gridmgr.api import create_app
from gridmgr.datafiles import load_roster, routing_context
from gridmgr.grid.generations import load_current_grid
from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
from gridmgr.services.context import Services, wall_clock
from gridmgr.services.reports import Ingestor
from gridmgr.settings import Settings
from gridmgr.store import Store, open_store
from gridmgr.web.fieldapp import init_field_app
from gridmgr.web.sessions import init_sessions
from tests.builders import close_app

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

SECRET = "live-test-secret-key-" + "x" * 24
ARTIFACTS_ENV = "GRIDMGR_ARTIFACTS"
ARTIFACTS_DEFAULT = Path("test-artifacts")
"""Where browser tests keep screenshots (CI keeps this folder as an artifact)."""


@dataclass
class Live:
    """A running command center: its URL, app, store and demo logins (label → person id)."""

    url: str
    app: Flask
    store: Store
    logins: dict[str, str]


@contextmanager
def live_server(data_dir: Path) -> Iterator[Live]:
    """Serve the whole app on a free loopback port until the block ends."""
    import waitress

    settings = Settings.from_env(data_dir=data_dir)
    grid = load_current_grid(settings)
    load_roster(settings, grid)
    context = routing_context(settings, grid).warm()
    store = open_store(f"sqlite:///{data_dir / 'gridmgr.sqlite'}", create=True)
    now = wall_clock()
    store.sync_reference(
        grid=grid, roster=context.roster, catalog=context.catalog, at=now, actor="test"
    )
    # "grid worker 网格员" → "grid worker"
    logins = {
        " ".join(label.split()[:-1]): p.person_id
        for label, p in store.ensure_demo_logins(context.roster, at=now)
    }
    services = Services(store, context, settings, wall_clock, Ingestor(store))
    app = create_app(settings, grid, context.roster, services=services)
    init_sessions(app, secret_key=SECRET, secure_cookies=False)
    init_field_app(app)
    mount_dashboard(app, services)
    dashboard_of(app).ledger.verify()
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield Live(f"http://127.0.0.1:{server.effective_port}", app, store, logins)
    finally:
        server.close()
        thread.join(timeout=10)
        close_app(app)
        store.close()


def log_in(page: Page, live: Live, person_id: str, path: str = "/dashboard/") -> None:
    """Log the page's context in through the login form, landing on ``path``."""
    page.goto(f"{live.url}/login?next={path}")
    page.fill("input[name=person_id]", person_id)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.url}{path}")


def jpeg(size: tuple[int, int] = (64, 48)) -> bytes:
    """A small real JPEG."""
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, (120, 160, 200)).save(out, "JPEG")
    return out.getvalue()


def screenshot(page: Page, name: str) -> Path:
    """Keep a full-page screenshot under ``$GRIDMGR_ARTIFACTS`` (default ``test-artifacts/``)."""
    import os

    folder = Path(os.environ.get(ARTIFACTS_ENV) or ARTIFACTS_DEFAULT) / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


MAP_CELLS_JS = """() => {
    const el = document.querySelector('#cc-map .js-plotly-plot');
    if (!el || !el._fullData || !el._fullData[CELLS]) { return -1; }
    // drawn: SVG cells (no tile server) or MapLibre's canvas (over tiles)
    const drawn = el.querySelector('path.choroplethlocation, canvas');
    return drawn ? el._fullData[CELLS].locations.length : -1;
}""".replace("CELLS", str(int(Trace.CELLS)))
"""How many cells the command center's map draws (-1 until the map is up)."""

Z_OF_JS = """(code) => {
    const el = document.querySelector('#cc-map .js-plotly-plot');
    const i = el._fullData[CELLS].locations.indexOf(code);
    return i < 0 ? null : el.data[CELLS].z[i];
}""".replace("CELLS", str(int(Trace.CELLS)))


def new_context(browser: object, **kwargs: object) -> BrowserContext:
    """A zh-CN, Asia/Shanghai browser context."""
    context: BrowserContext = browser.new_context(  # type: ignore[attr-defined]
        locale="zh-CN", timezone_id="Asia/Shanghai", **kwargs
    )
    context.set_default_timeout(20_000)
    return context
