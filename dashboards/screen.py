"""The big screen (大屏): the command center's wall, 1920×1080, logged in by a display token.

Not a Dash page: a wall display holds no session and may press nothing, so it gets three plain
Flask rules of its own and no access to any page or callback. ``/dashboard/screen?token=…`` (a
token from ``gridmgr display create NAME``) checks the token once and keeps it in an HttpOnly
cookie, so the token leaves the address bar; every request after checks the cookie against the
store, so ``gridmgr display revoke`` darkens the wall at its next refresh, and nothing expires
it before. The page draws the command center's own map figure (``view_figure`` of
:mod:`dashboards.pages.command`, imported, not copied), its KPI tiles, the "nothing escapes the
grid" panel, the feed (without citizen text) and the overdue list, and tours the towns every
``?tour=`` seconds (default 30; 0: the city only). It asks ``screen/data.json`` every few seconds;
when that fails it keeps the last picture, says "offline since …", and keeps asking.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, request

from dashboards.context import PREFIX, current_lang, dashboard
from dashboards.figures import Trace
from dashboards.i18n import t
from dashboards.pages.command import view_figure
from dashboards.plotlyjs import plotly_js
from dashboards.reads import command as reads
from dashboards.reads.names import category_name, cell_name
from gridmgr.access import Caller
from gridmgr.errors import CredentialError
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.display import display_caller, overdue_cases
from gridmgr.services.queries import CellLoad
from gridmgr.services.replay import replay

SCREEN_COOKIE = "gridmgr_display"
TOUR_SECONDS = 30
REFRESH_MS = 5000
TEN_YEARS = 10 * 365 * 86400


def add_screen_routes(server: Flask) -> None:
    """The big screen's page, its data and the plotly.js it draws with."""
    server.add_url_rule(f"{PREFIX}screen", "dash_screen", screen)
    server.add_url_rule(f"{PREFIX}screen/data.json", "dash_screen_data", screen_data)
    server.add_url_rule(f"{PREFIX}screen/plotly.js", "dash_screen_plotly", plotly_js)
    server.add_url_rule(f"{PREFIX}screen/screen.js", "dash_screen_script", screen_js)


def screen_caller() -> Caller | None:
    """The display whose token this request's cookie carries (``None``: none, or revoked)."""
    token = request.cookies.get(SCREEN_COOKIE)
    if not token:
        return None
    try:
        return display_caller(dashboard().services, token)
    except CredentialError:
        return None


def _refused() -> Response:
    return Response(
        "this screen needs a live display token: `gridmgr display create NAME`, then open "
        f"{PREFIX}screen?token=<token> once on the wall",
        status=401,
        mimetype="text/plain",
    )


