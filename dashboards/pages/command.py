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

from dashboards.data import DashData, FeedItem, Invariant, Kpis
from dashboards.figures import labels_trace, map_figure, point_colour
from dashboards.geo import zoom_for
from dashboards.i18n import t
from gridmgr.access import Caller
from gridmgr.cases import Action

TICK_MS = 1000
FULL_VALUES_EVERY = 60
"""Ticks between full refreshes of the cells' values."""
FULL_POINTS_EVERY = 300
INVARIANTS_EVERY = 10
PATROLS_EVERY = 10
"""Ticks between moves of the workers on patrol."""


def layout(caller: Caller, data: DashData, lang: str, *, tile_url: str | None = None) -> Any:
    now = data.clock()
    view: dict[str, Any] = {"parent": None, "metric": "open"}
    figure = view_figure(caller, data, view, lang, now, tile_url=tile_url, with_labels=False)
    seq, feed = data.recent_feed(caller, now)
    return html.Div(
        [
            dcc.Store(id="cc-view", data=view),
            dcc.Location(id="cc-go", refresh=True),  # a click on a case point opens its page
            dcc.Store(
                id="cc-cursor",
                data={"seq": seq, "zmax": figure["data"][0]["zmax"], "drawn": view},
            ),
            dcc.Interval(id="cc-tick", interval=TICK_MS),
            html.Section(kpi_tiles(data.kpis(caller, now), lang), id="cc-kpis", className="kpis"),
            html.Div(
                [
                    html.Section(
                        [
                            html.Div(
                                [
                                    html.Div(
                                        [
                                            html.Span(crumbs(data, None, lang), id="cc-crumbs"),
                                            # static, never re-rendered: a callback input must not
                                            # sit inside another callback's output
                                            html.Button(
                                                "↑ " + t("up", lang),
                                                id="cc-up",
                                                className="up",
                                                n_clicks=0,
                                                hidden=True,
                                            ),
                                        ]
                                    ),
                                    dcc.RadioItems(
                                        id="cc-metric",
                                        options=[
                                            {"label": t(f"metric.{m}", lang), "value": m}
                                            for m in ("open", "overdue", "risk")
                                        ],
                                        value="open",
                                        inline=True,
                                        className="metric",
                                    ),
                                ],
                                className="maphead",
                            ),
                            dcc.Graph(
                                id="cc-map",
                                figure=figure,
                                config={"displaylogo": False, "scrollZoom": True},
                                className="map",
                            ),
                        ],
                        className="mapcol",
                    ),
                    html.Aside(
                        [
                            html.H2(t("invariants", lang)),
                            html.Div(
                                invariant_rows(data.invariants(caller, now), lang),
                                id="cc-invariants",
                            ),
                            html.H2(t("feed", lang)),
                            html.Ul(feed_rows(data, feed, lang), id="cc-feed", className="feed"),
                        ],
                        className="side",
                    ),
                ],
                className="cc",
            ),
        ]
    )


def view_figure(
    caller: Caller,
    data: DashData,
    view: dict[str, Any],
    lang: str,
    now: datetime,
    *,
    tile_url: str | None = None,
    with_labels: bool = True,
) -> dict[str, Any]:
    """The map for a view (``parent``: None for the whole city, or a town or community).

    The first paint goes ``with_labels=False``: a text trace costs ~0.45 s to draw in a
    software-rendered browser, so the town names follow with the first tick."""
    parent = view.get("parent")
    tier, codes = data.view_codes(parent)
    geometry = data.geometry
    values = data.values(caller, codes, view.get("metric", "open"), now)
    tiergeo = geometry.tier(tier)
    owners = data.owners(codes, now)
    if parent is None:
        bounds = geometry.territory_bounds
    else:
        b = geometry.tier(int(data.grid.cell(parent)["tier"])).bounds[parent]
        bounds = (b[0], b[1], b[2], b[3])
    center = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    towns = geometry.tier(1)
    labels = town_labels(data) if parent is None and with_labels else []
    points = data.open_points(caller, now)
    for p in points:
        p["label"] = data.category_name(p["category"], lang)
    return map_figure(
        geojson_url=geometry.url(tier, "/dashboard/"),
        codes=codes,
        values=values,
        owners=owners,
        metric=view.get("metric", "open"),
        center=center,
        zoom=zoom_for(bounds, width_px=860, height_px=580),
        points=points,
        outline_url=geometry.url(1, "/dashboard/"),
        lang=lang,
        tile_url=tile_url,
        labels=labels,
        label_codes=list(towns.codes) if parent is None else [],
        patrols=data.patrol_positions(caller, now),
    )
    del tiergeo


