"""Several nodes on one database: single-runner job locks, delivery leases, the stored ledger
verification. Two stores opened on one database are two nodes."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr.cases import Actor, Role
from gridmgr.notifications import Notice, Trigger
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Roster
from gridmgr.server import Prepared, _background
from gridmgr.services.context import Services
from gridmgr.services.delivery import deliver_pending
from gridmgr.services.invariants import LedgerWatch
from gridmgr.services.loops import SingleRunner
from gridmgr.services.reference import adopt_reference, import_roster
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import Notification, Store, open_store
from gridmgr.store.reference import roster_checksum
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
LEASE = timedelta(minutes=2)


@pytest.fixture
def nodes(db_url: str) -> Iterator[tuple[Store, Store]]:
    """Two nodes: two stores (two engines, two pools) on one database."""
    a = open_store(db_url, create=True)
    b = open_store(db_url)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


def a_job() -> str:
    """A job name no other test uses (advisory locks are per server, keyed by schema too)."""
    return f"job-{uuid.uuid4().hex[:8]}"


def wait_for(condition: Callable[[], bool], *, within: float = 20.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``within`` seconds pass (False)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_a_job_lock_is_held_by_one_node_at_a_time(nodes: tuple[Store, Store]) -> None:
    a, b = nodes
    job = a_job()
    on_a, on_b = a.job_lock(job), b.job_lock(job)

    assert on_a.hold()
    assert not on_b.hold()
    assert on_a.hold()  # still held: a keeps it across passes
    assert not on_b.hold()

    on_a.release()
    assert on_b.hold()
    assert not on_a.hold()
    on_b.release()


def test_different_jobs_run_on_different_nodes(nodes: tuple[Store, Store]) -> None:
    a, b = nodes
    first, second = a.job_lock(a_job()), b.job_lock(a_job())
    assert first.hold()
    assert second.hold()
    first.release()
    second.release()


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_a_node_whose_session_ends_frees_its_job_for_another(nodes: tuple[Store, Store]) -> None:
    a, b = nodes
    job = a_job()
    on_a, on_b = a.job_lock(job), b.job_lock(job)
    assert on_a.hold()
    assert not on_b.hold()

    # node a "dies": the database ends its lock's session, as when its process is killed
    ended = b.execute_sql_for_tests(
        "SELECT pg_terminate_backend(a.pid) AS ended FROM pg_stat_activity a "
        "JOIN pg_locks l ON l.pid = a.pid AND l.locktype = 'advisory' AND l.granted "
        "WHERE a.application_name LIKE :app",
        {"app": f"gridmgr-job:{job}@%"},
    )
    assert [r["ended"] for r in ended] == [True]

    assert wait_for(on_b.hold)
    assert not on_a.hold()  # a notices its session is gone, and the job is b's now
    on_a.release()
    on_b.release()


def test_a_single_runner_runs_its_job_on_one_node_and_fails_over(
    nodes: tuple[Store, Store],
) -> None:
    a, b = nodes
    job = a_job()
    passes: dict[str, int] = {"a": 0, "b": 0}
    lock = threading.Lock()

    class Counting:
        def __init__(self, node: str) -> None:
            self.node = node

        def start(self) -> None:
            with lock:
                passes[self.node] += 1

        def stop(self) -> None:
            pass

    on_a = SingleRunner(a.job_lock(job), lambda: Counting("a"), check_every=0.02)
    on_b = SingleRunner(b.job_lock(job), lambda: Counting("b"), check_every=0.02)
    on_a.start()
    assert wait_for(lambda: on_a.running)
    on_b.start()
    for _ in range(10):  # b checks again and again, and stays in standby
        time.sleep(0.02)
        assert not on_b.running
    assert passes == {"a": 1, "b": 0}

    on_a.stop()  # a stops (or dies): b takes the job over
    assert wait_for(lambda: on_b.running)
    on_b.stop()
    assert passes == {"a": 1, "b": 1}
    assert not on_a.running
    assert not on_b.running


def notices(store: Store, count: int) -> list[int]:
    """``count`` notices on one case, planned for the webhook channel; their ids."""
    case_id = report_incident(
        store,
        tiny_context(),
        reporter=Actor("op-1", Role.OPERATOR),
        category="street_vending",
        at=AT,
        description="占道经营",
        lon=120.0625,
        lat=31.5625,
    ).case.case_id
    made = [
        (Notice(case_id, f"p-{i}", Trigger.DISPATCHED, "派遣", {"i": i}, f"k-{i}"), AT)
        for i in range(count)
    ]
    assert store.add_notices(made) == count
    assert store.plan_deliveries(["webhook"], now=AT, horizon=AT - timedelta(days=1)) == count
    return [d.delivery_id for d in store.due_deliveries(["webhook"], now=AT)]


def test_a_claimed_delivery_is_not_claimed_by_another_node_until_its_lease_ends(
    nodes: tuple[Store, Store],
) -> None:
    a, b = nodes
    ids = notices(a, 3)

    claimed = a.claim_deliveries(["webhook"], now=AT, node="a", lease=LEASE, limit=2)
    assert [d.delivery_id for d in claimed] == ids[:2]
    rest = b.claim_deliveries(["webhook"], now=AT, node="b", lease=LEASE)
    assert [d.delivery_id for d in rest] == ids[2:]  # b gets only what a did not claim
    assert b.claim_deliveries(["webhook"], now=AT + LEASE / 2, node="b", lease=LEASE) == []

    # a delivers one and dies with the other: its lease ends, and b takes that one over
    a.record_delivery_attempt(claimed[0], at=AT, error=None, retry_at=None)
    later = AT + LEASE + timedelta(seconds=1)
    taken = b.claim_deliveries(["webhook"], now=later, node="b", lease=LEASE)
    assert sorted(d.delivery_id for d in taken) == sorted([ids[1], ids[2]])


def test_claims_not_tried_in_a_pass_are_given_back(nodes: tuple[Store, Store]) -> None:
    a, b = nodes
    ids = notices(a, 2)
    claimed = a.claim_deliveries(["webhook"], now=AT, node="a", lease=LEASE)
    assert b.release_deliveries(ids, node="b") == 0  # not b's to give back
    assert a.release_deliveries([claimed[1].delivery_id], node="a") == 1
    again = b.claim_deliveries(["webhook"], now=AT, node="b", lease=LEASE)
    assert [d.delivery_id for d in again] == [ids[1]]


class Recording:
    """A channel that records every notice it is asked to send (and takes a moment)."""

    name = "webhook"

    def __init__(self) -> None:
        self.sent: list[int] = []
        self._lock = threading.Lock()

    def send(self, notification: Notification, *, delivery_id: int) -> None:
        time.sleep(0.001)
        with self._lock:
            self.sent.append(notification.notification_id)


def test_two_nodes_delivering_at_once_send_each_notice_once(nodes: tuple[Store, Store]) -> None:
    a, b = nodes
    notices(a, 60)
    channel = Recording()
    start = threading.Barrier(2)

    def run(store: Store) -> None:
        start.wait()
        for _ in range(4):
            deliver_pending(store, [channel], now=AT, limit=10)

    threads = [threading.Thread(target=run, args=(s,)) for s in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for store in (a, b):  # whatever is left after the race
        deliver_pending(store, [channel], now=AT)

    assert len(channel.sent) == 60
    assert len(set(channel.sent)) == 60


def test_every_node_reads_the_verification_one_node_ran(
    nodes: tuple[Store, Store], tmp_path: Path
) -> None:
    a, b = nodes
    notices(a, 1)  # a case and its ledger events
    settings = Settings(data_dir=tmp_path)
    on_a = LedgerWatch(Services(a, tiny_context(), settings, clock=lambda: AT))
    on_b = LedgerWatch(Services(b, tiny_context(), settings, clock=lambda: AT))
    assert on_b.status() == {}  # nothing verified yet: no alarm, no result

    on_a.verify()

    events = len(list(a.ledger_events()))
    assert events > 0
    status = on_b.status()
    shown = {key: status[key] for key in ("ok", "at", "events", "problem")}
    assert shown == {"ok": True, "at": "09:00", "events": events, "problem": None}
    assert status["full"]["node"] == a.node_id  # a verified, b shows it
    assert on_a.status() == on_b.status()


def test_the_database_keeps_the_roster_and_catalog_a_later_node_would_overwrite(
    nodes: tuple[Store, Store],
) -> None:
    a, b = nodes
    first = tiny_context()
    seeded = adopt_reference(a, grid=first.grid, context=first, at=AT, actor="test")
    assert seeded is first  # a new database is seeded from the node's data folder
    roster = first.roster
    other = Roster(
        roster.persons.values(), roster.units.values(), roster.assignments[1:], roster.absences
    )
    late = tiny_context(other)
    assert roster_checksum(other) != roster_checksum(roster)

    served = adopt_reference(b, grid=late.grid, context=late, at=AT, actor="test")

    assert roster_checksum(served.roster) == roster_checksum(roster)  # the database's, not b's
    assert served.catalog.checksum == first.catalog.checksum
    assert a.reference_versions() == {"grid": 1, "roster": 1, "catalog": 1, "calendar": 1}
    stored = a.stored_roster()
    assert stored is not None
    assert roster_checksum(stored) == roster_checksum(roster)


def test_a_roster_import_writes_the_database_and_counts_a_version(
    nodes: tuple[Store, Store],
) -> None:
    a, b = nodes
    context = tiny_context()
    adopt_reference(a, grid=context.grid, context=context, at=AT, actor="test")
    roster = context.roster
    other = Roster(
        roster.persons.values(), roster.units.values(), roster.assignments[1:], roster.absences
    )

    assert import_roster(b, other, at=AT, actor="test")
    assert not import_roster(b, other, at=AT, actor="test")  # already the database's

    assert a.reference_versions()["roster"] == 2
    stored = a.stored_roster()
    assert stored is not None
    assert roster_checksum(stored) == roster_checksum(other)


def test_a_node_runs_its_background_jobs_and_a_web_node_none(store: Store, tmp_path: Path) -> None:
    context = tiny_context()
    prepared = Prepared(
        Settings(data_dir=tmp_path), context.grid, context, store.url, "k" * 32, 60.0
    )
    services = Services(store, context, prepared.settings, clock=lambda: AT)

    with _background(replace(prepared, role="web"), 0, services):
        pass
    assert store.latest_verification() is None  # a web node verifies nothing

    with _background(prepared, 0, services):  # role "all": the ledger watch runs here
        assert wait_for(lambda: store.latest_verification() is not None)
    found = store.latest_verification()
    assert found is not None
    assert found[2] == store.node_id
