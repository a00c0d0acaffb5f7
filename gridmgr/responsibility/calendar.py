"""The working-time calendar: official Chinese holidays, adjusted working days and office hours.

SLA deadlines on the working clock are counted here. A day is a working day as the State Council
publishes it (holidays such as 国庆节 are off, adjusted weekend days 调休上班 are on), taken
from the ``chinese-calendar`` package; a city's override file wins over it, and for a year the
package does not cover (and no override names) Monday to Friday are *assumed* working and
flagged. Within a working day only the working hours count (by default 08:30–12:00 and
13:30–17:30, 7.5 h).

Working time is half-open: a span ``08:30-12:00`` contains 08:30 but not 12:00. Durations are
counted on the wall clock of the calendar's time zone (exact for Asia/Shanghai, which has no
daylight saving time). Nothing here reads the clock: every time is passed in.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from zoneinfo import ZoneInfo

import chinese_calendar  # type: ignore[import-untyped]

from gridmgr.errors import CalendarError, RowProblem, TimeError
from gridmgr.responsibility.sla import Clock, Span
from gridmgr.tablefiles import Table, read_table

TZ = ZoneInfo("Asia/Shanghai")
"""The time zone the official calendar and the working hours are read in."""

MAX_HOURS = 100_000.0
"""The most working hours :meth:`WorkCalendar.add_working_hours` accepts (about 50 years)."""

_US_PER_HOUR = 3_600_000_000
_HOLIDAY_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "中国人民抗日战争胜利70周年纪念日",
}
ADJUSTED_WORKDAY = "调休上班"
WEEKEND = "周末"
_KINDS = {
    "workday": True,
    "上班": True,
    "工作日": True,
    "holiday": False,
    "休息": False,
    "放假": False,
}
_SPAN_TEXT = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*[-~–]\s*(\d{1,2}):(\d{2})\s*$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


@dataclass(frozen=True)
class WorkingHours:
    """The spans of a working day, sorted and non-overlapping, in local wall-clock time.

    >>> WorkingHours().hours_per_day
    7.5
    >>> str(WorkingHours())
    '08:30-12:00,13:30-17:30'
    """

    spans: tuple[tuple[time, time], ...] = ((time(8, 30), time(12)), (time(13, 30), time(17, 30)))

    def __post_init__(self) -> None:
        if not self.spans:
            raise TimeError("working hours need at least one span, e.g. 08:30-12:00,13:30-17:30")
        previous_end: time | None = None
        for start, end in self.spans:
            if start.tzinfo is not None or end.tzinfo is not None:
                raise TimeError(f"working span {start}-{end} must be a wall-clock time, no tzinfo")
            if not start < end:
                raise TimeError(f"working span {start:%H:%M}-{end:%H:%M} is empty or reversed")
            if previous_end is not None and start < previous_end:
                raise TimeError(
                    f"working span {start:%H:%M}-{end:%H:%M} overlaps or precedes the one before "
                    f"(ending {previous_end:%H:%M}); list spans in order, without overlap"
                )
            previous_end = end

    @property
    def hours_per_day(self) -> float:
        """The working hours in one working day."""
        return sum(_us(e) - _us(s) for s, e in self.spans) / _US_PER_HOUR

    def __str__(self) -> str:
        return ",".join(f"{s:%H:%M}-{e:%H:%M}" for s, e in self.spans)


DEFAULT_HOURS = WorkingHours()


def parse_working_hours(text: str) -> WorkingHours:
    """Parse ``"08:30-12:00,13:30-17:30"`` into :class:`WorkingHours`.

    >>> parse_working_hours("9:00-12:00, 14:00-18:00").hours_per_day
    7.0
    >>> parse_working_hours("9-17")
    Traceback (most recent call last):
    ...
    gridmgr.errors.TimeError: cannot read '9-17' as working hours; write spans as HH:MM-HH:MM \
separated by commas, e.g. 08:30-12:00,13:30-17:30
    """
    spans: list[tuple[time, time]] = []
    for part in text.replace("，", ",").split(","):
        match = _SPAN_TEXT.match(part)
        try:
            if match is None:
                raise ValueError(part)
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            spans.append((time(h1, m1), time(h2, m2)))
        except ValueError:
            raise TimeError(
                f"cannot read {text!r} as working hours; write spans as HH:MM-HH:MM separated by "
                "commas, e.g. 08:30-12:00,13:30-17:30"
            ) from None
    return WorkingHours(tuple(spans))


@dataclass(frozen=True)
class DayInfo:
    """What a day is, and on whose authority: ``official``, ``override`` or ``assumed``."""

    day: date
    is_workday: bool
    name: str | None
    source: str


@dataclass(frozen=True)
class DayOverride:
    """One row of a city's calendar override file: ``day`` is (not) a working day."""

    day: date
    is_workday: bool
    name: str | None = None


