"""The monthly assessment: stage punctuality and every indicator on hand-built cases, the missed-
report (漏报) rule at its distance and time edges, the scorecard of a simulated month closed
(frozen) on both backends, a contest of a flag, and ``gridmgr assess``."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer

from gridmgr.access import Caller
from gridmgr.analytics import missed as ms
from gridmgr.analytics import scorecard as sc
from gridmgr.cases import Actor, Role
from gridmgr.errors import AnalyticsError, ForbiddenError
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import field_post
from gridmgr.services import assessments as assess
from gridmgr.services.context import Services
from gridmgr.services.patrols import record_batches
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import PatrolBatch, Store
from gridmgr.testing import simulate_activity, tiny_context

CONFIG = sc.read_assessment_config()
T0 = pd.Timestamp("2026-11-10 10:00", tz=TZ)
H = pd.Timedelta("1h")
CELL = "320281001003003"  # where SPOT lies in the tiny grid
CRS = "EPSG:4549"
SPOT = (120.1, 31.6)


# -- configuration ---------------------------------------------------------------------------


def test_the_shipped_configuration_weighs_every_indicator() -> None:
    assert set(CONFIG.weights) == set(sc.KEYS)
    assert all(w > 0 for w in CONFIG.weights.values())
    assert CONFIG.missed_distance_m == 50
    assert CONFIG.missed_hours == 24


def test_a_configuration_with_an_unknown_indicator_is_refused_by_name() -> None:
    with pytest.raises(AnalyticsError, match=r"weights\.speed"):
        sc.parse_assessment_config("[weights]\nspeed = 3\n")
    with pytest.raises(AnalyticsError, match="not all 0"):
        sc.parse_assessment_config("[weights]\ndiscovery = 0\n")


# -- stage punctuality and indicators by hand -----------------------------------------------------


def events(*rows: tuple[str, str, pd.Timestamp, str, pd.Timestamp | None]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"case_id": c, "seq": i, "action": a, "at": at, "from_state": None,
             "to_state": to, "due_at": None if due is None else due.isoformat()}
            for i, (c, a, at, to, due) in enumerate(rows)
        ]
    )  # fmt: skip


def test_a_stage_is_on_time_when_it_ends_by_its_deadline_and_late_after() -> None:
    ev = events(
        # case A: signed an hour early, handled an hour late (escalated meanwhile), verified on
        # the deadline exactly
        ("A", "dispatch", T0, "dispatched", T0 + 2 * H),
        ("A", "accept", T0 + H, "accepted", T0 + 3 * H),
        ("A", "start", T0 + 2 * H, "in_progress", None),
        ("A", "escalate", T0 + 3 * H, "in_progress", T0 + 9 * H),
        ("A", "handle", T0 + 4 * H, "handled", T0 + 6 * H),
        ("A", "verify", T0 + 6 * H, "verified", T0 + 7 * H),
        # case B: a deferral moved the sign deadline; still signing, and past it by now
        ("B", "dispatch", T0, "dispatched", T0 + H),
        ("B", "approve_defer", T0 + H / 2, "dispatched", T0 + 5 * H),
        # case C: signing, not due yet: not counted
        ("C", "dispatch", T0, "dispatched", T0 + 48 * H),
    )
    out = sc.stage_punctuality(ev, now=T0 + 6 * H).set_index("case_id")
    assert out.loc["A"].to_dict() == {"sign_n": 1, "sign_ok": 1, "handle_n": 1, "handle_ok": 0,
                                      "verify_n": 1, "verify_ok": 1}  # fmt: skip
    assert (out.loc["B", "sign_n"], out.loc["B", "sign_ok"]) == (1, 0)
    assert (out.loc["C", "sign_n"], out.loc["C", "sign_ok"]) == (0, 0)


def fact(case_id: str, channel: str, **kw: object) -> dict[str, object]:
    row: dict[str, object] = {"case_id": case_id, "category": "street_vending", "cell": CELL,
        "channel": channel, "reported_at": T0, "dispatched_at": T0, "return_count": 0,
        "reopen_count": 0, "rating": float("nan"), "lon": SPOT[0], "lat": SPOT[1]}  # fmt: skip
    row.update(kw)
    return row


def test_each_indicator_counts_its_numerator_and_denominator_per_cell() -> None:
    facts = pd.DataFrame([
        fact("g1", "grid_worker", rating=5.0),
        fact("g2", "grid_worker", return_count=1, rating=3.0),
        fact("h1", "hotline", reopen_count=2),
        fact("c1", "citizen", dispatched_at=pd.NaT),
        fact("s1", "sensor"),
    ])  # fmt: skip
    stages = pd.DataFrame([{"case_id": "g1", "sign_n": 1, "sign_ok": 1, "handle_n": 2,
                            "handle_ok": 1, "verify_n": 1, "verify_ok": 0}])  # fmt: skip
    coverage = pd.DataFrame({"cell": [CELL, "320281001001002"], "covered_m2": [25.0, 0.0],
                             "area_m2": [100.0, 50.0]})  # fmt: skip
    missed = pd.DataFrame({"case_id": ["h1"]})
    row = sc.cell_counts(facts, stages, coverage, missed, CONFIG).set_index("cell").loc[CELL]
    got = {k: (row[f"{k}_num"], row[f"{k}_den"]) for k in sc.KEYS}
    assert got == {
        "discovery": (2, 4),  # the sensor counts in no one's discovery
        "sign_on_time": (1, 1),
        "handle_on_time": (1, 2),
        "verify_on_time": (0, 1),
        "rework": (2, 4),  # c1 was never dispatched
        "coverage": (25.0, 100.0),
        "satisfaction": (1, 2),  # 5 is satisfied, 3 is not
        "missed": (1, 2),
    }
    assert row["cases"] == 5


def test_a_better_worker_ranks_above_a_worse_one_and_a_tiny_one_is_not_ranked() -> None:
    rows = []
    for cell, good, n in (("a", 0.9, 40), ("b", 0.5, 40), ("c", 1.0, 2)):
        row = {"cell": cell, "cases": n}
        for k in sc.KEYS:
            rate = good if sc.INDICATORS[sc.KEYS.index(k)].higher_is_better else 1 - good
            row[f"{k}_num"], row[f"{k}_den"] = round(rate * n), n
        rows.append(row)
    card = sc.scorecard(pd.DataFrame(rows), {"a": "P1", "b": "P2", "c": "P3"}, CONFIG)
    card = card.set_index("unit")
    assert card.loc["P1", "rank"] == 1
    assert card.loc["P2", "rank"] == 2
    assert pd.isna(card.loc["P3", "rank"])  # 2 cases: below min_cases
    assert card.loc["P1", "score"] > card.loc["P2", "score"]
    # shrinkage: P3's perfect record is pulled toward the middle
    assert card.loc["P3", "discovery_eb"] < 1.0 == card.loc["P3", "discovery_rate"]


# -- missed reports at their edges --------------------------------------------------------------


FORWARD = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
BACK = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def offset(dx_m: float) -> tuple[float, float]:
    """The point ``dx_m`` metres east of SPOT (in the metric CRS)."""
    fwd, back = FORWARD, BACK
    x, y = fwd.transform(*SPOT)
    lon, lat = back.transform(x + dx_m, y)
    return float(lon), float(lat)


def track(*points: tuple[pd.Timestamp, float]) -> pd.DataFrame:
    rows = [{"person_id": "P1", "at": at, "lon": offset(dx)[0], "lat": offset(dx)[1]}
            for at, dx in points]  # fmt: skip
    return pd.DataFrame(rows)


def flagged(facts: list[dict[str, object]], points: pd.DataFrame, **kw: float) -> list[str]:
    out = ms.missed_reports(
        pd.DataFrame(facts),
        points,
        {CELL: "P1"},
        crs=CRS,
        distance_m=kw.get("distance_m", 50.0),
        hours=kw.get("hours", 24.0),
    )
    return list(out["case_id"])  # fmt: skip


def test_a_hotline_case_the_worker_walked_past_is_flagged_at_the_distance_edge() -> None:
    call = [fact("h1", "hotline")]
    assert flagged(call, track((T0 - H, 49.9))) == ["h1"]
    assert flagged(call, track((T0 - H, 50.1))) == []
    # a segment between two points passes the spot though neither point is near it
    assert flagged(call, track((T0 - H, -400.0), (T0 - H + pd.Timedelta("5min"), 400.0))) == ["h1"]


def test_the_time_edge_is_m_hours_before_the_report_inclusive() -> None:
    call = [fact("h1", "hotline")]
    assert flagged(call, track((T0 - 24 * H, 0.0))) == ["h1"]
    assert flagged(call, track((T0 - 24 * H - pd.Timedelta("1s"), 0.0))) == []
    assert flagged(call, track((T0 + pd.Timedelta("1s"), 0.0))) == []  # after the call


def test_a_segment_across_the_windows_edges_counts_though_an_end_lies_outside() -> None:
    call = [fact("h1", "hotline")]
    minute = pd.Timedelta("1min")
    # it starts 4 minutes before the window opens (24 h before the call), passes the spot first
    assert flagged(call, track((T0 - 24 * H - 4 * minute, 0.0), (T0 - 24 * H + minute, 300.0))) == [
        "h1"
    ]
    # it passes the spot before the call and ends 4 minutes after it
    assert flagged(call, track((T0 - 5 * minute, -300.0), (T0 + 4 * minute, 300.0))) == ["h1"]
    # but a segment wholly before the window, or one starting after the call, does not
    assert (
        flagged(call, track((T0 - 24 * H - 9 * minute, 0.0), (T0 - 24 * H - minute, 300.0))) == []
    )
    assert flagged(call, track((T0 + minute, 0.0), (T0 + 5 * minute, 300.0))) == []


def test_a_grid_report_of_the_same_category_nearby_clears_the_flag() -> None:
    walked = track((T0 - H, 10.0))
    same = fact("g1", "grid_worker", reported_at=T0 - 2 * H, lon=offset(30)[0])
    other = fact("g2", "grid_worker", category="garbage", reported_at=T0 - 2 * H)
    far = fact("g3", "grid_worker", reported_at=T0 - 2 * H, lon=offset(80)[0])
    assert flagged([fact("h1", "hotline"), same], walked) == []
    assert flagged([fact("h1", "hotline"), other, far], walked) == ["h1"]
    # another worker's walk, and a grid report itself, are never flagged
    assert flagged([fact("h1", "hotline")], walked.assign(person_id="P2")) == []
    assert flagged([fact("g9", "grid_worker")], walked) == []


def brute_force_missed(
    calls: list[dict[str, object]], points: pd.DataFrame, hours: float, distance_m: float
) -> list[str]:
    """The 漏报 rule, one call and one piece of track at a time (no index, no pre-filter)."""
    import shapely

    fwd = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    walk = points.sort_values("at", kind="stable").reset_index(drop=True)
    xy = [fwd.transform(lo, la) for lo, la in zip(walk["lon"], walk["lat"], strict=True)]
    pieces = [(shapely.Point(p), t, t) for p, t in zip(xy, walk["at"], strict=True)]
    for i in range(1, len(walk)):
        if walk["at"][i] - walk["at"][i - 1] <= ms.TRACK_GAP:
            line = shapely.LineString([xy[i - 1], xy[i]])
            pieces.append((line, walk["at"][i - 1], walk["at"][i]))
    out = []
    for call in calls:
        spot = shapely.Point(fwd.transform(call["lon"], call["lat"]))
        t = pd.Timestamp(call["reported_at"])  # type: ignore[arg-type]
        if any(
            g.distance(spot) <= distance_m and end >= t - pd.Timedelta(hours=hours) and start <= t
            for g, start, end in pieces
        ):
            out.append(str(call["case_id"]))
    return sorted(out)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_rule_on_a_long_random_walk_equals_the_brute_force(seed: int) -> None:
    """Many calls over days of a wandering track: the indexed, pre-filtered rule finds exactly
    the calls the rule read literally finds (at the time window's and the gaps' edges too)."""
    rng = np.random.default_rng(seed)
    steps = rng.choice([60, 120, 900, 3600], size=400, p=[0.6, 0.2, 0.15, 0.05])  # gaps too
    at = T0 - pd.Timedelta(days=3) + pd.to_timedelta(np.cumsum(steps), unit="s")
    dx = np.cumsum(rng.uniform(120, 300, size=400)) - 40_000  # eastward: each spot passed once
    walked = track(*zip(at, dx, strict=True))
    # each call near a random moment of the walk: before, during or after the window's edge
    picks = rng.integers(0, 400, size=60)
    window, gap = 4 * 3600, ms.TRACK_GAP.total_seconds()
    edges = [
        0,
        30,
        -30,
        window,
        window + 30,
        window - 30,
        window + gap / 2,
        *rng.uniform(-3600, 6 * 3600, 4),
    ]
    calls = [
        fact(
            f"h{i}",
            "hotline",
            reported_at=at[k] + pd.Timedelta(seconds=float(rng.choice(edges))),
            lon=offset(float(dx[k] + rng.uniform(-30, 30)))[0],
        )
        for i, k in enumerate(picks)
    ]
    expected = brute_force_missed(calls, walked, hours=4.0, distance_m=50.0)
    assert 5 < len(expected) < len(calls)  # the draw has both: flagged and not
    assert sorted(flagged(calls, walked, hours=4.0, distance_m=50.0)) == expected


def test_the_windows_of_track_cover_each_call_and_merge_per_person() -> None:
    calls = [
        fact("h1", "hotline"),
        fact("h2", "citizen", reported_at=T0 + 2 * H),  # overlaps h1's: one window
        fact("h3", "hotline", reported_at=T0 + 72 * H),  # a window of its own
        fact("g1", "grid_worker"),  # found by the grid: no window
        fact("h4", "hotline", cell=None),  # out of the grid: no owner, no window
    ]
    gap = pd.Timedelta(ms.TRACK_GAP)

    windows = ms.track_windows(pd.DataFrame(calls), {CELL: "P1"}, hours=24.0)

    assert list(windows["person_id"]) == ["P1", "P1"]
    assert windows["since"].iloc[0] == T0 - 24 * H - gap
    assert windows["until"].iloc[0] > T0 + 2 * H + gap  # the call's own moment and gap after
    assert windows["since"].iloc[1] == T0 + 48 * H - gap


# -- a simulated month, closed, on both backends -------------------------------------------

SIM_END = datetime(2026, 11, 3, 11, 0, tzinfo=TZ)
AFTER = datetime(2026, 12, 1, 9, 0, tzinfo=TZ)


def services_at(store: Store, now: datetime, tmp: Path) -> Services:
    return Services(store, tiny_context(), Settings(data_dir=tmp), clock=lambda: now)


@pytest.mark.slow
def test_a_closed_month_never_changes_and_a_recomputation_reports_its_differences(
    store: Store, tmp_path: Path
) -> None:
    context = tiny_context()
    simulate_activity(store, context, end=SIM_END, days=1.0, per_day=60)
    services = services_at(store, AFTER, tmp_path)
    card = assess.compute_month(services, "2026-11")
    workers = card.levels["worker"]
    start = assess.month_bounds("2026-11")[0]
    facts = store.case_facts(since=start)
    # the scorecard's one read of facts and events gives what the two reads give
    one_read, events = store.month_facts(since=start)
    pd.testing.assert_frame_equal(one_read, facts, check_exact=True)
    pd.testing.assert_frame_equal(events, store.stage_events(since=start), check_exact=True)
    assert facts["escalations"].gt(0).any()
    assert facts["closed_at"].notna().any()
    assert workers["cases"].sum() == facts["cell"].notna().sum()
    assert card.levels["town"]["discovery_den"].sum() == facts["channel"].isin(
        ["grid_worker", "hotline", "citizen"]).sum()  # fmt: skip
    assert (workers["handle_on_time_num"] <= workers["handle_on_time_den"]).all()

    closing = assess.close_month(services, "2026-11", actor="tester")
    assert closing.stored is not None
    assert closing.stored.version == 1
    assert closing.stored.digest == assess.body_digest(card.body())
    ledger = [e for e in store.ledger_events() if e.kind == "assessment.closed"]
    assert [json.loads(e.payload)["digest"] for e in ledger] == [closing.stored.digest]

    # later data: a worker's extra patrol in November changes a recomputation, not the month
    owner = context.roster.owner(field_post(CELL), AFTER)
    assert owner is not None
    walk = [SIM_END + timedelta(minutes=i) for i in range(30)]
    record_batches(
        store, context.grid,
        [PatrolBatch(owner.person_id, walk, [120.1 + i * 1e-3 for i in range(30)], [31.6] * 30)],
        at=AFTER, actor="test",
    )  # fmt: skip
    again = assess.close_month(services, "2026-11", actor="tester")
    assert again.stored is None
    assert any(d["column"] == "coverage_num" for d in again.differences)
    versions = store.closed_assessments("2026-11")
    assert [v.digest for v in versions] == [closing.stored.digest]
    assert assess.stored_month(services, "2026-11") == versions[0]
    with pytest.raises(Exception, match="append-only"):
        store.execute_sql_for_tests("UPDATE assessments SET digest = 'x'")


def test_an_open_month_cannot_be_closed_and_a_bad_month_is_named(
    store: Store, tmp_path: Path
) -> None:
    services = services_at(store, SIM_END, tmp_path)
    with pytest.raises(AnalyticsError, match="not over"):
        assess.close_month(services, "2026-11", actor="tester")
    with pytest.raises(AnalyticsError, match="'2026-13' is not YYYY-MM"):
        assess.month_bounds("2026-13")


# -- a flagged case, contested ---------------------------------------------------------------


def test_the_flagged_worker_contests_a_missed_report_and_his_comment_is_recorded(
    store: Store, tmp_path: Path
) -> None:
    context = tiny_context()
    store.sync_reference(grid=context.grid, roster=context.roster, catalog=context.catalog,
                         at=T0 - 48 * H, actor="test")  # fmt: skip
    owner = context.roster.owner(field_post(CELL), T0)
    assert owner is not None
    walk = [(T0 - 2 * H + pd.Timedelta(minutes=i)).to_pydatetime() for i in range(3)]
    lon, lat = offset(20.0)
    store.record_patrol_batches([PatrolBatch(owner.person_id, walk, [lon] * 3, [lat] * 3)],
                                at=T0.to_pydatetime(), actor="test")  # fmt: skip
    call = report_incident(
        store, context, reporter=Actor("hotline", Role.SYSTEM, "12345"), category="street_vending",
        at=T0.to_pydatetime(), description="占道经营", lon=SPOT[0], lat=SPOT[1],
        channel="hotline", source_id="H-1",
    )  # fmt: skip
    case_id = call.case.case_id
    services = services_at(store, (T0 + H).to_pydatetime(), tmp_path)
    flag = assess.missed_flag(services, case_id)
    assert flag is not None
    assert flag.person_id == owner.person_id
    assert flag.distance_m == pytest.approx(20.0, abs=0.5)
    other = Caller(Actor("P99999", Role.WORKER, "someone"), (CELL,))
    with pytest.raises(ForbiddenError):
        assess.contest_missed_report(services, other, case_id, comment="不是我")
    me = Caller(Actor(owner.person_id, Role.WORKER, owner.name), (CELL,))
    with pytest.raises(AnalyticsError, match="comment"):
        assess.contest_missed_report(services, me, case_id, comment="  ")
    first = assess.contest_missed_report(services, me, case_id, comment="当时摊贩尚未出摊",
                                         client_id="phone-7")  # fmt: skip
    resent = assess.contest_missed_report(services, me, case_id, comment="当时摊贩尚未出摊",
                                          client_id="phone-7")  # fmt: skip
    assert resent == first  # a resend records nothing twice
    again = assess.missed_flag(services, case_id)
    assert again is not None
    assert [(c.person_id, c.comment) for c in again.contests] == [
        (owner.person_id, "当时摊贩尚未出摊")
    ]
    kinds = [e.kind for e in store.ledger_events() if e.subject == case_id]
    assert kinds.count("assessment.contest") == 1
    # the case page shows the flag and the contest (its read, as the dashboard makes it)
    from dashboards.reads.case import case_view
    from gridmgr.access import caller_for
    from gridmgr.responsibility.roster import COMMAND_CENTER

    operator = context.roster.owner(COMMAND_CENTER, T0)
    assert operator is not None
    seen = caller_for(context.roster, operator.person_id, T0.to_pydatetime())
    shown = case_view(services, seen, case_id, (T0 + H).to_pydatetime()).missed
    assert shown is not None
    assert (shown.person_id, [c.comment for c in shown.contests]) == (
        owner.person_id,
        ["当时摊贩尚未出摊"],
    )


# -- the command line ------------------------------------------------------------------------


def test_assess_show_close_and_close_again_on_the_command_line(tmp_path: Path) -> None:
    from gridmgr.datafiles import store_roster
    from gridmgr.grid.generations import store_generation
    from gridmgr.testing import tiny_roster
    from tests.test_cli import invoke

    context = tiny_context()
    data_dir = tmp_path / "data"
    settings = Settings(data_dir=data_dir)
    store_generation(context.grid, settings)
    store_roster(settings, tiny_roster(), context.grid)
    db = str(tmp_path / "gridmgr.sqlite")
    assert invoke(data_dir, "db", "init", "--db", db).exit_code == 0
    at = ("--at", "2026-12-01 09:00", "--db", db)

    shown = invoke(data_dir, "assess", "show", "2026-11", "--json", *at)
    assert shown.exit_code == 0, shown.output
    body = json.loads(shown.output)
    assert body["status"].startswith("open")
    assert len(body["levels"]["town"]) == 1
    assert set(body["levels"]) == {"worker", "community", "town"}

    closed = invoke(data_dir, "assess", "close", "2026-11", *at)
    assert closed.exit_code == 0, closed.output
    assert "closed 2026-11: version 1" in closed.output
    again = invoke(data_dir, "assess", "close", "2026-11", *at)
    assert again.exit_code == 0, again.output
    assert "same scorecard" in again.output
    table = invoke(data_dir, "assess", "show", "2026-11", "--level", "town", *at)
    assert "closed, version 1" in table.output
    assert "镇街 (town)" in table.output

    # the Excel export, read back with openpyxl: the frozen numbers, one sheet per level
    from openpyxl import load_workbook

    book_path = tmp_path / "2026-11.xlsx"
    exported = invoke(data_dir, "assess", "show", "2026-11", "--xlsx", str(book_path), *at)
    assert exported.exit_code == 0, exported.output
    book = load_workbook(book_path, read_only=True)
    assert book.sheetnames == ["worker", "community", "town", "missed 漏报"]
    town = list(book["town"].iter_rows(values_only=True))
    assert "closed, version 1" in str(town[0][0])
    header, first = town[1], town[2]
    assert header[:5] == ("排名 rank", "单位 unit", "名称 name", "案件 cases", "综合得分 score")
    stored = body["levels"]["town"][0]
    assert first[1] == stored["unit"]
    assert first[3] == stored["cases"]
    assert first[header.index("主动发现率 分母")] == stored["discovery_den"]

    # the CSV export, read back with the csv module: every unit of every level, frozen numbers
    import csv

    csv_path = tmp_path / "2026-11.csv"
    exported = invoke(data_dir, "assess", "show", "2026-11", "--csv", str(csv_path), *at)
    assert exported.exit_code == 0, exported.output
    with csv_path.open(encoding="utf-8-sig", newline="") as f:
        read = list(csv.DictReader(f))
    assert len(read) == sum(len(rows) for rows in body["levels"].values())
    town_row = next(r for r in read if r["level"] == "town")
    assert town_row["unit"] == stored["unit"]
    assert int(town_row["discovery_den"]) == stored["discovery_den"]
    assert float(town_row["score"]) == pytest.approx(stored["score"])
    assert town_row["status"].startswith("closed, version 1")

    # an appeal and its decision on the command line: version 2 supersedes version 1
    appealed = invoke(data_dir, "assess", "appeal", "2026-11", "--person", "P00021",
                      "--level", "town", "--subject", "320281001", "--indicator", "coverage",
                      "--reason", "终端故障", "--client-id", "c1", *at)  # fmt: skip
    assert appealed.exit_code == 0, appealed.output
    assert "AP202611-001" in appealed.output
    assert "2026-12-08 09:00" in appealed.output
    listed = invoke(data_dir, "assess", "appeals", "2026-11", "--person", "P00053", *at)
    assert "AP202611-001" in listed.output
    assert "open" in listed.output
    decided = invoke(data_dir, "assess", "decide", "AP202611-001", "--uphold", "--by", "P00053",
                     "--reason", "属实", *at)  # fmt: skip
    assert decided.exit_code == 0, decided.output
    assert "version 2 published (supersedes version 1)" in decided.output
    shown = invoke(data_dir, "assess", "show", "2026-11", "--json", *at)
    assert json.loads(shown.output)["status"].startswith("closed, version 2")

    bad = invoke(data_dir, "assess", "show", "2026-13", *at)
    assert bad.exit_code != 0
    assert "not YYYY-MM" in str(bad.exception)  # main() prints it as an error, exit 1
