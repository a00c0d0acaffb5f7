"""Background passes: one daemon thread that runs a step now and then every few seconds.

The escalation loop, the notification delivery worker and the dashboard's ledger watch are all
this: a pass at start (so work left by a crash or a restart is done at once), then one every
``every`` seconds until stopped; a failing pass is logged and the next one retries, so a bad
pass never stops the loop.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

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
        step: Callable[[], None],
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
