"""The one exception hierarchy of gridmgr: every error a user can see is a ``GridMgrError``.

Each concrete class also inherits the builtin it refines (``ValueError``, ``LookupError``,
``OSError``), so callers that only know the builtins still catch it. Messages name the bad value
and say how to fix it; the HTTP layer maps classes to status codes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence


class GridMgrError(Exception):
    """Root of every gridmgr error."""


class GridError(GridMgrError):
    """Something is wrong with a grid or with a request about a grid."""


class InvalidGridError(GridError, ValueError):
    """A grid failed validation; ``violations`` lists every problem found, with its location."""

    def __init__(self, message: str, violations: Sequence[object] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)


class RepairError(GridError, ValueError):
    """A repair was asked with settings it cannot use."""


class CellError(GridError, ValueError):
    """A cell code is malformed or names no cell of this grid."""


class CoordinateError(GridError, ValueError):
    """A coordinate is not a finite longitude/latitude pair in range."""


class DatumError(CoordinateError):
    """A coordinate datum is unknown or cannot be converted."""


class GridFileError(GridError, OSError):
    """A grid file cannot be read or written (missing, wrong format, missing layer or column)."""
