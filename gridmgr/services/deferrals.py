"""Deferrals: who approves the assignee's request, and who may decide it at a given time.

The requester never names his approver: :func:`pick_approver` walks the owner chain of the
case's cell (:func:`gridmgr.responsibility.chains.owner_chain`) from the post he took the case
for, and takes the first person acting for a post above it (a grid worker's grid head, a head's
town leader, and so on up); the command center's operator on duty if nobody is found.
:func:`decision_posts` says which approver post a person holds or acts for when he decides, so
a deputy or the next operator on duty can decide a request addressed to his post.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.cases import Assignee, Case, CaseError, unit_of
from gridmgr.responsibility.chains import ChainLink, acting_for, owner_chain
from gridmgr.responsibility.roster import COMMAND_CENTER, Post, PostKind
from gridmgr.responsibility.routing import RoutingContext


def pick_approver(context: RoutingContext, case: Case, requester: str, at: datetime) -> Assignee:
    """The person who approves ``requester``'s deferral of ``case`` at ``at``, under his post.

    A member of a unit asks his unit's leader (then the command center).
    Raises :class:`~gridmgr.cases.CaseError` when nobody above the requester acts and no
    operator is on duty.
    """
    unit = unit_of(case.assignee)
    if unit is not None:
        post = Post(PostKind.UNIT_LEADER, unit)
        leader, _, _ = acting_for(context.roster, post, at)
        if leader is not None and leader.person_id != requester:
            return Assignee(leader.person_id, post.key, leader.name)
    chain = owner_chain(
        context.roster,
        context.escalation,
        case.cell,
        at,
        adjacency=context.adjacency,
        cell_names=context.cell_names,
    )
    for link in () if unit is not None else _links_above(chain, case):
        if link.person is not None and link.person.person_id != requester:
            return Assignee(link.person.person_id, link.post.key, link.person.name)
    for person in context.roster.on_duty(at):
        if person.person_id != requester:
            return Assignee(person.person_id, COMMAND_CENTER.key, person.name)
    raise CaseError(
        f"case {case.case_id}: nobody above {requester} acts and no operator is on duty to "
        "approve a deferral; staff the command center's duty roster"
    )


def decision_posts(
    context: RoutingContext, case: Case, person_id: str, at: datetime
) -> frozenset[str]:
    """The approver post of ``case``'s pending request, if ``person_id`` holds or acts for it at
    ``at`` (else the empty set)."""
    request = case.deferral
    if request is None:
        return frozenset()
    post = Post.from_key(request.approver.post)
    roster = context.roster
    if post is None:
        return frozenset()
    if post == COMMAND_CENTER:
        on_duty = {p.person_id for p in roster.on_duty(at)}
        return frozenset({post.key}) if person_id in on_duty else frozenset()
    acting, _, _ = acting_for(roster, post, at, adjacency=context.adjacency)
    holder = roster.owner(post, at)
    ids = {p.person_id for p in (acting, holder) if p is not None}
    return frozenset({post.key}) if person_id in ids else frozenset()


def _links_above(chain: tuple[ChainLink, ...], case: Case) -> tuple[ChainLink, ...]:
    """The links of ``chain`` above the post the case's assignee took it for."""
    post = None if case.assignee is None else Post.from_key(case.assignee.post)
    if post is None:
        return chain[1:]
    keys = [link.post.key for link in chain]
    if post.key in keys:
        return chain[keys.index(post.key) + 1 :]
    tier = post.kind.tier
    if tier is None:  # an operator or a unit: only the command center is above
        return tuple(link for link in chain if link.post == COMMAND_CENTER)
    return tuple(link for link in chain if link.tier is None or link.tier < tier)
