"""The command center's triage: import report batches, place unlocated reports, merge duplicates.

Every change goes through the store in one transaction with its ledger event, like
:mod:`gridmgr.services`: an import opens cases with :func:`gridmgr.services.report_incident`; a
placement is a ``place`` event; a merge writes ``merge`` on the duplicate and ``absorb`` on the
master, an unmerge ``unmerge`` and ``release`` — both cases carry the trail.

Import policy: a batch with any invalid record imports **nothing** unless ``skip_bad`` is given;
then the valid records are imported and every refused one is reported with its row. Nothing is
dropped silently: each record is created, already present (same channel and source id), or
refused with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError

from gridmgr.access import Caller
from gridmgr.cases import (
    Action,
    Actor,
    Assignee,
    Case,
    CaseEvent,
    CaseState,
    Role,
    record_side_event,
    stage_changes,
    stage_of,
)
from gridmgr.errors import CaseNotFoundError, GridMgrError, RowProblem
from gridmgr.grid.datum import Datum
from gridmgr.intake.channels import Channel, IntakeBatch, IntakeRecord, batch_error
from gridmgr.intake.duplicates import DuplicateMatch, Probe, rank_duplicates, search_box, window_of
from gridmgr.responsibility.routing import Queue, RoutingContext, route_incident
from gridmgr.services.holders import duty_operator
from gridmgr.services.reports import Reported, report_incident
from gridmgr.store import IntakeInfo, IntakeReads, Store
from gridmgr.store.intakestore import MERGED, UNLOCATED

MERGEABLE = (CaseState.REPORTED, CaseState.REGISTERED, CaseState.RETURNED)
"""States a duplicate can be merged from: still with the command center (no stage running)."""


class TriageError(GridMgrError, ValueError):
    """A placement or merge cannot be done as asked (the message says why and what to do)."""


# -- import ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    """What an import did with every record of the batch."""

    created: list[tuple[int, str]] = field(default_factory=list)
    """(row, case id) of the cases opened now."""
    existing: list[tuple[int, str]] = field(default_factory=list)
    """(row, case id) of records imported before (same channel and source id)."""
    unlocated: list[tuple[int, str]] = field(default_factory=list)
    """(row, case id) of the created cases waiting in the unlocated queue."""
    refused: list[RowProblem] = field(default_factory=list)
    """Problems of the records not imported."""


def import_intake(
    store: Store,
    context: RoutingContext,
    batch: IntakeBatch,
    *,
    channel: Channel,
    actor: Actor,
    now: datetime,
    skip_bad: bool = False,
) -> ImportResult:
    """Import a checked batch (see the module docstring for the policy); idempotent by
    (channel, source id). A record without ``reported_at`` is dated ``now``."""
    if batch.problems and not skip_bad:
        raise batch_error(batch)
    known = store.existing_sources(channel.value, [r.source_id for r in batch.records])
    result = ImportResult(refused=list(batch.problems))
    for record in batch.records:
        if record.source_id in known:
            result.existing.append((record.row, known[record.source_id]))
            continue
        try:
            reported = _report_record(store, context, record, channel=channel, actor=actor, now=now)
        except IntegrityError:  # imported meanwhile by a concurrent import of the same batch
            again = store.existing_sources(channel.value, [record.source_id])
            if record.source_id not in again:
                raise
            result.existing.append((record.row, again[record.source_id]))
            continue
        result.created.append((record.row, reported.case.case_id))
        if reported.decision.queue is Queue.UNLOCATED:
            result.unlocated.append((record.row, reported.case.case_id))
    return result


def _report_record(
    store: Store,
    context: RoutingContext,
    record: IntakeRecord,
    *,
    channel: Channel,
    actor: Actor,
    now: datetime,
) -> Reported:
    reporter = Actor(
        f"{channel.value}:{record.reporter or record.source_id}"[:100],
        Role.CITIZEN if channel in (Channel.HOTLINE, Channel.CITIZEN) else Role.PARTNER,
        record.reporter or channel.label_zh,
    )
    return report_incident(
        store,
        context,
        reporter=reporter,
        category=record.category,
        at=record.reported_at or now,
        description=record.description,
        lon=record.lon,
        lat=record.lat,
        datum=record.datum,
        channel=channel.value,
        source_id=record.source_id,
        address=None if record.is_located else record.address,
    )


# -- the unlocated queue --------------------------------------------------------------------


@dataclass(frozen=True)
class Unlocated:
    """A case waiting for a pin: the case, the address as reported, where it came from."""

    case: Case
    address: str | None
    channel: str
    source_id: str | None


def unlocated_queue(store: Store, *, limit: int = 200) -> list[Unlocated]:
    """Open cases of the unlocated queue, oldest first (for the dashboard and the CLI)."""
    return [Unlocated(*row) for row in store.unlocated_cases(limit=limit)]


def place_case(
    store: Store,
    context: RoutingContext,
    case_id: str,
    *,
    lon: float,
    lat: float,
    actor: Actor,
    at: datetime,
    comment: str = "",
    datum: str | Datum = Datum.WGS84,
) -> Case:
    """Place an unlocated case at (lon, lat): routed to its cell (or the out-of-grid queue),
    written as a ``place`` event naming the cell and its responsible person. The case's next
    stage (立案, or 网格外 outside the grid) starts with its clock, held by the operator who
    held the placing (or one on duty)."""
    on_duty = duty_operator(store, context, at)

    def build(reads: IntakeReads, found: list[Case]) -> list[tuple[Case, CaseEvent]]:
        [case] = found
        info = reads.intake_info([case_id])[case_id]
        if info.queue != UNLOCATED or case.lon is not None:
            raise TriageError(
                f"case {case_id} is in the {info.queue} queue, not the unlocated one; "
                "only an unlocated case is placed"
            )
        decision = route_incident(
            context, category=case.category, at=at, lon=lon, lat=lat, datum=datum
        )
        path = decision.cell_path
        responsible = decision.responsible
        details = {
            "queue": decision.queue.value,
            "tier1": None if path is None else path.tier1,
            "tier2": None if path is None else path.tier2,
            "address": info.address,
            "responsible": {
                "post": responsible.post.key,
                "person_id": None if responsible.person is None else responsible.person.person_id,
            },
        }
        where = "out of grid" if path is None else path.tier3
        text = comment.strip() or f"placed at ({decision.lon:.6f}, {decision.lat:.6f}): {where}"
        changes: dict[str, Any] = {
            "lon": decision.lon,
            "lat": decision.lat,
            "cell": None if path is None else path.tier3,
            "generation_id": decision.generation_id,
        }
        stage = stage_of(replace(case, **changes))
        if stage is not None and stage is not case.stage:
            changes.update(
                stage_changes(
                    case,
                    stage,
                    at=at,
                    calendar=context.calendar,
                    category=context.catalog.category(case.category),
                    holder=case.holder or on_duty,
                )
            )
        return [
            record_side_event(
                case,
                Action.PLACE,
                actor=actor,
                at=at,
                comment=text,
                changes=changes,
                details=details,
            )
        ]

    [placed] = store.record_side_events([case_id], build)
    return placed


def move_case(
    store: Store,
    context: RoutingContext,
    case_id: str,
    *,
    lon: float,
    lat: float,
    actor: Actor,
    at: datetime,
    comment: str = "",
    datum: str | Datum = Datum.WGS84,
) -> Case:
    """Move a located case an operator found in the wrong cell to (lon, lat): one ``place``
    event holding the old and the new place, the case re-routed to its new cell (cell and tier
    codes; the responsible person there named), and the previous owner told (a notice)."""

    def build(_reads: IntakeReads, found: list[Case]) -> list[tuple[Case, CaseEvent]]:
        [case] = found
        if case.lon is None or case.cell is None:
            raise TriageError(
                f"case {case_id} has no place yet; place it from the unlocated queue instead"
            )
        if not case.state.is_open:
            raise TriageError(f"case {case_id} is {case.state.value}; only an open case moves")
        decision = route_incident(
            context, category=case.category, at=at, lon=lon, lat=lat, datum=datum
        )
        path = decision.cell_path
        if path is None:
            raise TriageError(
                f"({lon}, {lat}) is outside the territory; move the case to a place in the grid"
            )
        if path.tier3 == case.cell:
            raise TriageError(f"case {case_id} is already in cell {case.cell}; pick another place")
        t1, t2 = context.grid.cell_to_ancestors(case.cell)
        previous = case.assignee or _responsible(context, case, at)
        responsible = decision.responsible
        details = {
            "queue": decision.queue.value,
            "tier1": path.tier1,
            "tier2": path.tier2,
            "moved_from": {
                "cell": case.cell,
                "tier1": t1,
                "tier2": t2,
                "lon": case.lon,
                "lat": case.lat,
            },
            "previous_owner": None
            if previous is None
            else {"person_id": previous.person_id, "post": previous.post, "name": previous.name},
            "responsible": {
                "post": responsible.post.key,
                "person_id": None if responsible.person is None else responsible.person.person_id,
            },
        }
        text = comment.strip() or f"moved from {case.cell} to {path.tier3}"
        return [
            record_side_event(
                case,
                Action.PLACE,
                actor=actor,
                at=at,
                comment=text,
                changes={
                    "lon": decision.lon,
                    "lat": decision.lat,
                    "cell": path.tier3,
                    "generation_id": decision.generation_id,
                },
                details=details,
            )
        ]

    [moved] = store.record_side_events([case_id], build)
    return moved


def _responsible(context: RoutingContext, case: Case, at: datetime) -> Assignee | None:
    """Who answers for the case's current cell at ``at`` (before a move)."""
    decision = route_incident(context, category=case.category, at=at, cell=case.cell)
    link = decision.responsible
    if link.person is None:
        return None
    return Assignee(link.person.person_id, link.post.key, link.person.name)


