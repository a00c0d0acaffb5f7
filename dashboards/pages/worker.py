"""The grid worker's page, sized for a phone: my cells, my open cases, report an incident."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import ALL, Dash, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboards import actions
from dashboards.components import (
    action_label,
    case_link,
    deadline_text,
    decode_upload,
    map_center,
    pick_map,
    pick_widget,
)
from dashboards.context import Dashboard, current_lang, dashboard, require_caller
from dashboards.i18n import t
from dashboards.reads.names import categories, category_name, place
from dashboards.reads.worker import my_cases, my_cells, my_devices
from gridmgr.access import Caller
from gridmgr.cases import Action
from gridmgr.errors import GridMgrError
from gridmgr.intake.photos import MAX_PHOTO_BYTES, sanitize_photo
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.actions import actions_allowed
from gridmgr.services.context import Services

WORKER_ACTIONS = (
    Action.ACCEPT,
    Action.RETURN,
    Action.REQUEST_DEFER,
    Action.START,
    Action.HANDLE,
)
"""What a worker does from his list: sign for, return (with a reason), ask for more time (with
the new deadline), start, report back (with the after-photo); the rest: the case page."""
WORKER_COMMENTS = {Action.ACCEPT: "签收", Action.START: "开始处置", Action.HANDLE: "已处置完毕"}
"""The comment of the actions that need no words of their own; the others take the note field."""

_GEOLOCATE = """
async function(n) {
    if (!n || !navigator.geolocation) { return window.dash_clientside.no_update; }
    return await new Promise(function(resolve) {
        navigator.geolocation.getCurrentPosition(
            function(p) { resolve({lon: p.coords.longitude, lat: p.coords.latitude}); },
            function() { resolve(window.dash_clientside.no_update); },
            {enableHighAccuracy: true, timeout: 10000}
        );
    });
}
"""


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    services = board.services
    cells = my_cells(services, caller)
    return html.Div(
        [
            dcc.Store(id="wk-place"),
            html.H2(t("my_cases", lang)),
            html.Div(case_list(services, caller, lang), id="wk-cases"),
            html.Div(id="wk-case-message", role="status"),
            html.H2(t("report", lang)),
            html.P(t("report.where", lang)),
            pick_widget("wk-map", pick_map(board.geometry, [c for c, _ in cells], None)),
            html.Button(t("report.locate", lang), id="wk-locate", n_clicks=0, className="action"),
            html.Div(id="wk-place-text", className="placetext"),
            dcc.Dropdown(
                id="wk-category",
                options=[
                    {"label": name, "value": code} for code, name in categories(services, lang)
                ],
                placeholder=t("category", lang),
                className="field",
            ),
            dcc.Textarea(
                id="wk-description",
                maxLength=2000,
                placeholder=t("description", lang),
                className="comment",
            ),
            dcc.Upload(
                id="wk-photo",
                children=html.Div(t("report.photo", lang)),
                accept="image/*",
                max_size=MAX_PHOTO_BYTES,
                className="upload",
            ),
            html.Div(id="wk-photo-name", className="placetext"),
            html.Button(
                t("report.submit", lang), id="wk-submit", n_clicks=0, className="action primary"
            ),
            html.Div(id="wk-message", role="status", className="message"),
            html.H2(t("my_cells", lang)),
            html.Ul(
                [html.Li(f"{name} ({code})") for code, name in cells] or [html.Li(t("none", lang))]
            ),
            html.H2(t("my_devices", lang)),
            html.P(t("devices.hint", lang), className="hint"),
            html.Div(device_list(services, caller, lang), id="wk-devices"),
            html.Div(id="wk-device-message", role="status"),
        ],
        className="worker",
    )


def device_list(services: Services, caller: Caller, lang: str) -> Any:
    """The caller's field-app devices, each with its last sync and a revoke button."""
    rows = [
        html.Li(
            [
                html.Span(d.label, className="title"),  # his own words, as text
                html.Span(
                    f"{t('devices.last_used', lang)}: "
                    + (
                        d.last_used_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
                        if d.last_used_at is not None
                        else t("devices.never", lang)
                    ),
                    className="due",
                ),
                html.Button(
                    t("devices.revoke", lang),
                    id={"type": "wk-revoke", "token": d.token_id},
                    n_clicks=0,
                    className="action",
                ),
            ],
            className="device",
        )
        for d in my_devices(services, caller)
    ]
    return html.Ul(rows or [html.Li(t("none", lang))], className="devices")