def town_labels(data: DashData) -> list[tuple[str, float, float]]:
    towns = data.geometry.tier(1)
    return [(names_of(data, c), *towns.centers[c]) for c in towns.codes]


def names_of(data: DashData, code: str) -> str:
    return str(data.grid.cell(code)["name"])


def crumbs(data: DashData, parent: str | None, lang: str) -> list[Any]:
    """The way back up: 江阴市 › town › community."""
    path = [] if parent is None else [*data.grid.cell_to_ancestors(parent), parent]
    out: list[Any] = [html.Span(t("city", lang), className="crumb")]
    for code in path:
        out += [" › ", html.Span(names_of(data, code), className="crumb")]
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


def feed_rows(data: DashData, items: list[FeedItem], lang: str) -> list[Any]:
    return [feed_row(data, item, lang) for item in items]


def feed_row(data: DashData, item: FeedItem, lang: str) -> Any:
    kind = item.kind
    label = _action_label(kind, lang)
    return html.Li(
        [
            html.Span(item.at, className="at"),
            html.Span(label, className=f"kind k-{kind}"),
            dcc.Link(
                data.category_name(item.category, lang), href=f"/dashboard/case/{item.case_id}"
            ),
            html.Span(item.place, className="place"),
            html.Span(item.text, className="text"),  # citizen text: a text node, never HTML
        ],
        className="item",
    )


def _action_label(kind: str, lang: str) -> str:
    try:
        action = Action(kind)
    except ValueError:
        return t(f"kind.{kind}", lang)
    return action.label_zh if lang == "zh" else action.value


