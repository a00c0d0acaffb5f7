"""Simulated habits: each worker's diligence is drawn from the seed and his id, shapes what he
does, and the monthly scorecard of a simulated city ranks the diligent above the careless."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from gridmgr.responsibility.calendar import TZ
from gridmgr.services import assessments as assess
from gridmgr.services.context import Services
from gridmgr.settings import Settings
from gridmgr.simulation.activity import ActivityModel, Arrival, Channel
from gridmgr.simulation.habits import Habits, habit_from_diligence, habit_of
from gridmgr.store import Store, open_store
from gridmgr.testing import simulate_activity, tiny_context, tiny_roster

SEED = 5  # simulate_activity's


def test_a_workers_habits_depend_on_the_seed_and_his_id_only() -> None:
    assert habit_of("P00003", seed=SEED) == habit_of("P00003", seed=SEED)
    drawn = [habit_of(f"P{i:05d}", seed=SEED).diligence for i in range(1, 400)]
    assert 0.4 < float(np.mean(drawn)) < 0.6  # Beta(2, 2)
    assert min(drawn) < 0.15 and max(drawn) > 0.85  # noqa: PT018 - both tails are there
    assert [habit_of(f"P{i:05d}", seed=6).diligence for i in range(1, 5)] != drawn[:4]


def test_a_careless_worker_finds_less_and_is_late_more() -> None:
    careless, diligent = habit_from_diligence(0.0), habit_from_diligence(1.0)
    assert careless.patrol_share < diligent.patrol_share
    assert careless.walk_minutes[1] < diligent.walk_minutes[1]
    assert (careless.find_share, diligent.find_share) == (0.35, 1.0)
    assert careless.late_share > 10 * diligent.late_share
    lateness = [habit_of(f"P{i:05d}", seed=SEED).late_share for i in range(1, 400)]
    assert float(np.mean(lateness)) == pytest.approx(0.02, abs=0.004)  # the city stays punctual


def test_an_incident_a_careless_worker_misses_is_called_in_by_a_resident() -> None:
    roster = tiny_roster()
    cell = "320281001001001"
    at = datetime(2026, 11, 3, 10, 0, tzinfo=TZ)
    habits = Habits(SEED, ActivityModel())
    owner = roster.owner(next(a.post for a in roster.assignments if a.post.place == cell), at)
    assert owner is not None
    share = habits.of(owner.person_id).find_share
    rng = np.random.default_rng(1)
    arrival = Arrival(at, 120.1, 31.6, cell, "street_vending", Channel.WORKER)
    channels = [habits.found_by(rng, arrival, roster).channel for _ in range(2000)]
    found = channels.count(Channel.WORKER) / len(channels)
    assert found == pytest.approx(share, abs=0.04)
    assert set(channels) == {Channel.WORKER, Channel.OPEN311, Channel.OPERATOR}
    hotline = Arrival(at, 120.1, 31.6, cell, "street_vending", Channel.OPEN311)
    assert habits.found_by(rng, hotline, roster) == hotline  # residents' calls stay theirs


@pytest.mark.slow
def test_the_scorecard_ranks_the_diligent_workers_above_the_careless(tmp_path: Path) -> None:
    """Four simulated working days of the tiny grid's 16 workers: the month's composite score
    follows the workers' drawn diligence (Spearman ρ ≥ 0.6), and the more diligent half
    scores higher on average than the less diligent half."""
    context = tiny_context()
    store: Store = open_store(f"sqlite:///{tmp_path / 'sim.sqlite'}", create=True)
    try:
        with store.batch():  # one commit: the history is written in bulk, as `simulate` does
            simulate_activity(store, context, end=datetime(2026, 11, 7, 0, 0, tzinfo=TZ),
                              days=4.0, per_day=300, seed=SEED)  # fmt: skip
        now = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)
        services = Services(store, context, Settings(data_dir=tmp_path), clock=lambda: now)
        card = assess.compute_month(services, "2026-11").levels["worker"]
    finally:
        store.close()
    habits = Habits(SEED, ActivityModel())
    diligence = np.array([habits.of(str(u)).diligence for u in card["unit"]])
    score = card["score"].to_numpy(float)
    assert len(card) == 16
    rho = float(spearmanr(diligence, score).statistic)
    assert rho >= 0.6, (rho, list(zip(diligence.round(2), score.round(1), strict=True)))
    order = np.argsort(diligence)
    assert score[order[8:]].mean() > score[order[:8]].mean()
