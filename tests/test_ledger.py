"""Ledger hashing: canonical JSON, event hashes, chain verification, tampering, checkpoints."""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.errors import GridMgrError, TimeError
from gridmgr.ledger import (
    GENESIS_HASH,
    Checkpoint,
    LedgerError,
    LedgerEvent,
    Verification,
    canonical_json,
    event_bytes,
    event_hash,
    format_time,
    next_event,
    parse_time,
    verification_to_checkpoint,
    verify_chain,
)

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 27, 9, 0, tzinfo=CST)
KINDS = ("case.reported", "case.registered", "case.dispatched", "case.escalated", "roster.imported")
ACTORS = ("person:0042", "system:escalator", "apikey:3f2a", "person:王小明")
N = 1000
MIDDLE = 500  # the seq tampered with in most tests

Row = tuple[int, str, str, str, str, str, str, str]


class Status(enum.Enum):
    OPEN = "open"


def event_inputs(i: int) -> dict[str, object]:
    """The ``next_event`` arguments (all but ``prev``) of the ``i``-th test event (1-based)."""
    return {
        "at": T0 + timedelta(seconds=37 * i, microseconds=i),
        "kind": KINDS[i % len(KINDS)],
        "actor": ACTORS[i % len(ACTORS)],
        "subject": f"case:{i * 7919 % 100_003:08x}",
        "details": {
            "cell": f"320281{i % 17:03d}{i % 13:03d}{i % 11:03d}",
            "comment": f'第{i}号：井盖缺失 "quoted" \\ tab\there',
            "status": Status.OPEN,
            "photos": (f"p{i}.jpg",),
            "amount": Decimal("12.50"),
        },
    }


def extend(prev: LedgerEvent | None, inputs: Sequence[Mapping[str, object]]) -> list[LedgerEvent]:
    """Events built with ``next_event`` from ``inputs``, continuing after ``prev``."""
    events = []
    for kwargs in inputs:
        prev = next_event(prev=prev, **kwargs)  # type: ignore[arg-type]
        events.append(prev)
    return events


@functools.cache
def chain(n: int = N) -> tuple[LedgerEvent, ...]:
    """A valid ledger of ``n`` events (cached: events are immutable)."""
    return tuple(extend(None, [event_inputs(i) for i in range(1, n + 1)]))


def rows(n: int = N) -> list[Row]:
    """The test ledger as database rows, a fresh list each call so tests can tamper with it."""
    return [e.as_row() for e in chain(n)]


def edited(row: Row, **changes: object) -> Row:
    """``row`` with some fields replaced (the hash is left as stored: a naive edit)."""
    return dataclasses.replace(LedgerEvent(*row), **changes).as_row()  # type: ignore[arg-type]


def checkpoint_at(seq: int, events: Sequence[LedgerEvent] | None = None) -> Checkpoint:
    """A checkpoint of event ``seq`` of ``events`` (default: the intact test ledger)."""
    event = (events or chain())[seq - 1]
    return Checkpoint(seq=seq, hash=event.hash, at="2026-12-01T00:00:00.000000Z", count=seq)


# -- intact chains ---------------------------------------------------------------------------


def test_an_intact_chain_verifies_with_its_count_and_head() -> None:
    result = verify_chain(rows())

    assert result == Verification(
        ok=True,
        count=N,
        head_seq=N,
        head_hash=chain()[-1].hash,
        first_bad_seq=None,
        problem=None,
        checkpoint_ok=None,
    )
    assert str(result).startswith(f"ledger verified: {N:,} events, head event {N}")


def test_events_and_rows_verify_alike_and_an_event_rebuilds_from_its_row() -> None:
    events = chain()

    assert verify_chain(events) == verify_chain(rows())
    assert verify_chain(iter(events)) == verify_chain(iter(rows()))
    assert all(LedgerEvent(*e.as_row()) == e for e in events)


@pytest.mark.parametrize("first_is_event", [True, False])
def test_a_stream_mixing_rows_and_events_verifies(first_is_event: bool) -> None:
    mixed = [e if (e.seq % 2 == 1) == first_is_event else e.as_row() for e in chain()]

    assert verify_chain(mixed).ok  # type: ignore[arg-type]


