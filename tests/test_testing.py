"""gridmgr.testing: its builders stand alone (no store, no tests package) and its asserts say
what differs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from gridmgr.grid.validate import validated_grid
from gridmgr.ledger import next_event
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Roster
from gridmgr.testing import (
    assert_chain_verifies,
    assert_grid_equal,
    assert_roster_equal,
    tiny_cells,
    tiny_context,
    tiny_grid,
    tiny_roster,
)

ROOT = Path(__file__).resolve().parents[1]


def test_importing_the_builders_imports_neither_the_store_nor_the_tests() -> None:
    code = (
        "import json, sys\n"
        "from gridmgr.testing import tiny_context\n"
        "tiny_context()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m == 'tests' or\n"
        "    m.startswith(('tests.', 'gridmgr.store', 'gridmgr.services', 'sqlalchemy')))))\n"
    )
    path = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_the_tiny_context_routes_over_the_tiny_grid_and_its_roster() -> None:
    context = tiny_context()
    assert context.grid.counts == {1: 1, 2: 4, 3: 16}
    assert context.roster is tiny_roster()


def test_grids_with_one_renamed_cell_are_not_equal() -> None:
    cells = tiny_cells()
    cells.loc[cells["code"] == "320281001001001", "name"] = "东门"
    renamed = validated_grid(cells, name="tiny")
    with pytest.raises(AssertionError, match="checksum"):
        assert_grid_equal(tiny_grid(), renamed)


def test_rosters_that_differ_in_one_assignment_are_not_equal() -> None:
    roster = tiny_roster()
    fewer = Roster(roster.persons.values(), roster.units.values(), roster.assignments[1:])
    same = Roster(
        roster.persons.values(), roster.units.values(), roster.assignments, roster.absences
    )
    assert_roster_equal(roster, same)
    with pytest.raises(AssertionError, match="assignments: item 0"):
        assert_roster_equal(roster, fewer)


def test_a_tampered_chain_fails_the_assert_with_the_problem() -> None:
    at = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
    first = next_event(prev=None, at=at, kind="k", actor="a", subject="s", details={})
    second = next_event(prev=first, at=at, kind="k", actor="a", subject="s", details={"n": 2})
    assert assert_chain_verifies([first, second]).count == 2
    with pytest.raises(AssertionError, match="hash does not match"):
        assert_chain_verifies([first, replace(second, payload='{"n":3}')])
