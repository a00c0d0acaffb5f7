"""What every command shares: the consoles, the settings, the grid option and error printing."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from gridmgr.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gridmgr.errors import RowProblem
    from gridmgr.grid.model import Grid

# Data (names, paths) is never markup, and data lines never wrap (scripts parse them).
console = Console(highlight=False, markup=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False)


def settings_of(ctx: click.Context) -> Settings:
    """The command's settings; their data folder is made (0700) or checked first: a folder
    others may read is refused with the ``chmod`` that fixes it."""
    from gridmgr.datafiles import private_data_dir

    settings: Settings = ctx.obj["settings"]
    if not ctx.obj.get("data_dir_checked"):
        private_data_dir(settings)
        ctx.obj["data_dir_checked"] = True
    return settings


grid_file_option = click.option(
    "--grid",
    "grid_path",
    type=click.Path(path_type=Path, exists=True),
    default=None,
    help="Grid file to use (default: the current grid).",
)


def load_grid(ctx: click.Context, grid_path: Path | None) -> Grid:
    """The grid file asked for, else the current generation; validated either way."""
    from gridmgr.grid.generations import load_current_grid
    from gridmgr.grid.io import read_grid

    return read_grid(grid_path) if grid_path else load_current_grid(settings_of(ctx))


MAX_PROBLEMS_SHOWN = 200


def print_problems(problems: Sequence[RowProblem]) -> None:
    """Every problem of a refused table, one a line, on stderr (the first 200, then a count)."""
    for problem in problems[:MAX_PROBLEMS_SHOWN]:
        err_console.print(f"  - {problem}", markup=False, soft_wrap=True)
    if len(problems) > MAX_PROBLEMS_SHOWN:
        err_console.print(f"  ... and {len(problems) - MAX_PROBLEMS_SHOWN} more", markup=False)