# -- duplicates -----------------------------------------------------------------------------


def find_duplicates(
    store: Store, context: RoutingContext, case: Case, *, channel: str = "grid_worker"
) -> list[DuplicateMatch]:
    """Probable duplicates of ``case`` among open cases (none for a case without a place)."""
    if case.lon is None or case.lat is None:
        return []
    catalog = context.catalog
    category = catalog.category(case.category)
    window = window_of(category)
    probe = Probe(
        case.category,
        case.lon,
        case.lat,
        case.reported_at,
        case.description,
        case.reporter,
        channel,
        case.case_id,
    )
    near = store.open_cases_near(
        categories=catalog.related(case.category),
        box=search_box(case.lon, case.lat, category.dup_distance_m),
        since=case.reported_at - window,
        until=case.reported_at + window,
    )
    return rank_duplicates(probe, near, catalog=catalog)


@dataclass(frozen=True)
class DuplicateSuggestions:
    """Probable duplicates of a case as one caller may see them."""

    visible: list[DuplicateMatch]
    """The ones in the caller's scope (see :meth:`gridmgr.access.Caller.may_see`), best first."""
    hidden: int
    """How many more are outside the caller's scope: counted, never named."""


def suggest_duplicates(
    store: Store,
    context: RoutingContext,
    caller: Caller,
    case: Case,
    *,
    channel: str = "grid_worker",
    matches: Sequence[DuplicateMatch] | None = None,
) -> DuplicateSuggestions:
    """The probable duplicates of ``case`` (``matches``, else :func:`find_duplicates`) that
    ``caller`` may see; the others only counted, so no case id leaks out of his scope."""
    found = find_duplicates(store, context, case, channel=channel) if matches is None else matches
    visible: list[DuplicateMatch] = []
    hidden = 0
    for match in found:
        try:
            other: Case | None = store.case(match.case_id)
        except CaseNotFoundError:
            other = None
        if other is not None and caller.may_see(other):
            visible.append(match)
        else:
            hidden += 1
    return DuplicateSuggestions(visible, hidden)