def case_list(services: Services, caller: Caller, lang: str) -> Any:
    now = services.now()
    rows = []
    for case in my_cases(services, caller):
        allowed = [a for a in actions_allowed(services, caller, case, now) if a in WORKER_ACTIONS]
        late = case.due_at is not None and case.due_at <= now
        rows.append(
            html.Li(
                [
                    case_link(
                        category_name(services, case.category, lang),
                        case.case_id,
                        className="title",
                    ),
                    html.Span(place(services.grid, case.cell), className="place"),
                    html.Span(
                        deadline_text(case.due_at, now, lang),
                        className="due" + (" late" if late else ""),
                    ),
                    html.Span(case.description[:120], className="text"),  # text, never HTML
                    *case_fields(services, case.case_id, case.category, allowed, lang),
                    html.Div(
                        [
                            html.Button(
                                action_label(a, lang),
                                id={"type": "wk-act", "case": case.case_id, "action": a.value},
                                n_clicks=0,
                                className="action",
                            )
                            for a in allowed
                        ]
                    ),
                ],
                className="mycase",
            )
        )
    return html.Ul(rows or [html.Li(t("none", lang))], className="mycases")


def case_fields(
    services: Services, case_id: str, category: str, allowed: list[Action], lang: str
) -> list[Any]:
    """The fields a case's buttons need: a note (退回's reason, 延期's reason), the new deadline,
    the after-photo (the page says when the category needs one)."""
    out: list[Any] = []
    if Action.RETURN in allowed or Action.REQUEST_DEFER in allowed:
        out.append(
            dcc.Textarea(
                id={"type": "wk-note", "case": case_id},
                maxLength=2000,
                placeholder=t("return.reason", lang) + " / " + t("comment", lang),
                className="comment",
            )
        )
    if Action.REQUEST_DEFER in allowed:
        out.append(
            dcc.Input(
                id={"type": "wk-defer", "case": case_id},
                type="text",
                placeholder=t("defer.to", lang) + " 2026-12-10 17:00",
                className="when",
            )
        )
    if Action.HANDLE in allowed:
        out.append(
            dcc.Upload(
                id={"type": "wk-after", "case": case_id},
                children=html.Div(t("handle.photo", lang)),
                accept="image/*",
                max_size=MAX_PHOTO_BYTES,
                className="upload",
            )
        )
        if actions.photo_required(services, category):
            out.append(html.P(t("handle.photo_required", lang), className="hint"))
    return out


