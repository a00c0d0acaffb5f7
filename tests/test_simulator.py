"""The demo simulator: every lifecycle state, a valid ledger, green invariants (red only for a
vacancy made on purpose), and the same ledger from the same seed (tiny grid, SQLite)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.cases import CaseState
from gridmgr.cli import main
from gridmgr.datafiles import load_roster
from gridmgr.grid.generations import store_generation
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.roster import Role, Roster, field_post
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.context import Services
from gridmgr.services.invariants import check, verification_status
from gridmgr.services.queries import CaseFilter
from gridmgr.services.simulator import MARKER_KIND, Simulator, is_simulated, mark_database
from gridmgr.settings import Settings
from gridmgr.simulation.activity import ActivityModel
from gridmgr.store import Store, open_store
from tests.builders import tiny_roster

END = datetime(2026, 5, 6, 11, 0, tzinfo=TZ)  # a Wednesday morning, working time
START = END - timedelta(days=2)
VACANT = "320281001002003"
BUSY = ActivityModel(
    reports_per_day=500,
    return_share=0.25,
    reopen_share=0.25,
    defer_share=0.15,
    late_share=0.3,
    out_of_grid_share=0.03,
)
"""Enough activity, and enough of each branch, for every state to show in two days."""
PAST_DISPATCH = {"dispatched", "accepted", "in_progress", "handled"}


def run_cli(args: list[str]) -> int:
    """Run the ``gridmgr`` entry point; its exit code."""
    try:
        main(args)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def context_for(grid: Grid, roster: Roster) -> RoutingContext:
    return RoutingContext(grid, roster, read_catalog(), WorkCalendar()).warm()


def run_simulation(store: Store, context: RoutingContext) -> tuple[Simulator, set[str]]:
    """Two busy days, hour by hour; the states seen at each hour."""
    store.sync_reference(
        grid=context.grid,
        roster=context.roster,
        catalog=context.catalog,
        at=START,
        actor="system:simulator",
    )
    sim = Simulator(store, context, seed=11, start=START, model=BUSY)
    seen: set[str] = set()
    t = START
    while t < END:
        t += timedelta(hours=1)
        sim.advance(t)
        seen |= {c.state.value for c in store.cases(limit=100_000)}
    sim.flush()
    return sim, seen


def without_owner(grid: Grid, roster: Roster, code: str) -> Roster:
    """The roster with the primary holder of ``code``'s post removed (a vacancy)."""
    post = field_post(code)
    kept = [a for a in roster.assignments if not (a.post == post and a.role is Role.PRIMARY)]
    return Roster(roster.persons.values(), roster.units.values(), kept, roster.absences)


def invariant_breaches(
    store: Store, grid: Grid, roster: Roster, now: datetime
) -> dict[str, list[str]]:
    """The invariant panel's lines (:func:`gridmgr.services.invariants.check`) that are red at
    ``now``: each with its first offending case ids (or vacancies, or the ledger's problem)."""
    services = Services(store, context_for(grid, roster), Settings(data_dir=Path("/nonexistent")))
    verified = verification_status(store.verify_ledger(), now)
    return {
        line.key: list(line.case_ids or line.details or (line.value,))
        for line in check(services, at=now, verified=verified)
        if not line.ok
    }


def open_ratios(store: Store, now: datetime) -> tuple[int, float, float]:
    """Open cases, and the shares of them overdue and escalated (on a rung of the ladder)."""
    open_cases = store.cases(CaseFilter(open_only=True), limit=100_000)
    overdue = sum(c.due_at is not None and c.due_at <= now for c in open_cases)
    escalated = sum(c.rung > 0 for c in open_cases)
    n = len(open_cases)
    return n, overdue / n, escalated / n


@pytest.fixture(scope="module")
def simulated(
    tmp_path_factory: pytest.TempPathFactory, tiny: Grid
) -> tuple[str, Simulator, set[str]]:
    db = str(tmp_path_factory.mktemp("sim") / "sim.sqlite")
    store = open_store(f"sqlite:///{db}", create=True)
    try:
        sim, seen = run_simulation(store, context_for(tiny, tiny_roster()))
    finally:
        store.close()
    return db, sim, seen


