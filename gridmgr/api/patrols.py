"""``/api/v1/patrols``: workers upload their GPS points; callers read coverage and duty status in
their scope.

Nested in the ``/api/v1`` blueprint, so its token authentication, body checks and CSRF exemption
apply. A person posts only his own points (the token says who he is); reads are limited to the
caller's cells (a worker his cells, a head his community, a leader his town; operators and
managers the city).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import pandas as pd
from flask import Response, jsonify
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field, field_validator

from gridmgr.api.auth import current_caller
from gridmgr.api.errors import created
from gridmgr.api.schemas import CLIENT_ID_PATTERN
from gridmgr.patrols import PATROL_DISTANCE_M
from gridmgr.services.patrols import coverage_in_scope, duty_in_scope, record_own_points
from gridmgr.web.deps import services

MAX_POINTS = 500
"""The most points one upload may carry (a phone uploads every few minutes)."""
TAG = Tag(name="patrols", description="GPS tracks, patrol coverage, on-duty status")


class PatrolPointIn(BaseModel):
    """One GPS fix: an ISO 8601 time with offset, and a position in the upload's datum."""

    model_config = ConfigDict(extra="forbid")

    at: datetime
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    accuracy_m: float | None = Field(default=None, ge=0, le=10_000, allow_inf_nan=False)
    client_id: str | None = Field(
        default=None,
        pattern=CLIENT_ID_PATTERN,
        description="the phone's id of the point: a resent point is stored once",
    )

    @field_validator("at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("needs a UTC offset, e.g. 2026-10-09T09:30:00+08:00")
        return value


class PatrolPointsIn(BaseModel):
    """A batch of the caller's own points (``person_id``, if sent, must be the caller)."""

    model_config = ConfigDict(extra="forbid")

    person_id: str | None = Field(default=None, max_length=64)
    datum: Literal["wgs84", "gcj02", "bd09"] = "wgs84"
    points: list[PatrolPointIn] = Field(min_length=1, max_length=MAX_POINTS)


class CoverageQuery(BaseModel):
    """The coverage window, distance and an optional subtree (a cell-code prefix)."""

    model_config = ConfigDict(extra="forbid")

    days: float = Field(default=7, gt=0, le=90)
    distance_m: float = Field(default=PATROL_DISTANCE_M, gt=0, le=1000)
    subtree: str | None = Field(default=None, pattern=r"^[0-9]{6,15}$")


bp = APIBlueprint("patrols", __name__, url_prefix="/patrols", abp_tags=[TAG])


@bp.post("/points", responses={201: None, 200: None})
def post_points(body: PatrolPointsIn) -> Response:
    """Upload your own GPS points (a batch of up to 500), acknowledged once durable.

    Points carrying a ``client_id`` are stored once: the reply counts the ``new`` ones and the
    ``repeats`` (201 when any was new, else 200)."""
    caller = current_caller()
    done = record_own_points(
        services(),
        caller,
        at=[p.at for p in body.points],
        lon=[p.lon for p in body.points],
        lat=[p.lat for p in body.points],
        accuracy_m=[p.accuracy_m for p in body.points],
        datum=body.datum,
        person_id=body.person_id,
        client_ids=[p.client_id for p in body.points],
    )
    reply = {
        "person_id": caller.actor.actor_id,
        "accepted": done.new,
        "new": done.new,
        "repeats": done.repeats,
        "first": min(p.at for p in body.points).isoformat(),
        "last": max(p.at for p in body.points).isoformat(),
    }
    if done.new == 0:
        return jsonify(reply)
    return created(reply)


@bp.get("/coverage")
def coverage(query: CoverageQuery) -> Response:
    """Coverage of the unit cells in your scope (optionally a subtree) over the last days."""
    now = services().now()
    frame = coverage_in_scope(
        services(),
        current_caller(),
        now=now,
        days=query.days,
        distance_m=query.distance_m,
        subtree=query.subtree,
    )
    since = pd.Timestamp(now) - timedelta(days=query.days)
    rows = [
        {
            "cell": str(c),
            "coverage": round(float(v), 4),
            "points": int(n),
            "last_seen": None if pd.isna(t) else pd.Timestamp(t).isoformat(),
            "blind_spot": bool(pd.isna(t) or t < since),
        }
        for c, v, n, t in zip(
            frame["cell"], frame["coverage"], frame["points"], frame["last_seen"], strict=True
        )
    ]
    return jsonify(
        {
            "as_of": now.isoformat(),
            "days": query.days,
            "distance_m": query.distance_m,
            "cells": rows,
            "blind_spots": sum(r["blind_spot"] for r in rows),
        }
    )


@bp.get("/status")
def status() -> Response:
    """Each grid worker in your scope: patrolling, on duty, absent or off duty, and where;
    ``last_seen`` is his latest patrol point, ``last_sync`` his field app's last contact."""
    now = services().now()
    frame = duty_in_scope(services(), current_caller(), now=now)
    return jsonify(
        {
            "as_of": now.isoformat(),
            "workers": [
                {
                    "person_id": p,
                    "name": n,
                    "cell": c,
                    "status": s,
                    "last_seen": None if pd.isna(t) else pd.Timestamp(t).isoformat(),
                    "last_sync": None if pd.isna(y) else pd.Timestamp(y).isoformat(),
                }
                for p, n, c, s, t, y in zip(
                    frame["person_id"],
                    frame["name"],
                    frame["cell"],
                    frame["status"],
                    frame["last_seen"],
                    frame["last_sync"],
                    strict=True,
                )
            ],
        }
    )