def merge_cases(
    store: Store, duplicate_id: str, master_id: str, *, actor: Actor, at: datetime, comment: str
) -> tuple[Case, Case]:
    """Merge ``duplicate_id`` into ``master_id``: both keep everything (reports, reporters,
    photos); the duplicate leaves the case lists (queue ``merged``) and shows the master's
    outcome; both trails record the merge. Returns (duplicate, master)."""
    if duplicate_id == master_id:
        raise TriageError(f"case {duplicate_id} cannot be merged into itself")

    def build(reads: IntakeReads, found: list[Case]) -> list[tuple[Case, CaseEvent]]:
        dup, master = found
        info = reads.intake_info([duplicate_id, master_id])
        _check_mergeable(dup, master, info[duplicate_id], info[master_id])
        if reads.duplicates_of(duplicate_id):
            raise TriageError(
                f"cases are merged into {duplicate_id}; unmerge them first, or merge them into "
                f"{master_id} directly"
            )
        return [
            record_side_event(
                dup,
                Action.MERGE,
                actor=actor,
                at=at,
                comment=comment,
                details={
                    "master": master_id,
                    "queue": MERGED,
                    "queue_before": info[dup.case_id].queue,
                },
            ),
            record_side_event(
                master,
                Action.ABSORB,
                actor=actor,
                at=at,
                comment=comment,
                details={"duplicate": duplicate_id, "reporter": dup.reporter},
            ),
        ]

    dup, master = store.record_side_events([duplicate_id, master_id], build)
    return dup, master


