"""``/api/v1/devices``: the field app's device tokens — get one by logging in, list yours,
revoke one.

Not nested in ``/api/v1``'s blueprint, because a phone without a token must be able to get one:
``POST`` takes the login and password in its JSON body (throttled as the dashboard's login), or
a logged-in dashboard session; ``GET`` and ``DELETE`` take a Bearer token or the session. A
session's writes must carry its CSRF token (``X-CSRFToken``); a body login needs none (it
carries its own secret). Each person sees and revokes only his own devices.
"""

from __future__ import annotations

import math

from flask import Response, current_app, jsonify, request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, ConfigDict, Field

from gridmgr.access import Caller
from gridmgr.api.auth import authenticate, current_caller
from gridmgr.api.errors import created, problem
from gridmgr.api.replies import iso
from gridmgr.errors import CredentialError
from gridmgr.services.devices import (
    Device,
    LoginThrottledError,
    create_device,
    list_devices,
    login_for_device,
    revoke_device,
)
from gridmgr.web.deps import services

TAG = Tag(name="devices", description="The field app's personal device tokens")
bp = APIBlueprint("api_devices", __name__, url_prefix="/api/v1/devices", abp_tags=[TAG])


class DeviceIn(BaseModel):
    """A new device: its label, and the login and password unless a session is logged in."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    login: str | None = Field(default=None, min_length=1, max_length=64, description="person id")
    password: str | None = Field(default=None, min_length=1, max_length=200)
    label: str = Field(default="phone", min_length=1, max_length=60, description="e.g. 我的手机")


class DevicePath(BaseModel):
    token_id: str = Field(pattern=r"^[0-9a-f]{16}$")


@bp.post("", responses={201: None})
def create(body: DeviceIn) -> Response:
    """Get a device token (``gm_…``, shown once, valid 180 days) for the person logging in."""
    if body.login is not None or body.password is not None:
        if body.login is None or body.password is None:
            raise CredentialError("send both login and password (or log in to the dashboard)")
        try:
            caller = login_for_device(
                services(), body.login, body.password, address=request.remote_addr or "?"
            )
        except LoginThrottledError as exc:
            reply = problem(429, str(exc))
            reply.headers["Retry-After"] = str(math.ceil(exc.retry_after.total_seconds()))
            return reply
    else:
        caller = _session_caller()
    token, device = create_device(services(), caller, body.label)
    return created({"token": token, "person_id": caller.actor.actor_id, **_device_json(device)})


@bp.get("")
def devices() -> Response:
    """Your device tokens (never their secrets), each with when it was last used."""
    caller = _caller()
    return jsonify({"devices": [_device_json(d) for d in list_devices(services(), caller)]})


@bp.delete("/<token_id>")
def revoke(path: DevicePath) -> Response:
    """Revoke one of your device tokens: the phone holding it gets 401 from then on."""
    revoke_device(services(), _caller(), path.token_id)  # DeviceNotFoundError: 404
    return jsonify({"revoked": path.token_id})


def _caller() -> Caller:
    """The person asking: by his Bearer token, else by his dashboard session."""
    if request.headers.get("Authorization"):
        authenticate()  # a device token's use counts as its last contact here too
        return current_caller()
    return _session_caller()


def _session_caller() -> Caller:
    """The person logged in on this request's dashboard session (CSRF checked for a write)."""
    if not hasattr(current_app, "login_manager"):  # an API-only app has no sessions
        raise CredentialError("send login and password, or Authorization: Bearer <token>")
    from gridmgr.web.sessions import current_session_user

    user = current_session_user()
    if user is None:
        raise CredentialError("log in (POST /login) or send login and password")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        current_app.extensions["csrf"].protect()  # a cookie alone never writes
    return user.caller


def _device_json(device: Device) -> dict[str, object]:
    return {
        "token_id": device.token_id,
        "label": device.label,
        "created_at": iso(device.created_at),
        "expires_at": iso(device.expires_at),
        "last_used_at": iso(device.last_used_at),
    }
