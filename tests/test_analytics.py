"""Analytics: fair ranking, Wilson and empirical-Bayes values by hand, hot spots that are and are
not there, recurring problems, times to sign/handle/close, and the store's case facts on both
backends (checked against each case's trail)."""

from __future__ import annotations

import warnings
from datetime import datetime, timedelta

import networkx as nx
import numpy as np
import pandas as pd
import pytest

from gridmgr import Grid
from gridmgr import analytics as an
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services.simulator import Simulator
from gridmgr.simulation.activity import ActivityModel
from gridmgr.store import CaseFilter, Store
from tests.builders import tiny_context

END = datetime(2026, 5, 6, 11, 0, tzinfo=TZ)  # a Wednesday morning
Z = an.Z95


def simulate(
    store: Store,
    context: RoutingContext,
    *,
    end: datetime = END,
    days: float = 1.0,
    per_day: float = 120.0,
    seed: int = 5,
) -> None:
    """Fill ``store`` with ``days`` of simulated activity ending at ``end`` (hour by hour)."""
    start = end - timedelta(days=days)
    store.sync_reference(
        grid=context.grid,
        roster=context.roster,
        catalog=context.catalog,
        at=start,
        actor="system:simulator",
    )
    sim = Simulator(
        store, context, seed=seed, start=start, model=ActivityModel(reports_per_day=per_day)
    )
    t = start
    while t < end:
        t = min(end, t + timedelta(hours=1))
        sim.advance(t)
    sim.flush()


# -- fair ranking -------------------------------------------------------------------------------


def counts_frame() -> pd.DataFrame:
    """Twelve well-observed cells (40 finished cases, on-time rates 50 % … 95 %) and two cells
    with 2 cases: one perfect, one with none on time."""
    rates = np.linspace(0.5, 0.95, 12)
    rows = [{"unit": f"c{i:02d}", "finished": 40, "on_time": round(40 * r)} for i, r in
            enumerate(rates)]  # fmt: skip
    rows += [
        {"unit": "perfect2", "finished": 2, "on_time": 2},
        {"unit": "zero2", "finished": 2, "on_time": 0},
    ]
    return pd.DataFrame(rows)


def test_a_cell_with_two_cases_is_not_ranked_below_the_minimum() -> None:
    ranked = an.rank_on_time(counts_frame(), min_cases=10).set_index("unit")
    assert np.isnan(ranked.loc["perfect2", "rank"])
    assert np.isnan(ranked.loc["zero2", "rank"])
    assert not ranked.loc["perfect2", "ranked"]
    assert ranked["rank"].min() == 1
    assert ranked.loc["c11", "rank"] == 1  # the best well-observed cell leads
    assert ranked["rank"].max() == 12


def test_a_cell_with_two_cases_is_never_first_or_last_even_when_ranked() -> None:
    ranked = an.rank_on_time(counts_frame(), min_cases=1).set_index("unit")
    # raw rates would put it first (100 %) and last (0 %); shrinkage puts both mid-table
    assert ranked.loc["perfect2", "rate"] == 1.0
    assert 1 < ranked.loc["perfect2", "rank"] < ranked["rank"].max()
    assert 1 < ranked.loc["zero2", "rank"] < ranked["rank"].max()


def test_wilson_interval_matches_the_closed_form() -> None:
    lo, hi = an.wilson_interval([2, 0, 45], [2, 2, 50])
    # k = n: lower bound 1 / (1 + z²/n); k = 0: upper bound (z²/n) / (1 + z²/n)
    assert lo[0] == pytest.approx(1 / (1 + Z * Z / 2))
    assert hi[0] == 1.0
    assert lo[1] == 0.0
    assert hi[1] == pytest.approx((Z * Z / 2) / (1 + Z * Z / 2))
    p, n = 0.9, 50
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * np.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    assert (lo[2], hi[2]) == pytest.approx((centre - half, centre + half))
    none_lo, _ = an.wilson_interval([0], [0])
    assert np.isnan(none_lo[0])


def test_empirical_bayes_rates_are_the_posterior_means_by_hand() -> None:
    prior = an.BetaPrior(8.0, 2.0)
    assert an.shrink_rates([2, 0, 45], [2, 2, 50], prior).tolist() == pytest.approx(
        [10 / 12, 8 / 12, 53 / 60]
    )
    ranked = an.rank_on_time(
        pd.DataFrame({"finished": [2, 50], "on_time": [2, 45]}), prior=prior, min_cases=1
    )
    assert ranked["eb_rate"].tolist() == pytest.approx([10 / 12, 53 / 60])
    assert ranked["rank"].tolist() == [2.0, 1.0]


