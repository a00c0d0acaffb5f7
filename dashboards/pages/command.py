"""The command center: the live map with drill-down, KPI tiles, the live feed, the invariants.

Live without reload: a 1-second tick asks the ledger for what happened after the page's cursor
(a sequence number). Nothing new → nothing is sent. Something new → a ``Patch`` of the changed
cells' values and the new case points, the new feed lines and fresh tiles. Polygons are never
re-sent: the cells' GeoJSON is a cached URL. Every minute the values are refreshed in full (a
cell's SLA risk changes with the clock alone), every five minutes the case points.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import Dash, Input, Output, Patch, State, ctx, dcc, html, no_update
from dash.exceptions import PreventUpdate

from dashboards.components import action_label, case_href, case_link
from dashboards.context import PREFIX, Dashboard, current_lang, dashboard, require_caller
from dashboards.figures import Trace, labels_trace, map_figure, point_colour
from dashboards.geo import zoom_for
from dashboards.i18n import t
from dashboards.reads import command as reads
from dashboards.reads.command import METRICS, Changes, FeedItem, Invariant, Kpis, LiveReads
from dashboards.reads.names import category_name, cell_name
from dashboards.replaybar import (
    moment_of,
    parse_moment,
    replay_bar,
    replay_label,
    replay_lines,
    replay_tiles,
    replay_values,
)
from gridmgr.access import Caller
from gridmgr.cases import Action
from gridmgr.grid.model import Grid
from gridmgr.services.context import Services
from gridmgr.services.replay import CityState, replay

TICK_MS = 1000
FULL_VALUES_EVERY = 60
"""Ticks between full refreshes of the cells' values."""
FULL_POINTS_EVERY = 300
INVARIANTS_EVERY = 10
PATROLS_EVERY = 10
"""Ticks between moves of the workers on patrol."""
FULL_FEED_EVERY = 60
"""Ticks between full refreshes of the feed."""


def layout(board: Dashboard, caller: Caller, lang: str) -> Any:
    now = board.services.now()
    live = live_reads(board, caller, now)
    view: dict[str, Any] = {"parent": None, "metric": "open"}
    figure = view_figure(board, caller, view, lang, now, with_labels=not board.tile_url, live=live)
    seq, feed = live.recent_feed()
    zmax = figure["data"][Trace.CELLS]["zmax"]
    kpis = kpi_tiles(live.kpis(), lang)
    return html.Div(
        [
            dcc.Store(id="cc-view", data=view),
            dcc.Location(id="cc-go", refresh=True),  # a click on a case point opens its page
            dcc.Store(id="cc-cursor", data={"seq": seq, "zmax": zmax, "drawn": view}),
            dcc.Interval(id="cc-tick", interval=TICK_MS),
            replay_bar(caller, lang),
            html.Section(kpis, id="cc-kpis", className="kpis"),
            html.Div(
                [map_column(board, figure, lang), side_column(board, live, feed, lang)],
                className="cc",
            ),
        ]
    )


def map_column(board: Dashboard, figure: dict[str, Any], lang: str) -> Any:
    """The map under its head: the way back up, and the metric the cells are coloured by."""
    head = html.Div(
        [
            html.Div(
                [
                    html.Span(crumbs(board, None, lang), id="cc-crumbs"),
                    # static, never re-rendered: a callback input must not sit inside another
                    # callback's output
                    html.Button(
                        "↑ " + t("up", lang), id="cc-up", className="up", n_clicks=0, hidden=True
                    ),
                ]
            ),
            dcc.RadioItems(
                id="cc-metric",
                options=[{"label": t(f"metric.{m}", lang), "value": m} for m in METRICS],
                value="open",
                inline=True,
                className="metric",
            ),
        ],
        className="maphead",
    )
    graph = dcc.Graph(
        id="cc-map",
        figure=figure,
        config={"displaylogo": False, "scrollZoom": True},
        className="map",
    )
    return html.Section([head, graph], className="mapcol")


def live_reads(board: Dashboard, caller: Caller, now: datetime) -> LiveReads:
    """The page's reads for this request, remembered per ledger head and minute."""
    return LiveReads.at(board.services, board.live, caller, now)


