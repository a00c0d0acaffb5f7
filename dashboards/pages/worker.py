"""The grid worker's page, sized for a phone: my cells, my open cases, report an incident."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from dash import ALL, Dash, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboards.data import DashData
from dashboards.figures import map_layout
from dashboards.geo import zoom_for
from dashboards.i18n import t
from dashboards.pages.case import deadline_text
from gridmgr.access import Caller
from gridmgr.cases import Action, allowed_actions
from gridmgr.errors import GridMgrError
from gridmgr.intake.photos import MAX_PHOTO_BYTES, sanitize_photo

WORKER_ACTIONS = (Action.ACCEPT, Action.START, Action.HANDLE)
"""What a worker does from his list: sign for, start, report back (the rest: case page)."""

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


def layout(caller: Caller, data: DashData, lang: str) -> Any:
    cells = data.my_cells(caller)
    return html.Div(
        [
            dcc.Store(id="wk-place"),
            html.H2(t("my_cases", lang)),
            html.Div(case_list(caller, data, lang), id="wk-cases"),
            html.Div(id="wk-case-message", role="status"),
            html.H2(t("report", lang)),
            html.P(t("report.where", lang)),
            html.Div(
                [
                    dcc.Graph(
                        id="wk-map",
                        figure=pick_map(data, [c for c, _ in cells], None),
                        config={"displayModeBar": False, "scrollZoom": True},
                    ),
                    html.Div("+", className="crosshair"),
                ],
                className="pickwrap",
            ),
            html.Button(t("report.locate", lang), id="wk-locate", n_clicks=0, className="action"),
            html.Div(id="wk-place-text", className="placetext"),
            dcc.Dropdown(
                id="wk-category",
                options=[{"label": name, "value": code} for code, name in data.categories(lang)],
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
        ],
        className="worker",
    )


def pick_map(data: DashData, cells: list[str], place: dict[str, float] | None) -> dict[str, Any]:
    """The worker's cells, centred on ``place`` (else on his cells) under a crosshair."""
    geometry = data.geometry
    tier = geometry.tier(3)
    if cells:
        bounds = [tier.bounds[c] for c in cells if c in tier.bounds]
        minx = min(b[0] for b in bounds)
        miny = min(b[1] for b in bounds)
        maxx = max(b[2] for b in bounds)
        maxy = max(b[3] for b in bounds)
    else:
        minx, miny, maxx, maxy = geometry.territory_bounds
    center = (
        {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2}
        if place is None
        else {"lon": place["lon"], "lat": place["lat"]}
    )

    traces: list[dict[str, Any]] = [
        {
            "type": "choroplethmap",
            "geojson": geometry.url(3, "/dashboard/"),
            "featureidkey": "properties.code",
            "locations": cells,
            "z": [1] * len(cells),
            "colorscale": [[0, "#dbe7f3"], [1, "#dbe7f3"]],
            "showscale": False,
            "marker": {"line": {"width": 1.5, "color": "#3b6ea5"}},
            "hoverinfo": "skip",
        },
    ]
    layout = map_layout(
        center=(center["lon"], center["lat"]),
        zoom=zoom_for((minx, miny, maxx, maxy), width_px=360, height_px=320),
        height=320,
    )
    layout["uirevision"] = "pick"
    return {"data": traces, "layout": layout}


