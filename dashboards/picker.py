"""The case page's 派遣 picker and 移交执法 hint: whom a case may go to, who returned it and why,
and the competent unit a hand-over goes to.

The picker lists routing's suggestion first, then the owner chain of the case's cell and the
competent units (:func:`gridmgr.services.units.dispatch_choices`); after a return it shows who
returned the case and why, never preselects him, and when the operator picks him anyway the page
says so.
"""

from __future__ import annotations

from typing import Any

from dash import dcc, html

from dashboards import actions
from dashboards.components import action_label
from dashboards.i18n import t
from dashboards.reads.case import CaseView
from gridmgr.access import Caller
from gridmgr.cases import Action
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.services.units import dispatch_choices


def dispatch_form(view: CaseView, lang: str) -> list[Any]:
    """派遣: the assignee picker (routing's suggestion first, then the owner chain and the
    competent units) and, after a return, who returned the case and why."""
    picker = view.dispatch
    if picker is None:
        return []
    out: list[Any] = []
    note = picker.last_return
    if note is not None:
        who = (
            "—" if note.returned_by is None else note.returned_by.name or note.returned_by.person_id
        )
        at = note.at.astimezone(TZ).strftime("%m-%d %H:%M")
        intro = t("dispatch.returned", lang).format(who=who, at=at)
        out.append(
            html.P([intro, html.Span(note.comment, className="citizen")], id="case-returned")
        )
    options = [
        {
            "label": f"{c.name or c.person_id} · {c.post} · {t('dispatch.' + c.reason, lang)}"
            + (f" · {t('dispatch.returner', lang)}" if c.returned_it else ""),
            "value": c.value,
        }
        for c in picker.choices
    ]
    chosen = None if picker.suggested is None else picker.suggested.value
    out += [
        html.Label(
            [
                t("dispatch.to", lang),
                dcc.Dropdown(id="case-assignee", options=options, value=chosen, className="field"),
            ]
        ),
        html.Button(
            action_label(Action.DISPATCH, lang), id="case-dispatch", n_clicks=0, className="action"
        ),
    ]
    return out


def transfer_hint(view: CaseView, lang: str) -> list[Any]:
    """移交执法: the unit the button hands the case to, and the power item it names."""
    target = view.transfer_to
    if target is None:
        return []
    text = t("transfer.to", lang).format(unit=target.post.partition(":")[2])
    power = view.transfer_power
    if power is not None:
        text += " · " + t("transfer.power", lang).format(code=power["code"], name=power["name"])
    return [html.P(text, className="hint", id="case-transfer-to")]


def dispatch(
    services: Services, caller: Caller, case_id: str, chosen: Any, comment: str | None, lang: str
) -> str:
    """派遣 to the picked value (a person id, or ``unit:<unit_id>``) as the caller; the message
    to show: done, or a note that the pick is the one who returned the case."""
    if not isinstance(chosen, str) or not chosen:
        raise ValueError(t("dispatch.need", lang))
    unit = chosen.partition(":")[2] if chosen.startswith("unit:") else None
    person = None if unit is not None else chosen
    case = visible_case(services.store, caller, case_id)
    choices = dispatch_choices(services, caller, case).choices
    back = next((c for c in choices if c.value == chosen and c.returned_it), None)
    text = (comment or "").strip()
    actions.act(services, caller, case_id, Action.DISPATCH, text, assignee_id=person, unit_id=unit)
    if back is not None:
        return t("dispatch.again", lang).format(who=back.name or back.person_id)
    return t("done", lang)