AUTO_MERGER = Actor("system:dedup", Role.SYSTEM, "自动并案")
"""The actor automatic merges are recorded under (only when configured)."""


def auto_merge(
    store: Store,
    case_id: str,
    matches: Sequence[DuplicateMatch],
    *,
    threshold: float,
    at: datetime,
) -> DuplicateMatch | None:
    """Merge ``case_id`` into its best match when that scores at least ``threshold`` (the
    ``GRIDMGR_AUTO_MERGE_SCORE`` setting); the match merged into, or ``None``."""
    if not matches or matches[0].score < threshold:
        return None
    best = matches[0]
    comment = f"automatic merge: score {best.score:.2f} ≥ {threshold:g}; " + "; ".join(best.reasons)
    try:
        merge_cases(store, case_id, best.case_id, actor=AUTO_MERGER, at=at, comment=comment)
    except TriageError:  # e.g. the master was merged meanwhile: stay a suggestion
        return None
    return best


def _check_mergeable(dup: Case, master: Case, dinfo: IntakeInfo, minfo: IntakeInfo) -> None:
    if dinfo.merged_into is not None:
        raise TriageError(f"case {dup.case_id} is already merged into {dinfo.merged_into}")
    if minfo.merged_into is not None:
        raise TriageError(
            f"case {master.case_id} is itself merged into {minfo.merged_into}; merge into "
            f"{minfo.merged_into}"
        )
    if dup.state not in MERGEABLE:
        allowed = ", ".join(s.value for s in MERGEABLE)
        raise TriageError(
            f"case {dup.case_id} is {dup.state.value}; a duplicate is merged while it is with the "
            f"command center ({allowed}) — have it returned first"
        )
    if not master.state.is_open:
        raise TriageError(f"case {master.case_id} is {master.state.value}; merge into an open case")


def unmerge_case(
    store: Store, duplicate_id: str, *, actor: Actor, at: datetime, comment: str
) -> tuple[Case, Case]:
    """Split a merged duplicate off its master again (it returns to its queue, in its own
    state); both trails record it. Returns (duplicate, master)."""
    info = store.intake_info([duplicate_id])
    if duplicate_id not in info or info[duplicate_id].merged_into is None:
        raise TriageError(f"case {duplicate_id} is not merged into another case")
    master_id = info[duplicate_id].merged_into
    assert master_id is not None

    def build(reads: IntakeReads, found: list[Case]) -> list[tuple[Case, CaseEvent]]:
        dup, master = found
        now_info = reads.intake_info([duplicate_id])[duplicate_id]
        if now_info.merged_into != master_id:
            raise TriageError(f"case {duplicate_id} changed meanwhile; read it again")
        queue = (
            UNLOCATED
            if dup.lon is None
            else (Queue.OUT_OF_GRID.value if dup.cell is None else Queue.CELL.value)
        )
        return [
            record_side_event(
                dup,
                Action.UNMERGE,
                actor=actor,
                at=at,
                comment=comment,
                details={"master": master_id, "queue": queue},
            ),
            record_side_event(
                master,
                Action.RELEASE,
                actor=actor,
                at=at,
                comment=comment,
                details={"duplicate": duplicate_id},
            ),
        ]

    dup, master = store.record_side_events([duplicate_id, master_id], build)
    return dup, master


@dataclass(frozen=True)
class MergeView:
    """A case's merge links: its master (for a duplicate), and its duplicates (for a master)."""

    master: Case | None
    duplicates: list[Case]
    info: IntakeInfo | None


def merge_view(store: Store, case_id: str) -> MergeView:
    """What a reader of ``case_id`` needs to see the outcome: a duplicate's reporters see the
    master's state, a master lists the reports merged into it."""
    info = store.intake_info([case_id]).get(case_id)
    dup_ids = store.duplicates_of(case_id)
    master = None if info is None or info.merged_into is None else store.case(info.merged_into)
    return MergeView(master, [store.case(i) for i in dup_ids], info)
