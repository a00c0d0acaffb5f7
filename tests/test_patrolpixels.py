"""Patrol coverage kept as 10 m pixel bitmaps per cell and day: equal to the exact (shapely
union) computation within the pixel tolerance, the same whether a track is stored at once or in
pieces, rebuilt for points stored without it, on SQLite and PostgreSQL; and the store's batch
(many changes in one transaction) writes the ledger one-by-one writes."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gridmgr import Grid
from gridmgr.errors import CaseNotFoundError
from gridmgr.patrolpixels import (
    PIXEL_M,
    CellDay,
    StoredDay,
    coverage_from_days,
    pixel_raster,
    points_to_cover,
    window_days,
)
from gridmgr.patrols import patrol_coverage
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.patrols import kept_coverage, record_batches
from gridmgr.services.simulator import Simulator
from gridmgr.store import PatrolBatch, Store, open_store
from tests.builders import tiny_context, tiny_roster

DAY = datetime(2026, 5, 6, 0, 0, tzinfo=TZ)  # a Wednesday
MIDNIGHT = DAY + timedelta(days=1)
CELL = "320281001001001"  # NW corner cell: [120.0, 120.125] x [31.875, 32.0]
EAST = "320281001001002"


def zigzag(person: str, start: datetime, n: int = 60) -> pd.DataFrame:
    """A walk a minute a point that zigzags across CELL and into its eastern neighbour."""
    lon = np.linspace(120.10, 120.14, n)
    lat = 31.95 + 0.002 * np.sin(np.arange(n) / 3.0)
    at = [start + timedelta(minutes=i) for i in range(n)]
    frame = pd.DataFrame({"person_id": person, "at": at, "lon": lon, "lat": lat})
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def stored(grid: Grid, points: pd.DataFrame) -> list[StoredDay]:
    cover = points_to_cover(grid, points)
    return [StoredDay(d.cell, d.raster, d.pixels, d.points) for d in cover.days]


def test_kept_coverage_equals_the_exact_union_within_the_pixel_tolerance(tiny: Grid) -> None:
    points = pd.concat(
        [
            zigzag("P1", DAY + timedelta(hours=9)),
            zigzag("P2", DAY + timedelta(hours=14), n=1),  # a lone point: a disc
        ]
    )
    kept = coverage_from_days(tiny, stored(tiny, points), {}).set_index("cell")
    exact = patrol_coverage(tiny, points, now=MIDNIGHT, days=1).set_index("cell")
    for code in (CELL, EAST):
        assert exact.loc[code, "covered_m2"] > 50_000
        # the pixel centres on the edge of the covered area decide: a few percent at 10 m
        assert kept.loc[code, "covered_m2"] == pytest.approx(
            exact.loc[code, "covered_m2"], rel=0.03
        )
        assert kept.loc[code, "points"] == exact.loc[code, "points"]
    assert kept["covered_m2"].drop([CELL, EAST]).sum() == 0
    assert (kept["covered_m2"] % (PIXEL_M * PIXEL_M) == 0).all()


def test_a_track_stored_in_pieces_covers_what_it_covers_whole(tiny: Grid) -> None:
    walk = zigzag("P1", DAY + timedelta(hours=9))
    whole = points_to_cover(tiny, walk)
    first, rest = walk.iloc[:25], walk.iloc[25:]
    pieces = (
        points_to_cover(tiny, first).days + points_to_cover(tiny, rest, before=first.tail(1)).days
    )
    assert union_of(whole.days) == union_of(pieces)
    # without the previous point the segment joining the pieces is missing
    apart = union_of(points_to_cover(tiny, rest).days + points_to_cover(tiny, first).days)
    joined = union_of(pieces)
    assert count(apart) < count(joined)


def union_of(days: list[CellDay]) -> dict[str, bytes]:
    """Each cell's pixels over ``days``, OR-ed."""
    union: dict[str, np.ndarray] = {}
    for d in days:
        bits = np.frombuffer(d.pixels, np.uint8)
        union[d.cell] = bits if d.cell not in union else union[d.cell] | bits
    return {c: b.tobytes() for c, b in union.items()}


def count(union: dict[str, bytes]) -> int:
    return int(sum(np.unpackbits(np.frombuffer(b, np.uint8)).sum() for b in union.values()))


def test_the_window_is_the_whole_days_it_touches() -> None:
    assert window_days(MIDNIGHT, 7) == (DAY.date() - timedelta(days=6), DAY.date())
    noon = DAY + timedelta(hours=12)
    assert window_days(noon, 1) == (DAY.date() - timedelta(days=1), DAY.date())


def test_the_pixels_inside_a_cell_are_those_whose_centre_is_in_it(tiny: Grid) -> None:
    raster = pixel_raster(tiny)
    i = raster.position(CELL)
    assert i is not None
    inside = raster.inside(np.array([i]))
    x0, y0, w, h = raster.raster_of(i)
    mask = inside[raster.offset[i] : raster.offset[i] + w * h]
    # a lattice of a few hundred pixels checked one by one against the polygon
    import shapely

    rows, cols = np.meshgrid(np.arange(0, h, 97), np.arange(0, w, 89), indexing="ij")
    x = (x0 + cols.ravel() + 0.5) * PIXEL_M
    y = (y0 + rows.ravel() + 0.5) * PIXEL_M
    expected = shapely.contains_xy(raster.geoms[i], x, y)
    assert mask[rows.ravel() * w + cols.ravel()].tolist() == expected.tolist()
    assert mask.sum() * PIXEL_M * PIXEL_M == pytest.approx(raster.area_m2[i], rel=0.001)


