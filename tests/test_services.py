"""Services: group-commit ingest (many threads, one writer), and who a dispatch goes to."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy.exc import IntegrityError

from gridmgr.cases import Action, Actor, Role, open_case
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import field_post
from gridmgr.responsibility.routing import route_incident
from gridmgr.services.actions import act, owner_now
from gridmgr.services.reports import Ingestor, Reported, report_incident
from gridmgr.store import Store
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
OPERATOR = Actor("op-1", Role.OPERATOR)


def test_concurrent_reports_through_the_ingestor_are_all_committed_once(store: Store) -> None:
    context = tiny_context()
    ingestor = Ingestor(store, max_batch=16)
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def client(k: int) -> None:
        for i in range(15):
            r = report_incident(
                store,
                context,
                reporter=OPERATOR,
                category="street_vending",
                at=AT + timedelta(seconds=k * 100 + i),
                description=f"c{k} r{i}",
                lon=120.01 + 0.03 * k,
                lat=31.51 + 0.03 * i,
                ingestor=ingestor,
            )
            with lock:
                results.append((r.case.case_id, r.number))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ingestor.close()

    assert len(results) == 120
    assert sorted(n for _, n in results) == list(range(1, 121))
    assert store.count_cases() == 120
    for case_id, _ in results:
        assert store.trail(case_id)[0].verified
    verification = store.verify_ledger()
    assert verification.ok
    assert verification.count == 120


def test_one_failing_report_does_not_sink_the_rest_of_its_batch(store: Store) -> None:
    context = tiny_context()
    decision = route_incident(context, category="street_vending", at=AT, lon=120.1, lat=31.6)
    first, first_event = open_case(
        case_id="a" * 32, decision=decision, reporter=OPERATOR, description="原件", at=AT
    )
    store.report_opened([(first, first_event, decision)])
    clash, clash_event = open_case(
        case_id="a" * 32, decision=decision, reporter=OPERATOR, description="重复编号", at=AT
    )
    good, good_event = open_case(
        case_id="b" * 32, decision=decision, reporter=OPERATOR, description="正常", at=AT
    )
    ingestor = Ingestor(store)
    outcome: dict[str, object] = {}

    def submit(name: str, item: tuple) -> None:  # type: ignore[type-arg]
        try:
            outcome[name] = ingestor.write(*item)
        except IntegrityError as exc:
            outcome[name] = exc

    threads = [
        threading.Thread(target=submit, args=("clash", (clash, clash_event, decision))),
        threading.Thread(target=submit, args=("good", (good, good_event, decision))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ingestor.close()

    assert isinstance(outcome["clash"], IntegrityError)
    assert store.case("b" * 32).description == "正常"
    assert store.case("a" * 32).description == "原件"
    assert store.verify_ledger().count == 2


def test_a_dispatch_without_an_assignee_goes_to_the_cells_owner_now(store: Store) -> None:
    context = tiny_context()
    case_id = report_incident(
        store,
        context,
        reporter=OPERATOR,
        category="street_vending",
        at=AT,
        description="占道",
        lon=120.0625,
        lat=31.5625,
    ).case.case_id
    act(store, context, case_id, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案")

    dispatched = act(
        store, context, case_id, Action.DISPATCH, actor=OPERATOR, at=AT, comment="派遣"
    )

    cell = store.case(case_id).cell
    assert cell is not None
    owner = context.roster.owner(field_post(cell), AT)
    assert owner is not None
    assert dispatched.assignee is not None
    assert dispatched.assignee.person_id == owner.person_id
    assert dispatched.assignee == owner_now(store, context, case_id, AT)


def test_an_out_of_grid_case_is_dispatched_to_the_duty_operator(store: Store) -> None:
    context = tiny_context()
    case_id = report_incident(
        store,
        context,
        reporter=OPERATOR,
        category="gas_leak",
        at=AT,
        description="燃气味",
        lon=121.0,
        lat=31.7,
    ).case.case_id

    assignee = owner_now(store, context, case_id, AT)

    assert assignee.post == "operator:"
    assert assignee.person_id in {p.person_id for p in context.roster.on_duty(AT)}


@pytest.mark.parametrize("max_batch", [1, 3])
def test_the_ingestor_preserves_report_order_within_one_thread(
    store: Store, max_batch: int
) -> None:
    context = tiny_context()
    ingestor = Ingestor(store, max_batch=max_batch)
    numbers = [
        report_incident(
            store,
            context,
            reporter=OPERATOR,
            category="street_vending",
            at=AT + timedelta(minutes=i),
            description=f"#{i}",
            lon=120.1,
            lat=31.6,
            ingestor=ingestor,
        ).number
        for i in range(5)
    ]
    ingestor.close()

    assert numbers == [1, 2, 3, 4, 5]


def test_a_failed_batch_is_retried_report_by_report() -> None:
    from concurrent.futures import Future

    from gridmgr.services.reports import _Pending

    class Picky:
        """A store refusing any transaction that contains the case 'bad'."""

        def __init__(self) -> None:
            self.transactions: list[list[str]] = []

        def report_opened(self, items: list[tuple]) -> list[tuple]:  # type: ignore[type-arg]
            ids = [case.case_id for case, _, _ in items]
            self.transactions.append(ids)
            if "bad" in ids:
                raise ValueError("refused")
            return [(case, i) for i, (case, _, _) in enumerate(items, 1)]

    class Case:
        def __init__(self, case_id: str) -> None:
            self.case_id = case_id

    picky = Picky()
    ingestor = Ingestor(picky)  # type: ignore[arg-type]
    batch = [
        _Pending((Case(x), None, None), Future())  # type: ignore[arg-type]
        for x in ("ok1", "bad", "ok2")
    ]

    ingestor._commit(batch)
    ingestor.close()

    assert picky.transactions == [["ok1", "bad", "ok2"], ["ok1"], ["bad"], ["ok2"]]
    assert batch[0].future.result()[0].case_id == "ok1"
    assert isinstance(batch[1].future.exception(), ValueError)
    assert batch[2].future.result()[0].case_id == "ok2"


def test_a_write_undone_in_a_batch_after_its_ledger_event_leaves_the_chain_whole(
    store: Store,
) -> None:
    # the second report's case is inserted and ledgered, then its (channel, source_id) clash
    # undoes its savepoint: the batch's remembered ledger head must be read again
    context = tiny_context()

    def report(source_id: str) -> Reported:
        return report_incident(
            store,
            context,
            reporter=OPERATOR,
            category="street_vending",
            at=AT,
            description="resent",
            lon=120.01,
            lat=31.51,
            channel="hotline",
            source_id=source_id,
        )

    with store.batch():
        first = report("S1")
        with pytest.raises(IntegrityError):
            report("S1")
        third = report("S2")
    verification = store.verify_ledger()
    assert verification.ok, verification.problem
    assert store.trail(third.case.case_id)[0].ledger.seq == (
        store.trail(first.case.case_id)[0].ledger.seq + 1
    )
