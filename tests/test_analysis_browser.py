"""The analysis page end to end in Debian's Chromium: a town leader appeals his town's figure of
the closed month; the command center's head picks this month and sees the hot-spot map, the
recurring problems and the stage times, then picks last month and upholds the appeal, and the
scorecard shows the corrected version. Screenshots go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboards import dashboard_of
from dashboards.reads.analysis import months
from gridmgr.cases import Actor, Role
from gridmgr.responsibility.roster import field_post
from gridmgr.services.assessments import close_month
from gridmgr.services.reports import report_incident
from tests.live import Live, live_server, log_in, new_context, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MAP_CELLS_JS = """() => {
    const el = document.querySelector('#an-map .js-plotly-plot');
    if (!el || !el._fullData || !el._fullData.length) { return null; }
    const paths = el.querySelectorAll('path.choroplethlocation').length;
    if (!paths) { return null; }  // SVG cells not drawn yet
    const named = (name) => el._fullData.find((t) => t.name === name).locations;
    const others = named('territory').length + named('borders').length;
    return {cells: named('hotspots'), drawn: paths - others};
}"""
"""The cells of the hot-spot map's significant classes and how many are drawn (``null`` until
it is up)."""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with live_server(tmp_path_factory.mktemp("live-analysis")) as running:
        yield running


def pick(page: Page, dropdown: str, text: str) -> None:
    """Choose the option showing ``text`` in a Dash dropdown."""
    page.click(dropdown)
    page.keyboard.type(text)
    page.get_by_role("option").filter(has_text=text).first.click()  # the menu is a portal
    expect(page.locator(dropdown)).to_contain_text(text)


def test_a_leader_appeals_and_the_center_head_sees_the_month_and_upholds_it(
    chromium_browser: Browser, live: Live
) -> None:
    services = dashboard_of(live.app).services
    now = services.now()
    this_month, last_month = months(now)[:2]
    close_month(services, last_month, actor="test")
    leader = live.logins["town leader"]
    town = next(a.post.place for a in services.roster.posts_of(leader, now))
    town_name = str(services.grid.cell(town)["name"])
    # this month: a few reports of one kind at one spot (a recurring problem), some elsewhere
    cells = [c for c in sorted(dashboard_of(live.app).geometry.tier(3).codes) if c[:9] == town]
    for i, cell in enumerate([cells[0]] * 3 + cells[1:6]):
        worker = services.roster.owner(field_post(cell), now)
        assert worker is not None
        lon, lat = dashboard_of(live.app).geometry.tier(3).centers[cell]
        report_incident(services.store, services.context, category="street_vending",
                        reporter=Actor(worker.person_id, Role.WORKER, worker.name), at=now,
                        description=f"占道经营 {i}", lon=lon, lat=lat)  # fmt: skip

    # the town leader appeals his town's patrol coverage of the closed month
    context = new_context(chromium_browser, viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    log_in(page, live, leader, "/dashboard/analysis")
    expect(page.locator("#an-status")).to_contain_text(f"{last_month} 已冻结（第 1 版")
    expect(page.locator("#an-file-form")).to_be_visible()
    expect(page.locator("#an-decide-form")).to_be_hidden()
    pick(page, "#an-unit", town_name)
    pick(page, "#an-indicator", "巡查覆盖率")
    page.fill("#an-reason textarea, textarea#an-reason", "本月巡查终端批量故障，轨迹未上传")
    page.click("#an-file")
    expect(page.locator("#an-file-result")).to_contain_text("已提交申诉")
    expect(page.locator("#an-appeals")).to_contain_text("待裁定")
    screenshot(page, "analysis-appeal-filed")
    context.close()

    # the command center's head: this month's map and tables, then last month's appeal
    context = new_context(chromium_browser, viewport={"width": 1500, "height": 1100})
    page = context.new_page()
    log_in(page, live, live.logins["center leader"], "/dashboard/analysis")
    page.wait_for_function(f"() => ({MAP_CELLS_JS})() !== null")
    pick(page, "#an-month", this_month)
    expect(page.locator("#an-period-summary")).to_contain_text(f"{this_month}：8 件案件")
    # only the cells of a significant Gi* class are drawn (the three reports' cell among them)
    page.wait_for_function(
        f"() => {{ const m = ({MAP_CELLS_JS})(); return m && m.cells.includes('{cells[0]}'); }}"
    )
    shown = page.evaluate(f"({MAP_CELLS_JS})")
    assert shown["drawn"] == len(shown["cells"]) < 1557, shown
    expect(page.locator("table.recurring")).to_contain_text("3")
    expect(page.locator("table.times").first).to_contain_text(town_name)
    screenshot(page, "analysis-period")

    pick(page, "#an-month", last_month)
    expect(page.locator("#an-status")).to_contain_text(f"{last_month} 已冻结（第 1 版")
    pick(page, "#an-decide-id", "AP")
    page.get_by_text("维持申诉（发布更正版）").click()
    page.fill("textarea#an-decide-reason", "设备故障属实，巡查覆盖率不计入本月得分")
    page.click("#an-decide")
    expect(page.locator("#an-decide-result")).to_contain_text("维持（第 2 版）")
    expect(page.locator("#an-status")).to_contain_text("第 2 版")
    expect(page.locator("#an-status")).to_contain_text("取代第 1 版")
    expect(page.locator("#an-appeals")).to_contain_text("维持（第 2 版）")
    screenshot(page, "analysis-appeal-upheld")
    context.close()
