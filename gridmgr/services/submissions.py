"""A person's report through a door: routed once, checked against his cells, opened, with its photo.

The API's ``POST /api/v1/reports`` (and ``/reports/with-photo``) and the dashboard's report
page submit through :func:`submit_report`: the one place where a field worker's report is held
to his own cells, using the same routing decision that opens the case.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridmgr.access import Caller, check_report_cell
from gridmgr.cases import Case
from gridmgr.grid.datum import Datum
from gridmgr.intake.duplicates import DuplicateMatch
from gridmgr.intake.photos import Photo
from gridmgr.responsibility.routing import RoutingDecision
from gridmgr.services.context import Services
from gridmgr.services.fieldsync import capture_time, client_source_id, earlier_write
from gridmgr.services.photos import AttachmentRow, store_photo
from gridmgr.services.reports import open_report, report_once, route_report
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
    resent: bool = False
    """A resend of an earlier report (same ``client_id``): nothing was written; the case is
    the first send's, routed again to show it."""


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
    client_id: str | None = None,
    captured_at: datetime | None = None,
) -> Submitted:
    """Report an incident as ``caller``: route it once, refuse it outside his cells (city-wide
    callers report anywhere), open its case, look for probable duplicates, and store ``photo``.

    Returns once the case (and the photo) are committed. ``photo`` must be checked and cleaned
    already (:func:`gridmgr.intake.photos.sanitize_photo`), so a bad photo refuses the report
    before anything is stored. Raises :class:`~gridmgr.errors.ForbiddenError` for a place
    outside the caller's cells.

    ``captured_at`` (see :func:`~gridmgr.services.fieldsync.capture_time`) is the report's
    time. With ``client_id`` the report is opened once per caller and id: a resend — also one
    racing the first send — writes nothing (no case, no event, no photo) and comes back
    :attr:`~Submitted.resent`.
    """
    now = services.now()
    at = capture_time(captured_at, now=now)
    if client_id is not None:
        earlier = earlier_write(services, caller, client_id)
        if earlier is not None:
            return resent_report(services, caller, earlier.case_id)
    decision = route_report(
        services.context, category=category, at=at, lon=lon, lat=lat, datum=datum
    )
    check_report_cell(caller, None if decision.cell_path is None else decision.cell_path.tier3)
    source_id, details = None, None
    if client_id is not None:
        source_id = client_source_id(caller.actor.actor_id, client_id)
        details = {"client_id": client_id, "received_at": now.isoformat()}
    case_id, reported = report_once(
        services.store,
        "grid_worker",
        source_id,
        lambda: open_report(
            services.store,
            decision,
            context=services.context,
            reporter=caller.actor,
            at=at,
            description=description,
            ingestor=services.ingestor,
            source_id=source_id,
            details=details,
        ),
    )
    if reported is None:  # the first send won the race
        return resent_report(services, caller, case_id)
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


def resent_report(services: Services, caller: Caller, case_id: str) -> Submitted:
    """The caller's earlier report ``case_id`` as a :class:`Submitted` (routed again at its
    report time, its first photo), for a resend whose first reply was not kept."""
    case = services.store.case(case_id)
    decision = route_report(
        services.context,
        category=case.category,
        at=case.reported_at,
        lon=case.lon,
        lat=case.lat,
        cell=None if case.lon is not None else case.cell,
    )
    photos = services.store.attachments_of(case_id)
    return Submitted(
        case,
        services.store.case_number(case_id),
        decision,
        [],
        None,
        photos[0] if photos else None,
        resent=True,
    )
