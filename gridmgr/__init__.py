"""gridmgr: a grid-management command center — a three-tier grid, owners, cases and a trail."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from gridmgr.errors import (
    CellError,
    CellNotFoundError,
    CoordinateError,
    DatumError,
    GridError,
    GridFileError,
    GridMgrError,
    InvalidGridError,
)
from gridmgr.grid.model import CellPath, Grid, GridMeta

__all__ = [
    "CellError",
    "CellNotFoundError",
    "CellPath",
    "CoordinateError",
    "DatumError",
    "Grid",
    "GridError",
    "GridFileError",
    "GridMeta",
    "GridMgrError",
    "InvalidGridError",
    "load_grid",
]

__version__ = "0.1.0"


def load_grid(path: str | Path | None = None) -> Grid:
    """The shipped default grid (Jiangyin, 17 / 271 / 1557), or the grid file at ``path``.

    The grid is validated on load; an invalid file raises :class:`InvalidGridError` with every
    violation. Loading the default grid twice returns the same read-only object.
    """
    if path is None:
        return _default_grid()
    from gridmgr.grid.io import read_grid

    return read_grid(Path(path))


@cache
def _default_grid() -> Grid:
    from gridmgr.grid.io import read_grid

    return read_grid(None)
