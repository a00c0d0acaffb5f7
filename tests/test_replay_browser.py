"""The command center's time slider in Debian's Chromium: after a simulated day, an operator
drags the city back six hours, sees it labelled as a replay and different from live, and comes
back to live (screenshot: ``test-artifacts/screenshots/command_replay.png``)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from dashboards import dashboard_of
from gridmgr.services.simulator import Simulator
from gridmgr.simulation.activity import ActivityModel
from tests.live import MAP_CELLS_JS, live_server, log_in, new_context, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

OPEN_TILE = "#kpi-open .value"


def test_the_slider_replays_six_hours_ago_labelled_and_different_from_live(
    chromium_browser: Browser, tmp_path: Path
) -> None:
    with live_server(tmp_path / "live") as live:
        services = dashboard_of(live.app).services
        now = services.now()
        sim = Simulator(
            live.store,
            services.context,
            seed=17,
            start=now - timedelta(hours=20),
            model=ActivityModel(reports_per_day=400),
            patrols=False,
        )
        for hours in range(19, -1, -1):  # a day's history, written hour by hour up to now
            sim.advance(now - timedelta(hours=hours))
        sim.flush()
        context = new_context(chromium_browser, viewport={"width": 1600, "height": 1000})
        page = context.new_page()
        log_in(page, live, live.logins["operator"])
        page.wait_for_function(f"() => ({MAP_CELLS_JS})() === 1557")
        expect(page.locator("#cc-replay-label")).to_be_hidden()
        live_open = page.locator(OPEN_TILE).inner_text()
        thumb = page.locator("#cc-at [role=slider]")
        thumb.focus()
        for _ in range(6):  # six hours back, an hour a key
            thumb.press("ArrowLeft")
        label = page.locator("#cc-replay-label")
        expect(label).to_be_visible(timeout=20_000)
        expect(label).to_contain_text("回放 replay at")
        expect(page.locator("#cc-live")).to_be_visible()
        expect(page.locator("#cc-feed")).to_contain_text("实时动态暂停")  # no live lines under it
        replayed_open = page.locator(OPEN_TILE).inner_text()
        assert replayed_open != live_open, (replayed_open, live_open)
        path = screenshot(page, "command_replay")
        assert path.stat().st_size > 20_000
        page.click("#cc-live")
        expect(label).to_be_hidden(timeout=20_000)
        expect(page.locator(OPEN_TILE)).not_to_have_text(replayed_open)
        expect(page.locator("#cc-feed")).not_to_contain_text("实时动态暂停")
        context.close()