def parse_overrides(table: Table) -> dict[date, DayOverride]:
    """Read override rows (``date``, ``kind``, optional ``name``); every bad row is reported.

    >>> from gridmgr.tablefiles import parse_table
    >>> text = "date,kind,name\\n2027-10-01,holiday,国庆节\\n2027-09-26,上班,\\n"
    >>> overrides = parse_overrides(parse_table(text, source="o.csv"))
    >>> overrides[date(2027, 9, 26)]
    DayOverride(day=datetime.date(2027, 9, 26), is_workday=True, name=None)
    """
    missing = [c for c in ("date", "kind") if c not in table.columns]
    if missing:
        message = f"missing column(s) {', '.join(missing)}; the header must be date,kind,name"
        problem = RowProblem(table.source, None, None, message)
        raise CalendarError(f"{table.source}: {message}", [problem])
    problems: list[RowProblem] = []
    result: dict[date, DayOverride] = {}
    first_row: dict[date, int] = {}
    for row_number, row in table.numbered():
        text, kind = row.get("date", ""), row.get("kind", "").strip().lower()
        day: date | None = None
        try:
            if not _ISO_DATE.match(text):
                raise ValueError(text)
            day = date.fromisoformat(text)
        except ValueError:
            message = f"{text!r} is not a date; write it as YYYY-MM-DD, e.g. 2027-10-01"
            problems.append(RowProblem(table.source, row_number, "date", message))
        if kind not in _KINDS:
            message = f"{row.get('kind', '')!r} is not a kind; use workday (上班) or holiday (休息)"
            problems.append(RowProblem(table.source, row_number, "kind", message))
        if day is None:
            continue
        if day in first_row:
            message = f"{day} is already given in row {first_row[day]}; keep one row per date"
            problems.append(RowProblem(table.source, row_number, "date", message))
            continue
        first_row[day] = row_number
        if kind in _KINDS:
            result[day] = DayOverride(day, _KINDS[kind], row.get("name", "") or None)
    if problems:
        lines = "\n".join(f"  {p}" for p in problems)
        raise CalendarError(f"{table.source}: {len(problems)} problem(s)\n{lines}", problems)
    return result


def read_overrides(path: Path) -> dict[date, DayOverride]:
    """Read a calendar override file; see :func:`parse_overrides`."""
    return parse_overrides(read_table(path, required=("date", "kind"), optional=("name",)))


def default_overrides_path() -> Path:
    """The override file shipped with gridmgr (``data/calendar/overrides.csv``)."""
    from gridmgr.shipped import shipped_data_dir

    return shipped_data_dir() / "calendar" / "overrides.csv"


_NO_OVERRIDES: Mapping[date, DayOverride] = MappingProxyType({})


