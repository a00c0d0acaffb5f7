"""Reference data in SQL: the grid generations and their cells, the roster, the catalog and the
calendar overrides.

The data folder's files stay the way people edit them (GeoPackage, CSV);
:meth:`ReferenceMethods.sync_reference` copies them into a new database, and the import
commands (:meth:`~ReferenceMethods.sync_roster`, :meth:`~ReferenceMethods.sync_catalog`,
:meth:`~ReferenceMethods.sync_calendar`) copy a new roster, catalog or calendar in, each change
in one transaction with a ledger event naming its checksum — so GIS staff can open the cells
beside the cases in QGIS (PostGIS), SQL reports can join cases to owners, and the ledger proves
which grid, roster, catalog and calendar were in force from when. Once the database has them it
is their source of truth: every node reads them from it (:meth:`~ReferenceMethods.stored_roster`,
:meth:`~ReferenceMethods.stored_catalog`, :meth:`~ReferenceMethods.stored_calendar`), and each
change bumps the kind's counter in ``reference_versions`` so nodes can see it by polling one row.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
import shapely
from sqlalchemy import Connection, delete, func, insert, select, update

from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ, DayOverride
from gridmgr.responsibility.catalog import Catalog, catalog_to_rows
from gridmgr.responsibility.catalog_file import parse_catalog
from gridmgr.responsibility.roster import (
    Absence,
    Assignment,
    Person,
    Post,
    PostKind,
    Role,
    Roster,
    Unit,
    UnitKind,
)
from gridmgr.store import ledgerstore
from gridmgr.store.schema import (
    absences,
    assignments,
    calendar_days,
    categories,
    cells,
    grid_generations,
    ledger,
    persons,
    reference_versions,
    units,
)
from gridmgr.store.transactions import StoreBase
from gridmgr.tablefiles import Table


@dataclass(frozen=True)
class SyncResult:
    """What :meth:`~ReferenceMethods.sync_reference` changed (each False when the database was
    already current)."""

    grid: bool
    roster: bool
    catalog: bool


def roster_checksum(roster: Roster) -> str:
    """A sha256 over the roster's contents (order-independent)."""
    rows = {
        "persons": sorted(
            (p.person_id, p.name, p.phone, p.unit_id, p.capacity) for p in roster.persons.values()
        ),
        "units": sorted(
            (u.unit_id, u.name, u.kind.value, list(u.towns)) for u in roster.units.values()
        ),
        "assignments": sorted(
            (
                a.person_id,
                a.post.key,
                a.role.value,
                a.valid_from.isoformat(),
                a.valid_to.isoformat() if a.valid_to else "",
            )
            for a in roster.assignments
        ),
        "absences": sorted(
            (x.person_id, x.start.isoformat(), x.end.isoformat(), x.reason) for x in roster.absences
        ),
    }
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"), default=list)
    return hashlib.sha256(text.encode()).hexdigest()


def _last_checksum(conn: Connection, kind: str) -> str | None:
    row = conn.execute(
        select(ledger.c.payload).where(ledger.c.kind == kind).order_by(ledger.c.seq.desc()).limit(1)
    ).first()
    return None if row is None else str(json.loads(row[0]).get("checksum"))


def _bump_version(conn: Connection, kind: str, checksum: str, *, at: datetime) -> None:
    """Count one more change of ``kind`` (in the changing transaction)."""
    v = reference_versions.c
    done = conn.execute(
        update(reference_versions)
        .where(v.kind == kind)
        .values(version=v.version + 1, checksum=checksum, changed_at=at)
    )
    if done.rowcount == 0:
        conn.execute(
            insert(reference_versions).values(
                kind=kind, version=1, checksum=checksum, changed_at=at
            )
        )


