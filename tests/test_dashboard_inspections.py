"""The inspections page: plans, draws with their seed commitment, a draw's visits on the map by
status, results — for city-wide roles only."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import Flask

from dashboards.reads.inspections import inspections
from gridmgr import Grid
from gridmgr.access import Caller
from gridmgr.cases import Actor, Role
from gridmgr.inspection.draw import commitment_of
from gridmgr.services import inspections as svc
from tests.builders import tiny_roster
from tests.test_dashboard import (  # noqa: F401 - fixtures
    app,
    callback,
    clock,
    logged_in,
    render,
    services_of,
    texts,
)
from tests.test_inspection_api import PLAN, SEED
from tests.test_sessions import FIXED, OWN_CELL


def drawn(app: Flask, tiny: Grid) -> str:  # noqa: F811
    store = services_of(app).store
    at = FIXED - timedelta(days=8)
    svc.generate_default_registry(store, tiny, at=at, actor="m", n=600, seed=5)
    svc.generate_default_pool(store, tiny_roster(), at=at, actor="m")
    plan_id = svc.create_plan(store, PLAN, at=at, actor="m").plan_id
    made = svc.commit(
        store, plan_id, tiny_roster(), at=at, actor="m", commitment=commitment_of(SEED)
    )
    draw = svc.run(store, made.draw.draw_id, SEED, at=at, actor="m")
    assert draw.result is not None
    return draw.draw_id


def test_the_operator_sees_plans_draws_and_the_visits_on_the_map(
    app: Flask,  # noqa: F811
    tiny: Grid,
) -> None:
    draw_id = drawn(app, tiny)
    client = logged_in(app, None)
    page = render(client, "/dashboard/inspections")
    words = texts(page)
    assert "二季度抽查" in words
    assert draw_id in words
    raw = json.dumps(page, ensure_ascii=False)
    operator = Caller(Actor("system:test", Role.OPERATOR), None)
    visits = inspections(services_of(app), operator)["visits"]
    assert visits
    assert f"待检查 {len(visits)}" in " ".join(words)  # nothing recorded yet: all planned
    assert SEED not in raw  # the seed is not shown before it is revealed
    chosen = callback(client, [("insp-body", "children")], [("insp-draw", "value", draw_id)])
    assert chosen.status_code == 200


def test_a_grid_worker_may_not_see_the_inspections_page(app: Flask) -> None:  # noqa: F811
    client = logged_in(app, OWN_CELL)
    assert "此页面仅限指挥中心和管理人员。" in texts(render(client, "/dashboard/inspections"))
    refused = callback(client, [("insp-body", "children")], [("insp-draw", "value", "x")])
    assert refused.status_code == 403
