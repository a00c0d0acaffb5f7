"""Finding 10: Open311 reports are limited per partner ``api_key`` (whatever address sends them),
and the per-address limit still holds."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from gridmgr.api import create_app
from gridmgr.settings import Settings, SettingsError
from gridmgr.store import Store
from tests.builders import app_services, close_app, tiny_context, tiny_roster
from tests.test_open311 import FIXED, REPORT, ROOT, new_api_key


def make(store: Store, tmp_path: Path, **limits: str):  # type: ignore[no-untyped-def]
    settings = replace(Settings(data_dir=tmp_path), **limits)
    services = app_services(store, settings, tiny_context(), clock=lambda: FIXED)
    return create_app(settings, services.grid, tiny_roster(), services=services)


def post_from(client, key: str, address: str):  # type: ignore[no-untyped-def]
    data = {"api_key": key, **REPORT}
    return client.post(f"{ROOT}/requests.json", data=data, environ_base={"REMOTE_ADDR": address})


def test_one_api_key_is_limited_across_addresses_and_another_key_is_not(
    store: Store, tmp_path: Path
) -> None:
    app = make(store, tmp_path, rate_limit_api_key="2 per minute")
    first, second = new_api_key(store), new_api_key(store, subject="wechat")
    client = app.test_client()
    try:
        codes = [post_from(client, first, f"10.0.0.{n}").status_code for n in range(3)]
        other = post_from(client, second, "10.0.0.9")
        reads = client.get(f"{ROOT}/services.json", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    finally:
        close_app(app)
    assert codes == [200, 200, 429]
    assert other.status_code == 200
    assert reads.status_code == 200  # reads carry no key: the address limits them


def test_the_address_limit_still_holds_across_api_keys(store: Store, tmp_path: Path) -> None:
    app = make(store, tmp_path, rate_limit_ip="2 per minute")
    keys = [new_api_key(store, subject=f"p{n}") for n in range(3)]
    client = app.test_client()
    try:
        codes = [post_from(client, k, "10.0.0.1").status_code for k in keys]
    finally:
        close_app(app)
    assert codes == [200, 200, 429]


def test_the_api_key_limit_is_a_checked_setting() -> None:
    default = Settings.from_env({}, data_dir="/tmp/x").rate_limit_api_key
    assert default == "600 per minute"
    chosen = Settings.from_env({"GRIDMGR_RATE_LIMIT_API_KEY": "5/second"}, data_dir="/tmp/x")
    assert chosen.rate_limit_api_key == "5/second"
    with pytest.raises(SettingsError, match="GRIDMGR_RATE_LIMIT_API_KEY"):
        Settings.from_env({"GRIDMGR_RATE_LIMIT_API_KEY": "lots"}, data_dir="/tmp/x")
