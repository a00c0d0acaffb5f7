"""The dashboard end to end in Debian's Chromium: an operator watches, a grid worker reports
with a photo from his phone, the report reaches the operator's map and feed, the case page shows
its trail. Screenshots are kept under ``test-artifacts/screenshots/`` (``GRIDMGR_ARTIFACTS``)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from dashboards import dashboard_of
from gridmgr.cases import Actor, Role
from gridmgr.responsibility.roster import field_post
from gridmgr.services.escalation import escalate_overdue
from gridmgr.services.reports import report_incident
from tests.live import (
    MAP_CELLS_JS,
    Z_OF_JS,
    Live,
    jpeg,
    live_server,
    log_in,
    new_context,
    screenshot,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("live")) as running:
        yield running


# the page's CSP has no 'unsafe-eval': a predicate is passed as a function, never as an expression
# Playwright would eval in the page


def worker_cell(live: Live) -> str:
    board = dashboard_of(live.app)
    person = live.logins["grid worker"]
    for code in board.geometry.tier(3).codes:
        owner = board.services.roster.owner(field_post(code), board.services.now())
        if owner is not None and owner.person_id == person:
            return str(code)
    raise AssertionError("the demo grid worker holds no cell")


def test_a_worker_report_with_a_photo_reaches_the_operator_map_and_feed(
    chromium_browser: Browser, live: Live, tmp_path: Path
) -> None:
    operator = new_context(chromium_browser, viewport={"width": 1600, "height": 1000})
    room = operator.new_page()
    log_in(room, live, live.logins["operator"])
    room.wait_for_function(f"() => ({MAP_CELLS_JS})() === 1557")
    expect(room.locator("#inv-owners")).to_contain_text("1557/1557")
    expect(room.locator("#inv-ledger")).to_have_class("inv ok")
    cell = worker_cell(live)
    before = room.evaluate(Z_OF_JS, cell)
    screenshot(room, "command-center")

    lon, lat = dashboard_of(live.app).geometry.tier(3).centers[cell]
    phone = new_context(
        chromium_browser,
        viewport={"width": 390, "height": 844},
        is_mobile=True,
        has_touch=True,
        geolocation={"longitude": lon, "latitude": lat},
        permissions=["geolocation"],
    )
    hand = phone.new_page()
    log_in(hand, live, live.logins["grid worker"], "/dashboard/worker")
    hand.click("#wk-locate")
    expect(hand.locator("#wk-place-text")).to_contain_text(f"{lon:.5f}")
    hand.click("#wk-category")
    hand.keyboard.type("井盖")
    hand.get_by_text("井盖缺失破损", exact=True).last.click()  # the option, not the typed text
    expect(hand.locator("#wk-category")).to_contain_text("井盖缺失破损")
    text = "井盖缺失 <b>危险</b> 请尽快处理"
    hand.fill("#wk-description", text)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg())
    hand.set_input_files("#wk-photo input[type=file]", str(photo))
    hand.click("#wk-submit")
    expect(hand.locator("#wk-message")).to_contain_text("已上报")
    screenshot(hand, "worker-report")

    # the operator's feed and map, within 2 s of the acknowledgement
    feed_item = room.locator("#cc-feed li", has_text="上报").filter(has_text=text)
    expect(feed_item).to_be_visible(timeout=2_000)
    room.wait_for_function(
        f"(c) => ({Z_OF_JS})(c) === {(before or 0) + 1}", arg=cell, timeout=2_000
    )
    screenshot(room, "command-center-after-report")

    feed_item.get_by_role("link").click()
    expect(room.locator(".casetitle")).to_be_visible()
    expect(room.locator(".citizen")).to_have_text(text)  # as text: the <b> is not markup
    expect(room.locator(".timeline .event")).to_have_count(1)
    expect(room.locator(".timeline .mark.ok")).to_contain_text("已验证")
    expect(room.locator("img.photo")).to_have_count(1)
    width = room.locator("img.photo").evaluate("img => img.naturalWidth")
    assert width == 64  # the photo was served (re-encoded) and decoded by the browser
    screenshot(room, "case-page")
    operator.close()
    phone.close()


def test_drill_down_from_the_city_to_a_town_and_back(chromium_browser: Browser, live: Live) -> None:
    context = new_context(chromium_browser, viewport={"width": 1600, "height": 1000})
    page = context.new_page()
    log_in(page, live, live.logins["operator"])
    page.wait_for_function(f"() => ({MAP_CELLS_JS})() === 1557")
    box = page.locator("#cc-map .js-plotly-plot").bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] * 0.46, box["y"] + box["height"] * 0.62  # off the labels
    town_view = f"() => ({MAP_CELLS_JS})() > 0 && ({MAP_CELLS_JS})() < 40"
    for attempt in range(3):  # on a loaded CI machine the map may still be busy: click again
        page.mouse.move(x - 5 - attempt, y)  # plotly clicks what the pointer hovers: hover first
        page.mouse.move(x, y, steps=5)
        expect(page.locator("#cc-map .hoverlayer .hovertext")).to_have_count(1)
        page.mouse.click(x, y)
        try:
            page.wait_for_function(town_view, timeout=8_000)
            break
        except PlaywrightTimeoutError:
            if attempt == 2:
                raise
    expect(page.locator("#cc-crumbs")).to_contain_text("›")
    expect(page.locator("#cc-up")).to_be_visible()
    screenshot(page, "town-view")
    page.click("#cc-up")
    page.wait_for_function(f"() => ({MAP_CELLS_JS})() === 1557")
    expect(page.locator("#cc-up")).to_be_hidden()
    context.close()


def test_an_operator_registers_and_dispatches_the_oldest_case_of_the_queue(
    chromium_browser: Browser, live: Live
) -> None:
    services = dashboard_of(live.app).services
    now = services.now()
    centers = dashboard_of(live.app).geometry.tier(3).centers
    cells = sorted(centers)
    reporter = Actor(live.logins["grid worker"], Role.WORKER)

    def report(text: str, ago: timedelta, **where: Any) -> str:
        if not where:
            lon, lat = centers[cells[len(text) * 37 % len(cells)]]
            where = {"lon": lon, "lat": lat}
        done = report_incident(
            services.store,
            services.context,
            reporter=reporter,
            category="street_vending",
            at=now - ago,
            description=text,
            **where,
        )
        return done.case.case_id

    oldest = report("占道经营，早市摊贩占用人行道", timedelta(days=3))
    report("流动摊贩堵塞消防通道", timedelta(minutes=50))
    report("夜市油烟扰民", timedelta(minutes=5))
    report("网格外上报：江堤外侧堆放杂物", timedelta(minutes=20), lon=120.9, lat=32.2)
    report("无坐标：澄江路 12 号门口摊贩", timedelta(minutes=10), address="澄江路 12 号")
    # two days ago the oldest climbed to a card, whose own clock has run out since
    escalate_overdue(services.store, services.context, now=now - timedelta(days=2))

    context = new_context(chromium_browser, viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    log_in(page, live, live.logins["operator"], "/dashboard/queue")
    register = page.locator("#queue-register")
    expect(register.locator("tbody tr").first).to_be_visible()
    expect(register.locator("tbody tr").first.locator(".card")).to_be_visible()  # on the ladder
    expect(register.locator("tbody tr").first.locator(".due.late")).to_be_visible()
    screenshot(page, "work-queues")

    page.fill("#queue-search", "澄江路")
    page.click("#queue-search-go")
    expect(page.locator("#queue-results tbody tr")).to_have_count(1)

    first = register.locator("tbody tr").first.get_by_role("link")
    assert first.get_attribute("href") == f"/dashboard/case/{oldest}"
    first.click()
    expect(page.locator("#case-holder")).not_to_have_text("—")
    expect(page.locator("#case-card .card")).to_be_visible()
    screenshot(page, "queue-case-page")
    # each action answers with the page anew: the stage it leads to, and "done" on top
    for action, comment, next_stage in (
        ("立案", "属实，立案", "派遣"),
        ("派遣", "派遣至网格员", "签收"),
    ):
        page.fill("#case-comment", comment)
        page.get_by_role("button", name=action, exact=True).click()
        expect(page.locator("#case-stage")).to_have_text(next_stage)
        expect(page.locator(".message")).to_have_text("已完成")
    assert services.store.case(oldest).state.value == "dispatched"

    page.goto(f"{live.url}/dashboard/queue")
    expect(page.locator("#queue-register tbody tr").first).to_be_visible()
    expect(page.locator(f'#queue-register a[href="/dashboard/case/{oldest}"]')).to_have_count(0)
    context.close()
