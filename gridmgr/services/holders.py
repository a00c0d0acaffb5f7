"""Who answers for a case now: the named person of each stage, and the rungs of the 督办 ladder.

Every open stage has a named person (``Case.holder``):

- the field stages (签收, 处置) are the assignee's;
- 核查 (verify) is the grid head's of the case's community (a checker who did not handle it), or
  a duty operator's where the community has nobody;
- the command center's stages (立案, 派遣, 结案, 定位, 网格外) belong to a **named operator of the
  crew on duty**: the least loaded (fewest open stages held), then the lowest id — so the
  choice is deterministic.

An overdue stage climbs the ladder one rung per pass (:mod:`gridmgr.services.escalation`): from
the holder's post to the grid head, the town leader, and the command center's leader; a city
matter (the catalog's competent tier) climbs one more, to the city's leader. A vacant post is
passed over, as in the owner chain.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.cases import Assignee, Case, CaseState, stage_of
from gridmgr.grid.codes import code_to_tier
from gridmgr.responsibility.catalog import Competence
from gridmgr.responsibility.chains import acting_for, escalation_path
from gridmgr.responsibility.roster import (
    CENTER_LEADER,
    CITY_LEADER,
    COMMAND_CENTER,
    FIELD_POSTS,
    Post,
    PostKind,
    field_post,
)
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.responsibility.sla import Stage
from gridmgr.store import Store


def duty_operator(store: Store, context: RoutingContext, at: datetime) -> Assignee | None:
    """The operator on duty at ``at`` who holds the fewest open stages (then the lowest id);
    without a crew on duty, any available operator holding the command-center seat."""
    roster = context.roster
    crew = roster.on_duty(at)
    if not crew:
        held = sorted({a.person_id for a in roster.holders(COMMAND_CENTER, at)})
        crew = [roster.persons[p] for p in held if roster.is_available(p, at)]
    if not crew:
        return None
    load = store.open_stages_held([p.person_id for p in crew])
    person = min(crew, key=lambda p: (load.get(p.person_id, 0), p.person_id))
    return Assignee(person.person_id, COMMAND_CENTER.key, person.name)


def verifier(store: Store, context: RoutingContext, case: Case, at: datetime) -> Assignee | None:
    """Who checks a handled case: the acting grid head of its community (never its handler),
    else a duty operator."""
    if case.cell is not None and code_to_tier(case.cell) == 3:
        parent = context.grid.cell_to_parent(case.cell)
        if parent is not None:
            post = field_post(parent)
            person, _, _ = acting_for(context.roster, post, at, adjacency=context.adjacency)
            if person is not None and person.person_id != case.handler:
                return Assignee(person.person_id, post.key, person.name)
    return duty_operator(store, context, at)


def holder_for(
    store: Store, context: RoutingContext, case: Case, state: CaseState, at: datetime
) -> Assignee | None:
    """The named person of the stage ``case`` runs in ``state`` (``None`` when the assignee
    holds it, or the case is finished)."""
    stage = stage_of(case, state)
    if stage is None or stage in (Stage.SIGN, Stage.HANDLE):
        return None
    if stage is Stage.VERIFY:
        return verifier(store, context, case, at)
    return duty_operator(store, context, at)


def ladder(context: RoutingContext, case: Case) -> list[Post]:
    """The posts above the holder's, in the order an overdue stage climbs them (the holder's
    own post excluded; empty when he is at the top)."""
    category = context.catalog.category(case.category)
    top = [CENTER_LEADER]
    if category.competent_tier is Competence.CITY:
        top.append(CITY_LEADER)
    person = case.holder or case.assignee
    post = None if person is None else Post.from_key(person.post)
    if post is None or post.kind is PostKind.OPERATOR:
        return top
    if post in top:
        return top[top.index(post) + 1 :]
    if post.kind in FIELD_POSTS:
        try:  # the owner chain's posts above his, without the duty seat (not a 督办 rung)
            above = escalation_path(context.escalation, post)[1:]
        except KeyError:  # a cell of another grid generation: straight to the top
            return top
        return [p for p in above if p != COMMAND_CENTER] + top
    return top  # a unit, a department: straight to the command center's leader


def next_rung(context: RoutingContext, case: Case, at: datetime) -> Assignee | None:
    """The person of the next rung: who acts at ``at`` for the first post of :func:`ladder`
    that somebody acts for (``None``: nobody above)."""
    for post in ladder(context, case):
        person, _, _ = acting_for(context.roster, post, at, adjacency=context.adjacency)
        if person is not None:
            return Assignee(person.person_id, post.key, person.name)
    return None