def _sync_grid(conn: Connection, grid: Grid, *, at: datetime, actor: str) -> bool:
    meta = grid.meta
    known = conn.execute(
        select(grid_generations.c.generation_id, grid_generations.c.is_current)
    ).all()
    current = {g for g, is_current in known if is_current}
    if current == {meta.generation_id}:
        return False
    if meta.generation_id not in {g for g, _ in known}:
        conn.execute(
            insert(grid_generations),
            [
                {
                    "generation_id": meta.generation_id,
                    "name": meta.name,
                    "checksum": meta.checksum,
                    "metric_crs": meta.metric_crs,
                    "county_code": meta.county_code,
                    "is_current": False,
                    "imported_at": at,
                    "meta": meta.to_records(grid.counts),
                }
            ],
        )
        frame = grid.cells
        # a copy: asarray can hand back the grid's own array, which the line below would edit
        geoms = np.array(frame.geometry.values, dtype=object, copy=True)
        single = shapely.get_type_id(geoms) == 3  # Polygon → MultiPolygon for the typed column
        geoms[single] = [shapely.multipolygons([g]) for g in geoms[single]]
        conn.execute(
            insert(cells),
            [
                {
                    "generation_id": meta.generation_id,
                    "code": code,
                    "parent_code": parent if isinstance(parent, str) and parent else None,
                    "tier": int(tier),
                    "name": name,
                    "name_en": name_en or "",
                    "geom": geom,
                }
                for code, parent, tier, name, name_en, geom in zip(
                    frame["code"],
                    frame["parent_code"],
                    frame["tier"],
                    frame["name"],
                    frame["name_en"],
                    geoms,
                    strict=True,
                )
            ],
        )
    conn.execute(update(grid_generations).values(is_current=False))
    conn.execute(
        update(grid_generations)
        .where(grid_generations.c.generation_id == meta.generation_id)
        .values(is_current=True)
    )
    ledgerstore.append(
        conn,
        at=at,
        kind="grid.current",
        actor=actor,
        subject=f"grid:{meta.generation_id}",
        details={
            "generation_id": meta.generation_id,
            "checksum": meta.checksum,
            "counts": {str(t): n for t, n in grid.counts.items()},
        },
    )
    _bump_version(conn, "grid", meta.checksum, at=at)
    return True


def _sync_roster(conn: Connection, roster: Roster, *, at: datetime, actor: str) -> bool:
    checksum = roster_checksum(roster)
    if _last_checksum(conn, "roster.loaded") == checksum:
        return False
    for table in (absences, assignments, persons, units):
        conn.execute(delete(table))
    if roster.units:
        conn.execute(
            insert(units),
            [
                {
                    "unit_id": u.unit_id,
                    "name": u.name,
                    "kind": u.kind.value,
                    "towns": ";".join(u.towns),
                }
                for u in roster.units.values()
            ],
        )
    if roster.persons:
        conn.execute(
            insert(persons),
            [
                {
                    "person_id": p.person_id,
                    "name": p.name,
                    "phone": p.phone,
                    "unit_id": p.unit_id or None,
                    "capacity": p.capacity,
                }
                for p in roster.persons.values()
            ],
        )
    if roster.assignments:
        conn.execute(
            insert(assignments),
            [
                {
                    "person_id": a.person_id,
                    "post_kind": a.post.kind.value,
                    "place": a.post.place,
                    "role": a.role.value,
                    "valid_from": a.valid_from,
                    "valid_to": a.valid_to,
                }
                for a in roster.assignments
            ],
        )
    if roster.absences:
        conn.execute(
            insert(absences),
            [
                {"person_id": x.person_id, "start": x.start, "end": x.end, "reason": x.reason}
                for x in roster.absences
            ],
        )
    ledgerstore.append(
        conn,
        at=at,
        kind="roster.loaded",
        actor=actor,
        subject="roster",
        details={
            "checksum": checksum,
            "persons": len(roster.persons),
            "assignments": len(roster.assignments),
            "source": roster.source,
        },
    )
    _bump_version(conn, "roster", checksum, at=at)
    return True


def _sync_catalog(conn: Connection, catalog: Catalog, *, at: datetime, actor: str) -> bool:
    if _last_checksum(conn, "catalog.loaded") == catalog.checksum:
        return False
    conn.execute(delete(categories))
    conn.execute(
        insert(categories),
        [
            {"code": row["code"], "name_zh": row["name_zh"], "position": i, "row": row}
            for i, row in enumerate(catalog_to_rows(catalog))
        ],
    )
    ledgerstore.append(
        conn,
        at=at,
        kind="catalog.loaded",
        actor=actor,
        subject="catalog",
        details={
            "checksum": catalog.checksum,
            "categories": len(catalog),
            "source": catalog.source,
        },
    )
    _bump_version(conn, "catalog", catalog.checksum, at=at)
    return True


