"""A person's report through a door: routed once, checked against his cells, opened, with its photo.

The API's ``POST /api/v1/reports`` (and ``/reports/with-photo``) and the dashboard's report
page submit through :func:`submit_report`: the one place where a field worker's report is held
to his own cells, using the same routing decision that opens the case.
"""

from __future__ import annotations

from dataclasses import dataclass

from gridmgr.access import Caller, check_report_cell
from gridmgr.cases import Case
from gridmgr.grid.datum import Datum
from gridmgr.intake.duplicates import DuplicateMatch
from gridmgr.intake.photos import Photo
from gridmgr.responsibility.routing import RoutingDecision
from gridmgr.services.context import Services
from gridmgr.services.photos import AttachmentRow, store_photo
from gridmgr.services.reports import open_report, route_report
from gridmgr.services.triage import auto_merge, find_duplicates, suggest_duplicates

__all__ = ["AttachmentRow", "Submitted", "submit_report"]


@dataclass(frozen=True)
class Submitted:
    """A submitted report: its case as stored and its number, how it was routed, its probable
    duplicates, the duplicate match it was merged into (only when the deployment merges
    automatically, ``GRIDMGR_AUTO_MERGE_SCORE``), and its stored photo."""

    case: Case
    number: int
    decision: RoutingDecision
    probable_duplicates: list[DuplicateMatch]
    """The probable duplicates the reporter may see (others are only counted)."""
    merged_into: DuplicateMatch | None
    photo: AttachmentRow | None
    duplicates_outside_scope: int = 0
    """Probable duplicates outside the reporter's scope: counted, never named."""


def submit_report(
    services: Services,
    caller: Caller,
    *,
    category: str,
    description: str,
    lon: float,
    lat: float,
    datum: str | Datum = Datum.WGS84,
    photo: Photo | None = None,
) -> Submitted:
    """Report an incident as ``caller``: route it once, refuse it outside his cells (city-wide
    callers report anywhere), open its case, look for probable duplicates, and store ``photo``.

    Returns once the case (and the photo) are committed. ``photo`` must be checked and cleaned
    already (:func:`gridmgr.intake.photos.sanitize_photo`), so a bad photo refuses the report
    before anything is stored. Raises :class:`~gridmgr.errors.ForbiddenError` for a place
    outside the caller's cells.
    """
    now = services.now()
    decision = route_report(
        services.context, category=category, at=now, lon=lon, lat=lat, datum=datum
    )
    check_report_cell(caller, None if decision.cell_path is None else decision.cell_path.tier3)
    reported = open_report(
        services.store,
        decision,
        context=services.context,
        reporter=caller.actor,
        at=now,
        description=description,
        ingestor=services.ingestor,
    )
    case = reported.case
    probable = find_duplicates(services.store, services.context, case)  # suggested ...
    merged = None  # ... and merged only when configured
    threshold = services.settings.auto_merge_score
    if threshold is not None:
        merged = auto_merge(services.store, case.case_id, probable, threshold=threshold, at=now)
    row = None
    if photo is not None:
        row = store_photo(services, case.case_id, photo, actor=caller.actor.actor_id)
    shown = suggest_duplicates(services.store, services.context, caller, case, matches=probable)
    return Submitted(
        case,
        reported.number,
        decision,
        shown.visible,
        merged,
        row,
        duplicates_outside_scope=shown.hidden,
    )
