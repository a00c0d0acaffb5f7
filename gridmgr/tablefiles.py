"""Table files: the CSV files people edit in a spreadsheet (roster, catalog, calendar overrides).

Reading keeps each row's spreadsheet row number (the header is row 1), so every problem found
later can name its row. Files written here open correctly in Excel and WPS: UTF-8 with a byte
order mark. Files read here may be UTF-8 (with or without the mark) or GB18030, the encoding a
Chinese-locale Excel uses when it saves "CSV".
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from gridmgr.errors import TableFileError

ENCODINGS = ("utf-8-sig", "gb18030")
"""Encodings tried, in order, when reading."""

MAX_BYTES = 64 * 1024 * 1024
"""A table file larger than this is refused (a roster of 100,000 people is about 10 MB)."""


@dataclass(frozen=True)
class Table:
    """The rows of one table file, each a mapping of column name to stripped text."""

    source: str
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, str], ...]
    row_numbers: tuple[int, ...]

    def numbered(self) -> Iterator[tuple[int, Mapping[str, str]]]:
        """(row number, row) pairs, in file order."""
        return iter(zip(self.row_numbers, self.rows, strict=True))

    def __len__(self) -> int:
        return len(self.rows)


def parse_table(
    text: str, *, source: str, required: Sequence[str] = (), optional: Sequence[str] = ()
) -> Table:
    """Parse CSV ``text``; blank lines and lines whose first cell starts with ``#`` are skipped.

    Column names are matched case-insensitively and stripped. A missing required column, an
    unknown column or a duplicated column raises :class:`TableFileError` naming it.

    >>> text = "code,name\\nA, 甲 \\n\\n# note\\nB,乙\\n"
    >>> t = parse_table(text, source="x.csv", required=["code", "name"])
    >>> [(n, dict(r)) for n, r in t.numbered()]
    [(2, {'code': 'A', 'name': '甲'}), (5, {'code': 'B', 'name': '乙'})]
    """
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    for values in reader:
        line = reader.line_num
        if not any(v.strip() for v in values) or values[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [v.strip().lower() for v in values]
            _check_header(header, source=source, required=required, optional=optional)
            continue
        if len(values) > len(header) and any(v.strip() for v in values[len(header) :]):
            raise TableFileError(
                f"{source} row {line}: {len(values)} cells but the header has {len(header)} "
                "columns; quote cells that contain commas"
            )
        cells = [v.strip() for v in values] + [""] * (len(header) - len(values))
        rows.append(dict(zip(header, cells, strict=False)))
        numbers.append(line)
    if header is None:
        raise TableFileError(
            f"{source} is empty; it needs a header row with: {', '.join(required) or 'columns'}"
        )
    return Table(source=source, columns=tuple(header), rows=tuple(rows), row_numbers=tuple(numbers))


def _check_header(
    header: list[str], *, source: str, required: Sequence[str], optional: Sequence[str]
) -> None:
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise TableFileError(f"{source}: column {name!r} appears twice in the header")
        seen.add(name)
    missing = [c for c in required if c not in seen]
    if missing:
        raise TableFileError(
            f"{source}: missing column(s) {', '.join(missing)}; the header must name "
            f"{', '.join(required)}" + (f" (optional: {', '.join(optional)})" if optional else "")
        )
    if required or optional:
        unknown = [c for c in header if c and c not in set(required) | set(optional)]
        if unknown:
            raise TableFileError(
                f"{source}: unknown column(s) {', '.join(unknown)}; allowed: "
                f"{', '.join([*required, *optional])}"
            )


def read_table(path: Path, *, required: Sequence[str] = (), optional: Sequence[str] = ()) -> Table:
    """Read a CSV table file; see :func:`parse_table`."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise TableFileError(f"{path} is {size} bytes; table files are limited to {MAX_BYTES}")
        data = path.read_bytes()
    except FileNotFoundError:
        raise TableFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise TableFileError(f"{path} is a folder; expected a .csv file") from None
    except PermissionError:
        raise TableFileError(f"{path}: permission denied") from None
    if b"\x00" in data[:4096]:
        raise TableFileError(f"{path} is not a text file; save it as CSV (UTF-8)")
    for encoding in ENCODINGS:
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes nearly any byte string
        raise TableFileError(f"{path} is neither UTF-8 nor GB18030 text; save it as CSV (UTF-8)")
    try:
        return parse_table(text, source=path.name, required=required, optional=optional)
    except csv.Error as exc:
        raise TableFileError(f"{path} is not valid CSV: {exc}") from None


def write_table(path: Path, columns: Sequence[str], rows: Iterable[Mapping[str, object]]) -> Path:
    """Write ``rows`` under ``columns`` as UTF-8 CSV with a byte order mark (opens in Excel)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else str(row.get(c)) for c in columns])
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8-sig")
        tmp.replace(path)
    except PermissionError:
        msg = f"cannot write {path}: permission denied; choose another folder"
        raise TableFileError(msg) from None
    except OSError as exc:
        raise TableFileError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path
