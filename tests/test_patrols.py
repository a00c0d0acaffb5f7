"""Patrols: coverage against a brute-force check, blind spots, duty status, track files and the
patrol API's scope (tiny grid; SQLite and PostgreSQL for the store)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from flask.testing import FlaskClient

from gridmgr import Grid
from gridmgr.cli import main
from gridmgr.datafiles import load_roster
from gridmgr.grid.generations import store_generation
from gridmgr.patrols import (
    blind_spots,
    duty_status,
    patrol_coverage,
    points_to_tracks,
)
from gridmgr.responsibility.calendar import TZ, WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store, open_store, rawread
from gridmgr.store.patrolstore import PATROL_EVENT, PatrolBatch
from tests.builders import api_app, tiny_context, tiny_roster

NOW = datetime(2026, 5, 6, 12, 0, tzinfo=TZ)  # a Wednesday
CELL = "320281001001001"  # NW corner cell: [120.0, 120.125] x [31.875, 32.0]
OTHER = "320281001004004"  # SE corner cell


def frame(person: str, at: list[datetime], lon: list[float], lat: list[float]) -> pd.DataFrame:
    return pd.DataFrame({"person_id": person, "at": at, "lon": lon, "lat": lat})


def walk(person: str, start: datetime, lon: list[float], lat: list[float]) -> pd.DataFrame:
    """Points a minute apart."""
    return frame(person, [start + timedelta(minutes=i) for i in range(len(lon))], lon, lat)


def brute_force_coverage(cell: shapely.Geometry, tracks: np.ndarray, distance: float) -> float:
    """Share of a regular lattice of the cell's points within ``distance`` of a track."""
    x0, y0, x1, y1 = cell.bounds
    xs, ys = np.meshgrid(np.linspace(x0, x1, 300), np.linspace(y0, y1, 300))
    xs, ys = xs.ravel(), ys.ravel()
    inside = shapely.contains_xy(cell, xs, ys)
    near = shapely.dwithin(shapely.union_all(tracks), shapely.points(xs, ys), distance)
    return float((inside & near).sum() / inside.sum())


# -- coverage -------------------------------------------------------------------------------


def test_coverage_matches_a_brute_force_count_on_the_tiny_grid(tiny: Grid) -> None:
    start = NOW - timedelta(hours=3)
    points = pd.concat(
        [
            # a diagonal walk across CELL, leaving it on the east side, and a lone point
            walk(
                "P1",
                start,
                list(np.linspace(120.01, 120.14, 30)),
                list(np.linspace(31.88, 31.99, 30)),
            ),
            frame("P2", [start], [120.06], [31.9]),
            # a walk in OTHER, long before the window: counts for last_seen only
            walk("P3", NOW - timedelta(days=20), [120.4, 120.45], [31.55, 31.56]),
        ]
    )
    distance = 600.0
    cov = patrol_coverage(tiny, points, now=NOW, days=7, distance_m=distance).set_index("cell")

    crs = tiny.meta.metric_crs
    window = points[points["at"] >= NOW - timedelta(days=7)]
    tracks = points_to_tracks(window, crs=crs)
    metric = tiny.tier(3).to_crs(crs).set_index("code").geometry
    for code in (CELL, "320281001001002", OTHER):
        expected = brute_force_coverage(metric[code], tracks, distance)
        assert cov.loc[code, "coverage"] == pytest.approx(expected, abs=0.01)
    assert cov.loc[CELL, "coverage"] > 0.05
    assert cov.loc["320281001001002", "coverage"] > 0  # the walk crosses into the neighbour
    assert cov.loc[OTHER, "coverage"] == 0
    assert cov.loc[OTHER, "last_seen"] == pd.Timestamp(
        NOW - timedelta(days=20) + timedelta(minutes=1)
    )
    in_cell = (window["lon"] < 120.125) & (window["lat"] > 31.875)  # CELL is a box
    assert cov.loc[CELL, "points"] == in_cell.sum() > 0


def test_points_further_apart_than_the_gap_are_not_joined(tiny: Grid) -> None:
    lon, lat = [120.02, 120.10], [31.93, 31.93]
    joined = walk("P1", NOW - timedelta(hours=1), lon, lat)
    apart = frame("P1", [NOW - timedelta(hours=2), NOW - timedelta(hours=1)], lon, lat)
    a = patrol_coverage(tiny, joined, now=NOW, distance_m=100).set_index("cell")
    b = patrol_coverage(tiny, apart, now=NOW, distance_m=100).set_index("cell")
    assert a.loc[CELL, "coverage"] > 3 * b.loc[CELL, "coverage"] > 0


