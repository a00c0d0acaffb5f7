"""Act on a case: one lifecycle action through the state machine and one store transaction.

:func:`act` applies an action; :func:`act_as` is what a door calls for a person: the case must
be visible to him, the people he names are resolved on the roster, and his version is checked.
A deferral request gets its approver from the rules (:func:`~gridmgr.services.deferrals.
pick_approver`), never from the requester; a decision is taken by that approver or whoever
holds his post then (:func:`~gridmgr.services.deferrals.decision_posts`). 派遣 without an
assignee goes where routing says (:func:`~gridmgr.services.units.default_assignee`: the grid
worker for a town matter, the competent unit otherwise); a member of a unit signs (签收) for a
case in his unit's inbox; 移交执法 (``TRANSFER``) hands a case to the competent unit, naming the
power item (:func:`~gridmgr.services.units.transfer_target`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from gridmgr.access import Caller
from gridmgr.cases import (
    DEFERRAL_ACTIONS,
    TRANSITIONS,
    Action,
    Actor,
    Assignee,
    Case,
    CaseError,
    allowed_actions,
)
from gridmgr.errors import ConcurrentUpdateError
from gridmgr.intake.photos import Photo
from gridmgr.responsibility.roster import COMMAND_CENTER, Post, PostKind, Roster
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.responsibility.sla import Span, parse_span
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.services.deferrals import decision_posts, pick_approver
from gridmgr.services.holders import holder_for
from gridmgr.services.photos import store_photo
from gridmgr.services.units import (
    default_assignee,
    transfer_target,
    unit_posts,
    unit_to_assignee,
)
from gridmgr.store import Store


def act(
    store: Store,
    context: RoutingContext,
    case_id: str,
    action: Action,
    *,
    actor: Actor,
    at: datetime,
    comment: str,
    assignee: Assignee | None = None,
    extend: Span | None = None,
    defer_to: datetime | None = None,
    rating: int | None = None,
    note: Mapping[str, object] | None = None,
) -> Case:
    """Apply one lifecycle action (for DISPATCH without an assignee: routing's default, see
    :func:`~gridmgr.services.units.default_assignee`).

    For ``REQUEST_DEFER`` the approver is picked by the rules; for its decisions the actor's
    hold on the approver's post is looked up on the roster at ``at``; for ``ACCEPT`` the unit
    inboxes he signs for. ``TRANSFER`` without an assignee goes to the competent unit, and
    names the power item routing finds.
    """
    case = read = store.case(case_id)
    if action is Action.DISPATCH and assignee is None:
        assignee = _owner_of(context, case, at)
    approver, acts_for, power = None, frozenset[str](), None
    if action is Action.TRANSFER:
        target, power = transfer_target(context, case, at)
        assignee = assignee or target
        if assignee is None:
            raise CaseError(f"case {case_id}: routing finds no competent unit; name a unit")
    if action is Action.REQUEST_DEFER:
        approver = pick_approver(context, case, actor.actor_id, at)
    elif action in DEFERRAL_ACTIONS:
        acts_for = decision_posts(context, case, actor.actor_id, at)
    elif action is Action.ACCEPT:
        acts_for = unit_posts(context.roster, actor.actor_id, at)
    to_state = TRANSITIONS.get(case.state, {}).get(action)
    if action is Action.HANDLE:  # the verifier is never the handler
        case = replace(case, handler=actor.actor_id)
    holder = None if to_state is None else holder_for(store, context, case, to_state, at)
    return store.apply(
        case_id,
        action,
        actor=actor,
        at=at,
        comment=comment,
        calendar=context.calendar,
        catalog=context.catalog,
        assignee=assignee,
        approver=approver,
        extend=extend,
        defer_to=defer_to,
        rating=rating,
        holder=holder,
        acts_for=acts_for,
        power=power,
        note=note,
        read=read,
    )


def owner_now(store: Store, context: RoutingContext, case_id: str, at: datetime) -> Assignee:
    """Whom 派遣 goes to by default now: routing's default (the grid worker, or the competent
    unit), else an operator on duty."""
    return _owner_of(context, store.case(case_id), at)


def _owner_of(context: RoutingContext, case: Case, at: datetime) -> Assignee:
    """:func:`owner_now` for a case already read."""
    assignee = default_assignee(context, case, at)
    if assignee is None:
        crew = context.roster.on_duty(at)
        if not crew:
            raise CaseError(f"case {case.case_id}: nobody to dispatch to; name an assignee")
        return Assignee(crew[0].person_id, COMMAND_CENTER.key, crew[0].name)
    return assignee


def act_as(
    services: Services,
    caller: Caller,
    case_id: str,
    action: Action,
    *,
    comment: str,
    version: int | None = None,
    assignee_id: str | None = None,
    unit_id: str | None = None,
    extend: str | None = None,
    defer_to: datetime | None = None,
    rating: int | None = None,
    photo: Photo | None = None,
    note: Mapping[str, object] | None = None,
) -> Case:
    """Apply ``action`` to a case the caller may see, as the caller (the state machine's guards
    decide whether he may).

    ``photo`` (checked and cleaned) is stored with the case first when the caller may take the
    action; 反馈 (``HANDLE``) of a category whose ``photo_required`` is set is refused unless
    the case has a photo taken since its current stage began (:func:`needs_after_photo`).

    ``version``, when given, must be the case's current version
    (:class:`~gridmgr.errors.ConcurrentUpdateError` otherwise: read it again). ``assignee_id``
    names a person on the roster, ``unit_id`` a unit (派遣 or 移交执法 to it); a deferral
    request takes ``extend`` (a span such as ``3d``) or ``defer_to`` (the new deadline), and no
    approver: the rules pick him. ``note`` adds facts to the action's event (e.g. the field
    app's ``client_id`` and capture time).
    """
    case = visible_case(services.store, caller, case_id)
    if version is not None and version != case.version:
        raise ConcurrentUpdateError(
            f"case {case.case_id} is at version {case.version}, not {version}; read it again"
        )
    now = services.now()
    roster = services.roster
    assignee = None if assignee_id is None else assignee_for(roster, assignee_id, case.cell, now)
    if unit_id is not None:
        if assignee is not None:
            raise CaseError("name either an assignee or a unit, not both")
        assignee = unit_to_assignee(services.context, unit_id, now)
    if photo is not None and action in actions_allowed(services, caller, case, now):
        store_photo(services, case.case_id, photo, actor=caller.actor.actor_id)
    if action is Action.HANDLE and needs_after_photo(services, case):
        raise CaseError(
            f"case {case.case_id}: {case.category} needs an after-photo to report back (反馈); "
            "add the photo of the result and report back again"
        )
    return act(
        services.store,
        services.context,
        case.case_id,
        action,
        actor=caller.actor,
        at=now,
        comment=comment,
        assignee=assignee,
        extend=None if extend is None else parse_span(extend),
        defer_to=defer_to,
        rating=rating,
        note=note,
    )


def needs_after_photo(services: Services, case: Case) -> bool:
    """Whether 反馈 of ``case`` still lacks the photo its category requires: none was stored
    since its current stage began."""
    if (
        case.category not in services.catalog
        or not services.catalog.category(case.category).photo_required
    ):
        return False
    since = case.stage_started_at or case.reported_at
    return not any(p.created_at >= since for p in services.store.attachments_of(case.case_id))


def actions_allowed(services: Services, caller: Caller, case: Case, at: datetime) -> list[Action]:
    """The actions the caller may take on ``case`` at ``at``: the buttons a door shows, with
    his hold on a pending deferral request's approver post looked up on the roster."""
    who = caller.actor.actor_id
    acts_for = decision_posts(services.context, case, who, at) | unit_posts(
        services.roster, who, at
    )
    return allowed_actions(case, caller.actor, at=at, acts_for=acts_for)


def assignee_for(roster: Roster, person_id: str, cell: str | None, at: datetime) -> Assignee:
    """A person named as assignee, under the post by which he answers for ``cell``.

    Raises :class:`~gridmgr.cases.CaseError` when he is not on the roster.
    """
    person = roster.persons.get(person_id)
    if person is None:
        raise CaseError(f"assignee {person_id!r} is not on the roster")
    post = _post_for([a.post for a in roster.posts_of(person.person_id, at)], cell)
    return Assignee(person.person_id, post.key if post else "", person.name)


def _post_for(posts: list[Post], cell: str | None) -> Post | None:
    """The post that answers for ``cell`` (else the first post held)."""
    if cell is not None:
        for post in posts:
            if post.kind in (PostKind.GRID_WORKER, PostKind.GRID_HEAD, PostKind.TOWN_LEADER) and (
                cell.startswith(post.place)
            ):
                return post
    return posts[0] if posts else None