def test_an_empty_ledger_verifies_with_the_genesis_head() -> None:
    result = verify_chain([])

    assert (result.ok, result.count, result.head_seq, result.head_hash) == (
        True,
        0,
        0,
        GENESIS_HASH,
    )


def test_the_first_event_links_to_genesis_and_each_next_to_its_predecessor() -> None:
    events = chain()

    assert events[0].seq == 1
    assert events[0].prev_hash == GENESIS_HASH
    assert all(b.seq == a.seq + 1 and b.prev_hash == a.hash for a, b in itertools.pairwise(events))


def test_an_event_stores_utc_time_and_canonical_details() -> None:
    event = chain()[0]

    assert event.at == format_time(T0 + timedelta(seconds=37, microseconds=1))
    assert event.at.endswith("Z")
    assert json.loads(event.payload)["status"] == "open"
    assert json.loads(event.payload)["amount"] == 12.5
    assert event.payload == canonical_json(json.loads(event.payload))


# -- tampering -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("at", "2026-11-27T01:02:03.000004Z"),
        ("kind", "case.closed"),
        ("actor", "person:9999"),
        ("subject", "case:deadbeef"),
        ("payload", '{"comment":"nothing happened"}'),
        ("hash", "f" * 64),
    ],
)
def test_editing_one_field_of_one_event_is_detected_at_that_event(field: str, value: str) -> None:
    tampered = rows()
    tampered[MIDDLE - 1] = edited(tampered[MIDDLE - 1], **{field: value})

    result = verify_chain(tampered)

    assert not result.ok
    assert result.first_bad_seq == MIDDLE
    assert result.problem == f"event {MIDDLE}: hash does not match its contents (edited?)"
    assert (result.count, result.head_seq) == (MIDDLE - 1, MIDDLE - 1)
    assert result.head_hash == chain()[MIDDLE - 2].hash


def test_editing_one_field_and_its_hash_breaks_the_next_events_link() -> None:
    tampered = rows()
    forged = next_event(prev=chain()[MIDDLE - 2], **{**event_inputs(MIDDLE), "actor": "person:x"})  # type: ignore[arg-type]
    tampered[MIDDLE - 1] = forged.as_row()

    result = verify_chain(tampered)

    assert result.first_bad_seq == MIDDLE + 1
    assert result.problem == (
        f"event {MIDDLE + 1}: prev_hash does not match event {MIDDLE}'s hash "
        "(reordered or inserted?)"
    )


def test_deleting_one_event_is_a_gap_naming_the_missing_event() -> None:
    tampered = rows()
    del tampered[MIDDLE - 1]

    result = verify_chain(tampered)

    assert result.first_bad_seq == MIDDLE
    assert result.problem == (
        f"sequence jumps from {MIDDLE - 1} to {MIDDLE + 1}: event {MIDDLE} is missing "
        "(deleted or moved?)"
    )


def test_deleting_several_events_names_the_missing_range() -> None:
    tampered = rows()
    del tampered[MIDDLE - 1 : MIDDLE + 2]

    result = verify_chain(tampered)

    assert result.problem == (
        f"sequence jumps from {MIDDLE - 1} to {MIDDLE + 3}: events {MIDDLE} to {MIDDLE + 2} "
        "are missing (deleted or moved?)"
    )


def test_deleting_the_first_event_is_detected_as_a_late_start() -> None:
    result = verify_chain(rows()[1:])

    assert (result.first_bad_seq, result.problem) == (1, "sequence starts at 2, not 1")
    assert (result.count, result.head_hash) == (0, GENESIS_HASH)


def test_swapping_two_events_contents_under_their_seqs_breaks_the_link() -> None:
    tampered = rows()
    a, b = tampered[MIDDLE - 1], tampered[MIDDLE]
    tampered[MIDDLE - 1], tampered[MIDDLE] = (a[0], *b[1:]), (b[0], *a[1:])

    result = verify_chain(tampered)

    assert result.first_bad_seq == MIDDLE
    assert result.problem == (
        f"event {MIDDLE}: prev_hash does not match event {MIDDLE - 1}'s hash "
        "(reordered or inserted?)"
    )


