"""Duplicates: scoring with its distance and time edges, the store lookup, merge and unmerge."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gridmgr.cases import Action, Actor, CaseState, Role
from gridmgr.intake.duplicates import (
    OpenCase,
    Probe,
    distance_m,
    rank_duplicates,
    score_duplicate,
    search_box,
)
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.services.actions import act
from gridmgr.services.reports import report_incident
from gridmgr.services.triage import (
    TriageError,
    find_duplicates,
    merge_cases,
    merge_view,
    unmerge_case,
)
from gridmgr.store import CaseFilter, Store
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
OPERATOR = Actor("op-1", Role.OPERATOR)
CATALOG = read_catalog()
LIGHT = CATALOG.category("streetlight_out")  # 150 m, 3 days, no group
LON, LAT = 120.0625, 31.5625


def east(metres: float) -> float:
    """The longitude ``metres`` east of LON at LAT (to a millimetre)."""
    lo, hi = LON, LON + 0.01
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if distance_m(LON, LAT, mid, LAT) < metres else (lo, mid)
    return hi


def probe(**kw: object) -> Probe:
    values: dict[str, object] = {
        "category": "streetlight_out",
        "lon": LON,
        "lat": LAT,
        "at": AT,
        "description": "路灯不亮",
        "reporter": "hotline:1",
        "channel": "hotline",
    }
    values.update(kw)
    return Probe(**values)  # type: ignore[arg-type]


def near(metres: float = 0.0, *, before: timedelta = timedelta(0), **kw: object) -> OpenCase:
    values: dict[str, object] = {
        "case_id": "C1",
        "number": 1,
        "category": "streetlight_out",
        "state": "registered",
        "lon": east(metres) if metres else LON,
        "lat": LAT,
        "reported_at": AT - before,
        "description": "路灯不亮",
        "reporter": "P1",
        "channel": "grid_worker",
    }
    values.update(kw)
    return OpenCase(**values)  # type: ignore[arg-type]


def test_the_distance_limit_is_inclusive_and_sharp() -> None:
    inside = score_duplicate(probe(), near(149.99), category=LIGHT)
    assert inside is not None
    assert inside.distance_m == pytest.approx(149.99, abs=0.01)
    assert score_duplicate(probe(), near(150.01), category=LIGHT) is None
    assert score_duplicate(probe(), near(150.01), category=LIGHT) is None


def test_the_time_window_is_inclusive_and_applies_both_ways() -> None:
    window = timedelta(days=3)
    at_edge = score_duplicate(probe(), near(before=window), category=LIGHT)
    assert at_edge is not None
    assert at_edge.minutes_apart == 3 * 24 * 60
    assert (
        score_duplicate(probe(), near(before=window + timedelta(seconds=1)), category=LIGHT) is None
    )
    assert score_duplicate(probe(), near(before=-window), category=LIGHT) is not None
    assert (
        score_duplicate(probe(), near(before=-window - timedelta(seconds=1)), category=LIGHT)
        is None
    )


def test_the_score_falls_with_distance_time_and_text_and_is_explained() -> None:
    same = score_duplicate(probe(), near(), category=LIGHT)
    assert same is not None
    assert same.score == pytest.approx(0.35 + 0.25 + 0.25)  # other reporter, other channel
    farther = score_duplicate(probe(), near(75), category=LIGHT)
    later = score_duplicate(probe(), near(before=timedelta(days=1.5)), category=LIGHT)
    unlike = score_duplicate(probe(), near(description="有人在此摆摊"), category=LIGHT)
    assert farther is not None
    assert later is not None
    assert unlike is not None
    assert farther.score == pytest.approx(same.score - 0.35 / 2)
    assert later.score == pytest.approx(same.score - 0.25 / 2)
    assert unlike.score < same.score - 0.2
    mine = score_duplicate(probe(), near(reporter="hotline:1", channel="hotline"), category=LIGHT)
    assert mine is not None
    assert mine.score == pytest.approx(1.0)
    assert "same reporter" in mine.reasons
    assert "same channel (hotline)" in mine.reasons
    assert same.reasons[0] == "0 m away (limit 150 m)"


def test_related_categories_are_candidates_scaled_down_and_others_are_not() -> None:
    vending = probe(category="street_vending", description="摊贩占道")
    spill = near(10, category="shop_spillover", description="摊贩占道")
    ranked = rank_duplicates(
        vending,
        [
            spill,
            near(10, case_id="C3", number=3, category="street_vending", description="摊贩占道"),
        ],
        catalog=CATALOG,
    )
    assert [m.case_id for m in ranked] == ["C3", "C1"]
    assert ranked[1].score == pytest.approx(ranked[0].score * 0.85)
    assert any("related category shop_spillover" in r for r in ranked[1].reasons)
    assert "shop_spillover" in CATALOG.related("street_vending")
    assert "streetlight_out" not in CATALOG.related("street_vending")


def test_the_search_box_holds_the_whole_circle() -> None:
    lon_min, lon_max, lat_min, lat_max = search_box(LON, LAT, 150)
    assert distance_m(LON, LAT, lon_min, LAT) >= 150
    assert distance_m(LON, LAT, LON, lat_max) >= 150
    assert distance_m(LON, LAT, lon_max, lat_min) > 150


# -- with the store -------------------------------------------------------------------------


def report(
    store: Store, *, at: datetime = AT, lon: float = LON, who: str = "P1", text: str = "路灯不亮"
) -> str:
    return report_incident(
        store,
        tiny_context(),
        reporter=Actor(who, Role.WORKER),
        category="streetlight_out",
        at=at,
        description=text,
        lon=lon,
        lat=LAT,
    ).case.case_id


def test_the_store_finds_open_duplicates_nearby_only(store: Store) -> None:
    context = tiny_context()
    master = report(store)
    report(store, lon=east(400))  # too far
    report(store, at=AT - timedelta(days=4))  # too old
    closed = report(store)
    act(store, context, closed, Action.REJECT, actor=OPERATOR, at=AT, comment="不予立案")
    new = report(store, at=AT + timedelta(hours=1), lon=east(20), who="P2", text="路灯坏了不亮")

    found = find_duplicates(store, context, store.case(new))

    assert [m.case_id for m in found] == [master]
    assert found[0].distance_m == pytest.approx(20, abs=0.01)


def test_merge_and_unmerge_round_trip_with_the_trail_on_both(store: Store) -> None:
    context = tiny_context()
    master = report(store)
    dup = report(store, at=AT + timedelta(hours=1), who="P2", text="路灯坏了")

    with pytest.raises(Exception, match="operator"):
        merge_cases(store, dup, master, actor=Actor("P2", Role.WORKER), at=AT, comment="x")
    with pytest.raises(TriageError, match="itself"):
        merge_cases(store, dup, dup, actor=OPERATOR, at=AT, comment="x")
    t = AT + timedelta(hours=2)
    merge_cases(store, dup, master, actor=OPERATOR, at=t, comment="同一路灯")

    # the case list does not drown in duplicates: the merged one is not open work
    assert store.count_cases(CaseFilter(open_only=True)) == 1
    assert store.case_stats(t, since=AT, window=timedelta(days=1)).awaiting_dispatch == 1
    view = merge_view(store, dup)
    assert view.master is not None
    assert view.master.case_id == master
    assert [c.case_id for c in merge_view(store, master).duplicates] == [dup]
    assert store.trail(dup)[-1].action == "merge"
    assert store.trail(dup)[-1].details["master"] == master
    assert store.trail(master)[-1].action == "absorb"
    assert store.trail(master)[-1].details == {"duplicate": dup, "reporter": "P2"}
    # the duplicate leaves the lookup and is not merged twice
    assert find_duplicates(store, context, store.case(master)) == []
    with pytest.raises(TriageError, match="already merged"):
        merge_cases(store, dup, master, actor=OPERATOR, at=t, comment="again")
    # the duplicate's reporter sees the master's outcome
    act(store, context, master, Action.REJECT, actor=OPERATOR, at=t, comment="已修复")
    assert merge_view(store, dup).master.state is CaseState.REJECTED  # type: ignore[union-attr]
    assert store.case(dup).reporter == "P2"  # the original report is kept

    dup_case, master_case = unmerge_case(store, dup, actor=OPERATOR, at=t, comment="不是同一处")

    assert merge_view(store, dup).master is None
    assert merge_view(store, master).duplicates == []
    assert [e.action for e in store.trail(dup)] == ["report", "merge", "unmerge"]
    assert [e.action for e in store.trail(master)] == ["report", "absorb", "reject", "release"]
    assert dup_case.state is CaseState.REPORTED
    assert master_case.state is CaseState.REJECTED
    assert store.verify_ledger().ok
    assert store.count_cases(CaseFilter(queue="cell")) == 2
    assert store.count_cases(CaseFilter(open_only=True)) == 1  # the dup; the master is rejected
    with pytest.raises(TriageError, match="not merged"):
        unmerge_case(store, dup, actor=OPERATOR, at=t, comment="again")


def test_a_dispatched_case_is_not_merged_as_a_duplicate(store: Store) -> None:
    context = tiny_context()
    master = report(store)
    dup = report(store)
    act(store, context, dup, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案")
    act(store, context, dup, Action.DISPATCH, actor=OPERATOR, at=AT, comment="派遣")
    with pytest.raises(TriageError, match="returned first"):
        merge_cases(store, dup, master, actor=OPERATOR, at=AT, comment="dup")


def test_bad_duplicate_limits_in_the_catalog_are_refused_with_row_and_column() -> None:
    from gridmgr.errors import CatalogError
    from gridmgr.responsibility.catalog import CATALOG_COLUMNS
    from gridmgr.responsibility.catalog_file import parse_catalog
    from gridmgr.tablefiles import parse_table

    base = "street_vending,占道经营,S,city_appearance,town,town_team,normal,working,2h,1d,1d"
    base += ",yes,penalty,摆摊"
    text = (
        ",".join(CATALOG_COLUMNS)
        + "\n"
        + base
        + ",50,1d,trade\n"
        + base.replace("street_vending,占道经营", "shop_spillover,店外经营")
        + ",far,soon,Bad Group\n"
    )
    with pytest.raises(CatalogError) as info:
        parse_catalog(parse_table(text, source="c.csv"))
    assert [(p.row, p.field) for p in info.value.problems] == [
        (3, "dup_distance_m"),
        (3, "dup_window"),
        (3, "dup_group"),
    ]
    defaults = parse_catalog(
        parse_table(text.split("\n")[0] + "\n" + base + ",,,\n", source="c.csv")
    )
    vending = defaults.category("street_vending")
    assert (vending.dup_distance_m, str(vending.dup_window), vending.dup_group) == (100.0, "3d", "")
