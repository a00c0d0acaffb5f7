"""Rate limits counted in the database hold across nodes: two apps on one database share each
client's count, a window that ended starts again, and concurrent hits are each counted once."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.services.ratelimits import uses_database_limits
from gridmgr.settings import Settings, SettingsError
from gridmgr.store import Store, open_store
from tests.builders import api_app, close_app, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
LOCATE = "/api/v1/locate?lon=120.1&lat=31.6"


@pytest.fixture
def two_apps(db_url: str, tmp_path: Path) -> Iterator[tuple[Flask, Flask, dict[str, str]]]:
    """Two nodes' apps on one database, counting in it, 4 requests a minute per token; and an
    operator's token."""
    a = open_store(db_url, create=True)
    b = open_store(db_url)
    settings = replace(
        Settings(data_dir=tmp_path), rate_limit_token="4 per minute", rate_limit_storage="database"
    )
    apps = (api_app(a, settings, clock=lambda: FIXED), api_app(b, settings, clock=lambda: FIXED))
    operator = sorted(x.person_id for x in tiny_roster().holders(COMMAND_CENTER, FIXED))[0]
    token = a.create_credential(kind="person", subject=operator, now=FIXED, days=9)
    try:
        yield apps[0], apps[1], {"Authorization": f"Bearer {token}"}
    finally:
        for app in apps:
            close_app(app)
        a.close()
        b.close()


def test_two_apps_on_one_database_share_a_clients_count(
    two_apps: tuple[Flask, Flask, dict[str, str]],
) -> None:
    on_a, on_b, token = two_apps
    a, b = on_a.test_client(), on_b.test_client()

    codes = [c.get(LOCATE, headers=token).status_code for c in (a, b, a, b)]
    over_a = a.get(LOCATE, headers=token)
    over_b = b.get(LOCATE, headers=token)

    assert codes == [200, 200, 200, 200]  # each app alone would allow 4 more
    assert (over_a.status_code, over_b.status_code) == (429, 429)
    assert int(over_b.headers["Retry-After"]) > 0
    assert over_b.get_json()["error"]["status"] == 429


def test_the_headers_tell_what_remains_of_the_shared_window(
    two_apps: tuple[Flask, Flask, dict[str, str]],
) -> None:
    on_a, on_b, token = two_apps
    on_a.test_client().get(LOCATE, headers=token)

    second = on_b.test_client().get(LOCATE, headers=token)

    assert second.headers["X-RateLimit-Limit"] == "4"
    assert second.headers["X-RateLimit-Remaining"] == "2"


def test_the_load_balancers_probe_is_not_counted(
    two_apps: tuple[Flask, Flask, dict[str, str]],
) -> None:
    on_a, _, token = two_apps
    a = on_a.test_client()

    probes = [a.get("/healthz").status_code for _ in range(6)]
    codes = [a.get(LOCATE, headers=token).status_code for _ in range(5)]

    assert probes == [200] * 6  # over the 4 a minute, and no database write for each
    assert "X-RateLimit-Limit" not in a.get("/healthz").headers
    assert codes == [200, 200, 200, 200, 429]  # the probes took nothing from the window


def test_a_window_that_ended_starts_again_and_is_swept(store: Store) -> None:
    assert store.hit_rate_limit("k", expiry=60, now=1000.0) == (1, 1060.0)
    assert store.hit_rate_limit("k", expiry=60, amount=2, now=1030.0) == (3, 1060.0)
    assert store.rate_limit_window("k", now=1059.0) == (3, 1060.0)

    assert store.rate_limit_window("k", now=1060.0) == (0, 1060.0)  # ended: nothing counted
    assert store.hit_rate_limit("k", expiry=60, now=1061.0) == (1, 1121.0)  # a new window
    store.hit_rate_limit("other", expiry=10, now=1061.0)

    assert store.sweep_rate_limits(now=1100.0) == 1  # "other" ended at 1071
    assert store.count_rate_limits() == 1
    store.clear_rate_limit("k")
    assert store.rate_limit_window("k", now=1062.0) == (0, 1062.0)


def test_hits_from_two_nodes_at_once_are_each_counted_once(db_url: str) -> None:
    stores = [open_store(db_url, create=True), open_store(db_url)]
    per_thread = 25

    def hit(store: Store) -> None:
        for _ in range(per_thread):
            store.hit_rate_limit("busy", expiry=3600, now=1000.0)

    threads = [threading.Thread(target=hit, args=(s,)) for s in stores for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert stores[0].rate_limit_window("busy", now=1000.0)[0] == 4 * per_thread
    for store in stores:
        store.close()


def test_the_database_counts_on_postgresql_and_memory_on_sqlite_unless_told(
    store: Store, tmp_path: Path
) -> None:
    settings = Settings(data_dir=tmp_path)

    assert uses_database_limits(settings, store) == (store.backend == "postgresql")
    assert uses_database_limits(replace(settings, rate_limit_storage="database"), store)
    assert not uses_database_limits(replace(settings, rate_limit_storage="memory"), store)
    assert not uses_database_limits(settings, None)  # an app without services: memory


def test_a_bad_rate_limit_storage_setting_is_refused_with_the_choices() -> None:
    with pytest.raises(SettingsError, match="database or memory"):
        Settings.from_env({"GRIDMGR_RATE_LIMIT_STORAGE": "redis"}, data_dir="/tmp/x")
    found = Settings.from_env({"GRIDMGR_RATE_LIMIT_STORAGE": "Database"}, data_dir="/tmp/x")
    assert found.rate_limit_storage == "database"
