"""A node behind a reverse proxy (``GRIDMGR_TRUSTED_PROXY``) sees the client's address and scheme
the proxy forwards, and only the proxy is believed."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from waitress import wasyncore
from waitress.server import create_server

from gridmgr.server import proxy_options
from gridmgr.settings import Settings, SettingsError

FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def echo(environ: dict[str, Any], start_response: Callable[..., object]) -> Iterable[bytes]:
    """A WSGI app answering with the client address and scheme it was given."""
    seen = {
        "addr": environ.get("REMOTE_ADDR"),
        "scheme": environ.get("wsgi.url_scheme"),
        "xff": environ.get("HTTP_X_FORWARDED_FOR"),
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(seen).encode()]


@contextmanager
def served(settings: Settings) -> Iterator[int]:
    """``echo`` served by waitress with the node's proxy options, on a free port."""
    server: Any = create_server(echo, host="127.0.0.1", port=0, **proxy_options(settings))
    stop = threading.Event()

    def loop() -> None:  # waitress's own loop, a step at a time, so it can stop cleanly
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield int(server.effective_port)
    finally:
        stop.set()
        thread.join(timeout=5)
        server.close()
        server.task_dispatcher.shutdown()


def ask(port: int) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", "/", headers=FORWARDED)
    reply: dict[str, Any] = json.loads(conn.getresponse().read())
    return reply


def test_behind_the_trusted_proxy_the_node_sees_the_forwarded_client(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path).with_overrides(trusted_proxy="127.0.0.1")

    with served(settings) as port:
        seen = ask(port)

    assert (seen["addr"], seen["scheme"]) == ("203.0.113.7", "https")


def test_without_a_trusted_proxy_forwarded_headers_change_nothing(tmp_path: Path) -> None:
    with served(Settings(data_dir=tmp_path)) as port:
        seen = ask(port)

    assert (seen["addr"], seen["scheme"]) == ("127.0.0.1", "http")


def test_forwarded_headers_from_another_address_than_the_proxy_are_dropped(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path).with_overrides(trusted_proxy="10.0.0.5")

    with served(settings) as port:
        assert ask(port) == {"addr": "127.0.0.1", "scheme": "http", "xff": None}


def test_a_trusted_proxy_must_be_an_ip_address(tmp_path: Path) -> None:
    env = {"GRIDMGR_DATA_DIR": str(tmp_path), "GRIDMGR_TRUSTED_PROXY": "nginx.local"}

    with pytest.raises(SettingsError, match="GRIDMGR_TRUSTED_PROXY must be"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "GRIDMGR_TRUSTED_PROXY": " ::1 "}).trusted_proxy == "::1"
