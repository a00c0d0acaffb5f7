"""The batch apply (:mod:`gridmgr.store.pending`): inside ``Store.batch`` reports and actions are
held back and written together — the same ledger, hash for hash, as change by change, and every
read inside the batch sees them."""

from __future__ import annotations

from contextlib import nullcontext
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.cases import Action, Actor, CaseError, CaseState, Role
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.actions import act
from gridmgr.services.reports import report_incident
from gridmgr.services.simulator import Simulator
from gridmgr.simulation.activity import ActivityModel
from gridmgr.store import Store, open_store
from tests.builders import tiny_context, tiny_roster

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
OPERATOR = Actor("op-1", Role.OPERATOR)
BUSY = ActivityModel(
    reports_per_day=400, return_share=0.25, reopen_share=0.25, defer_share=0.15, late_share=0.3
)


def _simulate(store: Store, context: RoutingContext, *, hours: int | None) -> None:
    """A busy day of the tiny city, hour by hour (each ``hours`` hours one batch, if given)."""
    start = AT - timedelta(days=1)
    store.sync_reference(
        grid=context.grid,
        roster=context.roster,
        catalog=context.catalog,
        at=start,
        actor="system:simulator",
    )
    sim = Simulator(store, context, seed=5, start=start, model=BUSY)
    for first in range(0, 24, hours or 24):
        with store.batch() if hours else nullcontext():
            for hour in range(first + 1, min(first + (hours or 24), 24) + 1):
                sim.advance(start + timedelta(hours=hour))
    sim.flush()


@pytest.mark.slow
def test_history_in_batches_is_the_same_ledger_and_cases_as_change_by_change(
    tmp_path: Path, tiny: Grid
) -> None:
    context = RoutingContext(tiny, tiny_roster(), read_catalog(), WorkCalendar()).warm()
    stores = [open_store(f"sqlite:///{tmp_path / f'{k}.sqlite'}", create=True) for k in "abc"]
    try:
        for store, hours in zip(stores, (None, 1, 6), strict=True):
            _simulate(store, context, hours=hours)
        one, *others = ([(e.seq, e.kind, e.hash) for e in s.ledger_events()] for s in stores)
        assert len(one) > 500
        assert {kind for _, kind, _ in one} >= {"case.report", "case.dispatch", "case.escalate"}
        assert others == [one, one]
        assert stores[2].verify_ledger().ok
        cases = [[repr(c) for c in s.cases(limit=10**6)] for s in stores]
        assert cases[1:] == [cases[0], cases[0]]
    finally:
        for s in stores:
            s.close()


def _report(store: Store, context: RoutingContext, text: str, minutes: int) -> str:
    return report_incident(
        store,
        context,
        reporter=OPERATOR,
        category="street_vending",
        at=AT + timedelta(minutes=minutes),
        description=text,
        lon=120.0625,
        lat=31.5625,
    ).case.case_id


def test_reads_inside_a_batch_see_the_changes_it_holds_back(store: Store) -> None:
    context = tiny_context()
    with store.batch():
        first = _report(store, context, "占道", 0)
        second = _report(store, context, "乱堆", 1)
        holder = store.case(first).holder
        assert holder is not None
        held = store.open_stages_held([holder.person_id])[holder.person_id]
        act(store, context, first, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案")
        with pytest.raises(CaseError):  # refused: the changes before it stay
            act(store, context, second, Action.CLOSE, actor=OPERATOR, at=AT, comment="结案")
        assert store.case(first).state is CaseState.REGISTERED
        assert store.count_cases() == 2  # a query sees the held-back rows
        assert sorted(c.case_id for c in store.cases()) == sorted([first, second])
        head = store.ledger_head()
        assert head is not None
        assert head.kind == "case.register"
        # 立案 passed the case on to a (named) operator: the count follows without a re-read
        after = store.open_stages_held([holder.person_id]).get(holder.person_id, 0)
        moved = store.case(first).holder
        assert after == held - (moved is None or moved.person_id != holder.person_id)
    assert store.case(first).state is CaseState.REGISTERED
    assert [t.action for t in store.trail(first)] == ["report", "register"]
    assert all(t.verified for t in store.trail(first))
    assert store.verify_ledger().ok
    assert store.verify_ledger().count == 3


def test_a_change_made_between_batches_is_not_overwritten_by_what_a_batch_remembered(
    store: Store,
) -> None:
    context = tiny_context()
    with store.batch():
        case_id = _report(store, context, "占道", 0)
        act(store, context, case_id, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案")
    # outside any batch (another request, another process): the case moves on
    act(store, context, case_id, Action.DISPATCH, actor=OPERATOR, at=AT, comment="派遣")
    with store.batch():
        case = store.case(case_id)
        assert case.state is CaseState.DISPATCHED
        assert case.assignee is not None
        worker = Actor(case.assignee.person_id, Role.WORKER)
        act(store, context, case_id, Action.ACCEPT, actor=worker, at=AT, comment="签收")
    assert store.case(case_id).state is CaseState.ACCEPTED
    assert store.case(case_id).version == 4
    assert store.verify_ledger().ok
