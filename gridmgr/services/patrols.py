"""Patrols: a worker's own GPS points, a track read from a file, and the points, coverage and
duty status read in a caller's scope.

A person posts only his own points; coverage and duty status are cut to the caller's cells (a
worker his cells, a head his community, a leader his town, operators and managers the city). The
figures themselves are pure functions of :mod:`gridmgr.patrols`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from gridmgr.access import Caller
from gridmgr.errors import ForbiddenError
from gridmgr.grid.datum import Datum, to_wgs84
from gridmgr.patrolpixels import coverage_from_days, points_to_cover, window_days
from gridmgr.patrols import (
    PATROL_DISTANCE_M,
    TRACK_GAP,
    PatrolError,
    duty_status,
    patrol_coverage,
)
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.context import Services
from gridmgr.services.devices import DEVICE_LABEL
from gridmgr.store import Store
from gridmgr.store.patrolstore import MAX_BATCH, PatrolBatch, PatrolResendError

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid

FUTURE_SLACK = timedelta(minutes=5)
"""How far ahead of the server's clock a point's time may be (phone clocks drift)."""


@dataclass(frozen=True)
class Uploaded:
    """What an upload stored: points ``new`` to the store, and ``repeats`` (their client id
    was stored already, by an earlier upload or earlier in the same one)."""

    new: int
    repeats: int


def record_own_points(
    services: Services,
    caller: Caller,
    *,
    at: Sequence[datetime],
    lon: Sequence[float],
    lat: Sequence[float],
    accuracy_m: Sequence[float | None],
    datum: str | Datum = Datum.WGS84,
    person_id: str | None = None,
    client_ids: Sequence[str | None] | None = None,
) -> Uploaded:
    """Store the caller's own points (in ``datum``) with their ledger event.

    ``person_id``, if given, must be the caller (:class:`~gridmgr.errors.ForbiddenError`);
    a point later than the server's clock allows is a :class:`~gridmgr.patrols.PatrolError`.
    A point whose ``client_ids`` entry the caller stored before is a repeat and is skipped,
    so a batch resent wholly or in part stores each point once (the unique (person, client
    id) decides when two uploads race).
    """
    me = caller.actor.actor_id
    if person_id is not None and person_id != me:
        raise ForbiddenError(f"you are {me}; post your own points only, not {person_id}")
    now = services.now()
    late = [i for i, t in enumerate(at) if t > now + FUTURE_SLACK]
    if late:
        raise PatrolError(
            f"points {late[:10]} are in the future (server time {now.isoformat()}); "
            "check the phone's clock"
        )
    x, y = to_wgs84(list(lon), list(lat), datum)
    ids = list(client_ids) if client_ids is not None else [None] * len(at)
    rows = list(zip(at, (float(v) for v in x), (float(v) for v in y), accuracy_m, ids, strict=True))
    for attempt in range(3):
        todo = _new_points(services.store, me, rows)
        if not todo:
            return Uploaded(0, len(rows))
        batch = PatrolBatch(
            me,
            [r[0] for r in todo],
            [r[1] for r in todo],
            [r[2] for r in todo],
            [r[3] for r in todo],
            source="api",
            client_ids=None if client_ids is None else [r[4] for r in todo],
        )
        try:
            written = record_batches(services.store, services.grid, [batch], at=now, actor=me)
        except PatrolResendError:  # another upload stored some of them meanwhile: filter again
            if attempt == 2:
                raise
            continue
        return Uploaded(written, len(rows) - written)
    raise AssertionError("unreachable")  # pragma: no cover


_Point = tuple[datetime, float, float, float | None, str | None]


def _new_points(store: Store, person_id: str, rows: Sequence[_Point]) -> list[_Point]:
    """The points of ``rows`` not stored yet: without a client id, or with one neither stored
    nor seen earlier in ``rows``."""
    stored = store.patrol_client_ids(person_id, [r[4] for r in rows if r[4] is not None])
    seen: set[str] = set()
    out = []
    for row in rows:
        cid = row[4]
        if cid is not None:
            if cid in stored or cid in seen:
                continue
            seen.add(cid)
        out.append(row)
    return out


def record_batches(
    store: Store, grid: Grid, batches: Sequence[PatrolBatch], *, at: datetime, actor: str
) -> int:
    """Store the batches' points with their ledger event, each point's cell and the pixels they
    cover (:func:`gridmgr.patrolpixels.points_to_cover`), in one transaction; how many.

    A track goes on from each person's latest stored point when it is recent enough."""
    todo = [b for b in batches if len(b.at)]
    if not todo:
        return 0
    frame = batches_to_frame(todo)
    first = frame["at"].min().to_pydatetime()
    persons = sorted(set(frame["person_id"]))
    before = store.latest_patrol_points(persons=persons, since=first - TRACK_GAP)
    start = frame.groupby("person_id")["at"].min()
    before = before[[t < start[p] for p, t in zip(before["person_id"], before["at"], strict=True)]]
    cover = points_to_cover(grid, frame, before=before)
    return store.record_patrol_batches(todo, at=at, actor=actor, cover=cover)


