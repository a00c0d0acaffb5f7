"""Background passes: one daemon thread that runs a step now and then every few seconds.

The escalation loop, the notification delivery worker and the dashboard's ledger watch are all
this: a pass at start (so work left by a crash or a restart is done at once), then one every
``every`` seconds until stopped; a failing pass is logged and the next one retries, so a bad
pass never stops the loop.

A job that must run on one node at a time, when several share a database, runs under a
:class:`SingleRunner`: it holds the job's lock (:meth:`gridmgr.store.Store.job_lock`) and runs
the job only while it holds it; a node in standby tries again every few seconds, so when the
holder dies its job resumes elsewhere.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from gridmgr.store.coordination import JobLock

log = logging.getLogger(__name__)


class PeriodicLoop:
    """Run ``step`` at start and then every ``every`` seconds in a daemon thread.

    >>> import time
    >>> passes = []
    >>> loop = PeriodicLoop(lambda: passes.append(1), every=60, name="demo")
    >>> loop.start(); time.sleep(0.2); loop.wake(); time.sleep(0.2); loop.stop()
    >>> len(passes)
    2
    """

    def __init__(
        self,
        step: Callable[[], object],  # what a pass returns is not used
        *,
        every: float,
        name: str,
        stop_timeout: float = 30.0,
    ) -> None:
        self._step, self._every, self._name = step, every, name
        self._stop_timeout = stop_timeout
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        """Start the thread (its first pass runs at once)."""
        self._thread.start()

    def wake(self) -> None:
        """Run a pass now instead of at the next tick."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the running pass."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=self._stop_timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._step()
            except Exception:  # the loop must survive a bad pass; the next one retries
                log.exception("%s: a pass failed", self._name)
            self._wake.wait(self._every)
            self._wake.clear()


class Job(Protocol):
    """Background work that starts and stops: a :class:`PeriodicLoop`, the simulator …"""

    def start(self) -> None: ...

    def stop(self) -> None: ...


class SingleRunner:
    """Run the job ``make`` builds on this node only while this node holds ``lock``.

    Every ``check_every`` seconds it makes sure of the lock (:meth:`JobLock.hold`): taken, the
    job is built and started; lost (the database ended the lock's session), the job is
    stopped; held by another node, nothing runs here and the next check tries again. So at most
    one node runs the job, and within ``check_every`` seconds of the holder's death another
    node resumes it. ``make`` builds a fresh job each time (a stopped thread cannot restart).
    """

    def __init__(self, lock: JobLock, make: Callable[[], Job], *, check_every: float = 5.0) -> None:
        self._lock, self._make = lock, make
        self._job: Job | None = None
        self._loop = PeriodicLoop(self._check, every=check_every, name=f"gridmgr-hold-{lock.job}")

    @property
    def running(self) -> bool:
        """Whether the job runs on this node now."""
        return self._job is not None

    def start(self) -> None:
        """Start checking the lock (the first check runs at once)."""
        self._loop.start()

    def stop(self) -> None:
        """Stop the job (after its running pass) and let the lock go."""
        self._loop.stop()
        self._stop_job()
        self._lock.release()

    def _check(self) -> None:
        if self._lock.hold():
            if self._job is None:
                log.info("job %s: runs on this node", self._lock.job)
                self._job = self._make()
                self._job.start()
        elif self._job is not None:
            log.warning(
                "job %s: lock lost, stopped here (another node may take it)", self._lock.job
            )
            self._stop_job()

    def _stop_job(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            job.stop()
