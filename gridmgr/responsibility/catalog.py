"""The matter catalog (事项目录): kinds of incident, who is competent, who handles them, how fast.

A category names a kind of incident (``street_vending``, 占道经营), the tier competent for it (a
town holds the devolved powers; the city keeps the rest), the team or department that handles it,
its priority, and one SLA span per stage on a working or natural clock. This module is the model
and its lookups; the catalog is a CSV file people edit in a spreadsheet, read, checked and written
by :mod:`gridmgr.responsibility.catalog_file`. :func:`catalog_to_rows` is the canonical text form
of a catalog: the rows that file holds and what :attr:`Catalog.checksum` is taken over.
"""

from __future__ import annotations

import difflib
import enum
import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Self

from gridmgr.errors import CatalogError, UnknownCategoryError
from gridmgr.responsibility.sla import COMMAND_STAGES, Clock, Span, Stage

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
    "register_within",
    "dispatch_within",
    "close_within",
    "place_within",
    "triage_within",
    "power_code",
    "tier",
)
"""The columns of the canonical rows (:func:`catalog_to_rows`) and of the catalog file, in order."""

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

_DEPT_RE = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


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


class PublicationTier(_Labelled):
    """Who may read a category's cases outside the command center (see :mod:`gridmgr.privacy`).

    ``public``: anyone, coarsened and masked; ``restricted``: partner systems holding a
    ``partner`` api_key, in full; ``confidential``: nobody outside the staff in scope.
    """

    PUBLIC = "public"
    RESTRICTED = "restricted"
    CONFIDENTIAL = "confidential"


DEFAULT_TIER = PublicationTier.RESTRICTED
"""A category whose ``tier`` cell is empty is not published: privacy by default."""

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
    "public": "公开",
    "restricted": "受限",
    "confidential": "保密",
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


COMMAND_SPAN = Span(30, "m")
"""The default span of each command-center stage (立案, 派遣, 结案, 定位, 网格外): 30 minutes on the
category's clock — working minutes, or natural ones for matters on the natural clock."""


@dataclass(frozen=True)
class StageSpans(Mapping[Stage, Span]):
    """The allowed span of each stage; a read-only, hashable mapping ``Stage -> Span``.

    The field stages are given; the command center's default to :data:`COMMAND_SPAN`.

    >>> spans = StageSpans(Span(2, "h"), Span(1, "d"), Span(1, "d"))
    >>> str(spans[Stage.SIGN]), str(spans[Stage.REGISTER]), len(spans)
    ('2h', '30m', 8)
    """

    sign: Span
    handle: Span
    verify: Span
    register: Span = COMMAND_SPAN
    dispatch: Span = COMMAND_SPAN
    close: Span = COMMAND_SPAN
    place: Span = COMMAND_SPAN
    triage: Span = COMMAND_SPAN

    def __getitem__(self, stage: Stage) -> Span:
        span: Span = getattr(self, stage.value)
        return span

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
    power_code: str = ""
    """The item of the power catalog (赋权清单) the matter is exercised under; empty if none."""
    tier: PublicationTier = DEFAULT_TIER
    """Who may read its cases outside the command center (:class:`PublicationTier`)."""

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

        >>> from gridmgr.responsibility.catalog_file import read_catalog
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


def catalog_to_rows(catalog: Catalog) -> list[dict[str, str]]:
    """The catalog as table rows in canonical form (what the catalog file holds);
    :func:`~gridmgr.responsibility.catalog_file.parse_catalog` reads them back equal.

    >>> from gridmgr.responsibility.sla import parse_span
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
            **{f"{stage.value}_within": str(c.sla[stage]) for stage in COMMAND_STAGES},
            "photo_required": "yes" if c.photo_required else "no",
            "power_class": c.power_class.value,
            "keywords": ";".join(c.keywords),
            "dup_distance_m": f"{c.dup_distance_m:g}",
            "dup_window": str(c.dup_window),
            "dup_group": c.dup_group,
            "power_code": c.power_code,
            "tier": c.tier.value,
        }
        for c in catalog
    ]