def test_reordering_two_rows_is_detected_at_the_first_displaced_event() -> None:
    tampered = rows()
    tampered[MIDDLE - 1], tampered[MIDDLE] = tampered[MIDDLE], tampered[MIDDLE - 1]

    result = verify_chain(tampered)

    assert result.first_bad_seq == MIDDLE
    assert result.problem is not None
    assert result.problem.startswith(f"sequence jumps from {MIDDLE - 1} to {MIDDLE + 1}")


def test_a_duplicated_row_is_detected() -> None:
    tampered = rows()
    tampered.insert(MIDDLE, tampered[MIDDLE - 1])

    result = verify_chain(tampered)

    assert result.first_bad_seq == MIDDLE + 1
    assert result.problem == f"event {MIDDLE} appears twice (duplicated?)"


def test_inserting_a_forged_event_and_renumbering_the_rest_is_detected_after_it() -> None:
    forged = next_event(
        prev=chain()[MIDDLE - 2],
        at=T0,
        kind="case.closed",
        actor="person:0042",
        subject="case:00000001",
        details={"comment": "closed, nothing to see"},
    )
    original = rows()
    renumbered = [(seq + 1, *rest) for seq, *rest in original[MIDDLE - 1 :]]
    tampered = [*original[: MIDDLE - 1], forged.as_row(), *renumbered]

    result = verify_chain(tampered)

    assert result.first_bad_seq == MIDDLE + 1
    assert result.problem == (
        f"event {MIDDLE + 1}: prev_hash does not match event {MIDDLE}'s hash "
        "(reordered or inserted?)"
    )


def test_inserting_a_row_with_a_made_up_hash_is_detected_at_it() -> None:
    original = rows()
    fake = (
        MIDDLE,
        T0.isoformat(),
        "case.closed",
        "person:1",
        "case:1",
        "{}",
        original[MIDDLE - 2][7],
    )
    renumbered = [(seq + 1, *rest) for seq, *rest in original[MIDDLE - 1 :]]
    tampered = [*original[: MIDDLE - 1], (*fake, "0" * 64), *renumbered]

    result = verify_chain(tampered)

    assert result.problem == f"event {MIDDLE}: hash does not match its contents (edited?)"


def test_truncating_the_tail_is_undetectable_without_a_checkpoint() -> None:
    result = verify_chain(rows()[:900])

    assert result.ok
    assert (result.count, result.head_seq) == (900, 900)


def test_truncating_the_tail_is_detected_with_a_checkpoint() -> None:
    result = verify_chain(rows()[:900], checkpoint=checkpoint_at(N))

    assert not result.ok
    assert result.checkpoint_ok is False
    assert result.first_bad_seq == 901
    assert (
        result.problem
        == f"the ledger ends at event 900 but the checkpoint is at event {N} (truncated?)"
    )
    assert (result.count, result.head_hash) == (900, chain()[899].hash)


def test_deleting_every_event_is_detected_with_a_checkpoint() -> None:
    result = verify_chain([], checkpoint=checkpoint_at(10))

    assert result.problem == "the ledger is empty but the checkpoint is at event 10 (truncated?)"


def rewritten_after_edit() -> list[LedgerEvent]:
    """The test ledger with event MIDDLE's details edited and every later hash recomputed."""
    inputs = [event_inputs(i) for i in range(MIDDLE, N + 1)]
    inputs[0] = {**inputs[0], "details": {"comment": "rewritten"}}
    return [*chain()[: MIDDLE - 1], *extend(chain()[MIDDLE - 2], inputs)]


def test_a_rewrite_with_recomputed_hashes_verifies_without_a_checkpoint() -> None:
    rewritten = rewritten_after_edit()

    assert rewritten[MIDDLE - 1].payload != chain()[MIDDLE - 1].payload
    assert verify_chain(rewritten).ok


@pytest.mark.parametrize("checkpoint_seq", [MIDDLE, 800, N])
def test_a_rewrite_with_recomputed_hashes_is_detected_by_a_checkpoint(checkpoint_seq: int) -> None:
    result = verify_chain(rewritten_after_edit(), checkpoint=checkpoint_at(checkpoint_seq))

    assert not result.ok
    assert result.checkpoint_ok is False
    assert result.first_bad_seq == checkpoint_seq
    assert result.problem == (
        f"event {checkpoint_seq}'s hash differs from the checkpoint (the ledger was rewritten)"
    )


