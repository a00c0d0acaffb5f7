"""Attachment files and rows: sanitized photos of a case, content-addressed on disk.

A photo's bytes live at ``<data_dir>/attachments/<sha[:2]>/<sha256>.jpg``, written atomically
(temporary file, fsync, rename, fsync of the directory), so identical photos are stored once and
a crash never leaves half a file under a final name. Its row in the ``attachments`` table and its
``case.photo`` ledger event are written in one transaction, after the file: a crash in between
leaves at worst an unreferenced file, never a row without its file. Files are never deleted
here, since another row may share them. Reads re-hash the file and refuse one that changed.
:class:`AttachmentMethods` are the store's doors to attachments.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from sqlalchemy import insert, select

from gridmgr.errors import AttachmentFileError, AttachmentIntegrityError, AttachmentNotFoundError
from gridmgr.intake.photos import Photo, PhotoError, distance_m, is_far_from
from gridmgr.store.casestore import load_case
from gridmgr.store.ledgerstore import append
from gridmgr.store.schema import attachments
from gridmgr.store.transactions import StoreBase

__all__ = [
    "ATTACHMENTS_DIR",
    "AttachmentFileError",
    "AttachmentIntegrityError",
    "AttachmentMethods",
    "AttachmentNotFoundError",
    "AttachmentRow",
    "attachment_path",
]

ATTACHMENTS_DIR: Final = "attachments"
"""The folder under the data directory that holds attachment files."""

PHOTO_EVENT: Final = "case.photo"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_ATTACHMENT_ID = re.compile(r"[0-9a-f]{32}")


def is_attachment_id(text: str) -> bool:
    """Whether ``text`` has the form of an attachment id (32 lower-case hex digits)."""
    return _ATTACHMENT_ID.fullmatch(text) is not None


@dataclass(frozen=True)
class AttachmentRow:
    """One row of the ``attachments`` table; ``path`` is relative to the data directory."""

    attachment_id: str
    case_id: str
    sha256: str
    content_type: str
    size_bytes: int
    width: int | None
    height: int | None
    gps_lon: float | None
    gps_lat: float | None
    path: str
    created_at: datetime

    @property
    def gps(self) -> tuple[float, float] | None:
        """``(lon, lat)`` where the photo was taken (WGS84), when its EXIF said so."""
        if self.gps_lon is None or self.gps_lat is None:
            return None
        return self.gps_lon, self.gps_lat


def attachment_path(sha256: str) -> str:
    """The path, relative to the data directory and with ``/``, of the file with this hash.

    >>> attachment_path("ab" + "0" * 62)
    'attachments/ab/ab00000000000000000000000000000000000000000000000000000000000000.jpg'
    """
    if not _SHA256.fullmatch(sha256):
        raise AttachmentIntegrityError(
            f"{sha256!r} is not a lower-case hex SHA-256; attachments are named by their hash"
        )
    return f"{ATTACHMENTS_DIR}/{sha256[:2]}/{sha256}.jpg"


class AttachmentMethods(StoreBase):
    """The store's case photos: saved with their ledger event, listed, read back checked."""

    def save_attachment(
        self, data_dir: Path, case_id: str, photo: Photo, *, at: datetime, actor: str
    ) -> AttachmentRow:
        """Store ``photo`` as an attachment of case ``case_id``.

        Writes the file (once per distinct photo), then in one transaction the ``attachments`` row
        and a ``case.photo`` ledger event whose details hold the hash, size, format and whether the
        photo's GPS position is more than 500 m from the case's location (``gps_far``; ``None`` when
        either position is unknown). The ledger holds that flag and the distance, not the
        coordinates, which stay in the row.

        Parameters
        ----------
        data_dir
            The data directory (``Settings.data_dir``); files go under ``attachments/`` in it.
        case_id
            The case the photo documents.
        photo
            A photo from :func:`gridmgr.intake.photos.sanitize_photo`.
        at
            When the photo was attached (aware).
        actor
            Who attached it (an actor id, as in the ledger).

        Raises
        ------
        CaseNotFoundError
            No case has ``case_id``.
        PhotoError
            ``photo.sha256`` is not the hash of ``photo.data``.
        AttachmentFileError
            The file cannot be written.
        """
        if hashlib.sha256(photo.data).hexdigest() != photo.sha256:
            raise PhotoError(
                "photo.sha256 is not the SHA-256 of photo.data; build photos with sanitize_photo"
            )
        with self._read() as conn:
            load_case(conn, case_id)  # refuse an unknown case before writing its file
        rel = attachment_path(photo.sha256)
        _write_file(data_dir / rel, photo.data, photo.sha256)
        row = AttachmentRow(
            attachment_id=secrets.token_hex(16),
            case_id=case_id,
            sha256=photo.sha256,
            content_type=photo.content_type,
            size_bytes=photo.size_bytes,
            width=photo.width,
            height=photo.height,
            gps_lon=None if photo.gps is None else photo.gps[0],
            gps_lat=None if photo.gps is None else photo.gps[1],
            path=rel,
            created_at=at,
        )
        with self._write() as conn:
            case = load_case(conn, case_id)
            conn.execute(insert(attachments).values(**asdict(row)))
            append(
                conn,
                at=at,
                kind=PHOTO_EVENT,
                actor=actor,
                subject=f"case:{case_id}",
                details=_photo_details(row, photo, case.lon, case.lat),
            )
        return row

    def attachments_of(self, case_id: str) -> list[AttachmentRow]:
        """The attachments of case ``case_id``, oldest first (:class:`CaseNotFoundError` if there
        is no such case)."""
        with self._read() as conn:
            load_case(conn, case_id)
            rows = conn.execute(
                select(attachments)
                .where(attachments.c.case_id == case_id)
                .order_by(attachments.c.created_at, attachments.c.attachment_id)
            ).mappings()
            return [_to_row(r) for r in rows]

    def first_attachments(self, case_ids: Iterable[str]) -> dict[str, AttachmentRow]:
        """The oldest attachment of each of these cases that has one, by case id (one query per
        500 cases: Open311's lists show a photo per case)."""
        ids = list(dict.fromkeys(case_ids))
        out: dict[str, AttachmentRow] = {}
        with self._read() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    select(attachments)
                    .where(attachments.c.case_id.in_(ids[start : start + 500]))
                    .order_by(attachments.c.created_at, attachments.c.attachment_id)
                ).mappings()
                for r in rows:
                    out.setdefault(r["case_id"], _to_row(r))
        return out

    def read_attachment(self, data_dir: Path, attachment_id: str) -> tuple[AttachmentRow, bytes]:
        """An attachment's row and its file's bytes, checked against the hash and size in the row.

        Raises
        ------
        AttachmentNotFoundError
            No attachment has this id.
        AttachmentIntegrityError
            The file's content, size or path differs from its row (changed on disk, or the row was).
        AttachmentFileError
            The file is missing or unreadable.
        """
        if not _ATTACHMENT_ID.fullmatch(attachment_id):
            raise AttachmentNotFoundError(
                f"no attachment {attachment_id!r}: attachment ids are 32 lower-case hex digits"
            )
        with self._read() as conn:
            found = (
                conn.execute(
                    select(attachments).where(attachments.c.attachment_id == attachment_id)
                )
                .mappings()
                .first()
            )
        if found is None:
            raise AttachmentNotFoundError(f"no attachment {attachment_id!r}")
        row = _to_row(found)
        # The path is derived from the hash, never taken from the row as is: a row pointing
        # elsewhere (``../``) is refused rather than followed.
        if attachment_path(row.sha256) != row.path:
            raise AttachmentIntegrityError(
                f"attachment {attachment_id}: its path {row.path!r} is not the one its hash gives; "
                "the attachments table was altered"
            )
        try:
            data = (data_dir / row.path).read_bytes()
        except OSError as exc:
            raise AttachmentFileError(
                f"attachment {attachment_id}: cannot read {row.path} under {data_dir} ({exc}); "
                "check the data directory and restore the file from a backup"
            ) from exc
        digest = hashlib.sha256(data).hexdigest()
        if digest != row.sha256 or len(data) != row.size_bytes:
            raise AttachmentIntegrityError(
                f"attachment {attachment_id}: {row.path} has SHA-256 {digest} and "
                f"{len(data)} bytes, but was stored with {row.sha256} and {row.size_bytes} "
                "bytes; the file was changed on disk, restore it from a backup"
            )
        return row, data


