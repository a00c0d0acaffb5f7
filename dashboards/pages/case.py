"""The case page: where, whose, how late, photos, the full trail, and what you may do now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboards import actions, picker
from dashboards.actions import photo_required
from dashboards.components import (
    action_label,
    card_badge,
    case_link,
    deadline_text,
    decode_upload,
    map_center,
    notice,
    pick_map,
    pick_widget,
    state_label,
)
from dashboards.context import PREFIX, Dashboard, current_lang, dashboard, require_caller
from dashboards.figures import case_map
from dashboards.i18n import t
from dashboards.reads.case import CaseView, TriageView, case_view
from dashboards.reads.names import category_name, holder_label, person_name, place
from gridmgr.access import Caller
from gridmgr.cases import Action
from gridmgr.errors import CaseNotFoundError, GridMgrError
from gridmgr.intake.photos import MAX_PHOTO_BYTES, sanitize_photo
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services

COUNTDOWN_MS = 30_000


def layout(board: Dashboard, caller: Caller, lang: str, *, case_id: str) -> Any:
    try:
        view = case_view(board.services, caller, case_id, board.services.now())
    except CaseNotFoundError:
        return notice(t("not_found", lang))
    return html.Div(
        [
            dcc.Store(id="case-id", data=view.case.case_id),
            dcc.Interval(id="case-tick", interval=COUNTDOWN_MS),
            html.Div(body(board, view, lang), id="case-body"),
        ]
    )


def body(board: Dashboard, view: CaseView, lang: str) -> list[Any]:
    services = board.services
    case = view.case
    number = "" if view.number is None else f"#{view.number} · "  # as the queues list it
    title = f"{t('case', lang)} {number}{case.case_id[:8]} · "
    title += category_name(services, case.category, lang)
    map_figure = case_map(
        lon=case.lon, lat=case.lat, cell=case.cell, geojson_url=board.geometry.url(3, PREFIX)
    )
    return [
        html.H1(title, className="casetitle"),
        html.Div(
            [
                html.Div(facts_column(services, view, lang), className="casecol"),
                html.Div(
                    [
                        dcc.Graph(figure=map_figure, config={"displayModeBar": False}),
                        html.H3(t("actions", lang)),
                        actions_panel(
                            view, lang, photo_required=photo_required(services, case.category)
                        ),
                        *triage_panel(board, view, lang),
                        html.H3(t("trail", lang)),
                        trail(services, view, lang),
                    ],
                    className="casecol",
                ),
            ],
            className="casegrid",
        ),
    ]


def facts_column(services: Services, view: CaseView, lang: str) -> list[Any]:
    """State, owner, deadline, when and where; the citizen's words; the way down the grid;
    the owner chain; the photos."""
    case = view.case
    now = services.now()
    running = case.stage if case.state.is_open else None
    stage = "—" if running is None else (running.label_zh if lang == "zh" else running.value)
    # the holder answers for the running stage; a finished case shows whom it was assigned
    owner = holder_label(services, (case.holder or case.assignee) if running else case.assignee)
    due = case.due_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M") + " · " if case.due_at else ""
    countdown = deadline_text(case.due_at, now, lang) if case.state.is_open else "—"
    facts = [
        html.Dt(t("state", lang)),
        html.Dd(state_label(case.state, lang)),
        html.Dt(t("stage", lang)),
        html.Dd(stage, id="case-stage"),
        html.Dt(t("owner", lang)),
        html.Dd(owner, id="case-holder"),
        html.Dt(t("deadline", lang)),
        html.Dd([due if case.state.is_open else "", html.Span(countdown, id="case-deadline")]),
        html.Dt(t("queue.card", lang)),
        html.Dd(card_badge(case.card, lang) or "—", id="case-card"),
        *missed_rows(view, lang),
        html.Dt(t("reported", lang)),
        html.Dd(case.reported_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")),
        html.Dt(t("place", lang)),
        html.Dd(place(services.grid, case.cell)),
    ]
    photos = [
        html.Img(src=f"{PREFIX}photo/{p.attachment_id}", className="photo") for p in view.photos
    ]
    return [
        html.Dl(facts, className="facts" + (" late" if view.overdue else "")),
        html.H3(t("description", lang)),
        html.P(case.description, className="citizen"),  # a text node, never HTML
        html.H3(t("path", lang)),
        html.P(" › ".join(f"{name} ({code})" for code, name in view.path) or "—"),
        html.H3(t("chain", lang)),
        html.Ol([html.Li(f"{c['label']}: {c['person']}") for c in view.chain]),
        html.H3(t("photos", lang)),
        html.Div(photos or [html.P(t("none", lang))]),
        html.A(t("dossier", lang), href=f"{PREFIX}dossier/{case.case_id}", id="case-dossier"),
    ]


def missed_rows(view: CaseView, lang: str) -> list[Any]:
    """The 漏报 flag, when the cell's worker walked past before a resident had to report it."""
    flag = view.missed
    if flag is None:
        return []
    passed = flag.passed_at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    text = t("missed.flag", lang).format(
        name=flag.person_name, at=passed, metres=f"{flag.distance_m:.0f}"
    )
    contests = [html.Div(f"{t('missed.contest', lang)}: {c.comment}") for c in flag.contests]
    return [html.Dt(t("missed", lang)), html.Dd([text, *contests], id="case-missed")]