def test_the_fitted_prior_centres_on_the_pooled_rate_and_spreads_with_the_cells() -> None:
    counts = counts_frame()
    prior = an.fit_beta_prior(counts["on_time"], counts["finished"])
    pooled = counts["on_time"].sum() / counts["finished"].sum()
    assert prior.mean == pytest.approx(pooled, abs=0.02)
    assert 5 < prior.strength < 200  # real spread between cells: a finite prior
    same = an.fit_beta_prior([40] * 10, [50] * 10)  # no spread beyond chance
    assert same.strength > 1e4
    assert same.mean == pytest.approx(0.8, abs=1e-3)


def test_ranking_refuses_a_minimum_below_one() -> None:
    with pytest.raises(an.AnalyticsError, match="min_cases"):
        an.rank_on_time(counts_frame(), min_cases=0)


# -- times --------------------------------------------------------------------------------------


def facts_of(rows: list[dict[str, object]]) -> pd.DataFrame:
    frame = an.empty_facts()
    return pd.concat([frame, pd.DataFrame(rows)], ignore_index=True)


def test_times_to_sign_handle_and_close_per_category_and_town() -> None:
    t0 = pd.Timestamp("2026-05-04 09:00", tz="UTC")
    h = pd.Timedelta("1h")
    rows: list[dict[str, object]] = []
    for i, (cat, town, sign, handle) in enumerate(
        [("a", "T1", 1, 2), ("a", "T1", 3, 4), ("a", "T2", 5, 6), ("b", "T1", 7, 8)]
    ):
        rows.append(
            {
                "case_id": f"k{i}",
                "category": cat,
                "tier1": town,
                "state": "closed",
                "reported_at": t0,
                "dispatched_at": t0 + h,
                "accepted_at": t0 + (1 + sign) * h,
                "handled_at": t0 + (1 + sign + handle) * h,
                "closed_at": t0 + (2 + sign + handle) * h,
                "escalations": 0,
                "return_count": 0,
                "reopen_count": 0,
            }
        )
    rows.append({**rows[0], "case_id": "open", "state": "accepted", "handled_at": pd.NaT,
                 "closed_at": pd.NaT})  # fmt: skip
    times = an.case_times(facts_of(rows))
    by_cat = an.time_summary(times, by=["category"]).set_index("category")
    assert by_cat.loc["a", "sign_h_median"] == 2.0  # 1, 3, 5 and the open case's 1
    assert by_cat.loc["a", "sign_h_n"] == 4
    assert by_cat.loc["a", "close_h_n"] == 3  # the open case has not closed
    assert by_cat.loc["a", "close_h_median"] == pytest.approx(np.median([5, 9, 13]))
    assert by_cat.loc["a", "handle_h_p90"] == pytest.approx(np.quantile([2, 4, 6], 0.9))
    both = an.time_summary(times, by=["category", "tier1"]).set_index(["category", "tier1"])
    assert both.loc[("a", "T1"), "cases"] == 3
    assert both.loc[("b", "T1"), "close_h_median"] == 17.0


# -- recurring problems -------------------------------------------------------------------------


def test_recurring_problems_are_same_category_near_in_place_and_time() -> None:
    t0 = pd.Timestamp("2026-05-01 09:00", tz="UTC")
    lon, lat = 120.285, 31.905
    d = 0.0002  # about 20 m
    rows = [
        {"case_id": "a1", "category": "garbage", "lon": lon, "lat": lat, "reported_at": t0},
        {"case_id": "a2", "category": "garbage", "lon": lon + d, "lat": lat,
         "reported_at": t0 + pd.Timedelta("2D")},
        {"case_id": "a3", "category": "garbage", "lon": lon, "lat": lat + d,
         "reported_at": t0 + pd.Timedelta("5D")},
        # far away, another category at the same place, the same place a month later
        {"case_id": "x1", "category": "garbage", "lon": lon + 0.01, "lat": lat, "reported_at": t0},
        {"case_id": "x2", "category": "vending", "lon": lon, "lat": lat, "reported_at": t0},
        {"case_id": "x3", "category": "garbage", "lon": lon, "lat": lat,
         "reported_at": t0 + pd.Timedelta("40D")},
    ]  # fmt: skip
    for r in rows:
        r["cell"] = "320281001001001"
    found = an.recurring_problems(
        facts_of(rows), crs="EPSG:4549", distance_m=100, within=timedelta(days=7)
    )
    assert len(found) == 1
    group = found.iloc[0]
    assert sorted(group["case_ids"]) == ["a1", "a2", "a3"]
    assert group["category"] == "garbage"
    assert group["cases"] == 3
    assert group["last"] - group["first"] == pd.Timedelta("5D")
    # a time window of one day breaks the chain (2 days between repeats)
    assert an.recurring_problems(
        facts_of(rows), crs="EPSG:4549", distance_m=100, within=timedelta(days=1)
    ).empty


