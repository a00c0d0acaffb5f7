"""The command center's time slider: the city at a past moment, replayed from the ledger.

Operators and managers (city-wide callers) drag the slider back up to a week, by the hour: the
map's cells, the open and overdue tiles and the panel's lines on cases then show the city as
:func:`gridmgr.services.replay.replay` rebuilds it from the ledger at that moment, under a
"回放 replay at …" label with a button back to live. The moment travels in the page's view
(``cc-view``'s ``at``), so the command center's one map callback draws it and stops its live
patches while it is shown; the server checks the caller and the moment again at every draw.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from dash import dcc, html

from dashboards.i18n import t
from dashboards.reads import command as reads
from gridmgr.access import Caller
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.invariants import Line
from gridmgr.services.replay import CityState

HOURS_BACK = 168
"""How far back the slider goes: a week, by the hour."""


def replay_bar(caller: Caller, lang: str) -> Any:
    """The slider (0: live), the replay label and the way back; hidden from field staff."""
    days = t("replay.days", lang)
    marks = {-24 * n: days.format(n=n) for n in (7, 3, 1)} | {-6: "-6h", 0: t("replay.now", lang)}
    return html.Div(
        [
            html.Span(t("replay.slider", lang), className="replay-name"),
            html.Div(
                dcc.Slider(
                    id="cc-at",
                    min=-HOURS_BACK,
                    max=0,
                    step=1,
                    value=0,
                    marks=marks,
                    updatemode="mouseup",
                    included=False,
                ),
                className="replay-slider",
            ),
            html.Span("", id="cc-replay-label", className="replay-label", hidden=True),
            html.Button(
                t("replay.live", lang), id="cc-live", n_clicks=0, className="live", hidden=True
            ),
        ],
        id="cc-replaybar",
        className="replaybar",
        hidden=not caller.city_wide,
    )


def moment_of(hours_back: object, now: datetime) -> str | None:
    """The ISO moment ``hours_back`` (the slider's value, <= 0) before ``now``, to the
    minute; ``None`` for live (0, or anything that is not a number in range).

    >>> moment_of(-3, datetime(2026, 5, 6, 10, 30, 45, tzinfo=TZ))
    '2026-05-06T07:30:00+08:00'
    >>> moment_of(0, datetime(2026, 5, 6, tzinfo=TZ)) is None
    True
    """
    if isinstance(hours_back, bool) or not isinstance(hours_back, int | float):
        return None
    if not -HOURS_BACK <= hours_back < 0:
        return None
    at = now.astimezone(TZ).replace(second=0, microsecond=0) - timedelta(hours=hours_back * -1)
    return at.isoformat()


def parse_moment(value: object, now: datetime) -> datetime | None:
    """The view's ``at`` as an aware past time within the slider's reach, else ``None`` (live):
    the view is the browser's to send, so it is checked again here."""
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    if at.tzinfo is None or at > now or at < now - timedelta(hours=HOURS_BACK + 1):
        return None
    return at


def replay_label(at: datetime, lang: str) -> str:
    """The banner over a replayed picture: 回放 replay at <moment>."""
    return t("replay.at", lang).format(at=at.astimezone(TZ).strftime("%Y-%m-%d %H:%M"))


def replay_values(city: CityState, codes: list[str], metric: str) -> list[int | None]:
    """The map's values per code at the replayed moment, for the metric shown."""
    return reads.values_for(codes, city.cell_load(soon=reads.DUE_SOON), metric)


def replay_tiles(city: CityState, lang: str) -> list[Any]:
    """The KPI tiles at the replayed moment: open and overdue; what replay cannot rebuild
    (escalations, closures of the day, the on-time rate) shows "—"."""
    load = city.cell_load(soon=reads.DUE_SOON).values()
    tiles = [
        ("open", str(sum(r.open for r in load)), ""),
        ("overdue", str(sum(r.overdue for r in load)), "bad"),
        ("escalated", "—", ""),
        ("closed_today", "—", ""),
        ("on_time", "—", ""),
    ]
    return [
        html.Div(
            [html.Div(value, className="value"), html.Div(t(key, lang), className="label")],
            className=f"tile replayed {cls}",
            id=f"kpi-{key}",
        )
        for key, value, cls in tiles
    ]


def replay_lines(city: CityState) -> list[Line]:
    """The panel's lines on cases at the replayed moment: open cases with a named person and
    with a deadline (the other lines are about the present: coverage, owners, queues)."""
    total = sum(1 for c in city.cases.values() if c.is_open)
    holders, deadlines = city.without_holder(), city.without_deadline()
    return [
        Line("holders", holders == 0, holders, f"{total - holders}/{total}"),
        Line("deadlines", deadlines == 0, deadlines, f"{total - deadlines}/{total}"),
    ]