# -- the store ------------------------------------------------------------------------------


def synced(store: Store) -> tuple[Store, str]:
    context = tiny_context()
    store.sync_reference(
        grid=context.grid,
        roster=context.roster,
        catalog=context.catalog,
        at=DAY,
        actor="test",
    )
    return store, sorted(tiny_roster().persons)[0]


def batch_of(person: str, frame: pd.DataFrame) -> PatrolBatch:
    return PatrolBatch(
        person,
        [t.to_pydatetime() for t in frame["at"]],
        frame["lon"].tolist(),
        frame["lat"].tolist(),
    )


def test_coverage_is_kept_as_points_are_stored_piece_by_piece(store: Store, tiny: Grid) -> None:
    store, person = synced(store)
    walk = zigzag(person, DAY + timedelta(hours=9))
    for part in (walk.iloc[:20], walk.iloc[20:45], walk.iloc[45:]):
        record_batches(store, tiny, [batch_of(person, part)], at=MIDNIGHT, actor=person)
    kept = kept_coverage(store, tiny, now=MIDNIGHT, days=7).set_index("cell")
    whole = coverage_from_days(tiny, stored(tiny, walk), {}).set_index("cell")
    assert kept["covered_m2"].to_dict() == whole["covered_m2"].to_dict()
    assert kept.loc[CELL, "points"] + kept.loc[EAST, "points"] == len(walk)
    last = walk["at"].max()
    assert kept.loc[EAST, "last_seen"] == last
    assert pd.isna(kept.loc["320281001004004", "last_seen"])
    cells = store.patrol_points(since=DAY)
    assert len(cells) == len(walk)
    # outside the window, nothing
    later = kept_coverage(store, tiny, now=MIDNIGHT + timedelta(days=8), days=7)
    assert later["covered_m2"].sum() == 0
    assert store.verify_ledger().ok


def test_points_stored_without_coverage_get_it_on_first_use(store: Store, tiny: Grid) -> None:
    store, person = synced(store)
    walk = zigzag(person, DAY + timedelta(hours=9))
    store.record_patrol_batches([batch_of(person, walk)], at=MIDNIGHT, actor=person)
    assert store.has_patrol_coverage() == (True, False)
    kept = kept_coverage(store, tiny, now=MIDNIGHT, days=1).set_index("cell")
    whole = coverage_from_days(tiny, stored(tiny, walk), {}).set_index("cell")
    assert kept["covered_m2"].to_dict() == whole["covered_m2"].to_dict()
    assert store.has_patrol_coverage() == (True, True)


# -- batches --------------------------------------------------------------------------------


def simulate_hours(store: Store, *, batched: bool, hours: int = 8) -> list[str]:
    """A few busy hours of the tiny city, each hour in one batch or change by change; the
    ledger's hashes."""
    context = tiny_context()
    store.sync_reference(
        grid=context.grid, roster=context.roster, catalog=context.catalog, at=DAY, actor="t"
    )
    from gridmgr.simulation.activity import ActivityModel

    start = DAY + timedelta(hours=6)
    sim = Simulator(store, context, seed=3, start=start, model=ActivityModel(reports_per_day=600))
    for h in range(1, hours + 1):
        if batched:
            with store.batch():
                sim.advance(start + timedelta(hours=h))
        else:
            sim.advance(start + timedelta(hours=h))
    sim.flush()
    assert store.verify_ledger().ok
    return [e.hash for e in store.ledger_events()]


def test_a_batch_writes_the_ledger_that_change_by_change_writes(
    store: Store, tmp_path: Path
) -> None:
    reference = open_store(f"sqlite:///{tmp_path / 'one-by-one.sqlite'}", create=True)
    try:
        one_by_one = simulate_hours(reference, batched=False)
    finally:
        reference.close()
    assert len(one_by_one) > 100
    assert simulate_hours(store, batched=True) == one_by_one


def test_a_failed_write_in_a_batch_is_undone_alone(store: Store) -> None:
    store, person = synced(store)
    walk = zigzag(person, DAY + timedelta(hours=9))
    before = store.ledger_head()
    assert before is not None
    with store.batch():
        store.record_patrol_batches([batch_of(person, walk)], at=MIDNIGHT, actor=person)
        with pytest.raises(CaseNotFoundError):
            store.case("no-such-case")
        from gridmgr.errors import PatrolStoreError

        with pytest.raises(PatrolStoreError):
            store.record_patrol_batches([batch_of("P99999", walk)], at=MIDNIGHT, actor="x")
        # reads inside the batch see its writes
        assert len(store.patrol_points(since=DAY)) == len(walk)
    head = store.ledger_head()
    assert head is not None
    assert head.seq == before.seq + 1
    assert len(store.patrol_points(since=DAY)) == len(walk)
    assert store.verify_ledger().ok