def test_a_short_simulation_reaches_every_lifecycle_state(
    simulated: tuple[str, Simulator, set[str]],
) -> None:
    db, sim, seen = simulated
    assert seen == {s.value for s in CaseState}
    store = open_store(f"sqlite:///{db}")
    try:
        cases = store.cases(limit=100_000)
        assert sum(c.escalation_level > 0 for c in cases) > 10
        # each branch of the loop, a few times (two days, one of them a holiday)
        assert sum(c.return_count > 0 for c in cases) > 2
        assert sum(c.reopen_count > 0 for c in cases) > 2
        assert sum(c.deferrals > 0 for c in cases) >= 2
        assert sum(c.cell is None for c in cases) > 0  # out of the grid
        assert sum(c.reporter.startswith("apikey:") for c in cases) > 50  # Open311 partner
        assert len(store.patrol_points()) > 200  # workers walked (May 4-5 are Labour Day holidays)
        states = Counter(c.state.value for c in cases)
        assert states["closed"] + states["evaluated"] > 20
    finally:
        store.close()
    assert sim.tally["escalate"] > 10


def test_every_action_is_taken_by_a_person_allowed_to(
    simulated: tuple[str, Simulator, set[str]],
) -> None:
    db, _, _ = simulated
    roster = tiny_roster()
    store = open_store(f"sqlite:///{db}")
    try:
        for case in store.cases(limit=200):
            trail = store.trail(case.case_id)
            assert all(e.verified for e in trail)
            handler = next((e.actor for e in trail if e.action == "handle"), None)
            for e in trail:
                if e.action in ("verify", "reopen"):
                    assert e.actor != handler
                if e.action in ("register", "reject", "dispatch", "close", "verify", "reopen"):
                    assert e.actor in roster.persons
                if e.action == "escalate":
                    assert e.actor == "system:escalator"
    finally:
        store.close()


