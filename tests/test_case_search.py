"""The command center's work queues and the case search, on both backends: each queue holds the
cases it should, earliest deadline first; the search finds by number, id, cell code, words and
person within the caller's scope, and reads indexes, never the whole table."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.dialects import postgresql, sqlite

from gridmgr.access import Caller, caller_for
from gridmgr.cases import Action, Actor, Assignee, Role
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.routing import RoutingContext
from gridmgr.services import queries
from gridmgr.services.actions import act
from gridmgr.services.reports import report_incident
from gridmgr.store import CaseFilter, Store
from gridmgr.store.casesearch import select_search
from gridmgr.store.engine import make_engine
from tests.builders import tiny_context

AT = datetime(2026, 11, 27, 9, 0, tzinfo=TZ)  # a Friday, working hours
OPERATOR = Actor("system:test", Role.OPERATOR)
CITY = Caller(OPERATOR, None)
CELL_A = "320281001001001"
CELL_B = "320281001004004"


@pytest.fixture
def context() -> RoutingContext:
    return tiny_context()


def report(
    store: Store, context: RoutingContext, text_: str, *, minutes: int = 0, **where: object
) -> str:
    """A report ``minutes`` after :data:`AT`; ``where``: ``cell``, ``lon``/``lat`` or
    ``address``."""
    result = report_incident(
        store,
        context,
        reporter=OPERATOR,
        category="street_vending",
        at=AT + timedelta(minutes=minutes),
        description=text_,
        **where,  # type: ignore[arg-type]
    )
    return result.case.case_id


def number_of(store: Store, case_id: str) -> int:
    rows = store.execute_sql_for_tests(
        "SELECT number FROM cases WHERE case_id = :id", {"id": case_id}
    )
    return int(rows[0]["number"])


def test_each_work_queue_holds_its_cases_earliest_deadline_first(
    store: Store, context: RoutingContext
) -> None:
    later = report(store, context, "占道经营 later", minutes=20, cell=CELL_A)
    first = report(store, context, "占道经营 first", minutes=0, cell=CELL_B)
    registered = report(store, context, "占道经营 registered", minutes=5, cell=CELL_A)
    act(
        store,
        context,
        registered,
        Action.REGISTER,
        actor=OPERATOR,
        at=AT + timedelta(minutes=6),
        comment="立案",
    )
    outside = report(store, context, "网格外", minutes=7, lon=121.9, lat=33.0)
    unlocated = report(store, context, "无坐标", minutes=8, address="澄江路 12 号")

    queues = {
        q.key: (n, [r.case.case_id for r in rows])
        for q, n, rows in (queries.work_queues(store, CITY, limit=10))
    }

    assert queues["register"] == (2, [first, later])  # the earliest deadline first
    assert queues["dispatch"] == (1, [registered])
    assert queues["out_of_grid"] == (1, [outside])
    assert queues["unlocated"] == (1, [unlocated])
    assert queues["returned"] == (0, [])
    assert queues["close"] == (0, [])
    held = queries.work_queues(store, CITY, limit=10)[0][2][0]
    assert held.case.holder is not None
    assert held.case.holder.name
    assert held.number == number_of(store, first)


def test_a_grid_worker_gets_only_his_cells_in_the_queues_and_the_search(
    store: Store, context: RoutingContext
) -> None:
    mine = report(store, context, "井盖破损 mine", cell=CELL_A)
    report(store, context, "井盖破损 other", cell=CELL_B)
    report(store, context, "井盖破损 outside", lon=121.9, lat=33.0)
    owner = context.roster.owner(next(p for p in context.roster.posts if p.place == CELL_A), AT)
    assert owner is not None
    worker = caller_for(context.roster, owner.person_id, AT)
    assert worker.scope is not None

    found = queries.search_cases(store, worker, "井盖破损", limit=10)
    counts = {q.key: n for q, n, _ in queries.work_queues(store, worker, limit=10)}

    assert [r.case.case_id for r in found] == [mine]
    assert counts == {
        "register": 1,
        "dispatch": 0,
        "returned": 0,
        "close": 0,
        "out_of_grid": 0,
        "unlocated": 0,
    }
    assert len(queries.search_cases(store, CITY, "井盖破损", limit=10)) == 3


def test_the_search_finds_by_number_id_cell_words_and_person(
    store: Store, context: RoutingContext
) -> None:
    lamp = report(store, context, "路灯不亮 Street LAMP out", cell=CELL_A)
    cover = report(store, context, "井盖缺失", cell=CELL_B, address="人民东路 88 号")
    holder = store.case(cover).holder
    assert holder is not None

    def found(q: str) -> list[str]:
        return [r.case.case_id for r in queries.search_cases(store, CITY, q, limit=10)]

    assert found(str(number_of(store, cover))) == [cover]
    assert found(cover[:8]) == [cover]
    assert found(CELL_A) == [lamp]
    assert set(found("320281001")) == {lamp, cover}  # a town's code: a prefix
    assert found("street lamp") == [lamp]  # case-insensitive, across words
    assert found("不亮") == [lamp]  # two characters: shorter than a trigram
    assert found("人民东路") == [cover]  # the address as reported
    assert found(holder.person_id) == [cover]
    assert cover in found(holder.name)
    assert found("%") == []  # a LIKE wildcard is a character like any other
    assert found("   ") == []


def test_the_search_index_follows_the_case(store: Store, context: RoutingContext) -> None:
    case_id = report(store, context, "违章搭建", cell=CELL_A)
    registered = act(
        store, context, case_id, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案"
    )
    worker = Assignee("W-TEST", "grid_worker:" + CELL_A, "张测试")
    act(
        store,
        context,
        case_id,
        Action.DISPATCH,
        actor=OPERATOR,
        at=AT + timedelta(minutes=1),
        comment="派遣",
        assignee=worker,
    )
    assert registered.state.value == "registered"

    found = queries.search_cases(store, CITY, "张测试", limit=10)
    assert [r.case.case_id for r in found] == [case_id]
    assert queries.search_cases(store, CITY, "W-TEST", limit=10)[0].case.case_id == case_id


# -- the plan: indexes, never the whole table --------------------------------------------------


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    made = make_engine(db_url)
    yield made
    made.dispose()


def plan(engine: Engine, q: str) -> str:
    """The query plan of the search for ``q`` (PostgreSQL told to avoid sequential scans when
    it can: on a table this small it would rightly prefer one)."""
    dialect = engine.dialect.name
    query = select_search(q, CaseFilter(scope=(CELL_A[:9],), visible_to="x"), dialect)
    compiled = query.compile(
        dialect=postgresql.dialect() if dialect == "postgresql" else sqlite.dialect(),
        compile_kwargs={"literal_binds": True},
    )
    sql = str(compiled).replace("%", "%%") if dialect == "postgresql" else str(compiled)
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            rows = conn.exec_driver_sql("EXPLAIN " + sql).all()
            return "\n".join(str(r[0]) for r in rows)
        rows = conn.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
        return "\n".join(str(r[3]) for r in rows)


def test_the_search_reads_indexes_not_the_table(
    store: Store, context: RoutingContext, engine: Engine
) -> None:
    for n in range(30):
        report(store, context, f"案件 {n} 占道经营", minutes=n, cell=CELL_A if n % 2 else CELL_B)

    words, number, cell = plan(engine, "占道经营"), plan(engine, "12"), plan(engine, CELL_A)

    if engine.dialect.name == "postgresql":
        assert "Bitmap Index Scan on ix_cases_search_trgm" in words
        assert "ix_cases_cell" in cell
        assert "Index Cond: (number = 12)" in number
        assert "Seq Scan on cases" not in words + number + cell
    else:
        assert "SCAN case_search VIRTUAL TABLE INDEX 0:M" in words  # the trigram index
        assert "USING INDEX ix_cases_cell (cell>? AND cell<?)" in cell
        assert "(number=?)" in number
        for p in (words, number, cell):
            assert "SCAN cases" not in p.replace("SCAN cases USING", "")
