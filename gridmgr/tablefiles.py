"""Table files: the CSV files people edit in a spreadsheet (roster, catalog, calendar overrides).

Reading keeps each row's spreadsheet row number (the header is row 1), so every problem found
later can name its row. Files written here open correctly in Excel and WPS: UTF-8 with a byte
order mark. Files read here may be UTF-8 (with or without the mark) or GB18030, the encoding a
Chinese-locale Excel uses when it saves "CSV".

Written text cells that a spreadsheet would run as a formula (starting ``=``, ``+``, ``-``, ``@``,
TAB or CR) are prefixed with ``'`` (OWASP's CSV-injection rule, :func:`neutralise_cell`); reading
removes that one added ``'`` again (:func:`restore_cell`), so an exported file re-imports as it was.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gridmgr.errors import RowProblem, TableFileError

if TYPE_CHECKING:
    import pandas as pd

ENCODINGS = ("utf-8-sig", "gb18030")
"""Encodings tried, in order, when reading."""

MAX_BYTES = 64 * 1024 * 1024
"""A table file larger than this is refused (a roster of 100,000 people is about 10 MB)."""

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""A cell starting with one of these is run as a formula by Excel, WPS or LibreOffice."""

_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook is one)",
    b"PK\x05\x06": "a ZIP archive",
    b"\xd0\xcf\x11\xe0": "an old Excel (.xls) workbook",
    b"%PDF": "a PDF document",
    b"\x1f\x8b": "a gzip archive",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"SQLite format 3": "a SQLite database",
}


def is_formula_like(text: str) -> bool:
    """Whether a spreadsheet would run ``text`` as a formula (a plain number is not one).

    >>> [is_formula_like(t) for t in ("=1+1", "@SUM(A1)", "-3.5", "-2+3", "A=B", "")]
    [True, True, False, True, False, False]
    """
    return text.startswith(FORMULA_STARTS) and not _NUMBER.match(text)


def neutralise_cell(value: object) -> object:
    """``value`` made safe for a spreadsheet: formula-like text gets a leading ``'``.

    Numbers and other non-text values are returned unchanged, so numeric columns stay numeric.

    >>> neutralise_cell("=1+1"), neutralise_cell(-3.5), neutralise_cell("-3.5")
    ("'=1+1", -3.5, '-3.5')
    """
    if isinstance(value, str) and is_formula_like(value):
        return "'" + value
    return value


def restore_cell(text: str) -> str:
    """The cell :func:`neutralise_cell` was given: one leading ``'`` before a formula start removed.

    >>> restore_cell("'=1+1"), restore_cell("'quoted"), restore_cell("=1+1")
    ('=1+1', "'quoted", '=1+1')
    """
    if text.startswith("'") and is_formula_like(text[1:]):
        return text[1:]
    return text


