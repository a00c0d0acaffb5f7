"""The HTTP benchmark's load generator ends with what it reached, whatever the server does."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from benchmarks.http_bench import Load, constant_rate


def _health(i: int) -> tuple[str, str, bytes]:
    return "GET", "/healthz", b""


def _in_thread(port: int) -> Load:
    """Run the generator in a thread; fail (instead of hanging the suite) if it never ends."""
    found: list[Load] = []
    runner = threading.Thread(
        target=lambda: found.append(
            constant_rate(port, rate=20, seconds=0.5, request=_health, headers={}, limit=1.0)
        ),
        daemon=True,
    )
    runner.start()
    runner.join(timeout=60)
    assert found, "the load generator did not end"
    return found[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and reads requests but never answers (a stuck server)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            accepted.append(conn)  # held open, never answered

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_stuck_server_gives_a_figure_with_nothing_served(silent_server: int) -> None:
    load = _in_thread(silent_server)
    assert load.ok == 0
    assert load.failed + load.unsent == 10  # 20/s for 0.5 s: each timed out or never sent
    assert load.failed >= 1


def test_a_refused_connection_counts_as_failed() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    load = _in_thread(port)
    assert load.ok == 0
    assert load.failed == 10
    assert load.unsent == 0
