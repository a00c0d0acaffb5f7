"""The matter catalog (事项目录): kinds of incident, who is competent, who handles them, how fast.

A category names a kind of incident (``street_vending``, 占道经营), the tier competent for it (a
town holds the devolved powers; the city keeps the rest), the team or department that handles it,
its priority, and one SLA span per stage on a working or natural clock. The catalog is a CSV file
people edit in a spreadsheet; :func:`parse_catalog` checks every row and reports every problem at
once, each with its row and column.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Self, TypeVar

from gridmgr.errors import CatalogError, RowProblem, UnknownCategoryError
from gridmgr.responsibility.sla import Clock, SlaError, Span, Stage, parse_clock, parse_span
from gridmgr.shipped import shipped_data_dir
from gridmgr.tablefiles import Table, read_table, write_table

CATALOG_COLUMNS = (
    "code",
    "name_zh",
    "name_en",
    "group",
    "competent_tier",
    "handler",
    "priority",
    "clock",
    "sign_within",
    "handle_within",
    "verify_within",
    "photo_required",
    "power_class",
    "keywords",
    "dup_distance_m",
    "dup_window",
    "dup_group",
)
"""The catalog file's columns, in the order they are written."""

OPTIONAL_COLUMNS = ("keywords", "dup_distance_m", "dup_window", "dup_group")
"""Columns a catalog file may leave out (empty cells take the defaults below)."""

DUP_DISTANCE_M = 100.0
"""Default duplicate search radius (metres): an open case this close may be the same matter."""
DUP_WINDOW = Span(3, "d")
"""Default duplicate time window (natural time before the new report)."""

DEPARTMENTS: Mapping[str, str] = {
    "cgj": "城市管理局",
    "scjg": "市场监督管理局",
    "sthj": "生态环境局",
    "yjgl": "应急管理局",
    "xfjy": "消防救援大队",
    "zjj": "住房和城乡建设局",
    "jtys": "交通运输局",
    "slj": "水利局",
    "gaj": "公安局",
    "zrzy": "自然资源和规划局",
    "wjw": "卫生健康委员会",
    "mzj": "民政局",
    "rsj": "人力资源和社会保障局",
    "sfj": "司法局",
    "swjt": "水务集团",
    "gdgs": "供电公司",
}
"""The reference city's department ids and Chinese names (pass as ``known_departments``)."""

_SPAN_COLUMNS = {
    Stage.SIGN: "sign_within",
    Stage.HANDLE: "handle_within",
    Stage.VERIFY: "verify_within",
}
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")
_DEPT_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
_T = TypeVar("_T")
_TRUE = {"yes", "y", "true", "1", "是"}
_FALSE = {"no", "n", "false", "0", "否"}


class _Labelled(enum.Enum):
    """An enum whose members have a Chinese label and parse from either form."""

    @property
    def label_zh(self) -> str:
        """The member's Chinese name."""
        return _LABELS[self.value]

    @classmethod
    def parse(cls, text: str, *, what: str) -> Self:
        """The member named by ``text`` (its value or Chinese label, any case)."""
        key = text.strip().lower()
        for member in cls:
            if key in (member.value, member.label_zh):
                return member
        allowed = ", ".join(f"{m.value} ({m.label_zh})" for m in cls)
        raise CatalogError(f"unknown {what} {text!r}; use one of: {allowed}")


class CategoryGroup(_Labelled):
    """The six groups categories are filed under."""

    CITY_APPEARANCE = "city_appearance"
    ENVIRONMENT = "environment"
    SAFETY_HAZARD = "safety_hazard"
    PUBLIC_FACILITIES = "public_facilities"
    DISPUTE = "dispute"
    LIVELIHOOD = "livelihood"


class Competence(_Labelled):
    """The tier competent for a matter: a town (devolved power) or the city."""

    TOWN = "town"
    CITY = "city"


class Priority(_Labelled):
    """How urgent a matter is; ``rank`` 1 is the most urgent."""

    URGENT = "urgent"
    HIGH = "high"
    NORMAL = "normal"
    LOW = "low"

    @property
    def rank(self) -> int:
        """1 (urgent) to 4 (low), for sorting.

        >>> sorted([Priority.LOW, Priority.URGENT], key=lambda p: p.rank)
        [<Priority.URGENT: 'urgent'>, <Priority.LOW: 'low'>]
        """
        return list(Priority).index(self) + 1


class PowerClass(_Labelled):
    """The class of administrative power a matter is exercised under."""

    PENALTY = "penalty"
    APPROVAL = "approval"
    INSPECTION = "inspection"
    ENFORCEMENT = "enforcement"
    SERVICE = "service"
    OTHER = "other"


