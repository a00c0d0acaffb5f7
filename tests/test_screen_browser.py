"""The big screen in Debian's Chromium at 1920×1080: a display token logs it in, the map and the
panels fill, and a screenshot is kept (``test-artifacts/screenshots/big_screen.png``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from dashboards import dashboard_of
from gridmgr.cases import Actor, Role
from gridmgr.services.display import create_display
from gridmgr.services.reports import report_incident
from tests.live import live_server, new_context, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREEN_MAP_READY_JS = """() => {
    const el = document.getElementById('map');
    return Boolean(el && el._fullData && el._fullData.length
        && el.querySelectorAll('path.choroplethlocation').length >= 1557);
}"""


def test_the_big_screen_fills_a_1920_by_1080_wall_with_a_display_token(
    chromium_browser: Browser, tmp_path: Path
) -> None:
    with live_server(tmp_path / "live") as live:
        services = dashboard_of(live.app).services
        x, y = (
            dashboard_of(live.app)
            .geometry.tier(3)
            .centers[dashboard_of(live.app).geometry.tier(3).codes[0]]
        )
        report_incident(
            services.store,
            services.context,
            reporter=Actor("op", Role.OPERATOR, "值班员"),
            category="street_vending",
            lon=float(x),
            lat=float(y),
            description="占道",
            at=services.now(),
        )
        token = create_display(live.store, "指挥大厅", now=services.now())
        wall = new_context(chromium_browser, viewport={"width": 1920, "height": 1080})
        page = wall.new_page()
        page.goto(f"{live.url}/dashboard/screen?token={token}&tour=0")
        assert page.url == f"{live.url}/dashboard/screen?tour=0"
        # the map is up when its cells are drawn (SVG, no tile server here)
        page.wait_for_function(SCREEN_MAP_READY_JS)
        expect(page.locator("#kpis div")).to_have_count(5)
        expect(page.locator("#invariants tr").first).to_be_visible()
        expect(page.locator("#status")).not_to_have_class("offline")
        path = screenshot(page, "big_screen")
        assert path.stat().st_size > 20_000
        wall.close()