def register(app: Dash, data: DashData, *, tile_url: str | None) -> None:
    from dashboards.app import current_lang, require_caller

    @app.callback(
        Output("cc-view", "data"),
        Output("cc-go", "href"),
        Input("cc-map", "clickData"),
        Input("cc-up", "n_clicks"),
        Input("cc-metric", "value"),
        State("cc-view", "data"),
        prevent_initial_call=True,
    )
    def navigate(click: Any, _up: Any, metric: str, view: dict[str, Any]) -> Any:
        require_caller()
        view = dict(view or {})
        trigger = ctx.triggered_id
        if trigger == "cc-metric":
            view["metric"] = metric if metric in ("open", "overdue", "risk") else "open"
            return view, no_update
        if trigger == "cc-up":
            parent = view.get("parent")
            view["parent"] = None if parent is None else data.grid.cell_to_parent(parent)
            return view, no_update
        if not click or not click.get("points"):
            return no_update, no_update
        hit = click["points"][0]
        if hit.get("curveNumber") == 1 and isinstance(hit.get("customdata"), str):
            return no_update, f"/dashboard/case/{hit['customdata']}"
        code = hit.get("location")
        if hit.get("curveNumber") == 3 and isinstance(hit.get("customdata"), str):
            code = hit["customdata"]  # a town's name: into that town
        if not isinstance(code, str) or not _known(data, code):
            return no_update, no_update
        parent = view.get("parent")
        if parent is None:
            view["parent"] = data.grid.cell_to_ancestors(code)[0] if len(code) > 9 else code
        elif int(data.grid.cell(code)["tier"]) < 3:
            view["parent"] = code
        else:
            return no_update, no_update
        return view, no_update

    # One callback owns the map figure: a view change and a tick in two callbacks would race
    # (dash-renderer drops the older answer for the same output, so a redraw could be lost).
    @app.callback(
        Output("cc-map", "figure"),
        Output("cc-feed", "children"),
        Output("cc-kpis", "children"),
        Output("cc-invariants", "children"),
        Output("cc-cursor", "data"),
        Output("cc-crumbs", "children"),
        Output("cc-up", "hidden"),
        Input("cc-tick", "n_intervals"),
        Input("cc-view", "data"),
        State("cc-cursor", "data"),
        prevent_initial_call=True,
    )
    def tick(n: int | None, view: dict[str, Any], cursor: dict[str, Any]) -> Any:
        caller = require_caller()
        lang = current_lang()
        now = data.clock()
        cursor = dict(cursor or {})
        # drill down or up, or another colour: redraw. Compared with what was drawn, not by the
        # trigger: a tick fired just after a view change carries the new view, and
        # dash-renderer then keeps only the newer answer.
        if ctx.triggered_id == "cc-view" or cursor.get("drawn") != (view or {}):
            drawn = view_figure(caller, data, view or {}, lang, now, tile_url=tile_url)
            cursor["zmax"] = drawn["data"][0]["zmax"]
            cursor["drawn"] = view or {}
            crumbs_now = crumbs(data, (view or {}).get("parent"), lang)
            top = (view or {}).get("parent") is None
            return drawn, no_update, no_update, no_update, cursor, crumbs_now, top
        n = n or 0
        since = int(cursor.get("seq", 0))
        changes = data.changes(caller, since, now)
        invariants = (
            invariant_rows(data.invariants(caller, now), lang)
            if n % INVARIANTS_EVERY == 0 or changes.items
            else no_update
        )
        full_values = n % FULL_VALUES_EVERY == 0
        full_points = n % FULL_POINTS_EVERY == 0
        first = n == 1 and (view or {}).get("parent") is None
        busy = changes.items or full_values or full_points or n % PATROLS_EVERY == 0
        quiet = not first and not busy
        if quiet and changes.seq == since and invariants is no_update:
            raise PreventUpdate  # nothing is sent (HTTP 204)
        cursor["seq"] = changes.seq
        figure = Patch()
        _, codes = data.view_codes((view or {}).get("parent"))
        metric = (view or {}).get("metric", "open")
        if full_values:
            values = data.values(caller, codes, metric, now)
            figure["data"][0]["z"] = values
            zmax = max([v for v in values if v is not None] + [1])
            figure["data"][0]["zmax"] = zmax
            cursor["zmax"] = zmax
        elif changes.cells:
            index = {c: i for i, c in enumerate(codes)}
            width = len(codes[0]) if codes else 0
            touched = sorted({c[:width] for c in changes.cells if c[:width] in index})
            if touched:
                for code, value in zip(
                    touched, data.values(caller, touched, metric, now), strict=True
                ):
                    figure["data"][0]["z"][index[code]] = value
                    if value is not None and value > cursor.get("zmax", 1):
                        cursor["zmax"] = value
                        figure["data"][0]["zmax"] = value
        if full_points:
            points = data.open_points(caller, now)
            figure["data"][1]["lon"] = [p["lon"] for p in points]
            figure["data"][1]["lat"] = [p["lat"] for p in points]
            figure["data"][1]["customdata"] = [p["id"] for p in points]
            figure["data"][1]["text"] = [data.category_name(p["category"], lang) for p in points]
            figure["data"][1]["marker"]["color"] = [point_colour(p) for p in points]
        elif changes.points:
            figure["data"][1]["lon"].extend([p["lon"] for p in changes.points])
            figure["data"][1]["lat"].extend([p["lat"] for p in changes.points])
            figure["data"][1]["customdata"].extend([p["id"] for p in changes.points])
            figure["data"][1]["text"].extend(
                [data.category_name(p["category"], lang) for p in changes.points]
            )
            figure["data"][1]["marker"]["color"].extend([point_colour(p) for p in changes.points])
        if first:  # the town names, after the first paint
            towns = data.geometry.tier(1).codes
            figure["data"].append(labels_trace(town_labels(data), list(towns)))
        if n % PATROLS_EVERY == 0:
            walkers = data.patrol_positions(caller, now)
            figure["data"][2]["lon"] = [w["lon"] for w in walkers]
            figure["data"][2]["lat"] = [w["lat"] for w in walkers]
            figure["data"][2]["text"] = [w["name"] for w in walkers]
        feed: Any = no_update
        if changes.items:
            feed = Patch()
            for item in reversed(changes.items):
                feed.prepend(feed_row(data, item, lang))
        if n % 60 == 0:
            _, items = data.recent_feed(caller, now)
            feed = feed_rows(data, items, lang)
        kpis = (
            kpi_tiles(data.kpis(caller, now), lang) if changes.items or full_values else no_update
        )
        return figure, feed, kpis, invariants, cursor, no_update, no_update


def _known(data: DashData, code: str) -> bool:
    try:
        data.grid.cell(code)
    except (KeyError, IndexError):
        return False
    return True
