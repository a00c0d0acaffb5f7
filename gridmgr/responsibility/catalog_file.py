"""The catalog file: a CSV people edit in a spreadsheet, read into a :class:`Catalog`, written back.

:func:`parse_catalog` checks every row and reports every problem at once, each with its row and
column (:class:`~gridmgr.errors.RowProblem`); :func:`read_catalog` reads the shipped catalog or a
city's own, :func:`write_catalog` writes one in the canonical form of
:func:`~gridmgr.responsibility.catalog.catalog_to_rows`. Only the standard library and the table
reader are needed, so reading a catalog never pulls in the geospatial stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import TypeVar

from gridmgr.errors import CatalogError, RowProblem
from gridmgr.responsibility.catalog import (
    CATALOG_COLUMNS,
    COMMAND_SPAN,
    DEFAULT_TIER,
    DUP_DISTANCE_M,
    DUP_WINDOW,
    Catalog,
    Category,
    CategoryGroup,
    Competence,
    Handler,
    PowerClass,
    Priority,
    PublicationTier,
    StageSpans,
    catalog_to_rows,
    parse_handler,
)
from gridmgr.responsibility.sla import COMMAND_STAGES, SlaError, Span, parse_clock, parse_span
from gridmgr.shipped import shipped_data_dir
from gridmgr.tablefiles import Table, read_table, write_table

COMMAND_SPAN_COLUMNS = tuple(f"{stage.value}_within" for stage in COMMAND_STAGES)
"""The command center's stage spans (``register_within`` …): empty or absent, 30 minutes
(:data:`~gridmgr.responsibility.catalog.COMMAND_SPAN`)."""
OPTIONAL_COLUMNS = (
    "keywords",
    "dup_distance_m",
    "dup_window",
    "dup_group",
    *COMMAND_SPAN_COLUMNS,
    "power_code",
    "tier",
)
"""Columns a catalog file may leave out (empty cells take the defaults of the model, e.g.
:data:`~gridmgr.responsibility.catalog.DUP_DISTANCE_M`; an empty ``tier`` is
:data:`~gridmgr.responsibility.catalog.DEFAULT_TIER`, not published)."""

_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_POWER_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
_T = TypeVar("_T")
_TRUE = {"yes", "y", "true", "1", "是"}
_FALSE = {"no", "n", "false", "0", "否"}


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise CatalogError(
        f"cannot read {text!r} as yes or no; use yes/no (also 是/否, true/false, 1/0)"
    )


def _parse_distance(text: str) -> float:
    value = text.strip()
    if not value:
        return DUP_DISTANCE_M
    try:
        metres = float(value.removesuffix("m"))
    except ValueError:
        metres = float("nan")
    if not 0 < metres <= 5000:
        raise CatalogError(
            f"dup_distance_m {text!r} is not a distance; give metres between 1 and 5000, e.g. 100"
        )
    return metres


def _parse_command_span(text: str) -> Span:
    return parse_span(text) if text.strip() else COMMAND_SPAN


def _parse_window(text: str) -> Span:
    if not text.strip():
        return DUP_WINDOW
    span = parse_span(text)
    if span.unit == "m" and span.value < 1:
        raise CatalogError(f"dup_window {text!r} is too short; give e.g. 24h or 3d")
    return span


def _parse_group(text: str) -> str:
    value = text.strip().lower()
    if value and not _CODE_RE.match(value):
        raise CatalogError(
            f"dup_group {text!r}: use lowercase ASCII letters, digits and _, e.g. street_lights"
        )
    return value


def _parse_power_code(text: str) -> str:
    value = text.strip()
    if value and not _POWER_CODE_RE.match(value):
        raise CatalogError(
            f"power_code {text!r}: use the code of an item of the power catalog, e.g. CF0001"
        )
    return value


def _parse_tier(text: str) -> PublicationTier:
    if not text.strip():
        return DEFAULT_TIER
    return PublicationTier.parse(text, what="publication tier")


def _parse_keywords(text: str) -> tuple[str, ...]:
    words = (w.strip() for w in re.split(r"[;；]", text))
    return tuple(dict.fromkeys(w for w in words if w))


def _check_handler(
    handler: Handler, tier: Competence, known_departments: Collection[str] | None
) -> str | None:
    """Why ``handler`` cannot handle a matter of ``tier``, or ``None`` when it can."""
    needed = {"town_team": Competence.TOWN, "city_team": Competence.CITY}.get(handler.kind)
    if needed is not None and needed is not tier:
        team = "town_team" if tier is Competence.TOWN else "city_team"
        return (
            f"handler {handler} cannot handle a {tier.value}-tier matter; use {team} or a "
            f"dept:<id>, or set competent_tier to {needed.value}"
        )
    department = handler.department
    if (
        department is not None
        and known_departments is not None
        and department not in known_departments
    ):
        known = ", ".join(sorted(known_departments)) or "(none)"
        return f"unknown department {department!r}; known departments: {known}"
    return None


class _RowReader:
    """Parses the cells of one row, recording a problem for each cell that fails."""

    def __init__(
        self,
        source: str,
        number: int,
        row: Mapping[str, str],
        known_departments: Collection[str] | None,
    ) -> None:
        self.source, self.number, self.row = source, number, row
        self.known_departments = known_departments
        self.problems: list[RowProblem] = []

    def refuse(self, column: str | None, message: str) -> None:
        self.problems.append(RowProblem(self.source, self.number, column, message))

    def cell(self, column: str, parse: Callable[[str], _T]) -> _T | None:
        try:
            return parse(self.row.get(column, ""))
        except (CatalogError, SlaError) as exc:
            self.refuse(column, str(exc))
            return None


def _identity(
    reader: _RowReader, seen_codes: dict[str, int], seen_names: dict[str, int]
) -> tuple[str, str]:
    """The row's code and Chinese name, each refused when empty, malformed or used before."""
    row, number = reader.row, reader.number
    code, name_zh = row.get("code", ""), row.get("name_zh", "")
    if not code:
        reader.refuse("code", "empty code; give an ASCII slug such as street_vending")
    elif not _CODE_RE.match(code):
        reader.refuse(
            "code",
            f"bad code {code!r}; use lowercase ASCII letters, digits and _, starting with a "
            "letter, e.g. street_vending",
        )
    elif code in seen_codes:
        reader.refuse("code", f"code {code!r} is already used at row {seen_codes[code]}")
    else:
        seen_codes[code] = number
    if not name_zh:
        reader.refuse("name_zh", "empty Chinese name; give the matter's name, e.g. 占道经营")
    elif name_zh in seen_names:
        reader.refuse("name_zh", f"name {name_zh!r} is already used at row {seen_names[name_zh]}")
    else:
        seen_names[name_zh] = number
    return code, name_zh


