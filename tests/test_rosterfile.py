"""Tests for gridmgr.responsibility.roster_files: roster folders on disk, the roster's time text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.errors import RosterError, TableFileError, TimeError
from gridmgr.grid.model import Grid
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.roster import Role, Roster, field_post
from gridmgr.responsibility.roster_files import (
    ROSTER_FILES,
    format_time,
    parse_time,
    read_roster,
    write_roster,
)
from gridmgr.testing import assert_roster_equal
from tests.builders import roster_from_csv, tiny_roster


def cells_of(grid: Grid) -> dict[str, int]:
    return {code: tier for tier in (1, 2, 3) for code in grid.codes(tier)}


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def write_rows(path: Path, rows: list[dict[str, str]], *, encoding: str = "utf-8-sig") -> None:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode(encoding))


def assert_same_roster(a: Roster, b: Roster) -> None:
    assert_roster_equal(a, b)


def absent_roster() -> Roster:
    """One worker with a phone, a unit, an end time of day and a three-day absence."""
    return roster_from_csv(
        persons="""
            person_id,name,phone,unit,capacity
            w1,王一,13800000000,cgj,2
        """,
        assignments="""
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2024-01-01,2025-03-01 08:30
        """,
        absences="""
            person_id,start,end,reason
            w1,2024-05-01 08:00,2024-05-03,"年假, 三天"
        """,
    )


# -- round trip -------------------------------------------------------------------------------


def test_demo_roster_of_tiny_grid_round_trips_exactly(tmp_path: Path, tiny: Grid) -> None:
    roster = tiny_roster()
    write_roster(roster, tmp_path)
    again = read_roster(tmp_path, cells=cells_of(tiny))
    assert_same_roster(again, roster)
    assert again.source == str(tmp_path)


def test_roster_with_absences_and_times_round_trips(tmp_path: Path) -> None:
    roster = absent_roster()
    write_roster(roster, tmp_path)
    again = read_roster(tmp_path)
    assert_same_roster(again, roster)
    assert again.absence("w1", datetime(2024, 5, 2, tzinfo=TZ)).reason == "年假, 三天"
    assert again.history(field_post("320281001001001"))[0].valid_to == datetime(
        2025, 3, 1, 8, 30, tzinfo=TZ
    )


def test_written_files_are_utf8_with_byte_order_mark(tmp_path: Path) -> None:
    write_roster(tiny_roster(), tmp_path)
    for name in ROSTER_FILES:
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf"), name
        data.decode("utf-8")
    assert "综合行政执法" in (tmp_path / "units.csv").read_text("utf-8-sig")


def test_export_adds_person_and_place_names_for_reading(tmp_path: Path, tiny: Grid) -> None:
    roster = tiny_roster()
    names = {code: f"网格{code[-3:]}" for code in tiny.codes(3)}
    write_roster(roster, tmp_path, place_names=names)
    rows = read_rows(tmp_path / "assignments.csv")
    worker = next(r for r in rows if r["place"] == "320281001001001" and r["role"] == "primary")
    owner = roster.owner(field_post("320281001001001"), datetime(2025, 1, 1, tzinfo=TZ))
    assert (worker["person_name"], worker["place_name"]) == (owner.name, "网格001")
    leader = next(r for r in rows if r["post"] == "unit_leader" and r["place"] == "cgj")
    assert leader["place_name"] == roster.units["cgj"].name


def test_editing_the_reading_columns_changes_nothing(tmp_path: Path) -> None:
    roster = tiny_roster()
    write_roster(roster, tmp_path)
    path = tmp_path / "assignments.csv"
    rows = read_rows(path)
    for row in rows:
        row["person_name"] = "改过的名字"
        row["place_name"] = "某地"
    write_rows(path, rows)
    assert_same_roster(read_roster(tmp_path), roster)


def test_reading_columns_may_be_deleted(tmp_path: Path) -> None:
    roster = tiny_roster()
    write_roster(roster, tmp_path)
    path = tmp_path / "assignments.csv"
    rows = [
        {k: v for k, v in row.items() if k not in ("person_name", "place_name")}
        for row in read_rows(path)
    ]
    write_rows(path, rows)
    assert_same_roster(read_roster(tmp_path), roster)


def test_persons_file_saved_as_gb18030_is_read(tmp_path: Path) -> None:
    roster = tiny_roster()
    write_roster(roster, tmp_path)
    path = tmp_path / "persons.csv"
    rows = read_rows(path)
    rows[0]["name"] = "欧阳娜娜"
    write_rows(path, rows, encoding="gb18030")
    data = path.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    again = read_roster(tmp_path)
    assert again.persons[rows[0]["person_id"]].name == "欧阳娜娜"
    assert again.persons["P00002"] == roster.persons["P00002"]


def test_absences_file_is_optional(tmp_path: Path) -> None:
    write_roster(tiny_roster(), tmp_path)
    (tmp_path / "absences.csv").unlink()
    assert read_roster(tmp_path).absences == ()


def test_missing_folder_is_a_table_file_error_saying_what_it_must_hold(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(TableFileError, match="nowhere") as info:
        read_roster(missing)
    assert "persons.csv" in str(info.value)
    assert isinstance(info.value, OSError)


def test_missing_required_file_is_named(tmp_path: Path) -> None:
    write_roster(tiny_roster(), tmp_path)
    (tmp_path / "units.csv").unlink()
    with pytest.raises(TableFileError, match=r"units\.csv does not exist"):
        read_roster(tmp_path)


def test_missing_required_column_is_named(tmp_path: Path) -> None:
    write_roster(tiny_roster(), tmp_path)
    path = tmp_path / "assignments.csv"
    write_rows(path, [{k: v for k, v in r.items() if k != "valid_from"} for r in read_rows(path)])
    with pytest.raises(TableFileError, match="valid_from") as info:
        read_roster(tmp_path)
    assert "assignments.csv" in str(info.value)


def test_refused_file_problems_name_their_file_and_row(tmp_path: Path) -> None:
    write_roster(tiny_roster(), tmp_path)
    path = tmp_path / "assignments.csv"
    rows = read_rows(path)
    rows[3]["person_id"] = "P99999"
    write_rows(path, rows)
    with pytest.raises(RosterError) as info:
        read_roster(tmp_path)
    (problem,) = info.value.problems
    assert (problem.source, problem.row, problem.field) == ("assignments.csv", 5, "person_id")
    assert "P99999" in problem.message
    assert str(tmp_path) in str(info.value)


def test_cells_check_refuses_a_roster_for_another_grid(tmp_path: Path, tiny: Grid) -> None:
    roster = roster_from_csv(
        persons="""
            person_id,name
            w1,王一
        """,
        assignments="""
            person_id,post,place,role,valid_from
            w1,grid_worker,320281002001001,primary,2024-01-01
        """,
    )
    write_roster(roster, tmp_path)
    assert read_roster(tmp_path).owner(field_post("320281002001001"), datetime.now(TZ))
    with pytest.raises(RosterError, match="320281002001001"):
        read_roster(tmp_path, cells=cells_of(tiny))


def test_times_with_seconds_survive_write_and_read(tmp_path: Path) -> None:
    roster = roster_from_csv(
        persons="""
            person_id,name
            w1,王一
        """,
        assignments="""
            person_id,post,place,role,valid_from,valid_to
            w1,grid_worker,320281001001001,primary,2025-01-01 08:30:10,2025-01-01 08:30:50
        """,
    )
    write_roster(roster, tmp_path)
    assert read_roster(tmp_path).assignments == roster.assignments


# -- time text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-01-31", datetime(2026, 1, 31, tzinfo=TZ)),
        (" 2026-01-31 08:30 ", datetime(2026, 1, 31, 8, 30, tzinfo=TZ)),
        ("2026-01-31T08:30", datetime(2026, 1, 31, 8, 30, tzinfo=TZ)),
        ("2026-01-31 08:30:15", datetime(2026, 1, 31, 8, 30, 15, tzinfo=TZ)),
        ("2026-01-31T00:30+00:00", datetime(2026, 1, 31, 8, 30, tzinfo=TZ)),
    ],
)
def test_roster_time_text_is_beijing_unless_an_offset_is_written(
    text: str, expected: datetime
) -> None:
    parsed = parse_time(text)
    assert parsed == expected
    assert parsed.utcoffset() is not None


@pytest.mark.parametrize("text", ["", "31/01/2026", "2026-02-30", "tomorrow"])
def test_unreadable_time_text_is_a_time_error_quoting_it(text: str) -> None:
    with pytest.raises(TimeError, match="cannot read") as info:
        parse_time(text)
    assert repr(text) in str(info.value)


def test_format_time_writes_midnight_as_a_date_and_other_times_in_beijing() -> None:
    assert format_time(None) == ""
    assert format_time(datetime(2026, 1, 31, tzinfo=TZ)) == "2026-01-31"
    assert format_time(datetime(2026, 1, 31, 16, 0, tzinfo=UTC)) == "2026-02-01"
    assert format_time(datetime(2026, 1, 31, 1, 5, tzinfo=UTC)) == "2026-01-31 09:05"


@settings(max_examples=200, deadline=None)
@given(
    minutes=st.integers(0, 60 * 24 * 366 * 5),
    zone=st.sampled_from([TZ, UTC]),
)
def test_minute_times_round_trip_through_text(minutes: int, zone: tzinfo) -> None:
    moment = (datetime(2023, 1, 1, tzinfo=TZ) + timedelta(minutes=minutes)).astimezone(zone)
    assert parse_time(format_time(moment)) == moment


def test_role_defaults_to_primary_when_left_empty() -> None:
    roster = roster_from_csv(
        persons="""
            person_id,name
            w1,王一
        """,
        assignments="""
            person_id,post,place,role,valid_from
            w1,grid_worker,320281001001001,,2024-01-01
        """,
    )
    assert [a.role for a in roster.assignments] == [Role.PRIMARY]
