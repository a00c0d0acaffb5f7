"""Finding 12: duplicate suggestions name only cases the caller may see (the others are counted),
and a 404 for a photo never names the case it belongs to."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from dashboards.pages.case import duplicate_candidates
from dashboards.reads.case import TriageView
from gridmgr.responsibility.roster import field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_roster
from tests.test_api_photos import CELL, FIXED, bearer, jpeg, operator

BORDER = 31.875  # the south edge of CELL (the tiny grid's NW unit cell)
LON = 120.0625
MINE = {"lon": LON, "lat": BORDER + 0.0001, "category": "street_vending", "description": "占道"}
NEXT_DOOR = {**MINE, "lat": BORDER - 0.0001}  # 22 m away, in a cell the worker does not hold


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[FlaskClient]:
    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: FIXED)
    yield app.test_client()
    close_app(app)


def worker(store: Store) -> dict[str, str]:
    person = tiny_roster().owner(field_post(CELL), FIXED)
    assert person is not None
    return bearer(store, person.person_id)


def test_a_worker_is_told_how_many_duplicates_lie_outside_his_cells_not_which(
    client: FlaskClient, store: Store
) -> None:
    other = client.post("/api/v1/reports", json=NEXT_DOOR, headers=operator(store)).get_json()
    assert other["cell_path"]["tier3"] != CELL
    mine = client.post("/api/v1/reports", json=MINE, headers=worker(store))
    assert mine.status_code == 201, mine.get_json()
    body = mine.get_json()
    assert body["cell_path"]["tier3"] == CELL
    assert body["probable_duplicates"] == []
    assert body["probable_duplicates_outside_scope"] == 1
    assert other["case_id"] not in mine.get_data(as_text=True)

    url = f"/api/v1/cases/{body['case_id']}/duplicates"
    as_worker = client.get(url, headers=worker(store))
    assert as_worker.status_code == 200, as_worker.get_json()
    assert as_worker.get_json()["probable_duplicates"] == []
    assert as_worker.get_json()["probable_duplicates_outside_scope"] == 1
    assert other["case_id"] not in as_worker.get_data(as_text=True)

    as_operator = client.get(url, headers=operator(store)).get_json()  # city-wide: named
    assert [m["case_id"] for m in as_operator["probable_duplicates"]] == [other["case_id"]]
    assert as_operator["probable_duplicates_outside_scope"] == 0


def test_a_photo_of_another_cells_case_is_a_404_that_names_no_case(
    client: FlaskClient, store: Store
) -> None:
    data = {**{k: str(v) for k, v in NEXT_DOOR.items()}, "photo": (io.BytesIO(jpeg()), "p.jpg")}
    made = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store))
    assert made.status_code == 201
    case_id, url = made.get_json()["case_id"], made.get_json()["photo"]["url"]
    attachment_id = url.rstrip("/").split("/")[-1]
    refused = client.get(url, headers=worker(store))
    unknown = client.get(url.replace(attachment_id, "0" * 32), headers=worker(store))
    assert refused.status_code == unknown.status_code == 404
    text = refused.get_data(as_text=True)
    assert case_id not in text
    assert attachment_id in text  # the id he asked for, and only that
    message = refused.get_json()["error"]["message"]
    assert message == unknown.get_json()["error"]["message"].replace("0" * 32, attachment_id)


def test_the_case_page_counts_the_duplicates_outside_the_callers_cells() -> None:
    view = TriageView(None, None, None, False, None, [], [], [], hidden_candidates=2)
    rendered = str(duplicate_candidates(view, "en"))
    assert "and 2 more outside your cells" in rendered
    assert "另有 2 件在您的网格之外" in str(duplicate_candidates(view, "zh"))
