"""Inspections in the store, on SQLite and PostgreSQL: snapshots, plans, commit → run → reveal,
findings, each step a ledger event, and refusals that leave nothing behind."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.inspection import DrawError, ResultError, UnknownInspectionError, VerificationError
from gridmgr.inspection.draw import commitment_of
from gridmgr.inspection.registry import Registry
from gridmgr.responsibility.calendar import TZ
from gridmgr.services import inspections as svc
from gridmgr.store import Store
from tests.builders import tiny_roster

AT = datetime(2026, 3, 31, 9, 0, tzinfo=TZ)
SEED = "c0ffee" * 10 + "c0de"  # fixed, so every run draws the same visits
PLAN = {
    "name": "二季度抽查",
    "period": {"start": "2026-04-01", "end": "2026-06-30"},
    "departments": {"scjg": ["食品安全", "价格行为"], "xfjy": ["消防安全"], "cgj": ["市容"]},
    "ratios": {"A": "0.3", "B": "0.1", "C": "0.05", "D": "0.02"},
}


@dataclass
class Drawn:
    store: Store
    draw_id: str
    seed: str
    plan_id: str


def ledger_kinds(store: Store) -> list[str]:
    return [e.kind for e in store.ledger_since(0, limit=1000)]


def prepare(store: Store, grid: Grid, *, n: int = 1500) -> str:
    """Registry, pool and plan in ``store``; returns the plan id."""
    svc.generate_default_registry(store, grid, at=AT, actor="m1", n=n, seed=3)
    svc.generate_default_pool(store, tiny_roster(), at=AT, actor="m1")
    return svc.create_plan(store, PLAN, at=AT, actor="m1").plan_id


@pytest.fixture
def drawn(store: Store, tiny: Grid) -> Drawn:
    plan_id = prepare(store, tiny)
    made = svc.commit(
        store, plan_id, tiny_roster(), at=AT, actor="m1", commitment=commitment_of(SEED)
    )
    svc.run(store, made.draw.draw_id, SEED, at=AT + timedelta(hours=1), actor="m1")
    return Drawn(store, made.draw.draw_id, SEED, plan_id)


def test_snapshots_round_trip_and_the_newest_is_current(store: Store, tiny: Grid) -> None:
    reg = svc.generate_default_registry(store, tiny, at=AT, actor="m1", n=500, seed=1)
    assert store.current_snapshot("registry") == reg.snapshot_hash
    assert store.load_registry(reg.snapshot_hash).snapshot_hash == reg.snapshot_hash
    other = svc.generate_default_registry(store, tiny, at=AT, actor="m1", n=400, seed=2)
    assert store.current_snapshot("registry") == other.snapshot_hash
    store.save_registry(reg, at=AT, actor="m1")  # an older snapshot made current again
    assert store.current_snapshot("registry") == reg.snapshot_hash
    pool = svc.generate_default_pool(store, tiny_roster(), at=AT, actor="m1")
    assert store.load_pool(pool.snapshot_hash).snapshot_hash == pool.snapshot_hash
    assert ledger_kinds(store).count("inspection.registry.loaded") == 3


def test_a_plan_round_trips_and_is_refused_twice(store: Store) -> None:
    record = svc.create_plan(store, PLAN, at=AT, actor="m1")
    loaded = store.load_plan(record.plan_id)
    assert loaded.plan == record.plan
    assert loaded.plan_hash == record.plan.plan_hash
    assert [p.plan_id for p in store.list_plans()] == [record.plan_id]
    with pytest.raises(DrawError, match="already exists"):
        svc.create_plan(store, PLAN, at=AT, actor="m1")
    with pytest.raises(UnknownInspectionError):
        store.load_plan("plan-nosuch")


def test_commit_run_reveal_each_write_one_ledger_event(drawn: Drawn) -> None:
    store = drawn.store
    draw = store.load_draw(drawn.draw_id)
    assert draw.state == "drawn"
    assert draw.seed is None  # not revealed yet
    assert draw.result is not None
    assert draw.result.commitment == draw.commitment
    assert (draw.result.registry_hash, draw.result.pool_hash) == (
        draw.registry_hash,
        draw.pool_hash,
    )
    visits = store.list_visits(drawn.draw_id)
    assert [v.visit for v in visits] == list(draw.result.visits)
    svc.reveal(store, drawn.draw_id, drawn.seed, at=AT + timedelta(hours=2), actor="m1")
    assert store.load_draw(drawn.draw_id).seed == drawn.seed
    kinds = ledger_kinds(store)
    assert kinds[-3:] == [
        "inspection.seed.committed",
        "inspection.draw.run",
        "inspection.seed.revealed",
    ]
    assert "inspection.plan.created" in kinds
    committed = next(e for e in store.ledger_since(0) if e.kind == "inspection.seed.committed")
    assert draw.commitment in committed.payload
    assert store.verify_ledger().ok
    assert svc.verify_stored(store, drawn.draw_id).result_hash == draw.result.result_hash


def test_a_draw_runs_once_and_only_with_its_committed_seed(drawn: Drawn) -> None:
    store = drawn.store
    before = store.ledger_head()
    with pytest.raises(DrawError, match="already run"):
        svc.run(store, drawn.draw_id, drawn.seed, at=AT, actor="m1")
    with pytest.raises(DrawError, match="does not match"):
        svc.reveal(store, drawn.draw_id, "00" * 32, at=AT, actor="m1")
    assert store.ledger_head() == before  # refusals leave no trace


def test_a_committed_draw_refuses_a_seed_other_than_its_own(store: Store, tiny: Grid) -> None:
    plan_id = prepare(store, tiny, n=300)
    made = svc.commit(store, plan_id, tiny_roster(), at=AT, actor="m1")
    assert made.seed is not None  # a new secret seed, made here
    assert commitment_of(made.seed) == made.draw.commitment
    with pytest.raises(DrawError, match="does not match"):
        svc.run(store, made.draw.draw_id, "11" * 32, at=AT, actor="m1")
    with pytest.raises(DrawError, match="not been run"):
        svc.reveal(store, made.draw.draw_id, made.seed, at=AT, actor="m1")
    assert store.load_draw(made.draw.draw_id).state == "committed"


def test_findings_are_recorded_once_and_published_without_officers(drawn: Drawn) -> None:
    store = drawn.store
    draw = store.load_draw(drawn.draw_id)
    assert draw.result is not None
    visit = draw.result.visits[0]
    dept, item = visit.items[0]
    svc.record_result(
        store, drawn.draw_id, visit.visit_no, department=dept, item=item, outcome="issues",
        note="张三说明了情况", at=AT + timedelta(days=3), actor=visit.officers[0],
    )  # fmt: skip
    with pytest.raises(ResultError, match="already has a finding"):
        svc.record_result(
            store, drawn.draw_id, visit.visit_no, department=dept, item=item,
            outcome="compliant", at=AT, actor="m1",
        )  # fmt: skip
    with pytest.raises(ResultError, match="has no item"):
        svc.record_result(
            store, drawn.draw_id, visit.visit_no, department="gaj", item="x",
            outcome="compliant", at=AT, actor="m1",
        )  # fmt: skip
    rows = svc.public_results(store)
    assert len(rows) == 1
    row = rows[0]
    assert (row["target_id"], row["item"], row["outcome"]) == (visit.target_id, item, "issues")
    text = repr(rows)
    assert "张三" not in text
    assert not any(o in text for o in visit.officers)
    assert ledger_kinds(store)[-1] == "inspection.result.recorded"


def test_the_next_commit_remembers_who_inspected_last(drawn: Drawn) -> None:
    store = drawn.store
    draw = store.load_draw(drawn.draw_id)
    assert draw.result is not None
    visit = draw.result.visits[0]
    for dept, item in visit.items:
        svc.record_result(
            store, drawn.draw_id, visit.visit_no, department=dept, item=item,
            outcome="compliant", at=AT + timedelta(days=2), actor=visit.officers[0],
        )  # fmt: skip
    again = svc.commit(store, drawn.plan_id, tiny_roster(), at=AT + timedelta(days=30), actor="m1")
    registry: Registry = svc.registry_snapshot(store, again.draw.registry_hash)
    assert again.draw.registry_hash != draw.registry_hash
    target = registry.targets[visit.target_id]
    assert target.last_inspected_by == tuple(sorted(visit.officers))
    assert target.last_inspected_on == (AT + timedelta(days=2)).date()


def test_a_published_draw_verifies_and_a_tampered_one_does_not(
    drawn: Drawn, tmp_path: Path
) -> None:
    store = drawn.store
    svc.reveal(store, drawn.draw_id, drawn.seed, at=AT, actor="m1")
    folder = tmp_path / "published"
    svc.export_published(store, drawn.draw_id, folder)
    result = svc.verify_published(folder)
    assert result.result_hash == store.load_draw(drawn.draw_id).to_public()["result_hash"]
    registry = folder / "registry.csv"
    text = registry.read_text(encoding="utf-8-sig")
    registry.write_text(text.replace(",A,", ",B,", 1), encoding="utf-8")
    with pytest.raises(VerificationError, match="registry snapshot differs"):
        svc.verify_published(folder)


def test_the_page_data_has_visits_as_points(drawn: Drawn) -> None:
    page = svc.inspection_page(drawn.store)
    assert [d["draw_id"] for d in page["draws"]] == [drawn.draw_id]
    assert page["plans"][0]["plan_id"] == drawn.plan_id
    assert page["visits"]
    point = page["visits"][0]
    assert 120.0 <= point["lon"] <= 120.5
    assert 31.5 <= point["lat"] <= 32.0
    assert point["status"] == "planned"
