"""Escalation: the graph of posts, and who acts for a post (primary, deputy, backup, vacant)."""

from __future__ import annotations

from datetime import datetime

import networkx as nx

from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.chains import (
    Acting,
    acting_for,
    escalation_graph,
    escalation_path,
    owner_chain,
)
from gridmgr.responsibility.roster import (
    COMMAND_CENTER,
    Absence,
    PostKind,
    Role,
    Roster,
    field_post,
)
from tests.builders import tiny_roster

AT = datetime(2026, 5, 6, 10, 0, tzinfo=TZ)
CELL = "320281001001001"


def with_absences(roster: Roster, *absences: Absence) -> Roster:
    return Roster(
        roster.persons.values(),
        roster.units.values(),
        roster.assignments,
        [*roster.absences, *absences],
    )


def away(person_id: str) -> Absence:
    return Absence(
        person_id, datetime(2026, 5, 1, tzinfo=TZ), datetime(2026, 5, 10, tzinfo=TZ), "年假"
    )


def test_every_post_escalates_along_its_cells_ancestry_to_the_command_center(
    jiangyin: Grid,
) -> None:
    graph = escalation_graph(jiangyin)

    assert nx.is_arborescence(graph.reverse())
    assert graph.number_of_nodes() == 17 + 271 + 1557 + 1
    for cell in jiangyin.codes(3)[::97]:
        path = escalation_path(graph, field_post(cell))
        t1, t2 = jiangyin.cell_to_ancestors(cell)
        assert path == [field_post(cell), field_post(t2), field_post(t1), COMMAND_CENTER]


def test_the_primary_holder_acts_when_present(tiny: Grid) -> None:
    roster = tiny_roster()
    person, acting, reason = acting_for(roster, field_post(CELL), AT)

    assert acting is Acting.PRIMARY
    assert person == roster.owner(field_post(CELL), AT)
    assert person is not None
    assert person.person_id in reason


def test_an_absent_holder_is_covered_by_the_deputy(tiny: Grid) -> None:
    roster = tiny_roster()
    post = field_post(CELL)
    owner, deputy = roster.owner(post, AT), roster.deputy(post, AT)
    assert owner is not None
    assert deputy is not None

    person, acting, reason = acting_for(with_absences(roster, away(owner.person_id)), post, AT)

    assert (person, acting) == (deputy, Acting.DEPUTY)
    assert "年假" in reason


def test_when_deputy_is_absent_too_the_nearest_available_neighbour_covers(tiny: Grid) -> None:
    roster = tiny_roster()
    post = field_post(CELL)
    owner, deputy = roster.owner(post, AT), roster.deputy(post, AT)
    assert owner is not None
    assert deputy is not None
    absent = with_absences(roster, away(owner.person_id), away(deputy.person_id))
    adjacency = {3: tiny.grid_to_graph(3)}

    person, acting, _ = acting_for(absent, post, AT, adjacency=adjacency)

    assert acting is Acting.BACKUP
    assert person is not None
    assert person.person_id not in {owner.person_id, deputy.person_id}
    covered = [
        a.post.place for a in absent.posts_of(person.person_id, AT) if a.role is Role.PRIMARY
    ]
    hops = nx.shortest_path_length(adjacency[3], CELL, covered[0])
    # nobody available is closer: every cell nearer than the backup's is held by an absent person
    for cell, distance in nx.single_source_shortest_path_length(adjacency[3], CELL).items():
        if 0 < distance < hops:
            holder = absent.owner(field_post(cell), AT)
            assert holder is not None
            assert not absent.is_available(holder.person_id, AT)


def test_without_adjacency_an_uncovered_absence_passes_the_matter_up(tiny: Grid) -> None:
    roster = tiny_roster()
    post = field_post(CELL)
    owner, deputy = roster.owner(post, AT), roster.deputy(post, AT)
    assert owner is not None
    assert deputy is not None
    absent = with_absences(roster, away(owner.person_id), away(deputy.person_id))

    person, acting, reason = acting_for(absent, post, AT)

    assert (person, acting) == (None, Acting.VACANT)
    assert "next tier up" in reason


def test_owner_chain_names_the_duty_crew_of_the_command_center(tiny: Grid) -> None:
    roster = tiny_roster()
    chain = owner_chain(roster, escalation_graph(tiny), CELL, AT)

    assert [link.post.kind for link in chain] == [
        PostKind.GRID_WORKER,
        PostKind.GRID_HEAD,
        PostKind.TOWN_LEADER,
        PostKind.OPERATOR,
    ]
    assert chain[-1].acting is Acting.DUTY
    assert chain[-1].on_duty == tuple(roster.on_duty(AT))
    assert chain[-1].person == roster.on_duty(AT)[0]


def test_out_of_grid_chain_is_the_command_center_alone(tiny: Grid) -> None:
    chain = owner_chain(tiny_roster(), escalation_graph(tiny), None, AT)

    assert [link.post for link in chain] == [COMMAND_CENTER]
