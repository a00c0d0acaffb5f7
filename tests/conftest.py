"""Shared fixtures: the tiny hand-checkable grid and the shipped default grid."""

from __future__ import annotations

import pytest

from gridmgr import Grid, load_grid
from tests.builders import tiny_grid

pytest_plugins = ["tests.services"]


@pytest.fixture(scope="session")
def tiny() -> Grid:
    """The 1 / 4 / 16-cell grid over [120.0, 120.5] x [31.5, 32.0]."""
    return tiny_grid()


@pytest.fixture(scope="session")
def jiangyin() -> Grid:
    """The shipped default grid (loaded and validated once per session)."""
    return load_grid()
