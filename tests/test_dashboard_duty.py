"""The duty page (在岗): every grid worker in the caller's scope with his status, last patrol
point and the field app's last sync; the silent ones first; a worker sees only himself."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from dashboards.reads.duty import duty_rows
from gridmgr import Grid
from gridmgr.access import caller_for
from gridmgr.store import Store
from gridmgr.store.patrolstore import PatrolBatch
from tests.builders import close_app
from tests.test_dashboard import (
    OTHER_CELL,
    board_of,
    dashboard_app,
    logged_in,
    person_of,
    render,
    services_of,
    texts,
)
from tests.test_sessions import FIXED, OWN_CELL, Clock


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    services = services_of(built)
    services.store.sync_reference(
        grid=services.grid, roster=services.roster, catalog=services.catalog, at=FIXED, actor="t"
    )
    yield built
    close_app(built)


def walk(app: Flask, cell: str, minutes_ago: int) -> str:
    """The cell's worker leaves a patrol point ``minutes_ago``; his person id."""
    services = services_of(app)
    person = person_of(services.roster, cell)
    lon, lat = board_of(app).geometry.tier(3).centers[cell]
    batch = PatrolBatch(person, [FIXED - timedelta(minutes=minutes_ago)], [lon], [lat])
    services.store.record_patrol_batches([batch], at=FIXED, actor="test")
    return person


def test_the_operator_sees_every_worker_silent_ones_first(app: Flask) -> None:
    services = services_of(app)
    walking = walk(app, OWN_CELL, 5)
    synced = person_of(services.roster, OTHER_CELL)
    services.store.record_device_contact(synced, at=FIXED - timedelta(minutes=3), token_id="t1")
    operator = caller_for(services.roster, person_of(services.roster, None), FIXED)

    rows = duty_rows(services, operator, now=FIXED)

    by_id = {r.person_id: r for r in rows}
    assert by_id[walking].status == "patrolling"
    assert not by_id[walking].silent
    assert by_id[synced].last_sync is not None
    assert not by_id[synced].silent
    silent = [r for r in rows if r.silent]
    assert silent, "the tiny roster's other workers were not heard from at all"
    assert all(r.last_seen is None and r.last_sync is None for r in silent)
    assert rows[: len(silent)] == silent  # silent first
    assert len(rows) == len(
        {
            a.person_id
            for a in services.roster.assignments
            if a.post.kind.value == "grid_worker" and a.role.value == "primary"
        }
    )


def test_a_worker_sees_only_the_workers_of_his_cells(app: Flask) -> None:
    services = services_of(app)
    mine = walk(app, OWN_CELL, 5)
    worker = caller_for(services.roster, mine, FIXED)
    assert worker.scope is not None

    seen = duty_rows(services, worker, now=FIXED)

    assert mine in {r.person_id for r in seen}
    assert person_of(services.roster, OTHER_CELL) not in {r.person_id for r in seen}
    # his own cell and the one he deputizes for, nothing else
    expected = {
        a.person_id
        for a in services.roster.assignments
        if a.post.place in worker.scope
        and a.post.kind.value == "grid_worker"
        and a.role.value == "primary"
    }
    assert {r.person_id for r in seen} == expected


def test_the_page_shows_the_table_and_a_summary(app: Flask) -> None:
    walk(app, OWN_CELL, 5)
    client = logged_in(app, None)

    words = texts(render(client, "/dashboard/duty"))

    assert "网格员在岗" in words
    assert any(w.startswith("共 ") and "失联" in w for w in words)
    assert (
        services_of(app).roster.persons[person_of(services_of(app).roster, OWN_CELL)].name in words
    )


def test_a_long_table_shows_its_first_rows_and_counts_everyone(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dashboards.pages import duty

    monkeypatch.setattr(duty, "MAX_ROWS", 2)
    client = logged_in(app, None)

    words = texts(render(client, "/dashboard/duty"))

    everyone = duty_rows(services_of(app), caller_for(services_of(app).roster,
        person_of(services_of(app).roster, None), FIXED), now=FIXED)  # fmt: skip
    assert len(everyone) > 2
    assert (
        f"共 {len(everyone)} 人，失联 {sum(r.silent for r in everyone)} 人。 下表列出前 2 人。"
        in words
    )
    assert sum(w in {r.name for r in everyone} for w in words) == 2
