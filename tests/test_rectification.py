"""整改 on both backends: a 双随机 finding with issues opens a rectification case for the target's
cell and the inspecting department; the re-inspection reopens it under 督办, then closes it; the
finding and the case name each other."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask

from gridmgr import Grid
from gridmgr.access import caller_for
from gridmgr.cases import Action, CaseState, unit_of
from gridmgr.inspection.draw import Visit, commitment_of
from gridmgr.responsibility.roster import Post, PostKind
from gridmgr.responsibility.sla import Stage
from gridmgr.services import inspections as svc
from gridmgr.services.actions import act_as
from gridmgr.services.context import Services
from gridmgr.services.rectification import RECTIFICATION
from gridmgr.settings import Settings
from gridmgr.store import Store
from gridmgr.web.deps import services_of
from tests.builders import api_app, close_app, tiny_context, tiny_roster
from tests.test_inspection_api import BASE, FIXED, PLAN, SEED


@dataclass
class Inspected:
    app: Flask
    services: Services
    draw_id: str
    visit: Visit

    def auth(self, person_id: str) -> dict[str, str]:
        token = self.services.store.create_credential(
            kind="person", subject=person_id, now=FIXED, days=30
        )
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def inspected(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Inspected]:
    at = FIXED - timedelta(days=8)
    svc.generate_default_registry(store, tiny, at=at, actor="m", n=1500, seed=5)
    svc.generate_default_pool(store, tiny_roster(), at=at, actor="m")
    plan_id = svc.create_plan(store, PLAN, at=at, actor="m").plan_id
    made = svc.commit(
        store, plan_id, tiny_roster(), at=at, actor="m", commitment=commitment_of(SEED)
    )
    draw = svc.run(store, made.draw.draw_id, SEED, at=at, actor="m")
    assert draw.result is not None
    app = api_app(
        store, Settings(data_dir=tmp_path), tiny_context(), clock=lambda: FIXED, grid=tiny
    )
    yield Inspected(app, services_of(app), draw.draw_id, draw.result.visits[0])
    close_app(app)


def _member(services: Services, unit_id: str) -> str:
    leader = services.roster.owner(Post(PostKind.UNIT_LEADER, unit_id), FIXED)
    assert leader is not None
    return min(
        p.person_id
        for p in services.roster.persons.values()
        if p.unit_id == unit_id and p.person_id != leader.person_id
    )


def _as(services: Services, person_id: str, case_id: str, action: Action) -> None:
    caller = caller_for(services.roster, person_id, FIXED)
    act_as(services, caller, case_id, action, comment="整改")


def test_a_finding_with_issues_opens_a_rectification_case_and_its_reinspection_closes_it(
    inspected: Inspected,
) -> None:
    services, visit = inspected.services, inspected.visit
    client = inspected.app.test_client()
    dept, item = visit.items[0]
    officer = inspected.auth(visit.officers[0])
    results = f"{BASE}/draws/{inspected.draw_id}/visits/{visit.visit_no}"
    body = {"department": dept, "item": item, "outcome": "issues", "note": "消防通道堵塞"}
    done = client.post(f"{results}/results", json=body, headers=officer)
    assert done.status_code == 201, done.get_json()
    case_id = done.get_json()["case_id"]
    assert case_id is not None

    # the case: the target's cell, the inspecting department's inbox, a deadline to sign for it
    case = services.store.case(case_id)
    cell = next(
        v.cell for v in svc.list_visits(services.store, inspected.draw_id) if v.visit == visit
    )
    assert (case.category, case.cell, case.state) == (RECTIFICATION, cell, CaseState.DISPATCHED)
    assert unit_of(case.assignee) == dept
    assert case.stage is Stage.SIGN
    assert case.due_at is not None
    # each names the other
    [finding] = services.store.list_findings(inspected.draw_id)
    assert finding.case_id == case_id
    trail = services.store.trail(case_id)
    assert trail[0].details["inspection"]["draw_id"] == inspected.draw_id
    assert trail[0].details["inspection"]["visit_no"] == visit.visit_no
    assert trail[0].details["channel"] == "inspection"

    # not before the unit reports the rectification done
    early = {"department": dept, "item": item, "outcome": "compliant"}
    assert client.post(f"{results}/reinspection", json=early, headers=officer).status_code >= 400
    member = _member(services, dept)
    for action in (Action.ACCEPT, Action.START, Action.HANDLE):
        _as(services, member, case_id, action)
    assert services.store.case(case_id).state is CaseState.HANDLED

    # a failed re-inspection reopens it (a fresh deadline) under 督办
    failed = {"department": dept, "item": item, "outcome": "issues", "note": "仍有杂物"}
    reply = client.post(f"{results}/reinspection", json=failed, headers=officer)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["state"] == "in_progress"
    actions = [e.action for e in services.store.trail(case_id)]
    assert actions[-2:] == ["reopen", "supervise"]
    last = services.store.trail(case_id)[-1]
    assert last.details["reinspection"]["outcome"] == "issues"
    assert last.details["reinspection"]["by"] == visit.officers[0]
    case = services.store.case(case_id)
    assert (case.stage, case.reopen_count) == (Stage.HANDLE, 1)

    # the unit reports again; the re-inspection passes and closes it
    _as(services, member, case_id, Action.HANDLE)
    passed = {"department": dept, "item": item, "outcome": "compliant", "note": "已清理"}
    reply = client.post(f"{results}/reinspection", json=passed, headers=officer)
    assert reply.status_code == 200, reply.get_json()
    assert reply.get_json()["state"] == "closed"
    assert [e.action for e in services.store.trail(case_id)][-2:] == ["verify", "close"]


def test_only_the_visits_officers_and_city_wide_roles_reinspect(inspected: Inspected) -> None:
    services, visit = inspected.services, inspected.visit
    client = inspected.app.test_client()
    dept, item = visit.items[0]
    results = f"{BASE}/draws/{inspected.draw_id}/visits/{visit.visit_no}"
    body = {"department": dept, "item": item, "outcome": "issues"}
    officer = inspected.auth(visit.officers[0])
    assert client.post(f"{results}/results", json=body, headers=officer).status_code == 201
    worker = next(
        a.person_id for a in tiny_roster().assignments if a.post.kind.value == "grid_worker"
    )
    leader = inspected.auth(
        services.roster.owner(Post(PostKind.TOWN_LEADER, "320281001"), FIXED).person_id
    )  # type: ignore[union-attr]
    assert client.post(f"{results}/reinspection", json=body, headers=leader).status_code == 403
    answer = client.post(f"{results}/reinspection", json=body, headers=inspected.auth(worker))
    assert answer.status_code in (403, 404)


def test_a_compliant_finding_opens_no_case(inspected: Inspected) -> None:
    visit = inspected.visit
    dept, item = visit.items[0]
    client = inspected.app.test_client()
    url = f"{BASE}/draws/{inspected.draw_id}/visits/{visit.visit_no}/results"
    body = {"department": dept, "item": item, "outcome": "compliant"}
    done = client.post(url, json=body, headers=inspected.auth(visit.officers[0]))
    assert done.get_json()["case_id"] is None
    assert inspected.services.store.count_cases() == 0
