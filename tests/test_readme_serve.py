"""The README's first command, exactly as written, in a subprocess: it serves, a demo login works,
cases appear through the API, and Ctrl-C (SIGINT) stops it leaving no process and a consistent
database."""

from __future__ import annotations

import http.cookiejar
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from gridmgr.responsibility.demo_roster import DEMO_PASSWORD

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def first_command() -> str:
    """The first command of the README's first shell block, without its comment."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```(?:bash|console|sh)\n(.*?)```", text, re.DOTALL)
    assert block is not None, "README.md has no shell block"
    line = next(ln for ln in block.group(1).splitlines() if ln.strip())
    return line.split("#", 1)[0].strip().removeprefix("$ ")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, headers: dict[str, str] | None = None, opener: object = None) -> object:
    request = urllib.request.Request(url, headers=headers or {})
    open_ = opener.open if opener is not None else urllib.request.urlopen  # type: ignore[attr-defined]
    with open_(request, timeout=10) as reply:
        return json.loads(reply.read())


def group_members(pgid: int) -> list[str]:
    """Live (non-zombie) processes of a process group."""
    out = subprocess.run(
        ["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    return [ln for ln in out.splitlines() if ln.split() and not ln.split()[1].startswith("Z")]


def gridmgr(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMGR_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [str(BIN / "gridmgr"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_the_readme_first_command_serves_a_living_command_center(tmp_path: Path) -> None:
    command = first_command()
    assert command == "make serve"
    stale = subprocess.run(["make", "-q", ".venv/.installed"], cwd=REPO, check=False)
    if stale.returncode != 0:
        pytest.skip("the venv stamp is out of date: `make serve` would reinstall (needs network)")
    data_dir = tmp_path / "data"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "GRIDMGR_DATA_DIR": str(data_dir),
        "GRIDMGR_PORT": str(port),
        "GRIDMGR_SIMULATE_SPEED": "20",  # the live demo at 20x: a new case every few seconds
    }
    env.pop("GRIDMGR_DB", None)
    env.pop("GRIDMGR_DEMO", None)
    with log.open("wb") as out:
        server = subprocess.Popen(
            shlex.split(command),
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: we can signal all of it, and check
        )
    pgid = server.pid
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert get_json(f"{base}/healthz") == {
                    "status": "ok",
                    "grid": get_json(f"{base}/healthz")["grid"],  # type: ignore[index]
                    "cells": {"1": 17, "2": 271, "3": 1557},
                }
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"`{command}` did not serve:\n{log.read_text()[-3000:]}")
                time.sleep(0.5)
        printed = log.read_text(encoding="utf-8")
        logins = dict(re.findall(r"^\s+(operator|grid worker)\b.*?(P\d{5})", printed, re.MULTILINE))
        assert set(logins) == {"operator", "grid worker"}, printed
        assert "demo simulator on" in printed

        # log in as the demo operator, as a browser does (CSRF token from the form)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{base}/login", timeout=10) as reply:
            form = reply.read().decode()
        csrf = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', form) or re.search(
            r'value="([^"]+)"[^>]*name="csrf_token"', form
        )
        assert csrf is not None, form
        data = urllib.parse.urlencode(
            {
                "person_id": logins["operator"],
                "password": DEMO_PASSWORD,
                "csrf_token": csrf.group(1),
            }
        ).encode()
        with opener.open(urllib.request.Request(f"{base}/login", data=data), timeout=10) as reply:
            assert reply.status == 200  # followed the 303
        me = get_json(f"{base}/me", opener=opener)
        assert me["person_id"] == logins["operator"]  # type: ignore[index]
        assert me["role"] == "operator"  # type: ignore[index]

        # cases appear through the native API (an operator's token sees the whole city)
        made = gridmgr(data_dir, "token", "create", "--person", logins["operator"])
        assert made.returncode == 0, made.stderr
        token = re.search(r"gm_[A-Za-z0-9_\-]+", made.stdout)
        assert token is not None, made.stdout
        auth = {"Authorization": f"Bearer {token.group(0)}"}
        totals = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            body = get_json(f"{base}/api/v1/cases?limit=5", headers=auth)
            totals.append(int(body["total"]))  # type: ignore[index]
            if len(totals) > 1 and totals[-1] > totals[0] > 0:
                break
            time.sleep(2)
        assert totals[0] > 0, "no case within a minute and a half"
        assert totals[-1] > totals[0], f"no new case while watching: {totals}"
        states = {c["state"] for c in body["cases"]}  # type: ignore[index]
        assert states
    finally:
        if server.poll() is None:
            os.killpg(pgid, signal.SIGINT)  # Ctrl-C
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            server.wait(timeout=10)
            pytest.fail(
                f"`{command}` did not stop on Ctrl-C within 60 s:\n{log.read_text()[-3000:]}"
            )
    time.sleep(0.5)
    assert group_members(pgid) == [], "a process outlived the server"
    verified = gridmgr(data_dir, "ledger", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    checked = gridmgr(data_dir, "db", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
