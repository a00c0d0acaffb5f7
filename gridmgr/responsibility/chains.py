"""Escalation: the graph of posts (who escalates to whom) and who acts for a post at a given time.

The escalation graph is a networkx ``DiGraph`` over post keys: each grid worker's post points to
the grid head of the parent cell, each grid head to the town leader, each town leader to the
command center. A cell's **owner chain** is the walk along that graph from its tier-3 post.

Who acts for a post at time T: its primary holder; if they are absent, the post's deputy; if the
deputy is absent too (or there is none), the nearest available holder of the same post kind in a
neighbouring cell, by hops on the cell adjacency graph (backup coverage). A post with no primary
holder is **vacant**; it is passed over, and the matter goes to the next post up.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import networkx as nx

from gridmgr.responsibility.roster import COMMAND_CENTER, Person, Post, PostKind, Roster, field_post

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid


class Acting(enum.Enum):
    """Why the person in a chain link acts for the post."""

    PRIMARY = "primary"
    DEPUTY = "deputy"
    BACKUP = "backup"
    DUTY = "duty"
    VACANT = "vacant"


@dataclass(frozen=True)
class ChainLink:
    """One post of an owner chain at a time: who acts for it, and why."""

    post: Post
    person: Person | None
    acting: Acting
    reason: str
    cell_name: str = ""
    on_duty: tuple[Person, ...] = ()

    @property
    def tier(self) -> int | None:
        """The tier of the post's cell; ``None`` for the command center."""
        return self.post.kind.tier

    @property
    def is_vacant(self) -> bool:
        """Whether nobody acts for the post."""
        return self.person is None


def escalation_graph(grid: Grid) -> nx.DiGraph:
    """The escalation graph of every field post of ``grid`` and the command center.

    >>> from gridmgr.testing import tiny_grid
    >>> g = escalation_graph(tiny_grid())
    >>> g.number_of_nodes(), g.number_of_edges()
    (22, 21)
    >>> nx.is_arborescence(g.reverse())
    True
    """
    graph = nx.DiGraph()
    graph.add_node(COMMAND_CENTER.key, post=COMMAND_CENTER)
    for tier in (1, 2, 3):
        for code in grid.codes(tier):
            post = field_post(code)
            graph.add_node(post.key, post=post)
            parent = grid.cell_to_parent(code)
            target = COMMAND_CENTER if parent is None else field_post(parent)
            graph.add_edge(post.key, target.key)
    return graph


def escalation_path(graph: nx.DiGraph, post: Post) -> list[Post]:
    """The posts from ``post`` up to the command center, ``post`` first."""
    if post.key not in graph:
        raise KeyError(f"post {post} is not in the escalation graph")
    path = [post]
    key = post.key
    while True:
        successors = list(graph.successors(key))
        if not successors:
            return path
        key = successors[0]
        path.append(graph.nodes[key]["post"])


def acting_for(
    roster: Roster,
    post: Post,
    at: datetime,
    *,
    adjacency: Mapping[int, nx.Graph] | None = None,
) -> tuple[Person | None, Acting, str]:
    """Who acts for ``post`` at ``at``, how, and a sentence saying why.

    ``adjacency`` maps a tier to its cell adjacency graph; without it there is no backup
    coverage beyond the deputy.
    """
    if post == COMMAND_CENTER:
        crew = roster.on_duty(at)
        if crew:
            names = ", ".join(f"{p.name} ({p.person_id})" for p in crew)
            return crew[0], Acting.DUTY, f"command center: on duty now {names}"
        return None, Acting.VACANT, "command center: no operator on duty (roster has none)"
    owner = roster.owner(post, at)
    label = post.kind.label_zh
    if owner is None:
        return None, Acting.VACANT, f"{post}: {label} post is vacant; passed to the next tier up"
    away = roster.absence(owner.person_id, at)
    if away is None:
        return owner, Acting.PRIMARY, f"{post}: {label} {owner.name} ({owner.person_id})"
    gone = f"{owner.name} ({owner.person_id}) is away ({away.reason or 'absence'})"
    deputy = roster.deputy(post, at)
    if deputy is not None and roster.is_available(deputy.person_id, at):
        return deputy, Acting.DEPUTY, f"{post}: {gone}; deputy {deputy.name} ({deputy.person_id})"
    tier = post.kind.tier
    if adjacency is not None and tier is not None and tier in adjacency:
        backup = _nearest_available(roster, adjacency[tier], post, at)
        if backup is not None:
            person, cell, hops = backup
            return (
                person,
                Acting.BACKUP,
                f"{post}: {gone} and no deputy is available; {person.name} ({person.person_id}), "
                f"{label} of {cell} {hops} cell(s) away, covers",
            )
    return None, Acting.VACANT, f"{post}: {gone} and nobody can cover; passed to the next tier up"


def _nearest_available(
    roster: Roster, graph: nx.Graph, post: Post, at: datetime
) -> tuple[Person, str, int] | None:
    if post.place not in graph:
        return None
    hops = nx.single_source_shortest_path_length(graph, post.place)
    for cell, distance in sorted(hops.items(), key=lambda kv: (kv[1], kv[0])):
        if distance == 0:
            continue
        person = roster.owner(Post(post.kind, cell), at)
        if person is not None and roster.is_available(person.person_id, at):
            return person, cell, distance
    return None


def owner_chain(
    roster: Roster,
    graph: nx.DiGraph,
    cell_code: str | None,
    at: datetime,
    *,
    adjacency: Mapping[int, nx.Graph] | None = None,
    cell_names: Mapping[str, str] | None = None,
) -> tuple[ChainLink, ...]:
    """The owner chain of ``cell_code`` at ``at`` (just the command center when ``None``)."""
    start = COMMAND_CENTER if cell_code is None else field_post(cell_code)
    links = []
    for post in escalation_path(graph, start):
        person, acting, reason = acting_for(roster, post, at, adjacency=adjacency)
        on_duty = tuple(roster.on_duty(at)) if post == COMMAND_CENTER else ()
        name = (cell_names or {}).get(post.place, "") if post.kind is not PostKind.OPERATOR else ""
        links.append(ChainLink(post, person, acting, reason, name, on_duty))
    return tuple(links)
