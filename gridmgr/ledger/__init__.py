"""The ledger: the append-only, hash-chained record of every event, and its verification.

Pure: the store builds each appended row with :func:`next_event` inside its transaction and
streams stored rows, in ``seq`` order, into :func:`verify_chain`. Two modules:

- :mod:`gridmgr.ledger.hashing`: the canonical form of an event and its SHA-256 hash (the format,
  version 1, specified there well enough to re-implement it in any language), and
  :func:`next_event`;
- :mod:`gridmgr.ledger.verification`: :func:`verify_chain` end to end, :func:`check_event` for one
  event, and the :class:`Checkpoint` kept outside the database that catches truncation and a
  rewrite of the whole chain.

Every public name of both is importable from here, ``from gridmgr.ledger import verify_chain``.
"""

from __future__ import annotations

from gridmgr.ledger.hashing import (
    GENESIS_HASH,
    MAX_NAME_LENGTH,
    LedgerError,
    LedgerEvent,
    canonical_json,
    event_bytes,
    event_hash,
    format_time,
    next_event,
    parse_time,
)
from gridmgr.ledger.verification import (
    CHECKPOINT_FORMAT,
    PROGRESS_EVERY,
    ROW_FIELDS,
    Checkpoint,
    Verification,
    check_event,
    verification_to_checkpoint,
    verify_chain,
)

__all__ = [
    "CHECKPOINT_FORMAT",
    "GENESIS_HASH",
    "MAX_NAME_LENGTH",
    "PROGRESS_EVERY",
    "ROW_FIELDS",
    "Checkpoint",
    "LedgerError",
    "LedgerEvent",
    "Verification",
    "canonical_json",
    "check_event",
    "event_bytes",
    "event_hash",
    "format_time",
    "next_event",
    "parse_time",
    "verification_to_checkpoint",
    "verify_chain",
]
