"""The worker page's "my devices": his field-app devices with their last sync, and a revoke
button that revokes his own device only (both backends)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from gridmgr import Grid
from gridmgr.access import caller_for
from gridmgr.services.devices import create_device, list_devices
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import (
    OTHER_CELL,
    dashboard_app,
    logged_in,
    output_key,
    person_of,
    render,
    services_of,
    texts,
)
from tests.test_sessions import FIXED, OWN_CELL, Clock


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    yield built
    close_app(built)


def device_of(app: Flask, cell: str, label: str) -> str:
    services = services_of(app)
    caller = caller_for(services.roster, person_of(services.roster, cell), FIXED)
    return create_device(services, caller, label)[1].token_id


def click_revoke(client: FlaskClient, token_id: str) -> TestResponse:
    button = {"type": "wk-revoke", "token": token_id}
    outputs = [("wk-devices", "children"), ("wk-device-message", "children")]
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    body = {
        "output": output_key(client, outputs, [(button, "n_clicks", 1)]),
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [],
        "changedPropIds": [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"],
    }
    return client.post(
        "/dashboard/_dash-update-component", json=body, headers={"X-CSRFToken": cookie.value}
    )


def shown(answer: TestResponse) -> list[str]:
    """The texts a callback's answer puts on the page."""
    return texts(list(answer.get_json()["response"].values()))


def live_ids(app: Flask, cell: str) -> list[str]:
    services = services_of(app)
    caller = caller_for(services.roster, person_of(services.roster, cell), FIXED)
    return [d.token_id for d in list_devices(services, caller)]


def test_the_worker_page_lists_his_devices_and_revokes_one(app: Flask) -> None:
    phone = device_of(app, OWN_CELL, "<b>小王的手机</b>")
    client = logged_in(app, OWN_CELL)

    words = texts(render(client, "/dashboard/worker"))
    answer = click_revoke(client, phone)

    assert "<b>小王的手机</b>" in words  # his words, shown as text
    assert "我的设备" in words
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    assert "已注销" in shown(answer)
    assert live_ids(app, OWN_CELL) == []


def test_a_worker_cannot_revoke_another_workers_device(app: Flask) -> None:
    theirs = device_of(app, OTHER_CELL, "their phone")
    client = logged_in(app, OWN_CELL)

    answer = click_revoke(client, theirs)

    assert answer.status_code == 200
    assert "no device" in " ".join(shown(answer))
    assert live_ids(app, OTHER_CELL) == [theirs]
