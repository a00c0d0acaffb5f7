"""Replay: the city rebuilt from the ledger at a past moment equals what the live store said at
that moment, at three moments of a simulated day (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from gridmgr.responsibility.calendar import TZ
from gridmgr.services.replay import CityState, encode_state, fold_events, replay, take_snapshots
from gridmgr.services.simulator import Simulator
from gridmgr.settings import Settings
from gridmgr.simulation.activity import ActivityModel
from gridmgr.store import Store
from gridmgr.testing import tiny_context

START = datetime(2026, 5, 6, 0, 0, tzinfo=TZ)  # a Wednesday
# off the simulator's 5-minute escalation grid and the half hours deadlines fall on: the live
# snapshot holds the events before a moment, the replay those up to it, so an escalation pass or
# a deadline exactly at a moment would be counted by one and not the other
MOMENTS = (START + timedelta(hours=9, minutes=32), START + timedelta(hours=14, minutes=2),
           START + timedelta(hours=20, minutes=7))  # fmt: skip


def live_state(store: Store, at: datetime) -> tuple[Counter[str | None], Counter[str | None]]:
    rows = store.cell_load(at, soon=timedelta(0))
    opened = Counter({r.cell: r.open for r in rows if r.open})
    overdue = Counter({r.cell: r.overdue for r in rows if r.overdue})
    return opened, overdue


def test_replay_equals_the_live_state_recorded_at_three_moments_of_a_day(
    store: Store, tmp_path
) -> None:
    from gridmgr.services.context import Services

    context = tiny_context()
    store.sync_reference(
        grid=context.grid,
        roster=context.roster,
        catalog=context.catalog,
        at=START,
        actor="system:simulator",
    )
    sim = Simulator(store, context, seed=11, start=START, model=ActivityModel(reports_per_day=60))
    recorded = {}
    t = START
    for moment in MOMENTS:
        while t < moment:
            t = min(moment, t + timedelta(hours=1))
            sim.advance(t)
        sim.flush()
        recorded[moment] = live_state(store, moment)
    sim.advance(START + timedelta(days=1))
    sim.flush()
    services = Services(store, context, Settings(data_dir=tmp_path), clock=lambda: t)

    def check_moments() -> None:
        for moment, (opened, overdue) in recorded.items():
            city = replay(services, moment)
            assert sum(opened.values()) > 0
            assert city.open_by_cell() == opened, moment
            assert city.overdue_by_cell() == overdue, moment
            assert city.without_deadline() == 0

    check_moments()  # from the ledger alone
    assert take_snapshots(services, every=37) >= 5
    assert take_snapshots(services, every=37) == 0  # all due snapshots made
    check_moments()  # from the nearest snapshot before each moment
    everything = list(store.ledger_events())
    for hour in range(0, 25, 3):  # and equal to folding the whole ledger, at any hour
        moment = START + timedelta(hours=hour, minutes=7)
        alone = fold_events(everything, moment)
        assert replay(services, moment).open_cases() == alone.open_cases(), moment


def test_a_snapshot_that_does_not_match_the_ledger_is_not_used(store: Store, tmp_path) -> None:
    from gridmgr.services.context import Services

    context = tiny_context()
    store.sync_reference(
        grid=context.grid, roster=context.roster, catalog=context.catalog, at=START, actor="t"
    )
    sim = Simulator(store, context, seed=5, start=START, model=ActivityModel(reports_per_day=60))
    sim.advance(START + timedelta(hours=12))
    sim.flush()
    services = Services(store, context, Settings(data_dir=tmp_path), clock=lambda: START)
    moment = START + timedelta(hours=11)
    truth = fold_events(list(store.ledger_events()), moment)
    assert take_snapshots(services, every=20) > 0
    assert replay(services, moment).open_cases() == truth.open_cases()  # from a snapshot
    empty = encode_state(CityState(at=moment, events=0))  # forged: a city with no case
    store.execute_sql_for_tests("UPDATE replay_snapshots SET state = :s", {"s": empty})
    # a snapshot is trusted as it is ...
    assert replay(services, moment).open_cases() != truth.open_cases()
    store.execute_sql_for_tests("UPDATE replay_snapshots SET head_hash = :h", {"h": "0" * 64})
    # ... unless it names another ledger
    assert replay(services, moment).open_cases() == truth.open_cases()


def test_a_case_closed_before_a_snapshot_and_reopened_after_it_replays_in_its_cell(
    store: Store, tmp_path
) -> None:
    from gridmgr.services.context import Services

    def change(i: int, case: str, before: str | None, after: str, **details: object) -> None:
        at = START + timedelta(minutes=i)
        store.record(
            at=at,
            kind="case.test",
            actor="t",
            subject=f"case:{case}",
            details={"from_state": before, "to_state": after, "details": details},
        )

    due = (START + timedelta(days=2)).isoformat()
    change(0, "A", None, "reported", cell="320281001001001", due_at=due, holder={"name": "王"})
    change(1, "A", "reported", "closed", due_at=None)
    for i in range(2, 12):  # other cases, so that snapshots fall between
        change(i, f"B{i}", None, "reported", cell="320281001001002", due_at=due)
    change(12, "A", "closed", "registered", due_at=due)  # reopened: no cell in this change
    services = Services(store, tiny_context(), Settings(data_dir=tmp_path), clock=lambda: START)
    assert take_snapshots(services, every=4) == 3
    moment = START + timedelta(minutes=30)
    city = replay(services, moment)
    assert city.open_by_cell()["320281001001001"] == 1
    assert city.open_cases() == fold_events(list(store.ledger_events()), moment).open_cases()
