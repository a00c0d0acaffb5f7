"""A person's report as one use case (``gridmgr.services.submissions``): routed once, held to the
caller's cells with that same routing decision, opened, with its photo — for every door."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gridmgr.access import Caller, caller_for
from gridmgr.errors import ForbiddenError
from gridmgr.intake.photos import sanitize_photo
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.responsibility.routing import RoutingDecision
from gridmgr.services import reports
from gridmgr.services.context import Services
from gridmgr.services.submissions import submit_report
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import tiny_context, tiny_roster
from tests.test_api_photos import jpeg

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
OWN_CELL = "320281001001001"
IN_OWN_CELL = {"lon": 120.0625, "lat": 31.9375}
IN_FAR_CELL = {"lon": 120.4375, "lat": 31.5625}  # the SE corner cell ...004004
OUT_OF_GRID = {"lon": 121.0, "lat": 31.7}


def services_over(store: Store, tmp_path: Path) -> Services:
    return Services(store, tiny_context(), Settings(data_dir=tmp_path), lambda: FIXED)


def caller_of(post_cell: str | None) -> Caller:
    roster = tiny_roster()
    person = roster.owner(COMMAND_CENTER if post_cell is None else field_post(post_cell), FIXED)
    assert person is not None
    return caller_for(roster, person.person_id, FIXED)


@pytest.fixture
def routes(monkeypatch: pytest.MonkeyPatch) -> list[RoutingDecision]:
    """Every routing decision the report use case makes, in order."""
    made: list[RoutingDecision] = []
    original: Callable[..., RoutingDecision] = reports.route_incident

    def counting(*args: Any, **kwargs: Any) -> RoutingDecision:
        made.append(original(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(reports, "route_incident", counting)
    return made


def test_a_field_workers_report_is_routed_once(
    store: Store, tmp_path: Path, routes: list[RoutingDecision]
) -> None:
    done = submit_report(
        services_over(store, tmp_path),
        caller_of(OWN_CELL),
        category="street_vending",
        description="桥下有人占道经营",
        **IN_OWN_CELL,
    )
    assert len(routes) == 1
    assert done.decision is routes[0]
    assert done.case.cell == OWN_CELL
    assert store.case(done.case.case_id).reporter == caller_of(OWN_CELL).actor.actor_id


def test_a_report_outside_the_callers_cells_is_refused_before_anything_is_stored(
    store: Store, tmp_path: Path, routes: list[RoutingDecision]
) -> None:
    for place in (IN_FAR_CELL, OUT_OF_GRID):
        with pytest.raises(ForbiddenError, match="outside your cells"):
            submit_report(
                services_over(store, tmp_path),
                caller_of(OWN_CELL),
                category="street_vending",
                description="别人的网格",
                photo=sanitize_photo(jpeg()),
                **place,
            )
    assert len(routes) == 2  # once per report, the refusal included
    assert store.count_cases() == 0
    assert store.ledger_head() is None


def test_a_city_wide_caller_reports_anywhere_out_of_grid_included(
    store: Store, tmp_path: Path
) -> None:
    done = submit_report(
        services_over(store, tmp_path),
        caller_of(None),
        category="street_vending",
        description="境外",
        **OUT_OF_GRID,
    )
    assert done.case.cell is None
    assert done.decision.cell_path is None


def test_a_report_with_its_photo_stores_both_and_returns_the_photo(
    store: Store, tmp_path: Path
) -> None:
    done = submit_report(
        services_over(store, tmp_path),
        caller_of(OWN_CELL),
        category="street_vending",
        description="附照片",
        photo=sanitize_photo(jpeg(with_gps=(120.0625, 31.9375))),
        **IN_OWN_CELL,
    )
    assert done.photo is not None
    assert done.photo.case_id == done.case.case_id
    assert (tmp_path / done.photo.path).is_file()
    assert [row.attachment_id for row in store.attachments_of(done.case.case_id)] == [
        done.photo.attachment_id
    ]
    assert store.verify_ledger().ok
