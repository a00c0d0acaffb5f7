"""The queue of a SQLite database's writers, across threads and processes.

SQLite lets one writer in at a time; a writer that finds the lock taken is put to sleep by its
busy handler in growing steps (1, 2, 5, 10 … 100 ms), whatever happens meanwhile. Writers that
keep arriving then wait in an unfair lottery with long tails, and ``gridmgr serve --workers 2``
on SQLite served fewer reports a second than one worker (issue #21). Here a writer first queues
on a lock and only then sends ``BEGIN IMMEDIATE``, which then finds the database free: the
threads of a process on a :class:`threading.Lock`, the processes on an exclusive ``flock`` of a
file beside the database (``gridmgr.sqlite-writers``), which one thread of each process tries
every 0.25 ms at most (a blocking ``flock`` would wake sooner but cannot time out; measured, the
two give the same p99). A process that dies holding it releases it with its file. After
:data:`GIVE_UP_S` a writer goes on to SQLite's own lock, whose busy handler then decides as
before. Writers that do not take this queue (another program, ``sqlite3``) still meet SQLite's
own lock, so the database is as safe without it; it only decides who goes next, and fast.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: the threads of each process queue, processes meet SQLite's lock
    fcntl = None  # type: ignore[assignment]

POLL_MAX_S = 0.00025
"""The longest a waiting writer sleeps between two looks at the queue (0.5 ms doubled p99)."""
GIVE_UP_S = 30.0
"""After this long in the queue a writer goes on to SQLite's own lock, whose busy handler waits
its ``busy_timeout`` more and then fails with "database is locked", as without the queue."""
SUFFIX = "-writers"
"""The queue file's name is the database's with this suffix (beside ``-wal`` and ``-shm``)."""


class SQLiteWriters:
    """Who writes next to one SQLite database: :meth:`turn` waits for it."""

    def __init__(self, database: str | None) -> None:
        self._threads = threading.Lock()
        file_based = database not in (None, "", ":memory:") and fcntl is not None
        self._path = Path(f"{database}{SUFFIX}") if file_based else None
        self._fd: int | None = None
        self._pid = 0

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the turn to write for the block (this thread's, then this process's)."""
        with self._threads:
            fd = self._file()
            if fd is None:
                yield
                return
            held = _take(fd)
            try:
                yield
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the queue file (the next :meth:`turn` opens it again)."""
        with self._threads:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = None

    def _file(self) -> int | None:
        """This process's descriptor of the queue file. A forked child opens its own: a
        descriptor inherited from the parent shares its lock, so it would not queue them."""
        if self._path is None:
            return None
        if self._fd is not None and self._pid != os.getpid():
            os.close(self._fd)  # the parent's: closing this copy leaves the parent's lock alone
            self._fd = None
        if self._fd is None:
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd


def _take(fd: int) -> bool:
    """Take the queue file's lock, looking again after 50 µs, then twice as long each time up to
    :data:`POLL_MAX_S` (a blocking ``flock`` cannot time out; only one thread of a process
    looks, the others wait on the thread lock); ``False`` after :data:`GIVE_UP_S`."""
    deadline = time.monotonic() + GIVE_UP_S
    pause = 0.00005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(pause)
            pause = min(pause * 2, POLL_MAX_S)
