"""Every button the case page offers works: for each open state of the loop and each role that
may see the case, every action the page lists (its buttons) is applied as the page would apply
it — with its comment and the input its form gives — and none is refused (issue #16: no button
gets a refusal the page could have known in advance). Service level, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from dashboards import actions as page_actions
from dashboards.reads.case import case_view
from gridmgr.access import Caller, caller_for
from gridmgr.cases import Action, CaseState
from gridmgr.intake.photos import sanitize_photo
from gridmgr.responsibility.roster import COMMAND_CENTER, PostKind, field_post
from gridmgr.services.context import Services
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import tiny_context
from tests.test_dashboard_case_actions import jpeg
from tests.test_nothing_escapes import AT, CELL, ROSTER, walk_to

OPEN_STATES = [s for s in CaseState if s.is_open]


@pytest.fixture
def services(store: Store, tmp_path: Path) -> Services:
    """The services of the walk, with a clock the test moves (the page acts at "now")."""
    context = tiny_context()
    store.sync_reference(
        grid=context.grid, roster=context.roster, catalog=context.catalog, at=AT, actor="t"
    )
    return Services(store, context, Settings(data_dir=tmp_path), clock=CLOCK.now)


class Clock:
    def __init__(self) -> None:
        self.at = AT

    def now(self) -> datetime:
        return self.at


CLOCK = Clock()


def people(at: datetime) -> dict[str, Caller]:
    """One caller per role that may see a case in CELL."""
    posts = {
        "operator": COMMAND_CENTER,
        "worker": field_post(CELL),
        "head": field_post(CELL[:12]),
        "leader": field_post(CELL[:9]),
    }
    out = {}
    for role, post in posts.items():
        person = ROSTER.owner(post, at)
        assert person is not None, post
        out[role] = caller_for(ROSTER, person.person_id, at)
    manager = next(a.person_id for a in ROSTER.assignments if a.post.kind is PostKind.CENTER_LEADER)
    out["manager"] = caller_for(ROSTER, manager, at)
    return out


def press(services: Services, caller: Caller, case_id: str, action: Action, at: datetime) -> None:
    """Apply ``action`` as the page's button or form does."""
    view = case_view(services, caller, case_id, at)
    assert action in view.actions
    kwargs: dict[str, object] = {}
    if action is Action.DISPATCH:
        assert view.dispatch is not None  # the picker, routing's suggestion first
        first = view.dispatch.choices[0]
        kwargs = {"assignee_id": None if first.unit_id else first.person_id}
        kwargs["unit_id"] = first.unit_id
    elif action is Action.REQUEST_DEFER:
        assert view.case.due_at is not None
        kwargs = {"defer_to": view.case.due_at + timedelta(hours=4)}
    elif action is Action.EVALUATE:
        kwargs = {"rating": 5}
    elif action is Action.HANDLE:
        kwargs = {"photo": sanitize_photo(jpeg())}
    page_actions.act(services, caller, case_id, action, "按页面操作", **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("state", OPEN_STATES, ids=lambda s: s.value)
def test_every_button_offered_in_each_state_to_each_role_works(
    services: Services, state: CaseState
) -> None:
    walked = walk_to(services, state)
    at = walked.at + timedelta(minutes=1)
    CLOCK.at = at
    offered = {
        role: case_view(services, caller, walked.case.case_id, at).actions
        for role, caller in people(at).items()
    }
    assert any(offered.values()), f"nobody can act on a {state.value} case"
    pressed = 0
    for role, buttons in offered.items():
        for action in buttons:
            fresh = walk_to(services, state).case  # each button on its own case
            press(services, people(at)[role], fresh.case_id, action, at)
            pressed += 1
    assert pressed > 0
