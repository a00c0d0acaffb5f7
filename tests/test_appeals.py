"""Appeals (申诉) of a closed month: filed within the appellant's area, decided by a manager on a
trail, an upheld one publishing a corrected version that names the frozen one; a resend records
nothing twice; an appeal past its deadline turns the invariant line red."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gridmgr.access import caller_for
from gridmgr.errors import AnalyticsError, ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import appeals as ap
from gridmgr.services import assessments as assess
from gridmgr.services.context import Services
from gridmgr.services.invariants import check
from gridmgr.settings import Settings
from gridmgr.store import AppealConflictError, Store
from gridmgr.testing import tiny_context

CLOSED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)  # a Tuesday
COMMUNITY = "320281001002"  # grid head P00018's
OTHER_COMMUNITY = "320281001003"  # grid head P00019's
TOWN = "320281001"  # town leader P00021's
HEAD, OTHER_HEAD, LEADER, WORKER = "P00018", "P00019", "P00021", "P00005"
CENTER_LEADER, OPERATOR = "P00053", "P00023"


def services_at(store: Store, now: datetime, tmp: Path) -> Services:
    return Services(store, tiny_context(), Settings(data_dir=tmp), clock=lambda: now)


@pytest.fixture
def closed(store: Store, tmp_path: Path) -> Services:
    """November closed (version 1) on a store with the tiny grid's reference data."""
    context = tiny_context()
    store.sync_reference(grid=context.grid, roster=context.roster, catalog=context.catalog,
                         at=datetime(2026, 10, 1, tzinfo=TZ), actor="test")  # fmt: skip
    services = services_at(store, CLOSED_AT, tmp_path)
    assess.close_month(services, "2026-11", actor=CENTER_LEADER)
    return services


def who(services: Services, person_id: str):  # type: ignore[no-untyped-def]
    return caller_for(services.roster, person_id, services.now())


def row(body: dict, level: str, unit: str) -> dict:  # type: ignore[type-arg]
    return next(r for r in body["levels"][level] if r["unit"] == unit)


def test_an_upheld_appeal_publishes_a_version_naming_the_frozen_one(closed: Services) -> None:
    store = closed.store
    v1 = store.closed_assessments("2026-11")[0]
    before = row(dict(v1.body), "community", COMMUNITY)
    assert before["coverage_score"] == 0.0  # nobody patrolled: the indicator drags the score

    appeal = ap.file_appeal(closed, who(closed, HEAD), "2026-11", level="community",
                            unit=COMMUNITY, indicator="coverage",
                            reason="巡查终端故障一个月")  # fmt: skip
    assert (appeal.version, appeal.decider_id, appeal.is_open) == (1, CENTER_LEADER, True)
    assert appeal.due_at == datetime(2026, 12, 8, 9, 0, tzinfo=TZ)  # 5 working days
    decided = ap.decide_appeal(closed, who(closed, CENTER_LEADER), appeal.appeal_id,
                               uphold=True, reason="设备故障属实")  # fmt: skip
    assert decided.decision is not None
    assert decided.decision.upheld
    assert decided.decision.new_version == 2

    versions = store.closed_assessments("2026-11")
    assert [(v.version, v.supersedes) for v in versions] == [(1, None), (2, 1)]
    assert versions[0] == v1  # the frozen version never changes
    assert versions[0].digest == assess.body_digest(dict(versions[0].body))
    v2 = versions[1]
    assert v2.digest == assess.body_digest(dict(v2.body)) != v1.digest
    assert appeal.appeal_id in (v2.reason or "")
    after = row(dict(v2.body), "community", COMMUNITY)
    assert after["score"] > before["score"]  # the waived 0 no longer counts
    assert after["coverage_num"] == before["coverage_num"]  # the facts stay as they were
    for other in v1.body["levels"]["community"]:
        if other["unit"] != COMMUNITY:
            assert row(dict(v2.body), "community", other["unit"])["score"] == other["score"]
    assert v2.body["levels"]["town"] == v1.body["levels"]["town"]
    assert v2.body["corrections"] == [{"appeal_id": appeal.appeal_id, "level": "community",
        "unit": COMMUNITY, "indicator": "coverage", "effect": "waived"}]  # fmt: skip
    assert assess.stored_month(closed, "2026-11") == v2

    trail = [e for e in store.ledger_events() if e.subject == "assessment:2026-11"]
    kinds = [e.kind for e in trail]
    assert kinds == ["assessment.closed", "assessment.appeal", "assessment.closed",
                     "assessment.appeal_decided"]  # fmt: skip
    assert json.loads(trail[2].payload)["supersedes"] == 1
    with pytest.raises(Exception, match="append-only"):
        store.execute_sql_for_tests("UPDATE assessment_appeals SET reason = 'x'")
    with pytest.raises(Exception, match="append-only"):
        store.execute_sql_for_tests("DELETE FROM assessment_appeal_decisions")