class WorkCalendar:
    """Working days and hours; counts working time and places deadlines.

    Immutable; each day's :class:`DayInfo` is computed once and cached.

    >>> cal = WorkCalendar()
    >>> cal.day(date(2026, 10, 1))
    DayInfo(day=datetime.date(2026, 10, 1), is_workday=False, name='国庆节', source='official')
    >>> cal.add_working_hours(datetime(2026, 9, 30, 16, 30, tzinfo=TZ), 2).isoformat()
    '2026-10-08T09:30:00+08:00'
    """

    __slots__ = ("_assumed", "_bounds", "_day_us", "_days", "_hours", "_overrides", "_tz")

    def __init__(
        self,
        hours: WorkingHours = DEFAULT_HOURS,
        overrides: Mapping[date, DayOverride] = _NO_OVERRIDES,
        *,
        tz: ZoneInfo = TZ,
    ) -> None:
        self._hours = hours
        self._overrides: Mapping[date, DayOverride] = MappingProxyType(dict(overrides))
        self._tz = tz
        self._bounds = tuple((_us(s), _us(e)) for s, e in hours.spans)
        self._day_us = sum(e - s for s, e in self._bounds)
        self._days: dict[date, DayInfo] = {}
        self._assumed: dict[tuple[date, date], tuple[int, ...]] = {}

    @property
    def hours(self) -> WorkingHours:
        """The working hours of every working day."""
        return self._hours

    @property
    def overrides(self) -> Mapping[date, DayOverride]:
        """The city's overrides (read-only)."""
        return self._overrides

    @property
    def tz(self) -> ZoneInfo:
        """The time zone days and hours are read in; results are given in it."""
        return self._tz

    def __repr__(self) -> str:
        return f"WorkCalendar({str(self._hours)!r}, {len(self._overrides)} override(s), {self._tz})"

    # -- days ---------------------------------------------------------------------------------

    def day(self, d: date) -> DayInfo:
        """What day ``d`` is (an aware datetime is read as its local date in :attr:`tz`)."""
        if isinstance(d, datetime):
            d = self._local(d).date()
        info = self._days.get(d)
        if info is None:
            info = self._days[d] = self._compute_day(d)
        return info

    def _compute_day(self, d: date) -> DayInfo:
        weekend = d.weekday() >= 5
        override = self._overrides.get(d)
        if override is not None:
            name = override.name
            if name is None and (weekend or not override.is_workday):
                name = ADJUSTED_WORKDAY if override.is_workday else WEEKEND if weekend else "休息"
            return DayInfo(d, override.is_workday, name, "override")
        try:
            workday = bool(chinese_calendar.is_workday(d))
            _, english = chinese_calendar.get_holiday_detail(d)
        except NotImplementedError:
            return DayInfo(d, not weekend, WEEKEND if weekend else None, "assumed")
        if workday:
            name = ADJUSTED_WORKDAY if weekend else None
        else:
            name = _HOLIDAY_ZH.get(english, english) if english else WEEKEND
        return DayInfo(d, workday, name, "official")

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a working day (overrides win over the official calendar)."""
        return self.day(d).is_workday

    def assumed_years(self, start: date, end: date) -> list[int]:
        """Years touched by ``[start, end]`` with a day whose working status is only assumed.

        >>> WorkCalendar().assumed_years(date(2026, 12, 30), date(2027, 1, 4))
        [2027]
        """
        first, last = sorted((self._date(start), self._date(end)))
        # asked for every case routed (its report day to its last deadline), with a handful of
        # distinct spans: each counted the overrides again
        known = self._assumed.get((first, last))
        if known is None:
            known = self._assumed[(first, last)] = tuple(self._assumed_years(first, last))
        return list(known)

    def _assumed_years(self, first: date, last: date) -> list[int]:
        """:meth:`assumed_years` worked out, ``first <= last``."""
        years = []
        for year in range(first.year, last.year + 1):
            lo, hi = max(first, date(year, 1, 1)), min(last, date(year, 12, 31))
            overridden = sum(lo <= d <= hi for d in self._overrides)
            if self._is_uncovered(year) and overridden < (hi - lo).days + 1:
                years.append(year)
        return years

    def _is_uncovered(self, year: int) -> bool:
        try:
            chinese_calendar.is_workday(date(year, 1, 1))
        except NotImplementedError:
            return True
        return False

    # -- times --------------------------------------------------------------------------------

    def is_working_time(self, t: datetime) -> bool:
        """Whether ``t`` falls in a working span of a working day (span ends excluded)."""
        local = self._local(t)
        us = _us(local.time())
        return self.is_workday(local.date()) and any(s <= us < e for s, e in self._bounds)

    def next_working_time(self, t: datetime) -> datetime:
        """``t`` itself when it is working time, else the start of the next working span."""
        local = self._local(t)
        d, us = local.date(), _us(local.time())
        if self.is_workday(d):
            for s, e in self._bounds:
                if us < e:
                    return self._at(d, max(us, s))
        return self._at(self._next_workday(d), self._bounds[0][0])

    def add_working_hours(self, start: datetime, hours: float) -> datetime:
        """The earliest moment at which ``hours`` working hours have elapsed since ``start``.

        Adding 0 returns ``start`` (in :attr:`tz`). A deadline that uses up a span exactly ends
        at the span's end (17:30), not at the next morning's start.

        >>> cal, friday = WorkCalendar(), datetime(2026, 6, 5, 16, 0, tzinfo=TZ)
        >>> cal.add_working_hours(friday, 1.5).isoformat()
        '2026-06-05T17:30:00+08:00'
        >>> cal.add_working_hours(friday, 2).isoformat()
        '2026-06-08T09:00:00+08:00'
        """
        if not (math.isfinite(hours) and 0 <= hours <= MAX_HOURS):
            raise TimeError(
                f"cannot add {hours!r} working hours; give a number from 0 to {MAX_HOURS:g}"
            )
        local = self._local(start)
        remaining = round(hours * _US_PER_HOUR)
        if remaining == 0:
            return local
        d = local.date()
        done = self._worked_until(d, _us(local.time()))
        try:
            while True:
                if self.is_workday(d):
                    if remaining <= self._day_us - done:
                        return self._at(d, self._time_at(done + remaining))
                    remaining -= self._day_us - done
                done = 0
                d += timedelta(days=1)
        except OverflowError:
            raise TimeError(f"{hours} working hours from {start} run past year 9999") from None

    def working_hours_between(self, a: datetime, b: datetime) -> float:
        """Working hours from ``a`` to ``b``; negative when ``b`` is before ``a``.

        >>> cal = WorkCalendar()
        >>> cal.working_hours_between(datetime(2026, 6, 5, 11, 0, tzinfo=TZ),
        ...                           datetime(2026, 6, 8, 9, 0, tzinfo=TZ))
        5.5
        """
        la, lb = self._local(a), self._local(b)
        if lb < la:
            return -self.working_hours_between(b, a)
        d, end = la.date(), lb.date()
        total = -self._worked_until(d, _us(la.time()))
        while d < end:
            total += self._day_us if self.is_workday(d) else 0
            d += timedelta(days=1)
        total += self._worked_until(end, _us(lb.time()))
        return total / _US_PER_HOUR

    def deadline(self, start: datetime, span: Span, clock: Clock) -> datetime:
        """When a stage started at ``start`` with ``span`` on ``clock`` falls due.

        >>> from gridmgr.responsibility.sla import parse_span
        >>> start = datetime(2026, 9, 30, 9, 0, tzinfo=TZ)
        >>> WorkCalendar().deadline(start, parse_span("1d"), Clock.WORKING).isoformat()
        '2026-10-08T09:00:00+08:00'
        >>> WorkCalendar().deadline(start, parse_span("1d"), Clock.NATURAL).isoformat()
        '2026-10-01T09:00:00+08:00'
        """
        if clock is Clock.WORKING:
            return self.add_working_hours(
                start, span.hours(hours_per_day=self._hours.hours_per_day)
            )
        elapsed = timedelta(hours=span.hours(hours_per_day=24))
        return (self._local(start).astimezone(UTC) + elapsed).astimezone(self._tz)

    def describe_start(self, t: datetime) -> str | None:
        """``None`` when ``t`` is working time, else why the working clock waits, and until when.

        >>> WorkCalendar().describe_start(datetime(2026, 10, 1, 10, 0, tzinfo=TZ))
        '2026-10-01 is a holiday (国庆节); the working clock starts 2026-10-08 08:30'
        >>> WorkCalendar().describe_start(datetime(2026, 6, 5, 12, 5, tzinfo=TZ))
        '12:05 is the lunch break; the working clock starts 13:30'
        """
        if self.is_working_time(t):
            return None
        local, resume = self._local(t), self.next_working_time(t)
        info = self.day(local.date())
        when = f"{resume:%H:%M}" if resume.date() == local.date() else f"{resume:%Y-%m-%d %H:%M}"
        if not info.is_workday:
            what = "a weekend day" if info.name == WEEKEND else f"a holiday ({info.name})"
            if info.source == "assumed":
                what += " (assumed: no official calendar for this year)"
            reason = f"{info.day} is {what}"
        else:
            us = _us(local.time())
            if us < self._bounds[0][0]:
                reason = f"{local:%H:%M} is before working hours"
            elif us >= self._bounds[-1][1]:
                reason = f"{local:%H:%M} is after working hours"
            else:
                gap = "the lunch break" if len(self._bounds) == 2 else "a break"
                reason = f"{local:%H:%M} is {gap}"
        return f"{reason}; the working clock starts {when}"

    # -- helpers ------------------------------------------------------------------------------

    def _local(self, t: datetime) -> datetime:
        if not isinstance(t, datetime):
            raise TimeError(f"expected a datetime, got {t!r}")
        if t.tzinfo is None or t.utcoffset() is None:
            raise TimeError(
                f"{t.isoformat()} has no time zone; pass an aware datetime, "
                "e.g. datetime(..., tzinfo=gridmgr.responsibility.calendar.TZ)"
            )
        return t.astimezone(self._tz)

    def _date(self, d: date) -> date:
        return self._local(d).date() if isinstance(d, datetime) else d

    def _at(self, d: date, us: int) -> datetime:
        return datetime.combine(d, time(), self._tz) + timedelta(microseconds=us)

    def _worked_until(self, d: date, us: int) -> int:
        """Working microseconds on day ``d`` before time of day ``us``."""
        if not self.is_workday(d):
            return 0
        return sum(max(0, min(e, us) - s) for s, e in self._bounds)

    def _time_at(self, worked: int) -> int:
        """The earliest time of day by which ``worked`` (> 0) working microseconds have passed."""
        for s, e in self._bounds:
            if worked <= e - s:
                return s + worked
            worked -= e - s
        raise AssertionError("worked exceeds a working day")  # pragma: no cover

    def _next_workday(self, d: date) -> date:
        for offset in range(1, 367):
            if self.is_workday(d + timedelta(days=offset)):
                return d + timedelta(days=offset)
        raise TimeError(f"no working day in the year after {d}; check the calendar overrides")
