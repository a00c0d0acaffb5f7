"""Replay: the city rebuilt from the ledger at a past moment equals what the live store said at
that moment, at three moments of a simulated day (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from gridmgr.responsibility.calendar import TZ
from gridmgr.services.replay import replay
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
    for moment, (opened, overdue) in recorded.items():
        city = replay(services, moment)
        assert sum(opened.values()) > 0
        assert city.open_by_cell() == opened, moment
        assert city.overdue_by_cell() == overdue, moment
        assert city.without_deadline() == 0
