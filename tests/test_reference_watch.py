"""Reference data follows the database on a running node: a roster, catalog or grid changed on
one node is served by another after its next poll of the counters, without a restart; a request
meanwhile never fails. Two Services on one database are two nodes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from gridmgr.grid.generations import store_generation
from gridmgr.grid.validate import validated_grid
from gridmgr.responsibility.calendar import TZ, DayOverride
from gridmgr.responsibility.catalog import Catalog
from gridmgr.responsibility.roster import Roster
from gridmgr.services.context import Services
from gridmgr.services.reference import (
    ReferenceWatch,
    adopt_reference,
    import_calendar,
    import_catalog,
    import_roster,
)
from gridmgr.settings import Settings
from gridmgr.store import Store, open_store
from gridmgr.store.reference import roster_checksum
from tests.builders import api_app, close_app, tiny_cells, tiny_context
from tests.test_nodes import wait_for

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)


@pytest.fixture
def two_nodes(db_url: str, tmp_path: Path) -> Iterator[tuple[Services, Services]]:
    """Two nodes on one database, each with its own store and data folder, both serving the
    reference data node a seeded."""
    a = open_store(db_url, create=True)
    b = open_store(db_url)
    context = tiny_context().warm()  # as a server serves it
    adopt_reference(a, grid=context.grid, context=context, at=AT, actor="test")
    try:
        yield (
            Services(a, context, Settings(data_dir=tmp_path / "a"), clock=lambda: AT),
            Services(b, context, Settings(data_dir=tmp_path / "b"), clock=lambda: AT),
        )
    finally:
        a.close()
        b.close()


def fewer_posts(roster: Roster) -> Roster:
    """``roster`` without its first assignment."""
    return Roster(
        roster.persons.values(), roster.units.values(), roster.assignments[1:], roster.absences
    )


def test_a_roster_imported_on_one_node_is_served_by_the_other_after_its_poll(
    two_nodes: tuple[Services, Services],
) -> None:
    on_a, on_b = two_nodes
    watch = ReferenceWatch(on_b)
    assert watch.poll() == frozenset()  # b already serves the database's reference data
    before = on_b.context
    other = fewer_posts(on_a.roster)

    assert import_roster(on_a.store, other, at=AT, actor="test")
    assert roster_checksum(on_b.roster) != roster_checksum(other)  # not before b polls

    assert watch.poll() == {"roster"}
    assert roster_checksum(on_b.roster) == roster_checksum(other)
    assert on_b.context is not before  # a new context swapped in whole
    assert on_b.context.adjacency is before.adjacency  # the same grid: its graphs shared
    assert on_b.catalog is before.catalog
    assert watch.poll() == frozenset()  # nothing new: one small read, no reload


def test_a_catalog_imported_on_one_node_is_served_by_the_other_after_its_poll(
    two_nodes: tuple[Services, Services],
) -> None:
    on_a, on_b = two_nodes
    watch = ReferenceWatch(on_b)
    watch.poll()
    catalog = on_a.catalog
    smaller = Catalog(list(catalog)[1:], source="test")
    assert smaller.checksum != catalog.checksum

    assert import_catalog(on_a.store, smaller, at=AT, actor="test")
    assert watch.poll() == {"catalog"}

    assert on_b.catalog.checksum == smaller.checksum
    assert len(on_b.catalog) == len(catalog) - 1


def test_a_change_made_while_a_node_started_is_seen_at_its_first_poll(
    two_nodes: tuple[Services, Services],
) -> None:
    on_a, on_b = two_nodes
    other = fewer_posts(on_a.roster)
    import_roster(on_a.store, other, at=AT, actor="test")  # b's context is the older roster

    assert ReferenceWatch(on_b).poll() == {"roster"}
    assert roster_checksum(on_b.roster) == roster_checksum(other)


def test_a_grid_generation_made_current_elsewhere_is_served_after_the_poll(
    two_nodes: tuple[Services, Services],
) -> None:
    on_a, on_b = two_nodes
    watch = ReferenceWatch(on_b)
    watch.poll()
    newer = validated_grid(tiny_cells(), name="tiny, second generation")
    assert newer.generation_id != on_b.grid.generation_id

    on_a.store.sync_grid(newer, at=AT, actor="test")
    assert watch.poll() == frozenset()  # b's data folder lacks it: b keeps its grid (logged)
    assert on_b.grid.generation_id != newer.generation_id

    store_generation(newer, on_b.settings, make_current=False)  # `grid import` on b
    on_a.store.sync_grid(on_a.grid, at=AT, actor="test")
    on_a.store.sync_grid(newer, at=AT, actor="test")
    assert watch.poll() == {"grid"}
    assert on_b.grid.generation_id == newer.generation_id
    assert on_b.roster is on_a.roster  # the roster did not change


def test_the_watch_thread_picks_a_change_up_without_being_asked(
    two_nodes: tuple[Services, Services],
) -> None:
    on_a, on_b = two_nodes
    watch = ReferenceWatch(on_b, every=0.05)
    watch.start()
    try:
        other = fewer_posts(on_a.roster)
        import_roster(on_a.store, other, at=AT, actor="test")
        assert wait_for(lambda: roster_checksum(on_b.roster) == roster_checksum(other))
    finally:
        watch.stop()


def test_requests_during_reloads_never_fail(db_url: str, tmp_path: Path) -> None:
    a: Store = open_store(db_url, create=True)
    context = tiny_context()
    adopt_reference(a, grid=context.grid, context=context, at=AT, actor="test")
    app = api_app(open_store(db_url), Settings(data_dir=tmp_path), clock=lambda: AT)
    from gridmgr.web.deps import services_of

    on_b = services_of(app)
    watch = ReferenceWatch(on_b)
    watch.poll()
    rosters = [fewer_posts(context.roster), context.roster]
    statuses: list[int] = []
    done = threading.Event()

    def ask() -> None:
        client = app.test_client()
        while not done.is_set():
            statuses.append(client.get("/status").status_code)  # the roster's staffing
            statuses.append(client.get("/healthz").status_code)

    asking = [threading.Thread(target=ask) for _ in range(2)]
    for thread in asking:
        thread.start()
    try:
        for i in range(6):
            import_roster(a, rosters[i % 2], at=AT, actor="test")
            assert watch.poll() == {"roster"}
    finally:
        done.set()
        for thread in asking:
            thread.join()
        close_app(app)
        on_b.store.close()
        a.close()
    assert statuses
    assert set(statuses) == {200}


def test_syncing_a_grid_to_the_database_leaves_the_grid_in_memory_as_it_was(store: Store) -> None:
    grid = validated_grid(tiny_cells(), name="tiny, kept")
    types = list(grid.cells.geometry.geom_type)

    store.sync_grid(grid, at=AT, actor="test")  # the typed column takes MultiPolygons

    assert list(grid.cells.geometry.geom_type) == types


def test_calendar_overrides_imported_on_one_node_are_served_by_the_other(
    two_nodes: tuple[Services, Services],
) -> None:
    on_a, on_b = two_nodes
    watch = ReferenceWatch(on_b)
    assert watch.poll() == frozenset()  # the database's calendar was seeded from a's
    saturday = date(2026, 6, 13)
    assert not on_b.calendar.is_workday(saturday)
    overrides = {**on_a.calendar.overrides, saturday: DayOverride(saturday, True, "调休上班")}

    assert import_calendar(on_a.store, overrides, at=AT, actor="test")
    assert not import_calendar(on_a.store, overrides, at=AT, actor="test")  # already so
    assert watch.poll() == {"calendar"}

    assert on_b.calendar.is_workday(saturday)
    assert on_b.calendar.hours == on_a.calendar.hours
    assert on_a.store.has_ledger_event("calendar.loaded")


def test_gridmgr_calendar_import_writes_the_folder_and_the_database(tmp_path: Path) -> None:
    from tests.test_cli import invoke

    data = tmp_path / "data"
    store = open_store(f"sqlite:///{data / 'gridmgr.sqlite'}", create=True)
    context = tiny_context()
    adopt_reference(store, grid=context.grid, context=context, at=AT, actor="test")
    before = store.reference_versions()["calendar"]
    overrides = tmp_path / "overrides.csv"
    overrides.write_text("date,kind,name\n2026-05-09,workday,调休上班\n", encoding="utf-8")

    done = invoke(data, "calendar", "import", str(overrides))

    assert done.exit_code == 0, done.output
    assert (data / "calendar-overrides.csv").exists()
    assert store.reference_versions()["calendar"] == before + 1
    stored = store.stored_calendar()
    assert stored is not None
    assert stored[date(2026, 5, 9)].is_workday
    store.close()


def test_a_bad_calendar_file_is_refused_with_its_row(tmp_path: Path) -> None:
    from tests.test_cli import invoke

    overrides = tmp_path / "overrides.csv"
    overrides.write_text("date,kind,name\n2026-13-09,workday,\n", encoding="utf-8")

    done = invoke(tmp_path / "data", "calendar", "import", str(overrides))

    assert done.exit_code != 0
    assert "row 2" in str(done.exception)  # the CLI's entry point prints it, with the fix
    assert "YYYY-MM-DD" in str(done.exception)
    assert not (tmp_path / "data" / "calendar-overrides.csv").exists()
