"""Tests for gridmgr.responsibility.calendar: the working time SLA deadlines are counted in."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gridmgr.errors import CalendarError, TimeError
from gridmgr.responsibility.calendar import (
    DEFAULT_HOURS,
    TZ,
    DayOverride,
    WorkCalendar,
    WorkingHours,
    default_overrides_path,
    parse_overrides,
    parse_working_hours,
    read_overrides,
)
from gridmgr.responsibility.sla import Clock, parse_span
from gridmgr.tablefiles import parse_table

CAL = WorkCalendar()


def at(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    """A Beijing-time moment."""
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


# -- days -------------------------------------------------------------------------------------


def test_national_day_2026_is_an_official_holiday() -> None:
    info = CAL.day(date(2026, 10, 1))
    assert (info.is_workday, info.name, info.source) == (False, "国庆节", "official")
    assert [CAL.is_workday(date(2026, 10, d)) for d in range(1, 9)] == [False] * 7 + [True]


def test_working_clock_jumps_to_first_working_day_after_national_day() -> None:
    assert CAL.next_working_time(at(2026, 10, 1, 10)) == at(2026, 10, 8, 8, 30)
    # 30 minutes are left on 30 September; the other 30 come on 8 October.
    assert CAL.add_working_hours(at(2026, 9, 30, 17), 1) == at(2026, 10, 8, 9)


def test_adjusted_weekend_working_day_2026_counts() -> None:
    saturday = date(2026, 10, 10)
    assert saturday.weekday() == 5
    info = CAL.day(saturday)
    assert (info.is_workday, info.name, info.source) == (True, "调休上班", "official")
    # Friday evening to Monday morning holds one working day: the Saturday.
    assert CAL.working_hours_between(at(2026, 10, 9, 17, 30), at(2026, 10, 12, 8, 30)) == 7.5
    assert CAL.add_working_hours(at(2026, 10, 9, 17), 1) == at(2026, 10, 10, 9)


def test_plain_weekend_and_ordinary_weekday_are_named() -> None:
    assert CAL.day(date(2026, 6, 6)).name == "周末"
    assert CAL.day(date(2026, 6, 5)).name is None
    assert CAL.day(date(2026, 2, 17)).name == "春节"


def test_a_datetime_is_read_as_its_beijing_date() -> None:
    # 20:00 UTC on 30 September is already 1 October in Beijing.
    assert CAL.day(datetime(2026, 9, 30, 20, tzinfo=UTC)).name == "国庆节"


def test_year_2027_is_assumed_monday_to_friday_and_flagged() -> None:
    monday, saturday = CAL.day(date(2027, 1, 4)), CAL.day(date(2027, 1, 2))
    assert (monday.is_workday, monday.source) == (True, "assumed")
    assert (saturday.is_workday, saturday.name, saturday.source) == (False, "周末", "assumed")
    assert CAL.assumed_years(at(2026, 12, 1), at(2027, 2, 1)) == [2027]
    assert CAL.assumed_years(date(2026, 1, 1), date(2026, 12, 31)) == []
    assert CAL.assumed_years(date(2028, 3, 1), date(2026, 3, 1)) == [2027, 2028]


def test_override_wins_over_assumed_and_official_days() -> None:
    cal = WorkCalendar(
        overrides={
            date(2027, 10, 1): DayOverride(date(2027, 10, 1), False, "国庆节"),
            date(2026, 6, 5): DayOverride(date(2026, 6, 5), False, None),
            date(2026, 6, 6): DayOverride(date(2026, 6, 6), True, None),
        }
    )
    national_day = cal.day(date(2027, 10, 1))
    assert (national_day.is_workday, national_day.name, national_day.source) == (
        False,
        "国庆节",
        "override",
    )
    assert not cal.is_workday(date(2026, 6, 5))
    assert cal.day(date(2026, 6, 6)).name == "调休上班"
    # A period whose every uncovered day is overridden relies on no assumption.
    assert cal.assumed_years(date(2027, 10, 1), date(2027, 10, 1)) == []
    assert cal.assumed_years(date(2027, 10, 1), date(2027, 10, 2)) == [2027]


# -- working hours ----------------------------------------------------------------------------


def test_default_working_hours_are_seven_and_a_half() -> None:
    assert DEFAULT_HOURS.hours_per_day == 7.5
    assert parse_working_hours(str(DEFAULT_HOURS)) == DEFAULT_HOURS


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "cannot read"),
        ("8:30 to 12:00", "cannot read"),
        ("25:00-26:00", "cannot read"),
        ("12:00-08:30", "empty or reversed"),
        ("08:30-12:00,11:00-17:30", "overlaps"),
    ],
)
def test_bad_working_hours_are_refused_with_the_fix(text: str, fragment: str) -> None:
    with pytest.raises(TimeError, match=fragment):
        parse_working_hours(text)


def test_working_hours_are_configurable() -> None:
    cal = WorkCalendar(parse_working_hours("09:00-12:00,14:00-18:00"))
    # One working day from the opening ends at that evening's close, not next morning.
    assert cal.deadline(at(2026, 6, 5, 9), parse_span("1d"), Clock.WORKING) == at(2026, 6, 5, 18)
    assert WorkingHours(((time(9), time(17)),)).hours_per_day == 8


# -- times ------------------------------------------------------------------------------------


def test_lunch_break_is_skipped() -> None:
    assert not CAL.is_working_time(at(2026, 6, 5, 12, 5))
    assert CAL.add_working_hours(at(2026, 6, 5, 11, 30), 1) == at(2026, 6, 5, 14)
    assert CAL.working_hours_between(at(2026, 6, 5, 11, 30), at(2026, 6, 5, 14)) == 1
    assert CAL.next_working_time(at(2026, 6, 5, 12)) == at(2026, 6, 5, 13, 30)


def test_three_day_span_over_a_weekend_ends_three_working_days_later() -> None:
    thursday = at(2026, 6, 4, 10)
    deadline = CAL.deadline(thursday, parse_span("3d"), Clock.WORKING)
    assert deadline == at(2026, 6, 9, 10)  # Tuesday: Thu, Fri, Mon, and 1.5 h of Tue


def test_natural_clock_ignores_holidays() -> None:
    start = at(2026, 9, 30, 9)
    assert CAL.deadline(start, parse_span("1d"), Clock.NATURAL) == at(2026, 10, 1, 9)
    assert CAL.deadline(start, parse_span("90m"), Clock.NATURAL) == at(2026, 9, 30, 10, 30)


def test_deadline_that_uses_up_a_span_ends_at_the_span_end() -> None:
    assert CAL.add_working_hours(at(2026, 6, 5, 16), 1.5) == at(2026, 6, 5, 17, 30)
    assert CAL.add_working_hours(at(2026, 6, 5, 8, 30), 3.5) == at(2026, 6, 5, 12)


def test_adding_zero_hours_returns_the_start() -> None:
    saturday_night = at(2026, 6, 6, 22)
    assert CAL.add_working_hours(saturday_night, 0) == saturday_night


def test_a_start_at_a_span_end_moves_to_the_next_span() -> None:
    assert CAL.next_working_time(at(2026, 6, 5, 17, 30)) == at(2026, 6, 8, 8, 30)
    assert CAL.next_working_time(at(2026, 6, 5, 9)) == at(2026, 6, 5, 9)


def test_results_are_in_beijing_time_whatever_the_input_zone() -> None:
    result = CAL.add_working_hours(datetime(2026, 6, 5, 1, 0, tzinfo=UTC), 1)  # 09:00 Beijing
    assert result == at(2026, 6, 5, 10)
    assert result.tzinfo is TZ


def test_working_hours_between_is_negative_backwards() -> None:
    assert CAL.working_hours_between(at(2026, 6, 8, 9), at(2026, 6, 5, 11)) == -5.5


def test_naive_datetime_is_refused_with_a_clear_message() -> None:
    with pytest.raises(TimeError, match=r"no time zone; pass an aware datetime.*calendar\.TZ"):
        CAL.add_working_hours(datetime(2026, 6, 5, 9), 1)
    with pytest.raises(TimeError, match="no time zone"):
        CAL.is_working_time(datetime(2026, 6, 5, 9))


@pytest.mark.parametrize("hours", [-1.0, float("nan"), float("inf"), 1e9])
def test_unusable_hours_are_refused(hours: float) -> None:
    with pytest.raises(TimeError, match="cannot add"):
        CAL.add_working_hours(at(2026, 6, 5, 9), hours)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(2026, 6, 5, 10), None),
        (at(2026, 6, 5, 12, 5), "12:05 is the lunch break; the working clock starts 13:30"),
        (at(2026, 6, 5, 7, 10), "07:10 is before working hours; the working clock starts 08:30"),
        (
            at(2026, 6, 5, 18, 5),
            "18:05 is after working hours; the working clock starts 2026-06-08 08:30",
        ),
        (
            at(2026, 6, 6, 9),
            "2026-06-06 is a weekend day; the working clock starts 2026-06-08 08:30",
        ),
        (
            at(2026, 10, 1, 9),
            "2026-10-01 is a holiday (国庆节); the working clock starts 2026-10-08 08:30",
        ),
    ],
)
def test_describe_start_explains_why_the_clock_waits(
    moment: datetime, expected: str | None
) -> None:
    assert CAL.describe_start(moment) == expected


# -- override files ---------------------------------------------------------------------------


def test_parse_overrides_reads_kinds_in_english_and_chinese() -> None:
    text = "date,kind,name\n2027-10-01,holiday,国庆节\n2027-09-26,上班,\n2027-10-04,休息,\n"
    overrides = parse_overrides(parse_table(text, source="overrides.csv"))
    assert overrides == {
        date(2027, 10, 1): DayOverride(date(2027, 10, 1), False, "国庆节"),
        date(2027, 9, 26): DayOverride(date(2027, 9, 26), True, None),
        date(2027, 10, 4): DayOverride(date(2027, 10, 4), False, None),
    }


def test_parse_overrides_reports_every_bad_row_with_its_row_number() -> None:
    text = (
        "date,kind,name\n"
        "2027-10-01,holiday,国庆节\n"
        "2027/10/02,holiday,\n"
        "2027-10-03,day off,\n"
        "2027-10-01,workday,\n"
        "2027-02-30,holiday,\n"
    )
    with pytest.raises(CalendarError) as excinfo:
        parse_overrides(parse_table(text, source="overrides.csv"))
    problems = excinfo.value.problems
    assert [(p.row, p.field) for p in problems] == [
        (3, "date"),
        (4, "kind"),
        (5, "date"),
        (6, "date"),
    ]
    assert "YYYY-MM-DD" in problems[0].message
    assert "already given in row 2" in problems[2].message
    assert "overrides.csv row 4 [kind]" in str(excinfo.value)


def test_parse_overrides_refuses_a_table_without_its_columns() -> None:
    with pytest.raises(CalendarError, match="missing column"):
        parse_overrides(parse_table("day,kind\n2027-10-01,holiday\n", source="o.csv"))


def test_shipped_override_file_reads_and_is_empty() -> None:
    path = default_overrides_path()
    assert path.name == "overrides.csv"
    assert read_overrides(path) == {}


# -- properties -------------------------------------------------------------------------------

_starts = st.datetimes(min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1)).map(
    lambda t: t.replace(tzinfo=TZ)
)
_hours = st.floats(min_value=0, max_value=200, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(start=_starts, hours=_hours)
def test_working_hours_between_undoes_add_working_hours(start: datetime, hours: float) -> None:
    end = CAL.add_working_hours(start, hours)
    assert CAL.working_hours_between(start, end) == pytest.approx(hours, abs=1e-6)
    assert CAL.working_hours_between(end, start) == pytest.approx(-hours, abs=1e-6)


@settings(max_examples=200, deadline=None)
@given(start=_starts, a=_hours, b=_hours)
def test_add_working_hours_is_monotonic_in_hours(start: datetime, a: float, b: float) -> None:
    low, high = sorted((a, b))
    assert start <= CAL.add_working_hours(start, low) <= CAL.add_working_hours(start, high)


@settings(max_examples=200, deadline=None)
@given(start=_starts, hours=st.floats(min_value=1e-3, max_value=200))
def test_deadline_falls_inside_or_at_the_end_of_a_working_span(
    start: datetime, hours: float
) -> None:
    end = CAL.add_working_hours(start, hours)
    # The instant just before the deadline is working time: the deadline is in (start, end].
    assert CAL.is_working_time(end - timedelta(microseconds=1))
    assert CAL.next_working_time(start) < end