# -- files and rows -----------------------------------------------------------------------------


def _write_file(target: Path, data: bytes, sha256: str) -> None:
    """Write ``data`` to ``target`` atomically, unless a file with that content is there."""
    try:
        if _file_sha256(target) == sha256:
            return  # the same photo, stored before
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{sha256[:12]}-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            # Replaces a damaged file with the same name too: its content is known by its name.
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        # Make the rename (and new shard directories) durable before the row says it exists.
        _fsync_dir(target.parent)
        _fsync_dir(target.parent.parent)
    except OSError as exc:
        raise AttachmentFileError(
            f"cannot write attachment file {target} ({exc}); check that the data directory "
            "exists, is writable and has free space"
        ) from exc


def _photo_details(
    row: AttachmentRow, photo: Photo, lon: float | None, lat: float | None
) -> dict[str, object]:
    """The ``case.photo`` ledger event's details: the file, and whether the photo was taken far
    from the case's place (``None`` when either position is unknown) — not the coordinates."""
    far: bool | None = None
    distance: int | None = None
    if photo.gps is not None and lon is not None and lat is not None:
        far = is_far_from(photo, lon, lat)
        distance = round(distance_m(photo.gps, (lon, lat)))
    return {
        "attachment_id": row.attachment_id,
        "sha256": row.sha256,
        "size": row.size_bytes,
        "width": row.width,
        "height": row.height,
        "original_format": photo.original_format,
        "has_gps": photo.gps is not None,
        "gps_far": far,
        "gps_distance_m": distance,
    }


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be opened on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _to_row(r: Any) -> AttachmentRow:
    return AttachmentRow(**{name: r[name] for name in _COLUMNS})


_COLUMNS: Final = tuple(f.name for f in fields(AttachmentRow))
