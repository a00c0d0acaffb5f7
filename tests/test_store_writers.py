"""The queue of a SQLite database's writers (gridmgr.store.writers): one writer at a time across
processes too, a forked child queuing with its parent, and nothing left behind."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gridmgr.store import open_store
from gridmgr.store.writers import SUFFIX, SQLiteWriters

pytestmark = pytest.mark.skipif(os.name != "posix", reason="flock is POSIX")


def _hold(writers: SQLiteWriters, log: str, entered: mp.Event, attempting: mp.Event) -> None:  # type: ignore[valid-type]
    """In a child: take the turn, say so, and keep it until well after the parent has started
    waiting for it (long enough for a broken queue to let the parent in meanwhile)."""
    with writers.turn():
        _append(log, "child in")
        entered.set()  # type: ignore[attr-defined]
        attempting.wait(30)  # type: ignore[attr-defined]
        time.sleep(0.3)  # not a measurement: the parent's chance to get in if nothing stops it
        _append(log, "child out")


def _append(log: str, line: str) -> None:
    with open(log, "a") as f:
        f.write(line + "\n")


@pytest.mark.parametrize("used_before_fork", [False, True])
def test_a_process_waits_while_another_holds_the_turn(
    tmp_path: Path, used_before_fork: bool
) -> None:
    """The parent's turn starts only after the child's ended — also when the parent had opened
    the queue before forking (the child must not share the parent's lock)."""
    writers = SQLiteWriters(str(tmp_path / "x.sqlite"))
    if used_before_fork:
        with writers.turn():
            pass
    log = str(tmp_path / "log")
    context = mp.get_context("fork")
    entered, attempting = context.Event(), context.Event()
    child = context.Process(target=_hold, args=(writers, log, entered, attempting))
    child.start()
    try:
        assert entered.wait(30)

        def parent() -> None:
            with writers.turn():
                _append(log, "parent in")

        thread = threading.Thread(target=parent)
        thread.start()
        attempting.set()
        thread.join(60)
        assert not thread.is_alive()
    finally:
        child.join(60)
    assert Path(log).read_text().splitlines() == ["child in", "child out", "parent in"]
    assert child.exitcode == 0
    writers.close()


def test_a_store_on_sqlite_queues_its_writes_beside_the_database(tmp_path: Path) -> None:
    db = tmp_path / "gridmgr.sqlite"
    store = open_store(f"sqlite:///{db}", create=True)
    try:
        queue = db.with_name(db.name + SUFFIX)
        store.record_login_failure("p1", "127.0.0.1", at=datetime(2026, 12, 3, tzinfo=UTC))
        assert queue.exists()  # the write queued
        assert queue.stat().st_mode & 0o777 == 0o600  # readable by the owner only, as the data
    finally:
        store.close()


def test_an_in_memory_database_queues_its_threads_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    writers = SQLiteWriters(":memory:")
    with writers.turn():
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_writer_waits_no_longer_than_its_limit_then_meets_sqlites_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A queue that is never released (a process stopped in a write) does not hang a writer:
    after GIVE_UP_S it goes on without the queue, to SQLite's own busy timeout and error."""
    import fcntl

    from gridmgr.store import writers as module

    monkeypatch.setattr(module, "GIVE_UP_S", 0.05)
    path = tmp_path / "x.sqlite"
    writers = SQLiteWriters(str(path))
    stuck = os.open(f"{path}{SUFFIX}", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(stuck, fcntl.LOCK_EX)  # another open file: it excludes this one like a process
    entered = False
    with writers.turn():
        entered = True
        probe = os.open(f"{path}{SUFFIX}", os.O_RDWR)
        with pytest.raises(BlockingIOError):  # the stuck holder still has it
            fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(probe)
    assert entered
    fcntl.flock(stuck, fcntl.LOCK_UN)
    os.close(stuck)
    with writers.turn():  # and the queue works again once it is free
        pass
    writers.close()
