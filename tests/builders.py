"""Builders for test objects: a tiny hand-checkable 1 / 4 / 16-cell grid, and ways to break it;
the whole app over a store, as ``gridmgr serve`` composes it."""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import geopandas as gpd
import pandas as pd
import shapely

from gridmgr.grid.model import Grid
from gridmgr.grid.validate import validated_grid

if TYPE_CHECKING:
    from flask import Flask

    from gridmgr.responsibility.roster import Roster
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.services.context import Services
    from gridmgr.settings import Settings
    from gridmgr.store import Store

COUNTY = "320281"
TOWN = "320281001"
X0, Y0, SIZE = 120.0, 31.5, 0.5
"""The tiny grid is the square [120.0, 120.5] x [31.5, 32.0], cut in 2 x 2, then 4 x 4
(binary fractions, so every corner is exact)."""


def tiny_cells() -> gpd.GeoDataFrame:
    """One town, four communities (quadrants), sixteen unit cells (a 4 x 4 lattice).

    Community ``320281001 00q`` is quadrant q in reading order (NW, NE, SW, SE); unit cell
    ``...00k`` is sub-square k of its quadrant, also in reading order.
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
    """The tiny grid, validated."""
    return validated_grid(tiny_cells(), name="tiny")


def replace_geometry(
    cells: gpd.GeoDataFrame, code: str, geom: shapely.Geometry
) -> gpd.GeoDataFrame:
    """A copy of ``cells`` with one cell's geometry replaced."""
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


# -- responsibility -------------------------------------------------------------------------


@functools.cache
def tiny_roster(seed: int = 2026) -> Roster:
    """The demo roster of the tiny grid (every post held since 2024-01-01, with deputies)."""
    from gridmgr.responsibility.demo_roster import generate_roster

    return generate_roster(_tiny_grid_cached(), seed=seed)


def rows(csv_text: str, source: str = "test.csv") -> list[tuple[int, Mapping[str, str]]]:
    """Numbered rows of a CSV text (indentation removed), as the roster and catalog parsers take."""
    from gridmgr.tablefiles import parse_table

    return list(parse_table(textwrap.dedent(csv_text).strip() + "\n", source=source).numbered())


UNITS_CSV = """
    unit_id,name,kind,towns
    cgj,城市管理局,department,
    town-team-320281001,澄江街道综合行政执法局,town_team,320281001
"""


def roster_from_csv(
    *,
    persons: str,
    assignments: str,
    units: str = UNITS_CSV,
    absences: str | None = None,
    cells: Mapping[str, int] | None = None,
) -> Roster:
    """A roster from CSV texts (see :func:`rows`); ``cells`` checks places against a grid."""
    from gridmgr.responsibility.roster_files import parse_roster

    return parse_roster(
        rows(persons, "persons.csv"),
        rows(units, "units.csv"),
        rows(assignments, "assignments.csv"),
        rows(absences, "absences.csv") if absences else [],
        cells=cells,
    )


def tiny_context(roster: Roster | None = None, *, border_m: float = 30.0) -> RoutingContext:
    """A routing context over the tiny grid, the shipped catalog and the official calendar."""
    from gridmgr.responsibility.calendar import WorkCalendar
    from gridmgr.responsibility.catalog import read_catalog
    from gridmgr.responsibility.routing import RoutingContext

    return RoutingContext(
        _tiny_grid_cached(),
        roster if roster is not None else tiny_roster(),
        read_catalog(),
        WorkCalendar(),
        border_m=border_m,
    )


@functools.cache
def _tiny_grid_cached() -> Grid:
    return tiny_grid()


def app_services(
    store: Store,
    settings: Settings,
    context: RoutingContext | None = None,
    *,
    clock: Callable[[], datetime],
) -> Services:
    """The services a worker of ``gridmgr serve`` builds, over ``store`` and ``context`` (default:
    :func:`tiny_context`), with a group-commit ingestor: close it (``services.ingestor.close()``,
    or :func:`close_app`)."""
    from gridmgr.services.context import Services
    from gridmgr.services.reports import Ingestor

    return Services(
        store,
        context if context is not None else tiny_context(),
        settings,
        clock,
        Ingestor(store),
    )


def api_app(
    store: Store,
    settings: Settings,
    context: RoutingContext | None = None,
    *,
    clock: Callable[[], datetime],
    grid: Grid | None = None,
    roster: Roster | None = None,
) -> Flask:
    """The app with the API over :func:`app_services` (the status page shows ``grid``, default
    the context's, and ``roster``'s staffing, default the tiny roster's). Close it with
    :func:`close_app`."""
    from gridmgr.api import create_app

    services = app_services(store, settings, context, clock=clock)
    return create_app(
        settings,
        grid if grid is not None else services.grid,
        roster if roster is not None else tiny_roster(),
        services=services,
    )


def close_app(app: Flask) -> None:
    """Write what the app's ingestor holds and stop its thread (the store stays open)."""
    from gridmgr.web.deps import services_of

    ingestor = services_of(app).ingestor
    assert ingestor is not None
    ingestor.close()
