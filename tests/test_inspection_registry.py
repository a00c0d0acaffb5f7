"""The inspection registry and pool: synthetic defaults, canonical hashes, CSV files with row
errors."""

from __future__ import annotations

import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from gridmgr import Grid
from gridmgr.errors import TableFileError
from gridmgr.inspection.pool import (
    Officer,
    PoolError,
    conflicts_of,
    generate_pool,
    read_pool,
    write_pool,
)
from gridmgr.inspection.registry import (
    RISK_CLASSES,
    Registry,
    RegistryError,
    generate_registry,
    read_registry,
    registry_from_csv_text,
    registry_to_csv_text,
    write_registry,
)
from gridmgr.responsibility.demo_roster import ROSTER_START
from gridmgr.responsibility.roster import Role, field_post
from tests.builders import tiny_roster


@pytest.fixture(scope="module")
def small(tiny: Grid) -> Registry:
    return generate_registry(tiny, n=2000, seed=7)


def test_the_synthetic_registry_is_deterministic_and_complete(tiny: Grid, small: Registry) -> None:
    again = generate_registry(tiny, n=2000, seed=7)
    assert again.snapshot_hash == small.snapshot_hash
    assert generate_registry(tiny, n=2000, seed=8).snapshot_hash != small.snapshot_hash
    assert len(small) == 2000
    assert {t.risk for t in small} == set(RISK_CLASSES)
    assert all(t.departments for t in small)


def test_every_synthetic_target_lies_in_its_cell(tiny: Grid, small: Registry) -> None:
    targets = list(small)
    located = tiny.points_to_cells([t.lon for t in targets], [t.lat for t in targets])
    assert located["tier3"].tolist() == [t.cell for t in targets]


def test_the_default_registry_has_50000_targets_denser_in_town_centres(jiangyin: Grid) -> None:
    registry = generate_registry(jiangyin)
    assert len(registry) == 50_000
    per_cell = Counter(t.cell for t in registry)
    towns = jiangyin.tier(1)
    centre_cells = {
        jiangyin.point_to_cell(p.x, p.y).tier3  # type: ignore[union-attr]
        for p in towns.geometry.representative_point()
    }
    centre_mean = np.mean([per_cell[c] for c in centre_cells])
    all_median = np.median([per_cell[c] for c in jiangyin.codes(3)])
    assert centre_mean > 3 * all_median
    assert len({t.cell[:9] for t in registry}) == len(towns)  # every town has targets


def test_a_registry_reads_back_from_csv_with_the_same_hash(
    tiny: Grid, small: Registry, tmp_path: Path
) -> None:
    path = write_registry(small, tmp_path / "registry.csv")
    assert read_registry(path).snapshot_hash == small.snapshot_hash
    assert read_registry(path, grid=tiny).snapshot_hash == small.snapshot_hash
    assert registry_from_csv_text(registry_to_csv_text(small)).snapshot_hash == small.snapshot_hash


def test_changing_one_field_changes_the_registry_hash(small: Registry) -> None:
    text = registry_to_csv_text(small)
    first = next(iter(small))
    changed = text.replace(f"{first.target_id},{first.name}", f"{first.target_id},{first.name}X")
    assert changed != text
    assert registry_from_csv_text(changed).snapshot_hash != small.snapshot_hash


BAD_REGISTRY = """\
target_id,name,lon,lat,risk,departments,cell
T1,甲公司,120.0625,31.9375,A,scjg,
T1,乙公司,120.0625,31.9375,B,scjg,
T3,丙公司,121.5,31.9375,C,scjg,
T4,丁公司,120.0625,31.9375,E,scjg,
T5,戊公司,120.0625,31.9375,A,nosuch,
T6,己公司,120.0625,31.9375,A,scjg,320281001004004
T7,,abc,31.9,A,,
T8,庚公司,120.0625,31.9375,a,scjg;xfjy,320281001001001
"""