# -- callbacks --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    app.clientside_callback(  # type: ignore[no-untyped-call]
        _GEOLOCATE,
        Output("wk-place", "data", allow_duplicate=True),
        Input("wk-locate", "n_clicks"),
        prevent_initial_call=True,
    )
    app.callback(
        Output("wk-place", "data"),
        Input("wk-map", "relayoutData"),
        prevent_initial_call=True,
    )(pick)
    app.callback(
        Output("wk-map", "figure"),
        Output("wk-place-text", "children"),
        Input("wk-place", "data"),
        prevent_initial_call=True,
    )(show_place)
    app.callback(
        Output("wk-photo-name", "children"),
        Input("wk-photo", "filename"),
        prevent_initial_call=True,
    )(photo_chosen)
    app.callback(
        Output("wk-message", "children"),
        Output("wk-cases", "children", allow_duplicate=True),
        Input("wk-submit", "n_clicks"),
        State("wk-place", "data"),
        State("wk-category", "value"),
        State("wk-description", "value"),
        State("wk-photo", "contents"),
        prevent_initial_call=True,
    )(submit)
    app.callback(
        Output("wk-devices", "children"),
        Output("wk-device-message", "children"),
        Input({"type": "wk-revoke", "token": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(revoke)
    app.callback(
        Output("wk-cases", "children"),
        Output("wk-case-message", "children"),
        Input({"type": "wk-act", "case": ALL, "action": ALL}, "n_clicks"),
        State({"type": "wk-note", "case": ALL}, "value"),
        State({"type": "wk-defer", "case": ALL}, "value"),
        State({"type": "wk-after", "case": ALL}, "contents"),
        prevent_initial_call=True,
    )(act)


def pick(relayout: Any) -> Any:
    """The place is the map's centre: pan the map until the crosshair is on the spot."""
    require_caller()
    center = map_center(relayout)
    if center is None:
        return no_update
    return {"lon": center[0], "lat": center[1], "source": "map"}


def show_place(place: Any) -> Any:
    """The chosen place as text; from geolocation, the map brought under the crosshair."""
    require_caller()
    if not isinstance(place, dict):
        return no_update, no_update
    text = f"{place['lon']:.5f}, {place['lat']:.5f}"
    if place.get("source") == "map":
        return no_update, text  # the crosshair already marks it
    figure = Patch()  # from geolocation: bring the place under the crosshair
    geo = figure["layout"]["geo"]  # the pick map is SVG (dashboards.figures)
    geo["center"] = {"lon": place["lon"], "lat": place["lat"]}
    geo["projection"]["rotation"] = {"lon": place["lon"]}
    return figure, text


def photo_chosen(name: Any) -> Any:
    require_caller()
    if not isinstance(name, str) or not name:
        return ""
    return f"{t('report.chosen', current_lang())}: {name[:80]}"  # a text node


def submit(n: int, place: Any, category: Any, description: Any, photo: Any) -> Any:
    """Report the incident where the crosshair is, with the photo if one was chosen."""
    caller = require_caller()
    services = dashboard().services
    lang = current_lang()
    if not n:
        return no_update, no_update
    if not isinstance(place, dict):
        return t("report.need_place", lang), no_update
    try:
        picture = None if not photo else sanitize_photo(decode_upload(str(photo)))
        case = actions.report(
            services,
            caller,
            lon=float(place["lon"]),
            lat=float(place["lat"]),
            category=str(category or ""),
            description=str(description or "").strip(),
            photo=picture,
        )
    except (GridMgrError, ValueError) as exc:  # says what to fix; nothing was stored
        return str(exc), no_update
    return (
        [t("report.ok", lang), " ", case_link(case.case_id[:8], case.case_id)],
        case_list(services, caller, lang),
    )


def act(clicks: list[int], _notes: Any, _defers: Any, _photos: Any) -> Any:
    """A button of the case list: sign for, return, ask for more time, start, report back."""
    caller = require_caller()
    services = dashboard().services
    lang = current_lang()
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        return no_update, no_update
    case_id = str(trigger.get("case"))
    try:
        action = Action(trigger.get("action"))
        if action not in WORKER_ACTIONS:
            raise ValueError(f"{action.value}: use the case page")
        note = str(_field("wk-note", case_id) or "").strip()
        comment = WORKER_COMMENTS.get(action, note)
        due = None
        if action is Action.REQUEST_DEFER:
            when = _field("wk-defer", case_id)
            if not when:
                raise ValueError(t("defer.need_date", lang))
            due = datetime.fromisoformat(str(when).strip()).replace(tzinfo=TZ)
        upload = _field("wk-after", case_id) if action is Action.HANDLE else None
        photo = sanitize_photo(decode_upload(str(upload))) if upload else None
        actions.act(services, caller, case_id, action, comment, defer_to=due, photo=photo)
        message = t("done", lang)
    except (ValueError, GridMgrError) as exc:
        message = str(exc)
    return case_list(services, caller, lang), message


def revoke(clicks: list[int]) -> Any:
    """A device's revoke button: only the caller's own device is revoked (another person's id
    is refused as unknown by the service)."""
    caller = require_caller()
    services = dashboard().services
    lang = current_lang()
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        return no_update, no_update
    try:
        actions.revoke_my_device(services, caller, str(trigger.get("token")))
        message = t("devices.revoked", lang)
    except GridMgrError as exc:
        message = str(exc)
    return device_list(services, caller, lang), message


def _field(kind: str, case_id: str) -> Any:
    """The value the page sent for one case's field (``None`` if it has none)."""
    for state in ctx.states_list:
        for item in state if isinstance(state, list) else [state]:
            ident = item.get("id")
            if isinstance(ident, dict) and ident == {"type": kind, "case": case_id}:
                return item.get("value")
    return None