def calendar_checksum(overrides: Mapping[date, DayOverride]) -> str:
    """A sha256 over calendar overrides (order-independent)."""
    rows = sorted((d.isoformat(), o.is_workday, o.name or "") for d, o in overrides.items())
    text = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _sync_calendar(
    conn: Connection, overrides: Mapping[date, DayOverride], *, at: datetime, actor: str
) -> bool:
    checksum = calendar_checksum(overrides)
    if _last_checksum(conn, "calendar.loaded") == checksum:
        return False
    conn.execute(delete(calendar_days))
    if overrides:
        conn.execute(
            insert(calendar_days),
            [
                {"day": d, "is_workday": o.is_workday, "name": o.name}
                for d, o in sorted(overrides.items())
            ],
        )
    ledgerstore.append(
        conn,
        at=at,
        kind="calendar.loaded",
        actor=actor,
        subject="calendar",
        details={"checksum": checksum, "days": len(overrides)},
    )
    _bump_version(conn, "calendar", checksum, at=at)
    return True


def _rows_to_roster(
    person_rows: Any, unit_rows: Any, assignment_rows: Any, absence_rows: Any
) -> Roster:
    """A roster from its rows (times in the city's zone, as the roster files have them)."""
    return Roster(
        [Person(r.person_id, r.name, r.phone, r.unit_id or "", r.capacity) for r in person_rows],
        [
            Unit(r.unit_id, r.name, UnitKind(r.kind), tuple(t for t in r.towns.split(";") if t))
            for r in unit_rows
        ],
        [
            Assignment(
                r.person_id,
                Post(PostKind(r.post_kind), r.place),
                Role(r.role),
                r.valid_from.astimezone(TZ),
                None if r.valid_to is None else r.valid_to.astimezone(TZ),
            )
            for r in assignment_rows
        ],
        [
            Absence(r.person_id, r.start.astimezone(TZ), r.end.astimezone(TZ), r.reason)
            for r in absence_rows
        ],
        source="database",
    )


@dataclass(frozen=True)
class StoredReference:
    """What reference data the database holds: the current grid generation and row counts."""

    generation_id: str | None
    """The current grid generation (``None`` before the first sync)."""
    cells: int
    """Cells of the current generation, all tiers."""
    units: int
    persons: int
    assignments: int
    absences: int
    categories: int


