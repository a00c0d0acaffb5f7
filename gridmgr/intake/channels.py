"""Intake: the channels reports come in by, and batch files of reports (hotline exports …).

:func:`parse_intake` checks every record of a CSV or JSON batch and names each problem with its
row (CSV: the spreadsheet row, the header being row 1; JSON: the record's position, from 1).
Records carry the sending system's ``source_id``, so importing the same file twice creates
nothing twice (:func:`gridmgr.services.import_intake`). A record with coordinates is routed to
its cell; one with only an address waits in the *unlocated* queue for an operator's pin.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gridmgr.cases import MAX_COMMENT
from gridmgr.errors import GridMgrError, InvalidTableError, RowProblem, TableFileError
from gridmgr.grid.datum import Datum
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog import Catalog
from gridmgr.tablefiles import decode_text, parse_table, read_limited


class IntakeError(InvalidTableError):
    """A batch of reports has bad records; ``problems`` names each with its row."""


class Channel(enum.Enum):
    """How a report came in."""

    GRID_WORKER = "grid_worker"
    CITIZEN = "citizen"
    HOTLINE = "hotline"
    PARTNER = "partner"
    SENSOR = "sensor"
    INSPECTION = "inspection"  # a 双随机 finding with issues opens its 整改 case

    @property
    def label_zh(self) -> str:
        """The channel's Chinese name.

        >>> Channel.HOTLINE.label_zh
        '12345热线'
        """
        return {
            "grid_worker": "网格员上报",
            "citizen": "市民(Open311)",
            "hotline": "12345热线",
            "partner": "合作系统",
            "sensor": "感知设备告警",
            "inspection": "双随机检查",
        }[self.value]

    @classmethod
    def parse(cls, text: str) -> Channel:
        """The channel named ``text`` (its value, any case)."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            names = ", ".join(c.value for c in cls)
            raise ChannelError(f"unknown channel {text!r}; use one of: {names}") from None


class ChannelError(GridMgrError, ValueError):
    """A channel name is not one of :class:`Channel`."""


INTAKE_COLUMNS = ("source_id", "category", "description")
OPTIONAL_COLUMNS = ("reported_at", "lon", "lat", "datum", "address", "reporter")
_Refuse = Callable[[str | None, str], None]
_SOURCE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-/]{0,99}$")


@dataclass(frozen=True)
class IntakeRecord:
    """One valid report of a batch; ``row`` says where it was in the file."""

    row: int
    source_id: str
    category: str
    description: str
    reported_at: datetime | None
    lon: float | None
    lat: float | None
    datum: str
    address: str | None
    reporter: str | None

    @property
    def is_located(self) -> bool:
        """Whether the record has coordinates (else it goes to the unlocated queue)."""
        return self.lon is not None and self.lat is not None


@dataclass(frozen=True)
class IntakeBatch:
    """The valid records of a batch and the problems of the others (every row is one or the
    other: nothing is dropped)."""

    source: str
    records: tuple[IntakeRecord, ...]
    problems: tuple[RowProblem, ...]

    @property
    def refused_rows(self) -> tuple[int, ...]:
        """The rows with at least one problem."""
        return tuple(sorted({p.row for p in self.problems if p.row is not None}))


MAX_INTAKE_BYTES = 50 * 1000 * 1000
"""An intake file larger than this is refused (a day of the 12345 hotline is about 1 MB);
``gridmgr intake import --max-size-mb`` raises it."""


def read_intake_file(
    path: Path, *, catalog: Catalog, max_bytes: int = MAX_INTAKE_BYTES
) -> IntakeBatch:
    """Read a ``.csv`` or ``.json`` batch of reports (see :func:`parse_intake`).

    A file larger than ``max_bytes``, a binary file (an archive, a workbook, NUL bytes), text
    that is not CSV or JSON, or JSON nested too deep raises :class:`TableFileError` in one line.
    """
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json"):
        raise TableFileError(f"{path.name}: give a .csv or .json file of reports")
    fix = "split it, or raise the limit with `gridmgr intake import --max-size-mb`"
    data = read_limited(path, max_bytes=max_bytes, fix=fix)
    if suffix == ".json":
        items = _json_items(data, source=path.name)
        return parse_intake(_json_rows(items), source=path.name, catalog=catalog)
    table = parse_table(
        decode_text(data, source=path.name),
        source=path.name,
        required=INTAKE_COLUMNS,
        optional=OPTIONAL_COLUMNS,
    )
    return parse_intake(table.numbered(), source=path.name, catalog=catalog)


def _json_items(data: bytes, *, source: str) -> list[object]:
    try:
        text = data.decode("utf-8-sig")
        value = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TableFileError(f"{source} is not valid UTF-8 JSON: {exc}") from None
    except RecursionError:
        # the decoder recurses once per level: a hostile file nests until the stack gives out
        line = _line_of_depth(text, MAX_JSON_DEPTH)
        raise TableFileError(
            f"{source} line {line}: JSON nested more than {MAX_JSON_DEPTH} levels deep; "
            "a batch is a list of flat report objects"
        ) from None
    items = value.get("reports") if isinstance(value, dict) else value
    if not isinstance(items, list):
        raise TableFileError(f'{source}: expected a JSON list of reports (or {{"reports": [...]}})')
    return items


MAX_JSON_DEPTH = 64
"""Nesting reported as too deep (a batch needs 3 levels: list, report, value)."""

