"""Ledger hashing: canonical events, the SHA-256 chain linking them, checkpoints, verification.

This module is pure: the store builds each appended row with :func:`next_event` inside its
transaction and streams stored rows, in ``seq`` order, into :func:`verify_chain`.

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
is in :func:`event_hash`. A chain verifies when ``seq`` runs 1, 2, 3, ... without gaps, each
``prev_hash`` equals the previous ``hash`` and each ``hash`` equals the digest of its row. A
:class:`Checkpoint` (``seq`` and ``hash`` kept outside the database) also catches truncation and a
rewrite of the whole chain with recomputed hashes.
"""

from __future__ import annotations

import enum
import hashlib
import itertools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from json.encoder import encode_basestring
from typing import Any

from gridmgr.errors import GridMgrError, TimeError

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of event 1."""

CHECKPOINT_FORMAT = "gridmgr-ledger-checkpoint/1"
"""The ``format`` field of a checkpoint file."""

PROGRESS_EVERY = 100_000
""":func:`verify_chain` calls its ``progress`` callback after every this many events."""

MAX_NAME_LENGTH = 200
"""The longest ``kind``, ``actor`` or ``subject`` accepted by :func:`next_event`."""

ROW_FIELDS = ("seq", "at", "kind", "actor", "subject", "payload", "prev_hash", "hash")
"""The columns of a ledger row, in the order :func:`verify_chain` reads them."""

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z", re.ASCII)
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


class LedgerError(GridMgrError, ValueError):
    """A ledger value is unusable: details with no JSON form, a bad name, a bad checkpoint."""


@dataclass(frozen=True)
class LedgerEvent:
    """One ledger row; fields are in row order, so ``LedgerEvent(*row)`` rebuilds a stored row.

    Construction does not validate, so a tampered row can still be read and shown;
    :func:`verify_chain` is what judges rows, and :func:`next_event` is how valid ones are made.
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
    gridmgr.ledger.LedgerError: value['x'][1] is nan; JSON has no NaN or infinity, ...
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