class ReferenceMethods(StoreBase):
    """The store's copy of the grid, roster and catalog: synced with its ledger events, read."""

    def sync_reference(
        self, *, grid: Grid, roster: Roster, catalog: Catalog, at: datetime, actor: str
    ) -> SyncResult:
        """Bring the database's grid, roster and catalog up to date with these; ledger each
        change."""
        with self._write() as conn:
            changed_grid = _sync_grid(conn, grid, at=at, actor=actor)
            changed_roster = _sync_roster(conn, roster, at=at, actor=actor)
            changed_catalog = _sync_catalog(conn, catalog, at=at, actor=actor)
        return SyncResult(changed_grid, changed_roster, changed_catalog)

    def sync_grid(self, grid: Grid, *, at: datetime, actor: str) -> bool:
        """Make ``grid`` the database's current generation (a ledger event); False when it
        already was."""
        with self._write() as conn:
            return _sync_grid(conn, grid, at=at, actor=actor)

    def has_generation(self, generation_id: str) -> bool:
        """Whether the database holds the grid generation ``generation_id`` (current or not)."""
        g = grid_generations.c
        with self._read() as conn:
            found = conn.execute(select(g.generation_id).where(g.generation_id == generation_id))
            return found.first() is not None

    def sync_roster(self, roster: Roster, *, at: datetime, actor: str) -> bool:
        """Make ``roster`` the database's roster (a ledger event); False when it already was."""
        with self._write() as conn:
            return _sync_roster(conn, roster, at=at, actor=actor)

    def sync_catalog(self, catalog: Catalog, *, at: datetime, actor: str) -> bool:
        """Make ``catalog`` the database's catalog (a ledger event); False when it already was."""
        with self._write() as conn:
            return _sync_catalog(conn, catalog, at=at, actor=actor)

    def sync_calendar(
        self, overrides: Mapping[date, DayOverride], *, at: datetime, actor: str
    ) -> bool:
        """Make ``overrides`` the database's calendar overrides (a ledger event); False when
        they already were."""
        with self._write() as conn:
            return _sync_calendar(conn, overrides, at=at, actor=actor)

    def stored_calendar(self) -> dict[date, DayOverride] | None:
        """The database's calendar overrides (``None`` before the first sync)."""
        with self._read() as conn:
            synced = conn.execute(
                select(reference_versions.c.kind).where(reference_versions.c.kind == "calendar")
            ).first()
            if synced is None:
                return None
            rows = conn.execute(select(calendar_days)).all()
        return {r.day: DayOverride(r.day, bool(r.is_workday), r.name) for r in rows}

    def reference_versions(self) -> dict[str, int]:
        """How many times each kind of reference data (grid, roster, catalog) has changed here:
        one small read a node can poll to see a change made by another."""
        with self._read() as conn:
            rows = conn.execute(select(reference_versions.c.kind, reference_versions.c.version))
            return {str(kind): int(version) for kind, version in rows}

    def reference_state(self) -> dict[str, tuple[int, str]]:
        """Each kind of reference data's counter and the checksum of its current contents: the
        one small read a node polls (:class:`gridmgr.services.reference.ReferenceWatch`)."""
        v = reference_versions.c
        with self._read() as conn:
            rows = conn.execute(select(v.kind, v.version, v.checksum))
            return {str(kind): (int(version), str(checksum)) for kind, version, checksum in rows}

    def current_generation(self) -> str | None:
        """The database's current grid generation (``None`` before the first sync)."""
        g = grid_generations.c
        with self._read() as conn:
            found = conn.execute(select(g.generation_id).where(g.is_current)).scalar()
            return None if found is None else str(found)

    def stored_roster(self) -> Roster | None:
        """The database's roster (``None`` when it has none yet)."""
        with self._read() as conn:
            found = [conn.execute(select(t)).all() for t in (persons, units, assignments, absences)]
        if not found[0]:
            return None
        return _rows_to_roster(*found)

    def stored_catalog(self) -> Catalog | None:
        """The database's catalog (``None`` when it has none yet)."""
        with self._read() as conn:
            rows = conn.execute(select(categories.c.row).order_by(categories.c.position)).all()
        if not rows:
            return None
        table = [{k: str(v) for k, v in dict(r.row).items()} for r in rows]
        columns = tuple(table[0])
        return parse_catalog(
            Table("database", columns, tuple(table), tuple(range(2, len(table) + 2)))
        )

    def stored_reference(self) -> StoredReference:
        """The current grid generation and how many rows of each kind of reference data the
        database holds."""
        g = grid_generations.c
        with self._read() as conn:
            current = conn.execute(select(g.generation_id).where(g.is_current)).scalar()
            counts = [
                int(conn.execute(select(func.count()).select_from(t)).scalar_one())
                for t in (units, persons, assignments, absences, categories)
            ]
            n_cells = conn.execute(
                select(func.count()).select_from(cells).where(cells.c.generation_id == current)
            ).scalar_one()
        return StoredReference(current, int(n_cells), *counts)

    def current_cells(self, *, tier: int | None = None) -> dict[str, Any]:
        """The cells of the current grid generation (of ``tier``), as stored: code → shapely
        (multi)polygon, EPSG:4326."""
        query = (
            select(cells.c.code, cells.c.geom)
            .join(grid_generations, grid_generations.c.generation_id == cells.c.generation_id)
            .where(grid_generations.c.is_current)
            .order_by(cells.c.code)
        )
        if tier is not None:
            query = query.where(cells.c.tier == tier)
        with self._read() as conn:
            return {str(r.code): r.geom for r in conn.execute(query)}
