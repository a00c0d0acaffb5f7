"""Every action the case page and the worker page offer works, or is not offered: 评价 with a
rating, 反馈 with its after-photo where the category needs one, and an operator moving a case
located in the wrong cell (one event, re-routed, the previous owner told). Both backends."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from PIL import Image

from dashboards import actions
from gridmgr import Grid
from gridmgr.cases import Action, CaseError
from gridmgr.errors import ForbiddenError
from gridmgr.intake.photos import PhotoError, sanitize_photo
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import (
    OTHER_CELL,
    board_of,
    callback,
    dashboard_app,
    logged_in,
    output_key,
    person_of,
    render,
    report,
    services_of,
    texts,
)
from tests.test_sessions import FIXED, OWN_CELL, Clock


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    yield built
    close_app(built)


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 30)).save(out, "JPEG")
    return out.getvalue()


def operator_of(app: Flask) -> object:
    from gridmgr.access import caller_for

    services = services_of(app)
    return caller_for(services.roster, person_of(services.roster, None), FIXED)


def worker_of(app: Flask, cell: str) -> object:
    from gridmgr.access import caller_for

    services = services_of(app)
    return caller_for(services.roster, person_of(services.roster, cell), FIXED)


def in_progress(app: Flask) -> str:
    """A street-vending case (photo required) taken up by its worker."""
    services = services_of(app)
    case_id = report(app, OWN_CELL)
    operator, worker = operator_of(app), worker_of(app, OWN_CELL)
    actions.act(services, operator, case_id, Action.REGISTER, "立案")  # type: ignore[arg-type]
    actions.act(services, operator, case_id, Action.DISPATCH, "派遣")  # type: ignore[arg-type]
    actions.act(services, worker, case_id, Action.ACCEPT, "签收")  # type: ignore[arg-type]
    actions.act(services, worker, case_id, Action.START, "开始处置")  # type: ignore[arg-type]
    return case_id


def test_handling_a_photo_required_matter_without_an_after_photo_is_refused(app: Flask) -> None:
    services = services_of(app)
    case_id = in_progress(app)
    worker = worker_of(app, OWN_CELL)

    with pytest.raises(CaseError, match="after-photo"):
        actions.act(services, worker, case_id, Action.HANDLE, "已处置")  # type: ignore[arg-type]
    assert services.store.case(case_id).state.value == "in_progress"

    photo = sanitize_photo(jpeg())
    done = actions.act(services, worker, case_id, Action.HANDLE, "已处置", photo=photo)  # type: ignore[arg-type]
    assert done.state.value == "handled"
    assert len(services.store.attachments_of(case_id)) == 1


def test_the_case_page_says_in_advance_that_handling_needs_a_photo(app: Flask) -> None:
    case_id = in_progress(app)
    words = texts(render(logged_in(app, OWN_CELL), f"/dashboard/case/{case_id}"))
    assert "该类事项反馈须附处置后照片。" in words
    assert "处置后照片" in words


def test_a_report_of_a_photo_required_category_without_a_photo_is_refused(app: Flask) -> None:
    board = board_of(app)
    x, y = board.geometry.tier(3).centers[OWN_CELL]
    with pytest.raises(PhotoError, match="needs a photo"):
        actions.report(
            board.services,
            worker_of(app, OWN_CELL),  # type: ignore[arg-type]
            lon=x,
            lat=y,
            category="street_vending",
            description="占道",
            photo=None,
        )


def test_evaluate_takes_a_rating_from_the_case_page(app: Flask) -> None:
    services = services_of(app)
    case_id = in_progress(app)
    operator, worker = operator_of(app), worker_of(app, OWN_CELL)
    photo = sanitize_photo(jpeg())
    actions.act(services, worker, case_id, Action.HANDLE, "已处置", photo=photo)  # type: ignore[arg-type]
    actions.act(services, operator, case_id, Action.VERIFY, "核查属实")  # type: ignore[arg-type]
    actions.act(services, operator, case_id, Action.CLOSE, "结案")  # type: ignore[arg-type]
    client = logged_in(app, None)
    page = texts(render(client, f"/dashboard/case/{case_id}"))
    assert "评分 (1–5)" in page

    def press(rating: int | None) -> list[str]:
        answer = callback(
            client,
            [("case-body", "children")],
            [("case-evaluate", "n_clicks", 1)],
            [
                ("case-rating", "value", rating),
                ("case-comment", "value", "处置及时"),
                ("case-id", "data", case_id),
            ],
        )
        assert answer.status_code == 200
        return texts(answer.get_json()["response"]["case-body"]["children"])

    assert "请选择 1 到 5 的评分。" in press(None)
    press(4)
    case = services.store.case(case_id)
    assert case.state.value == "evaluated"
    assert case.rating == 4


def test_an_operator_moves_a_case_to_another_cell_in_one_event_and_its_owner_is_told(
    app: Flask,
) -> None:
    services = services_of(app)
    case_id = report(app, OWN_CELL)
    operator = operator_of(app)
    actions.act(services, operator, case_id, Action.REGISTER, "立案")  # type: ignore[arg-type]
    actions.act(services, operator, case_id, Action.DISPATCH, "派遣")  # type: ignore[arg-type]
    before = services.store.case(case_id)
    assert before.assignee is not None
    x, y = board_of(app).geometry.tier(3).centers[OTHER_CELL]
    events = len(services.store.trail(case_id))

    moved = actions.place(services, operator, case_id, lon=x, lat=y, comment="位置报错")  # type: ignore[arg-type]

    assert moved.cell == OTHER_CELL
    trail = services.store.trail(case_id)
    assert len(trail) == events + 1
    last = trail[-1]
    assert last.action == "place"
    assert last.details["moved_from"]["cell"] == OWN_CELL
    assert last.details["cell"] == OTHER_CELL
    assert last.details["tier2"] == OTHER_CELL[:12]
    told = services.store.notifications([before.assignee.person_id])
    assert any("moved" in str(n) for n in told)


def test_only_an_operator_moves_a_case(app: Flask) -> None:
    services = services_of(app)
    case_id = report(app, OWN_CELL)
    x, y = board_of(app).geometry.tier(3).centers[OTHER_CELL]
    with pytest.raises(ForbiddenError):
        actions.place(services, worker_of(app, OWN_CELL), case_id, lon=x, lat=y, comment="x")  # type: ignore[arg-type]
    assert services.store.case(case_id).cell == OWN_CELL


def test_the_worker_page_offers_return_and_deferral_and_returns_with_the_reason(
    app: Flask,
) -> None:
    services = services_of(app)
    case_id = report(app, OWN_CELL)
    operator = operator_of(app)
    actions.act(services, operator, case_id, Action.REGISTER, "立案")  # type: ignore[arg-type]
    actions.act(services, operator, case_id, Action.DISPATCH, "派遣")  # type: ignore[arg-type]
    client = logged_in(app, OWN_CELL)
    words = texts(render(client, "/dashboard/worker"))
    assert {"签收", "退回"} <= set(words)

    button = {"type": "wk-act", "case": case_id, "action": "return"}
    outputs = [("wk-cases", "children"), ("wk-case-message", "children")]
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    body = {  # pattern-matching (ALL) states arrive as lists of their matches
        "output": output_key(client, outputs, [(button, "n_clicks", 1)]),
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [
            [{"id": {"type": kind, "case": case_id}, "property": prop, "value": value}]
            for kind, prop, value in (
                ("wk-note", "value", "不属于本网格"),
                ("wk-defer", "value", None),
                ("wk-after", "contents", None),
            )
        ],
        "changedPropIds": [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"],
    }
    answer = client.post(
        "/dashboard/_dash-update-component", json=body, headers={"X-CSRFToken": cookie.value}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    case = services.store.case(case_id)
    assert case.state.value == "returned"
    assert services.store.trail(case_id)[-1].comment == "不属于本网格"


def test_the_dispatch_picker_names_the_returner_and_says_so_when_he_is_picked(app: Flask) -> None:
    services = services_of(app)
    case_id = report(app, OWN_CELL)
    operator, worker = operator_of(app), worker_of(app, OWN_CELL)
    actions.act(services, operator, case_id, Action.REGISTER, "立案")  # type: ignore[arg-type]
    actions.act(services, operator, case_id, Action.DISPATCH, "派遣")  # type: ignore[arg-type]
    actions.act(services, worker, case_id, Action.RETURN, "不归本网格管")  # type: ignore[arg-type]
    client = logged_in(app, None)
    page = texts(render(client, f"/dashboard/case/{case_id}"))
    assert "不归本网格管" in page  # why it was returned, and by whom
    returner = worker.actor  # type: ignore[attr-defined]
    assert any(returner.name in w and "退回" in w for w in page)
    assert any(
        "路由建议" in w and "曾退回此案" in w for w in page
    )  # offered, marked, not preselected

    def press(chosen: str) -> list[str]:
        answer = callback(
            client,
            [("case-body", "children")],
            [("case-dispatch", "n_clicks", 1)],
            [
                ("case-assignee", "value", chosen),
                ("case-comment", "value", "仍请原网格员处置"),
                ("case-id", "data", case_id),
            ],
        )
        assert answer.status_code == 200
        return texts(answer.get_json()["response"]["case-body"]["children"])

    assert any("已派回退回此案的" in w for w in press(returner.actor_id))
    case = services.store.case(case_id)
    assert case.state.value == "dispatched"
    assert case.assignee is not None
    assert case.assignee.person_id == returner.actor_id


def test_the_case_page_offers_transfer_to_the_competent_team(app: Flask) -> None:
    services = services_of(app)
    case_id = in_progress(app)
    client = logged_in(app, OWN_CELL)  # the worker, on his case
    page = texts(render(client, f"/dashboard/case/{case_id}"))
    assert "移交执法" in page
    assert any(w.startswith("移交至 town-team-") for w in page)
    answer = callback(
        client,
        [("case-body", "children")],
        [({"type": "case-action", "action": "transfer"}, "n_clicks", 1)],
        [
            ("case-comment", "value", "劝导无效，移交执法"),
            ("case-defer-to", "value", None),
            ("case-id", "data", case_id),
        ],
    )
    assert answer.status_code == 200
    case = services.store.case(case_id)
    assert case.state.value == "dispatched"
    assert case.assignee is not None
    assert case.assignee.post.startswith("unit:town-team-")


def test_a_unit_member_finds_his_units_case_on_his_page_and_signs_for_it(app: Flask) -> None:
    from gridmgr.cases import unit_of
    from gridmgr.responsibility.roster import Post, PostKind
    from tests.test_dashboard import log_in
    from tests.test_sessions import PASSWORD

    services = services_of(app)
    case_id = in_progress(app)
    worker = worker_of(app, OWN_CELL)
    actions.act(services, worker, case_id, Action.TRANSFER, "劝导无效，移交执法")  # type: ignore[arg-type]
    unit = unit_of(services.store.case(case_id).assignee)
    assert unit is not None
    leader = services.roster.owner(Post(PostKind.UNIT_LEADER, unit), FIXED)
    assert leader is not None
    member = min(
        p.person_id
        for p in services.roster.persons.values()
        if p.unit_id == unit and p.person_id != leader.person_id
    )
    services.store.set_password(member, PASSWORD, now=FIXED, actor="test")
    client = app.test_client()
    assert log_in(client, member).status_code == 303
    assert client.get("/dashboard/").status_code == 200
    page = texts(render(client, "/dashboard/"))  # a member lands on his own page
    assert "签收" in page
    button = {"type": "wk-act", "case": case_id, "action": "accept"}
    outputs = [("wk-cases", "children"), ("wk-case-message", "children")]
    cookie = client.get_cookie("_csrf_token")
    assert cookie is not None
    body = {
        "output": output_key(client, outputs, [(button, "n_clicks", 1)]),
        "outputs": [{"id": i, "property": p} for i, p in outputs],
        "inputs": [[{"id": button, "property": "n_clicks", "value": 1}]],
        "state": [
            [{"id": {"type": kind, "case": case_id}, "property": prop, "value": None}]
            for kind, prop in (
                ("wk-note", "value"),
                ("wk-defer", "value"),
                ("wk-after", "contents"),
            )
        ],
        "changedPropIds": [json.dumps(button, sort_keys=True, separators=(",", ":")) + ".n_clicks"],
    }
    answer = client.post(
        "/dashboard/_dash-update-component", json=body, headers={"X-CSRFToken": cookie.value}
    )
    assert answer.status_code == 200, answer.get_data(as_text=True)[:300]
    case = services.store.case(case_id)
    assert case.state.value == "accepted"
    assert case.assignee is not None
    assert case.assignee.person_id == member
    assert unit_of(case.assignee) == unit