def _row_to_category(
    reader: _RowReader, seen_codes: dict[str, int], seen_names: dict[str, int]
) -> Category | None:
    row = reader.row
    code, name_zh = _identity(reader, seen_codes, seen_names)
    group = reader.cell("group", lambda t: CategoryGroup.parse(t, what="group"))
    tier = reader.cell("competent_tier", lambda t: Competence.parse(t, what="competent tier"))
    handler = reader.cell("handler", parse_handler)
    priority = reader.cell("priority", lambda t: Priority.parse(t, what="priority"))
    clock = reader.cell("clock", parse_clock)
    sign = reader.cell("sign_within", parse_span)
    handle = reader.cell("handle_within", parse_span)
    verify = reader.cell("verify_within", parse_span)
    photo = reader.cell("photo_required", _parse_bool)
    power = reader.cell("power_class", lambda t: PowerClass.parse(t, what="power class"))
    dup_distance = reader.cell("dup_distance_m", _parse_distance)
    dup_window = reader.cell("dup_window", _parse_window)
    dup_group = reader.cell("dup_group", _parse_group)
    command = {
        column.removesuffix("_within"): reader.cell(column, _parse_command_span)
        for column in COMMAND_SPAN_COLUMNS
    }
    power_code = reader.cell("power_code", _parse_power_code)
    publication = reader.cell("tier", _parse_tier)
    if handler is not None and tier is not None:
        why = _check_handler(handler, tier, reader.known_departments)
        if why:
            reader.refuse("handler", why)
    if (
        reader.problems
        or group is None
        or tier is None
        or handler is None
        or priority is None
        or clock is None
        or sign is None
        or handle is None
        or verify is None
        or photo is None
        or power is None
        or dup_distance is None
        or dup_window is None
        or dup_group is None
        or None in command.values()
        or power_code is None
        or publication is None
    ):
        return None
    return Category(
        code=code,
        name_zh=name_zh,
        name_en=row.get("name_en", ""),
        group=group,
        competent_tier=tier,
        handler=handler,
        priority=priority,
        clock=clock,
        sla=StageSpans(sign, handle, verify, **command),  # type: ignore[arg-type]
        photo_required=photo,
        power_class=power,
        keywords=_parse_keywords(row.get("keywords", "")),
        dup_distance_m=dup_distance,
        dup_window=dup_window,
        dup_group=dup_group,
        power_code=power_code,
        tier=publication,
    )


