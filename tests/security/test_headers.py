"""Finding 7: every response (dashboard pages, their assets, the API's JSON) carries the security
headers, and the dashboard still runs in Chromium under its Content-Security-Policy."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser

from gridmgr.settings import Settings
from gridmgr.store import Store
from gridmgr.web.headers import HeaderPolicy, allow_tiles, init_security_headers
from tests.builders import close_app
from tests.live import MAP_CELLS_JS, Live, live_server, log_in, new_context
from tests.test_dashboard import logged_in
from tests.test_sessions import FIXED, Clock

BASELINE = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def assert_protected(headers: object, path: str) -> str:
    for name, value in BASELINE.items():
        assert headers.get(name) == value, f"{path}: {name}"  # type: ignore[attr-defined]
    csp: str = headers.get("Content-Security-Policy", "")  # type: ignore[attr-defined]
    assert "frame-ancestors 'none'" in csp, path
    return csp


def test_dashboard_pages_assets_and_api_json_carry_the_security_headers(app: Flask) -> None:
    client = logged_in(app, None)
    page = client.get("/dashboard/")
    assert page.status_code == 200
    csp = assert_protected(page.headers, "/dashboard/")
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["script-src"].startswith("'self' 'sha256-")  # the renderer start-up only
    assert "unsafe-eval" not in csp
    assert "unsafe-inline" not in directives["script-src"]
    assert directives["style-src"] == "'self' 'unsafe-inline'"
    assert directives["worker-src"] == "'self' blob:"
    assert directives["img-src"] == "'self' data: blob:"
    deps = client.get("/dashboard/_dash-dependencies")
    asset = next(
        s
        for s in page.get_data(as_text=True).split('"')
        if s.startswith("/dashboard/_dash-component-suites/")
    )
    for path, answer in (
        ("deps", deps),
        ("asset", client.get(asset)),
        ("healthz", client.get("/healthz")),
        ("login", client.get("/login")),
        ("status", client.get("/status")),
        ("open311", client.get("/open311/v2/services.json")),
        ("api 401", client.get("/api/v1/cases")),
        ("404", client.get("/nowhere")),
    ):
        assert_protected(answer.headers, path)
    assert "Strict-Transport-Security" not in page.headers  # plain HTTP: no HSTS


def test_hsts_is_sent_over_tls_or_when_the_site_is_https_only(app: Flask) -> None:
    answer = app.test_client().get("/healthz", base_url="https://localhost")
    assert answer.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    plain = Flask("plain")
    init_security_headers(plain, hsts=True)
    plain.add_url_rule("/", "root", lambda: "ok")
    assert "Strict-Transport-Security" in plain.test_client().get("/").headers


def test_the_login_page_keeps_its_stricter_policy(app: Flask) -> None:
    csp = app.test_client().get("/login").headers["Content-Security-Policy"]
    assert csp.startswith("default-src 'none'")


def test_a_tile_server_is_allowed_for_images_and_fetches_only() -> None:
    plain = Flask("tiles")
    policy = init_security_headers(plain)
    allow_tiles(plain, "https://{s}.tiles.example/{z}/{x}/{y}.png")
    csp = policy.content_security_policy()
    assert "img-src 'self' data: blob: https://*.tiles.example;" in csp
    assert "connect-src 'self' https://*.tiles.example;" in csp
    assert "tiles.example" not in csp.split("script-src")[1].split(";")[0]
    assert HeaderPolicy().tile_origins == []


def test_settings_tile_url_reaches_the_policy(store: Store, tiny: object, tmp_path: Path) -> None:
    from gridmgr.api import create_app
    from tests.builders import app_services, tiny_context

    settings = Settings(data_dir=tmp_path, tile_url="https://tile.example.org/{z}/{x}/{y}.png")
    services = app_services(store, settings, tiny_context(), clock=Clock(FIXED))
    built = create_app(settings, services.grid, services=services)
    try:
        csp = built.test_client().get("/healthz").headers["Content-Security-Policy"]
        assert "img-src 'self' data: blob: https://tile.example.org;" in csp
    finally:
        close_app(built)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("live")) as running:
        yield running


@pytest.mark.browser
@pytest.mark.slow
def test_the_dashboard_runs_in_chromium_with_no_csp_violation(
    chromium_browser: Browser, live: Live
) -> None:
    context = new_context(chromium_browser, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on(
        "console",
        lambda m: (
            problems.append(m.text)
            if "Content Security Policy" in m.text or "Refused to" in m.text
            else None
        ),
    )
    page.on("pageerror", lambda e: problems.append(str(e)))
    log_in(page, live, live.logins["operator"])
    page.wait_for_function(f"() => ({MAP_CELLS_JS})() > 0")
    for path in ("analysis", "coverage", "duty", "inspections", "notifications", "queue", "wall"):
        page.goto(f"{live.url}/dashboard/{path}")
        page.wait_for_selector("#page > *")
    page.wait_for_timeout(500)
    context.close()
    assert problems == []
