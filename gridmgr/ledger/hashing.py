"""Ledger hashing: the canonical form of an event and the SHA-256 chain linking events.

This module is pure: the store builds each appended row with :func:`next_event` inside its
transaction; :mod:`gridmgr.ledger.verification` checks stored rows against the same format.

Hash format, version 1 (enough to re-implement it in any language)
------------------------------------------------------------------
An event's ``hash`` is the lowercase hexadecimal SHA-256 digest of the UTF-8 bytes of the
JSON array ``[seq,at,kind,actor,subject,payload,prev_hash]``, written without any whitespace:

- ``seq`` is a plain decimal integer (no sign, leading zeros or exponent), 1 for the first event;
- the six other elements are JSON strings: wrapped in ``"``; ``"`` written ``\\"`` and ``\\``
  written ``\\\\``; U+0008, U+0009, U+000A, U+000C and U+000D written ``\\b``, ``\\t``, ``\\n``,
  ``\\f``, ``\\r``; every other character below U+0020 written ``\\u00xx`` (four lowercase hex
  digits); every other character, non-ASCII and U+007F included, written as itself;
- ``at`` is UTC time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (always six fraction digits);
- ``payload`` is the event's details as canonical JSON text (keys sorted, no whitespace,
  non-ASCII as itself, see :func:`canonical_json`), embedded as a *string*, not as an object;
- ``prev_hash`` is the previous event's ``hash``, or 64 ``0`` characters (:data:`GENESIS_HASH`)
  for event 1.

This is exactly Python's ``json.dumps([...], ensure_ascii=False, separators=(",", ":"))``
encoded as UTF-8; :func:`event_bytes` returns those bytes, and a worked example with its digest
is in :func:`event_hash`.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from gridmgr.errors import GridMgrError, TimeError

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of event 1."""

MAX_NAME_LENGTH = 200
"""The longest ``kind``, ``actor`` or ``subject`` accepted by :func:`next_event`."""

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class LedgerError(GridMgrError, ValueError):
    """A ledger value is unusable: details with no JSON form, a bad name, a bad checkpoint."""


@dataclass(frozen=True)
class LedgerEvent:
    """One ledger row; fields are in row order, so ``LedgerEvent(*row)`` rebuilds a stored row.

    Construction does not validate, so a tampered row can still be read and shown;
    :func:`~gridmgr.ledger.verification.verify_chain` is what judges rows, and
    :func:`next_event` is how valid ones are made.
    """

    seq: int
    at: str
    kind: str
    actor: str
    subject: str
    payload: str
    prev_hash: str
    hash: str

    def as_row(self) -> tuple[int, str, str, str, str, str, str, str]:
        """The event as a row ``(seq, at, kind, actor, subject, payload, prev_hash, hash)``."""
        return (
            self.seq,
            self.at,
            self.kind,
            self.actor,
            self.subject,
            self.payload,
            self.prev_hash,
            self.hash,
        )


def format_time(at: datetime) -> str:
    """An aware time as UTC ``YYYY-MM-DDTHH:MM:SS.ffffffZ``, the ledger's ``at`` form.

    >>> from datetime import timedelta, timezone
    >>> format_time(datetime(2026, 11, 27, 9, 2, 3, 4, tzinfo=timezone(timedelta(hours=8))))
    '2026-11-27T01:02:03.000004Z'
    """
    if at.tzinfo is None or at.utcoffset() is None:
        raise TimeError(
            f"at={at.isoformat()} has no timezone; pass an aware time (e.g. tzinfo=+08:00)"
        )
    try:
        utc = at.astimezone(UTC)
    except OverflowError as exc:
        raise TimeError(f"at={at.isoformat()} is out of range in UTC; pass a later time") from exc
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """Parse the ledger's ``at`` form back into an aware UTC time (the inverse of ``format_time``).

    >>> parse_time("2026-11-27T01:02:03.000004Z")
    datetime.datetime(2026, 11, 27, 1, 2, 3, 4, tzinfo=datetime.timezone.utc)
    >>> parse_time("2026-11-27 01:02:03")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gridmgr.errors.TimeError: ledger time '2026-11-27 01:02:03' is not in the form ...
    """
    expected = "YYYY-MM-DDTHH:MM:SS.ffffffZ (UTC, six fraction digits)"
    if not isinstance(text, str) or _TIME.fullmatch(text) is None:
        raise TimeError(f"ledger time {text!r} is not in the form {expected}")
    try:
        return datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise TimeError(f"ledger time {text!r} is not a real date and time: {exc}") from exc