def parse_catalog(table: Table, *, known_departments: Collection[str] | None = None) -> Catalog:
    """Check every row of a catalog table and build the :class:`Catalog`.

    Every problem is collected; if there is any, one :class:`CatalogError` is raised whose
    ``problems`` name each bad row and column. Department ids are checked against
    ``known_departments`` only when it is given (e.g. :data:`DEPARTMENTS`).

    >>> from gridmgr.responsibility.sla import Stage
    >>> from gridmgr.tablefiles import parse_table
    >>> text = ("code,name_zh,name_en,group,competent_tier,handler,priority,clock,sign_within,"
    ...         "handle_within,verify_within,photo_required,power_class,keywords\\n"
    ...         "street_vending,占道经营,Street vending,city_appearance,town,town_team,normal,"
    ...         "working,2h,1d,1d,yes,penalty,摆摊;占道\\n")
    >>> catalog = parse_catalog(parse_table(text, source="c.csv"))
    >>> catalog.category("占道经营").sla[Stage.HANDLE], catalog.category("street_vending").devolved
    (Span(value=1.0, unit='d'), True)
    >>> parse_catalog(parse_table(text.replace("town_team", "city_team"), source="c.csv"))
    Traceback (most recent call last):
    ...
    gridmgr.errors.CatalogError: c.csv: 1 problem(s); first: row 2 [handler]: handler city_team ...
    """
    source = table.source
    problems = [
        RowProblem(source, None, column, f"missing column {column!r}; the header must name it")
        for column in CATALOG_COLUMNS
        if column not in OPTIONAL_COLUMNS and column not in table.columns
    ]
    categories: list[Category] = []
    seen_codes: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    for number, row in () if problems else table.numbered():
        reader = _RowReader(source, number, row, known_departments)
        category = _row_to_category(reader, seen_codes, seen_names)
        problems.extend(reader.problems)
        if category is not None:
            categories.append(category)
    if not problems and not categories:
        problems.append(
            RowProblem(source, None, None, "no categories; add at least one row under the header")
        )
    if problems:
        first = problems[0]
        where = " ".join(
            [
                *([f"row {first.row}"] if first.row is not None else []),
                *([f"[{first.field}]"] if first.field else []),
            ]
        )
        message = f"{where}: {first.message}" if where else first.message
        raise CatalogError(f"{source}: {len(problems)} problem(s); first: {message}", problems)
    return Catalog(categories, source=source)


def default_catalog_path() -> Path:
    """The shipped catalog file."""
    return shipped_data_dir() / "catalog.csv"


def read_catalog(
    path: Path | None = None, *, known_departments: Collection[str] | None = None
) -> Catalog:
    """Read and check a catalog file (UTF-8 or GB18030 CSV); default: the shipped catalog."""
    required = [c for c in CATALOG_COLUMNS if c not in OPTIONAL_COLUMNS]
    table = read_table(path or default_catalog_path(), required=required, optional=OPTIONAL_COLUMNS)
    return parse_catalog(table, known_departments=known_departments)


def write_catalog(catalog: Catalog, path: Path) -> Path:
    """Write ``catalog`` to ``path`` as UTF-8 CSV with a byte order mark (opens in Excel)."""
    return write_table(path, CATALOG_COLUMNS, catalog_to_rows(catalog))