_LABELS = {
    "city_appearance": "市容环境",
    "environment": "生态环境",
    "safety_hazard": "安全隐患",
    "public_facilities": "公共设施",
    "dispute": "矛盾纠纷",
    "livelihood": "民生诉求",
    "town": "镇街",
    "city": "市级",
    "urgent": "紧急",
    "high": "高",
    "normal": "一般",
    "low": "低",
    "penalty": "行政处罚",
    "approval": "行政许可",
    "inspection": "行政检查",
    "enforcement": "行政强制",
    "service": "公共服务",
    "other": "其他",
}


@dataclass(frozen=True)
class Handler:
    """Who handles a matter: the town's team, the city-level team, or a department."""

    kind: str
    department: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("town_team", "city_team", "department"):
            raise CatalogError(
                f"unknown handler kind {self.kind!r}; use town_team, city_team or department"
            )
        if (self.kind == "department") != (self.department is not None):
            raise CatalogError(
                "a department handler needs a department id; a team handler has none"
            )

    def __str__(self) -> str:
        return self.kind if self.department is None else f"dept:{self.department}"


def parse_handler(text: str) -> Handler:
    """Parse ``town_team``, ``city_team`` or ``dept:<id>``; raise :class:`CatalogError` otherwise.

    >>> parse_handler("dept:cgj"), str(parse_handler(" Town_Team "))
    (Handler(kind='department', department='cgj'), 'town_team')
    """
    value = text.strip().lower()
    if value in ("town_team", "city_team"):
        return Handler(value)
    if value.startswith("dept:"):
        department = value.removeprefix("dept:").strip()
        if _DEPT_RE.match(department):
            return Handler("department", department)
        raise CatalogError(
            f"bad department id {department!r} in handler {text!r}; "
            "use lowercase letters, digits and _, e.g. dept:cgj"
        )
    raise CatalogError(
        f"unknown handler {text!r}; use town_team, city_team or dept:<id> (dept:cgj)"
    )


@dataclass(frozen=True)
class StageSpans(Mapping[Stage, Span]):
    """The allowed span of each stage; a read-only, hashable mapping ``Stage -> Span``."""

    sign: Span
    handle: Span
    verify: Span

    def __getitem__(self, stage: Stage) -> Span:
        return {Stage.SIGN: self.sign, Stage.HANDLE: self.handle, Stage.VERIFY: self.verify}[stage]

    def __iter__(self) -> Iterator[Stage]:
        return iter(Stage)

    def __len__(self) -> int:
        return len(Stage)


@dataclass(frozen=True)
class Category:
    """One kind of matter in the catalog."""

    code: str
    name_zh: str
    name_en: str
    group: CategoryGroup
    competent_tier: Competence
    handler: Handler
    priority: Priority
    clock: Clock
    sla: StageSpans
    photo_required: bool
    power_class: PowerClass
    keywords: tuple[str, ...] = ()
    dup_distance_m: float = DUP_DISTANCE_M
    """How far (metres) an open case may be and still be a probable duplicate."""
    dup_window: Span = DUP_WINDOW
    """How long before a report (natural time) an open case may be and still be one."""
    dup_group: str = ""
    """Categories with the same non-empty group are related: their cases are candidates too."""

    @property
    def devolved(self) -> bool:
        """Whether the power is devolved to the towns (the competent tier is town)."""
        return self.competent_tier is Competence.TOWN