OWN_FORMS = (Action.EVALUATE, Action.HANDLE, Action.DISPATCH)
"""Actions with their own form (a rating; an after-photo; the assignee picker) instead of a
plain button."""


def actions_panel(view: CaseView, lang: str, *, photo_required: bool = False) -> Any:
    request = deferral_request(view, lang)
    if not view.actions:
        return html.Div([*request, html.P(t("no_actions", lang))])
    asks = Action.REQUEST_DEFER in view.actions
    return html.Div(
        [
            *request,
            dcc.Textarea(
                id="case-comment",
                maxLength=2000,
                className="comment",
                placeholder=t("comment", lang),
            ),
            html.Label(
                [
                    t("defer.to", lang),
                    dcc.Input(
                        id="case-defer-to",
                        type="text",
                        placeholder="2026-12-10 17:00",
                        className="when",
                    ),
                ],
                style=None if asks else {"display": "none"},
            ),
            html.Div(
                [
                    html.Button(
                        action_label(a, lang),
                        id={"type": "case-action", "action": a.value},
                        n_clicks=0,
                        className="action",
                    )
                    for a in view.actions
                    if a not in OWN_FORMS
                ]
            ),
            *(picker.transfer_hint(view, lang) if Action.TRANSFER in view.actions else []),
            *(picker.dispatch_form(view, lang) if Action.DISPATCH in view.actions else []),
            *(evaluate_form(lang) if Action.EVALUATE in view.actions else []),
            *(handle_form(lang, photo_required) if Action.HANDLE in view.actions else []),
            html.Div(id="case-message", role="status"),
        ]
    )


def evaluate_form(lang: str) -> list[Any]:
    """评价: a rating from 1 to 5 and the comment above."""
    return [
        html.Label(
            [
                t("rating", lang),
                dcc.Dropdown(
                    id="case-rating",
                    options=[{"label": "★" * n, "value": n} for n in range(5, 0, -1)],
                    clearable=False,
                    className="field",
                ),
            ]
        ),
        html.Button(
            action_label(Action.EVALUATE, lang), id="case-evaluate", n_clicks=0, className="action"
        ),
    ]


def handle_form(lang: str, photo_required: bool) -> list[Any]:
    """反馈: the after-photo (the page says in advance when the category needs one)."""
    label = action_label(Action.HANDLE, lang)
    return [
        dcc.Upload(
            id="case-photo",
            children=html.Div(t("handle.photo", lang)),
            accept="image/*",
            max_size=MAX_PHOTO_BYTES,
            className="upload",
        ),
        *([html.P(t("handle.photo_required", lang), className="hint")] if photo_required else []),
        html.Button(label, id="case-handle", n_clicks=0, className="action"),
    ]


def deferral_request(view: CaseView, lang: str) -> list[Any]:
    """The pending deferral request: who asked, why, the dates, who decides (empty if none)."""
    d = view.case.deferral
    if d is None:
        return []

    def when(at: datetime) -> str:
        return at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")

    facts = [
        html.Dt(t("defer.by", lang)),
        html.Dd(d.requested_by),
        html.Dt(t("defer.dates", lang)),
        html.Dd(f"{when(d.due_before)} → {when(d.due_at)}"),
        html.Dt(t("defer.reason", lang)),
        html.Dd(d.reason, className="citizen"),  # a text node, never HTML
        html.Dt(t("defer.approver", lang)),
        html.Dd(f"{d.approver.name or d.approver.person_id} ({d.approver.post})"),
    ]
    return [html.H4(t("defer.request", lang)), html.Dl(facts, className="facts deferral")]


def triage_panel(board: Dashboard, view: CaseView, lang: str) -> list[Any]:
    """Where the case came from, its merge links, probable duplicates (with a merge button for
    operators), placing an unlocated case, and the delivery of its notices."""
    tv = view.triage
    if tv is None:
        return []
    out: list[Any] = [html.H3(t("triage", lang)), *origin_lines(tv, lang)]
    out += merge_links(tv, lang)
    if tv.candidates or tv.hidden_candidates:
        out += duplicate_candidates(tv, lang)
    if tv.unlocated:
        out += place_form(board, lang)
    elif tv.movable:
        out += place_form(board, lang, move=True)
    if tv.deliveries:
        out += deliveries(board.services, tv, lang)
    return out