def screen() -> Any:
    """The wall page (with ``?token=``: keep the token in a cookie and come back without it)."""
    token = request.args.get("token")
    if token is not None:
        try:
            display_caller(dashboard().services, token)
        except CredentialError:
            return _refused()
        keep = request.args.get("tour", "")
        response = redirect(f"{PREFIX}screen" + ("?tour=" + keep if keep.isdigit() else ""), 303)
        response.set_cookie(
            SCREEN_COOKIE,
            token,
            max_age=TEN_YEARS,
            httponly=True,
            samesite="Strict",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            path=f"{PREFIX}screen",
        )
        return response
    caller = screen_caller()
    if caller is None:
        return _refused()
    asked = request.args.get("tour", str(TOUR_SECONDS))
    tour = int(asked) if asked.isdigit() else -1
    if not 0 <= tour <= 3600:
        return Response("tour must be 0 (no tour) to 3600 seconds", status=400)
    services = dashboard().services
    towns = [{"code": c, "name": cell_name(services.grid, c)} for c in services.grid.codes(1)]
    at = request.args.get("at", "")
    config = {"tour": 0 if at else tour, "towns": towns, "refresh": REFRESH_MS, "prefix": PREFIX,
              "at": at}  # fmt: skip
    # the config is JSON inside a script element: "<" is escaped so no text can close it
    body = PAGE.replace(
        "__CONFIG__", json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    )
    body = body.replace("__TITLE__", t("screen.title", current_lang()))
    response = Response(body, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def screen_data() -> Response:
    """What the wall shows now, for the city or one town (``?town=``)."""
    caller = screen_caller()
    if caller is None:
        return Response(
            '{"error": "display token missing or revoked"}', 401, mimetype="application/json"
        )
    board = dashboard()
    services, lang = board.services, current_lang()
    town = request.args.get("town") or None
    if town is not None and town not in set(services.grid.codes(1)):
        return Response('{"error": "no such town"}', 400, mimetype="application/json")
    now = services.now()
    at = _moment(request.args.get("at"), now)
    if isinstance(at, Response):
        return at
    figure = view_figure(board, caller, {"parent": town, "metric": "open"}, lang, now)
    if at is not None:
        return jsonify(replayed(figure, at, lang))
    kpis = reads.kpis(services, caller, now)
    lines = reads.invariants(services, caller, now, verified=board.watch.status())
    _, feed = reads.recent_feed(services, caller, now)
    overdue = overdue_cases(services, caller, now, town=town)
    return jsonify(
        {
            "at": now.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S"),
            "town": None if town is None else cell_name(services.grid, town),
            "figure": figure,
            "kpis": [
                [t("open", lang), kpis.open],
                [t("overdue", lang), kpis.overdue],
                [t("escalated", lang), kpis.escalated],
                [t("closed_today", lang), kpis.closed_today],
                [
                    t("on_time", lang),
                    "—" if kpis.on_time_rate is None else f"{kpis.on_time_rate:.0%}",
                ],
            ],
            "invariants": [
                {"ok": line.ok, "label": t(f"inv.{line.key}", lang), "value": line.value}
                for line in lines
            ],
            # no citizen text on a wall: what, where, which case number
            "feed": [
                [i.at, i.kind, i.number, category_name(services, i.category, lang), i.place]
                for i in feed[:12]
            ],
            "overdue": [
                [
                    category_name(services, r.category, lang),
                    "—" if r.cell is None else cell_name(services.grid, r.cell),
                    r.holder,
                    r.due_at.astimezone(TZ).strftime("%m-%d %H:%M"),
                ]
                for r in overdue
            ],
        }
    )


def screen_js() -> Response:
    """The wall's script (a file of this site: the CSP allows no inline script)."""
    response = Response(SCRIPT, mimetype="text/javascript")
    response.headers["Cache-Control"] = "no-cache"
    return response


def _moment(text: str | None, now: datetime) -> datetime | Response | None:
    """``?at=`` as an aware time in the past (``None``: live); a bad one is a 400 reply."""
    if not text:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        at = None
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=TZ)
    if at is None or at > now:
        return Response(
            '{"error": "at must be a past time, e.g. 2026-05-03T10:05 (Beijing time)"}',
            400,
            mimetype="application/json",
        )
    return at


def replayed(figure: dict[str, Any], at: datetime, lang: str) -> dict[str, Any]:
    """The wall at a past moment, rebuilt from the ledger (:mod:`gridmgr.services.replay`): the
    cells' open cases, the open and overdue counts, the invariant lines on cases."""
    services = dashboard().services
    city = replay(services, at)
    opened, late = city.open_by_cell(), city.overdue_by_cell()
    load = {c: CellLoad(c, n, late.get(c, 0), 0, 0) for c, n in opened.items()}
    cells = figure["data"][Trace.CELLS]
    cells["z"] = reads.values_for(list(cells["locations"]), load, "open")
    figure["data"][Trace.CASES].update(lat=[], lon=[], customdata=[], text=[])
    figure["data"][Trace.PATROLS].update(lat=[], lon=[], text=[])
    open_total = sum(opened.values())
    return {
        "at": at.astimezone(TZ).strftime("%Y-%m-%d %H:%M:%S") + " ⏪ " + t("screen.replay", lang),
        "town": None,
        "figure": figure,
        "kpis": [[t("open", lang), open_total], [t("overdue", lang), sum(late.values())]],
        "invariants": [
            {
                "ok": not city.without_holder(),
                "label": t("inv.holders", lang),
                "value": f"{open_total - city.without_holder()}/{open_total}",
            },
            {
                "ok": not city.without_deadline(),
                "label": t("inv.deadlines", lang),
                "value": f"{open_total - city.without_deadline()}/{open_total}",
            },
        ],
        "feed": [],
        "overdue": [],
    }