def test_two_people_on_one_street_are_not_joined_into_one_track() -> None:
    t = NOW - timedelta(minutes=5)
    points = pd.concat(
        [walk("P1", t, [120.0, 120.01], [31.9, 31.9]), walk("P2", t, [120.02], [31.9])]
    )
    kinds = sorted(g.geom_type for g in points_to_tracks(points, crs="EPSG:4549"))
    assert kinds == ["LineString", "Point"]


def test_blind_spots_are_cells_not_patrolled_for_n_days(tiny: Grid) -> None:
    points = pd.concat(
        [
            walk("P1", NOW - timedelta(days=1), [120.05, 120.06], [31.9, 31.91]),
            walk("P2", NOW - timedelta(days=10), [120.4, 120.41], [31.55, 31.56]),
        ]
    )
    cov = patrol_coverage(tiny, points, now=NOW, days=7)
    blind = blind_spots(cov, now=NOW, days=7)
    assert CELL not in set(blind["cell"])
    assert OTHER in set(blind["cell"])
    assert len(blind) == 15
    assert blind.iloc[-1]["cell"] == OTHER  # seen 10 days ago: after the never-seen ones
    assert blind.iloc[-1]["days_since"] == pytest.approx(10, abs=0.01)


def test_points_after_now_are_ignored(tiny: Grid) -> None:
    points = walk("P1", NOW + timedelta(hours=1), [120.05, 120.06], [31.9, 31.91])
    cov = patrol_coverage(tiny, points, now=NOW).set_index("cell")
    assert cov.loc[CELL, "coverage"] == 0
    assert pd.isna(cov.loc[CELL, "last_seen"])


def test_duty_status_from_latest_points_and_working_hours() -> None:
    roster = tiny_roster()
    worker = roster.owner(field_post(CELL), NOW)
    other = roster.owner(field_post(OTHER), NOW)
    assert worker is not None
    assert other is not None
    at_work = NOW.replace(hour=10)  # a Wednesday, 10:00: working hours
    latest = pd.DataFrame(
        {
            "person_id": [worker.person_id, other.person_id],
            "at": [at_work - timedelta(minutes=3), at_work - timedelta(hours=2)],
            "lon": [120.05, 120.4],
            "lat": [31.9, 31.55],
        }
    )
    status = duty_status(roster, WorkCalendar(), latest, now=at_work)
    by = status.set_index("person_id")["status"]
    assert len(status) == 16
    assert by[worker.person_id] == "patrolling"
    assert by[other.person_id] == "on_duty"
    night = duty_status(roster, WorkCalendar(), latest, now=NOW.replace(hour=23))
    assert set(night["status"]) == {"off_duty"}


# -- store ----------------------------------------------------------------------------------


def synced(store: Store) -> Store:
    context = tiny_context()
    store.sync_reference(
        grid=context.grid,
        roster=tiny_roster(),
        catalog=read_catalog(),
        at=NOW,
        actor="test",
    )
    return store


def test_a_batch_is_stored_with_one_ledger_event_and_read_back(store: Store) -> None:
    synced(store)
    person = sorted(tiny_roster().persons)[0]
    times = [NOW - timedelta(minutes=10 - i) for i in range(10)]
    batch = PatrolBatch(person, times, [120.05 + i * 1e-4 for i in range(10)], [31.9] * 10)
    before = store.ledger_head()
    assert store.record_patrol_batches([batch], at=NOW, actor=person) == 10
    head = store.ledger_head()
    assert head is not None
    assert head.seq == (before.seq if before else 0) + 1
    assert head.kind == PATROL_EVENT
    assert json.loads(head.payload)["count"] == 10
    back = store.patrol_points(since=NOW - timedelta(hours=1))
    assert list(back["lon"]) == pytest.approx(batch.lon)
    assert back["at"].iloc[0] == pd.Timestamp(times[0])
    assert store.verify_ledger().ok


