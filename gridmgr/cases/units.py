"""Units as assignees: a team's or a department's inbox, who signs for it, and routing's default.

A case is dispatched to a person or to a **unit** (a department, a city enforcement team or a
town's team). A unit is an :class:`~gridmgr.cases.model.Assignee` whose post is the unit's
inbox, ``unit:<unit_id>`` (:func:`unit_inbox`): its person is the unit's leader, the named
person of the 签收 stage, until a member of the unit (a person whose ``unit_id`` is the unit)
signs for it (签收) on the unit's behalf; that member then becomes the assignee, under the same
inbox post, so the case stays in the unit's inbox until it is finished.

**Routing's default** (:func:`suggested_assignee`, :func:`is_unit_matter`): a matter the town is
competent for goes to the cell's grid worker; any other matter goes to its unit. The town is
competent when the power item the matter is exercised under is held by the town's own team
(devolved) or, for a category that names no power, when the catalog's competent tier is the town.
The grid worker signs for a town matter first and hands it to the town's team by 移交执法
(``Action.TRANSFER``, naming the power item) when it needs enforcement. A department's matter, or
a power the city's team kept, goes straight to that unit. Without a unit on the roster, or a
unit without a leader, the default stays the grid worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gridmgr.cases.model import Assignee
from gridmgr.responsibility.catalog import Competence

if TYPE_CHECKING:
    from gridmgr.responsibility.routing import RoutingDecision

UNIT_POST = "unit"
"""The kind of a unit inbox's post key (``unit:<unit_id>``); not a roster post: nobody holds
it, the unit's leader answers for it and its members sign for it."""


def unit_inbox(unit_id: str) -> str:
    """The post key of a unit's inbox.

    >>> unit_inbox("town-team-320281001")
    'unit:town-team-320281001'
    """
    return f"{UNIT_POST}:{unit_id}"


def unit_of(assignee: Assignee | None) -> str | None:
    """The unit whose inbox ``assignee`` takes the case for (``None``: a person's own case).

    >>> unit_of(Assignee("P1", "unit:cgj")), unit_of(Assignee("P2", "grid_worker:3202"))
    ('cgj', None)
    """
    if assignee is None:
        return None
    kind, _, place = assignee.post.partition(":")
    return place if kind == UNIT_POST and place else None


def unit_assignee(unit_id: str, person_id: str, name: str = "") -> Assignee:
    """The unit ``unit_id`` as an assignee, answered for by ``person_id`` (its leader, or the
    member who signed for it)."""
    return Assignee(person_id, unit_inbox(unit_id), name)


def is_unit_matter(decision: RoutingDecision) -> bool:
    """Whether routing's default for the matter is its unit rather than the grid (see the
    module's docstring): the town is not competent for it."""
    if decision.power is not None:
        return decision.power.holder.kind != "town_team"
    return decision.category.competent_tier is not Competence.TOWN


def competent_unit(decision: RoutingDecision) -> Assignee | None:
    """The unit that handles the matter (``decision.handling``: the power's holder where the
    category names a power), answered for by its leader; ``None`` when routing found no unit
    or the unit has no leader."""
    unit, leader = decision.handling.unit, decision.handling.leader
    if unit is None or leader is None:
        return None
    return unit_assignee(unit.unit_id, leader.person_id, leader.name)


def suggested_assignee(decision: RoutingDecision) -> Assignee | None:
    """Routing's default assignee: the competent unit for a unit matter, else the first acting
    person of the owner chain (the grid worker); ``None`` when nobody acts."""
    if is_unit_matter(decision):
        unit = competent_unit(decision)
        if unit is not None:
            return unit
    link = decision.responsible
    if link.person is None:
        return None
    return Assignee(link.person.person_id, link.post.key, link.person.name)


def power_named(decision: RoutingDecision) -> dict[str, str] | None:
    """The power item the matter is exercised under, as the 移交执法 event names it (``None``
    when the category names no power in force)."""
    if decision.power is None:
        return None
    item = decision.power.item
    return {
        "code": item.code,
        "name": item.name_zh,
        "class": item.power_class.value,
        "holder": str(decision.power.holder),
    }
