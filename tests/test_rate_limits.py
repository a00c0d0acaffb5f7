"""Rate limits per token and per client address: a 429 JSON body, never a silent drop."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER
from gridmgr.settings import Settings, SettingsError
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)


def make(store: Store, tmp_path: Path, **limits: str):  # type: ignore[no-untyped-def]
    settings = replace(Settings(data_dir=tmp_path), **limits)
    app = api_app(store, settings, clock=lambda: FIXED)
    operators = sorted(a.person_id for a in tiny_roster().holders(COMMAND_CENTER, FIXED))
    tokens = [
        store.create_credential(kind="person", subject=p, now=FIXED, days=9) for p in operators[:2]
    ]
    return app, [{"Authorization": f"Bearer {t}"} for t in tokens]


def test_one_token_is_limited_and_another_is_not(store: Store, tmp_path: Path) -> None:
    app, (first, second) = make(store, tmp_path, rate_limit_token="3 per minute")
    client = app.test_client()

    codes = [
        client.get("/api/v1/locate?lon=120.1&lat=31.6", headers=first).status_code for _ in range(4)
    ]
    other = client.get("/api/v1/locate?lon=120.1&lat=31.6", headers=second)
    limited = client.get("/api/v1/locate?lon=120.1&lat=31.6", headers=first)

    assert codes == [200, 200, 200, 429]
    assert other.status_code == 200
    assert limited.get_json()["error"]["status"] == 429
    assert "Retry-After" in limited.headers
    close_app(app)


def test_one_address_is_limited_across_its_tokens(store: Store, tmp_path: Path) -> None:
    app, (first, second) = make(store, tmp_path, rate_limit_ip="4 per minute")
    client = app.test_client()

    codes = [
        client.get("/api/v1/locate?lon=120.1&lat=31.6", headers=h).status_code
        for h in (first, second, first, second, first)
    ]

    assert codes == [200, 200, 200, 200, 429]
    close_app(app)


def test_a_bad_rate_limit_setting_is_refused_with_an_example() -> None:
    with pytest.raises(SettingsError, match="600 per minute"):
        Settings.from_env({"GRIDMGR_RATE_LIMIT_TOKEN": "lots"}, data_dir="/tmp/x")
