"""Ledger verification: the chain checked end to end, one event checked alone, checkpoints.

A chain verifies when ``seq`` runs 1, 2, 3, ... without gaps, each ``prev_hash`` equals the
previous ``hash`` and each ``hash`` equals the digest of its row (the format of
:mod:`gridmgr.ledger.hashing`). A :class:`Checkpoint` (``seq`` and ``hash`` kept outside the
database) also catches truncation and a rewrite of the whole chain with recomputed hashes. The
store streams its rows, in ``seq`` order, into :func:`verify_chain`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from json.encoder import encode_basestring
from typing import Any

from gridmgr.errors import TimeError
from gridmgr.ledger.hashing import (
    GENESIS_HASH,
    LedgerError,
    LedgerEvent,
    event_hash,
    format_time,
    parse_time,
)

CHECKPOINT_FORMAT = "gridmgr-ledger-checkpoint/1"
"""The ``format`` field of a checkpoint file."""

PROGRESS_EVERY = 100_000
""":func:`verify_chain` calls its ``progress`` callback after every this many events."""

ROW_FIELDS = ("seq", "at", "kind", "actor", "subject", "payload", "prev_hash", "hash")
"""The columns of a ledger row, in the order :func:`verify_chain` reads them."""

_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)


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
        gridmgr.ledger.hashing.LedgerError: not a ledger checkpoint: format is 'something/2', ...
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


def _start(after: tuple[int, str] | None, checkpoint: Checkpoint | None) -> tuple[int, str]:
    """Where a verification starts: after a head verified before, or at the genesis."""
    if after is not None and checkpoint is not None:
        raise ValueError("verify_chain: give a checkpoint or an earlier head (after), not both")
    return (0, GENESIS_HASH) if after is None else after


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
        try:
            value.encode("utf-8")  # fails on lone surrogates only
        except UnicodeEncodeError:
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
    after: tuple[int, str] | None = None,
) -> Verification:
    """Check a ledger end to end (or from a head verified before) and stop at the first bad
    event.

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
    after
        ``(seq, hash)`` of a head an earlier verification reached: ``rows`` then start at the
        event after it, which must link to ``hash``, and ``count`` counts only these rows (an
        incremental pass; the caller checks that the event at ``seq`` still has ``hash``). Not
        with ``checkpoint``.

    Returns
    -------
    Verification
        ``ok`` when ``seq`` runs 1, 2, 3, ... without gaps, every ``prev_hash`` is the previous
        event's ``hash``, every ``hash`` is the digest of its row (see :func:`event_hash`) and the
        checkpoint, if given, is confirmed.

    >>> from gridmgr.ledger.hashing import next_event
    >>> at = parse_time("2026-11-27T01:02:03.000004Z")
    >>> e1 = next_event(prev=None, at=at, kind="k", actor="a", subject="s", details={})
    >>> e2 = next_event(prev=e1, at=at, kind="k", actor="a", subject="s", details={"n": 2})
    >>> str(verify_chain([e1, e2]))  # doctest: +ELLIPSIS
    'ledger verified: 2 events, head event 2 (hash ...…), no checkpoint given'
    >>> verify_chain([e2]).problem
    'sequence starts at 2, not 1'
    >>> verify_chain([e2], after=(1, e1.hash)).count  # only the new event read
    1
    """
    base, prev = _start(after, checkpoint)
    cp_seq = -1 if checkpoint is None else checkpoint.seq
    cp_hash = "" if checkpoint is None else checkpoint.hash
    checkpoint_ok: bool | None = None if checkpoint is None else cp_seq == 0
    every = PROGRESS_EVERY if progress is not None else 0

    def stopped(expected: int, head: str, problem: str) -> Verification:
        return Verification(
            ok=False,
            count=expected - 1 - base,
            head_seq=expected - 1,
            head_hash=head,
            first_bad_seq=expected,
            problem=problem,
            checkpoint_ok=None if checkpoint is None else False,
        )

    # The hot loop: locals only, no per-event objects, one branch per check.
    sha256 = hashlib.sha256
    enc = encode_basestring
    stop = _next_stop(base, cp_seq, every)
    expected = base + 1
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
        count=head_seq - base,
        head_seq=head_seq,
        head_hash=prev,
        first_bad_seq=None,
        problem=None,
        checkpoint_ok=checkpoint_ok,
    )