class Catalog:
    """The categories of one catalog file, in file order, looked up by code or Chinese name."""

    __slots__ = ("_by_code", "_by_name", "_categories", "source")

    def __init__(self, categories: Iterable[Category], *, source: str) -> None:
        self.source = source
        self._categories = tuple(categories)
        self._by_code = {c.code: c for c in self._categories}
        self._by_name = {c.name_zh: c for c in self._categories}
        if not self._categories:
            raise CatalogError(f"{source}: the catalog has no categories; add at least one row")
        for key, index in (("code", self._by_code), ("name_zh", self._by_name)):
            if len(index) != len(self._categories):
                values = [getattr(c, key) for c in self._categories]
                twice = sorted({v for v in values if values.count(v) > 1})
                raise CatalogError(f"{source}: {key} {', '.join(twice)} used twice; make it unique")

    def __len__(self) -> int:
        return len(self._categories)

    def __iter__(self) -> Iterator[Category]:
        return iter(self._categories)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __repr__(self) -> str:
        return f"Catalog(source={self.source!r}, {len(self)} categories)"

    @property
    def codes(self) -> tuple[str, ...]:
        """The category codes, in file order."""
        return tuple(self._by_code)

    def category(self, code: str) -> Category:
        """The category with this code or Chinese name (:class:`UnknownCategoryError` if none)."""
        key = code.strip()
        found = self._by_code.get(key.lower()) or self._by_name.get(key)
        if found is not None:
            return found
        candidates = [*self._by_code, *self._by_name]
        close = difflib.get_close_matches(key.lower(), candidates, n=3, cutoff=0.5)
        close += [
            c for c in difflib.get_close_matches(key, candidates, n=3, cutoff=0.5) if c not in close
        ]
        hint = f"did you mean {', '.join(close[:3])}? " if close else ""
        raise UnknownCategoryError(
            f"no category {code!r} in {self.source}; {hint}"
            "`gridmgr catalog check` lists every category code"
        )

    def groups(self) -> dict[CategoryGroup, int]:
        """Number of categories in each group (every group listed, in enum order)."""
        counts = dict.fromkeys(CategoryGroup, 0)
        for category in self._categories:
            counts[category.group] += 1
        return counts

    def related(self, code: str) -> tuple[str, ...]:
        """The category and those sharing its ``dup_group``: where its duplicates may be filed.

        >>> [c for c in read_catalog().related("street_vending")][:1]
        ['street_vending']
        """
        kind = self.category(code)
        if not kind.dup_group:
            return (kind.code,)
        return tuple(c.code for c in self._categories if c.dup_group == kind.dup_group)

    def departments(self) -> frozenset[str]:
        """The department ids that handle at least one category."""
        return frozenset(
            c.handler.department for c in self._categories if c.handler.department is not None
        )

    @property
    def checksum(self) -> str:
        """SHA-256 (hex) of the canonical rows: equal catalogs have equal checksums."""
        rows = [[row[c] for c in CATALOG_COLUMNS] for row in catalog_to_rows(self)]
        data = json.dumps([list(CATALOG_COLUMNS), rows], ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


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


def _row_to_category(
    reader: _RowReader, seen_codes: dict[str, int], seen_names: dict[str, int]
) -> Category | None:
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
        sla=StageSpans(sign, handle, verify),
        photo_required=photo,
        power_class=power,
        keywords=_parse_keywords(row.get("keywords", "")),
        dup_distance_m=dup_distance,
        dup_window=dup_window,
        dup_group=dup_group,
    )


def parse_catalog(table: Table, *, known_departments: Collection[str] | None = None) -> Catalog:
    """Check every row of a catalog table and build the :class:`Catalog`.

    Every problem is collected; if there is any, one :class:`CatalogError` is raised whose
    ``problems`` name each bad row and column. Department ids are checked against
    ``known_departments`` only when it is given (e.g. :data:`DEPARTMENTS`).

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


def catalog_to_rows(catalog: Catalog) -> list[dict[str, str]]:
    """The catalog as table rows in canonical form; :func:`parse_catalog` reads them back equal.

    >>> spans = StageSpans(parse_span("30m"), parse_span("4.0h"), parse_span("1D"))
    >>> gas = Category("gas_leak", "燃气泄漏隐患", "Gas leak", CategoryGroup.SAFETY_HAZARD,
    ...     Competence.CITY, parse_handler("dept:zjj"), Priority.URGENT, Clock.NATURAL, spans,
    ...     True, PowerClass.INSPECTION, ("燃气", "漏气"))
    >>> row = catalog_to_rows(Catalog([gas], source="x"))[0]
    >>> row["handler"], row["handle_within"], row["verify_within"], row["keywords"]
    ('dept:zjj', '4h', '1d', '燃气;漏气')
    """
    return [
        {
            "code": c.code,
            "name_zh": c.name_zh,
            "name_en": c.name_en,
            "group": c.group.value,
            "competent_tier": c.competent_tier.value,
            "handler": str(c.handler),
            "priority": c.priority.value,
            "clock": c.clock.value,
            "sign_within": str(c.sla[Stage.SIGN]),
            "handle_within": str(c.sla[Stage.HANDLE]),
            "verify_within": str(c.sla[Stage.VERIFY]),
            "photo_required": "yes" if c.photo_required else "no",
            "power_class": c.power_class.value,
            "keywords": ";".join(c.keywords),
            "dup_distance_m": f"{c.dup_distance_m:g}",
            "dup_window": str(c.dup_window),
            "dup_group": c.dup_group,
        }
        for c in catalog
    ]


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
