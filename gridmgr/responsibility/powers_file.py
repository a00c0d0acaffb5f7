"""The power catalog's files: ``powers.csv`` and ``devolution.csv`` in one folder, read and written.

:func:`parse_powers` checks every row of both tables and reports every problem at once, each with
its file, row and column (:class:`~gridmgr.errors.RowProblem`); :func:`read_powers` reads the
shipped synthetic catalog or a city's own folder, :func:`write_powers` writes one in the
canonical form of :func:`~gridmgr.responsibility.powers.powers_to_rows`. The format is documented
in ``data/powers/README.md``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from gridmgr.errors import CatalogError, PowerCatalogError, RowProblem, TimeError
from gridmgr.grid.codes import code_to_tier, is_valid_code
from gridmgr.responsibility.catalog import Handler, PowerClass, parse_handler
from gridmgr.responsibility.powers import (
    ALL_TOWNS,
    DEVOLUTION_COLUMNS,
    POWER_CLASSES,
    POWER_COLUMNS,
    Devolution,
    PowerCatalog,
    PowerItem,
    devolution_to_rows,
    powers_to_rows,
)
from gridmgr.responsibility.roster_files import parse_time
from gridmgr.shipped import shipped_data_dir
from gridmgr.tablefiles import Table, read_table, write_table

POWERS_FILE = "powers.csv"
DEVOLUTION_FILE = "devolution.csv"
OPTIONAL_POWER_COLUMNS = ("valid_to",)
OPTIONAL_DEVOLUTION_COLUMNS = ("holder", "valid_to")
"""An empty ``holder`` of a devolution is ``town_team``; an empty ``valid_to`` is open-ended."""

_POWER_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_T = TypeVar("_T")


class _Row:
    """Parses the cells of one row, recording a problem for each cell that fails."""

    def __init__(
        self, source: str, number: int, row: Mapping[str, str], problems: list[RowProblem]
    ) -> None:
        self.source, self.number, self.row, self.problems = source, number, row, problems
        self.ok = True

    def refuse(self, column: str | None, message: str) -> None:
        self.ok = False
        self.problems.append(RowProblem(self.source, self.number, column, message))

    def cell(self, column: str, parse: Callable[[str], _T]) -> _T | None:
        try:
            return parse(self.row.get(column, ""))
        except (CatalogError, TimeError) as exc:
            self.refuse(column, str(exc))
            return None

    def period(self) -> tuple[datetime, datetime | None] | None:
        start = self.cell("valid_from", _parse_start)
        end = self.cell("valid_to", _parse_end)
        if start is not None and end is not None and end <= start:
            self.refuse("valid_to", f"valid_to {end:%Y-%m-%d} is not after valid_from")
            return None
        return None if start is None or not self.ok else (start, end)


def _parse_start(text: str) -> datetime:
    if not text.strip():
        raise TimeError("empty valid_from; give the date the row takes effect, e.g. 2024-01-01")
    return parse_time(text)


def _parse_end(text: str) -> datetime | None:
    return parse_time(text) if text.strip() else None


def _parse_class(text: str) -> PowerClass:
    power_class = PowerClass.parse(text, what="power class")
    if power_class not in POWER_CLASSES:
        allowed = ", ".join(f"{c.value} ({c.label_zh})" for c in POWER_CLASSES)
        raise CatalogError(f"power class {text!r} is not one of the catalog's: {allowed}")
    return power_class


def _parse_devolution_holder(text: str) -> Handler:
    return parse_handler(text) if text.strip() else Handler("town_team")


def _parse_items(table: Table, problems: list[RowProblem]) -> list[PowerItem]:
    items: list[PowerItem] = []
    seen: dict[str, int] = {}
    for number, row in table.numbered():
        reader = _Row(table.source, number, row, problems)
        code = row.get("code", "")
        if not _POWER_CODE_RE.match(code):
            reader.refuse("code", f"bad power code {code!r}; use letters, digits, _ . -: CF0001")
        elif code in seen:
            reader.refuse("code", f"power code {code!r} is already used at row {seen[code]}")
        else:
            seen[code] = number
        for column in ("name_zh", "legal_basis"):
            if not row.get(column, ""):
                reader.refuse(column, f"empty {column}; every power item needs one")
        power_class = reader.cell("power_class", _parse_class)
        holder = reader.cell("holder", parse_handler)
        period = reader.period()
        if reader.ok and power_class is not None and holder is not None and period is not None:
            items.append(
                PowerItem(
                    code,
                    row["name_zh"],
                    power_class,
                    row["legal_basis"],
                    holder,
                    period[0],
                    period[1],
                    row=number,
                )
            )
    return items


def _parse_devolutions(
    table: Table,
    problems: list[RowProblem],
    known: Collection[str],
    towns: Collection[str] | None,
) -> list[Devolution]:
    out: list[Devolution] = []
    for number, row in table.numbered():
        reader = _Row(table.source, number, row, problems)
        code, town = row.get("power_code", ""), row.get("town", "")
        if code not in known:
            reader.refuse("power_code", f"no power {code!r} in {POWERS_FILE}")
        if town != ALL_TOWNS and not (is_valid_code(town) and code_to_tier(town) == 1):
            reader.refuse("town", f"town {town!r}: give a tier-1 cell code (320281001) or *")
        elif town != ALL_TOWNS and towns is not None and town not in towns:
            reader.refuse("town", f"no town {town} in the grid; `gridmgr grid info` lists them")
        holder = reader.cell("holder", _parse_devolution_holder)
        period = reader.period()
        if reader.ok and holder is not None and period is not None:
            devolution = Devolution(code, town, holder, period[0], period[1], row=number)
            clash = next(
                (
                    d
                    for d in out
                    if (d.power_code, d.town) == (code, town) and d.overlaps(devolution)
                ),
                None,
            )
            if clash is not None:
                reader.refuse(None, f"overlaps row {clash.row}: {code} in {town} at the same time")
            else:
                out.append(devolution)
    return out


def parse_powers(
    items: Table, devolutions: Table, *, towns: Collection[str] | None = None
) -> PowerCatalog:
    """Check both tables and build the :class:`PowerCatalog`, or raise one
    :class:`~gridmgr.errors.PowerCatalogError` whose ``problems`` name every bad row.

    ``towns`` (tier-1 codes of the grid), when given, refuses devolutions to other towns.

    >>> from gridmgr.tablefiles import parse_table
    >>> items = parse_table("code,name_zh,power_class,legal_basis,holder,valid_from\\n"
    ...     "CF0001,对占道经营的处罚,penalty,《条例》第1条,city_team,2020-01-01\\n", source="p.csv")
    >>> towns = parse_table("power_code,town,valid_from\\nCF0001,320281001,2026-07-01\\n"
    ...     "CF9999,*,2026-07-01\\n", source="d.csv")
    >>> parse_powers(items, towns)
    Traceback (most recent call last):
    ...
    gridmgr.errors.PowerCatalogError: power catalog refused: 1 problem(s); first: d.csv row 3 ...
    """
    problems: list[RowProblem] = []
    parsed = _parse_items(items, problems)
    known = {item.code for item in parsed} | {
        row.get("code", "") for row in items.rows
    }  # a bad item row is reported once, not again for each of its devolutions
    parsed_devolutions = _parse_devolutions(devolutions, problems, known, towns)
    if not problems and not parsed:
        problems.append(RowProblem(items.source, None, None, "no power items; add rows"))
    if problems:
        raise PowerCatalogError(
            f"power catalog refused: {len(problems)} problem(s); first: {problems[0]}", problems
        )
    return PowerCatalog(parsed, parsed_devolutions, source=items.source)


def default_powers_dir() -> Path:
    """The shipped synthetic power catalog (890 items)."""
    return shipped_data_dir() / "powers"


def read_powers(
    folder: Path | None = None, *, towns: Collection[str] | None = None
) -> PowerCatalog:
    """Read and check a power catalog folder (default: the shipped one)."""
    where = folder or default_powers_dir()
    required = [c for c in POWER_COLUMNS if c not in OPTIONAL_POWER_COLUMNS]
    items = read_table(where / POWERS_FILE, required=required, optional=OPTIONAL_POWER_COLUMNS)
    devolution_path = where / DEVOLUTION_FILE
    devolutions = (
        read_table(
            devolution_path,
            required=[c for c in DEVOLUTION_COLUMNS if c not in OPTIONAL_DEVOLUTION_COLUMNS],
            optional=OPTIONAL_DEVOLUTION_COLUMNS,
        )
        if devolution_path.exists()
        else Table(DEVOLUTION_FILE, DEVOLUTION_COLUMNS, (), ())
    )
    powers = parse_powers(items, devolutions, towns=towns)
    powers.source = str(where.name) + "/" + POWERS_FILE
    return powers


def write_powers(powers: PowerCatalog, folder: Path) -> Path:
    """Write ``powers`` as ``powers.csv`` and ``devolution.csv`` (UTF-8 with BOM) in ``folder``."""
    write_table(folder / POWERS_FILE, POWER_COLUMNS, powers_to_rows(powers))
    write_table(folder / DEVOLUTION_FILE, DEVOLUTION_COLUMNS, devolution_to_rows(powers))
    return folder
