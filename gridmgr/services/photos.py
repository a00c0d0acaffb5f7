"""Photos of cases: stored with a ledger event, listed and read only within the caller's scope.

A photo arrives already checked and cleaned (:func:`gridmgr.intake.photos.sanitize_photo`);
here it is stored under the data folder beside its case, and read back checked against its hash.
"""

from __future__ import annotations

from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.errors import AttachmentNotFoundError, CaseNotFoundError
from gridmgr.intake.photos import Photo, sanitize_photo
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.store.attachments import AttachmentRow, is_attachment_id

__all__ = ["AttachmentRow", "attach_photo", "case_photos", "read_photo", "store_photo"]


def store_photo(services: Services, case_id: str, photo: Photo, *, actor: str) -> AttachmentRow:
    """Store ``photo`` as an attachment of case ``case_id`` (file, row and ledger event)."""
    return services.store.save_attachment(
        services.data_dir, case_id, photo, at=services.now(), actor=actor
    )


def attach_photo(
    services: Services, caller: Caller, case_id: str, data: bytes
) -> tuple[Case, AttachmentRow]:
    """Attach an uploaded photo (its bytes) to a case the caller may see, e.g. the handler's
    photo of the result: the case is checked first, then the photo is checked and cleaned
    (:class:`~gridmgr.intake.photos.PhotoError` naming the problem), then stored."""
    case = visible_case(services.store, caller, case_id)
    photo = sanitize_photo(data)
    return case, store_photo(services, case.case_id, photo, actor=caller.actor.actor_id)


def case_photos(
    services: Services, caller: Caller, case_id: str
) -> tuple[Case, list[AttachmentRow]]:
    """A case the caller may see, and its photos, oldest first."""
    case = visible_case(services.store, caller, case_id)
    return case, services.store.attachments_of(case.case_id)


def read_photo(
    services: Services, caller: Caller, attachment_id: str
) -> tuple[AttachmentRow, bytes]:
    """A photo's row and its bytes (checked against its hash), if the caller may see its case.

    A photo of a case out of the caller's scope is refused as a photo that does not exist,
    with :class:`~gridmgr.errors.AttachmentNotFoundError` (404) naming only the id asked for:
    the message never names the case it belongs to.
    """
    hidden = f"no photo {attachment_id!r} visible to you"
    try:
        row, data = services.store.read_attachment(services.data_dir, attachment_id)
    except AttachmentNotFoundError as exc:
        if is_attachment_id(attachment_id):
            raise AttachmentNotFoundError(hidden) from None
        raise exc from None  # a malformed id: the message says what an id looks like
    try:
        visible_case(services.store, caller, row.case_id)
    except CaseNotFoundError:
        raise AttachmentNotFoundError(hidden) from None
    return row, data