def test_a_rejected_appeal_leaves_the_scorecard_and_a_decision_is_final(closed: Services) -> None:
    store = closed.store
    appeal = ap.file_appeal(closed, who(closed, LEADER), "2026-11", level="town", unit=TOWN,
                            indicator="missed", reason="漏报认定有误")  # fmt: skip
    with pytest.raises(ForbiddenError, match="managers"):
        ap.decide_appeal(closed, who(closed, OPERATOR), appeal.appeal_id, uphold=True,
                         reason="同意")  # fmt: skip
    with pytest.raises(AnalyticsError, match="reason"):
        ap.decide_appeal(closed, who(closed, CENTER_LEADER), appeal.appeal_id, uphold=False,
                         reason=" ")  # fmt: skip
    manager = who(closed, CENTER_LEADER)
    rejected = ap.decide_appeal(closed, manager, appeal.appeal_id, uphold=False,
                                reason="轨迹显示途经该点")  # fmt: skip
    assert rejected.decision is not None
    assert not rejected.decision.upheld
    assert rejected.decision.new_version is None
    assert [v.version for v in store.closed_assessments("2026-11")] == [1]
    again = ap.decide_appeal(closed, manager, appeal.appeal_id, uphold=False, reason="重复提交")
    assert again.decision == rejected.decision  # a resend of the decision records nothing
    with pytest.raises(AppealConflictError, match="final"):
        ap.decide_appeal(closed, manager, appeal.appeal_id, uphold=True, reason="改判")
    kinds = [e.kind for e in store.ledger_events() if e.kind.startswith("assessment.appeal")]
    assert kinds == ["assessment.appeal", "assessment.appeal_decided"]


def test_an_appeal_outside_the_appellants_area_is_refused(closed: Services) -> None:
    def appeal(person: str, level: str, unit: str, month: str = "2026-11") -> object:
        return ap.file_appeal(closed, who(closed, person), month, level=level, unit=unit,
                              indicator="rework", reason="统计口径有误")  # fmt: skip

    with pytest.raises(ForbiddenError, match="area"):
        appeal(OTHER_HEAD, "community", COMMUNITY)  # another head's community
    with pytest.raises(ForbiddenError, match="area"):
        appeal(HEAD, "town", TOWN)  # a grid head cannot appeal his town's figures
    with pytest.raises(ForbiddenError, match="area"):
        appeal(OTHER_HEAD, "worker", WORKER)  # P00005 works in 320281001002
    with pytest.raises(ForbiddenError, match="town leaders and grid heads"):
        appeal(WORKER, "worker", WORKER)
    with pytest.raises(AnalyticsError, match="not closed"):
        appeal(HEAD, "community", COMMUNITY, month="2026-10")
    with pytest.raises(AnalyticsError, match="no indicator"):
        ap.file_appeal(closed, who(closed, HEAD), "2026-11", level="community", unit=COMMUNITY,
                       indicator="speed", reason="x")  # fmt: skip
    assert closed.store.appeals("2026-11") == []
    mine = appeal(HEAD, "worker", WORKER)  # his worker: allowed
    assert [a.appeal_id for a in ap.month_appeals(closed, who(closed, HEAD), "2026-11")] == [
        mine.appeal_id  # type: ignore[attr-defined]
    ]
    assert ap.month_appeals(closed, who(closed, OTHER_HEAD), "2026-11") == []


def test_an_appeal_past_its_deadline_turns_the_invariant_line_red(
    closed: Services, tmp_path: Path
) -> None:
    appeal = ap.file_appeal(closed, who(closed, HEAD), "2026-11", level="community",
                            unit=COMMUNITY, indicator="discovery",
                            reason="热线重复计数")  # fmt: skip

    def line(at: datetime):  # type: ignore[no-untyped-def]
        lines = check(services_at(closed.store, at, tmp_path), at=at)
        return next(x for x in lines if x.key == "appeals")

    due = appeal.due_at
    assert line(due - timedelta(minutes=1)).ok
    late = line(due)
    assert (late.ok, late.count, late.value) == (False, 1, "0/1")
    assert appeal.appeal_id in late.details[0]
    assert all(x.key != "appeals" for x in check(closed, at=due, scope=(COMMUNITY,)))
    ap.decide_appeal(closed, who(closed, CENTER_LEADER), appeal.appeal_id, uphold=False,
                     reason="不予支持")  # fmt: skip
    assert line(due + timedelta(days=3)).ok  # decided: nothing waits


def test_a_resent_appeal_records_nothing_twice_and_a_second_one_waits(closed: Services) -> None:
    head = who(closed, HEAD)
    kw: dict[str, Any] = {"level": "community", "unit": COMMUNITY, "indicator": "satisfaction"}
    first = ap.file_appeal(closed, head, "2026-11", reason="评价被误录", client_id="c-1", **kw)
    again = ap.file_appeal(closed, head, "2026-11", reason="评价被误录", client_id="c-1", **kw)
    assert again == first
    with pytest.raises(AppealConflictError, match=first.appeal_id):
        ap.file_appeal(closed, head, "2026-11", reason="再次申诉", client_id="c-2", **kw)
    assert len(closed.store.appeals("2026-11")) == 1
    kinds = [e.kind for e in closed.store.ledger_events() if e.kind == "assessment.appeal"]
    assert len(kinds) == 1
