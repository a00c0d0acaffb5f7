"""The ledger watch: an incremental pass reads only the events after the last verified head and
finds tampering there; the full pass, due every ``full_verify_hours``, finds tampering before
it; the panel and the API show both."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.services.context import Services
from gridmgr.services.invariants import check
from gridmgr.services.ledgerwatch import LedgerWatch
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_context, tiny_roster
from tests.test_store import drop_ledger_guards

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.at = AT

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def watch(store: Store, tmp_path: Path, clock: Clock) -> LedgerWatch:
    settings = replace(Settings(data_dir=tmp_path), full_verify_hours=24.0)
    return LedgerWatch(Services(store, tiny_context(), settings, clock=clock))


def record(store: Store, count: int) -> None:
    """Append ``count`` events to the ledger."""
    for n in range(count):
        store.record(at=AT, kind="test.event", actor="test", subject="s", details={"n": n})


def tamper(store: Store, seq: int) -> None:
    """Edit event ``seq`` behind the store's back."""
    drop_ledger_guards(store)
    store.execute_sql_for_tests("UPDATE ledger SET actor = 'forger' WHERE seq = :seq", {"seq": seq})


def test_the_first_pass_is_full_and_the_next_ones_read_only_the_new_events(
    store: Store, watch: LedgerWatch, clock: Clock
) -> None:
    record(store, 10)
    first = watch.verify()
    assert (first.ok, first.count, first.head_seq) == (True, 10, 10)
    record(store, 3)
    clock.at += timedelta(minutes=1)

    second = watch.verify()

    assert (second.ok, second.count, second.head_seq) == (True, 3, 13)  # 3 rows read, not 13
    kept = store.latest_verifications()
    assert kept["incremental"].from_seq == 10
    assert kept["full"].result.head_seq == 10
    clock.at += timedelta(minutes=1)
    assert watch.verify().count == 0  # nothing new: nothing read but the head


def test_a_tampered_event_after_the_last_verified_head_is_found_by_the_incremental_pass(
    store: Store, watch: LedgerWatch, clock: Clock
) -> None:
    record(store, 10)
    watch.verify_full()
    record(store, 3)
    tamper(store, 12)
    clock.at += timedelta(minutes=1)

    found = watch.verify()

    assert not found.ok
    assert found.first_bad_seq == 12
    status = watch.status()
    assert status["ok"] is False
    assert status["incremental"]["ok"] is False
    assert status["full"]["ok"] is True


def test_a_tampered_event_before_the_last_verified_head_is_found_by_the_full_pass(
    store: Store, watch: LedgerWatch, clock: Clock
) -> None:
    record(store, 10)
    watch.verify_full()
    record(store, 3)
    assert watch.verify_new().ok  # the head is now event 13
    tamper(store, 5)
    clock.at += timedelta(hours=1)

    assert watch.verify().ok  # incremental: event 5 is out of its sight
    clock.at += timedelta(hours=24)  # the full verification is due
    full = watch.verify()

    assert not full.ok
    assert full.first_bad_seq == 5
    clock.at += timedelta(minutes=1)
    assert watch.verify().ok  # the next incremental pass sees nothing new ...
    assert watch.status()["ok"] is False  # ... and the failed full pass stays on the panel
    assert watch.status()["full"]["ok"] is False


def test_a_rewritten_head_is_found_by_the_incremental_pass(
    store: Store, watch: LedgerWatch
) -> None:
    record(store, 10)
    watch.verify_full()
    record(store, 2)
    tamper(store, 10)  # the head the full pass verified

    found = watch.verify_new()

    assert not found.ok
    assert found.first_bad_seq == 10
    assert "no longer has its hash" in (found.problem or "")


def test_the_full_pass_runs_once_per_period_on_its_own(
    store: Store, watch: LedgerWatch, clock: Clock
) -> None:
    record(store, 4)
    watch.verify()
    for _ in range(3):
        clock.at += timedelta(hours=7)
        watch.verify()
    assert store.latest_verifications()["full"].at == AT  # 21 h later: incremental only

    clock.at += timedelta(hours=4)
    watch.verify()

    assert store.latest_verifications()["full"].at == clock.at


def test_the_panel_line_shows_the_last_incremental_and_the_last_full_pass(
    store: Store, watch: LedgerWatch, clock: Clock
) -> None:
    record(store, 10)
    watch.verify_full()
    record(store, 5)
    clock.at += timedelta(minutes=1)
    watch.verify_new()

    line = next(
        x for x in check(watch.services, at=clock.at, verified=watch.status()) if x.key == "ledger"
    )

    assert line.ok
    assert any("incremental" in d and "11–15" in d and "5 read" in d for d in line.details)
    assert any("full" in d and "1–10" in d and "ok" in d for d in line.details)


def test_the_api_shows_both_verifications(store: Store, tmp_path: Path, clock: Clock) -> None:
    app = api_app(store, Settings(data_dir=tmp_path), clock=clock)
    from gridmgr.web.deps import ledger_watch_of

    watch = ledger_watch_of(app)
    record(store, 3)
    watch.verify_full()
    record(store, 2)
    watch.verify_new()
    operator = sorted(a.person_id for a in tiny_roster().holders(COMMAND_CENTER, AT))[0]
    token = store.create_credential(kind="person", subject=operator, now=AT, days=9)

    body = (
        app.test_client()
        .get("/api/v1/invariants", headers={"Authorization": f"Bearer {token}"})
        .get_json()
    )
    close_app(app)

    ledger = body["ledger"]
    assert ledger["full"]["ok"] is True
    assert ledger["full"]["head_seq"] >= 3
    assert ledger["incremental"]["from_seq"] == ledger["full"]["head_seq"]
    assert ledger["incremental"]["events_read"] == 2