def test_a_rewrite_after_the_checkpoint_passes_it() -> None:
    result = verify_chain(rewritten_after_edit(), checkpoint=checkpoint_at(MIDDLE - 1))

    assert result.ok
    assert result.checkpoint_ok is True


def test_a_ledger_grown_past_its_checkpoint_confirms_it() -> None:
    for seq in (1, 600, N):
        result = verify_chain(rows(), checkpoint=checkpoint_at(seq))
        assert (result.ok, result.checkpoint_ok, result.count) == (True, True, N)
        assert "checkpoint matches" in str(result)


def test_a_chain_broken_before_the_checkpoint_does_not_confirm_it() -> None:
    tampered = rows()
    tampered[9] = edited(tampered[9], kind="case.closed")

    result = verify_chain(tampered, checkpoint=checkpoint_at(N))

    assert (result.first_bad_seq, result.checkpoint_ok) == (10, False)
    assert str(result).startswith("ledger NOT verified: event 10: hash does not match")


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ((1, "x"), "the row after event 0 is malformed (2 fields)"),
        (None, "the row after event 0 is malformed (NoneType)"),
        (("1", *chain()[0].as_row()[1:]), "the row after event 0 has seq '1' (str), not an int"),
        ((1, None, *chain()[0].as_row()[2:]), "event 1: at is None (NoneType), not text"),
        ((1, "\ud800", *chain()[0].as_row()[2:]), "event 1: at is not valid Unicode text"),
        ((0, *chain()[0].as_row()[1:]), "sequence starts at 0, not 1"),
        ((1, *chain()[0].as_row()[1:6], "f" * 64, "f" * 64), "event 1: prev_hash does not"),
    ],
)
def test_a_malformed_row_is_reported_not_raised(row: object, problem: str) -> None:
    result = verify_chain([row])  # type: ignore[arg-type]

    assert not result.ok
    assert result.first_bad_seq == 1
    assert result.problem is not None
    assert result.problem.startswith(problem)


def test_progress_is_not_called_for_a_short_ledger() -> None:
    calls: list[int] = []

    verify_chain(rows(), progress=calls.append)

    assert calls == []


@st.composite
def ledgers(draw: st.DrawFn) -> list[LedgerEvent]:
    """Short valid ledgers with arbitrary (valid) text in every field."""
    name = st.text(st.characters(codec="utf-8", exclude_categories=["Cc"]), min_size=1, max_size=12)
    value = st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=12))
    n = draw(st.integers(1, 8))
    inputs = [
        {
            "at": draw(st.datetimes(timezones=st.just(UTC))),
            "kind": draw(name),
            "actor": draw(name),
            "subject": draw(name),
            "details": draw(st.dictionaries(st.text(max_size=6), value, max_size=4)),
        }
        for _ in range(n)
    ]
    return extend(None, inputs)


@settings(max_examples=300, deadline=None)
@given(events=ledgers(), data=st.data())
def test_any_single_byte_edit_anywhere_is_detected_at_that_event(
    events: list[LedgerEvent], data: st.DataObject
) -> None:
    assert verify_chain(events).ok
    index = data.draw(st.integers(0, len(events) - 1), label="event index")
    row = list(events[index].as_row())
    field = data.draw(st.integers(0, 7), label="field")
    if field == 0:
        digits = str(row[0])
        pos = data.draw(st.integers(0, len(digits) - 1), label="digit")
        new = data.draw(st.sampled_from([d for d in "0123456789" if d != digits[pos]]))
        row[0] = int(digits[:pos] + new + digits[pos + 1 :])
    else:
        raw = str(row[field]).encode()
        pos = data.draw(st.integers(0, len(raw) - 1), label="byte")
        new_byte = data.draw(st.integers(0, 255).filter(lambda b: b != raw[pos]), label="value")
        row[field] = (raw[:pos] + bytes([new_byte]) + raw[pos + 1 :]).decode(
            "utf-8", errors="surrogateescape"
        )
    tampered: list[object] = [e.as_row() for e in events]
    tampered[index] = tuple(row)

    result = verify_chain(tampered)  # type: ignore[arg-type]

    assert not result.ok
    assert result.first_bad_seq == index + 1
    assert result.count == index


