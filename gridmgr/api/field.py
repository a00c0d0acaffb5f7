"""``/api/v1/sync/status`` and ``/api/v1/me/bundle``: what the field app asks when it syncs.

Nested in the ``/api/v1`` blueprint, so its token authentication applies (and a device token's
use is noted as the person's last contact). Both answer for the caller alone.
"""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag

from gridmgr.api.auth import current_caller
from gridmgr.api.replies import iso
from gridmgr.services.fieldbundle import OpenCase, field_bundle
from gridmgr.services.fieldsync import sync_status
from gridmgr.web.deps import services

TAG = Tag(name="field app", description="Sync status and the offline bundle of the field app")
bp = APIBlueprint("field", __name__, abp_tags=[TAG])


@bp.get("/sync/status")
def status() -> Response:
    """The server's time and your last sync (your device token's latest use, by any device)."""
    found = sync_status(services(), current_caller())
    return _no_store(
        jsonify(
            {
                "person_id": found.person_id,
                "server_time": iso(found.server_time),
                "last_sync": iso(found.last_sync),
            }
        )
    )


@bp.get("/me/bundle")
def bundle() -> Response:
    """What the app caches for offline use: your cells (GeoJSON, WGS84, simplified), the
    categories, your open cases with the actions you may take now, and the server's time."""
    found = field_bundle(services(), current_caller())
    return _no_store(
        jsonify(
            {
                "person_id": found.person_id,
                "name": found.name,
                "server_time": iso(found.server_time),
                "cells": found.cells,
                "cells_truncated": found.cells_truncated,
                "categories": found.categories,
                "cases": [_case(c) for c in found.cases],
            }
        )
    )


def _case(item: OpenCase) -> dict[str, Any]:
    case = item.case
    return {
        "case_id": case.case_id,
        "number": item.number,
        "category": case.category,
        "description": case.description,  # the reporter's text: the app shows it as text
        "state": case.state.value,
        "state_zh": case.state.label_zh,
        "cell": case.cell,
        "location": None if case.lon is None else {"lon": case.lon, "lat": case.lat},
        "reported_at": iso(case.reported_at),
        "stage": None if case.stage is None else case.stage.value,
        "due_at": iso(case.due_at),
        "version": case.version,
        "photos": [f"/api/v1/photos/{p}" for p in item.photo_ids],
        "actions": [a.value for a in item.allowed],
    }


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "private, no-store"  # the app keeps its own copy
    return response