def test_a_bad_registry_is_refused_with_every_row_named(tiny: Grid, tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text(BAD_REGISTRY, encoding="utf-8")
    with pytest.raises(RegistryError) as caught:
        read_registry(path, grid=tiny)
    found = {(p.row, p.field) for p in caught.value.problems}
    assert (3, "target_id") in found  # duplicate id
    assert (4, "lon") in found  # outside the grid
    assert (5, "risk") in found
    assert (6, "departments") in found
    assert (7, "cell") in found  # the point is in another cell
    assert {(8, "name"), (8, "lon"), (8, "departments")} <= found
    assert not any(p.row in (2, 9) for p in caught.value.problems)  # good rows (risk 'a' is A)
    assert "registry.csv row 3 [target_id]: T1 already on row 2" in [
        str(p) for p in caught.value.problems
    ]


def test_a_registry_missing_a_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.csv"
    path.write_text("target_id,name,lon,lat\nT1,x,120,31\n", encoding="utf-8")
    with pytest.raises(TableFileError, match="missing column"):
        read_registry(path)


# -- pool -----------------------------------------------------------------------------------


def test_the_synthetic_pool_follows_the_roster(small: Registry) -> None:
    roster = tiny_roster()
    pool = generate_pool(roster, at=ROSTER_START, registry=small)
    assert (
        pool.snapshot_hash == generate_pool(roster, at=ROSTER_START, registry=small).snapshot_hash
    )
    grid_officers = [o for o in pool if o.grid_cells]
    assert grid_officers, "some officers are grid workers, so the grid rule has work to do"
    for officer in grid_officers:
        assert officer.officer_id in roster.persons
        for cell in officer.grid_cells:
            held = roster.holders(field_post(cell), ROSTER_START) + roster.holders(
                field_post(cell), ROSTER_START, role=Role.DEPUTY
            )
            assert officer.officer_id in {a.person_id for a in held}
    assert all(len(pool.of_department(d)) >= 4 for d in ("scjg", "xfjy", "yjgl"))


def test_a_pool_reads_back_from_csv_with_the_same_hash(small: Registry, tmp_path: Path) -> None:
    pool = generate_pool(tiny_roster(), at=ROSTER_START, registry=small)
    assert read_pool(write_pool(pool, tmp_path / "pool.csv")).snapshot_hash == pool.snapshot_hash


def test_a_bad_pool_is_refused_with_every_row_named(tmp_path: Path) -> None:
    path = tmp_path / "pool.csv"
    path.write_text(
        textwrap.dedent(
            """\
            officer_id,name,department,max_visits
            O1,张三,scjg,10
            O1,李四,scjg,10
            O3,王五,nosuch,10
            O4,赵六,scjg,many
            """
        ),
        encoding="utf-8",
    )
    with pytest.raises(PoolError) as caught:
        read_pool(path)
    assert {(p.row, p.field) for p in caught.value.problems} == {
        (3, "officer_id"),
        (4, "department"),
        (5, "max_visits"),
    }


def test_conflicts_name_each_rule(small: Registry) -> None:
    target = next(iter(small))
    free = Officer("O1", "甲", "scjg")
    assert conflicts_of(free, target) == []
    assert conflicts_of(Officer("O1", "甲", "scjg", grid_cells=(target.cell,)), target)
    assert conflicts_of(Officer("O1", "甲", "scjg", conflicts=(target.target_id,)), target)


def test_grid_duties_come_from_the_roster_for_its_persons_only() -> None:
    from gridmgr.inspection.pool import Pool, with_grid_duties

    roster = tiny_roster()
    worker = roster.owner(field_post("320281001001001"), ROSTER_START)
    assert worker is not None
    pool = Pool(
        [
            Officer(worker.person_id, worker.name, "cgj", grid_cells=("320281001004004",)),
            Officer("ext-1", "外聘", "cgj", grid_cells=("320281001002002",)),
        ]
    )
    updated = with_grid_duties(pool, roster, ROSTER_START)
    assert "320281001001001" in updated.officers[worker.person_id].grid_cells
    assert "320281001004004" not in updated.officers[worker.person_id].grid_cells
    assert updated.officers["ext-1"].grid_cells == ("320281001002002",)
