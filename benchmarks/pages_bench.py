"""Every dashboard page, warm, in Debian's headless Chromium, on a simulated database.

The whole app (API, sessions, dashboard, the wall display) serves a copy of a database written
by ``gridmgr simulate`` (``GRIDMGR_BENCH_DB``, e.g. ``gridmgr simulate --days 30 --db
/tmp/sim30.sqlite``), with its clock at the end of the simulated period, so "today" and "the
last 7 days" are the simulated ones. An operator (and a grid worker, for his page) is logged in;
each page is loaded once to warm the caches, then :data:`LOADS` times.

A page is **usable** when, counted from its navigation start, every request it makes for its
content (Dash callbacks, the wall display's ``data.json``, the field app's ``/api/v1/`` fetches;
the dashboard's 1-s ticks excluded) has answered, every Plotly figure on it is drawn (an SVG
map: its cells drawn; a MapLibre one: its tiles and layers loaded), the page's own sign of
content is there, and that has held for :data:`SETTLE_MS` — the time of the first moment of that
quiet stretch is the figure. Anchors, same browser and run: ``GET /healthz`` (navigation to
load) and an unknown dashboard path (the Dash shell booting and rendering a one-line notice,
through the same probe). Beside each page, the CPU time this process (the server, and the
benchmark's thin Playwright client) spent per load, and the time the page's main thread in
Chromium was busy until it was usable (scripts, style, layout, paint: Chromium's
``TaskDuration``; not the GPU process): both less noisy than wall time on a shared machine.

The field app ``/m/`` signs in as a phone does: a grid worker of the database logs in once
through the app's own form (``POST /api/v1/devices``), which keeps the device token in the
browser's IndexedDB; every measured load then starts the app with that token, as a phone
opening it again does (its shell from the service worker's cache once installed). It is
**usable** when the worker's cases are listed: the main view is shown, the bundle
(``/api/v1/me/bundle``: categories, his cells, his cases) has been fetched and rendered (its
time is shown), and every ``/api/v1/`` fetch it started (the bundle, the outbox flush, the
cases' photos) has answered.

Run: ``GRIDMGR_BENCH_DB=/tmp/sim30.sqlite python -m benchmarks dashboard`` (or
``python -m benchmarks.pages_bench --db /tmp/sim30.sqlite --pages command,queue,field``).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from benchmarks.common import Row, print_table

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

LOADS = 5
SETTLE_MS = 400
GIVE_UP_S = 90.0
BUDGET_S = 1.5
DB_ENV = "GRIDMGR_BENCH_DB"
FIELD = "field app"
"""The :attr:`Page.login` of the field app: a grid worker's phone with its device token."""
FIELD_SHOWN_JS = """window.__usableWhen = () => {
    const main = document.getElementById('main'), at = document.getElementById('bundle-at');
    return Boolean(main && !main.hidden && at && at.textContent !== '—');
};"""

# Installed before a page's scripts: counts the content requests in flight (Dash callbacks but
# the interval ticks, the wall display's data.json) and finds the first moment from which none
# is in flight and every Plotly figure is drawn, for SETTLE_MS.
USABLE_PROBE_JS = """(() => {
    const probe = window.__usable = {inflight: 0, requests: 0, quietSince: null, usable: null};
    const tick = (body) => typeof body === 'string' && body.includes('n_intervals');
    const content = (url) => /_dash-update-component|data\\.json|\\/api\\/v1\\//.test(String(url));
    const original = window.fetch;
    window.fetch = function (input, init) {
        const url = typeof input === 'string' ? input : input.url;
        const counted = content(url) && !tick(init && init.body);
        if (!counted) { return original.apply(this, arguments); }
        probe.inflight += 1; probe.requests += 1;
        return original.apply(this, arguments).finally(() => { probe.inflight -= 1; });
    };
    // a dcc.Graph waiting for its lazily loaded code (plotly.js) is an empty
    // .dash-graph--pending: not drawn yet (it holds no .js-plotly-plot to look at)
    const drawn = () => document.querySelector('.dash-graph--pending') === null
        && Array.from(document.querySelectorAll('.js-plotly-plot')).every((gd) => {
            if (!gd._fullLayout) { return false; }
            // an SVG map (no tile server): its cells drawn, once its GeoJSON is fetched
            const cells = gd._fullData.some((t) => t.type === 'choropleth' && t._length > 0);
            if (cells && !gd.querySelector('path.choroplethlocation')) { return false; }
            const sub = gd._fullLayout.map && gd._fullLayout.map._subplot;
            return !sub || Boolean(sub.map && sub.map.loaded());
        });
    const busy = () => document.querySelector('[data-dash-is-loading="true"]') !== null;
    // a page's own sign that its content is there (the field app: its bundle rendered)
    const shown = () => !window.__usableWhen || window.__usableWhen();
    // every page measured asks for its content at least once (a Dash page: its render
    // callback): before that, an empty page is not a usable one
    const settled = () => document.readyState === 'complete' && probe.requests > 0
        && probe.inflight === 0 && drawn() && !busy() && shown();
    const look = () => {
        const now = performance.now();
        if (settled()) {
            if (probe.quietSince === null) { probe.quietSince = now; }
            if (now - probe.quietSince >= __SETTLE__) { probe.usable = probe.quietSince; return; }
        } else {
            probe.quietSince = null;
        }
        requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
})();""".replace("__SETTLE__", str(SETTLE_MS))