def canonical_json(value: object) -> str:
    """``value`` as canonical JSON text: sorted keys, no whitespace, non-ASCII kept as itself.

    Datetimes become UTC ``...Z`` strings (see :func:`format_time`), dates ISO ``YYYY-MM-DD``,
    enums their ``.value``, tuples lists, ``Decimal`` floats. NaN and infinities, naive datetimes,
    non-string keys, lone surrogates and any other type are refused with a :class:`LedgerError`
    naming where the bad value sits.

    >>> canonical_json({"b": (1, 2.5), "a": "井盖", "c": None})
    '{"a":"井盖","b":[1,2.5],"c":null}'
    >>> canonical_json({"x": [1, float("nan")]})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    gridmgr.ledger.hashing.LedgerError: value['x'][1] is nan; JSON has no NaN or infinity, ...
    """
    return _canonical(value, "value")


def _canonical(value: object, root: str) -> str:
    # Fast path, all in C: a value that is already plain JSON (str keys, lists, finite numbers,
    # valid Unicode) dumps, parses back equal, and encodes. Anything else - tuples, enums,
    # datetimes, non-str keys, NaN, lone surrogates - fails one of these checks and takes the
    # exact path below, which converts or refuses it with a message naming the key path.
    try:
        text = json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
        if type(value) in (dict, list) and json.loads(text) == value:
            text.encode("utf-8")
            return text
    except (TypeError, ValueError, RecursionError):  # UnicodeEncodeError is a ValueError
        pass
    plain = _plain(value, root, set())
    try:
        return json.dumps(
            plain, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )
    except ValueError as exc:  # e.g. an int too long to print
        raise LedgerError(f"{root} cannot be written as JSON: {exc}") from exc


def _plain(value: object, path: str, active: set[int]) -> object:
    """``value`` converted to plain JSON types (dict, list, str, int, float, bool, None)."""
    if value is None or value is True or value is False:
        return value
    if isinstance(value, enum.Enum):
        return _plain(value.value, path, active)
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise LedgerError(
                f"{path} contains a lone surrogate, which is not valid Unicode text; "
                "decode the text properly (e.g. with errors='replace')"
            )
        return str.__str__(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float | Decimal):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not finite:
            raise LedgerError(
                f"{path} is {value!r}; JSON has no NaN or infinity, "
                "so pass None or a finite number instead"
            )
        return float(value)
    if isinstance(value, datetime):
        try:
            return format_time(value)
        except TimeError as exc:
            raise LedgerError(f"{path}: {exc}") from exc
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping | list | tuple):
        if id(value) in active:
            raise LedgerError(f"{path} contains itself; pass a value without cycles")
        active.add(id(value))
        try:
            if isinstance(value, Mapping):
                return _plain_mapping(value, path, active)
            return [_plain(item, f"{path}[{i}]", active) for i, item in enumerate(value)]
        finally:
            active.discard(id(value))
    hint = "convert it to str, int, float, bool, None, a list or a dict"
    if isinstance(value, set | frozenset):
        hint = "sets have no order; pass sorted(...) instead"
    elif isinstance(value, bytes | bytearray | memoryview):
        hint = "decode it to text or pass bytes.hex()"
    shown = repr(value)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise LedgerError(f"{path} is a {type(value).__name__} ({shown}) with no JSON form; {hint}")


def _plain_mapping(value: Mapping[Any, object], path: str, active: set[int]) -> dict[str, object]:
    out: dict[str, object] = {}
    for raw_key, item in value.items():
        key = raw_key.value if isinstance(raw_key, enum.Enum) else raw_key
        if not isinstance(key, str):
            raise LedgerError(
                f"{path} has the key {raw_key!r} ({type(raw_key).__name__}); "
                "canonical JSON keys must be strings, so convert the key with str()"
            )
        key = _plain(key, f"{path} key {key!r}", active)
        assert isinstance(key, str)
        if key in out:
            raise LedgerError(f"{path} has the key {key!r} twice (after converting enum keys)")
        out[key] = _plain(item, f"{path}[{key!r}]", active)
    return out


def event_bytes(
    *, seq: int, at: str, kind: str, actor: str, subject: str, payload: str, prev_hash: str
) -> bytes:
    """The exact bytes an event's hash is taken over (see the module docstring).

    >>> event_bytes(seq=7, at="2026-11-27T01:02:03.000004Z", kind="k", actor="a",
    ...             subject="s", payload="{}", prev_hash="ab")
    b'[7,"2026-11-27T01:02:03.000004Z","k","a","s","{}","ab"]'
    """
    if type(seq) is not int:
        raise LedgerError(f"seq={seq!r} ({type(seq).__name__}) must be an int")
    fields = {"at": at, "kind": kind, "actor": actor, "subject": subject, "payload": payload}
    fields["prev_hash"] = prev_hash
    for name, text in fields.items():
        if not isinstance(text, str):
            raise LedgerError(f"{name}={text!r} ({type(text).__name__}) must be a str")
        if _SURROGATE.search(text):
            raise LedgerError(f"{name}={text!r} contains a lone surrogate; it is not valid text")
    texts = (at, kind, actor, subject, payload, prev_hash)
    return f"[{seq},{','.join(map(encode_basestring, texts))}]".encode()


