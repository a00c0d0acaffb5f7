"""The data folder's responsibility files: the current roster, catalog and calendar overrides.

Until the store (issue #4) holds them in SQL, they live next to the grid generations:
``roster/`` (CSV files), ``catalog.csv`` (a city's own catalog; else the shipped one),
``powers/`` (a city's own power catalog; else the shipped synthetic one) and
``calendar-overrides.csv`` (merged over the shipped overrides). The demo roster is generated
for the current grid the first time a roster is needed.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from gridmgr.errors import DataFolderError, TableFileError
from gridmgr.responsibility.calendar import (
    WorkCalendar,
    default_overrides_path,
    parse_working_hours,
    read_overrides,
)
from gridmgr.responsibility.catalog import Catalog
from gridmgr.responsibility.catalog_file import read_catalog, write_catalog
from gridmgr.responsibility.powers import PowerCatalog
from gridmgr.responsibility.powers_file import POWERS_FILE, read_powers, write_powers
from gridmgr.responsibility.roster import Roster
from gridmgr.responsibility.roster_files import read_roster, write_roster

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid
    from gridmgr.responsibility.routing import RoutingContext
    from gridmgr.settings import Settings

DEMO_SEED = 2026
PRIVATE_FOLDER = 0o700
"""The data folder's mode: it holds the database, photos and the session key."""


def private_data_dir(settings: Settings) -> Path:
    """The data folder, created 0700 when missing; one that other users may read or enter
    (group or other permission bits) is refused with the ``chmod`` that fixes it."""
    folder = settings.data_dir
    try:
        folder.mkdir(mode=PRIVATE_FOLDER, parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFolderError(f"cannot create the data folder {folder}: {exc}") from None
    mode = folder.stat().st_mode & 0o777
    if os.name == "posix" and mode & 0o077:
        raise DataFolderError(
            f"the data folder {folder} can be read by other users (mode {mode:o}); it holds "
            f"the database, photos and the session key: run `chmod 700 {folder}`"
        )
    return folder


def grid_cells(grid: Grid) -> dict[str, int]:
    """Every cell code of ``grid`` with its tier (what roster parsing checks places against)."""
    return dict(zip(grid.cells["code"], grid.cells["tier"].astype(int), strict=True))


def cell_names(grid: Grid) -> dict[str, str]:
    """Cell code → name, to make exported rosters readable."""
    return dict(zip(grid.cells["code"], grid.cells["name"], strict=True))


def has_roster(settings: Settings) -> bool:
    """Whether the data folder holds a roster."""
    return (settings.roster_dir / "assignments.csv").exists()


def load_roster(settings: Settings, grid: Grid, *, create: bool = True) -> Roster:
    """The data folder's roster, checked against ``grid``; the demo roster is made if none."""
    if not has_roster(settings):
        if not create:
            raise TableFileError(
                f"no roster in {settings.roster_dir}; run `gridmgr roster generate` or "
                "`gridmgr roster import FOLDER`"
            )
        from gridmgr.responsibility.demo_roster import generate_roster

        store_roster(settings, generate_roster(grid, seed=DEMO_SEED), grid)
    return read_roster(settings.roster_dir, cells=grid_cells(grid))


def store_roster(settings: Settings, roster: Roster, grid: Grid) -> Path:
    """Make ``roster`` the data folder's roster (written whole, then swapped in)."""
    target = settings.roster_dir
    private_data_dir(settings)
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    write_roster(roster, staging, place_names=cell_names(grid))
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def load_catalog(settings: Settings) -> Catalog:
    """The city's own catalog when the data folder has one, else the shipped catalog."""
    path = settings.catalog_path
    return read_catalog(path if path.exists() else None)


def store_catalog(settings: Settings, catalog: Catalog) -> Path:
    """Make ``catalog`` the city's catalog."""
    private_data_dir(settings)
    return write_catalog(catalog, settings.catalog_path)


def store_calendar_overrides(settings: Settings, source: Path) -> Path:
    """Make the override file ``source`` the city's calendar overrides (checked first: a bad
    file is refused with every problem before anything is written)."""
    read_overrides(source)
    private_data_dir(settings)
    target = settings.calendar_overrides_path
    partial = target.with_suffix(".partial")
    partial.write_bytes(source.read_bytes())
    partial.replace(target)
    return target


def load_powers(settings: Settings) -> PowerCatalog:
    """The city's own power catalog when the data folder has one, else the shipped synthetic one."""
    folder = settings.powers_dir
    return read_powers(folder if (folder / POWERS_FILE).exists() else None)


def store_powers(settings: Settings, powers: PowerCatalog) -> Path:
    """Make ``powers`` the city's power catalog (both files written whole, then swapped in)."""
    target = settings.powers_dir
    private_data_dir(settings)
    staging = target.with_name(target.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    write_powers(powers, staging)
    old = target.with_name(target.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    staging.rename(target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def town_codes(grid: Grid) -> set[str]:
    """The tier-1 codes of ``grid`` (what devolutions are checked against)."""
    return set(grid.tier(1)["code"])


def load_calendar(settings: Settings) -> WorkCalendar:
    """The working calendar: configured hours, shipped overrides, then the city's overrides."""
    overrides = dict(read_overrides(default_overrides_path()))
    if settings.calendar_overrides_path.exists():
        overrides.update(read_overrides(settings.calendar_overrides_path))
    return WorkCalendar(parse_working_hours(settings.working_hours), overrides)


def routing_context(settings: Settings, grid: Grid) -> RoutingContext:
    """Everything :func:`~gridmgr.responsibility.routing.route_incident` needs, from the data
    folder."""
    from gridmgr.responsibility.routing import RoutingContext

    return RoutingContext(
        grid,
        load_roster(settings, grid),
        load_catalog(settings),
        load_calendar(settings),
        powers=load_powers(settings),
    )


def unknown_units(catalog: Catalog, roster: Roster) -> list[str]:
    """Departments the catalog hands matters to that the roster has no unit for."""
    return sorted(d for d in catalog.departments() if d not in roster.units)
