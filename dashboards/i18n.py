"""The dashboard's words in Chinese (the default) and English.

>>> t("open", "zh"), t("open", "en")
('在办', 'Open')
>>> t("no-such-key", "en")
'no-such-key'
"""

from __future__ import annotations

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"

_WORDS: dict[str, tuple[str, str]] = {
    "app": ("江阴市网格化指挥中心", "Jiangyin grid command center"),
    "nav.command": ("指挥中心", "Command center"),
    "nav.wall": ("超时督办墙", "Overdue wall"),
    "nav.coverage": ("网格考核", "Coverage review"),
    "nav.worker": ("我的网格", "My cells"),
    "nav.inspections": ("双随机抽查", "Inspections"),
    "insp.title": ("双随机一公开 · 抽查", "Double-random inspections"),
    "insp.plans": ("抽查计划", "Plans"),
    "insp.draws": ("抽签", "Draws"),
    "insp.draw": ("抽签编号", "Draw"),
    "insp.plan_id": ("计划编号", "Plan"),
    "insp.name": ("名称", "Name"),
    "insp.period": ("期间", "Period"),
    "insp.departments": ("部门", "Departments"),
    "insp.joint": ("联合抽查", "Joint"),
    "insp.commitment": ("种子承诺(SHA-256)", "Seed commitment (SHA-256)"),
    "insp.visits": ("检查次数", "Visits"),
    "insp.saved": ("合并节省", "Saved by bundling"),
    "insp.planned": ("待检查", "Planned"),
    "insp.partial": ("部分完成", "Partly done"),
    "insp.done": ("已完成", "Done"),
    "insp.results": ("检查结果(公开)", "Results (public)"),
    "insp.visit": ("检查序号", "Visit"),
    "insp.department": ("部门", "Department"),
    "insp.item": ("检查事项", "Item"),
    "insp.outcome": ("结果", "Outcome"),
    "insp.recorded": ("记录时间", "Recorded"),
    "nav.logout": ("退出", "Log out"),
    "city": ("江阴市", "Jiangyin"),
    "up": ("返回上级", "Back up"),
    "open": ("在办", "Open"),
    "overdue": ("超时", "Overdue"),
    "escalated": ("已升级", "Escalated"),
    "closed_today": ("今日结案", "Closed today"),
    "on_time": ("按时率(30天)", "On time (30 d)"),
    "metric.open": ("在办案件", "Open cases"),
    "metric.overdue": ("超时案件", "Overdue cases"),
    "metric.risk": ("SLA 风险(超时或2小时内到期)", "SLA risk (overdue or due within 2 h)"),
    "feed": ("实时动态", "Live feed"),
    "invariants": ("事不出格 · 实时校验", "Nothing escapes the grid"),
    "inv.coverage": ("网格全覆盖(镇/社区/网格)", "Territory covered (towns/communities/cells)"),
    "inv.owners": ("网格有责任人", "Cells with an owner"),
    "inv.owned_cases": ("在办案件有责任人和时限", "Open cases with owner and deadline"),
    "inv.escalated": ("超时未升级", "Overdue stages not escalated"),
    "inv.out_of_grid": ("网格外待处理", "Out-of-grid queue"),
    "inv.ledger": ("审计链校验于", "Ledger verified at"),
    "ok": ("正常", "OK"),
    "broken": ("异常", "Broken"),
    "show": ("查看", "Show"),
    "case": ("案件", "Case"),
    "state": ("状态", "State"),
    "category": ("类别", "Category"),
    "place": ("位置", "Place"),
    "owner": ("责任人", "Owner"),
    "deadline": ("时限", "Deadline"),
    "late_by": ("超时", "Late by"),
    "due_in": ("剩余", "Due in"),
    "reported": ("上报时间", "Reported"),
    "description": ("描述", "Description"),
    "path": ("网格路径", "Cell path"),
    "chain": ("上报时的责任链", "Owner chain at the time"),
    "trail": ("全程留痕", "Trail"),
    "verified": ("已验证", "verified"),
    "broken_event": ("校验失败", "BROKEN"),
    "photos": ("照片", "Photos"),
    "actions": ("可执行操作", "Actions"),
    "comment": ("处理意见(必填)", "Comment (required)"),
    "no_actions": ("您对此案件没有可执行的操作。", "You have no action on this case."),
    "done": ("已完成", "Done"),
    "not_found": ("没有找到该案件，或您无权查看。", "No such case, or not yours to see."),
    "forbidden": (
        "此页面仅限指挥中心和管理人员。",
        "This page is for the command center and managers.",
    ),
    "wall.title": ("超时督办", "Overdue and escalated"),
    "wall.none": ("目前没有超时案件。", "Nothing is overdue."),
    "out_of_grid": ("网格外上报", "Out of grid"),
    "my_cases": ("我的在办案件", "My open cases"),
    "my_cells": ("我的网格", "My cells"),
    "report": ("上报事件", "Report an incident"),
    "report.where": (
        "移动地图，让十字对准事发位置；或使用定位",
        "Move the map until the cross is on the place, or use your location",
    ),
    "report.chosen": ("已选照片", "Photo chosen"),
    "report.locate": ("使用我的位置", "Use my location"),
    "report.photo": ("拍照/选择照片", "Take or choose a photo"),
    "report.submit": ("提交", "Submit"),
    "report.ok": ("已上报，案件号", "Reported: case"),
    "report.need_place": ("请先选择位置。", "Pick a place first."),
    "sign": ("签收", "Sign for"),
    "start": ("开始处置", "Start"),
    "handle": ("反馈办结", "Report back"),
    "none": ("暂无", "None"),
    "coverage.title": ("网格考核", "Coverage and performance"),
    "coverage.min_n": ("参与排名的最少案件数", "Minimum cases to be ranked"),
    "coverage.export": ("导出 CSV", "Export CSV"),
    "coverage.vacancies": ("岗位空缺", "Vacancies"),
    "coverage.by": ("统计口径", "Group by"),
    "coverage.cell": ("网格", "Cell"),
    "coverage.owner": ("责任人", "Owner"),
    "coverage.map": ("地图", "Map"),
    "coverage.table": ("表格", "Table"),
    "coverage.period": ("统计期", "Period"),
    "coverage.days": ("天", "days"),
    "coverage.tier2": ("社区/村", "Community"),
    "coverage.tier1": ("镇街", "Town"),
    "coverage.assignee": ("责任人", "Owner"),
    "coverage.town": ("镇街", "Town"),
    "coverage.view": ("视图", "View"),
    "coverage.rank": ("排名", "Rank"),
    "coverage.unit": ("对象", "Unit"),
    "coverage.cases": ("案件数", "Cases"),
    "coverage.finished": ("已结案", "Closed"),
    "coverage.on_time_raw": ("按时率", "On time"),
    "coverage.wilson": ("95% 置信区间", "95% interval"),
    "coverage.eb": ("校正按时率", "Adjusted on-time rate"),
    "coverage.sign_h": ("签收(小时)", "Sign (h)"),
    "coverage.handle_h": ("处置(小时)", "Handle (h)"),
    "coverage.close_h": ("结案(小时)", "Close (h)"),
    "coverage.returns": ("退回", "Returns"),
    "coverage.reopen": ("重开率", "Reopen rate"),
    "coverage.more": (
        "显示前 {shown} 行，共 {total} 行；完整数据请导出 CSV。",
        "Showing {shown} of {total} rows; export CSV for all.",
    ),
    "coverage.summary": (
        "{units} 个对象，{ranked} 个结案数不少于 {min} 件参与排名；按经验贝叶斯校正按时率排序"
        "（全市先验 {mean}，相当于 {strength} 件案件），并给出 95% Wilson 置信区间。",
        "{units} units, {ranked} with at least {min} closed cases ranked by their empirical-Bayes "
        "on-time rate (city prior {mean}, worth {strength} cases), with 95% Wilson intervals.",
    ),
    "coverage.map_cells": ("地图按网格显示。", "The map shows cells."),
    "coverage.patrols": ("巡查覆盖(近7天)", "Patrol coverage (last 7 days)"),
    "coverage.community": ("社区/村", "Community"),
    "coverage.patrolled": ("巡查覆盖率", "Patrolled"),
    "coverage.blind": ("盲区网格", "Blind cells"),
    "coverage.last_seen": ("最近巡查", "Last seen"),
    "lang": ("English", "中文"),
    "kind.photo": ("照片", "photo"),
    "on_patrol": ("巡查中", "On patrol"),
}


def t(key: str, lang: str) -> str:
    """The word for ``key`` in ``lang`` (the key itself if there is none)."""
    pair = _WORDS.get(key)
    if pair is None:
        return key
    return pair[1] if lang == "en" else pair[0]


def lang_of(value: object) -> str:
    """A supported language from whatever a store or query held (default Chinese)."""
    return value if isinstance(value, str) and value in LANGS else DEFAULT_LANG