@dataclass(frozen=True)
class Page:
    """One page to measure: its label, path and who looks at it."""

    label: str
    path: str
    login: str = "operator"
    """Who: a demo login's label, or :data:`FIELD` (a grid worker's device, the field app)."""


@dataclass(frozen=True)
class Usable:
    """Warm loads of one page: the median usable time and the spread."""

    label: str
    median: float
    low: float
    high: float
    requests: int
    cpu: float
    """Median CPU seconds this process (the server) spent per load."""
    browser: float
    """Median seconds the page's main thread in Chromium was busy until usable."""


def _clock_at(end: datetime) -> Callable[[], datetime]:
    """A clock that starts at ``end`` and runs at the wall's pace."""
    import time

    began = time.monotonic()

    def now() -> datetime:
        from datetime import timedelta

        return end + timedelta(seconds=time.monotonic() - began)

    return now


@contextmanager
def served(db_file: Path, folder: Path) -> Iterator[tuple[str, dict[str, str], str, str]]:
    """Serve a copy of ``db_file`` on loopback: (url, demo logins label → person id, a busy
    case's id, a wall display token)."""
    import waitress

    from dashboards import mount_dashboard
    from gridmgr.api import create_app
    from gridmgr.datafiles import load_roster, routing_context
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.services.context import Services
    from gridmgr.services.display import create_display
    from gridmgr.services.reports import Ingestor
    from gridmgr.settings import Settings
    from gridmgr.store import CaseFilter, open_store
    from gridmgr.web.fieldapp import init_field_app
    from gridmgr.web.sessions import init_sessions
    from tests.builders import close_app

    copy = folder / "gridmgr.sqlite"
    copy.touch(mode=0o600)
    with sqlite3.connect(db_file) as source, sqlite3.connect(copy) as target:
        source.backup(target)  # its WAL included
    settings = Settings.from_env(data_dir=folder)
    grid = load_current_grid(settings)
    load_roster(settings, grid)
    context = routing_context(settings, grid).warm()
    store = open_store(f"sqlite:///{copy}", create=True)
    head = store.ledger_head()
    if head is None:
        raise RuntimeError(f"{db_file} holds no history; fill it with `gridmgr simulate`")
    clock = _clock_at(datetime.fromisoformat(head.at))
    now = clock()
    store.sync_reference(
        grid=grid, roster=context.roster, catalog=context.catalog, at=now, actor="bench"
    )
    logins = {
        " ".join(label.split()[:-1]): p.person_id
        for label, p in store.ensure_demo_logins(context.roster, at=now)
    }
    busy = max(
        store.cases(CaseFilter(open_only=True), limit=200),
        key=lambda c: (c.version, c.case_id),
    )
    display = create_display(store, "bench wall", now=now)
    services = Services(store, context, settings, clock, Ingestor(store))
    app = create_app(settings, grid, context.roster, services=services)
    init_sessions(app, secret_key="bench-secret-" + "x" * 40, secure_cookies=False)
    init_field_app(app)  # the grid worker's phone app at /m/, as `gridmgr serve` has it
    mount_dashboard(app, services)
    server = waitress.create_server(  # type: ignore[attr-defined]
        app, host="127.0.0.1", port=0, threads=8
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}", logins, busy.case_id, display
    finally:
        server.close()
        thread.join(timeout=10)
        close_app(app)
        store.close()