def side_column(board: Dashboard, live: LiveReads, feed: list[FeedItem], lang: str) -> Any:
    """The invariants panel and the live feed."""
    return html.Aside(
        [
            html.H2(t("invariants", lang)),
            html.Div(invariant_rows(invariants(board, live), lang), id="cc-invariants"),
            html.H2(t("feed", lang)),
            html.Ul(feed_rows(board.services, feed, lang), id="cc-feed", className="feed"),
        ],
        className="side",
    )


def invariants(board: Dashboard, live: LiveReads) -> list[Invariant]:
    """The invariant panel's lines, with the dashboard's latest ledger verification."""
    return live.invariants(board.watch.status())


def view_figure(
    board: Dashboard,
    caller: Caller,
    view: dict[str, Any],
    lang: str,
    now: datetime,
    *,
    with_labels: bool = True,
    replayed: CityState | None = None,
    live: LiveReads | None = None,
) -> dict[str, Any]:
    """The map for a view (``parent``: None for the whole city, or a town or community), live
    or, with ``replayed``, as the ledger had it at ``replayed.at`` (its cells' values and owners
    then; no case points or walkers, which replay does not rebuild).

    Over tiles (MapLibre) the first paint goes ``with_labels=False``: a text trace costs
    ~0.45 s to draw in a software-rendered browser, so the town names follow with the first
    tick (:func:`labels_follow`); an SVG map has them at once."""
    services, geometry = board.services, board.geometry
    parent = view.get("parent")
    metric = view.get("metric", "open")
    tier, codes = reads.view_codes(geometry, parent)
    if parent is None:
        bounds = geometry.territory_bounds
    else:
        b = geometry.tier(int(services.grid.cell(parent)["tier"])).bounds[parent]
        bounds = (b[0], b[1], b[2], b[3])
    towns = geometry.tier(1)
    if replayed is None:
        live = live or live_reads(board, caller, now)
        points = live.open_points()
        values = live.values(codes, metric)
        walkers = reads.patrol_positions(services, caller, now)
        owners = live.owners(codes)
    else:
        now, points, walkers = replayed.at, [], []
        values = replay_values(replayed, list(codes), metric)
        owners = reads.owners(services, codes, now)
    # labelled copies: the points may be remembered for other callers, in other languages
    points = [{**p, "label": category_name(services, p["category"], lang)} for p in points]
    return map_figure(
        geojson_url=geometry.url(tier, PREFIX),
        codes=codes,
        values=values,
        owners=owners,
        metric=metric,
        center=((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2),
        zoom=zoom_for(bounds, width_px=860, height_px=580),
        width=860,
        points=points,
        outline=geometry.outline(PREFIX),
        lang=lang,
        tile_url=board.tile_url,
        labels=town_labels(board) if parent is None and with_labels else [],
        label_codes=list(towns.codes) if parent is None else [],
        patrols=walkers,
    )


def labels_follow(board: Dashboard, view: dict[str, Any]) -> bool:
    """Whether the town names follow the first paint with the first tick: a city view over
    tiles (MapLibre draws text slowly in software); an SVG map has them from the start."""
    return bool(board.tile_url) and view.get("parent") is None


def town_labels(board: Dashboard) -> list[tuple[str, float, float]]:
    towns = board.geometry.tier(1)
    grid = board.services.grid
    return [(cell_name(grid, c), *towns.centers[c]) for c in towns.codes]


def crumbs(board: Dashboard, parent: str | None, lang: str) -> list[Any]:
    """The way back up: 江阴市 › town › community."""
    grid = board.services.grid
    path = [] if parent is None else [*grid.cell_to_ancestors(parent), parent]
    out: list[Any] = [html.Span(t("city", lang), className="crumb")]
    for code in path:
        out += [" › ", html.Span(cell_name(grid, code), className="crumb")]
    return out


def kpi_tiles(k: Kpis, lang: str) -> list[Any]:
    rate = "—" if k.on_time_rate is None else f"{k.on_time_rate:.0%}"
    tiles = [
        ("open", str(k.open), ""),
        ("overdue", str(k.overdue), "bad" if k.overdue else ""),
        ("escalated", str(k.escalated), "warn" if k.escalated else ""),
        ("closed_today", str(k.closed_today), ""),
        ("on_time", rate, ""),
    ]
    return [
        html.Div(
            [html.Div(value, className="value"), html.Div(t(key, lang), className="label")],
            className=f"tile {cls}",
            id=f"kpi-{key}",
        )
        for key, value, cls in tiles
    ]


def invariant_rows(rows: list[Invariant], lang: str) -> list[Any]:
    out = []
    for inv in rows:
        status = t("ok", lang) if inv.ok else t("broken", lang)
        cells: list[Any] = [
            html.Span("●", className="dot"),
            html.Span(t(f"inv.{inv.key}", lang), className="name"),
            html.Span(inv.value, className="val"),
            html.Span(status, className="status"),
        ]
        if inv.link:
            cells.append(dcc.Link(t("show", lang), href=inv.link, className="link"))
        out.append(
            html.Div(
                cells + [html.Div(d, className="detail") for d in inv.details],
                className="inv " + ("ok" if inv.ok else "bad"),
                id=f"inv-{inv.key}",
                title=status,
            )
        )
    return out


def feed_rows(services: Services, items: list[FeedItem], lang: str) -> list[Any]:
    return [feed_row(services, item, lang) for item in items]


def feed_row(services: Services, item: FeedItem, lang: str) -> Any:
    kind = item.kind
    return html.Li(
        [
            html.Span(item.at, className="at"),
            html.Span(_kind_label(kind, lang), className=f"kind k-{kind}"),
            case_link(category_name(services, item.category, lang), str(item.case_id)),
            html.Span(item.place, className="place"),
            html.Span(item.text, className="text"),  # citizen text: a text node, never HTML
        ],
        className="item",
    )


def _kind_label(kind: str, lang: str) -> str:
    try:
        action = Action(kind)
    except ValueError:
        return t(f"kind.{kind}", lang)
    return action_label(action, lang)


# -- callbacks --------------------------------------------------------------------------------


def register(app: Dash) -> None:
    app.callback(
        Output("cc-view", "data"),
        Output("cc-go", "href"),
        Output("cc-at", "value"),
        Input("cc-map", "clickData"),
        Input("cc-up", "n_clicks"),
        Input("cc-metric", "value"),
        Input("cc-at", "value"),
        Input("cc-live", "n_clicks"),
        State("cc-view", "data"),
        prevent_initial_call=True,
    )(navigate)
    # One callback owns the map figure: a view change and a tick in two callbacks would race
    # (dash-renderer drops the older answer for the same output, so a redraw could be lost).
    app.callback(
        Output("cc-map", "figure"),
        Output("cc-feed", "children"),
        Output("cc-kpis", "children"),
        Output("cc-invariants", "children"),
        Output("cc-cursor", "data"),
        Output("cc-crumbs", "children"),
        Output("cc-up", "hidden"),
        Output("cc-replay-label", "children"),
        Output("cc-replay-label", "hidden"),
        Output("cc-live", "hidden"),
        Input("cc-tick", "n_intervals"),
        Input("cc-view", "data"),
        State("cc-cursor", "data"),
        prevent_initial_call=True,
    )(tick)


def navigate(
    click: Any,
    _up: Any,
    metric: str,
    hours_back: Any,
    _live: Any,
    view: dict[str, Any],
) -> Any:
    """A click on a cell or a town's name drills in, on a case point opens the case; the up
    button climbs one tier; the metric picker recolours; the time slider replays a past moment
    (city-wide callers only) and the live button comes back to now."""
    caller = require_caller()
    board = dashboard()
    view = dict(view or {})
    trigger = ctx.triggered_id
    if trigger in ("cc-at", "cc-live"):
        if not caller.city_wide:  # the bar is hidden from field staff; refused all the same
            raise PreventUpdate
        at = None if trigger == "cc-live" else moment_of(hours_back, board.services.now())
        view["at"] = at
        return view, no_update, (0 if at is None else no_update)
    view_out, href = _navigate_map(board.services.grid, click, metric, view, trigger)
    return view_out, href, no_update


def _navigate_map(
    grid: Grid, click: Any, metric: str, view: dict[str, Any], trigger: Any
) -> tuple[Any, Any]:
    """The map's own navigation: metric, up, a click on a cell, a town's name or a case."""
    if trigger == "cc-metric":
        view["metric"] = metric if metric in METRICS else "open"
        return view, no_update
    if trigger == "cc-up":
        parent = view.get("parent")
        view["parent"] = None if parent is None else grid.cell_to_parent(parent)
        return view, no_update
    if not click or not click.get("points"):
        return no_update, no_update
    hit = click["points"][0]
    if hit.get("curveNumber") == Trace.CASES and isinstance(hit.get("customdata"), str):
        return no_update, case_href(hit["customdata"])
    code = hit.get("location")
    if hit.get("curveNumber") == Trace.LABELS and isinstance(hit.get("customdata"), str):
        code = hit["customdata"]  # a town's name: into that town
    if not isinstance(code, str) or not _known(grid, code):
        return no_update, no_update
    parent = view.get("parent")
    if parent is None:
        view["parent"] = grid.cell_to_ancestors(code)[0] if len(code) > 9 else code
    elif int(grid.cell(code)["tier"]) < 3:
        view["parent"] = code
    else:
        return no_update, no_update
    return view, no_update


def tick(n: int | None, view: dict[str, Any] | None, cursor: dict[str, Any] | None) -> Any:
    """Redraw the map for a new view, or bring the page up to date with the ledger; a view
    with a past moment (``at``) is drawn replayed and gets no live patches."""
    caller = require_caller()
    board = dashboard()
    lang = current_lang()
    now = board.services.now()
    view = view or {}
    cursor = dict(cursor or {})
    at = parse_moment(view.get("at"), now) if caller.city_wide else None
    # drill down or up, or another colour: redraw. Compared with what was drawn, not by the
    # trigger: a tick fired just after a view change carries the new view, and
    # dash-renderer then keeps only the newer answer.
    if ctx.triggered_id == "cc-view" or cursor.get("drawn") != view:
        was_replayed = bool((cursor.get("drawn") or {}).get("at"))
        cursor["drawn"] = view
        if at is not None:
            return replayed_page(board, caller, view, cursor, at, lang)
        live = live_reads(board, caller, now)
        drawn = view_figure(board, caller, view, lang, now, live=live)
        cursor["zmax"] = drawn["data"][Trace.CELLS]["zmax"]
        feed: Any = no_update
        kpis: Any = no_update
        panel: Any = no_update
        if was_replayed:  # back to live: the feed, the tiles and the panel of now
            cursor["seq"], items = live.recent_feed()
            feed = feed_rows(board.services, items, lang)
            kpis = kpi_tiles(live.kpis(), lang)
            panel = invariant_rows(invariants(board, live), lang)
        crumb = crumbs(board, view.get("parent"), lang)
        top = view.get("parent") is None
        return drawn, feed, kpis, panel, cursor, crumb, top, "", True, True
    if at is not None:
        raise PreventUpdate  # a replayed moment does not change
    return (*live_update(board, caller, n or 0, view, cursor, lang, now), *(no_update,) * 3)


def replayed_page(
    board: Dashboard,
    caller: Caller,
    view: dict[str, Any],
    cursor: dict[str, Any],
    at: datetime,
    lang: str,
) -> Any:
    """The tick's outputs for a view replayed at ``at``: the map, tiles and panel lines as
    the ledger had them, the feed paused, the label, the live button shown."""
    city = replay(board.services, at)
    drawn = view_figure(board, caller, view, lang, at, replayed=city)
    cursor["zmax"] = drawn["data"][Trace.CELLS]["zmax"]
    panel = invariant_rows(replay_lines(city), lang)
    top = view.get("parent") is None
    crumb = crumbs(board, view.get("parent"), lang)
    tiles, label = replay_tiles(city, lang), replay_label(at, lang)
    feed = [html.Li(t("replay.feed", lang), className="paused")]
    return drawn, feed, tiles, panel, cursor, crumb, top, label, False, False


def live_update(
    board: Dashboard,
    caller: Caller,
    n: int,
    view: dict[str, Any],
    cursor: dict[str, Any],
    lang: str,
    now: datetime,
) -> Any:
    """Tick ``n``: what changed since the cursor, as patches; nothing at all when quiet."""
    services = board.services
    since = int(cursor.get("seq", 0))
    changes = reads.changes(services, caller, since, now)
    live = live_reads(board, caller, now)
    invariant_panel: Any = no_update
    if n % INVARIANTS_EVERY == 0 or changes.items:
        invariant_panel = invariant_rows(invariants(board, live), lang)
    full_values = n % FULL_VALUES_EVERY == 0
    first = n == 1 and labels_follow(board, view)
    busy = changes.items or full_values or n % FULL_POINTS_EVERY == 0 or n % PATROLS_EVERY == 0
    if not first and not busy and changes.seq == since and invariant_panel is no_update:
        raise PreventUpdate  # nothing is sent (HTTP 204)
    cursor["seq"] = changes.seq
    figure = map_patch(board, live, n, view, cursor, changes, lang)
    feed: Any = no_update
    if changes.items:
        feed = Patch()
        for item in reversed(changes.items):
            feed.prepend(feed_row(services, item, lang))
    if n % FULL_FEED_EVERY == 0:
        _, items = live.recent_feed()
        feed = feed_rows(services, items, lang)
    kpis: Any = no_update
    if changes.items or full_values:
        kpis = kpi_tiles(live.kpis(), lang)
    return figure, feed, kpis, invariant_panel, cursor, no_update, no_update


def map_patch(
    board: Dashboard,
    live: LiveReads,
    n: int,
    view: dict[str, Any],
    cursor: dict[str, Any],
    changes: Changes,
    lang: str,
) -> Patch:
    """The map's changes at tick ``n``: values (all, each minute; else the changed cells'),
    case points (all, every five minutes; else the new ones), the town names after the first
    paint, the workers on patrol. ``cursor["zmax"]`` follows the colour scale's top."""
    services, caller, now = board.services, live.caller, live.now
    figure = Patch()
    cells = figure["data"][Trace.CELLS]
    _, codes = reads.view_codes(board.geometry, view.get("parent"))
    metric = view.get("metric", "open")
    if n % FULL_VALUES_EVERY == 0:
        values = live.values(codes, metric)
        zmax = max([v for v in values if v is not None] + [1])
        cells["z"] = values
        cells["zmax"] = zmax
        cursor["zmax"] = zmax
    elif changes.cells:
        index = {c: i for i, c in enumerate(codes)}
        width = len(codes[0]) if codes else 0
        touched = sorted({c[:width] for c in changes.cells if c[:width] in index})
        for code, value in zip(touched, live.values(touched, metric), strict=True):
            cells["z"][index[code]] = value
            if value is not None and value > cursor.get("zmax", 1):
                cursor["zmax"] = value
                cells["zmax"] = value
    if n % FULL_POINTS_EVERY == 0:
        _set_points(services, figure, live.open_points(), lang)
    elif changes.points:
        _add_points(services, figure, changes.points, lang)
    if n == 1 and labels_follow(board, view):  # the town names, after the first paint
        towns = board.geometry.tier(1).codes
        figure["data"].append(labels_trace(town_labels(board), list(towns)))  # Trace.LABELS
    if n % PATROLS_EVERY == 0:
        walkers = reads.patrol_positions(services, caller, now)
        patrols = figure["data"][Trace.PATROLS]
        patrols["lon"] = [w["lon"] for w in walkers]
        patrols["lat"] = [w["lat"] for w in walkers]
        patrols["text"] = [w["name"] for w in walkers]
    return figure


def _set_points(services: Services, figure: Patch, points: list[dict[str, Any]], lang: str) -> None:
    trace = figure["data"][Trace.CASES]
    trace["lon"] = [p["lon"] for p in points]
    trace["lat"] = [p["lat"] for p in points]
    trace["customdata"] = [p["id"] for p in points]
    trace["text"] = [category_name(services, p["category"], lang) for p in points]
    trace["marker"]["color"] = [point_colour(p) for p in points]


def _add_points(services: Services, figure: Patch, points: list[dict[str, Any]], lang: str) -> None:
    trace = figure["data"][Trace.CASES]
    trace["lon"].extend([p["lon"] for p in points])
    trace["lat"].extend([p["lat"] for p in points])
    trace["customdata"].extend([p["id"] for p in points])
    trace["text"].extend([category_name(services, p["category"], lang) for p in points])
    trace["marker"]["color"].extend([point_colour(p) for p in points])


def _known(grid: Grid, code: str) -> bool:
    """Whether ``code`` names a cell of the current grid (a click may carry anything)."""
    try:
        grid.cell(code)
    except (LookupError, ValueError):  # unknown (an older generation), or not a cell code
        return False
    return True
