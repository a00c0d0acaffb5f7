"""The draw: stratified selection, officer assignment under the conflict rules and limits,
bundling into joint visits, fairness, and verification against tampering."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from dataclasses import replace
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from gridmgr import Grid
from gridmgr.inspection import DrawError, PlanError, VerificationError
from gridmgr.inspection.draw import (
    DrawResult,
    commitment_of,
    draw_key,
    result_hash_of,
    run_draw,
    select_targets,
    verify_draw,
)
from gridmgr.inspection.plan import Plan, parse_plan
from gridmgr.inspection.pool import Officer, Pool, conflicts_of, generate_pool
from gridmgr.inspection.registry import Registry, Target, generate_registry
from gridmgr.responsibility.demo_roster import ROSTER_START
from gridmgr.responsibility.roster import Role, field_post
from tests.builders import tiny_grid, tiny_roster

SEED = "5eed" * 16
CELLS = tiny_grid().codes(3)
PLAN = {
    "name": "二季度抽查",
    "period": {"start": "2026-04-01", "end": "2026-06-30"},
    "departments": {"scjg": ["食品安全", "价格行为"], "xfjy": ["消防安全"], "cgj": ["市容"]},
    "ratios": {"A": "0.3", "B": "0.1", "C": "0.05", "D": "0.02"},
}


def seed_no(i: int) -> str:
    return hashlib.sha256(f"test-seed-{i}".encode()).hexdigest()


@pytest.fixture(scope="module")
def registry(tiny: Grid) -> Registry:
    return generate_registry(tiny, n=3000, seed=11)


@pytest.fixture(scope="module")
def pool(registry: Registry) -> Pool:
    return generate_pool(tiny_roster(), at=ROSTER_START, registry=registry)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return parse_plan(PLAN)


@pytest.fixture(scope="module")
def result(plan: Plan, registry: Registry, pool: Pool) -> DrawResult:
    return run_draw(plan, registry, pool, SEED)


# -- selection and bundling -----------------------------------------------------------------


def test_the_same_inputs_draw_the_same_result(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    assert run_draw(plan, registry, pool, SEED) == result
    other = run_draw(plan, registry, pool, seed_no(1))
    assert other.result_hash != result.result_hash
    assert {v.target_id for v in other.visits} != {v.target_id for v in result.visits}


def test_each_stratum_draws_its_ratio_of_its_population(
    plan: Plan, registry: Registry, result: DrawResult
) -> None:
    drawn: Counter[tuple[str, str]] = Counter()
    by_id = registry.targets
    for v in result.visits:
        for d in v.departments:
            drawn[(d, by_id[v.target_id].risk)] += 1
    for dept in plan.departments:
        for risk in ("A", "B", "C", "D"):
            population = sum(1 for t in registry if dept in t.departments and t.risk == risk)
            expected = math.floor(plan.ratio(risk) * population + Fraction(1, 2))
            assert result.strata[dept][risk] == (population, expected)
            assert drawn[(dept, risk)] == expected


def test_a_target_drawn_by_several_departments_gets_one_joint_visit(
    plan: Plan, registry: Registry, result: DrawResult
) -> None:
    key = draw_key(SEED, plan.plan_hash, registry.snapshot_hash, result.pool_hash)
    drawn, _ = select_targets(plan, registry, key)
    assert sorted(v.target_id for v in result.visits) == sorted(drawn)  # one visit per target
    joint = 0
    for v in result.visits:
        assert v.departments == tuple(sorted(drawn[v.target_id]))
        assert v.items == tuple((d, i) for d in v.departments for i in plan.departments[d])
        joint += len(v.departments) > 1
    assert joint > 0
    assert result.department_visits == sum(len(d) for d in drawn.values())
    assert result.visits_saved == result.department_visits - len(result.visits) > 0
    assert [v.visit_no for v in result.visits] == list(range(1, len(result.visits) + 1))


def test_a_joint_plan_draws_once_and_bundles_every_supervising_department(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    joint = parse_plan({**PLAN, "joint": True})
    assert joint.plan_hash != plan.plan_hash
    drawn = run_draw(joint, registry, pool, SEED)
    assert list(drawn.strata) == ["joint"]
    in_plan = {t.target_id: sorted(set(t.departments) & set(PLAN["departments"])) for t in registry}
    for risk in ("A", "B", "C", "D"):
        population = sum(1 for t in registry if t.risk == risk and in_plan[t.target_id])
        n = math.floor(joint.ratio(risk) * population + Fraction(1, 2))
        assert drawn.strata["joint"][risk] == (population, n)
        assert n == sum(1 for v in drawn.visits if registry.targets[v.target_id].risk == risk)
    for v in drawn.visits:
        assert list(v.departments) == in_plan[v.target_id]
    assert drawn.visits_saved == sum(len(v.departments) - 1 for v in drawn.visits)
    assert drawn.visits_saved > result.visits_saved  # joint draws bundle far more
    assert drawn.unstaffed == ()


def test_every_visit_has_two_distinct_eligible_officers_covering_each_department(
    registry: Registry, pool: Pool, result: DrawResult
) -> None:
    assert result.unstaffed == ()
    load: Counter[str] = Counter()
    for v in result.visits:
        target = registry.targets[v.target_id]
        assert len(v.officers) >= 2
        assert len(set(v.officers)) == len(v.officers)
        depts = [pool.officers[o].department for o in v.officers]
        assert set(depts) <= set(v.departments)
        assert set(v.departments) <= set(depts)
        for o in v.officers:
            assert conflicts_of(pool.officers[o], target) == []
            assert pool.officers[o].covers(target.town)
        load.update(v.officers)
    assert all(n <= pool.officers[o].max_visits for o, n in load.items())


def test_no_officer_is_a_grid_worker_of_the_cell_he_inspects(
    registry: Registry, pool: Pool, result: DrawResult
) -> None:
    roster = tiny_roster()
    at = ROSTER_START
    tested = 0
    grid_officers = {o.officer_id for o in pool if o.grid_cells}
    for v in result.visits:
        post = field_post(registry.targets[v.target_id].cell)
        workers = {a.person_id for a in roster.holders(post, at)} | {
            a.person_id for a in roster.holders(post, at, role=Role.DEPUTY)
        }
        assert not workers & set(v.officers)
        tested += "cgj" in v.departments and bool(workers & grid_officers)
    assert tested > 0, "the rule was exercised: grid-worker officers were eligible otherwise"


def test_workload_is_balanced_among_interchangeable_officers(registry: Registry) -> None:
    plan = parse_plan({**PLAN, "departments": {"scjg": ["食品安全"]}})
    officers = Pool(Officer(f"O{i:02d}", f"官{i}", "scjg", max_visits=1000) for i in range(10))
    drawn = run_draw(plan, registry, officers, SEED)
    load = Counter(o for v in drawn.visits for o in v.officers)
    assert len(load) == 10
    assert max(load.values()) - min(load.values()) <= 1
    assert sum(load.values()) == 2 * len(drawn.visits)


def test_limits_and_conflicts_leave_slots_unstaffed_rather_than_break_rules(
    registry: Registry,
) -> None:
    plan = parse_plan({**PLAN, "departments": {"scjg": ["食品安全"]}})
    officers = Pool(
        [Officer("O1", "甲", "scjg", max_visits=3), Officer("O2", "乙", "scjg", max_visits=999)]
    )
    drawn = run_draw(plan, registry, officers, SEED)
    load = Counter(o for v in drawn.visits for o in v.officers)
    assert load["O1"] == 3
    assert len(drawn.unstaffed) == len(drawn.visits) - 3
    assert all(len(v.officers) == (2 if "O1" in v.officers else 1) for v in drawn.visits)


def test_a_plan_with_an_unknown_department_or_bad_ratio_is_refused() -> None:
    with pytest.raises(PlanError, match="unknown department"):
        parse_plan({**PLAN, "departments": {"nosuch": ["x"]}})
    with pytest.raises(PlanError, match="between 0 and 1"):
        parse_plan({**PLAN, "ratios": {"A": "1.5"}})
    with pytest.raises(PlanError, match="at least two"):
        parse_plan({**PLAN, "officers_per_visit": 1})


# -- fairness -------------------------------------------------------------------------------


def test_selection_frequencies_match_the_plan_ratios(tiny: Grid) -> None:
    """Over 300 draws (fixed seeds), every target of a stratum is drawn equally often."""
    targets = [
        Target(f"T{i:03d}", "x", 120.1, 31.6, CELLS[i % 16], "", risk, ("scjg",))
        for i, risk in enumerate(["A"] * 40 + ["D"] * 100)
    ]
    registry = Registry(targets)
    plan = parse_plan(
        {**PLAN, "departments": {"scjg": ["x"]}, "ratios": {"A": "0.25", "D": "0.05"}}
    )
    officers = Pool(Officer(f"O{i}", "x", "scjg", max_visits=1000) for i in range(4))
    draws = 300
    counts: Counter[str] = Counter()
    for i in range(draws):
        drawn = run_draw(plan, registry, officers, seed_no(i))
        assert drawn.strata["scjg"]["A"] == (40, 10)
        assert drawn.strata["scjg"]["D"] == (100, 5)
        counts.update(v.target_id for v in drawn.visits)
    for risk, n in (("A", 10), ("D", 5)):
        observed = [counts[t.target_id] for t in targets if t.risk == risk]
        assert sum(observed) == draws * n
        assert chisquare(observed).pvalue > 0.001
    # the test has power: selecting by id order instead would fail it
    biased = [draws if i < 10 else 0 for i in range(40)]
    assert chisquare(biased).pvalue < 1e-10


# -- conflict rules, as a property ----------------------------------------------------------


@st.composite
def draw_inputs(draw: st.DrawFn) -> tuple[Plan, Registry, Pool, str]:
    n_officers = draw(st.integers(2, 8))
    officer_ids = [f"O{i}" for i in range(n_officers)]
    n_targets = draw(st.integers(1, 30))
    target_ids = [f"T{i:02d}" for i in range(n_targets)]
    targets = [
        Target(
            tid,
            "x",
            120.1,
            31.6,
            draw(st.sampled_from(CELLS)),
            "",
            draw(st.sampled_from("ABCD")),
            tuple(sorted(draw(st.sets(st.sampled_from(["scjg", "xfjy"]), min_size=1)))),
            None,
            tuple(sorted(draw(st.sets(st.sampled_from(officer_ids), max_size=2)))),
        )
        for tid in target_ids
    ]
    officers = [
        Officer(
            oid,
            "x",
            draw(st.sampled_from(["scjg", "xfjy"])),
            towns=draw(st.sampled_from([(), ("320281001",), ("320281002",)])),
            max_visits=draw(st.integers(0, 6)),
            grid_cells=tuple(sorted(draw(st.sets(st.sampled_from(CELLS), max_size=6)))),
            conflicts=tuple(sorted(draw(st.sets(st.sampled_from(target_ids), max_size=5)))),
        )
        for oid in officer_ids
    ]
    plan = parse_plan(
        {
            **PLAN,
            "departments": {"scjg": ["a"], "xfjy": ["b", "c"]},
            "ratios": {r: draw(st.sampled_from(["0", "0.3", "0.7", "1"])) for r in "ABCD"},
            "officers_per_visit": draw(st.integers(2, 3)),
            "joint": draw(st.booleans()),
        }
    )
    seed = draw(st.binary(min_size=32, max_size=32)).hex()
    return plan, Registry(targets), Pool(officers), seed


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(draw_inputs())
def test_conflict_rules_and_limits_are_never_violated(
    inputs: tuple[Plan, Registry, Pool, str],
) -> None:
    plan, registry, pool, seed = inputs
    drawn = run_draw(plan, registry, pool, seed)
    load: Counter[str] = Counter()
    for v in drawn.visits:
        target = registry.targets[v.target_id]
        assert len(set(v.officers)) == len(v.officers)
        for oid in v.officers:
            officer = pool.officers[oid]
            assert target.cell not in officer.grid_cells  # never the cell's grid worker
            assert oid not in target.last_inspected_by  # never the last inspector
            assert target.target_id not in officer.conflicts  # declared conflicts hold
            assert officer.department in v.departments
            assert officer.covers(target.town)
        load.update(v.officers)
        slots = max(len(v.departments), plan.officers_per_visit)
        missing = sum(1 for no, _ in drawn.unstaffed if no == v.visit_no)
        assert len(v.officers) + missing == slots
    assert all(n <= pool.officers[o].max_visits for o, n in load.items())


# -- verification ---------------------------------------------------------------------------


def test_a_draw_verifies_from_its_inputs_and_seed(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    assert result.commitment == commitment_of(SEED)
    assert result.result_hash == result_hash_of(result)
    again = verify_draw(
        plan, registry, pool, SEED, published=DrawResult.from_dict(result.to_dict())
    )
    assert again.result_hash == result.result_hash


def test_a_wrong_revealed_seed_fails_verification(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    with pytest.raises(VerificationError, match="does not match the commitment"):
        verify_draw(plan, registry, pool, seed_no(2), published=result)


def test_a_tampered_registry_fails_verification(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    first = next(iter(registry))
    tampered = Registry(
        [replace(first, risk="D" if first.risk != "D" else "A"), *list(registry)[1:]]
    )
    with pytest.raises(VerificationError, match="registry snapshot differs"):
        verify_draw(plan, tampered, pool, SEED, published=result)
    dropped = Registry(list(registry)[1:])
    with pytest.raises(VerificationError, match="registry snapshot differs"):
        verify_draw(plan, dropped, pool, SEED, published=result)


def test_a_tampered_pool_or_plan_fails_verification(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    officer = next(iter(pool))
    tampered = Pool(
        [replace(officer, conflicts=()), *list(pool)[1:]]
        if officer.conflicts
        else [replace(officer, conflicts=("T000001",)), *list(pool)[1:]]
    )
    with pytest.raises(VerificationError, match="pool snapshot differs"):
        verify_draw(plan, registry, tampered, SEED, published=result)
    other_plan = parse_plan({**PLAN, "ratios": {"A": "0.6"}})
    with pytest.raises(VerificationError, match="plan differs"):
        verify_draw(other_plan, registry, pool, SEED, published=result)


def test_a_published_result_edited_after_the_draw_fails_verification(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    body = result.to_dict()
    visit = body["visits"][0]
    visit["officers"] = list(reversed(visit["officers"]))
    with pytest.raises(VerificationError, match="first difference at visit 1"):
        verify_draw(plan, registry, pool, SEED, published=DrawResult.from_dict(body))


def test_a_malformed_seed_is_refused() -> None:
    with pytest.raises(DrawError, match="64 hexadecimal digits"):
        commitment_of("not a seed")


def test_progress_counts_visits_up_to_the_total(
    plan: Plan, registry: Registry, pool: Pool, result: DrawResult
) -> None:
    seen: list[tuple[int, int]] = []
    again = run_draw(plan, registry, pool, SEED, progress=lambda d, t: seen.append((d, t)))
    assert again == result  # reporting progress changes nothing
    assert seen[0] == (0, len(result.visits))
    assert seen[-1] == (len(result.visits), len(result.visits))
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