def case_list(caller: Caller, data: DashData, lang: str) -> Any:
    now = data.clock()
    rows = []
    for case in data.my_cases(caller):
        allowed = [a for a in allowed_actions(case, caller.actor, at=now) if a in WORKER_ACTIONS]
        rows.append(
            html.Li(
                [
                    dcc.Link(
                        data.category_name(case.category, lang),
                        href=f"/dashboard/case/{case.case_id}",
                        className="title",
                    ),
                    html.Span(data.place(case.cell), className="place"),
                    html.Span(
                        deadline_text(case.due_at, now, lang),
                        className="due" + (" late" if case.due_at and case.due_at <= now else ""),
                    ),
                    html.Span(case.description[:120], className="text"),  # text, never HTML
                    html.Div(
                        [
                            html.Button(
                                a.label_zh if lang == "zh" else a.value,
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


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    from dashboards.app import current_lang, require_caller

    app.clientside_callback(  # type: ignore[no-untyped-call]
        _GEOLOCATE,
        Output("wk-place", "data", allow_duplicate=True),
        Input("wk-locate", "n_clicks"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output("wk-place", "data"),
        Input("wk-map", "relayoutData"),
        prevent_initial_call=True,
    )
    def pick(relayout: Any) -> Any:
        """The place is the map's centre: pan the map until the crosshair is on the spot."""
        require_caller()
        center = (relayout or {}).get("map.center")
        if not isinstance(center, dict):
            return no_update
        lon, lat = center.get("lon"), center.get("lat")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            return no_update
        return {"lon": float(lon), "lat": float(lat), "source": "map"}

    @app.callback(
        Output("wk-map", "figure"),
        Output("wk-place-text", "children"),
        Input("wk-place", "data"),
        prevent_initial_call=True,
    )
    def show_place(place: Any) -> Any:
        require_caller()
        if not isinstance(place, dict):
            return no_update, no_update
        text = f"{place['lon']:.5f}, {place['lat']:.5f}"
        if place.get("source") == "map":
            return no_update, text  # the crosshair already marks it
        figure = Patch()  # from geolocation: bring the place under the crosshair
        figure["layout"]["map"]["center"] = {"lon": place["lon"], "lat": place["lat"]}
        return figure, text

    @app.callback(
        Output("wk-photo-name", "children"),
        Input("wk-photo", "filename"),
        prevent_initial_call=True,
    )
    def photo_chosen(name: Any) -> Any:
        require_caller()
        if not isinstance(name, str) or not name:
            return ""
        return f"{t('report.chosen', current_lang())}: {name[:80]}"  # a text node

    @app.callback(
        Output("wk-message", "children"),
        Output("wk-cases", "children", allow_duplicate=True),
        Input("wk-submit", "n_clicks"),
        State("wk-place", "data"),
        State("wk-category", "value"),
        State("wk-description", "value"),
        State("wk-photo", "contents"),
        prevent_initial_call=True,
    )
    def submit(n: int, place: Any, category: Any, description: Any, photo: Any) -> Any:
        caller = require_caller()
        lang = current_lang()
        if not n:
            return no_update, no_update
        if not isinstance(place, dict):
            return t("report.need_place", lang), no_update
        try:
            picture = None if not photo else sanitize_photo(_decode_upload(str(photo)))
            case = data.report(
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
            [
                t("report.ok", lang),
                " ",
                dcc.Link(case.case_id[:8], href=f"/dashboard/case/{case.case_id}"),
            ],
            case_list(caller, data, lang),
        )

    @app.callback(
        Output("wk-cases", "children"),
        Output("wk-case-message", "children"),
        Input({"type": "wk-act", "case": ALL, "action": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def act(clicks: list[int]) -> Any:
        caller = require_caller()
        lang = current_lang()
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            return no_update, no_update
        try:
            action = Action(trigger.get("action"))
            if action not in WORKER_ACTIONS:
                raise ValueError(f"{action.value}: use the case page")
            comment = {"accept": "签收", "start": "开始处置", "handle": "已处置完毕"}[action.value]
            data.act(caller, str(trigger.get("case")), action, comment)
            message = t("done", lang)
        except (ValueError, GridMgrError) as exc:
            message = str(exc)
        return case_list(caller, data, lang), message


def _decode_upload(contents: str) -> bytes:
    """The bytes of a ``dcc.Upload`` data URL (``data:image/jpeg;base64,...``)."""
    _, _, encoded = contents.partition(",")
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the photo did not arrive intact; choose it again") from exc