def formula_problems(source: str, row: int, values: Mapping[str, str]) -> list[RowProblem]:
    """A problem for each formula-like cell of a row, for files whose published bytes are
    verified and so cannot be neutralised (a draw's registry and pool).

    >>> [str(p) for p in formula_problems("r.csv", 2, {"name": "=1+1", "lon": "-3.5"})]
    ["r.csv row 2 [name]: '=1+1' starts with '=', which a spreadsheet runs as a formula; remove it"]
    """
    return [
        RowProblem(
            source,
            row,
            column,
            f"{text!r} starts with {text[0]!r}, which a spreadsheet runs as a formula; remove it",
        )
        for column, text in values.items()
        if is_formula_like(text)
    ]


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text columns are neutralised (numeric columns are untouched)."""
    from pandas.api.types import is_string_dtype

    out = frame.copy()
    for column in out.columns:
        if is_string_dtype(out[column]):
            out[column] = out[column].map(neutralise_cell)
    return out


def sniff_text(data: bytes, *, source: str) -> None:
    """Refuse bytes that are not a text file (an archive, a workbook, an image, NUL bytes)."""
    for magic, kind in _BINARY_MAGIC.items():
        if data.startswith(magic):
            raise TableFileError(
                f"{source} is {kind}, not a text file; save it as CSV (UTF-8) and import that"
            )
    if b"\x00" in data[:65536]:
        raise TableFileError(
            f"{source} is not a text file (it holds NUL bytes); save it as CSV (UTF-8)"
        )


def read_limited(
    path: Path, *, max_bytes: int = MAX_BYTES, fix: str = "split it into smaller files"
) -> bytes:
    """The bytes of ``path``, refused (:class:`TableFileError`) when larger than ``max_bytes``,
    missing, unreadable or not text (see :func:`sniff_text`)."""
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise TableFileError(
                f"{path.name} is {size / 1e6:.1f} MB; files are limited to "
                f"{max_bytes / 1e6:.1f} MB; {fix}"
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise TableFileError(f"{path} does not exist") from None
    except IsADirectoryError:
        raise TableFileError(f"{path} is a folder; expected a file") from None
    except PermissionError:
        raise TableFileError(f"{path}: permission denied") from None
    sniff_text(data, source=path.name)
    return data


def decode_text(data: bytes, *, source: str) -> str:
    """``data`` decoded with the first of :data:`ENCODINGS` that fits."""
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    # gb18030 decodes nearly any byte string
    raise TableFileError(f"{source} is neither UTF-8 nor GB18030 text; save it as CSV (UTF-8)")


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
    unknown column or a duplicated column raises :class:`TableFileError` naming it, and so does
    text that is not CSV (with its row). Cells go through :func:`restore_cell`.

    >>> text = "code,name\\nA, 甲 \\n\\n# note\\nB,乙\\n"
    >>> t = parse_table(text, source="x.csv", required=["code", "name"])
    >>> [(n, dict(r)) for n, r in t.numbered()]
    [(2, {'code': 'A', 'name': '甲'}), (5, {'code': 'B', 'name': '乙'})]
    """
    reader = csv.reader(io.StringIO(text))
    header: list[str] | None = None
    rows: list[dict[str, str]] = []
    numbers: list[int] = []
    for line, values in _read_rows(reader, source=source):
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
        cells = [restore_cell(v.strip()) for v in values] + [""] * (len(header) - len(values))
        rows.append(dict(zip(header, cells, strict=False)))
        numbers.append(line)
    if header is None:
        raise TableFileError(
            f"{source} is empty; it needs a header row with: {', '.join(required) or 'columns'}"
        )
    return Table(source=source, columns=tuple(header), rows=tuple(rows), row_numbers=tuple(numbers))


def _read_rows(reader: Any, *, source: str) -> Iterator[tuple[int, list[str]]]:
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # e.g. a cell larger than csv.field_size_limit(), or a NUL byte
            raise TableFileError(
                f"{source} row {reader.line_num}: not valid CSV ({exc}); save it as CSV (UTF-8)"
            ) from None
        yield reader.line_num, values


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
    """Read a CSV table file; see :func:`parse_table` and :func:`read_limited`."""
    text = decode_text(read_limited(path), source=path.name)
    return parse_table(text, source=path.name, required=required, optional=optional)


def write_table(
    path: Path,
    columns: Sequence[str],
    rows: Iterable[Mapping[str, object]],
    *,
    neutralise: bool = True,
) -> Path:
    """Write ``rows`` under ``columns`` as UTF-8 CSV with a byte order mark (opens in Excel).

    Formula-like text cells are neutralised (:func:`neutralise_cell`). ``neutralise=False`` is
    for files whose bytes are verified (a draw's published registry and pool): their importers
    refuse formula-like text instead.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        values = [row.get(c) for c in columns]
        if neutralise:
            values = [neutralise_cell(v) for v in values]
        writer.writerow(["" if v is None else str(v) for v in values])
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
