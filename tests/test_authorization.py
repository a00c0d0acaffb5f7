"""Authorization matrix: every role against objects in and out of its scope, for every operation.

Eight callers (a grid worker, a grid head, a town leader, an operator, a manager, a worker of a
far cell, and a member and the leader of the town's enforcement team) try every native-API
operation on a case inside and a case outside their cells; the far case is dispatched to the
team, so it is in the team's inbox. The number of unauthorized successes must be 0, and every
allowed call must succeed.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, Post, PostKind, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
NEAR = (120.0625, 31.9375)  # cell 320281001001001 (community 001)
FAR = (120.4375, 31.5625)  # cell 320281001004004 (community 004)
NEAR_CELL, FAR_CELL = "320281001001001", "320281001004004"
TEAM = "town-team-320281001"  # the town's enforcement team: the far case is in its inbox


@dataclass(frozen=True)
class Who:
    name: str
    person_id: str
    sees_near: bool
    sees_far: bool
    city_wide: bool
    operator: bool
    unit: bool = False  # a member or the leader of TEAM
    leads: bool = False  # TEAM's leader


def callers() -> list[Who]:
    roster = tiny_roster()

    def owner(post: Post) -> str:
        person = roster.owner(post, FIXED)
        assert person is not None
        return person.person_id

    operator = sorted(a.person_id for a in roster.holders(COMMAND_CENTER, FIXED))[0]
    manager = owner(Post(PostKind.UNIT_LEADER, "cgj"))  # a department's leader is a manager
    leader = owner(Post(PostKind.UNIT_LEADER, TEAM))
    member = min(
        p.person_id for p in roster.persons.values() if p.unit_id == TEAM and p.person_id != leader
    )
    return [  # the team first: the operator's 移交执法 takes the far case out of its inbox
        Who("team member", member, False, True, False, False, unit=True),
        Who("team leader", leader, False, True, False, False, unit=True, leads=True),
        Who("near worker", owner(field_post(NEAR_CELL)), True, False, False, False),
        Who("near head", owner(field_post(NEAR_CELL[:12])), True, False, False, False),
        Who("town leader", owner(field_post(NEAR_CELL[:9])), True, True, False, False),
        Who("operator", operator, True, True, True, True),
        Who("manager", manager, True, True, True, False),
        Who("far worker", owner(field_post(FAR_CELL)), False, True, False, False),
    ]


@pytest.fixture
def setup(store: Store, tmp_path: Path) -> Iterator[tuple[FlaskClient, dict[str, str]]]:
    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: FIXED)
    client = app.test_client()
    root = {
        "Authorization": "Bearer "
        + store.create_credential(
            kind="person",
            subject=next(w for w in callers() if w.operator).person_id,
            now=FIXED,
            days=9,
        )
    }
    cases = {}
    for name, (lon, lat) in (("near", NEAR), ("far", FAR)):
        reply = client.post(
            "/api/v1/reports",
            headers=root,
            json={"lon": lon, "lat": lat, "category": "street_vending", "description": name},
        )
        assert reply.status_code == 201
        cases[name] = reply.get_json()["case_id"]
    for action in ({"action": "register"}, {"action": "dispatch", "unit": TEAM}):
        reply = client.post(
            f"/api/v1/cases/{cases['far']}/actions", headers=root, json={**action, "comment": "派"}
        )
        assert reply.status_code == 200, reply.get_json()
    yield client, cases
    close_app(app)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (1, 2, 3)).save(out, "JPEG")
    return out.getvalue()


Operation = Callable[[FlaskClient, dict[str, str], str, tuple[float, float]], int]

OPERATIONS: dict[str, tuple[Operation, Callable[[Who, bool], bool]]] = {
    "get case": (
        lambda c, h, case, _: c.get(f"/api/v1/cases/{case}", headers=h).status_code,
        lambda who, near: who.sees_near if near else who.sees_far,
    ),
    "trail": (
        lambda c, h, case, _: c.get(f"/api/v1/cases/{case}/trail", headers=h).status_code,
        lambda who, near: who.sees_near if near else who.sees_far,
    ),
    "list photos": (
        lambda c, h, case, _: c.get(f"/api/v1/cases/{case}/photos", headers=h).status_code,
        lambda who, near: who.sees_near if near else who.sees_far,
    ),
    "add photo": (
        lambda c, h, case, _: (
            c.post(
                f"/api/v1/cases/{case}/photos",
                headers=h,
                data={"photo": (io.BytesIO(jpeg()), "p.jpg")},
            ).status_code
        ),
        lambda who, near: who.sees_near if near else who.sees_far,
    ),
    "supervise (督办)": (
        lambda c, h, case, _: (
            c.post(
                f"/api/v1/cases/{case}/actions",
                headers=h,
                json={"action": "supervise", "comment": "请尽快处理"},
            ).status_code
        ),
        lambda who, near: who.operator,
    ),
    "register": (
        lambda c, h, case, _: (
            c.post(
                f"/api/v1/cases/{case}/actions",
                headers=h,
                json={"action": "register", "comment": "立案"},
            ).status_code
        ),
        lambda who, near: who.operator,
    ),
    "report here": (
        lambda c, h, _, where: (
            c.post(
                "/api/v1/reports",
                headers=h,
                json={
                    "lon": where[0],
                    "lat": where[1],
                    "category": "street_vending",
                    "description": "matrix",
                },
            ).status_code
        ),
        lambda who, near: (who.sees_near if near else who.sees_far) and not who.unit,
    ),
    "unit inbox": (
        lambda c, h, _case, _where: c.get(f"/api/v1/units/{TEAM}/cases", headers=h).status_code,
        lambda who, near: who.city_wide or who.unit,
    ),
    "unit members": (
        lambda c, h, _case, _where: c.get(f"/api/v1/units/{TEAM}/members", headers=h).status_code,
        lambda who, near: who.city_wide or who.leads,
    ),
    "dispatch picker": (
        lambda c, h, case, _: (
            c.get(f"/api/v1/cases/{case}/dispatch-choices", headers=h).status_code
        ),
        lambda who, near: who.operator,
    ),
    "transfer (移交执法)": (
        lambda c, h, case, _: (
            c.post(
                f"/api/v1/cases/{case}/actions",
                headers=h,
                json={"action": "transfer", "unit": "scjg", "comment": "移交执法"},
            ).status_code
        ),
        lambda who, near: who.operator and not near,  # the near case is not dispatched: 409
    ),
    "event stream": (
        lambda c, h, _case, _where: c.get("/api/v1/events", headers=h).status_code,
        lambda who, near: who.city_wide,
    ),
}


def test_no_role_succeeds_outside_its_scope_and_every_allowed_call_succeeds(
    setup: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    client, cases = setup
    unauthorized_successes, wrongly_refused, calls = [], [], 0
    for who in callers():
        token = store.create_credential(kind="person", subject=who.person_id, now=FIXED, days=9)
        headers = {"Authorization": f"Bearer {token}"}
        for op_name, (operation, allowed) in OPERATIONS.items():
            for near in (True, False):
                case = cases["near" if near else "far"]
                status = operation(client, headers, case, NEAR if near else FAR)
                calls += 1
                expected = allowed(who, near)
                label = f"{who.name} / {op_name} / {'near' if near else 'far'}: {status}"
                if status < 300 and not expected:
                    unauthorized_successes.append(label)
                if expected and status >= 300 and not (op_name == "register" and status == 409):
                    wrongly_refused.append(label)  # (a second register is an illegal transition)
                if not expected:
                    assert status in (403, 404, 409), label  # 409: refused by the state first
    assert calls == len(callers()) * len(OPERATIONS) * 2
    assert unauthorized_successes == []
    assert wrongly_refused == []


def test_a_case_list_shows_only_the_callers_cases(
    setup: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    client, cases = setup
    for who in callers():
        token = store.create_credential(kind="person", subject=who.person_id, now=FIXED, days=9)
        listed = client.get("/api/v1/cases?limit=200", headers={"Authorization": f"Bearer {token}"})
        seen = {c["case_id"] for c in listed.get_json()["cases"]}
        expected = {name for name, yes in (("near", who.sees_near), ("far", who.sees_far)) if yes}
        assert seen == {cases[n] for n in expected}, who.name
        assert listed.get_json()["total"] == len(expected)


def test_an_open311_api_key_is_not_a_native_api_credential(
    setup: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    client, cases = setup
    key = store.create_credential(kind="apikey", subject="hotline", now=FIXED, days=9)

    reply = client.get(f"/api/v1/cases/{cases['near']}", headers={"Authorization": f"Bearer {key}"})

    assert reply.status_code == 401


def test_case_ids_are_not_guessable(setup: tuple[FlaskClient, dict[str, str]]) -> None:
    _, cases = setup
    for case_id in cases.values():
        assert len(case_id) == 32
        int(case_id, 16)  # 128 random bits, hex
    assert cases["near"][:8] != cases["far"][:8]
