"""Photos of cases: attaching one (with its ledger event) and reading them as a caller.

A photo is kept under the data folder and named by its hash; its row and its ``case.photo``
ledger event are written in one transaction (:mod:`gridmgr.store.attachments`).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from gridmgr.access import Caller
from gridmgr.intake.photos import Photo
from gridmgr.services.cases import visible_case
from gridmgr.store import Store
from gridmgr.store.attachments import AttachmentRow

__all__ = ["AttachmentRow", "attach_photo", "case_photos", "read_photo"]


def attach_photo(
    store: Store, data_dir: Path, case_id: str, photo: Photo, *, at: datetime, actor: str
) -> AttachmentRow:
    """Keep ``photo`` (from :func:`gridmgr.intake.photos.sanitize_photo`) as a photo of the case."""
    return store.save_attachment(data_dir, case_id, photo, at=at, actor=actor)


def case_photos(store: Store, case_id: str) -> list[AttachmentRow]:
    """The photos of a case, oldest first (the caller's right to see it is checked before)."""
    return store.attachments_of(case_id)


def read_photo(store: Store, data_dir: Path, caller: Caller, attachment_id: str) -> bytes:
    """The bytes of a photo of a case the caller may see.

    A missing photo and a photo of a case out of the caller's scope are refused alike (a
    :class:`~gridmgr.errors.GridMgrError`), so an id reveals nothing.
    """
    row, data = store.read_attachment(data_dir, attachment_id)
    visible_case(store, caller, row.case_id)
    return data