def test_the_points_of_given_windows_are_read_and_only_they(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced(store)
    a, b = sorted(tiny_roster().persons)[:2]
    times = [NOW - timedelta(minutes=60 - i) for i in range(60)]
    store.record_patrol_batches(
        [
            PatrolBatch(p, times, [120.05 + i * 1e-4 for i in range(60)], [31.9] * 60)
            for p in (a, b)
        ],
        at=NOW,
        actor="test",
    )
    m = timedelta(minutes=1)
    windows = [(a, times[5], times[10]), (a, times[40], times[42] + m / 2), (b, times[0], times[1])]

    got = store.patrol_points_within(windows)

    want = [(a, t) for t in times[5:10] + times[40:43]] + [(b, times[0])]  # since <= at < until
    assert list(zip(got["person_id"], got["at"], strict=True)) == [
        (p, pd.Timestamp(t)) for p, t in want
    ]
    assert store.patrol_points_within([]).empty
    # many windows go in chunks and come back whole, in order
    monkeypatch.setattr(rawread, "WINDOW_CHUNK", 7)
    one_each = store.patrol_points_within([(p, t, t + m / 2) for t in times for p in (b, a)])
    assert list(zip(one_each["person_id"], one_each["at"], strict=True)) == [
        (p, pd.Timestamp(t)) for p in (a, b) for t in times
    ]


# -- files ----------------------------------------------------------------------------------


@pytest.fixture
def data_dir(tmp_path: Path, tiny: Grid) -> Path:
    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    store_generation(tiny, settings)
    load_roster(settings, tiny)
    return data


def run(data_dir: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = 0
    try:
        main(["--data-dir", str(data_dir), *args])
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def db_with_reference(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    db = str(tmp_path / "p.sqlite")
    code, _, err = run(data_dir, "db", "init", "--db", db, capsys=capsys)
    assert code == 0, err
    return db


def test_a_csv_track_with_bad_rows_is_refused_whole_with_row_numbers(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = db_with_reference(data_dir, tmp_path, capsys)
    person = tiny_roster().owner(field_post(CELL), NOW)
    assert person is not None
    track = tmp_path / "track.csv"
    track.write_text(
        "at,lon,lat,accuracy_m\n"
        "2026-05-06 09:00,120.05,31.90,5\n"
        "yesterday,120.05,31.90,5\n"
        "2026-05-06 09:02,120.06,95,5\n"
        "2026-05-06 09:03,120.06,31.91,far\n",
        encoding="utf-8",
    )
    code, _, err = run(
        data_dir,
        "patrol",
        "import",
        str(track),
        "--person",
        person.person_id,
        "--db",
        db,
        capsys=capsys,
    )
    assert code == 1
    assert "row 3" in err
    assert "row 4" in err
    assert "row 5" in err
    assert "row 2" not in err
    store = open_store(f"sqlite:///{db}")
    try:
        assert store.patrol_points().empty
    finally:
        store.close()


def test_a_csv_and_a_gpx_track_are_imported_and_counted_in_coverage(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = db_with_reference(data_dir, tmp_path, capsys)
    person = tiny_roster().owner(field_post(CELL), NOW)
    assert person is not None
    csv = tmp_path / "track.csv"
    csv.write_text(
        "at,lon,lat\n2026-05-06 09:00,120.05,31.90\n2026-05-06T09:01:00+08:00,120.051,31.901\n",
        encoding="utf-8",
    )
    gpx = tmp_path / "track.gpx"
    gpx.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        "<trk><trkseg>"
        '<trkpt lat="31.55" lon="120.40"><time>2026-05-06T02:00:00Z</time></trkpt>'
        '<trkpt lat="31.551" lon="120.401"><time>2026-05-06T02:01:00Z</time></trkpt>'
        "</trkseg></trk></gpx>",
        encoding="utf-8",
    )
    for path in (csv, gpx):
        code, out, err = run(
            data_dir,
            "patrol",
            "import",
            str(path),
            "--person",
            person.person_id,
            "--db",
            db,
            capsys=capsys,
        )
        assert code == 0, err
        assert "imported 2 points" in out
    code, out, err = run(
        data_dir,
        "patrol",
        "coverage",
        "--days",
        "7",
        "--at",
        "2026-05-06 12:00",
        "--db",
        db,
        "--out",
        str(tmp_path / "c.csv"),
        capsys=capsys,
    )
    assert code == 0, err
    assert "4 points, 16 cells" in out
    assert "14 blind spot(s)" in out
    cov = pd.read_csv(tmp_path / "c.csv", dtype={"cell": str}).set_index("cell")
    assert cov.loc[CELL, "points"] == 2
    assert cov.loc[OTHER, "points"] == 2  # the GPX times are UTC: 10:00 Beijing time


def test_a_gpx_point_without_time_is_refused_with_its_position(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = db_with_reference(data_dir, tmp_path, capsys)
    gpx = tmp_path / "bad.gpx"
    gpx.write_text(
        '<?xml version="1.0"?><gpx version="1.1" creator="t" xmlns="http://www.topografix.com/GPX/1/1">'
        '<trk><trkseg><trkpt lat="31.55" lon="120.40"></trkpt></trkseg></trk></gpx>',
        encoding="utf-8",
    )
    person = sorted(tiny_roster().persons)[0]
    code, _, err = run(
        data_dir, "patrol", "import", str(gpx), "--person", person, "--db", db, capsys=capsys
    )
    assert code == 1
    assert "track 1 segment 1 point 1" in err


# -- API ------------------------------------------------------------------------------------


@pytest.fixture
def api(store: Store, tmp_path: Path) -> FlaskClient:
    synced(store)
    context = tiny_context()
    app = api_app(store, Settings(data_dir=tmp_path), context, clock=lambda: NOW)
    return app.test_client()


def header(store: Store, person_id: str) -> dict[str, str]:
    token = store.create_credential(kind="person", subject=person_id, now=NOW, days=1)
    return {"Authorization": f"Bearer {token}"}


def body(**extra: object) -> dict[str, object]:
    points = [
        {"at": (NOW - timedelta(minutes=5 - i)).isoformat(), "lon": 120.05 + i * 1e-3, "lat": 31.9}
        for i in range(5)
    ]
    return {"points": points, **extra}


def test_a_worker_posts_his_own_points_and_only_his(api: FlaskClient, store: Store) -> None:
    roster = tiny_roster()
    worker = roster.owner(field_post(CELL), NOW)
    other = roster.owner(field_post(OTHER), NOW)
    assert worker is not None
    assert other is not None
    me = header(store, worker.person_id)
    reply = api.post("/api/v1/patrols/points", json=body(), headers=me)
    assert reply.status_code == 201, reply.get_data(as_text=True)
    assert reply.get_json()["accepted"] == 5
    reply = api.post("/api/v1/patrols/points", json=body(person_id=other.person_id), headers=me)
    assert reply.status_code == 403
    assert api.post("/api/v1/patrols/points", json=body()).status_code == 401
    future = body()
    future["points"][0]["at"] = (NOW + timedelta(hours=1)).isoformat()  # type: ignore[index]
    assert api.post("/api/v1/patrols/points", json=future, headers=me).status_code == 400
    naive = body()
    naive["points"][0]["at"] = "2026-05-06T11:00:00"  # type: ignore[index]
    assert api.post("/api/v1/patrols/points", json=naive, headers=me).status_code == 400
    stored = store.patrol_points()
    assert set(stored["person_id"]) == {worker.person_id}
    assert len(stored) == 5
    assert store.verify_ledger().ok


def test_coverage_and_status_are_read_in_the_callers_scope(api: FlaskClient, store: Store) -> None:
    roster = tiny_roster()
    worker = roster.owner(field_post(CELL), NOW)
    operator = roster.owner(COMMAND_CENTER, NOW)
    assert worker is not None
    assert operator is not None
    me = header(store, worker.person_id)
    assert api.post("/api/v1/patrols/points", json=body(), headers=me).status_code == 201

    mine = api.get("/api/v1/patrols/coverage?days=7", headers=me).get_json()
    cells = {c["cell"] for c in mine["cells"]}
    assert CELL in cells
    assert OTHER not in cells
    assert all(
        c.startswith(tuple(a.post.place for a in roster.posts_of(worker.person_id, NOW)))
        for c in cells
    )
    walked = next(c for c in mine["cells"] if c["cell"] == CELL)
    assert walked["coverage"] > 0
    assert not walked["blind_spot"]

    city = api.get("/api/v1/patrols/coverage", headers=header(store, operator.person_id)).get_json()
    assert len(city["cells"]) == 16
    assert city["blind_spots"] == 15

    status = api.get("/api/v1/patrols/status", headers=me).get_json()["workers"]
    assert {w["cell"] for w in status} <= cells | {CELL}
    assert next(w for w in status if w["person_id"] == worker.person_id)["status"] == "patrolling"
    assert api.get("/api/v1/patrols/coverage?days=0", headers=me).status_code == 400


def test_points_of_a_person_not_in_the_database_are_refused_clearly(store: Store) -> None:
    from gridmgr.errors import PatrolStoreError

    batch = PatrolBatch("P99999", [NOW], [120.05], [31.9])
    with pytest.raises(PatrolStoreError, match="gridmgr db sync"):
        store.record_patrol_batches([batch], at=NOW, actor="P99999")
    assert store.patrol_points().empty
