"""What readers without a staff login are given: the cases of the categories their audience may
read, and the photos of public cases (see :mod:`gridmgr.privacy` for the rules).

Open311's reads come here, never to the store: a case of a category the audience may not read
is left out of a list and answered as not found when asked by id, so an id reveals nothing. A
partner's reads of ``restricted`` cases are recorded in the access log
(:mod:`gridmgr.services.accesslog`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from gridmgr.cases import Actor, Case
from gridmgr.errors import AttachmentNotFoundError
from gridmgr.privacy import Audience
from gridmgr.responsibility.catalog import Catalog, PublicationTier
from gridmgr.services.accesslog import record_reads, tier_of
from gridmgr.services.context import Services
from gridmgr.services.queries import CaseFilter, cases_by_id
from gridmgr.store.attachments import AttachmentRow, is_attachment_id
from gridmgr.store.statechanges import StateChange
from gridmgr.store.tokens import Credential

__all__ = [
    "audience_of",
    "published_by_id",
    "published_cases",
    "published_photo",
    "published_photos",
    "published_state_changes",
    "readable_categories",
]


def audience_of(credential: Credential | None) -> Audience:
    """The audience an api_key speaks for (``None``: the anonymous public)."""
    if credential is not None and credential.scope == "partner":
        return Audience.PARTNER
    return Audience.PUBLIC


def readable_categories(catalog: Catalog, audience: Audience) -> list[str]:
    """The codes of the categories whose cases ``audience`` may read, in catalog order."""
    return [c.code for c in catalog if c.tier in audience.tiers]


def published_cases(
    services: Services,
    where: CaseFilter,
    audience: Audience,
    *,
    limit: int,
    offset: int = 0,
    reader: Actor | None = None,
) -> list[Case]:
    """A page of the cases matching ``where`` that ``audience`` may read, newest first.

    The reads of non-public cases are recorded for ``reader`` (a partner's api_key).
    """
    readable = readable_categories(services.catalog, audience)
    wanted = [c for c in where.categories if c in readable] if where.categories else readable
    if not wanted:
        return []
    found = services.store.cases(replace(where, categories=wanted), limit=limit, offset=offset)
    _record(services, reader, found)
    return found


def published_by_id(
    services: Services,
    case_ids: Iterable[str],
    audience: Audience,
    *,
    reader: Actor | None = None,
) -> list[Case]:
    """The cases of these ids that ``audience`` may read, in the order given, once each."""
    found = [c for c in cases_by_id(services, case_ids) if tier_of(services, c) in audience.tiers]
    _record(services, reader, found)
    return found


def published_photos(services: Services, cases: Iterable[Case]) -> dict[str, AttachmentRow]:
    """The first photo of each of these cases that is public (a case id → its photo row)."""
    public = [c.case_id for c in cases if tier_of(services, c) is PublicationTier.PUBLIC]
    return services.store.first_attachments(public) if public else {}


def published_photo(services: Services, attachment_id: str) -> tuple[AttachmentRow, bytes]:
    """A photo's row and bytes if its case is public; else
    :class:`~gridmgr.errors.AttachmentNotFoundError`, as for a photo that does not exist."""
    hidden = f"no public photo {attachment_id[:64]!r}"
    if not is_attachment_id(attachment_id):
        raise AttachmentNotFoundError(hidden)
    try:
        row, data = services.store.read_attachment(services.data_dir, attachment_id)
    except AttachmentNotFoundError:
        raise AttachmentNotFoundError(hidden) from None
    case = services.store.case(row.case_id)
    if tier_of(services, case) is not PublicationTier.PUBLIC:
        raise AttachmentNotFoundError(hidden)
    return row, data


def published_state_changes(
    services: Services, cases: Iterable[Case]
) -> dict[str, list[StateChange]]:
    """Each case's state changes (Open311's ``notes`` are the public ones among them)."""
    return services.store.state_changes(c.case_id for c in cases)


def _record(services: Services, reader: Actor | None, found: list[Case]) -> None:
    if reader is not None:
        record_reads(services, reader, found, door="open311")
