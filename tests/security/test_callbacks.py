"""Finding 8: a malformed Dash callback body gets a 400 that says what is wrong, never a 500:
JSON nested too deep, fewer inputs than the callback declares, a dict where a path is expected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.test_dashboard import logged_in, output_key

URL = "/dashboard/_dash-update-component"


def post(client: FlaskClient, body: Any = None, *, data: bytes | None = None) -> Any:
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    headers = {"X-CSRFToken": cookie.value, "Content-Type": "application/json"}
    raw = json.dumps(body).encode() if data is None else data
    return client.post(URL, data=raw, headers=headers)


def page_body(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    body = {
        "output": output_key(client, [("page", "children")], [("url", "pathname", "/")]),
        "outputs": {"id": "page", "property": "children"},
        "inputs": [{"id": "url", "property": "pathname", "value": "/dashboard/"}],
        "state": [],
        "changedPropIds": ["url.pathname"],
    }
    body.update(changes)
    return body


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"inputs": []}, "1 input"),
        ({"inputs": [{"id": "url", "property": "pathname", "value": {"a": 1}}]}, "url.pathname"),
        ({"inputs": [{"id": "url", "property": "pathname", "value": ["/x"]}]}, "url.pathname"),
        ({"inputs": [{"id": {"a": 1}, "property": "pathname", "value": "/"}]}, "id"),
        ({"inputs": [["x"]]}, "input"),
        ({"inputs": [{"id": "url", "property": 5, "value": "/"}]}, "property"),
        ({"inputs": ["url.pathname"]}, "input"),
        ({"state": [{"id": "x", "property": "y", "value": 1}]}, "state"),
        ({"changedPropIds": [{"x": 1}]}, "changedPropIds"),
        ({"outputs": {"id": {"deep": 1}, "property": "children"}}, "outputs"),
        ({"outputs": [1, 2]}, "outputs"),
    ],
)
def test_a_malformed_callback_body_gets_400_saying_what_is_wrong(
    app: Flask, changes: dict[str, Any], says: str
) -> None:
    client = logged_in(app, None)
    answer = post(client, page_body(client, **changes))
    assert answer.status_code == 400, answer.get_data(as_text=True)[:300]
    assert says in answer.get_json()["error"]["message"]


def test_json_nested_50000_deep_is_refused_before_it_is_parsed(app: Flask) -> None:
    client = logged_in(app, None)
    deep = b'{"output": "page.children", "inputs": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    answer = post(client, data=deep)
    assert answer.status_code == 400
    assert "nested" in answer.get_json()["error"]["message"]
    objects = b'{"a": ' * 50_000 + b"1" + b"}" * 50_000
    assert post(client, data=objects).status_code == 400


def test_brackets_inside_strings_do_not_count_as_nesting(app: Flask) -> None:
    client = logged_in(app, None)
    path = "/dashboard/" + "[" * 300 + '\\"{' * 100
    body = page_body(client, inputs=[{"id": "url", "property": "pathname", "value": path}])
    answer = post(client, body)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]


def test_a_well_formed_callback_still_answers(app: Flask) -> None:
    client = logged_in(app, None)
    assert post(client, page_body(client)).status_code == 200


def test_outputs_named_as_dash_renderer_names_a_duplicate_output_pass() -> None:
    from dashboards.routes import _callback_problem

    key = "..msg.children...cases.children@abc.."
    declared = {key: {"inputs": [{"id": "go", "property": "n_clicks"}], "state": []}}
    body = {
        "output": key,
        "outputs": [
            {"id": "msg", "property": "children"},
            {"id": "cases", "property": "children@abc"},  # as dash-renderer sends it
        ],
        "inputs": [{"id": "go", "property": "n_clicks", "value": 1}],
        "state": [],
    }
    assert _callback_problem(body, declared) is None
    body["outputs"] = body["outputs"][:1]  # type: ignore[index]
    assert "2 output(s)" in str(_callback_problem(body, declared))
