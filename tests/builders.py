"""Builders for test objects, kept under their old import path: they live in :mod:`gridmgr.testing`,
where doctests, notebooks and users' own tests find them too."""

from __future__ import annotations

from gridmgr.testing import (
    COUNTY,
    SIZE,
    TOWN,
    UNITS_CSV,
    X0,
    Y0,
    replace_geometry,
    roster_from_csv,
    rows,
    tiny_cells,
    tiny_context,
    tiny_grid,
    tiny_roster,
)

__all__ = [
    "COUNTY",
    "SIZE",
    "TOWN",
    "UNITS_CSV",
    "X0",
    "Y0",
    "replace_geometry",
    "roster_from_csv",
    "rows",
    "tiny_cells",
    "tiny_context",
    "tiny_grid",
    "tiny_roster",
]
