"""The queue of a SQLite database's writers, across threads and processes.

SQLite lets one writer in at a time; a writer that finds the lock taken is put to sleep by its
busy handler in growing steps (1, 2, 5, 10 … 100 ms), whatever happens meanwhile. Writers that
keep arriving then wait in an unfair lottery with long tails, and ``gridmgr serve --workers 2``
on SQLite served fewer reports a second than one worker (issue #21). Here a writer first queues
on a lock and only then sends ``BEGIN IMMEDIATE``, which then finds the database free: the
threads of a process on a :class:`threading.Lock`, the processes on an exclusive ``flock`` of a
file beside the database (``gridmgr.sqlite-writers``), which the kernel hands to the next waiter
as soon as it is released. A process that dies holding it releases it with its file. Writers
that do not take this queue (another program, ``sqlite3``) still meet SQLite's own lock, so
the database is as safe without it; it only decides who goes next, and fast.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: the threads of each process queue, processes meet SQLite's lock
    fcntl = None  # type: ignore[assignment]

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
            fcntl.flock(fd, fcntl.LOCK_EX)  # releases the GIL while it waits
            try:
                yield
            finally:
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