_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _line_of_depth(text: str, depth: int) -> int:
    """The line (from 1) where ``text``'s JSON nesting first exceeds ``depth`` (0 if never)."""
    level = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token in "[{":
            level += 1
            if level > depth:
                return text.count("\n", 0, match.start()) + 1
        elif token in "]}":
            level -= 1
    return 0


def _json_rows(items: list[object]) -> Iterable[tuple[int, Mapping[str, str]]]:
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            yield number, {"__error__": f"record {number} is not a JSON object"}
            continue
        yield number, {str(k).lower(): "" if v is None else str(v).strip() for k, v in item.items()}


def parse_intake(
    rows: Iterable[tuple[int, Mapping[str, str]]], *, source: str, catalog: Catalog
) -> IntakeBatch:
    """Check every record; the valid ones and a problem for each bad cell of the others.

    >>> from gridmgr.responsibility.catalog_file import read_catalog
    >>> batch = parse_intake([(2, {"source_id": "H-1", "category": "streetlight_out",
    ...     "description": "路灯不亮", "address": "澄江街道人民路 12 号"}),
    ...     (3, {"source_id": "H-2", "category": "nope", "description": "x", "lon": "120.3"})],
    ...     source="h.csv", catalog=read_catalog())
    >>> [r.source_id for r in batch.records], batch.refused_rows
    (['H-1'], (3,))
    >>> print(batch.problems[0])
    h.csv row 3 [category]: no category 'nope' in catalog.csv; ...
    """
    records: list[IntakeRecord] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for number, row in rows:
        found: list[RowProblem] = []

        def refuse(
            column: str | None, message: str, number: int = number, found: list[RowProblem] = found
        ) -> None:
            found.append(RowProblem(source, number, column, message))

        if "__error__" in row:
            refuse(None, row["__error__"])
            problems.extend(found)
            continue
        unknown = sorted(set(row) - set(INTAKE_COLUMNS) - set(OPTIONAL_COLUMNS))
        if unknown:
            refuse(None, f"unknown field(s) {', '.join(unknown)}")
        source_id = row.get("source_id", "")
        if not _SOURCE_RE.match(source_id):
            refuse(
                "source_id",
                f"source id {source_id!r} is missing or malformed; give the sending system's "
                "id (letters, digits, _ . : - /; at most 100)",
            )
        elif source_id in seen:
            refuse("source_id", f"source id {source_id!r} is already used at row {seen[source_id]}")
        else:
            seen[source_id] = number
        category = row.get("category", "")
        try:
            code = catalog.category(category).code
        except GridMgrError as exc:
            refuse("category", str(exc))
            code = ""
        description = row.get("description", "").strip()
        if not description:
            refuse("description", "empty description; say what was reported")
        elif len(description) > MAX_COMMENT:
            refuse("description", f"{len(description)} characters; keep it to {MAX_COMMENT}")
        reported_at = _time(row.get("reported_at", ""), refuse)
        lon, lat = _coordinates(row.get("lon", ""), row.get("lat", ""), refuse)
        datum = row.get("datum", "").strip().lower() or Datum.WGS84.value
        if datum not in {d.value for d in Datum}:
            refuse("datum", f"unknown datum {datum!r}; use wgs84, gcj02 or bd09")
        address = row.get("address", "").strip() or None
        if lon is None and address is None and not any(p.field in ("lon", "lat") for p in found):
            refuse("address", "no coordinates and no address: give lon and lat, or an address")
        reporter = row.get("reporter", "").strip() or None
        if found:
            problems.extend(found)
            continue
        records.append(
            IntakeRecord(
                number,
                source_id,
                code,
                description,
                reported_at,
                lon,
                lat,
                datum,
                address,
                reporter,
            )
        )
    return IntakeBatch(source, tuple(records), tuple(problems))


def _time(text: str, refuse: _Refuse) -> datetime | None:
    value = text.strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        refuse("reported_at", f"cannot read {value!r} as a time; write 2026-10-08T09:30+08:00")
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=TZ)


def _coordinates(
    lon_text: str, lat_text: str, refuse: _Refuse
) -> tuple[float | None, float | None]:
    if not lon_text.strip() and not lat_text.strip():
        return None, None
    try:
        lon, lat = float(lon_text), float(lat_text)
    except ValueError:
        refuse("lon", f"lon {lon_text!r} / lat {lat_text!r}: give both as decimal degrees")
        return None, None
    if abs(lat) > 90 and abs(lon) <= 90:
        refuse("lat", f"({lon}, {lat}) looks swapped: lon is east-west (≈120 in Jiangyin)")
        return None, None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        refuse("lon", f"({lon}, {lat}) is not a longitude/latitude pair")
        return None, None
    if abs(lat) > 60 and abs(lon) < 60:
        refuse("lat", f"({lon}, {lat}) looks swapped: lon is east-west (≈120 in Jiangyin)")
        return None, None
    return lon, lat


def batch_error(batch: IntakeBatch) -> IntakeError:
    """The error that refuses a batch with problems, naming the first."""
    first = batch.problems[0]
    return IntakeError(
        f"{batch.source}: {len(batch.problems)} problem(s) in {len(batch.refused_rows) or 1} "
        f"record(s); first: {first}; nothing was imported (fix the rows, or import the valid "
        "ones with --skip-bad)",
        batch.problems,
    )
