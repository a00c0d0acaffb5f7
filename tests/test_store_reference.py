"""Reference data in SQL: grid cells, roster and catalog copied in when they change, ledgered."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import shapely
from sqlalchemy import func, select, text

from gridmgr import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.roster import Roster
from gridmgr.store import Store
from gridmgr.store.reference import roster_checksum, sync_reference
from gridmgr.store.schema import assignments, cells, persons
from tests.builders import tiny_roster

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)


def test_the_grid_roster_and_catalog_are_loaded_once_and_ledgered(store: Store, tiny: Grid) -> None:
    roster, catalog = tiny_roster(), read_catalog()

    first = sync_reference(store, grid=tiny, roster=roster, catalog=catalog, at=AT, actor="test")
    again = sync_reference(store, grid=tiny, roster=roster, catalog=catalog, at=AT, actor="test")

    assert (first.grid, first.roster, first.catalog) == (True, True, True)
    assert (again.grid, again.roster, again.catalog) == (False, False, False)
    with store.engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM ledger ORDER BY seq")).scalars().all()
        n_cells = conn.execute(select(func.count()).select_from(cells)).scalar_one()
        n_people = conn.execute(select(func.count()).select_from(persons)).scalar_one()
        n_assignments = conn.execute(select(func.count()).select_from(assignments)).scalar_one()
        geoms = conn.execute(select(cells.c.code, cells.c.geom).where(cells.c.tier == 3)).all()
    assert kinds == ["grid.current", "roster.loaded", "catalog.loaded"]
    assert n_cells == 21
    assert (n_people, n_assignments) == (len(roster.persons), len(roster.assignments))
    stored = shapely.union_all([g for _, g in geoms])
    assert abs(stored.area - shapely.union_all(tiny.tier(3).geometry.values).area) < 1e-12
    assert store.verify_ledger().ok


def test_a_changed_roster_replaces_the_stored_one(store: Store, tiny: Grid) -> None:
    roster, catalog = tiny_roster(), read_catalog()
    sync_reference(store, grid=tiny, roster=roster, catalog=catalog, at=AT, actor="test")
    kept = [a for a in roster.assignments if a.post.place != "320281001001001"]
    changed = Roster(roster.persons.values(), roster.units.values(), kept)
    assert roster_checksum(changed) != roster_checksum(roster)

    result = sync_reference(
        store, grid=tiny, roster=changed, catalog=catalog, at=AT + timedelta(hours=1), actor="test"
    )

    assert (result.grid, result.roster, result.catalog) == (False, True, False)
    with store.engine.connect() as conn:
        n_assignments = conn.execute(select(func.count()).select_from(assignments)).scalar_one()
    assert n_assignments == len(kept)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgis_cells_are_valid_geometries_a_gis_client_can_read(store: Store, tiny: Grid) -> None:
    sync_reference(
        store, grid=tiny, roster=tiny_roster(), catalog=read_catalog(), at=AT, actor="test"
    )
    assert store.engine.dialect.name == "postgresql"
    with store.engine.connect() as conn:
        checks = conn.execute(
            text(
                "SELECT bool_and(ST_IsValid(geom)), min(ST_SRID(geom)), "
                "count(DISTINCT GeometryType(geom)) FROM cells"
            )
        ).one()
    assert tuple(checks) == (True, 4326, 1)
