"""The API of intake: probable duplicates on report, merge/unmerge, placing, notifications."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from gridmgr.cases import Actor, Role
from gridmgr.intake.channels import Channel, parse_intake
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.services.triage import import_intake
from gridmgr.store import Store
from tests.builders import tiny_context
from tests.test_api_v1 import FIXED, REPORT, URL, client, operator, worker, worker_id

__all__ = ["client", "operator", "worker"]  # fixtures


def test_a_second_report_nearby_comes_back_with_its_probable_duplicate(
    client: FlaskClient, worker: dict[str, str], operator: dict[str, str]
) -> None:
    first = client.post(URL, json=REPORT, headers=worker).get_json()
    assert first["probable_duplicates"] == []
    second = client.post(URL, json={**REPORT, "lon": REPORT["lon"] + 0.0002}, headers=worker)

    assert second.status_code == 201
    [match] = second.get_json()["probable_duplicates"]
    assert match["case_id"] == first["case_id"]
    assert 15 < match["distance_m"] < 25
    assert "same category" in match["reasons"]
    dup = second.get_json()["case_id"]

    # suggested only: nothing merged until an operator says so
    assert client.get(f"/api/v1/cases/{dup}", headers=worker).get_json()["merged"] == []
    refused = client.post(
        f"/api/v1/cases/{dup}/merge",
        json={"master_id": first["case_id"], "comment": "同一摊贩"},
        headers=worker,
    )
    assert refused.status_code == 403
    merged = client.post(
        f"/api/v1/cases/{dup}/merge",
        json={"master_id": first["case_id"], "comment": "同一摊贩"},
        headers=operator,
    )
    assert merged.status_code == 200, merged.get_json()

    seen = client.get(f"/api/v1/cases/{dup}", headers=worker).get_json()
    assert seen["merged_into"] == first["case_id"]
    assert seen["outcome"]["state"] == "reported"
    rejected = client.post(
        f"/api/v1/cases/{first['case_id']}/actions",
        json={"action": "reject", "comment": "已劝离"},
        headers=operator,
    )
    assert rejected.status_code == 200
    seen = client.get(f"/api/v1/cases/{dup}", headers=worker).get_json()
    assert (seen["outcome"]["state"], seen["outcome"]["open"]) == ("rejected", False)
    both = client.get(f"/api/v1/cases/{first['case_id']}/duplicates", headers=operator).get_json()
    assert [c["case_id"] for c in both["merged"]] == [dup]

    split = client.post(f"/api/v1/cases/{dup}/unmerge", json={"comment": "两处"}, headers=operator)
    assert split.status_code == 200
    trail = client.get(f"/api/v1/cases/{dup}/trail", headers=operator).get_json()["events"]
    assert [e["action"] for e in trail] == ["report", "merge", "unmerge"]


def test_an_operator_places_an_unlocated_hotline_report(
    store: Store, client: FlaskClient, worker: dict[str, str], operator: dict[str, str]
) -> None:
    batch = parse_intake(
        [
            (
                2,
                {
                    "source_id": "H-9",
                    "category": "street_vending",
                    "description": "占道",
                    "address": "某路",
                },
            )
        ],
        source="h.csv",
        catalog=read_catalog(),
    )
    result = import_intake(
        store,
        tiny_context(),
        batch,
        channel=Channel.HOTLINE,
        actor=Actor("op", Role.OPERATOR),
        now=FIXED,
    )
    [(_, case_id)] = result.unlocated

    assert client.get("/api/v1/unlocated", headers=worker).status_code == 403
    queue = client.get("/api/v1/unlocated", headers=operator).get_json()["cases"]
    assert [(c["case_id"], c["address"], c["channel"]) for c in queue] == [
        (case_id, "某路", "hotline")
    ]
    pin = {"lon": REPORT["lon"], "lat": REPORT["lat"], "comment": "按地址定位"}
    assert client.post(f"/api/v1/cases/{case_id}/place", json=pin, headers=worker).status_code in (
        403,
        404,
    )
    placed = client.post(f"/api/v1/cases/{case_id}/place", json=pin, headers=operator)
    assert placed.status_code == 200, placed.get_json()
    body = placed.get_json()
    assert body["cell"] == "320281001001001"
    assert body["responsible"]["person_id"] == worker_id()
    assert client.get("/api/v1/unlocated", headers=operator).get_json()["cases"] == []
    again = client.post(f"/api/v1/cases/{case_id}/place", json=pin, headers=operator)
    assert again.status_code == 400
    case = client.get(f"/api/v1/cases/{case_id}", headers=worker).get_json()
    assert (case["channel"], case["source_id"], case["queue"]) == ("hotline", "H-9", "cell")


def test_the_dispatched_worker_finds_the_notice_in_his_inbox(
    client: FlaskClient, worker: dict[str, str], operator: dict[str, str], tmp_path: Path
) -> None:
    case_id = client.post(URL, json=REPORT, headers=worker).get_json()["case_id"]
    for action in ("register", "dispatch"):
        reply = client.post(
            f"/api/v1/cases/{case_id}/actions",
            json={"action": action, "comment": "请处理"},
            headers=operator,
        )
        assert reply.status_code == 200

    inbox = client.get("/api/v1/notifications", headers=worker).get_json()["notifications"]
    assert [(n["case_id"], n["trigger"], n["read"]) for n in inbox] == [
        (case_id, "dispatched", False)
    ]
    assert client.get("/api/v1/notifications", headers=operator).get_json()["notifications"] == []
    marked = client.post(
        "/api/v1/notifications/read", json={"ids": [inbox[0]["id"]]}, headers=worker
    )
    assert marked.get_json() == {"marked": 1}
    unread = client.get("/api/v1/notifications?unread=true", headers=worker).get_json()
    assert unread["notifications"] == []
    status = client.get(f"/api/v1/cases/{case_id}/notifications", headers=operator).get_json()
    assert [(d["recipient"], d["channel"], d["status"]) for d in status["deliveries"]] == [
        (worker_id(), "in_app", "delivered")
    ]


def test_an_open311_reporter_of_a_merged_duplicate_sees_the_masters_outcome(
    store: Store, tmp_path: Path
) -> None:
    from gridmgr.cases import Action
    from gridmgr.services.actions import act
    from gridmgr.services.triage import merge_cases
    from tests.test_open311 import (
        ROOT,
        Served,
        created_id,
        make_app,
        new_api_key,
        post,
        request_list,
    )

    context = tiny_context()
    app, ingestor = make_app(store, context, tmp_path)
    try:
        served = Served(app, app.test_client(), store, context, new_api_key(store))
        first, second = created_id(post(served)), created_id(post(served))
        assert [i.channel for i in _infos(store, [first, second])] == ["citizen", "citizen"]
        op = Actor("op", Role.OPERATOR)
        merge_cases(store, second, first, actor=op, at=FIXED, comment="同一处")
        act(store, context, first, Action.REJECT, actor=op, at=FIXED, comment="已劝离")

        [seen] = request_list(served.client.get(f"{ROOT}/requests/{second}.json"))
        assert seen["status"] == "closed"
        assert first in seen["status_notes"]
    finally:
        ingestor.close()


def _infos(store: Store, ids: list[str]) -> list[Any]:
    found = store.intake_info(ids)
    return [found[i] for i in ids]


def test_an_identical_report_is_merged_automatically_only_when_configured(
    store: Store, tmp_path: Path
) -> None:
    from gridmgr.settings import Settings
    from tests.builders import api_app, close_app
    from tests.test_api_v1 import bearer, token_for

    context = tiny_context()
    app = api_app(
        store, Settings(data_dir=tmp_path, auto_merge_score=0.8), context, clock=lambda: FIXED
    )
    try:
        client = app.test_client()
        me = bearer(token_for(store, worker_id()))
        first = client.post(URL, json=REPORT, headers=me).get_json()
        assert first["merged_into"] is None
        second = client.post(URL, json=REPORT, headers=me).get_json()  # same reporter, spot, text
        assert second["probable_duplicates"][0]["score"] >= 0.8
        assert second["merged_into"] == first["case_id"]
        last = store.trail(second["case_id"])[-1]
        assert (last.action, last.actor) == ("merge", "system:dedup")
        assert "automatic merge" in last.comment
        other = client.post(URL, json={**REPORT, "description": "另一件事：井盖"}, headers=me)
        assert other.get_json()["merged_into"] is None  # below the threshold: suggested only
    finally:
        close_app(app)
