"""Reference data in SQL: grid cells, roster and catalog copied in when they change, ledgered."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import shapely

from gridmgr import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.roster import Roster
from gridmgr.store import Store
from gridmgr.store.reference import roster_checksum
from tests.builders import tiny_roster

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)


def test_the_grid_roster_and_catalog_are_loaded_once_and_ledgered(store: Store, tiny: Grid) -> None:
    roster, catalog = tiny_roster(), read_catalog()

    first = store.sync_reference(grid=tiny, roster=roster, catalog=catalog, at=AT, actor="test")
    again = store.sync_reference(grid=tiny, roster=roster, catalog=catalog, at=AT, actor="test")

    assert (first.grid, first.roster, first.catalog) == (True, True, True)
    assert (again.grid, again.roster, again.catalog) == (False, False, False)
    kinds = [e.kind for e in store.ledger_events()]
    counts = store.stored_reference()
    geoms = store.current_cells(tier=3)
    assert kinds == ["grid.current", "roster.loaded", "catalog.loaded"]
    assert counts.generation_id == tiny.generation_id
    assert counts.cells == 21
    assert (counts.persons, counts.assignments) == (len(roster.persons), len(roster.assignments))
    assert sorted(geoms) == sorted(tiny.codes(3))
    stored = shapely.union_all(list(geoms.values()))
    assert abs(stored.area - shapely.union_all(tiny.tier(3).geometry.values).area) < 1e-12
    assert store.verify_ledger().ok


def test_a_changed_roster_replaces_the_stored_one(store: Store, tiny: Grid) -> None:
    roster, catalog = tiny_roster(), read_catalog()
    store.sync_reference(grid=tiny, roster=roster, catalog=catalog, at=AT, actor="test")
    kept = [a for a in roster.assignments if a.post.place != "320281001001001"]
    changed = Roster(roster.persons.values(), roster.units.values(), kept)
    assert roster_checksum(changed) != roster_checksum(roster)

    result = store.sync_reference(
        grid=tiny, roster=changed, catalog=catalog, at=AT + timedelta(hours=1), actor="test"
    )

    assert (result.grid, result.roster, result.catalog) == (False, True, False)
    assert store.stored_reference().assignments == len(kept)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgis_cells_are_valid_geometries_a_gis_client_can_read(store: Store, tiny: Grid) -> None:
    store.sync_reference(
        grid=tiny, roster=tiny_roster(), catalog=read_catalog(), at=AT, actor="test"
    )
    assert store.backend == "postgresql"
    [checks] = store.execute_sql_for_tests(  # as a GIS client reads the table
        "SELECT bool_and(ST_IsValid(geom)) AS valid, min(ST_SRID(geom)) AS srid, "
        "count(DISTINCT GeometryType(geom)) AS kinds FROM cells"
    )
    assert (checks["valid"], checks["srid"], checks["kinds"]) == (True, 4326, 1)
