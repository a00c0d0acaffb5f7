"""``/api/v1/inspections``: who may plan, who sees which visits, who records results, and the
public list without authentication (Flask test client, on SQLite and PostgreSQL)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from gridmgr import Grid
from gridmgr.api.inspections import InspectionCaller
from gridmgr.inspection.draw import Visit, commitment_of
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, Post, PostKind, field_post
from gridmgr.services import inspections as svc
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, tiny_context, tiny_roster

FIXED = datetime(2026, 4, 8, 10, 0, tzinfo=TZ)
SEED = "a1" * 32  # a fixed seed, so every run draws the same visits
BASE = "/api/v1/inspections"
PLAN = {
    "name": "二季度抽查",
    "period": {"start": "2026-04-01", "end": "2026-06-30"},
    "departments": {"scjg": ["食品安全"], "xfjy": ["消防安全"], "cgj": ["市容"]},
    "ratios": {"A": "0.3", "B": "0.1", "C": "0.05", "D": "0.02"},
}


@dataclass
class World:
    client: FlaskClient
    store: Store
    draw_id: str
    visits: tuple[Visit, ...]

    def auth(self, person_id: str) -> dict[str, str]:
        token = self.store.create_credential(kind="person", subject=person_id, now=FIXED, days=30)
        return {"Authorization": f"Bearer {token}"}


def holder(post: Post) -> str:
    person = tiny_roster().owner(post, FIXED)
    assert person is not None
    return person.person_id


@pytest.fixture
def world(store: Store, tiny: Grid, tmp_path: Path) -> World:
    at = FIXED - timedelta(days=8)
    svc.generate_default_registry(store, tiny, at=at, actor="m", n=1500, seed=5)
    svc.generate_default_pool(store, tiny_roster(), at=at, actor="m")
    plan_id = svc.create_plan(store, PLAN, at=at, actor="m").plan_id
    made = svc.commit(
        store, plan_id, tiny_roster(), at=at, actor="m", commitment=commitment_of(SEED)
    )
    assert made.seed is None  # made elsewhere: only its commitment is given
    draw = svc.run(store, made.draw.draw_id, SEED, at=at, actor="m")
    assert draw.result is not None
    context = tiny_context()
    app = api_app(store, Settings(data_dir=tmp_path), context, clock=lambda: FIXED, grid=tiny)
    return World(app.test_client(), store, draw.draw_id, draw.result.visits)


def test_managers_and_operators_plan_others_may_not(world: World) -> None:
    manager = world.auth(holder(Post(PostKind.UNIT_LEADER, "scjg")))
    operator = world.auth(holder(COMMAND_CENTER))
    worker = world.auth(holder(field_post("320281001001001")))
    leader = world.auth(holder(Post(PostKind.TOWN_LEADER, "320281001")))
    listed = world.client.get(f"{BASE}/plans", headers=operator)
    assert listed.status_code == 200
    plan_id = listed.get_json()["plans"][0]["plan_id"]
    got = world.client.get(f"{BASE}/plans/{plan_id}", headers=manager)
    assert got.status_code == 200
    assert got.get_json()["draws"][0]["draw_id"] == world.draw_id
    new_plan = {**PLAN, "name": "三季度抽查", "joint": True}
    created = world.client.post(f"{BASE}/plans", json=new_plan, headers=manager)
    assert created.status_code == 201, created.get_json()
    assert created.headers["Location"].endswith(created.get_json()["plan_id"])
    assert created.get_json()["joint"] is True
    for who in (worker, leader):
        assert world.client.get(f"{BASE}/plans", headers=who).status_code == 403
        again = world.client.post(f"{BASE}/plans", json={**PLAN, "name": "x"}, headers=who)
        assert again.status_code == 403
    assert world.client.get(f"{BASE}/plans").status_code == 401
    bad = world.client.post(
        f"{BASE}/plans", json={**PLAN, "departments": {"nosuch": ["x"]}}, headers=operator
    )
    assert bad.status_code == 400
    assert "unknown department" in bad.get_json()["error"]["message"]
    assert world.client.get(f"{BASE}/plans/plan-nosuch", headers=operator).status_code == 404


def test_token_writes_need_no_csrf_token_when_sessions_are_on(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    # as `gridmgr serve` composes the app: the dashboard's sessions (and their CSRF guard) are on;
    # the inspections API authenticates by bearer token only, so a cookie never speaks for it
    from gridmgr.web.sessions import init_sessions
    from tests.test_sessions import KEY

    app = api_app(
        store, Settings(data_dir=tmp_path), tiny_context(), clock=lambda: FIXED, grid=tiny
    )
    init_sessions(app, secret_key=KEY, secure_cookies=False)
    world = World(app.test_client(), store, "", ())
    manager = world.auth(holder(Post(PostKind.UNIT_LEADER, "scjg")))
    created = world.client.post(f"{BASE}/plans", json=PLAN, headers=manager)
    assert created.status_code == 201, created.get_json()


def visit_numbers(world: World, headers: dict[str, str]) -> set[int]:
    reply = world.client.get(f"{BASE}/draws/{world.draw_id}/visits", headers=headers)
    assert reply.status_code == 200, reply.get_json()
    return {v["visit_no"] for v in reply.get_json()["visits"]}


def test_each_caller_sees_the_visits_in_his_view(world: World) -> None:
    everything = {v.visit_no for v in world.visits}
    assert visit_numbers(world, world.auth(holder(COMMAND_CENTER))) == everything
    # the tiny grid is one town: its leader sees all of it
    assert visit_numbers(world, world.auth(holder(Post(PostKind.TOWN_LEADER, "320281001")))) == (
        everything
    )
    officer = next(o for v in world.visits for o in v.officers if o not in tiny_roster().persons)
    mine = {v.visit_no for v in world.visits if officer in v.officers}
    assert visit_numbers(world, world.auth(officer)) == mine
    assert mine != everything
    worker = holder(field_post("320281001001001"))
    assert visit_numbers(world, world.auth(worker)) == {
        v.visit_no for v in world.visits if worker in v.officers
    }


def test_a_caller_unknown_to_roster_and_pool_is_refused(world: World) -> None:
    reply = world.client.get(f"{BASE}/draws/{world.draw_id}", headers=world.auth("stranger-1"))
    assert reply.status_code == 403


def test_a_town_leader_sees_only_his_town() -> None:
    leader = InspectionCaller("P1", city_wide=False, towns=("320281001",))
    assert leader.may_see(("O1", "O2"), "320281001")
    assert not leader.may_see(("O1", "O2"), "320281002")
    assert InspectionCaller("O1", city_wide=False).may_see(("O1", "O2"), "320281002")


def test_an_officer_of_the_visit_records_a_result_others_cannot(world: World) -> None:
    visit = world.visits[0]
    dept, item = visit.items[0]
    body = {"department": dept, "item": item, "outcome": "compliant", "note": "备注"}
    url = f"{BASE}/draws/{world.draw_id}/visits/{visit.visit_no}/results"
    outsider = next(
        o.officer_id
        for o in svc.pool_snapshot(world.store)
        if o.officer_id not in visit.officers and o.officer_id not in tiny_roster().persons
    )
    assert world.client.post(url, json=body, headers=world.auth(outsider)).status_code == 404
    leader = world.auth(holder(Post(PostKind.TOWN_LEADER, "320281001")))
    assert world.client.post(url, json=body, headers=leader).status_code == 403
    assert world.store.list_findings() == []
    done = world.client.post(url, json=body, headers=world.auth(visit.officers[0]))
    assert done.status_code == 201, done.get_json()
    assert done.get_json()["outcome"] == "compliant"
    bad = world.client.post(
        url, json={**body, "outcome": "great"}, headers=world.auth(visit.officers[1])
    )
    assert bad.status_code == 400
    findings = world.store.list_findings()
    assert [(f.recorded_by, f.outcome) for f in findings] == [(visit.officers[0], "compliant")]


def test_the_public_list_needs_no_login_and_names_no_officer(world: World) -> None:
    visit = world.visits[0]
    dept, item = visit.items[0]
    svc.record_result(
        world.store, world.draw_id, visit.visit_no, department=dept, item=item,
        outcome="issues", note="内部", at=FIXED, actor=visit.officers[0],
    )  # fmt: skip
    reply = world.client.get(f"{BASE}/public/results")
    assert reply.status_code == 200
    rows = reply.get_json()["results"]
    assert [(r["target_id"], r["outcome"]) for r in rows] == [(visit.target_id, "issues")]
    text = reply.get_data(as_text=True)
    assert visit.officers[0] not in text
    assert "内部" not in text
    one = world.client.get(f"{BASE}/public/results?draw_id={world.draw_id}")
    assert one.get_json()["results"] == rows


def test_a_draw_record_is_public_to_callers_and_hides_the_seed_until_revealed(
    world: World,
) -> None:
    officer = world.auth(world.visits[0].officers[0])
    body = world.client.get(f"{BASE}/draws/{world.draw_id}", headers=officer).get_json()
    assert body["state"] == "drawn"
    assert body["seed"] is None
    assert len(body["commitment"]) == 64
    assert world.client.get(f"{BASE}/draws/draw-nosuch", headers=officer).status_code == 404


@pytest.mark.slow
def test_no_inspection_operation_gives_a_server_error(world: World) -> None:
    """Schemathesis calls every inspections operation with generated inputs, as an operator."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    app = world.client.application
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    header = world.auth(holder(COMMAND_CENTER))
    operations = [r.ok() for r in schema.get_all_operations() if r.ok().path.startswith(BASE)]
    assert len(operations) == 8
    calls: list[int] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=header, checks=[not_a_server_error])
            calls.append(response.status_code)

        call()
    assert len(calls) >= 5 * len(operations)
    assert any(code < 300 for code in calls)