# -- the hash format -------------------------------------------------------------------------


def test_the_documented_worked_example_is_sha256_of_json_dumps() -> None:
    fields = {
        "at": "2026-11-27T01:02:03.000004Z",
        "kind": "case.reported",
        "actor": "person:1",
        "subject": "case:1",
        "payload": '{"note":"井盖"}',
        "prev_hash": GENESIS_HASH,
    }
    array = json.dumps([1, *fields.values()], ensure_ascii=False, separators=(",", ":"))
    expected = hashlib.sha256(array.encode("utf-8")).hexdigest()

    assert expected == "31423ac86b31b896ace0e940a0d1fa4c176e3f820da9936d397d2d012bd6b0ad"
    assert event_hash(seq=1, **fields) == expected


# Every character JSON treats specially, plus arbitrary text that UTF-8 can encode.
TRICKY = st.sampled_from(['"', "\\", "/", "\x00", "\x1f", "\x7f", "\x85", "\u2028", "é", "😀"])
VALID_TEXT = st.text(st.one_of(TRICKY, st.characters(codec="utf-8")), max_size=40)


@settings(max_examples=300)
@given(seq=st.integers(1, 10**6), texts=st.lists(VALID_TEXT, min_size=6, max_size=6))
def test_event_bytes_are_the_utf8_of_json_dumps(seq: int, texts: list[str]) -> None:
    names = ("at", "kind", "actor", "subject", "payload", "prev_hash")

    ours = event_bytes(seq=seq, **dict(zip(names, texts, strict=True)))

    assert ours == json.dumps([seq, *texts], ensure_ascii=False, separators=(",", ":")).encode()


@settings(max_examples=500)
@given(texts=st.lists(st.lists(VALID_TEXT, min_size=5, max_size=5), min_size=1, max_size=5))
def test_rows_hashed_by_json_dumps_verify(texts: list[list[str]]) -> None:
    """Rows hashed by an independent implementation (json.dumps) verify: the encodings agree."""
    built, prev = [], GENESIS_HASH
    for seq, fields in enumerate(texts, start=1):
        array = json.dumps([seq, *fields, prev], ensure_ascii=False, separators=(",", ":"))
        digest = hashlib.sha256(array.encode()).hexdigest()
        built.append((seq, *fields, prev, digest))
        prev = digest

    assert verify_chain(built).ok


def test_event_hash_refuses_values_outside_the_format() -> None:
    base = {"at": "a", "kind": "k", "actor": "a", "subject": "s", "payload": "{}"}
    with pytest.raises(LedgerError, match=r"seq=True \(bool\) must be an int"):
        event_hash(seq=True, prev_hash=GENESIS_HASH, **base)
    with pytest.raises(LedgerError, match="prev_hash=None"):
        event_hash(seq=1, prev_hash=None, **base)  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match="lone surrogate"):
        event_hash(seq=1, prev_hash="\udcff", **base)


# -- canonical JSON --------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    st.dictionaries(
        st.text(max_size=8),
        st.one_of(st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=3)),
        max_size=8,
    ),
    st.randoms(),
)
def test_canonical_json_is_stable_under_key_order(
    value: dict[str, object], random: st.SearchStrategy[object]
) -> None:
    items = list(value.items())
    random.shuffle(items)  # type: ignore[attr-defined]

    assert canonical_json(dict(items)) == canonical_json(value)
    assert json.loads(canonical_json(value)) == value


