"""Builders and asserts for tests of code using gridmgr: a tiny 1 / 4 / 16-cell grid, its roster.

Doctests, notebooks, gridmgr's own tests and users' tests build their objects here, never from
``tests/``. Everything is deterministic and small enough to check by hand:

- :func:`tiny_grid` is the square [120.0, 120.5] x [31.5, 32.0] (EPSG:4326) cut into one town,
  four communities (its quadrants) and sixteen unit cells (a 4 x 4 lattice);
- :func:`tiny_roster` is the seeded demo roster of that grid, every post held since 2024-01-01;
- :func:`tiny_context` routes over both with the shipped catalog and the official calendar;
- :func:`simulate_activity` fills a store with seeded simulated days of cases and patrols.

The ``assert_*`` functions compare domain objects and raise :class:`AssertionError` with a message
that says what differs, as :mod:`geopandas.testing` does for frames.

>>> grid = tiny_grid()
>>> [len(grid.codes(tier)) for tier in (1, 2, 3)]
[1, 4, 16]
>>> grid.point_to_cell(120.0625, 31.5625).tier3
'320281001003003'
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely

from gridmgr.grid.model import Grid
from gridmgr.grid.validate import validate_grid, validated_grid
from gridmgr.ledger import Checkpoint, LedgerEvent, Verification, verify_chain
from gridmgr.responsibility.calendar import WorkCalendar
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.roster import Roster
from gridmgr.responsibility.roster_files import parse_roster
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.tablefiles import parse_table

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from gridmgr.store import Store

COUNTY = "320281"
"""The county code of the tiny grid (Jiangyin's)."""
TOWN = "320281001"
"""The code of the tiny grid's one town."""
X0, Y0, SIZE = 120.0, 31.5, 0.5
"""The tiny grid is the square [120.0, 120.5] x [31.5, 32.0], cut in 2 x 2, then 4 x 4
(binary fractions, so every corner is exact)."""

UNITS_CSV = """
    unit_id,name,kind,towns
    cgj,城市管理局,department,
    town-team-320281001,澄江街道综合行政执法局,town_team,320281001
"""
"""A units file with one department and the tiny town's team (see :func:`roster_from_csv`)."""


# -- the tiny grid ----------------------------------------------------------------------------


def tiny_cells() -> gpd.GeoDataFrame:
    """One town, four communities (quadrants), sixteen unit cells (a 4 x 4 lattice).

    Community ``320281001 00q`` is quadrant q in reading order (NW, NE, SW, SE); unit cell
    ``...00k`` is sub-square k of its quadrant, also in reading order.

    >>> cells = tiny_cells()
    >>> cells["tier"].value_counts().sort_index().tolist(), str(cells.crs)
    ([1, 4, 16], 'EPSG:4326')
    """
    rows = [_row(TOWN, COUNTY, 1, shapely.box(X0, Y0, X0 + SIZE, Y0 + SIZE))]
    half, quarter = SIZE / 2, SIZE / 4
    for q, (qx, qy) in enumerate(_reading_order(X0, Y0, half), start=1):
        code2 = f"{TOWN}{q:03d}"
        rows.append(_row(code2, TOWN, 2, shapely.box(qx, qy, qx + half, qy + half)))
        for k, (cx, cy) in enumerate(_reading_order(qx, qy, quarter), start=1):
            rows.append(
                _row(f"{code2}{k:03d}", code2, 3, shapely.box(cx, cy, cx + quarter, cy + quarter))
            )
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry="geometry", crs="EPSG:4326")


def tiny_grid() -> Grid:
    """The tiny grid (:func:`tiny_cells`), validated."""
    return validated_grid(tiny_cells(), name="tiny")


def replace_geometry(
    cells: gpd.GeoDataFrame, code: str, geom: shapely.Geometry
) -> gpd.GeoDataFrame:
    """A copy of ``cells`` with one cell's geometry replaced (to build a broken grid)."""
    out = cells.copy()
    out.loc[out["code"] == code, "geometry"] = geom
    return out


def _reading_order(x: float, y: float, step: float) -> list[tuple[float, float]]:
    """Lower-left corners of the 2 x 2 squares of ``step`` at (x, y): NW, NE, SW, SE."""
    return [(x, y + step), (x + step, y + step), (x, y), (x + step, y)]


def _row(code: str, parent: str, tier: int, geom: shapely.Geometry) -> dict[str, object]:
    return {
        "code": code,
        "parent_code": parent,
        "tier": tier,
        "name": f"cell {code}",
        "name_en": f"cell {code}",
        "geometry": geom,
    }


@functools.cache
def _tiny_grid_cached() -> Grid:
    return tiny_grid()


# -- responsibility ---------------------------------------------------------------------------


@functools.cache
def tiny_roster(seed: int = 2026) -> Roster:
    """The demo roster of the tiny grid (every post held since 2024-01-01, with deputies).

    >>> roster = tiny_roster()
    >>> roster is tiny_roster()  # built once: a roster is read-only
    True
    """
    return generate_roster(_tiny_grid_cached(), seed=seed)


def rows(csv_text: str, source: str = "test.csv") -> list[tuple[int, Mapping[str, str]]]:
    """Numbered rows of a CSV text (indentation removed), as the roster and catalog parsers take.

    >>> rows('''
    ...     a,b
    ...     1,2
    ... ''')
    [(2, {'a': '1', 'b': '2'})]
    """
    return list(parse_table(textwrap.dedent(csv_text).strip() + "\n", source=source).numbered())


