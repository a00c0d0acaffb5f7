"""The case page: where, whose, how late, photos, the full trail, and what you may do now."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboards.data import CaseView, DashData
from dashboards.figures import case_map
from dashboards.i18n import t
from gridmgr.access import Caller
from gridmgr.cases import Action
from gridmgr.errors import CaseNotFoundError, GridMgrError
from gridmgr.responsibility.calendar import TZ


def layout(caller: Caller, data: DashData, lang: str, *, case_id: str) -> Any:
    try:
        view = data.case_view(caller, case_id)
    except CaseNotFoundError:
        return html.P(t("not_found", lang), className="notice")
    return html.Div(
        [
            dcc.Store(id="case-id", data=view.case.case_id),
            dcc.Interval(id="case-tick", interval=30_000),
            html.Div(body(view, data, lang), id="case-body"),
        ]
    )


def body(view: CaseView, data: DashData, lang: str) -> list[Any]:
    case = view.case
    now = data.clock()
    state = case.state.label_zh if lang == "zh" else case.state.value
    title = f"{t('case', lang)} {case.case_id[:8]} · {data.category_name(case.category, lang)}"
    owner = case.assignee.name if case.assignee is not None else "—"
    facts = [
        (t("state", lang), state),
        (t("owner", lang), owner),
        (t("deadline", lang), deadline_text(case.due_at, now, lang) if case.state.is_open else "—"),
        (t("reported", lang), case.reported_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")),
        (t("place", lang), data.place(case.cell)),
    ]
    return [
        html.H1(title, className="casetitle"),
        html.Div(
            [
                html.Div(
                    [
                        html.Dl(
                            [
                                x
                                for k, v in facts
                                for x in (
                                    html.Dt(k),
                                    html.Dd(v, id="case-deadline")
                                    if k == t("deadline", lang)
                                    else html.Dd(v),
                                )
                            ],
                            className="facts" + (" late" if view.overdue else ""),
                        ),
                        html.H3(t("description", lang)),
                        html.P(case.description, className="citizen"),  # a text node, never HTML
                        html.H3(t("path", lang)),
                        html.P(" › ".join(f"{name} ({code})" for code, name in view.path) or "—"),
                        html.H3(t("chain", lang)),
                        html.Ol([html.Li(f"{c['label']}: {c['person']}") for c in view.chain]),
                        html.H3(t("photos", lang)),
                        html.Div(
                            [
                                html.Img(
                                    src=f"/dashboard/photo/{p.attachment_id}", className="photo"
                                )
                                for p in view.photos
                            ]
                            or [html.P(t("none", lang))]
                        ),
                    ],
                    className="casecol",
                ),
                html.Div(
                    [
                        dcc.Graph(
                            figure=case_map(
                                lon=case.lon,
                                lat=case.lat,
                                cell=case.cell,
                                geojson_url=data.geometry.url(3, "/dashboard/"),
                            ),
                            config={"displayModeBar": False},
                        ),
                        html.H3(t("actions", lang)),
                        actions_panel(view, lang),
                        *triage_panel(view, data, lang),
                        html.H3(t("trail", lang)),
                        trail(view, data, lang),
                    ],
                    className="casecol",
                ),
            ],
            className="casegrid",
        ),
    ]


def deadline_text(due: datetime | None, now: datetime, lang: str) -> str:
    """'剩余 2 h 05 min' / 'late by 1 d 3 h' style countdown.

    >>> from datetime import timedelta
    >>> n = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)
    >>> deadline_text(n + timedelta(hours=2, minutes=5), n, "en")
    'Due in 2 h 05 min'
    >>> deadline_text(n - timedelta(days=1, hours=3), n, "zh")
    '超时 1 d 3 h'
    """
    if due is None:
        return "—"
    seconds = int((due - now).total_seconds())
    key = "due_in" if seconds >= 0 else "late_by"
    s = abs(seconds)
    days, rem = divmod(s, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    span = f"{days} d {hours} h" if days else f"{hours} h {minutes:02d} min"
    return f"{t(key, lang)} {span}"


def actions_panel(view: CaseView, lang: str) -> Any:
    if not view.actions:
        return html.P(t("no_actions", lang))
    return html.Div(
        [
            dcc.Textarea(
                id="case-comment",
                maxLength=2000,
                className="comment",
                placeholder=t("comment", lang),
            ),
            html.Div(
                [
                    html.Button(
                        a.label_zh if lang == "zh" else a.value,
                        id={"type": "case-action", "action": a.value},
                        n_clicks=0,
                        className="action",
                    )
                    for a in view.actions
                ]
            ),
            html.Div(id="case-message", role="status"),
        ]
    )


def triage_panel(view: CaseView, data: DashData, lang: str) -> list[Any]:
    """Where the case came from, its merge links, probable duplicates (with a merge button for
    operators), placing an unlocated case, and the delivery of its notices."""
    tv = view.triage
    if tv is None:
        return []
    out: list[Any] = [html.H3(t("triage", lang))]
    source = t(f"channel.{tv.channel}", lang) if tv.channel else "—"
    if tv.source_id:
        source += f" · {tv.source_id}"
    out.append(html.P(f"{t('channel', lang)}: {source}"))
    if tv.address:
        out.append(html.P(f"{t('address', lang)}: {tv.address}"))  # citizen text: a text node
    if tv.master is not None:
        master = tv.master
        state = master.state.label_zh if lang == "zh" else master.state.value
        out.append(
            html.P(
                [
                    t("merged_into", lang) + " ",
                    dcc.Link(master.case_id[:8], href=f"/dashboard/case/{master.case_id}"),
                    f" · {state}",
                ]
            )
        )
    if tv.duplicates:
        out.append(
            html.P(
                [t("merged_reports", lang) + ": "]
                + [
                    dcc.Link(d.case_id[:8] + " ", href=f"/dashboard/case/{d.case_id}")
                    for d in tv.duplicates
                ]
            )
        )
    if tv.candidates:
        out.append(html.H4(t("duplicates", lang)))
        rows = []
        for m in tv.candidates:
            rows.append(
                html.Li(
                    [
                        dcc.Link(f"{m.case_id[:8]}", href=f"/dashboard/case/{m.case_id}"),
                        f" · {m.score:.2f} · {m.distance_m:.0f} m · {m.minutes_apart:.0f} min · ",
                        "; ".join(m.reasons),
                        html.Button(
                            t("merge", lang),
                            id={"type": "case-merge", "into": m.case_id},
                            n_clicks=0,
                            className="action",
                        ),
                    ]
                )
            )
        out.append(html.Ul(rows))
    if tv.unlocated:
        from dashboards.pages.worker import pick_map

        out += [
            html.H4(t("place.do", lang)),
            html.P(t("report.where", lang)),
            html.Div(
                [
                    dcc.Graph(
                        id="case-pick",
                        figure=pick_map(data, [], None),
                        config={"displayModeBar": False, "scrollZoom": True},
                    ),
                    html.Div("+", className="crosshair"),
                ],
                className="pickwrap",
            ),
            html.Div(
                [
                    dcc.Input(id="case-lon", type="number", placeholder="lon", step="any"),
                    dcc.Input(id="case-lat", type="number", placeholder="lat", step="any"),
                    html.Button(
                        t("place.do", lang), id="case-place", n_clicks=0, className="action"
                    ),
                ]
            ),
        ]
    if tv.deliveries:
        out.append(html.H4(t("deliveries", lang)))
        out.append(
            html.Ul(
                [
                    html.Li(
                        f"{d.trigger} → {data.person_name(d.recipient)} · {d.channel}: {d.status}"
                        + (f" ({d.attempts})" if d.attempts else "")
                    )
                    for d in tv.deliveries
                ]
            )
        )
    return out


def trail(view: CaseView, data: DashData, lang: str) -> Any:
    items = []
    for e in view.trail:
        mark = t("verified", lang) if e.verified else t("broken_event", lang)
        try:
            action = Action(e.action)
            label = action.label_zh if lang == "zh" else action.value
        except ValueError:
            label = e.action
        items.append(
            html.Li(
                [
                    html.Span(e.at.astimezone(TZ).strftime("%m-%d %H:%M"), className="at"),
                    html.Span(label, className="kind"),
                    html.Span(data.person_name(e.actor), className="actor"),
                    html.Span(e.comment, className="text"),  # text, never HTML
                    html.Span(
                        f"#{e.ledger.seq} {mark}" + ("" if e.problem is None else f": {e.problem}"),
                        className="mark " + ("ok" if e.verified else "bad"),
                    ),
                ],
                className="event",
            )
        )
    return html.Ol(items, className="timeline")


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    from dashboards.app import current_lang, require_caller

    @app.callback(
        Output("case-body", "children"),
        Input({"type": "case-action", "action": ALL}, "n_clicks"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )
    def on_action(clicks: list[int], comment: str | None, case_id: str) -> Any:
        caller = require_caller()
        lang = current_lang()
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            return no_update
        try:
            action = Action(trigger.get("action"))
            data.act(caller, case_id, action, (comment or "").strip())
            message = t("done", lang)
        except (ValueError, GridMgrError) as exc:  # the guards' message says what to fix
            message = str(exc)
        return refreshed(caller, case_id, message, lang)

    @app.callback(
        Output("case-deadline", "children"),
        Input("case-tick", "n_intervals"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )
    def countdown(_tick: Any, case_id: str) -> Any:
        caller = require_caller()
        try:
            case = data.visible_case(caller, case_id)
        except CaseNotFoundError:
            return no_update
        if not case.state.is_open:
            return "—"
        return deadline_text(case.due_at, data.clock(), current_lang())

    @app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input({"type": "case-merge", "into": ALL}, "n_clicks"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )
    def on_merge(clicks: list[int], comment: str | None, case_id: str) -> Any:
        caller = require_caller()
        lang = current_lang()
        trigger = ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            return no_update
        try:
            data.merge(caller, case_id, str(trigger.get("into")), (comment or "").strip())
            message = t("done", lang)
        except (ValueError, GridMgrError) as exc:
            message = str(exc)
        return refreshed(caller, case_id, message, lang)

    @app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input("case-place", "n_clicks"),
        State("case-lon", "value"),
        State("case-lat", "value"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )
    def on_place(n: int, lon: Any, lat: Any, comment: str | None, case_id: str) -> Any:
        caller = require_caller()
        lang = current_lang()
        if not n:
            return no_update
        try:
            if not isinstance(lon, int | float) or not isinstance(lat, int | float):
                raise ValueError(t("place.need", lang))
            data.place_case(
                caller, case_id, lon=float(lon), lat=float(lat), comment=(comment or "").strip()
            )
            message = t("done", lang)
        except (ValueError, GridMgrError) as exc:
            message = str(exc)
        return refreshed(caller, case_id, message, lang)

    def refreshed(caller: Any, case_id: str, message: str, lang: str) -> Any:
        """The case page again after an action, with what came of it on top."""
        try:
            view = data.case_view(caller, case_id)
        except CaseNotFoundError:
            return html.P(t("not_found", lang), className="notice")
        out = body(view, data, lang)
        out.insert(1, html.P(message, className="message", role="status"))
        return out

    @app.callback(
        Output("case-lon", "value"),
        Output("case-lat", "value"),
        Input("case-pick", "relayoutData"),
        prevent_initial_call=True,
    )
    def pin(relayout: Any) -> Any:
        """The pin is the map's centre: pan until the crosshair is on the place."""
        require_caller()
        center = (relayout or {}).get("map.center")
        if not isinstance(center, dict):
            return no_update, no_update
        lon, lat = center.get("lon"), center.get("lat")
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            return no_update, no_update
        return round(float(lon), 6), round(float(lat), 6)
