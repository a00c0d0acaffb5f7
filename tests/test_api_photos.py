"""Photos over the API: a report with its photo in one round trip, uploads, downloads, refusals."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from PIL import Image

from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import COMMAND_CENTER, field_post
from gridmgr.settings import Settings
from gridmgr.store import Store
from tests.builders import api_app, close_app, tiny_roster

FIXED = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
FORM = {"lon": "120.0625", "lat": "31.9375", "category": "street_vending", "description": "占道"}
CELL = "320281001001001"  # the cell at FORM's point


def jpeg(with_gps: tuple[float, float] | None = None) -> bytes:
    image = Image.new("RGB", (64, 48), (200, 80, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestCam"  # Make
    if with_gps is not None:
        lon, lat = with_gps
        exif[0x8825] = {1: "N", 2: (lat, 0.0, 0.0), 3: "E", 4: (lon, 0.0, 0.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


@pytest.fixture
def client(store: Store, tmp_path: Path) -> Iterator[FlaskClient]:
    app = api_app(store, Settings(data_dir=tmp_path), clock=lambda: FIXED)
    yield app.test_client()
    close_app(app)


def bearer(store: Store, person_id: str) -> dict[str, str]:
    token = store.create_credential(kind="person", subject=person_id, now=FIXED, days=9)
    return {"Authorization": f"Bearer {token}"}


def operator(store: Store) -> dict[str, str]:
    return bearer(
        store, sorted(a.person_id for a in tiny_roster().holders(COMMAND_CENTER, FIXED))[0]
    )


def test_a_report_with_its_photo_is_one_round_trip_and_the_photo_loses_its_exif(
    client: FlaskClient, store: Store
) -> None:
    data = {**FORM, "photo": (io.BytesIO(jpeg(with_gps=(120.0625, 31.9375))), "p.jpg")}
    reply = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store))

    assert reply.status_code == 201, reply.get_json()
    body = reply.get_json()
    assert body["cell_path"]["tier3"] == CELL
    assert body["photo"]["taken_far_from_report"] is False
    photo = client.get(body["photo"]["url"], headers=operator(store))
    assert photo.status_code == 200
    assert photo.headers["Content-Type"] == "image/jpeg"
    assert photo.headers["X-Content-Type-Options"] == "nosniff"
    assert Image.open(io.BytesIO(photo.data)).getexif() == {}
    assert b"TestCam" not in photo.data
    assert [e.action for e in store.trail(body["case_id"])] == ["report"]  # photo: its own event
    assert store.verify_ledger().ok


def test_a_photo_taken_far_away_is_flagged(client: FlaskClient, store: Store) -> None:
    data = {**FORM, "photo": (io.BytesIO(jpeg(with_gps=(120.4, 31.6))), "p.jpg")}
    reply = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store))

    assert reply.status_code == 201
    assert reply.get_json()["photo"]["taken_far_from_report"] is True


@pytest.mark.parametrize(
    ("payload", "status", "words"),
    [
        (b"this is not an image", 400, "image"),
        (b"GIF89a" + b"\x00" * 64, 400, "image"),
        (b"", 400, "empty"),
    ],
    ids=["text", "fake-gif", "empty"],
)
def test_a_bad_photo_refuses_the_whole_report(
    client: FlaskClient, store: Store, payload: bytes, status: int, words: str
) -> None:
    data = {**FORM, "photo": (io.BytesIO(payload), "p.jpg")}
    reply = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store))

    assert 400 <= reply.status_code < 500
    assert words in reply.get_json()["error"]["message"].lower()
    assert store.count_cases() == 0


def test_photos_of_a_case_outside_your_cells_are_invisible(
    client: FlaskClient, store: Store
) -> None:
    data = {**FORM, "photo": (io.BytesIO(jpeg()), "p.jpg")}
    body = client.post("/api/v1/reports/with-photo", data=data, headers=operator(store)).get_json()
    far_worker = tiny_roster().owner(field_post("320281001004004"), FIXED)
    assert far_worker is not None
    headers = bearer(store, far_worker.person_id)

    assert client.get(body["photo"]["url"], headers=headers).status_code == 404
    assert client.get(f"/api/v1/cases/{body['case_id']}/photos", headers=headers).status_code == 404
    upload = client.post(
        f"/api/v1/cases/{body['case_id']}/photos",
        data={"photo": (io.BytesIO(jpeg()), "p.jpg")},
        headers=headers,
    )
    assert upload.status_code == 404


def test_the_cells_worker_adds_a_photo_to_a_case_and_lists_it(
    client: FlaskClient, store: Store
) -> None:
    case_id = client.post(
        "/api/v1/reports", json={**FORM, "lon": 120.0625, "lat": 31.9375}, headers=operator(store)
    ).get_json()["case_id"]
    worker = tiny_roster().owner(field_post(CELL), FIXED)
    assert worker is not None
    headers = bearer(store, worker.person_id)

    upload = client.post(
        f"/api/v1/cases/{case_id}/photos",
        data={"photo": (io.BytesIO(jpeg()), "p.png")},
        headers=headers,
    )
    listed = client.get(f"/api/v1/cases/{case_id}/photos", headers=headers)

    assert upload.status_code == 201
    assert [p["attachment_id"] for p in listed.get_json()["photos"]] == [
        upload.get_json()["attachment_id"]
    ]
    as_json = client.post(f"/api/v1/cases/{case_id}/photos", json={"photo": "x"}, headers=headers)
    assert as_json.status_code == 415
