"""The store on SQLite and PostgreSQL: cases with their events and ledger in one transaction,
the append-only ledger, tamper detection in the database, escalation, and safety refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import DBAPIError

from gridmgr.cases import Action, Actor, CaseState, GuardError, IllegalTransitionError, Role
from gridmgr.errors import StoreError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.actions import act
from gridmgr.services.escalation import ESCALATOR, escalate_overdue
from gridmgr.services.reports import report_incident
from gridmgr.store import CaseFilter, Store, open_store
from gridmgr.store.engine import make_engine
from gridmgr.store.migrate import check_schema
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)  # a Wednesday morning, working time
INSIDE = {"lon": 120.0625, "lat": 31.5625}
OPERATOR = Actor("op-1", Role.OPERATOR, "值班员")


def reported(store: Store, *, category: str = "street_vending", at: datetime = AT) -> str:
    return report_incident(
        store,
        tiny_context(),
        reporter=OPERATOR,
        category=category,
        at=at,
        description="占道",
        **INSIDE,
    ).case.case_id


def dispatched(store: Store, *, at: datetime = AT) -> str:
    case_id = reported(store, at=at)
    context = tiny_context()
    act(
        store,
        context,
        case_id,
        Action.REGISTER,
        actor=OPERATOR,
        at=at + timedelta(minutes=1),
        comment="立案",
    )
    act(
        store,
        context,
        case_id,
        Action.DISPATCH,
        actor=OPERATOR,
        at=at + timedelta(minutes=2),
        comment="派遣",
    )
    return case_id


def drop_ledger_guards(store: Store) -> None:
    """What an attacker with database-admin rights would do first."""
    if store.backend == "sqlite":
        store.execute_sql_for_tests("DROP TRIGGER ledger_no_update")
        store.execute_sql_for_tests("DROP TRIGGER ledger_no_delete")
    else:
        store.execute_sql_for_tests("DROP TRIGGER ledger_no_update_delete ON ledger")


def test_a_report_opens_a_case_with_its_event_and_ledger_entry_in_one_transaction(
    store: Store,
) -> None:
    result = report_incident(
        store,
        tiny_context(),
        reporter=OPERATOR,
        category="street_vending",
        at=AT,
        description="占道经营",
        **INSIDE,
    )

    case = store.case(result.case.case_id)
    assert case == result.case
    assert case.state is CaseState.REPORTED
    assert case.cell == result.decision.cell_path.tier3  # type: ignore[union-attr]
    assert result.number == 1
    trail = store.trail(case.case_id)
    assert [(e.action, e.to_state, e.verified) for e in trail] == [("report", "reported", True)]
    assert trail[0].ledger.subject == f"case:{case.case_id}"
    assert store.verify_ledger().ok


def test_the_lifecycle_runs_to_evaluation_and_every_step_is_in_the_ledger(store: Store) -> None:
    context = tiny_context()
    case_id = dispatched(store)
    worker = store.case(case_id).assignee
    assert worker is not None
    me = Actor(worker.person_id, Role.WORKER, worker.name)
    head = Actor("head-1", Role.HEAD)
    steps = [
        (Action.ACCEPT, me),
        (Action.START, me),
        (Action.HANDLE, me),
        (Action.VERIFY, head),
        (Action.CLOSE, OPERATOR),
    ]
    at = AT + timedelta(minutes=10)
    for action, actor in steps:
        at += timedelta(minutes=10)
        act(store, context, case_id, action, actor=actor, at=at, comment=f"{action.value} 已完成")
    act(
        store,
        context,
        case_id,
        Action.EVALUATE,
        actor=OPERATOR,
        at=at + timedelta(hours=1),
        comment="满意",
        rating=5,
    )

    case = store.case(case_id)
    trail = store.trail(case_id)
    assert case.state is CaseState.EVALUATED
    assert case.handler == me.actor_id
    assert [e.action for e in trail] == [
        "report",
        "register",
        "dispatch",
        "accept",
        "start",
        "handle",
        "verify",
        "close",
        "evaluate",
    ]
    assert all(e.verified for e in trail)
    assert [e.ledger.seq for e in trail] == list(range(1, 10))
    assert store.verify_ledger().count == 9


def test_a_refused_action_changes_nothing_and_writes_no_event(store: Store) -> None:
    context = tiny_context()
    case_id = dispatched(store)
    stranger = Actor("someone-else", Role.WORKER)
    before = store.case(case_id)
    head = store.ledger_head()

    with pytest.raises(GuardError):
        act(
            store,
            context,
            case_id,
            Action.ACCEPT,
            actor=stranger,
            at=AT + timedelta(hours=1),
            comment="签收",
        )
    with pytest.raises(IllegalTransitionError, match="dispatched"):
        act(
            store,
            context,
            case_id,
            Action.CLOSE,
            actor=OPERATOR,
            at=AT + timedelta(hours=1),
            comment="结案",
        )

    assert store.case(case_id) == before
    assert store.ledger_head() == head


def test_the_database_refuses_update_and_delete_on_the_ledger(store: Store) -> None:
    reported(store)
    for statement in ("UPDATE ledger SET kind = 'forged'", "DELETE FROM ledger"):
        with pytest.raises(DBAPIError, match="append-only"):
            store.execute_sql_for_tests(statement)
    assert store.verify_ledger().ok


@pytest.mark.parametrize(
    ("tamper", "first_bad", "needs_checkpoint"),
    [
        ("UPDATE ledger SET payload = replace(payload, '占道', '无事') WHERE seq = 2", 2, False),
        ("UPDATE ledger SET actor = 'nobody' WHERE seq = 3", 3, False),
        (
            "DELETE FROM case_events WHERE ledger_seq = 2; DELETE FROM ledger WHERE seq = 2",
            2,
            False,
        ),
        (
            "DELETE FROM case_events WHERE ledger_seq >= 3; DELETE FROM ledger WHERE seq >= 3",
            None,
            True,
        ),
    ],
    ids=["edit-payload", "edit-actor", "delete-row", "truncate-tail"],
)
def test_tampering_in_the_database_is_detected_and_names_the_event(
    store: Store, tamper: str, first_bad: int | None, needs_checkpoint: bool
) -> None:
    for minute in range(4):
        reported(store, at=AT + timedelta(minutes=minute))
    checkpoint = store.checkpoint(at=AT + timedelta(hours=1))
    drop_ledger_guards(store)
    for statement in tamper.split(";"):
        store.execute_sql_for_tests(statement)

    plain = store.verify_ledger()
    against = store.verify_ledger(checkpoint=checkpoint)

    assert not against.ok
    if needs_checkpoint:
        assert plain.ok  # a truncated tail is a valid shorter chain ...
        assert "truncated" in (against.problem or "")  # ... until the checkpoint is consulted
    else:
        assert not plain.ok
        assert plain.first_bad_seq == first_bad
        assert str(first_bad) in (plain.problem or "")


def test_swapping_two_events_is_detected(store: Store) -> None:
    for minute in range(3):
        reported(store, at=AT + timedelta(minutes=minute))
    drop_ledger_guards(store)
    found = store.execute_sql_for_tests("SELECT * FROM ledger WHERE seq IN (1, 2)")
    rows = {r["seq"]: r for r in found}
    for seq, other in ((1, 2), (2, 1)):
        store.execute_sql_for_tests(
            "UPDATE ledger SET at=:at, kind=:kind, actor=:actor, subject=:subject, "
            "payload=:payload, prev_hash=:prev_hash, hash=:hash WHERE seq=:seq",
            {**rows[other], "seq": seq},
        )

    result = store.verify_ledger()

    assert not result.ok
    assert result.first_bad_seq == 1


def test_a_rewritten_chain_with_recomputed_hashes_is_caught_by_the_checkpoint(store: Store) -> None:
    from gridmgr.ledger import GENESIS_HASH, event_hash

    for minute in range(3):
        reported(store, at=AT + timedelta(minutes=minute))
    checkpoint = store.checkpoint(at=AT + timedelta(hours=1))
    drop_ledger_guards(store)
    rows = store.execute_sql_for_tests("SELECT * FROM ledger ORDER BY seq")
    rows[0]["actor"] = "forger"
    prev = GENESIS_HASH
    for row in rows:
        row["prev_hash"] = prev
        row["hash"] = prev = event_hash(
            **{k: row[k] for k in ("seq", "at", "kind", "actor", "subject", "payload", "prev_hash")}
        )
        store.execute_sql_for_tests(
            "UPDATE ledger SET actor=:actor, prev_hash=:prev_hash, hash=:hash WHERE seq=:seq", row
        )

    assert store.verify_ledger().ok  # internally consistent ...
    result = store.verify_ledger(checkpoint=checkpoint)
    assert not result.ok  # ... but not the chain that was published
    assert "rewritten" in (result.problem or "")


def test_an_overdue_stage_escalates_one_tier_up_exactly_once_even_after_downtime(
    store: Store,
) -> None:
    context = tiny_context()
    case_id = dispatched(store)
    case = store.case(case_id)
    assert case.due_at is not None
    assert case.assignee is not None

    assert escalate_overdue(store, context, now=case.due_at - timedelta(minutes=1)) == []
    late = case.due_at + timedelta(days=3)  # the server was down for three days
    first = escalate_overdue(store, context, now=late)
    again = escalate_overdue(store, context, now=late + timedelta(hours=1))

    assert [c.case_id for c in first] == [case_id]
    assert again == []
    escalated = store.case(case_id)
    assert escalated.escalation_level == 1
    assert escalated.state is CaseState.DISPATCHED  # escalation supervises; it does not reassign
    event = store.trail(case_id)[-1]
    assert (event.action, event.actor) == ("escalate", ESCALATOR.actor_id)
    head_post = f"grid_head:{case.cell[:12]}"  # type: ignore[index]
    assert event.details["escalate_to"]["post"] == head_post  # type: ignore[index]
    assert event.verified


def test_the_next_stage_can_escalate_again(store: Store) -> None:
    context = tiny_context()
    case_id = dispatched(store)
    due = store.case(case_id).due_at
    assert due is not None
    escalate_overdue(store, context, now=due + timedelta(minutes=5))
    worker = store.case(case_id).assignee
    assert worker is not None
    me = Actor(worker.person_id, Role.WORKER)
    act(
        store,
        context,
        case_id,
        Action.ACCEPT,
        actor=me,
        at=due + timedelta(minutes=10),
        comment="签收",
    )
    handle_due = store.case(case_id).due_at
    assert handle_due is not None

    escalate_overdue(store, context, now=handle_due + timedelta(minutes=1))

    assert store.case(case_id).escalation_level == 2


def test_cases_are_listed_by_subtree_state_and_overdue(store: Store) -> None:
    first = dispatched(store)
    second = reported(store, at=AT + timedelta(minutes=5))
    due = store.case(first).due_at
    assert due is not None
    town = "320281001"

    assert {c.case_id for c in store.cases(CaseFilter(subtree=town))} == {first, second}
    assert [c.case_id for c in store.cases(CaseFilter(states=["reported"]))] == [second]
    # the report waits at 立案 on its own 30-minute clock: both are overdue by then
    assert [c.case_id for c in store.cases(CaseFilter(overdue_at=due + timedelta(seconds=1)))] == [
        second,
        first,
    ]
    assert store.cases(CaseFilter(subtree="320281002")) == []
    assert store.count_cases(CaseFilter(open_only=True)) == 2
    gas = reported(store, category="gas_leak", at=AT + timedelta(minutes=9))
    assert [c.case_id for c in store.cases(CaseFilter(categories=["gas_leak"]))] == [gas]


def test_an_out_of_grid_report_is_kept_in_its_queue(store: Store) -> None:
    result = report_incident(
        store,
        tiny_context(),
        reporter=OPERATOR,
        category="gas_leak",
        at=AT,
        description="燃气味",
        lon=121.0,
        lat=31.7,
    )

    assert result.case.cell is None
    assert [c.case_id for c in store.cases(CaseFilter(queue="out_of_grid"))] == [
        result.case.case_id
    ]


def test_an_unsafe_sqlite_database_is_refused_with_the_reason(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'unsafe.sqlite'}"
    engine = make_engine(url)
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def weaken(dbapi_connection: object, _record: object) -> None:
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")  # type: ignore[attr-defined]

    from gridmgr.store.engine import check_engine

    with pytest.raises(StoreError, match="synchronous=NORMAL"):
        check_engine(engine)


def test_a_database_without_the_schema_is_refused_until_init(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite'}"
    with pytest.raises(StoreError, match="gridmgr db init"):
        open_store(url)
    open_store(url, create=True).close()
    check_schema(make_engine(url))