def test_canonical_json_converts_times_enums_tuples_and_decimals() -> None:
    value = {
        "when": datetime(2026, 11, 27, 9, 2, 3, 4, tzinfo=CST),
        "day": date(2026, 11, 27),
        "status": Status.OPEN,
        Status.OPEN: "by enum key",
        "pair": (1, (2, 3)),
        "amount": Decimal("12.50"),
        "nested": {"b": 1, "a": [None, True, -0.5]},
        "name": "王小明",
    }

    assert canonical_json(value) == (
        '{"amount":12.5,"day":"2026-11-27","name":"王小明","nested":{"a":[null,true,-0.5],"b":1},'
        '"open":"by enum key","pair":[1,[2,3]],"status":"open",'
        '"when":"2026-11-27T01:02:03.000004Z"}'
    )


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"x": float("nan")}, r"value\['x'\] is nan; JSON has no NaN"),
        ({"x": [float("inf")]}, r"value\['x'\]\[0\] is inf"),
        ({"x": Decimal("NaN")}, r"value\['x'\] is Decimal\('NaN'\)"),
        ({"x": Decimal("-Infinity")}, "JSON has no NaN or infinity"),
        ({"t": datetime(2026, 1, 1)}, r"value\['t'\]: at=2026-01-01T00:00:00 has no timezone"),
        ({"s": {1, 2}}, r"value\['s'\] is a set .* pass sorted"),
        ({"b": b"\x00"}, r"value\['b'\] is a bytes .* bytes.hex"),
        ({"o": [object()]}, r"value\['o'\]\[0\] is a object"),
        ({1: "x"}, r"value has the key 1 \(int\); .* str\(\)"),
        ({"x": "\ud800"}, r"value\['x'\] contains a lone surrogate"),
        ({Status.OPEN: 1, "open": 2}, "has the key 'open' twice"),
    ],
)
def test_canonical_json_refuses_what_has_no_canonical_form(value: object, match: str) -> None:
    with pytest.raises(LedgerError, match=match):
        canonical_json(value)


def test_canonical_json_refuses_a_cycle_but_accepts_a_shared_value() -> None:
    shared = [1, 2]
    assert canonical_json({"a": shared, "b": shared}) == '{"a":[1,2],"b":[1,2]}'
    looped: dict[str, object] = {}
    looped["self"] = looped
    with pytest.raises(LedgerError, match=r"value\['self'\] contains itself"):
        canonical_json(looped)


def test_a_ledger_error_is_a_gridmgr_error_and_a_value_error() -> None:
    assert issubclass(LedgerError, GridMgrError)
    assert issubclass(LedgerError, ValueError)


# -- times -----------------------------------------------------------------------------------


@given(st.datetimes(timezones=st.timezones()))
def test_format_then_parse_time_is_the_same_instant(at: datetime) -> None:
    try:
        text = format_time(at)
    except TimeError:  # before year 1 once converted to UTC
        return
    assert len(text) == 27
    assert parse_time(text) == at.astimezone(UTC)  # the same instant, even in a DST gap
    assert format_time(parse_time(text)) == text


def test_a_naive_time_is_refused() -> None:
    with pytest.raises(TimeError, match="has no timezone"):
        format_time(datetime(2026, 1, 1))
    with pytest.raises(TimeError, match="has no timezone"):
        next_event(prev=None, at=datetime(2026, 1, 1), kind="k", actor="a", subject="s", details={})


@pytest.mark.parametrize(
    "text",
    ["2026-11-27T01:02:03Z", "2026-11-27T01:02:03.000004+00:00", "2026-13-27T01:02:03.000004Z", ""],
)
def test_parse_time_accepts_only_the_ledger_form(text: str) -> None:
    with pytest.raises(TimeError, match="ledger time"):
        parse_time(text)


# -- next_event ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("kind", "", "kind is empty"),
        ("actor", "x" * 201, "is 201 characters long; keep it to 200"),
        ("subject", "case:1\n", r"control character '\\n' at position 6"),
        ("kind", "case\x00", "control character"),
        ("actor", "person:\x85", "control character"),
        ("subject", 17, r"subject=17 \(int\) must be a str"),
    ],
)
def test_next_event_refuses_a_bad_name(field: str, value: object, match: str) -> None:
    kwargs: dict[str, object] = {"kind": "k", "actor": "a", "subject": "s", field: value}
    with pytest.raises(LedgerError, match=match):
        next_event(prev=None, at=T0, details={}, **kwargs)  # type: ignore[arg-type]


def test_next_event_accepts_a_200_character_unicode_name() -> None:
    event = next_event(prev=None, at=T0, kind="k", actor="王" * 200, subject="s", details={})

    assert event.actor == "王" * 200