def batches_to_frame(batches: Sequence[PatrolBatch]) -> pd.DataFrame:
    """The batches' points as one frame (``person_id``, ``at``, ``lon``, ``lat``), in order."""
    frame = pd.DataFrame(
        {
            "person_id": np.repeat(
                np.array([b.person_id for b in batches], dtype=object), [len(b.at) for b in batches]
            ),
            # in UTC first: pandas converts aware times of another zone one by one, 3x slower
            "at": [t.astimezone(UTC) for b in batches for t in b.at],
            "lon": _joined([b.lon for b in batches]),
            "lat": _joined([b.lat for b in batches]),
        }
    )
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame


def _joined(parts: Sequence[Sequence[float]]) -> np.ndarray:
    return np.concatenate([np.zeros(0), *(np.asarray(p, dtype=float) for p in parts)])


def kept_coverage(
    store: Store, grid: Grid, *, now: datetime, days: float, cells: Sequence[str] | None = None
) -> pd.DataFrame:
    """Patrol coverage at 50 m over the whole days the ``days`` before ``now`` touch, from the
    bitmaps kept as points are stored (:mod:`gridmgr.patrolpixels`): the frame of
    :func:`gridmgr.patrols.patrol_coverage`, for every tier-3 cell (or ``cells``)."""
    ensure_coverage(store, grid)
    first, last = window_days(now, days)
    rows = store.patrol_coverage_days(first, last)
    seen = store.patrol_last_seen(until=last)
    return coverage_from_days(grid, rows, seen, cells=cells)


def ensure_coverage(store: Store, grid: Grid) -> bool:
    """Build the coverage bitmaps from the stored points if there are points but no bitmaps
    (a database from before they were kept); whether it did."""
    points, kept = store.has_patrol_coverage()
    if not points or kept:
        return False
    rebuild_coverage(store, grid)
    return True


def rebuild_coverage(
    store: Store,
    grid: Grid,
    *,
    chunk: timedelta = timedelta(days=1),
    progress: Callable[[datetime, datetime], None] | None = None,
) -> int:
    """Forget the coverage bitmaps and compute them again from every stored point, a day of
    points at a time; how many points were read. ``progress(done_until, last)`` is called
    after each day."""
    store.clear_patrol_coverage()
    span = store.patrol_points_span()
    if span is None:
        return 0
    start = pd.Timestamp(span[0]).tz_convert(TZ).normalize().to_pydatetime()
    count = 0
    previous = pd.DataFrame(columns=["person_id", "at", "lon", "lat"])
    while start <= span[1]:
        end = start + chunk
        points = store.patrol_points(since=start, until=end)
        if len(points):
            cover = points_to_cover(grid, points, before=previous)
            store.merge_patrol_coverage(cover.days)
            last = points.groupby("person_id").tail(1)
            previous = pd.concat([previous, last]).groupby("person_id").tail(1)
            count += len(points)
        start = end
        if progress is not None:
            progress(start, span[1])
    return count


def coverage_in_scope(
    services: Services,
    caller: Caller,
    *,
    now: datetime,
    days: float,
    distance_m: float,
    subtree: str | None = None,
) -> pd.DataFrame:
    """Patrol coverage of the unit cells in the caller's scope (and ``subtree``, a cell-code
    prefix) over the ``days`` before ``now``: :func:`gridmgr.patrols.patrol_coverage`'s frame.

    At the default 50 m it is read from the kept bitmaps (:func:`kept_coverage`, whole days);
    another distance is computed exactly from the points."""
    cells = [c for c in services.grid.codes(3) if caller.covers(c)]
    if subtree is not None:
        cells = [c for c in cells if c.startswith(subtree)]
    if distance_m == PATROL_DISTANCE_M:
        return kept_coverage(services.store, services.grid, now=now, days=days, cells=cells)
    points = services.store.patrol_points(since=now - timedelta(days=days), until=now)
    return patrol_coverage(
        services.grid, points, now=now, days=days, distance_m=distance_m, cells=cells
    )


def duty_in_scope(services: Services, caller: Caller, *, now: datetime) -> pd.DataFrame:
    """Each grid worker in the caller's scope at ``now``: :func:`gridmgr.patrols.duty_status`'s
    frame, and ``last_sync``: his field app's last contact (a device token's last use)."""
    frame = duty_status(
        services.roster, services.calendar, services.store.latest_patrol_points(), now=now
    )
    frame = frame[[caller.covers(str(c)) for c in frame["cell"]]]
    return _with_last_sync(services.store, frame)