# -- hot spots ----------------------------------------------------------------------------------


def lattice(n: int) -> nx.Graph:
    graph = nx.grid_2d_graph(n, n)
    return nx.relabel_nodes(graph, {(i, j): f"{i:02d}{j:02d}" for i, j in graph})


def test_a_constructed_hot_spot_is_significant_after_fdr_and_nothing_else_is() -> None:
    graph = lattice(15)
    codes = sorted(graph.nodes)
    rng = np.random.default_rng(1)
    values = pd.Series(rng.poisson(3, len(codes)).astype(float), index=codes)
    block = [c for c in codes if 5 <= int(c[:2]) < 10 and 5 <= int(c[2:]) < 10]  # 5 x 5
    values[block] += 15
    result = an.hot_spots(values, graph, permutations=999, seed=7).set_index("cell")
    hot = set(result.index[result["hot"]])
    assert hot, "the block is a hot spot"
    assert hot <= set(block)
    assert len(hot) >= 9  # at least the block's inner 3 x 3
    assert set(result.index[result["cluster"] == "HH"]) <= set(block)
    assert not result["cold"].any()
    assert (result.loc[list(hot), "gi_q"] <= 0.05).all()


def test_a_random_field_has_no_hot_spot_after_fdr() -> None:
    graph = lattice(15)
    codes = sorted(graph.nodes)
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        values = pd.Series(rng.poisson(3, len(codes)).astype(float), index=codes)
        result = an.hot_spots(values, graph, permutations=999, seed=seed)
        assert not (result["hot"] | result["cold"]).any()
        assert (result["cluster"] == "ns").all()