def test_the_ledger_verifies_with_the_cli_after_a_simulation(
    simulated: tuple[str, Simulator, set[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, _, _ = simulated
    code = run_cli(["ledger", "verify", "--db", db])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "ledger verified" in out


def test_the_invariants_are_all_green_after_a_simulation(
    simulated: tuple[str, Simulator, set[str]],
) -> None:
    db, _, _ = simulated
    store = open_store(f"sqlite:///{db}")
    try:
        breaches = invariant_breaches(store, store_grid(), tiny_roster(), END)
    finally:
        store.close()
    # with 30 % of stages late some may sit in the out-of-grid queue past their deadline; every
    # open case has a named person and a deadline, and every overdue stage climbed the ladder
    assert set(breaches) <= {"queues"}, breaches


def store_grid() -> Grid:
    from tests.builders import tiny_grid

    return tiny_grid()


def test_a_vacancy_shows_red_and_only_it(tmp_path: Path, tiny: Grid) -> None:
    roster = without_owner(tiny, tiny_roster(), VACANT)
    store = open_store(f"sqlite:///{tmp_path / 'vacant.sqlite'}", create=True)
    try:
        run_simulation(store, context_for(tiny, roster))
        breaches = invariant_breaches(store, tiny, roster, END)
        in_vacant = [c for c in store.cases(limit=100_000) if c.cell == VACANT]
    finally:
        store.close()
    assert VACANT in breaches.pop("owners")[0]
    assert set(breaches) <= {"queues"}, breaches
    # the vacant cell's cases went one tier up, to its grid head
    dispatched = [c for c in in_vacant if c.assignee is not None]
    assert dispatched
    assert all(not c.assignee.post.startswith("grid_worker:") for c in dispatched if c.assignee)


@pytest.mark.slow
def test_a_well_run_city_keeps_most_stages_on_time(tmp_path: Path, tiny: Grid) -> None:
    """The default activity model, three days: ≤ 10 % of open cases overdue, ≤ 3 % on a rung of
    the 督办 ladder, and the panel green (issue #15's demo that looks like a well-run city)."""
    store = open_store(f"sqlite:///{tmp_path / 'calm.sqlite'}", create=True)
    context = context_for(tiny, tiny_roster())
    try:
        store.sync_reference(
            grid=tiny, roster=context.roster, catalog=context.catalog, at=START, actor="system:t"
        )
        sim = Simulator(
            store,
            context,
            seed=5,
            start=END - timedelta(days=3),
            model=ActivityModel(reports_per_day=300),
            patrols=False,
        )
        sim.advance(END)
        n, overdue, escalated = open_ratios(store, END)
        breaches = invariant_breaches(store, tiny, context.roster, END)
    finally:
        store.close()
    assert n > 100
    assert overdue <= 0.10, (n, overdue, escalated)
    assert escalated <= 0.03, (n, overdue, escalated)
    assert breaches == {}


# -- gridmgr simulate -----------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, tiny: Grid) -> Path:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    store_generation(tiny, settings)
    load_roster(settings, tiny)
    return data


def simulate(data_dir: Path, db: str, seed: int, capsys: pytest.CaptureFixture[str]) -> str:
    args = ["--data-dir", str(data_dir), "simulate", "--days", "0.5", "--seed", str(seed)]
    args += ["--end", "2026-05-06 12:00", "--db", db, "--per-day", "300"]
    code = run_cli(args)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def ledger_hashes(db: str) -> list[str]:
    store = open_store(f"sqlite:///{db}")
    try:
        return [e.hash for e in store.ledger_events()]
    finally:
        store.close()


def test_the_same_seed_gives_the_same_ledger_and_another_seed_another(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b, c = (str(tmp_path / f"{n}.sqlite") for n in "abc")
    out = simulate(data_dir, a, 5, capsys)
    simulate(data_dir, b, 5, capsys)
    simulate(data_dir, c, 6, capsys)
    assert "reports" in out
    assert "ledger events" in out
    first, second, other = ledger_hashes(a), ledger_hashes(b), ledger_hashes(c)
    assert len(first) > 200
    assert first == second
    assert other != first


def test_simulate_marks_the_database_and_fills_an_existing_one(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(tmp_path / "d.sqlite")
    simulate(data_dir, db, 1, capsys)
    store = open_store(f"sqlite:///{db}")
    try:
        assert is_simulated(store)
        before = store.count_cases()
    finally:
        store.close()
    simulate(data_dir, db, 2, capsys)  # a second run adds to the same database
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.count_cases() > before
        assert store.verify_ledger().ok
    finally:
        store.close()


def test_a_database_is_not_simulated_until_marked(store: Store) -> None:
    assert not is_simulated(store)
    mark_database(store, at=END, details={"seed": 1})
    assert is_simulated(store)
    head = store.ledger_head()
    assert head is not None
    assert head.kind == MARKER_KIND


# -- serve: when the simulator runs ---------------------------------------------------------


def test_serve_simulates_a_new_or_simulated_database_in_demo_mode_only(
    store: Store, tmp_path: Path
) -> None:
    from gridmgr.server import wants_simulator
    from gridmgr.services.database import is_new_database

    demo, real = Settings(data_dir=tmp_path), Settings(data_dir=tmp_path, demo=False)
    assert wants_simulator(demo, store, fresh=True)
    assert not wants_simulator(demo, store, fresh=False)  # someone's database: never unasked
    assert not wants_simulator(real, store, fresh=True)
    assert not wants_simulator(Settings(data_dir=tmp_path, simulate=False), store, fresh=True)
    assert wants_simulator(Settings(data_dir=tmp_path, simulate=True), store, fresh=False)
    mark_database(store, at=END, details={})
    assert wants_simulator(demo, store, fresh=False)  # a demo keeps living across restarts
    assert is_new_database(f"sqlite:///{tmp_path / 'none.sqlite'}")
    assert not is_new_database(store.url)


def test_simulator_settings_come_from_the_environment(tmp_path: Path) -> None:
    from gridmgr.settings import SettingsError

    env = {"GRIDMGR_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(env).simulate is None
    assert Settings.from_env({**env, "GRIDMGR_SIMULATE": "0"}).simulate is False
    assert Settings.from_env({**env, "GRIDMGR_SIMULATE_SPEED": "20"}).simulate_speed == 20
    with pytest.raises(SettingsError, match="GRIDMGR_SIMULATE_SPEED"):
        Settings.from_env({**env, "GRIDMGR_SIMULATE_SPEED": "fast"})


def test_the_live_loop_backfills_then_follows_the_clock_and_stops(
    tmp_path: Path, tiny: Grid
) -> None:
    import time

    from gridmgr.services.simulator import SimulatorLoop

    store = open_store(f"sqlite:///{tmp_path / 'live.sqlite'}", create=True)
    context = context_for(tiny, tiny_roster())
    store.sync_reference(
        grid=tiny, roster=context.roster, catalog=context.catalog, at=START, actor="t"
    )
    now = [END]
    loop = SimulatorLoop(
        store,
        context,
        clock=lambda: now[0],
        seed=3,
        speed=10,
        backfill=timedelta(hours=3),
        every=0.05,
        model=ActivityModel(reports_per_day=500),
    )
    try:
        loop.start()
        deadline = time.monotonic() + 60
        while store.count_cases() < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        backfilled = store.count_cases()
        assert backfilled >= 20  # three hours at once (about 60 reports at the natural pace)
        now[0] = END + timedelta(minutes=30)  # half an hour later, at 10x: ~100 more reports
        while store.count_cases() < backfilled + 30 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert store.count_cases() >= backfilled + 30
    finally:
        loop.stop()
    try:
        assert is_simulated(store)
        assert store.verify_ledger().ok
        assert max(c.reported_at for c in store.cases(limit=10)) <= now[0]
    finally:
        store.close()
