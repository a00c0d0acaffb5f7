"""The HTTP shell: status page and health check served by the app factory (tests/test_api.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gridmgr import Grid
from gridmgr.api import create_app
from gridmgr.grid.validate import validated_grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Person, Roster, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, app_services, close_app, tiny_cells, tiny_roster


@pytest.fixture
def client(tiny: Grid, tmp_path: Path) -> FlaskClient:
    return create_app(Settings(data_dir=tmp_path), tiny).test_client()


def test_healthz_names_the_grid_and_its_counts(client: FlaskClient, tiny: Grid) -> None:
    reply = client.get("/healthz")
    assert reply.status_code == 200
    assert reply.get_json() == {
        "status": "ok",
        "grid": tiny.generation_id,
        "cells": {"1": 1, "2": 4, "3": 16},
    }


def test_status_page_lists_the_towns(client: FlaskClient) -> None:
    page = client.get("/").get_data(as_text=True)
    assert "320281001" in page
    assert "1 towns, 4 communities, 16 unit cells" in page


def test_cell_names_are_rendered_as_text_not_html(tmp_path: Path) -> None:
    cells = tiny_cells()
    cells.loc[cells["tier"] == 1, "name"] = "<script>alert('x')</script>"
    app = create_app(Settings(data_dir=tmp_path), validated_grid(cells, name="hostile"))
    page = app.test_client().get("/").get_data(as_text=True)
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert" in page


def test_status_page_shows_owned_cells_and_a_vacancy_without_a_name(
    tiny: Grid, tmp_path: Path
) -> None:
    roster = tiny_roster()
    cell = "320281001001001"
    holder = roster.owner(field_post(cell), datetime.now(TZ))
    assert holder is not None
    hostile = Person(holder.person_id, "<b>王五</b>", holder.phone, holder.unit_id, holder.capacity)
    people = [hostile if p.person_id == holder.person_id else p for p in roster.persons.values()]
    ended = [
        replace(a, valid_to=datetime(2025, 1, 1, tzinfo=TZ))
        if a.person_id == holder.person_id and a.post == field_post(cell)
        else a
        for a in roster.assignments
    ]
    app = create_app(
        Settings(data_dir=tmp_path), tiny, Roster(people, roster.units.values(), ended)
    )

    page = app.test_client().get("/").get_data(as_text=True)

    assert "tier 3: 15/16 cells with an owner" in page
    assert f"vacancy: grid_worker:{cell}" in page
    assert "王五" not in page  # a public page names no person (the dashboard does)


def test_unknown_path_is_a_404_not_a_500(client: FlaskClient) -> None:
    assert client.get("/no/such/page").status_code == 404


@pytest.mark.slow
def test_gridmgr_serve_answers_on_its_port(tmp_path: Path) -> None:
    # the README's first command, for real: a process serving on a loopback port
    import json
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from gridmgr.cli import main; main()",
            "--data-dir",
            str(tmp_path),
            "serve",
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.load(r)
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.terminate()
                    output = proc.communicate(timeout=10)[0].decode()
                    raise AssertionError(f"gridmgr serve did not answer:\n{output}") from None
                time.sleep(0.2)
        assert body["status"] == "ok"
        assert body["cells"] == {"1": 17, "2": 271, "3": 1557}
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_an_app_without_services_serves_no_api_and_says_why_when_asked_for_them(
    tiny: Grid, tmp_path: Path
) -> None:
    from gridmgr.web.deps import services_of

    app = create_app(Settings(data_dir=tmp_path), tiny)
    assert app.test_client().post("/api/v1/reports", json={}).status_code == 404
    with pytest.raises(RuntimeError, match="services"):
        services_of(app)


def test_an_app_keeps_the_services_it_was_built_with(store: Store, tmp_path: Path) -> None:
    from gridmgr.web.deps import install_services, services_of

    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: datetime.now(TZ))
    try:
        other = app_services(store, Settings(data_dir=tmp_path), clock=lambda: datetime.now(TZ))
        with pytest.raises(RuntimeError, match="already has its services"):
            install_services(app, other)
        assert other.ingestor is not None
        other.ingestor.close()
        install_services(app, services_of(app))  # the same services again: nothing changes
    finally:
        close_app(app)