def test_next_event_refuses_details_that_are_not_a_mapping_or_not_json() -> None:
    with pytest.raises(LedgerError, match="must be a mapping"):
        next_event(prev=None, at=T0, kind="k", actor="a", subject="s", details=[1])  # type: ignore[arg-type]
    with pytest.raises(LedgerError, match=r"details\['x'\] is nan"):
        next_event(prev=None, at=T0, kind="k", actor="a", subject="s", details={"x": float("nan")})


# -- checkpoints -----------------------------------------------------------------------------


def test_a_checkpoint_round_trips_through_its_json_file() -> None:
    checkpoint = checkpoint_at(N)
    text = checkpoint.to_json()

    assert Checkpoint.from_json(text) == checkpoint
    assert json.loads(text)["format"] == "gridmgr-ledger-checkpoint/1"


def test_a_checkpoint_is_taken_from_a_successful_verification_only() -> None:
    taken = verification_to_checkpoint(verify_chain(rows()), at=T0)

    assert (taken.seq, taken.count, taken.hash) == (N, N, chain()[-1].hash)
    assert taken.at == format_time(T0)
    with pytest.raises(LedgerError, match="cannot checkpoint a ledger that failed verification"):
        verification_to_checkpoint(verify_chain(rows()[1:]), at=T0)


GOOD = json.loads(Checkpoint(seq=3, hash="a" * 64, at=format_time(T0), count=3).to_json())


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("{not json", "the text is not JSON"),
        ("[1, 2]", "expected a JSON object, got list"),
        (json.dumps({**GOOD, "format": "other/1"}), "format is 'other/1'"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "hash"}), r"missing \['hash'\]"),
        (json.dumps({**GOOD, "extra": 1}), r"unknown \['extra'\]"),
        (json.dumps({**GOOD, "hash": "A" * 64}), "must be 64 lowercase hex digits"),
        (json.dumps({**GOOD, "seq": "3"}), r"checkpoint seq='3' must be an int >= 0"),
        (json.dumps({**GOOD, "seq": -1, "count": -1}), "must be an int >= 0"),
        (json.dumps({**GOOD, "count": 4}), "count=4 differs from seq=3"),
        (json.dumps({**GOOD, "at": "yesterday"}), "checkpoint at: ledger time 'yesterday'"),
        (json.dumps({**GOOD, "seq": 0, "count": 0}), "must carry GENESIS_HASH"),
    ],
)
def test_a_malformed_checkpoint_file_is_refused_with_the_reason(text: str, match: str) -> None:
    with pytest.raises(LedgerError, match=match):
        Checkpoint.from_json(text)


def test_a_checkpoint_of_an_empty_ledger_is_confirmed_by_any_ledger() -> None:
    empty = verification_to_checkpoint(verify_chain([]), at=T0)

    assert verify_chain([], checkpoint=empty).checkpoint_ok is True
    assert verify_chain(rows(), checkpoint=empty).checkpoint_ok is True


# -- scale -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_two_hundred_thousand_rows_verify_and_report_progress() -> None:
    n = 200_000
    built: list[Row] = []
    prev = GENESIS_HASH
    payload = canonical_json({"cell": "320281001002003", "comment": "井盖缺失"})
    for seq in range(1, n + 1):
        at = format_time(T0 + timedelta(milliseconds=seq))
        fields = (at, KINDS[seq % 5], ACTORS[seq % 4], f"case:{seq:08x}", payload)
        digest = event_hash(
            seq=seq,
            at=fields[0],
            kind=fields[1],
            actor=fields[2],
            subject=fields[3],
            payload=fields[4],
            prev_hash=prev,
        )
        built.append((seq, *fields, prev, digest))
        prev = digest
    calls: list[int] = []

    result = verify_chain(
        built,
        checkpoint=Checkpoint(seq=n, hash=prev, at=built[-1][1], count=n),
        progress=calls.append,
    )

    assert (result.ok, result.count, result.head_hash, result.checkpoint_ok) == (
        True,
        n,
        prev,
        True,
    )
    assert calls == [100_000, 200_000]
