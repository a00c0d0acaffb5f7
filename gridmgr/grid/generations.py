"""Grid generations on disk: imported grids kept side by side, one of them current.

Cells never change in place: importing or building a grid writes a new GeoPackage named after
its content-addressed generation id into ``<data_dir>/grids/``; activating one makes it current
(the ``CURRENT`` file names it). The shipped default is current until another is activated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gridmgr.errors import GridFileError
from gridmgr.grid.io import default_grid_path, read_grid, write_grid
from gridmgr.grid.model import Grid
from gridmgr.settings import Settings

_CURRENT = "CURRENT"


@dataclass(frozen=True)
class Generation:
    """A stored grid generation."""

    generation_id: str
    path: Path
    current: bool


def current_grid_path(settings: Settings) -> Path:
    """The file of the current generation: the latest import, else the shipped default."""
    pointer = settings.grids_dir / _CURRENT
    if pointer.exists():
        path = settings.grids_dir / f"{pointer.read_text(encoding='utf-8').strip()}.gpkg"
        if not path.exists():
            raise GridFileError(
                f"{pointer} names generation {path.stem}, whose file {path} is missing; "
                "re-import the grid or delete the CURRENT file to fall back to the default"
            )
        return path
    return default_grid_path()


def load_current_grid(settings: Settings) -> Grid:
    """The current generation, validated."""
    return read_grid(current_grid_path(settings))


def store_generation(grid: Grid, settings: Settings, *, make_current: bool = True) -> Path:
    """Write ``grid`` as a new generation (never over another) and optionally make it current."""
    path = settings.grids_dir / f"{grid.generation_id}.gpkg"
    # the data folder holds the database and photos too: made for its owner only
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        write_grid(grid, path)
    if make_current:
        tmp = settings.grids_dir / f"{_CURRENT}.partial"
        tmp.write_text(grid.generation_id + "\n", encoding="utf-8")
        tmp.replace(settings.grids_dir / _CURRENT)
    return path


def list_generations(settings: Settings) -> list[Generation]:
    """Every stored generation, the shipped default first."""
    current = current_grid_path(settings)
    default = default_grid_path()
    out = [Generation("default", default, current == default)]
    if settings.grids_dir.is_dir():
        for path in sorted(settings.grids_dir.glob("*.gpkg")):
            out.append(Generation(path.stem, path, path == current))
    return out


def generation_path(settings: Settings, ref: str | Path) -> Path:
    """The file of a generation named by id (``default``: the shipped one, ``current``: the
    current one) or by path."""
    text = str(ref)
    if text == "default":
        return default_grid_path()
    if text == "current":
        return current_grid_path(settings)
    stored = settings.grids_dir / f"{text}.gpkg"
    if stored.is_file():
        return stored
    path = Path(ref)
    if path.is_file():
        return path
    known = ", ".join(g.generation_id for g in list_generations(settings))
    raise GridFileError(
        f"no generation or grid file {text!r}; stored generations: {known} "
        "(`gridmgr grid generations` lists them)"
    )


def activate_generation(settings: Settings, generation_id: str) -> Path:
    """Make a stored generation (or ``default``, the shipped one) current; its file."""
    if generation_id == "default":
        (settings.grids_dir / _CURRENT).unlink(missing_ok=True)
        return default_grid_path()
    path = settings.grids_dir / f"{generation_id}.gpkg"
    if not path.is_file():
        raise GridFileError(
            f"no stored generation {generation_id!r} in {settings.grids_dir}: build one with "
            "`gridmgr grid build` or import one with `gridmgr grid import`"
        )
    tmp = settings.grids_dir / f"{_CURRENT}.partial"
    tmp.write_text(generation_id + "\n", encoding="utf-8")
    tmp.replace(settings.grids_dir / _CURRENT)
    return path
