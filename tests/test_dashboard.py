"""The dashboard over HTTP, as the browser drives it: logins, CSRF, scope in every callback,
the grid geometry sent once, live updates that send only what changed."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import shapely
from flask import Flask
from flask.testing import FlaskClient

from dashboards import Dashboard, dashboard_of, mount_dashboard
from dashboards.figures import Outline, Trace, map_figure
from dashboards.geo import MapGeometry, build_tier
from dashboards.reads import command as reads
from dashboards.reads.command import values_for
from gridmgr import Grid
from gridmgr.api import create_app
from gridmgr.cases import Action, Actor, Role
from gridmgr.responsibility.roster import COMMAND_CENTER, Roster, field_post
from gridmgr.services.actions import act
from gridmgr.services.context import Services
from gridmgr.services.queries import CellLoad
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import Store
from gridmgr.web.sessions import init_sessions
from tests.builders import app_services, close_app, tiny_context
from tests.test_sessions import FIXED, KEY, OWN_CELL, PASSWORD, Clock, log_in

OTHER_CELL = "320281001004004"  # the SE corner cell of the tiny grid
OPERATOR = Actor("system:test", Role.OPERATOR)


def person_of(roster: Roster, cell: str | None) -> str:
    post = COMMAND_CENTER if cell is None else field_post(cell)
    person = roster.owner(post, FIXED)
    assert person is not None
    return person.person_id


@pytest.fixture
def clock() -> Clock:
    return Clock(FIXED)


def dashboard_app(
    store: Store,
    grid: Grid,
    data_dir: Path,
    clock: Clock,
    *,
    logins: tuple[str | None, ...] = (None, OWN_CELL, OTHER_CELL),
    tile_url: str | None = None,
) -> Flask:
    """The whole app (API, sessions, dashboard) on the tiny roster; the people of ``logins``
    (cells, ``None`` for the command center) get the test password. Close its ingestor."""
    context = tiny_context()
    settings = Settings(data_dir=data_dir)
    services = app_services(store, settings, context, clock=clock)
    built = create_app(settings, grid, context.roster, services=services)
    init_sessions(built, secret_key=KEY, secure_cookies=False)
    mount_dashboard(built, services, tile_url=tile_url)
    for cell in logins:
        store.set_password(person_of(context.roster, cell), PASSWORD, now=FIXED, actor="test")
    return built


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path, clock: Clock) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, clock)
    yield built
    close_app(built)


def board_of(app: Flask) -> Dashboard:
    """The dashboard mounted on ``app``."""
    return dashboard_of(app)


def services_of(app: Flask) -> Services:
    """The services the dashboard on ``app`` runs on."""
    return dashboard_of(app).services


def report(app: Flask, cell: str, text: str = "路灯不亮") -> str:
    board = board_of(app)
    x, y = board.geometry.tier(3).centers[cell]
    result = report_incident(
        board.services.store,
        board.services.context,
        reporter=OPERATOR,
        category="street_vending",
        at=FIXED,
        description=text,
        lon=x,
        lat=y,
    )
    return result.case.case_id


def logged_in(app: Flask, cell: str | None) -> FlaskClient:
    client = app.test_client()
    assert log_in(client, person_of(services_of(app).roster, cell)).status_code == 303
    assert client.get("/dashboard/").status_code == 200  # sets the CSRF cookie
    return client


def callback(
    client: FlaskClient,
    outputs: list[tuple[str, str]],
    inputs: list[tuple[Any, str, Any]],
    state: list[tuple[Any, str, Any]] = (),  # type: ignore[assignment]
    *,
    csrf: bool = True,
    changed: int | None = None,
) -> Any:
    """POST one callback as dash-renderer does (X-CSRFToken from the _csrf_token cookie)."""
    cookie = client.get_cookie("_csrf_token")
    headers = {"X-CSRFToken": cookie.value} if csrf and cookie is not None else {}
    body = {
        "output": "",
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        # a pattern-matching (ALL) input arrives as the list of its matches
        "inputs": [
            [{"id": i, "property": p, "value": v}]
            if isinstance(i, dict)
            else {"id": i, "property": p, "value": v}
            for i, p, v in inputs
        ],
        "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
        "changedPropIds": [
            f"{json.dumps(i, sort_keys=True, separators=(',', ':')) if isinstance(i, dict) else i}"
            f".{p}"
            for n, (i, p, _) in enumerate(inputs)
            if changed is None or n == changed
        ],
    }
    body["output"] = output_key(client, outputs, inputs)
    if len(outputs) == 1:
        body["outputs"] = body["outputs"][0]  # type: ignore[index]
    return client.post("/dashboard/_dash-update-component", json=body, headers=headers)


def output_key(
    client: FlaskClient,
    outputs: list[tuple[str, str]],
    inputs: list[tuple[Any, str, Any]] = (),  # type: ignore[assignment]
) -> str:
    """The callback's output key as the app declares it (allow_duplicate adds a @hash); when
    several callbacks write the same outputs, the one whose inputs are ``inputs``."""
    wanted = [f"{i}.{p}" for i, p in outputs]
    answer = client.get("/dashboard/_dash-dependencies")
    if answer.status_code != 200:  # not logged in: any key will do, the request is refused
        return ".." + "...".join(wanted) + ".."

    def input_ids(dep: dict[str, Any]) -> list[str]:
        return [f"{d['id']}.{d['property']}" for d in dep["inputs"]]

    def token(i: Any) -> str:  # a pattern id is matched by its "type"
        return f'"type":"{i["type"]}"' if isinstance(i, dict) else f"{i}."

    asked = [token(i) for i, _, _ in inputs]
    found = []
    for dep in answer.get_json():
        declared = dep["output"].strip(".").split("...")
        if [d.split("@")[0] for d in declared] == wanted:
            found.append(dep)
    if not found:
        raise AssertionError(f"no callback outputs {wanted}")
    for dep in found:
        ids = [f"{i}." for i in input_ids(dep)]
        if all(any(a in i for i in ids) for a in asked):
            return str(dep["output"])
    return str(found[0]["output"])


def render(client: FlaskClient, path: str) -> Any:
    response = callback(client, [("page", "children")], [("url", "pathname", path)])
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response.get_json()["response"]["page"]["children"]


def texts(node: Any) -> list[str]:
    """Every string in a component tree (as JSON), in order."""
    out: list[str] = []
    if isinstance(node, str):
        out.append(node)
    elif isinstance(node, list):
        for x in node:
            out += texts(x)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in ("children", "props", "value", "label", "options"):
                out += texts(value)
    return out


# -- access -------------------------------------------------------------------------------------


def test_pages_send_a_visitor_to_the_login_and_callbacks_answer_401(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/dashboard/case/abc")
    assert page.status_code == 303
    assert page.headers["Location"] == "/login?next=/dashboard/case/abc"
    assert callback(client, [("page", "children")], [("url", "pathname", "/")]).status_code == 401
    assert client.get("/").headers["Location"] == "/dashboard/"


def test_a_callback_without_the_csrf_token_is_refused(app: Flask) -> None:
    client = logged_in(app, None)
    refused = callback(client, [("page", "children")], [("url", "pathname", "/")], csrf=False)
    assert refused.status_code == 400
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    assert not cookie.http_only
    assert cookie.same_site == "Strict"


def test_a_worker_never_sees_a_case_outside_his_cells_nor_acts_on_it(app: Flask) -> None:
    theirs = report(app, OTHER_CELL)
    client = logged_in(app, OWN_CELL)
    page = render(client, f"/dashboard/case/{theirs}")
    assert "没有找到该案件，或您无权查看。" in texts(page)
    before = services_of(app).store.case(theirs)
    response = callback(
        client,
        [("case-body", "children")],
        [({"type": "case-action", "action": "register"}, "n_clicks", 1)],
        [
            ("case-comment", "value", "立案"),
            ("case-defer-to", "value", None),
            ("case-id", "data", theirs),
        ],
    )
    assert response.status_code == 200
    assert "没有找到该案件" in json.dumps(response.get_json(), ensure_ascii=False)
    assert services_of(app).store.case(theirs).version == before.version


def test_the_operator_registers_a_case_from_its_page_and_the_trail_shows_it(app: Flask) -> None:
    case_id = report(app, OWN_CELL)
    client = logged_in(app, None)
    page = render(client, f"/dashboard/case/{case_id}")
    assert "立案" in texts(page)  # an allowed action
    done = callback(
        client,
        [("case-body", "children")],
        [({"type": "case-action", "action": "register"}, "n_clicks", 1)],
        [
            ("case-comment", "value", "属实，立案"),
            ("case-defer-to", "value", None),
            ("case-id", "data", case_id),
        ],
    )
    words = texts(done.get_json()["response"]["case-body"]["children"])
    assert services_of(app).store.case(case_id).state.value == "registered"
    assert "属实，立案" in words
    assert "已完成" in words
    assert sum(w.endswith("已验证") for w in words) == 2  # both events verify


def test_a_refused_action_says_why_and_changes_nothing(app: Flask) -> None:
    case_id = report(app, OWN_CELL)
    client = logged_in(app, None)
    done = callback(
        client,
        [("case-body", "children")],
        [({"type": "case-action", "action": "register"}, "n_clicks", 1)],
        [
            ("case-comment", "value", "   "),
            ("case-defer-to", "value", None),
            ("case-id", "data", case_id),
        ],
    )
    words = " ".join(texts(done.get_json()["response"]["case-body"]["children"]))
    assert "comment" in words
    assert services_of(app).store.case(case_id).state.value == "reported"


def test_pages_for_managers_are_refused_to_a_worker(app: Flask) -> None:
    client = logged_in(app, OWN_CELL)
    assert "此页面仅限指挥中心和管理人员。" in texts(render(client, "/dashboard/coverage"))


def test_citizen_text_reaches_the_page_as_text_only(app: Flask) -> None:
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    case_id = report(app, OWN_CELL, evil)
    client = logged_in(app, None)
    page = render(client, f"/dashboard/case/{case_id}")
    assert evil in texts(page)  # a string child: React renders it as a text node
    raw = json.dumps(page)
    assert "dangerously_allow_html" not in raw
    assert "Markdown" not in raw


def test_the_language_switch_is_a_cookie_and_english_follows(app: Flask) -> None:
    client = logged_in(app, None)
    switched = client.get("/dashboard/lang/en", headers={"Referer": "https://evil.example/"})
    assert switched.headers["Location"] == "/dashboard/"
    words = texts(render(client, "/dashboard/"))
    assert "Open" in words
    assert "Nothing escapes the grid" in words


# -- the live command center --------------------------------------------------------------------


MAP_OUTPUTS = [
    ("cc-map", "figure"),
    ("cc-feed", "children"),
    ("cc-kpis", "children"),
    ("cc-invariants", "children"),
    ("cc-cursor", "data"),
    ("cc-crumbs", "children"),
    ("cc-up", "hidden"),
    ("cc-replay-label", "children"),
    ("cc-replay-label", "hidden"),
    ("cc-live", "hidden"),
]


def tick(client: FlaskClient, n: int, seq: int) -> Any:
    return callback(
        client,
        MAP_OUTPUTS,
        [("cc-tick", "n_intervals", n), ("cc-view", "data", {"parent": None})],
        [("cc-cursor", "data", {"seq": seq, "zmax": 1, "drawn": {"parent": None}})],
        changed=0,
    )


def test_a_quiet_tick_sends_nothing_and_a_report_sends_a_small_patch(app: Flask) -> None:
    client = logged_in(app, None)
    head = services_of(app).store.ledger_head()
    seq = 0 if head is None else head.seq
    quiet = tick(client, 7, seq)
    assert quiet.status_code == 204, quiet.get_data(as_text=True)[:300]
    report(app, OTHER_CELL, "井盖缺失")
    update = tick(client, 7, seq)
    assert update.status_code == 200
    assert len(update.get_data()) < 20_000
    body = update.get_json()["response"]
    patch = body["cc-map"]["figure"]
    assert patch["__dash_patch_update"]
    operations = {json.dumps(op["location"]): op["params"]["value"] for op in patch["operations"]}
    index = board_of(app).geometry.tier(3).codes.index(OTHER_CELL)
    assert operations[json.dumps(["data", Trace.CELLS, "z", index])] == 1
    assert "geojson" not in json.dumps(patch)
    assert body["cc-cursor"]["data"]["seq"] > seq
    assert "井盖缺失" in json.dumps(body["cc-feed"], ensure_ascii=False)


def test_a_grid_worker_sees_only_his_cells_values(app: Flask) -> None:
    report(app, OTHER_CELL)
    report(app, OWN_CELL)
    services = services_of(app)
    from gridmgr.access import caller_for

    worker = caller_for(services.roster, person_of(services.roster, OWN_CELL), FIXED)
    codes = list(board_of(app).geometry.tier(3).codes)
    values = reads.values(services, worker, codes, "open", FIXED)
    assert values[codes.index(OWN_CELL)] == 1
    assert values[codes.index(OTHER_CELL)] is None
    assert reads.kpis(services, worker, FIXED).open == 1


def test_the_invariants_turn_red_on_an_overdue_stage_not_escalated(
    app: Flask, clock: Clock
) -> None:
    case_id = report(app, OWN_CELL)
    services = services_of(app)
    for action in (Action.REGISTER, Action.DISPATCH):
        act(
            services.store,
            services.context,
            case_id,
            action,
            actor=OPERATOR,
            at=FIXED,
            comment="ok",
        )
    from gridmgr.access import caller_for

    operator = caller_for(services.roster, person_of(services.roster, None), FIXED)
    panel = {i.key: i for i in reads.invariants(services, operator, FIXED, verified={})}
    assert all(i.ok for i in panel.values() if i.key != "ledger")
    later = FIXED + timedelta(days=3)
    clock.now = later
    panel = {i.key: i for i in reads.invariants(services, operator, later, verified={})}
    assert not panel["escalated"].ok
    assert panel["escalated"].link == f"/dashboard/case/{case_id}"
    assert panel["holders"].ok
    assert panel["deadlines"].ok
    assert panel["owners"].ok


def test_a_vacant_cell_turns_the_owner_invariant_red(app: Flask, tiny: Grid) -> None:
    services = services_of(app)
    roster = services.roster
    from dataclasses import replace

    from gridmgr.access import caller_for
    from gridmgr.responsibility.routing import RoutingContext

    gone = [a for a in roster.assignments if a.post == field_post(OWN_CELL)]
    thinned = Roster(
        persons=roster.persons.values(),
        units=roster.units.values(),
        assignments=[a for a in roster.assignments if a not in gone],
        absences=roster.absences,
    )
    context = RoutingContext(tiny, thinned, services.catalog, services.calendar)
    vacant = replace(services, context=context)
    operator = caller_for(thinned, person_of(thinned, None), FIXED)
    panel = {i.key: i for i in reads.invariants(vacant, operator, FIXED, verified={})}
    assert not panel["owners"].ok
    assert panel["owners"].value == "15/16"
    assert any(OWN_CELL in d for d in panel["owners"].details)


def relocate_to_an_older_generation(app: Flask, case_id: str, cell: str, **more: Any) -> None:
    """Make ``case_id`` a case located in ``cell`` of an older grid generation (a cell the
    current grid does not have), as a case reported before a new generation would be; ``more``
    sets other columns."""
    from sqlalchemy import update

    from gridmgr.store.schema import cases

    services_of(app).store.execute_sql_for_tests(
        update(cases)
        .where(cases.c.case_id == case_id)
        .values(
            cell=cell, tier2=cell[:12], tier1=cell[:9], generation_id="older-generation", **more
        )
    )


def test_a_case_of_a_cell_the_grid_no_longer_has_keeps_the_feed_and_its_pages_alive(
    app: Flask,
) -> None:
    gone = "320281002001001"  # well-formed, but no such town in the current grid
    assert gone[:9] not in board_of(app).services.grid.codes(1)
    case_id = report(app, OWN_CELL, "旧网格里的案件")
    late = FIXED - timedelta(hours=1)  # overdue: on the wall too
    relocate_to_an_older_generation(app, case_id, gone, due_at=late)
    client = logged_in(app, None)
    update = tick(client, 7, 0)  # the live feed, from the start of the ledger
    assert update.status_code == 200, update.get_data(as_text=True)[:300]
    feed = json.dumps(update.get_json()["response"]["cc-feed"], ensure_ascii=False)
    assert "旧网格里的案件" in feed
    assert gone in feed  # the place is named by its code
    opened = texts(render(client, "/dashboard/"))  # a fresh command center reads the feed too
    assert "旧网格里的案件" in opened
    page = texts(render(client, f"/dashboard/case/{case_id}"))
    assert "旧网格里的案件" in page
    assert gone in page  # the case page's place line
    wall = texts(render(client, "/dashboard/wall"))
    assert f"{gone} · 1" in wall  # grouped under its code: its town is not in the grid either


def test_the_ledger_invariant_reports_the_last_verification(app: Flask) -> None:
    board = board_of(app)
    report(app, OWN_CELL)
    board.ledger.verify()
    status = board.ledger.status()
    assert status["ok"] is True
    assert status["events"] >= 1


# -- geometry and figures -----------------------------------------------------------------------


def test_the_grid_geometry_is_one_cacheable_url_per_generation(app: Flask, tiny: Grid) -> None:
    client = logged_in(app, None)
    url = MapGeometry(tiny).url(3, "/dashboard/")
    got = client.get(url, headers={"Accept-Encoding": "gzip"})
    assert got.status_code == 200
    assert got.headers["Content-Encoding"] == "gzip"
    assert "immutable" in got.headers["Cache-Control"]
    features = json.loads(gzip.decompress(got.get_data()))["features"]
    assert [f["properties"]["code"] for f in features] == tiny.codes(3)
    stale = client.get(url.replace(tiny.generation_id, "old-generation"))
    assert stale.status_code == 404


def test_simplified_cells_still_tile_the_territory_without_gaps(jiangyin: Grid) -> None:
    for tier in (1, 2, 3):
        built = build_tier(jiangyin, tier)
        features = json.loads(built.geojson)["features"]
        geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
        assert len(geoms) == jiangyin.counts[tier]
        assert bool(shapely.coverage_is_valid(geoms))
        outline = shapely.union_all(jiangyin.tier(1).geometry.values)
        covered = shapely.coverage_union_all(geoms)
        # only the outer edge moves, by at most the tolerance: < 0.01 % of the area
        assert shapely.area(shapely.symmetric_difference(covered, outline)) < 1e-4 * outline.area
        assert len(built.gzipped) < 400_000


def test_values_sum_up_the_tiers_and_blank_what_is_out_of_scope() -> None:
    load = {
        "320281001001001": CellLoad("320281001001001", 2, 1, 0, 0),
        "320281001002001": CellLoad("320281001002001", 3, 0, 2, 1),
        None: CellLoad(None, 9, 9, 0, 0),
    }
    towns = values_for(["320281001"], load, "open")
    assert towns == [5]
    communities = values_for(
        ["320281001001", "320281001002"], load, "risk", in_scope=lambda c: c.endswith("1")
    )
    assert communities == [1, None]
    with pytest.raises(ValueError, match="unknown metric"):
        values_for(["1"], load, "colour")


def _map(tile_url: str | None = None) -> dict[str, Any]:
    return map_figure(
        geojson_url="/dashboard/geo/g1/tier3.json",
        codes=["a", "b"],
        values=[1, None],
        owners={"a": "张三"},
        metric="overdue",
        center=(120.3, 31.8),
        zoom=10,
        points=[{"id": "c1", "lon": 120.3, "lat": 31.8, "category": "x", "overdue": True}],
        outline=Outline("/dashboard/geo/g1/tier1.json", ("t1", "t2")),
        lang="en",
        tile_url=tile_url,
    )


def test_the_map_figure_refers_to_polygons_by_url_and_hovers_owner_names() -> None:
    fig = _map()
    cells, points = fig["data"][Trace.CELLS], fig["data"][Trace.CASES]
    assert cells["geojson"] == "/dashboard/geo/g1/tier3.json"
    assert cells["text"] == ["张三", "—"]  # names come from the GeoJSON's properties
    assert "%{properties.name}" in cells["hovertemplate"]
    assert "customdata" not in cells  # it would break dcc.Graph's clicks on this trace
    assert "Overdue cases" in cells["hovertemplate"]
    assert points["customdata"] == ["c1"]
    assert points["marker"]["color"] == ["#d9480f"]
    # no tile server: SVG on a geo subplot (no WebGL), Plotly's own world hidden
    assert fig["layout"]["geo"]["visible"] is False
    assert [t["type"] for t in fig["data"]] == [
        "choropleth",
        "scattergeo",
        "scattergeo",
        "choropleth",
    ]
    borders = fig["data"][Trace.BORDERS]
    assert borders["locations"] == ["t1", "t2"]
    assert borders["hoverinfo"] == "skip"


def test_a_tile_server_draws_the_command_map_with_maplibre_over_its_tiles() -> None:
    fig = _map("https://tiles.example/{z}/{x}/{y}.png")
    assert "geo" not in fig["layout"]
    assert fig["layout"]["map"]["style"]["sources"]["tiles"]["tiles"] == [
        "https://tiles.example/{z}/{x}/{y}.png"
    ]
    assert [t["type"] for t in fig["data"]] == [
        "choroplethmap",
        "scattermap",
        "scattermap",
        "choroplethmap",
    ]


def test_clicking_a_cell_drills_into_its_town_then_its_community(app: Flask, tiny: Grid) -> None:
    client = logged_in(app, None)
    view = {"parent": None, "metric": "open"}
    outputs = [("cc-view", "data"), ("cc-go", "href"), ("cc-at", "value")]
    for expected, where in (("320281001", OWN_CELL), ("320281001001", "320281001001")):
        clicked = callback(
            client,
            outputs,
            [
                (
                    "cc-map",
                    "clickData",
                    {"points": [{"curveNumber": Trace.CELLS, "location": where}]},
                ),
                ("cc-up", "n_clicks", 0),
                ("cc-metric", "value", "open"),
                ("cc-at", "value", 0),
                ("cc-live", "n_clicks", 0),
            ],
            [("cc-view", "data", view)],
            changed=0,
        )
        assert clicked.status_code == 200, clicked.get_data(as_text=True)[:300]
        view = clicked.get_json()["response"]["cc-view"]["data"]
        if expected == "320281001001":
            break
        drawn = callback(
            client,
            MAP_OUTPUTS,
            [("cc-tick", "n_intervals", 3), ("cc-view", "data", view)],
            [("cc-cursor", "data", {"seq": 0})],
            changed=1,
        )
        assert drawn.status_code == 200, drawn.get_data(as_text=True)[:300]
        figure = drawn.get_json()["response"]["cc-map"]["figure"]
        assert figure["data"][Trace.CELLS]["locations"] == tiny.cell_to_children("320281001")
        assert figure["data"][Trace.CELLS]["geojson"].endswith("tier2.json")
    assert view["parent"] == "320281001001"


def test_workers_on_patrol_are_shown_in_scope_only(app: Flask) -> None:
    from gridmgr.access import caller_for
    from gridmgr.store.patrolstore import PatrolBatch

    services, geometry = services_of(app), board_of(app).geometry
    roster = services.roster
    services.store.sync_reference(
        grid=services.grid,
        roster=roster,
        catalog=services.catalog,
        at=FIXED,
        actor="t",
    )
    mine, theirs = person_of(roster, OWN_CELL), person_of(roster, OTHER_CELL)
    batches = []
    walks = ((mine, OWN_CELL, 5), (theirs, OTHER_CELL, 90), (theirs, OTHER_CELL, 5))
    for person, cell, minutes in walks:
        lon, lat = geometry.tier(3).centers[cell]
        when = FIXED - timedelta(minutes=minutes)
        batches.append(PatrolBatch(person, [when], [lon], [lat]))
    services.store.record_patrol_batches(batches, at=FIXED, actor="test")
    operator = caller_for(roster, person_of(roster, None), FIXED)
    assert sorted(p["name"] for p in reads.patrol_positions(services, operator, FIXED)) == sorted(
        roster.persons[p].name for p in (mine, theirs)
    )
    worker = caller_for(roster, mine, FIXED)
    walking = reads.patrol_positions(services, worker, FIXED)
    assert [p["name"] for p in walking] == [roster.persons[mine].name]
    later = FIXED + timedelta(minutes=30)  # 35 min after the last point: no longer on patrol
    assert reads.patrol_positions(services, operator, later) == []


def test_a_malformed_callback_request_gets_400_saying_what_is_wrong(app: Flask) -> None:
    client = logged_in(app, None)
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    headers = {"X-CSRFToken": cookie.value}
    url = "/dashboard/_dash-update-component"
    for body, says in (
        ([1, 2], "JSON object"),
        ({"output": 3}, '"output"'),
        ({"output": "nope.children", "outputs": {}, "inputs": []}, "no callback"),
        ({"output": "page.children", "outputs": {}, "inputs": "x"}, '"inputs"'),
    ):
        answer = client.post(url, json=body, headers=headers)
        assert answer.status_code == 400
        assert says in answer.get_json()["error"]["message"]
    garbage = client.post(
        url, data=b"{not json", headers={**headers, "Content-Type": "application/json"}
    )
    assert garbage.status_code == 400


def test_the_pick_map_shows_the_town_borders_in_svg_when_no_cell_is_outlined(tiny: Grid) -> None:
    from dashboards.components import map_center, pick_map
    from dashboards.geo import MapGeometry

    geometry = MapGeometry(tiny)
    fig = pick_map(geometry, [], None)
    assert fig["layout"]["geo"]["visible"] is False  # SVG, Plotly's own world hidden
    outline, borders = fig["data"]
    assert (outline["type"], outline["locations"]) == ("choropleth", [])
    assert borders["type"] == "choropleth"
    assert borders["locations"] == list(geometry.tier(1).codes)
    # a pan reports the new centre the way an SVG map names it
    assert map_center({"geo.center.lon": 120.2, "geo.center.lat": 31.8}) == (120.2, 31.8)
