"""What a batch knows of the open cases (:mod:`gridmgr.store.openwatch`): an escalation pass
inside ``Store.batch`` finds exactly what the database query finds, whatever the cases hold and
whatever the batch has held back since it first looked (tiny grid, on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gridmgr.cases import Action, Actor, Assignee, Case, CaseState, Role
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.sla import Stage
from gridmgr.services.actions import act
from gridmgr.services.escalation import escalate_overdue, hand_over
from gridmgr.services.reports import report_incident
from gridmgr.store import Store
from gridmgr.store.openwatch import OpenCaseWatch
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)  # a Wednesday morning, working time
OPERATOR = Actor("op-1", Role.OPERATOR)
PEOPLE = ("P1", "P2", "P3")
NOWS = [AT + timedelta(minutes=m) for m in (-61, -30, -1, 0, 1, 30, 61)]
CREWS: list[tuple[str, ...]] = [(), ("P1",), ("P1", "P2"), PEOPLE]


@st.composite
def stored_cases(draw: st.DrawFn, n: int) -> tuple[Case, str]:
    """A case row of any state, queue, stage, card, deadline and holder (around :data:`AT`)."""
    holder = draw(
        st.one_of(
            st.none(),
            st.builds(
                Assignee,
                st.sampled_from(PEOPLE),
                st.sampled_from(["operator:", "grid_worker:1", "town_leader:1"]),
                st.just("某人"),
            ),
        )
    )
    due = draw(st.one_of(st.none(), st.sampled_from([-60, -1, 0, 1, 60])))
    case = Case(
        case_id=f"c{n:03d}",
        category="street_vending",
        state=draw(st.sampled_from(list(CaseState))),
        reported_at=AT - timedelta(days=1),
        updated_at=AT - timedelta(days=1),
        reporter="r",
        description="d",
        generation_id="tiny",
        stage=draw(st.one_of(st.none(), st.sampled_from(list(Stage)))),
        due_at=None if due is None else AT + timedelta(minutes=due),
        holder=holder,
        card=draw(st.sampled_from([None, "yellow", "red"])),
    )
    return case, draw(st.sampled_from(["grid", "merged", "out_of_grid"]))


def _answers(store: Store) -> list[list[str]]:
    """What every question of an escalation pass gets, at each of :data:`NOWS` and
    :data:`CREWS`."""
    due = [[c.case_id for c in store.to_escalate(now)] for now in NOWS]
    desk = [[c.case_id for c in store.desk_cases_not_held_by(crew)] for crew in CREWS]
    return due + desk


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), count=st.integers(0, 8))
def test_a_pass_inside_a_batch_finds_what_the_query_finds(
    store: Store, data: st.DataObject, count: int
) -> None:
    found = [data.draw(stored_cases(n)) for n in range(count)]
    store.execute_sql_for_tests("DELETE FROM cases")
    store.insert_bare_cases_for_benchmarks((case, queue, "citizen") for case, queue in found)
    # bare rows have no ledger event: one marks the change, as every change of a case has
    store.record(at=AT, kind="test.cases", actor="test", subject="test", details={})
    outside = _answers(store)
    with store.batch():
        assert _answers(store) == outside


def _report(store: Store, minutes: int) -> Case:
    return report_incident(
        store,
        tiny_context(),
        reporter=OPERATOR,
        category="street_vending",
        at=AT + timedelta(minutes=minutes),
        description="占道经营",
        lon=120.0625,
        lat=31.5625,
    ).case


def test_a_pass_sees_the_reports_and_actions_held_back_after_it_first_looked(
    store: Store,
) -> None:
    context = tiny_context()
    with store.batch():
        assert escalate_overdue(store, context, now=AT) == []  # nothing open yet
        case = _report(store, 0)
        registered = act(
            store, context, case.case_id, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案"
        )
        assert registered.due_at is not None
        assert escalate_overdue(store, context, now=registered.due_at - timedelta(minutes=1)) == []
        [up] = escalate_overdue(store, context, now=registered.due_at)
        assert (up.case_id, up.rung) == (case.case_id, 1)
        assert (up.card, up.due_at is not None) == ("red", True)  # the center's leader: the top
        assert escalate_overdue(store, context, now=AT + timedelta(days=9)) == []
    assert [t.action for t in store.trail(case.case_id)] == ["report", "register", "escalate"]


def test_a_deadline_moved_earlier_is_seen() -> None:
    watch = OpenCaseWatch()
    case = Case(
        case_id="c1",
        category="street_vending",
        state=CaseState.DISPATCHED,
        reported_at=AT,
        updated_at=AT,
        reporter="r",
        description="d",
        generation_id="tiny",
        stage=Stage.SIGN,
        due_at=AT + timedelta(hours=2),
        holder=Assignee("P1", "grid_worker:1", "某人"),
    )
    watch.note(case)
    assert not watch.is_due_by(AT + timedelta(hours=1))
    watch.note(replace(case, due_at=AT + timedelta(minutes=30)))
    assert watch.is_due_by(AT + timedelta(hours=1))
    assert not watch.has_desk_work_besides(["P2"])
    watch.note(replace(case, state=CaseState.VERIFIED, holder=Assignee("P1", "operator:", "某人")))
    assert watch.has_desk_work_besides(["P2"])
    assert not watch.has_desk_work_besides(["P1"])
    watch.note(replace(case, state=CaseState.CLOSED, stage=None, due_at=None, holder=None))
    assert not watch.is_due_by(AT + timedelta(days=9))
    assert not watch.has_desk_work_besides([])


def test_the_next_shift_takes_over_the_desk_reported_inside_the_same_batch(
    store: Store,
) -> None:
    context = tiny_context()
    later = AT + timedelta(hours=8)  # the next 8-hour shift
    with store.batch():
        assert hand_over(store, context, now=AT) == 0  # the watch is read: nothing open yet
        first = [_report(store, i) for i in range(4)]
        assert all(c.holder is not None for c in first)
        assert hand_over(store, context, now=AT + timedelta(minutes=5)) == 0  # same crew
        assert hand_over(store, context, now=later) == 4
        assert hand_over(store, context, now=later) == 0  # the handover's write is seen
    assert store.ledger_head() is not None
