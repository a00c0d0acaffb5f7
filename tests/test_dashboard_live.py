"""The command center's reads remembered per ledger head and minute: a second operator opening
the page between two changes is served from memory, and any change is seen at once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from dashboards.reads.live import HeadCache, Stamp, stamp_of
from gridmgr.grid.model import Grid
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import (
    OTHER_CELL,
    dashboard_app,
    logged_in,
    render,
    report,
    services_of,
)
from tests.test_sessions import FIXED, Clock


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, clock)
    yield built
    close_app(built)


def tile(page: Any, key: str) -> str:
    """The value shown on the KPI tile ``key`` of a rendered command center."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("props", {}).get("id") == f"kpi-{key}":
                found.append(node["props"]["children"][0]["props"]["children"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(page)
    assert found, f"no tile kpi-{key}"
    return found[0]


def test_a_report_shows_on_the_next_open_within_the_same_minute(app: Flask) -> None:
    client = logged_in(app, None)
    before = int(tile(render(client, "/dashboard/"), "open"))
    assert int(tile(render(client, "/dashboard/"), "open")) == before  # remembered: the same
    report(app, OTHER_CELL, "井盖缺失")  # a new ledger head, the clock unmoved
    assert int(tile(render(client, "/dashboard/"), "open")) == before + 1


def test_a_value_is_computed_once_per_ledger_head_and_minute(app: Flask) -> None:
    services = services_of(app)
    cache = HeadCache()
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    now = FIXED
    stamp = stamp_of(services, now)
    assert cache.get("k", stamp, compute) == 1
    assert cache.get("k", stamp_of(services, now + timedelta(seconds=30)), compute) == 1
    report(app, OTHER_CELL)  # the head moves
    assert cache.get("k", stamp_of(services, now), compute) == 2
    assert cache.get("k", stamp_of(services, now + timedelta(minutes=1)), compute) == 3
    assert cache.get("other", stamp_of(services, now + timedelta(minutes=1)), compute) == 4


def test_a_full_cache_forgets_what_an_older_stamp_computed() -> None:
    cache = HeadCache(size=2)
    old, new = Stamp(1, FIXED), Stamp(2, FIXED)
    cache.get("a", old, lambda: "a1")
    cache.get("b", old, lambda: "b1")
    assert cache.get("c", new, lambda: "c2") == "c2"
    assert cache.get("a", old, lambda: "a again") == "a again"  # forgotten, computed anew