def roster_from_csv(
    *,
    persons: str,
    assignments: str,
    units: str = UNITS_CSV,
    absences: str | None = None,
    cells: Mapping[str, int] | None = None,
) -> Roster:
    """A roster from CSV texts (see :func:`rows`); ``cells`` checks places against a grid."""
    return parse_roster(
        rows(persons, "persons.csv"),
        rows(units, "units.csv"),
        rows(assignments, "assignments.csv"),
        rows(absences, "absences.csv") if absences else [],
        cells=cells,
    )


def tiny_context(roster: Roster | None = None, *, border_m: float = 30.0) -> RoutingContext:
    """A routing context over the tiny grid, the shipped catalog and the official calendar.

    >>> tiny_context().grid.meta.name
    'tiny'
    """
    return RoutingContext(
        _tiny_grid_cached(),
        roster if roster is not None else tiny_roster(),
        read_catalog(),
        WorkCalendar(),
        border_m=border_m,
    )


# -- a store with history ---------------------------------------------------------------------


def simulate_activity(
    store: Store,
    context: RoutingContext,
    *,
    end: datetime,
    days: float = 1.0,
    per_day: float = 120.0,
    seed: int = 5,
) -> None:
    """Fill ``store`` with ``days`` of seeded simulated activity ending at ``end``, hour by hour.

    The reference data of ``context`` (grid, roster, catalog) is synced first, so an empty store
    will do. Cases arrive at ``per_day`` a day and run through the closed loop with escalations
    and patrols, as ``gridmgr simulate`` makes them.
    """
    # The simulator is imported here, not at the top: the builders above are pure and must
    # stay importable without the services (a notebook or a doctest of the pure packages
    # imports this module); only this function needs a database.
    from gridmgr.services.simulator import Simulator
    from gridmgr.simulation.activity import ActivityModel

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


# -- domain asserts ---------------------------------------------------------------------------


def assert_grid_equal(left: Grid, right: Grid, *, check_valid: bool = False) -> None:
    """Assert that two grids hold the same cells: equal checksums and codes at every tier.

    With ``check_valid``, ``left``'s cells must also pass
    :func:`~gridmgr.grid.validate.validate_grid` again (e.g. after a round trip through a file).

    >>> assert_grid_equal(tiny_grid(), tiny_grid(), check_valid=True)
    >>> cells = tiny_cells()
    >>> cells.loc[cells["code"] == "320281001001001", "name"] = "东门"
    >>> assert_grid_equal(tiny_grid(), validated_grid(cells, name="tiny"))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    AssertionError: grids differ: checksum ... with the same codes, so some geometry or name differs
    """
    for tier in (1, 2, 3):
        a, b = left.codes(tier), right.codes(tier)
        if list(a) != list(b):
            only = sorted(set(a) ^ set(b))[:5]
            raise AssertionError(
                f"grids differ: tier {tier} has {len(a)} cells vs {len(b)}; "
                f"codes in one only (first 5): {only}"
            )
    if left.meta.checksum != right.meta.checksum:
        raise AssertionError(
            f"grids differ: checksum {left.meta.checksum[:12]}… vs {right.meta.checksum[:12]}… "
            "with the same codes, so some geometry or name differs"
        )
    if check_valid:
        violations = validate_grid(left.cells)
        if violations:
            raise AssertionError(f"the grid is not valid: {violations[:3]}")


def assert_roster_equal(left: Roster, right: Roster) -> None:
    """Assert that two rosters hold the same persons, units, assignments and absences.

    >>> assert_roster_equal(tiny_roster(), tiny_roster())
    """
    for part in ("persons", "units", "assignments", "absences"):
        a, b = getattr(left, part), getattr(right, part)
        if a != b:
            raise AssertionError(f"rosters differ in their {part}: {_first_difference(a, b)}")


def _first_difference(a: object, b: object) -> str:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = sorted(set(a) ^ set(b), key=str) or sorted((k for k in a if a[k] != b[k]), key=str)
        return f"first differing key {keys[0]!r}" if keys else "they differ"
    if isinstance(a, tuple) and isinstance(b, tuple):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                return f"item {i}: {x!r} vs {y!r}"
        return f"{len(a)} items vs {len(b)}"
    return f"{a!r} vs {b!r}"


def assert_chain_verifies(
    rows: Iterable[Sequence[object]] | Iterable[LedgerEvent],
    *,
    checkpoint: Checkpoint | None = None,
) -> Verification:
    """Assert that ledger rows verify end to end (:func:`gridmgr.ledger.verify_chain`); the
    :class:`~gridmgr.ledger.Verification`, so a test can check its count.

    >>> assert_chain_verifies([]).count
    0
    """
    verification = verify_chain(rows, checkpoint=checkpoint)
    if not verification.ok:
        raise AssertionError(str(verification))
    return verification


__all__ = [
    "COUNTY",
    "TOWN",
    "UNITS_CSV",
    "assert_chain_verifies",
    "assert_grid_equal",
    "assert_roster_equal",
    "replace_geometry",
    "roster_from_csv",
    "rows",
    "simulate_activity",
    "tiny_cells",
    "tiny_context",
    "tiny_grid",
    "tiny_roster",
]