def test_hot_spots_on_the_tiny_grid_point_at_the_busy_quadrant(tiny: Grid) -> None:
    codes = tiny.codes(3)
    values = pd.Series([30.0 if c.startswith("320281001001") else 1.0 for c in codes], index=codes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no esda warning about the weights
        result = an.hot_spots(values, tiny.grid_to_graph(3), seed=3).set_index("cell")
    corner = "320281001001001"  # NW corner: both its neighbours are busy
    assert result["gi_z"].idxmax() == corner
    assert (
        result.loc[[c for c in codes if c.startswith("320281001001")], "quadrant"] == "HH"
    ).all()
    # by hand: the corner's two neighbours both busy among the 15 others (3 busy) has
    # probability 3/15 * 2/14 = 0.029; the permutation p-value agrees within Monte Carlo error
    assert result.loc[corner, "gi_p"] == pytest.approx(3 / 15 * 2 / 14 + 1 / 1000, abs=0.012)
    # 16 cells are too few for it to survive the FDR control over 16 tests (q > 0.05)
    assert not result["hot"].any()
    assert result.loc[corner, "gi_q"] > 0.05


def test_a_constant_field_has_no_spots_and_ties_are_not_cold(tiny: Grid) -> None:
    codes = tiny.codes(3)
    flat = an.hot_spots(pd.Series(0.0, index=codes), tiny.grid_to_graph(3))
    assert not (flat["hot"] | flat["cold"]).any()
    one = pd.Series(0.0, index=codes)
    one[codes[0]] = 5.0
    result = an.hot_spots(one, tiny.grid_to_graph(3), seed=1)
    quiet = result[result["value"] == 0]
    assert (quiet["gi_p"] > 0.05).all()  # zeros among zeros: ties count against significance


def test_benjamini_hochberg_matches_the_step_up_rule() -> None:
    p = np.array([0.001, 0.008, 0.039, 0.041, 0.042, 0.06, 0.074, 0.205, 0.212, 0.216])
    q = an.benjamini_hochberg(p)
    # the largest k with p_(k) <= k/m * alpha at alpha 0.05 is k = 2
    assert (q <= 0.05).sum() == 2
    assert q[0] == pytest.approx(0.01)
    assert q[1] == pytest.approx(0.04)
    assert np.isnan(an.benjamini_hochberg([np.nan, 0.01])[0])


# -- coverage up the tiers ----------------------------------------------------------------------


def test_coverage_aggregates_area_weighted_to_communities_and_towns(tiny: Grid) -> None:
    now = datetime(2026, 5, 6, 12, 0, tzinfo=TZ)
    codes = tiny.codes(3)
    area = [1.0 if i % 2 else 3.0 for i in range(16)]  # unequal areas
    covered = [a if c.startswith("320281001001") else 0.0 for c, a in zip(codes, area, strict=True)]
    seen = [pd.Timestamp(now) - pd.Timedelta("1D") if x else pd.NaT for x in covered]
    coverage = pd.DataFrame(
        {
            "cell": codes,
            "coverage": [c / a for c, a in zip(covered, area, strict=True)],
            "covered_m2": covered,
            "area_m2": area,
            "points": [5 if x else 0 for x in covered],
            "last_seen": pd.to_datetime(seen, utc=True),
        }
    )
    towns = an.coverage_by_tier(tiny, coverage, tier=1, now=now)
    assert towns["coverage"].tolist() == pytest.approx([8 / 32])
    assert towns["blind"].tolist() == [12]
    communities = an.coverage_by_tier(tiny, coverage, tier=2, now=now).set_index("code")
    assert communities.loc["320281001001", "coverage"] == 1.0
    assert communities.loc["320281001002", "coverage"] == 0.0
    assert communities.loc["320281001002", "blind_share"] == 1.0
    with pytest.raises(an.AnalyticsError):
        an.coverage_by_tier(tiny, coverage, tier=3, now=now)


# -- the store's case facts, on both backends ---------------------------------------------------


def test_case_facts_hold_each_cases_first_times_as_its_trail_does(store: Store) -> None:
    simulate(store, tiny_context(), days=1.0, per_day=80)
    facts = store.case_facts(since=END - timedelta(days=1), until=END)
    assert list(facts.columns) == an.CASE_FACT_COLUMNS
    period = CaseFilter(reported_from=END - timedelta(days=1), reported_to=END)
    assert len(facts) == store.count_cases(period)
    assert facts["accepted_at"].notna().any()
    assert facts["closed_at"].notna().any()
    assert (facts["escalations"] > 0).any()
    for row in facts.sample(min(40, len(facts)), random_state=1).itertuples():
        trail = store.trail(row.case_id)
        for column, action in (("dispatched_at", "dispatch"), ("accepted_at", "accept"),
                               ("handled_at", "handle"), ("closed_at", "close")):  # fmt: skip
            times = [e.at for e in trail if e.action == action]
            got = getattr(row, column)
            if times:
                assert got == pd.Timestamp(min(times)), (row.case_id, column)
            else:
                assert pd.isna(got), (row.case_id, column)
        assert row.escalations == sum(e.action == "escalate" for e in trail)
    town = "320281001"
    scoped = store.case_facts(since=END - timedelta(days=1), until=END, scope=(town + "001",))
    assert len(scoped)
    assert scoped["cell"].str.startswith(town + "001").all()
    none = store.case_facts(since=END, until=END + timedelta(days=1))
    assert none.empty
    assert list(none.columns) == an.CASE_FACT_COLUMNS


def test_performance_per_cell_and_owner_on_simulated_cases(store: Store) -> None:
    context = tiny_context()
    simulate(store, context, days=1.0, per_day=80)
    facts = store.case_facts()
    cells = an.performance(facts, by="cell", min_cases=3)
    assert set(cells["unit"]) <= set(context.grid.codes(3))
    assert cells["cases"].sum() == facts["cell"].notna().sum()
    ranked = cells[cells["ranked"]]
    assert (ranked["finished"] >= 3).all()
    assert cells.loc[~cells["ranked"], "rank"].isna().all()
    owners = an.performance(facts, by="assignee", min_cases=3)
    assert owners["name"].str.len().gt(0).all()
    load = an.owner_workload(facts, now=END)
    assert load["cases"].sum() == facts["assignee_id"].notna().sum()
    per_day = an.cases_per_cell(facts, freq="D")
    assert per_day["cases"].sum() == facts["cell"].notna().sum()
    with pytest.raises(an.AnalyticsError, match="group by"):
        an.performance(facts, by="street")