def event_hash(
    *, seq: int, at: str, kind: str, actor: str, subject: str, payload: str, prev_hash: str
) -> str:
    """The hash of an event: lowercase hex SHA-256 of :func:`event_bytes`.

    A worked example an auditor can reproduce (``井盖`` is the six UTF-8 bytes
    ``e4 ba 95 e7 9b 96``; the bytes end with ``"``, 64 zeros, ``"]``):

    >>> fields = {"seq": 1, "at": "2026-11-27T01:02:03.000004Z", "kind": "case.reported",
    ...           "actor": "person:1", "subject": "case:1", "payload": '{"note":"井盖"}',
    ...           "prev_hash": GENESIS_HASH}
    >>> data = event_bytes(**fields)
    >>> print(data[:-67].decode())
    [1,"2026-11-27T01:02:03.000004Z","case.reported","person:1","case:1","{\\"note\\":\\"井盖\\"}",
    >>> data[-67:] == b'"' + b"0" * 64 + b'"]'
    True
    >>> event_hash(**fields)
    '31423ac86b31b896ace0e940a0d1fa4c176e3f820da9936d397d2d012bd6b0ad'
    """
    return hashlib.sha256(
        event_bytes(
            seq=seq,
            at=at,
            kind=kind,
            actor=actor,
            subject=subject,
            payload=payload,
            prev_hash=prev_hash,
        )
    ).hexdigest()


def _check_name(field: str, value: object) -> str:
    if not isinstance(value, str):
        raise LedgerError(f"{field}={value!r} ({type(value).__name__}) must be a str")
    if not value:
        raise LedgerError(f"{field} is empty; name the {field} (e.g. 'case.reported')")
    if len(value) > MAX_NAME_LENGTH:
        raise LedgerError(
            f"{field}={value[:40]!r}... is {len(value)} characters long; "
            f"keep it to {MAX_NAME_LENGTH} and put long text in the details"
        )
    bad = _CONTROL.search(value) or _SURROGATE.search(value)
    if bad is not None:
        raise LedgerError(
            f"{field}={value!r} contains the control character {bad.group()!r} "
            f"at position {bad.start()}; remove it"
        )
    return value


def next_event(
    *,
    prev: LedgerEvent | None,
    at: datetime,
    kind: str,
    actor: str,
    subject: str,
    details: Mapping[str, object],
) -> LedgerEvent:
    """The event that follows ``prev`` (or the first event, when ``prev`` is None).

    Parameters
    ----------
    prev
        The current head of the ledger, or None for an empty ledger.
    at
        When the change happened; an aware time (stored as UTC, see :func:`format_time`).
    kind, actor, subject
        What happened, who did it and to what: non-empty, at most 200 characters, no control
        characters.
    details
        The event's details, stored as :func:`canonical_json` text in ``payload``.

    >>> first = next_event(prev=None, at=parse_time("2026-11-27T01:02:03.000004Z"),
    ...                    kind="case.reported", actor="person:1", subject="case:1",
    ...                    details={"note": "井盖"})
    >>> (first.seq, first.prev_hash == GENESIS_HASH, first.payload)
    (1, True, '{"note":"井盖"}')
    >>> second = next_event(prev=first, at=parse_time("2026-11-27T01:05:00.000000Z"),
    ...                     kind="case.registered", actor="person:2", subject="case:1",
    ...                     details={})
    >>> (second.seq, second.prev_hash == first.hash)
    (2, True)
    """
    if prev is None:
        seq, prev_hash = 1, GENESIS_HASH
    else:
        seq, prev_hash = prev.seq + 1, prev.hash
    if not isinstance(details, Mapping):
        raise LedgerError(
            f"details={details!r} ({type(details).__name__}) must be a mapping; pass a dict"
        )
    fields = {
        "at": format_time(at),
        "kind": _check_name("kind", kind),
        "actor": _check_name("actor", actor),
        "subject": _check_name("subject", subject),
        "payload": _canonical(details, "details"),
    }
    digest = event_hash(seq=seq, prev_hash=prev_hash, **fields)
    return LedgerEvent(seq=seq, prev_hash=prev_hash, hash=digest, **fields)