def _context(browser: Browser, url: str, person: str) -> BrowserContext:
    from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
    from tests.live import new_context

    context = new_context(browser, viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    page.goto(f"{url}/login?next=/dashboard/")
    page.fill("input[name=person_id]", person)
    page.fill("input[name=password]", DEMO_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/dashboard/**")
    page.close()
    context.add_init_script(script=USABLE_PROBE_JS)
    return context


def _field_context(browser: Browser, url: str, person: str) -> BrowserContext:
    """A phone with the field app signed in as ``person``: the app's own login form asks for a
    device token (``POST /api/v1/devices``) and keeps it in IndexedDB, as on a phone."""
    from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
    from tests.live import new_context

    context = new_context(browser, viewport={"width": 400, "height": 800})
    page = context.new_page()
    page.goto(f"{url}/m/")
    page.fill("#login-form input[name=login]", person)
    page.fill("#login-form input[name=password]", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_function("() => !document.getElementById('main').hidden")
    page.close()
    context.add_init_script(script=USABLE_PROBE_JS)
    context.add_init_script(script=FIELD_SHOWN_JS)
    return context


def _usable_once(context: BrowserContext, url: str) -> tuple[float, int, float]:
    """Seconds from navigation start until the page is usable (``inf`` after :data:`GIVE_UP_S`),
    how many content requests it made, and the seconds the page's main thread had been busy
    by then (Chromium's ``TaskDuration``: scripts, style, layout, paint)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("Performance.enable")
    try:
        page.goto(url, timeout=GIVE_UP_S * 1e3)
        page.wait_for_function(
            "() => window.__usable && window.__usable.usable !== null", timeout=GIVE_UP_S * 1e3
        )
        metrics = devtools.send("Performance.getMetrics")["metrics"]
        busy = next(float(m["value"]) for m in metrics if m["name"] == "TaskDuration")
        found = page.evaluate("() => [window.__usable.usable, window.__usable.requests]")
        return float(found[0]) / 1e3, int(found[1]), busy
    except PlaywrightTimeout:
        return float("inf"), -1, float("inf")
    finally:
        devtools.detach()
        page.close()


def _measure(context: BrowserContext, label: str, url: str, loads: int) -> Usable:
    import time

    inf = float("inf")
    if _usable_once(context, url)[0] == inf:  # warm: caches, HTTP cache, JIT
        return Usable(label, inf, inf, inf, -1, inf, inf)
    times, cpus, browser, requests = [], [], [], 0
    for _ in range(loads):
        cpu = time.process_time()
        seconds, requests, busy = _usable_once(context, url)
        cpus.append(time.process_time() - cpu)
        times.append(seconds)
        browser.append(busy)
    return Usable(
        label,
        statistics.median(times),
        min(times),
        max(times),
        requests,
        statistics.median(cpus),
        statistics.median(browser),
    )


def _healthz(context: BrowserContext, url: str, loads: int) -> float:
    times = []
    for _ in range(loads + 1):
        page = context.new_page()
        page.goto(f"{url}/healthz")
        times.append(
            float(page.evaluate("() => performance.getEntriesByType('navigation')[0].loadEventEnd"))
            / 1e3
        )
        page.close()
    return statistics.median(times[1:])


PAGES = (
    "command",
    "wall",
    "queue",
    "coverage",
    "case",
    "inspections",
    "analysis",
    "worker",
    "screen",
    "field",
)
"""The pages' short names, for ``--pages`` (in the order measured)."""


def pages(case_id: str, display: str) -> list[Page]:
    """The pages measured, in the order of :data:`PAGES`."""
    return [
        Page("command", "/dashboard/"),
        Page("wall", "/dashboard/wall"),
        Page("queue", "/dashboard/queue"),
        Page("coverage", "/dashboard/coverage"),
        Page("case", f"/dashboard/case/{case_id}"),
        Page("inspections", "/dashboard/inspections"),
        Page("analysis", "/dashboard/analysis"),
        Page("worker", "/dashboard/worker", login="grid worker"),
        Page("screen (大屏)", f"/dashboard/screen?token={display}&tour=0"),
        Page("field app /m/", "/m/", login=FIELD),
    ]


def chosen_pages(names: str | None) -> set[str]:
    """The short names of ``--pages`` (a comma-separated list; ``None``: every page); an
    unknown name is refused with the list of known ones."""
    if names is None:
        return set(PAGES)
    chosen = {n.strip() for n in names.split(",") if n.strip()}
    unknown = sorted(chosen - set(PAGES))
    if unknown or not chosen:
        raise ValueError(f"unknown page(s) {', '.join(unknown) or '(none)'}: of {', '.join(PAGES)}")
    return chosen


def run(
    *, repeats: int, console: Console, db: str | None = None, only: str | None = None
) -> list[Row]:
    """Every page's warm usable time on the simulated database ``db`` (or ``$GRIDMGR_BENCH_DB``),
    beside ``/healthz`` and the Dash shell measured in the same browser; ``only``: the pages
    named (:func:`chosen_pages`)."""
    from benchmarks.dashboard_bench import _chromium, _launch

    chosen = chosen_pages(only)
    db = db or os.environ.get(DB_ENV)
    path = _chromium()
    if db is None or path is None:
        why = "no Chromium" if path is None else f"set {DB_ENV} to a `gridmgr simulate` database"
        console.print(f"pages: skipped ({why})")
        return [Row("dashboard pages, warm", f"skipped: {why}", "", "", "", "")]
    loads = max(repeats, 3)
    pw, browser = _launch(path)
    results: list[Usable] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            console.print(f"pages: serving a copy of {db} ...")
            with served(Path(db), Path(folder)) as (url, logins, case_id, display):
                measured = [
                    page
                    for name, page in zip(PAGES, pages(case_id, display), strict=True)
                    if name in chosen
                ]
                contexts = {"operator": _context(browser, url, logins["operator"])}
                for who in {page.login for page in measured} - set(contexts):
                    contexts[who] = (
                        _field_context(browser, url, logins["grid worker"])
                        if who == FIELD
                        else _context(browser, url, logins[who])
                    )
                health = _healthz(contexts["operator"], url, loads)
                shell = _measure(contexts["operator"], "shell", f"{url}/dashboard/no-such", loads)
                for page in measured:
                    console.print(f"pages: {page.label}, {loads} warm loads ...")
                    results.append(
                        _measure(contexts[page.login], page.label, f"{url}{page.path}", loads)
                    )
                for context in contexts.values():
                    context.close()
    finally:
        browser.close()
        pw.stop()
    return _rows(results, health, shell, loads)


def _rows(results: list[Usable], health: float, shell: Usable, loads: int) -> list[Row]:
    anchor = (
        f"/healthz {health * 1e3:.0f} ms; Dash shell (a notice page) {shell.median:.2f} s, "
        f"a load: server CPU {shell.cpu * 1e3:.0f} ms, browser busy {shell.browser * 1e3:.0f} ms; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    return [
        Row(
            f"dashboard page usable, warm: {r.label} ({loads} loads, {r.requests} content "
            "requests)",
            f"median {r.median:.2f} s (min {r.low:.2f}, max {r.high:.2f}); "
            f"a load: server CPU {r.cpu * 1e3:.0f} ms, browser busy {r.browser * 1e3:.0f} ms",
            "same browser: /healthz load; Dash shell",
            anchor,
            f"{r.median / max(shell.median, 1e-6):.1f}x the shell",
            f"≤ {BUDGET_S} s warm: {'✔' if r.median <= BUDGET_S else '✘'}",
        )
        for r in results
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pages_bench", description=__doc__)
    parser.add_argument("--db", help=f"a simulated SQLite database (default ${DB_ENV})")
    parser.add_argument("--loads", type=int, default=LOADS)
    parser.add_argument(
        "--pages", help=f"only these pages, comma-separated, of: {', '.join(PAGES)} (default: all)"
    )
    args = parser.parse_args()
    try:
        chosen_pages(args.pages)
    except ValueError as e:
        parser.error(str(e))
    console = Console(width=170)
    rows = run(repeats=args.loads, console=console, db=args.db, only=args.pages)
    print_table(console, rows, "dashboard pages")


if __name__ == "__main__":
    main()