@dataclass(frozen=True)
class Checkpoint:
    """The ledger head written down outside the database, so truncation and rewrites show.

    ``at`` is when the checkpoint was taken (the ledger's ``at`` form, passed in); ``count`` is
    the number of events it covers, which equals ``seq`` in a gap-free ledger. A checkpoint of an
    empty ledger has ``seq == count == 0`` and ``hash == GENESIS_HASH``.
    """

    seq: int
    hash: str
    at: str
    count: int

    def __post_init__(self) -> None:
        for name in ("seq", "count"):
            value = getattr(self, name)
            if type(value) is not int or value < 0:
                raise LedgerError(f"checkpoint {name}={value!r} must be an int >= 0")
        if self.count != self.seq:
            raise LedgerError(
                f"checkpoint count={self.count} differs from seq={self.seq}; a gap-free ledger "
                "has one event per seq, so take the checkpoint from a verification"
            )
        if not isinstance(self.hash, str) or _HEX64.fullmatch(self.hash) is None:
            raise LedgerError(
                f"checkpoint hash={self.hash!r} must be 64 lowercase hex digits (a SHA-256 digest)"
            )
        if self.seq == 0 and self.hash != GENESIS_HASH:
            raise LedgerError("a checkpoint at seq 0 (empty ledger) must carry GENESIS_HASH")
        try:
            parse_time(self.at)
        except TimeError as exc:
            raise LedgerError(f"checkpoint at: {exc}") from exc

    def to_json(self) -> str:
        """The checkpoint as a small JSON document (what a checkpoint file holds).

        >>> print(Checkpoint(seq=0, hash=GENESIS_HASH, at="2026-11-27T01:02:03.000004Z",
        ...                  count=0).to_json(), end="")  # doctest: +ELLIPSIS
        {
          "at": "2026-11-27T01:02:03.000004Z",
          "count": 0,
          "format": "gridmgr-ledger-checkpoint/1",
          "hash": "000...000",
          "seq": 0
        }
        """
        document = {
            "format": CHECKPOINT_FORMAT,
            "seq": self.seq,
            "hash": self.hash,
            "at": self.at,
            "count": self.count,
        }
        return json.dumps(document, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Checkpoint:
        """Read a checkpoint written by :meth:`to_json`; a malformed one is a :class:`LedgerError`.

        >>> Checkpoint.from_json('{"format": "something/2"}')  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gridmgr.ledger.LedgerError: not a ledger checkpoint: format is 'something/2', ...
        """
        try:
            document = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise LedgerError(f"not a ledger checkpoint: the text is not JSON ({exc})") from exc
        if not isinstance(document, dict):
            raise LedgerError(
                f"not a ledger checkpoint: expected a JSON object, got {type(document).__name__}"
            )
        if document.get("format") != CHECKPOINT_FORMAT:
            raise LedgerError(
                f"not a ledger checkpoint: format is {document.get('format')!r}, expected "
                f"{CHECKPOINT_FORMAT!r}; pass a file written by Checkpoint.to_json"
            )
        keys = {"format", "seq", "hash", "at", "count"}
        missing = sorted(keys - document.keys())
        unknown = sorted(document.keys() - keys)
        if missing or unknown:
            raise LedgerError(
                f"malformed ledger checkpoint: missing {missing}, unknown {unknown}; "
                f"expected exactly the fields {sorted(keys)}"
            )
        return cls(
            seq=document["seq"], hash=document["hash"], at=document["at"], count=document["count"]
        )


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify_chain`.

    ``count``, ``head_seq`` and ``head_hash`` describe the events that passed before the
    verification stopped (``0`` and :data:`GENESIS_HASH` when none did); ``first_bad_seq`` is the
    first position that does not hold a good event and ``problem`` says what is wrong there.
    ``checkpoint_ok`` is None without a checkpoint, True when the event at the checkpoint's seq
    was reached and carries its hash, False otherwise.
    """

    ok: bool
    count: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None
    problem: str | None
    checkpoint_ok: bool | None

    def __str__(self) -> str:
        checkpoint = {
            None: "no checkpoint given",
            True: "checkpoint matches",
            False: "checkpoint NOT confirmed",
        }[self.checkpoint_ok]
        if self.ok:
            return (
                f"ledger verified: {self.count:,} events, head event {self.head_seq} "
                f"(hash {self.head_hash[:12]}…), {checkpoint}"
            )
        return (
            f"ledger NOT verified: {self.problem}; {self.count:,} events verified before it, "
            f"{checkpoint}"
        )


def verification_to_checkpoint(verification: Verification, *, at: datetime) -> Checkpoint:
    """A checkpoint of the head a successful verification reached, taken at ``at``.

    >>> v = verify_chain([])
    >>> verification_to_checkpoint(v, at=parse_time("2026-11-27T01:02:03.000004Z")).seq
    0
    """
    if not verification.ok:
        raise LedgerError(
            f"cannot checkpoint a ledger that failed verification ({verification.problem}); "
            "investigate the ledger first"
        )
    return Checkpoint(
        seq=verification.head_seq,
        hash=verification.head_hash,
        at=format_time(at),
        count=verification.count,
    )


def _row_of(row: object) -> object:
    return row.as_row() if isinstance(row, LedgerEvent) else row


def _rows(rows: Iterable[object]) -> Iterator[Any]:
    """``rows`` as tuples; a stream of LedgerEvents is converted, a stream of tuples left alone."""
    it = iter(rows)
    for first in it:
        chained = itertools.chain((first,), it)
        return map(_row_of, chained) if isinstance(first, LedgerEvent) else chained
    return iter(())


def _next_stop(done: int, checkpoint_seq: int, every: int) -> int:
    """The next seq at which the loop leaves its fast path (checkpoint or progress), or -1."""
    stops = []
    if checkpoint_seq > done:
        stops.append(checkpoint_seq)
    if every:
        stops.append((done // every + 1) * every)
    return min(stops, default=-1)


def _seq_problem(seq: object, expected: int) -> str:
    before = expected - 1
    if type(seq) is not int:
        return f"the row after event {before} has seq {seq!r} ({type(seq).__name__}), not an int"
    if expected == 1:
        return f"sequence starts at {seq}, not 1"
    if seq > expected:
        missing = (
            f"event {expected} is missing"
            if seq == expected + 1
            else f"events {expected} to {seq - 1} are missing"
        )
        return f"sequence jumps from {before} to {seq}: {missing} (deleted or moved?)"
    if seq == before:
        return f"event {before} appears twice (duplicated?)"
    return f"sequence goes back from {before} to {seq} (reordered or duplicated?)"


def _field_problem(row: Sequence[object], seq: int) -> str:
    for name, value in zip(ROW_FIELDS[1:-1], row[1:-1], strict=True):
        if not isinstance(value, str):
            return f"event {seq}: {name} is {value!r} ({type(value).__name__}), not text (edited?)"
        if _SURROGATE.search(value):
            return f"event {seq}: {name} is not valid Unicode text (edited?)"
    return f"event {seq}: a field cannot be hashed (edited?)"


def check_event(event: LedgerEvent, prev: LedgerEvent | None) -> tuple[bool, str | None]:
    """Whether one event verifies on its own: its hash matches its contents and it links to
    ``prev`` (the event before it; ``None`` when that one is missing). For showing one case's
    trail; :func:`verify_chain` is the end-to-end proof."""
    recomputed = event_hash(
        seq=event.seq,
        at=event.at,
        kind=event.kind,
        actor=event.actor,
        subject=event.subject,
        payload=event.payload,
        prev_hash=event.prev_hash,
    )
    if recomputed != event.hash:
        return False, f"ledger event {event.seq}: hash does not match its contents"
    if prev is not None and prev.hash != event.prev_hash:
        return False, f"ledger event {event.seq}: does not link to event {prev.seq}"
    if prev is None and event.seq > 1:
        return False, f"ledger event {event.seq - 1} is missing"
    return True, None


def verify_chain(
    rows: Iterable[Sequence[object]] | Iterable[LedgerEvent],
    *,
    checkpoint: Checkpoint | None = None,
    progress: Callable[[int], None] | None = None,
) -> Verification:
    """Check a ledger end to end and stop at the first bad event.

    Parameters
    ----------
    rows
        Rows ``(seq, at, kind, actor, subject, payload, prev_hash, hash)`` ordered by ``seq``,
        as a database cursor yields them, or :class:`LedgerEvent` objects; read once, lazily.
    checkpoint
        A head written down earlier: the event at its ``seq`` must exist and carry its ``hash``,
        which catches truncation and a rewrite with recomputed hashes.
    progress
        Called with the number of events verified so far after every 100,000 events.

    Returns
    -------
    Verification
        ``ok`` when ``seq`` runs 1, 2, 3, ... without gaps, every ``prev_hash`` is the previous
        event's ``hash``, every ``hash`` is the digest of its row (see :func:`event_hash`) and the
        checkpoint, if given, is confirmed.

    >>> at = parse_time("2026-11-27T01:02:03.000004Z")
    >>> e1 = next_event(prev=None, at=at, kind="k", actor="a", subject="s", details={})
    >>> e2 = next_event(prev=e1, at=at, kind="k", actor="a", subject="s", details={"n": 2})
    >>> str(verify_chain([e1, e2]))  # doctest: +ELLIPSIS
    'ledger verified: 2 events, head event 2 (hash ...…), no checkpoint given'
    >>> verify_chain([e2]).problem
    'sequence starts at 2, not 1'
    """
    cp_seq = -1 if checkpoint is None else checkpoint.seq
    cp_hash = "" if checkpoint is None else checkpoint.hash
    checkpoint_ok: bool | None = None if checkpoint is None else cp_seq == 0
    every = PROGRESS_EVERY if progress is not None else 0

    def stopped(expected: int, head: str, problem: str) -> Verification:
        return Verification(
            ok=False,
            count=expected - 1,
            head_seq=expected - 1,
            head_hash=head,
            first_bad_seq=expected,
            problem=problem,
            checkpoint_ok=None if checkpoint is None else False,
        )

    # The hot loop: locals only, no per-event objects, one branch per check.
    sha256 = hashlib.sha256
    enc = encode_basestring
    stop = _next_stop(0, cp_seq, every)
    expected = 1
    prev = GENESIS_HASH
    for row in _rows(rows):
        try:
            seq, at, kind, actor, subject, payload, prev_hash, stored = row
        except (TypeError, ValueError):
            row = _row_of(row)
            if not isinstance(row, Sequence) or len(row) != len(ROW_FIELDS):
                size = f"{len(row)} fields" if isinstance(row, Sequence) else type(row).__name__
                return stopped(
                    expected,
                    prev,
                    f"the row after event {expected - 1} is malformed ({size}); expected "
                    f"({', '.join(ROW_FIELDS)})",
                )
            seq, at, kind, actor, subject, payload, prev_hash, stored = row
        if seq != expected:
            return stopped(expected, prev, _seq_problem(seq, expected))
        if prev_hash != prev:
            before = "the genesis hash" if expected == 1 else f"event {expected - 1}'s hash"
            return stopped(
                expected,
                prev,
                f"event {expected}: prev_hash does not match {before} (reordered or inserted?)",
            )
        # ``prev`` stands for ``prev_hash`` unescaped: they compared equal, and ``prev`` is a
        # digest computed here (pure hex) or GENESIS_HASH. The f-string is event_bytes inlined.
        try:
            text = (
                f"[{expected},{enc(at)},{enc(kind)},{enc(actor)},"
                f'{enc(subject)},{enc(payload)},"{prev}"]'
            )
            digest = sha256(text.encode()).hexdigest()
        except (TypeError, UnicodeEncodeError):
            return stopped(expected, prev, _field_problem(row, expected))
        if digest != stored:
            return stopped(
                expected, prev, f"event {expected}: hash does not match its contents (edited?)"
            )
        if expected == stop:
            if expected == cp_seq:
                if digest != cp_hash:
                    return stopped(
                        expected,
                        prev,
                        f"event {expected}'s hash differs from the checkpoint "
                        "(the ledger was rewritten)",
                    )
                checkpoint_ok = True
            if every and expected % every == 0 and progress is not None:
                progress(expected)
            stop = _next_stop(expected, cp_seq, every)
        prev = digest
        expected += 1

    head_seq = expected - 1
    if cp_seq > head_seq:
        ends = "the ledger is empty" if head_seq == 0 else f"the ledger ends at event {head_seq}"
        return Verification(
            ok=False,
            count=head_seq,
            head_seq=head_seq,
            head_hash=prev,
            first_bad_seq=head_seq + 1,
            problem=f"{ends} but the checkpoint is at event {cp_seq} (truncated?)",
            checkpoint_ok=False,
        )
    return Verification(
        ok=True,
        count=head_seq,
        head_seq=head_seq,
        head_hash=prev,
        first_bad_seq=None,
        problem=None,
        checkpoint_ok=checkpoint_ok,
    )