PAGE = """<!doctype html>
<html lang="zh"><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
  html, body { margin: 0; width: 1920px; height: 1080px; overflow: hidden;
    background: #0b1622; color: #e8eef7; font-family: "Noto Sans CJK SC", sans-serif; }
  header { height: 72px; display: flex; align-items: center; gap: 32px; padding: 0 32px;
    background: #10243a; font-size: 30px; }
  header .where { color: #ffd27f; } header .clock { margin-left: auto; font-size: 24px; }
  #status.offline { color: #ff6b6b; font-weight: bold; }
  main { display: grid; grid-template-columns: 1240px 1fr; gap: 16px; padding: 16px;
    height: 976px; box-sizing: border-box; }
  #map { width: 1240px; height: 800px; background: #fff; }
  .kpis { display: flex; gap: 16px; margin-top: 16px; }
  .kpis div { flex: 1; background: #10243a; padding: 12px; text-align: center; font-size: 20px; }
  .kpis b { display: block; font-size: 40px; color: #7fd1ff; }
  aside { display: flex; flex-direction: column; gap: 12px; overflow: hidden; }
  aside h2 { margin: 0; font-size: 22px; color: #9fb4c8; }
  table { width: 100%; border-collapse: collapse; font-size: 17px; }
  td { padding: 3px 6px; border-bottom: 1px solid #203850; }
  .red { color: #ff6b6b; } .ok { color: #6bd48f; }
</style></head>
<body>
<header><span>__TITLE__</span><span class="where" id="where"></span>
  <span id="status"></span><span class="clock" id="clock"></span></header>
<main>
  <section><div id="map"></div><div class="kpis" id="kpis"></div></section>
  <aside>
    <h2>一网统管 · 无一遗漏</h2><table id="invariants"></table>
    <h2>超期 overdue</h2><table id="overdue"></table>
    <h2>动态 feed</h2><table id="feed"></table>
  </aside>
</main>
<script id="cfg" type="application/json">__CONFIG__</script>
<script src="/dashboard/screen/screen.js"></script>
<script src="/dashboard/assets/offline_geo.js"></script>
<script src="/dashboard/screen/plotly.js"></script>
</body></html>
"""

SCRIPT = """const cfg = JSON.parse(document.getElementById("cfg").textContent);
// this script runs before plotly.js, so the first data.json is asked while plotly.js is parsed;
// the picture is drawn once both are there (DOMContentLoaded: every script has run)
const plotlyReady = new Promise((resolve) => {
  if (window.Plotly) resolve(); else document.addEventListener("DOMContentLoaded", resolve);
});
let stop = -1, town = null, offlineSince = null, drawn = null;
function cell(text, cls) {
  const td = document.createElement("td"); td.textContent = text;
  if (cls) td.className = cls; return td;
}
function rows(id, data, cls) {
  const table = document.getElementById(id); table.replaceChildren();
  for (const row of data) {
    const tr = document.createElement("tr");
    row.forEach((v, i) => tr.appendChild(cell(String(v), cls ? cls(row, i) : "")));
    table.appendChild(tr);
  }
}
function render(d) {
  document.getElementById("where").textContent = d.town || "全市 city";
  document.getElementById("clock").textContent = d.at;
  const kpis = document.getElementById("kpis"); kpis.replaceChildren();
  for (const [label, value] of d.kpis) {
    const tile = document.createElement("div"); const b = document.createElement("b");
    b.textContent = String(value); tile.appendChild(b);
    tile.appendChild(document.createTextNode(label)); kpis.appendChild(tile);
  }
  rows("invariants", d.invariants.map(l => [l.ok ? "✓" : "✗", l.label, l.value]),
       (row) => row[0] === "✓" ? "ok" : "red");
  rows("overdue", d.overdue, () => "red");
  rows("feed", d.feed);
  // the map is redrawn only when its figure changed: a redraw reloads every map layer, which
  // on a slow wall can take longer than the refresh, and the map would never settle
  const figure = JSON.stringify(d.figure);
  if (figure === drawn) return;
  drawn = figure;
  const layout = Object.assign({}, d.figure.layout, {autosize: false, width: 1240, height: 800});
  Plotly.react("map", d.figure.data, layout, {displayModeBar: false, staticPlot: true});
}
async function load() {
  const status = document.getElementById("status");
  try {
    const query = new URLSearchParams();
    if (town) query.set("town", town);
    if (cfg.at) query.set("at", cfg.at);
    const url = cfg.prefix + "screen/data.json?" + query.toString();
    const reply = await fetch(url, {credentials: "same-origin", cache: "no-store"});
    if (reply.status === 401) { status.textContent = "显示令牌已吊销 display token revoked";
      status.className = "offline"; return; }
    if (!reply.ok) throw new Error("HTTP " + reply.status);
    const data = await reply.json(); await plotlyReady;
    render(data); offlineSince = null; status.textContent = ""; status.className = "";
  } catch (e) {
    offlineSince = offlineSince || new Date();
    status.textContent = "离线 offline since " + offlineSince.toLocaleTimeString();
    status.className = "offline";
  }
}
function next() {
  if (!cfg.towns.length) return;
  stop = (stop + 1) % (cfg.towns.length + 1);
  town = stop === cfg.towns.length ? null : cfg.towns[stop].code; load();
}
load(); setInterval(load, cfg.refresh);
if (cfg.tour > 0) setInterval(next, cfg.tour * 1000);
"""