def _with_last_sync(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    contacts = store.device_contacts([str(p) for p in frame["person_id"]])
    synced = pd.Series([contacts.get(str(p)) for p in frame["person_id"]], dtype="object")
    return frame.assign(last_sync=pd.to_datetime(synced, utc=True).set_axis(frame.index))


SILENT_AFTER = timedelta(minutes=30)
"""How long a worker on duty who carries the field app may go unheard before the panel shows
him."""
ON_DUTY = ("patrolling", "on_duty")
"""The statuses of :func:`gridmgr.patrols.duty_status` that mean on duty (shift, not absent)."""


@dataclass(frozen=True)
class SilentWorker:
    """A worker on duty not heard from (no device contact, no patrol point) lately."""

    person_id: str
    name: str
    cell: str
    last_heard: datetime | None


def silent_workers(
    services: Services,
    *,
    at: datetime,
    scope: tuple[str, ...] | None = None,
    after: timedelta = SILENT_AFTER,
) -> tuple[list[SilentWorker], int]:
    """Workers on duty at ``at`` (in ``scope``'s cells) who carry the field app (a live device
    token) and were not heard from — neither a device contact nor a patrol point — within
    ``after``; and how many on duty carry the app. Oldest silence first."""
    store = services.store
    # only the last ``after`` of points is read for everyone (an index range on ``at``): the
    # panel runs this on every refresh; the silent few get their older points afterwards
    recent = store.latest_patrol_points(since=at - after)
    frame = duty_status(services.roster, services.calendar, recent, now=at)
    if scope is not None:
        frame = frame[[str(c).startswith(scope) for c in frame["cell"]]]
    equipped = store.device_holders(label_prefix=DEVICE_LABEL, now=at)
    frame = frame[frame["status"].isin(ON_DUTY) & frame["person_id"].isin(equipped)]
    frame = frame.drop_duplicates("person_id")
    contacts = store.device_contacts([str(p) for p in frame["person_id"]])
    quiet = [
        (str(p), str(n), str(c))
        for p, n, c, seen in zip(
            frame["person_id"], frame["name"], frame["cell"], frame["last_seen"], strict=True
        )
        if as_instant(seen) is None
        and (contacts.get(str(p)) is None or contacts[str(p)] < at - after)
    ]
    older = store.latest_patrol_points(persons=[p for p, _, _ in quiet]) if quiet else None
    walked = {} if older is None else dict(zip(older["person_id"], older["at"], strict=True))
    silent = []
    for p, n, c in quiet:
        heard = [t for t in (contacts.get(p), as_instant(walked.get(p))) if t is not None]
        silent.append(SilentWorker(p, n, c, max(heard) if heard else None))
    early = datetime.min.replace(tzinfo=TZ)
    silent.sort(key=lambda w: (w.last_heard or early, w.person_id))
    return silent, len(frame)


def as_instant(value: object) -> datetime | None:
    """A frame's time as an aware ``datetime`` (``None`` for NaT or nothing: no point yet)."""
    if not isinstance(value, datetime) or pd.isna(value):  # NaT: no point yet
        return None
    return pd.Timestamp(value).to_pydatetime()


def patrol_points(store: Store, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Every patrol point with ``since <= at < until``, by person then time (columns
    ``person_id``, ``at``, ``lon``, ``lat``, ``accuracy_m``)."""
    return store.patrol_points(since=since, until=until)


def latest_positions(store: Store, *, since: datetime) -> pd.DataFrame:
    """Each person's latest patrol point at or after ``since`` (same columns, one row each)."""
    return store.latest_patrol_points(since=since)


def import_track(
    store: Store,
    grid: Grid,
    person_id: str,
    points: pd.DataFrame,
    *,
    source: str,
    at: datetime,
    actor: str,
) -> int:
    """Store ``person_id``'s ``points`` (columns ``at``, ``lon``, ``lat``, ``accuracy_m``)
    read from the file ``source``; returns how many were written (0 for an empty track)."""
    batches = [
        PatrolBatch(
            person_id,
            [t.to_pydatetime() for t in part["at"]],
            part["lon"].tolist(),
            part["lat"].tolist(),
            [None if pd.isna(a) else float(a) for a in part["accuracy_m"]],
            source=f"file:{source}",
        )
        for part in (points.iloc[i : i + MAX_BATCH] for i in range(0, len(points), MAX_BATCH))
    ]
    return record_batches(store, grid, batches, at=at, actor=actor)
