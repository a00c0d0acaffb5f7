"""The one exception hierarchy of gridmgr: every error a user can see is a ``GridMgrError``.

Each concrete class also inherits the builtin it refines (``ValueError``, ``LookupError``,
``OSError``), so callers that only know the builtins still catch it. Messages name the bad value
and say how to fix it; the HTTP layer maps classes to status codes in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


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
    """A cell code is malformed, or of the wrong tier for what is asked."""


class CellNotFoundError(GridError, LookupError):
    """A well-formed cell code names no cell of this grid (for example one of an older
    generation): a ``LookupError``, as h3 raises for an unknown cell."""


class CoordinateError(GridError, ValueError):
    """A coordinate is not a finite longitude/latitude pair in range."""


class DatumError(CoordinateError):
    """A coordinate datum is unknown or cannot be converted."""


class GridFileError(GridError, OSError):
    """A grid file cannot be read or written (missing, wrong format, missing layer or column)."""


@dataclass(frozen=True)
class RowProblem:
    """One problem found in a table a user supplied (a roster, a catalog, a calendar file).

    ``row`` is the spreadsheet row number (the header is row 1), or ``None`` for a problem of the
    table as a whole; ``field`` names the column, when one is at fault.
    """

    source: str
    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.source if self.row is None else f"{self.source} row {self.row}"
        if self.field:
            where += f" [{self.field}]"
        return f"{where}: {self.message}"


class InvalidTableError(GridMgrError, ValueError):
    """A table failed validation; ``problems`` lists every problem found, each with its row."""

    def __init__(self, message: str, problems: Sequence[RowProblem] = ()) -> None:
        super().__init__(message)
        self.problems = list(problems)


class TableFileError(GridMgrError, OSError):
    """A table file cannot be read or written (missing, not CSV, undecodable, missing column)."""


class CatalogError(InvalidTableError):
    """The matter catalog is invalid."""


class UnknownCategoryError(GridMgrError, LookupError):
    """A category code names no category of the catalog."""


class PowerCatalogError(InvalidTableError):
    """The power catalog (赋权清单: power items and their devolution to towns) is invalid."""


class UnknownPowerError(GridMgrError, LookupError):
    """A power code names no item of the power catalog."""


class RosterError(InvalidTableError):
    """The roster (persons, units, assignments, absences) is invalid."""


class UnknownPersonError(GridMgrError, LookupError):
    """A person id names nobody on the roster."""


class CalendarError(InvalidTableError):
    """A working-calendar override file is invalid."""


class TimeError(GridMgrError, ValueError):
    """A time is unusable: naive (no timezone), malformed, or out of range."""


class AnalyticsError(GridMgrError, ValueError):
    """Data or parameters an analysis (:mod:`gridmgr.analytics`) cannot use as given."""


class ForbiddenError(GridMgrError, PermissionError):
    """The caller is known but may not do this (outside his scope, or the wrong role)."""


# -- the store's refusals (raised in store/, caught by every door) ------------------------------


class AccountError(GridMgrError, ValueError):
    """A password or account change was refused (weak password, no such account …)."""


class UnknownAccountError(AccountError, LookupError):
    """A person id names no account (``gridmgr account set-password`` creates one)."""


class AttachmentNotFoundError(GridMgrError, LookupError):
    """No attachment has this id."""


class AttachmentFileError(GridMgrError, OSError):
    """An attachment file cannot be written or read (missing, unwritable, damaged)."""


class AttachmentIntegrityError(AttachmentFileError):
    """An attachment file's content (or path) does not match its row: it was changed on disk."""


class CaseNotFoundError(GridMgrError, LookupError):
    """No case has this id."""


class ConcurrentUpdateError(GridMgrError, RuntimeError):
    """The case changed between reading and writing it; read it again and retry."""


class CaseFilterError(GridMgrError, ValueError):
    """A case filter names something that does not exist (a state …)."""


class DataFolderError(GridMgrError, PermissionError):
    """The data folder cannot be used safely (other users may read it) or cannot be made."""


class StaleReferenceError(GridMgrError, ValueError):
    """A node's data folder holds reference data older than the shared database's."""


class StoreError(GridMgrError, RuntimeError):
    """The database cannot be used as asked (unreachable, unsafe settings, wrong schema)."""


class PatrolStoreError(GridMgrError, ValueError):
    """A batch of patrol points cannot be stored as given."""


class CredentialError(GridMgrError, PermissionError):
    """A credential is missing, malformed, unknown, expired or revoked."""


class DemoLeftoverError(AccountError):
    """A start outside demo mode on a database demo mode left open (demo passwords, the
    simulator's data)."""


class CaptureTimeError(TimeError):
    """A write's capture time (``captured_at``) is in the future or too far in the past."""


class ClientIdConflictError(GridMgrError, ValueError):
    """A ``client_id`` already names a different write of the same person (a report resent as
    an action, or an action resent on another case)."""


class DeviceNotFoundError(GridMgrError, LookupError):
    """No live device token of the caller has this id (another person's counts as none)."""