def origin_lines(tv: TriageView, lang: str) -> list[Any]:
    """The channel (and its source id) and the address as reported."""
    source = t(f"channel.{tv.channel}", lang) if tv.channel else "—"
    if tv.source_id:
        source += f" · {tv.source_id}"
    out = [html.P(f"{t('channel', lang)}: {source}")]
    if tv.address:
        out.append(html.P(f"{t('address', lang)}: {tv.address}"))  # citizen text: a text node
    return out


def merge_links(tv: TriageView, lang: str) -> list[Any]:
    """The master this case was merged into, or the reports merged into it."""
    out: list[Any] = []
    if tv.master is not None:
        master = tv.master
        out.append(
            html.P(
                [
                    t("merged_into", lang) + " ",
                    case_link(master.case_id[:8], master.case_id),
                    f" · {state_label(master.state, lang)}",
                ]
            )
        )
    if tv.duplicates:
        links = [case_link(d.case_id[:8] + " ", d.case_id) for d in tv.duplicates]
        out.append(html.P([t("merged_reports", lang) + ": ", *links]))
    return out


def duplicate_candidates(tv: TriageView, lang: str) -> list[Any]:
    """Probable duplicates, each with why and a merge button."""
    rows = [
        html.Li(
            [
                case_link(f"{m.case_id[:8]}", m.case_id),
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
        for m in tv.candidates
    ]
    if tv.hidden_candidates:  # counted, never named: their ids are outside the caller's cells
        rows.append(html.Li(t("duplicates.hidden", lang).format(n=tv.hidden_candidates)))
    return [html.H4(t("duplicates", lang)), html.Ul(rows)]


def place_form(board: Dashboard, lang: str, *, move: bool = False) -> list[Any]:
    """Placing an unlocated case, or moving one located in the wrong cell: pan the map under
    the crosshair, or type the coordinates."""
    label = t("place.move" if move else "place.do", lang)
    return [
        html.H4(label),
        html.P(t("report.where", lang)),
        pick_widget("case-pick", pick_map(board.geometry, [], None)),
        html.Div(
            [
                dcc.Input(id="case-lon", type="number", placeholder="lon", step="any"),
                dcc.Input(id="case-lat", type="number", placeholder="lat", step="any"),
                html.Button(label, id="case-place", n_clicks=0, className="action"),
            ]
        ),
    ]


def deliveries(services: Services, tv: TriageView, lang: str) -> list[Any]:
    """Where each notice of the case stands, per channel."""
    rows = [
        html.Li(
            f"{d.trigger} → {person_name(services, d.recipient)} · {d.channel}: {d.status}"
            + (f" ({d.attempts})" if d.attempts else "")
        )
        for d in tv.deliveries
    ]
    return [html.H4(t("deliveries", lang)), html.Ul(rows)]


def trail(services: Services, view: CaseView, lang: str) -> Any:
    items = []
    for e in view.trail:
        mark = t("verified", lang) if e.verified else t("broken_event", lang)
        try:
            label = action_label(Action(e.action), lang)
        except ValueError:
            label = e.action
        items.append(
            html.Li(
                [
                    html.Span(e.at.astimezone(TZ).strftime("%m-%d %H:%M"), className="at"),
                    html.Span(label, className="kind"),
                    html.Span(person_name(services, e.actor), className="actor"),
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


# -- callbacks --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    app.callback(
        Output("case-body", "children"),
        Input({"type": "case-action", "action": ALL}, "n_clicks"),
        State("case-comment", "value"),
        State("case-defer-to", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(on_action)
    app.callback(
        Output("case-deadline", "children"),
        Input("case-tick", "n_intervals"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(countdown)
    app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input({"type": "case-merge", "into": ALL}, "n_clicks"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(on_merge)
    app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input("case-place", "n_clicks"),
        State("case-lon", "value"),
        State("case-lat", "value"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(on_place)
    app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input("case-evaluate", "n_clicks"),
        State("case-rating", "value"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(on_evaluate)
    app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input("case-handle", "n_clicks"),
        State("case-photo", "contents"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(on_handle)
    app.callback(
        Output("case-body", "children", allow_duplicate=True),
        Input("case-dispatch", "n_clicks"),
        State("case-assignee", "value"),
        State("case-comment", "value"),
        State("case-id", "data"),
        prevent_initial_call=True,
    )(on_dispatch)
    app.callback(
        Output("case-lon", "value"),
        Output("case-lat", "value"),
        Input("case-pick", "relayoutData"),
        prevent_initial_call=True,
    )(pin)


def on_action(clicks: list[int], comment: str | None, defer_to: str | None, case_id: str) -> Any:
    """An action button: apply it as the caller, then show the page again (a deferral request
    carries the new deadline from the date field; its approver is picked by the rules)."""
    caller = require_caller()
    board = dashboard()
    lang = current_lang()
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        return no_update
    try:
        action = Action(trigger.get("action"))
        due = None
        if action is Action.REQUEST_DEFER:
            if not defer_to:
                return refreshed(board, caller, case_id, t("defer.need_date", lang), lang)
            due = datetime.fromisoformat(defer_to).replace(tzinfo=TZ)
        text = (comment or "").strip()
        actions.act(board.services, caller, case_id, action, text, defer_to=due)
        message = t("done", lang)
    except (ValueError, GridMgrError) as exc:  # the guards' message says what to fix
        message = str(exc)
    return refreshed(board, caller, case_id, message, lang)


def answer_form(n: int, case_id: str, do: Callable[[Services, Caller, str], str]) -> Any:
    """A form's button: ``do`` (services, caller, lang) → the message, as the caller; a refusal's
    message says what to fix; then the page again."""
    caller = require_caller()
    board = dashboard()
    lang = current_lang()
    if not n:
        return no_update
    try:
        message = do(board.services, caller, lang)
    except (ValueError, GridMgrError) as exc:
        message = str(exc)
    return refreshed(board, caller, case_id, message, lang)


def on_evaluate(n: int, rating: Any, comment: str | None, case_id: str) -> Any:
    """评价: the rating (1–5) and the comment, as the caller."""

    def do(services: Services, caller: Caller, lang: str) -> str:
        if not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValueError(t("rating.need", lang))
        text = (comment or "").strip()
        actions.act(services, caller, case_id, Action.EVALUATE, text, rating=rating)
        return t("done", lang)

    return answer_form(n, case_id, do)


def on_handle(n: int, photo: Any, comment: str | None, case_id: str) -> Any:
    """反馈: report back with the after-photo (checked and re-encoded without EXIF)."""

    def do(services: Services, caller: Caller, lang: str) -> str:
        picture = None if not photo else sanitize_photo(decode_upload(str(photo)))
        text = (comment or "").strip()
        actions.act(services, caller, case_id, Action.HANDLE, text, photo=picture)
        return t("done", lang)

    return answer_form(n, case_id, do)


def on_dispatch(n: int, chosen: Any, comment: str | None, case_id: str) -> Any:
    """派遣 to the picked person or unit, as the caller (see :func:`dashboards.picker.dispatch`)."""

    def do(services: Services, caller: Caller, lang: str) -> str:
        return picker.dispatch(services, caller, case_id, chosen, comment, lang)

    return answer_form(n, case_id, do)


def countdown(_tick: Any, case_id: str) -> Any:
    """The deadline's countdown, every half minute."""
    caller = require_caller()
    services = dashboard().services
    try:
        case = visible_case(services.store, caller, case_id)
    except CaseNotFoundError:
        return no_update
    if not case.state.is_open:
        return "—"
    return deadline_text(case.due_at, services.now(), current_lang())


def on_merge(clicks: list[int], comment: str | None, case_id: str) -> Any:
    """A merge button: merge this case into the candidate (operators only)."""
    caller = require_caller()
    board = dashboard()
    lang = current_lang()
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(clicks):
        return no_update
    try:
        master_id = str(trigger.get("into"))
        actions.merge(board.services, caller, case_id, master_id, (comment or "").strip())
        message = t("done", lang)
    except (ValueError, GridMgrError) as exc:
        message = str(exc)
    return refreshed(board, caller, case_id, message, lang)


def on_place(n: int, lon: Any, lat: Any, comment: str | None, case_id: str) -> Any:
    """The place button: locate an unlocated case where the pin is (operators only)."""
    caller = require_caller()
    board = dashboard()
    lang = current_lang()
    if not n:
        return no_update
    try:
        if not isinstance(lon, int | float) or not isinstance(lat, int | float):
            raise ValueError(t("place.need", lang))
        actions.place(
            board.services,
            caller,
            case_id,
            lon=float(lon),
            lat=float(lat),
            comment=(comment or "").strip(),
        )
        message = t("done", lang)
    except (ValueError, GridMgrError) as exc:
        message = str(exc)
    return refreshed(board, caller, case_id, message, lang)


def refreshed(board: Dashboard, caller: Caller, case_id: str, message: str, lang: str) -> Any:
    """The case page again after an action, with what came of it on top."""
    try:
        view = case_view(board.services, caller, case_id, board.services.now())
    except CaseNotFoundError:
        return notice(t("not_found", lang))
    out = body(board, view, lang)
    out.insert(1, html.P(message, className="message", role="status"))
    return out


def pin(relayout: Any) -> Any:
    """The pin is the map's centre: pan until the crosshair is on the place."""
    require_caller()
    center = map_center(relayout)
    if center is None:
        return no_update, no_update
    return round(center[0], 6), round(center[1], 6)
