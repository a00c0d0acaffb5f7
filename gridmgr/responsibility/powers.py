"""The power catalog (赋权清单): which power a matter is exercised under, held by whom, where, when.

A **power item** is one administrative power — an approval, a public service or a penalty — with
its legal basis and its default **holder**: one of the city's comprehensive enforcement teams
(``city_team``, the one covering the town), a department (``dept:<id>``), or the town's own team
(``town_team``). A **devolution** hands a power to the town teams of some towns (or of every
town, ``*``) from a date, and may end; a devolution for a named town beats one for every town.
Categories of the matter catalog name the power they are exercised under (``power_code``).

:meth:`PowerCatalog.holding` answers "which holder exercises power P in town X at time T", purely:
the files are read and written by :mod:`gridmgr.responsibility.powers_file`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime

from gridmgr.errors import PowerCatalogError, UnknownPowerError
from gridmgr.responsibility.catalog import Catalog, Handler, PowerClass
from gridmgr.responsibility.roster_files import format_time

POWER_CLASSES = (PowerClass.APPROVAL, PowerClass.SERVICE, PowerClass.PENALTY)
"""A power item's class: approval (行政许可), service (公共服务) or penalty (行政处罚)."""

ALL_TOWNS = "*"
"""The ``town`` of a devolution that applies to every town."""

POWER_COLUMNS = (
    "code",
    "name_zh",
    "power_class",
    "legal_basis",
    "holder",
    "valid_from",
    "valid_to",
)
"""The columns of ``powers.csv``, in order."""

DEVOLUTION_COLUMNS = ("power_code", "town", "holder", "valid_from", "valid_to")
"""The columns of ``devolution.csv``, in order."""


@dataclass(frozen=True)
class PowerItem:
    """One administrative power, held by ``holder`` unless devolved, in force ``[valid_from,
    valid_to)``."""

    code: str
    name_zh: str
    power_class: PowerClass
    legal_basis: str
    holder: Handler
    valid_from: datetime
    valid_to: datetime | None = None
    row: int | None = field(default=None, compare=False)

    def in_force(self, at: datetime) -> bool:
        """Whether the power exists at ``at``."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)


@dataclass(frozen=True)
class Devolution:
    """Power ``power_code`` held by ``holder`` (a town's team, usually) in ``town`` (a tier-1 code,
    or :data:`ALL_TOWNS`) for ``[valid_from, valid_to)``."""

    power_code: str
    town: str
    holder: Handler
    valid_from: datetime
    valid_to: datetime | None = None
    row: int | None = field(default=None, compare=False)

    def is_active(self, at: datetime) -> bool:
        """Whether the devolution holds at ``at``."""
        return self.valid_from <= at and (self.valid_to is None or at < self.valid_to)

    def overlaps(self, other: Devolution) -> bool:
        """Whether both periods share a moment."""
        ends_after = self.valid_to is None or other.valid_from < self.valid_to
        starts_before = other.valid_to is None or self.valid_from < other.valid_to
        return ends_after and starts_before


@dataclass(frozen=True)
class Holding:
    """Who exercises a power in a town at a time, and why."""

    item: PowerItem
    holder: Handler
    town: str | None
    devolution: Devolution | None
    reason: str

    @property
    def devolved(self) -> bool:
        """Whether a devolution (not the item's default holder) decided."""
        return self.devolution is not None


class PowerCatalog:
    """Power items and their devolutions, looked up by code; :meth:`holding` resolves them."""

    __slots__ = ("_by_code", "_devolutions", "_items", "devolutions", "source")

    def __init__(
        self, items: Iterable[PowerItem], devolutions: Iterable[Devolution] = (), *, source: str
    ) -> None:
        self.source = source
        self._items = tuple(items)
        self._by_code = {item.code: item for item in self._items}
        if len(self._by_code) != len(self._items):
            twice = sorted(c for c, n in Counter(i.code for i in self._items).items() if n > 1)
            raise PowerCatalogError(f"{source}: power code {', '.join(twice)} used twice")
        self.devolutions = tuple(devolutions)
        unknown = sorted({d.power_code for d in self.devolutions} - set(self._by_code))
        if unknown:
            raise PowerCatalogError(f"{source}: devolution of unknown power {', '.join(unknown)}")
        grouped: dict[tuple[str, str], list[Devolution]] = defaultdict(list)
        for devolution in self.devolutions:
            grouped[devolution.power_code, devolution.town].append(devolution)
        self._devolutions = {key: tuple(rows) for key, rows in grouped.items()}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[PowerItem]:
        return iter(self._items)

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __repr__(self) -> str:
        return f"PowerCatalog(source={self.source!r}, {len(self)} items)"

    def item(self, code: str) -> PowerItem:
        """The power item with this code (:class:`UnknownPowerError` if none)."""
        found = self._by_code.get(code.strip())
        if found is None:
            raise UnknownPowerError(
                f"no power {code!r} in {self.source}; `gridmgr powers check` lists the items"
            )
        return found

    def classes(self) -> dict[PowerClass, int]:
        """Number of items of each class (every allowed class listed)."""
        counts = dict.fromkeys(POWER_CLASSES, 0)
        for item in self._items:
            counts[item.power_class] += 1
        return counts

    def holding(self, code: str, *, town: str | None, at: datetime) -> Holding | None:
        """Who holds power ``code`` in ``town`` (a tier-1 code; ``None`` when unknown) at ``at``.

        ``None`` when the power is not in force at ``at``. A devolution to the town active at
        ``at`` decides first, then one to every town, then the item's default holder.

        >>> from gridmgr.responsibility.catalog import parse_handler
        >>> from gridmgr.responsibility.roster_files import parse_time
        >>> item = PowerItem("CF0001", "对占道经营的处罚", PowerClass.PENALTY, "《条例》第1条",
        ...     parse_handler("city_team"), parse_time("2020-01-01"))
        >>> town_a = Devolution("CF0001", "320281001", parse_handler("town_team"),
        ...     parse_time("2026-07-01"))
        >>> powers = PowerCatalog([item], [town_a], source="x")
        >>> str(powers.holding("CF0001", town="320281001", at=parse_time("2026-06-30")).holder)
        'city_team'
        >>> str(powers.holding("CF0001", town="320281001", at=parse_time("2026-07-01")).holder)
        'town_team'
        >>> str(powers.holding("CF0001", town="320281004", at=parse_time("2026-07-01")).holder)
        'city_team'
        """
        item = self.item(code)
        if not item.in_force(at):
            return None
        towns = (town, ALL_TOWNS) if town is not None else ()
        for place in towns:
            for devolution in self._devolutions.get((item.code, place), ()):
                if devolution.is_active(at):
                    where = "every town" if place == ALL_TOWNS else f"town {place}"
                    return Holding(
                        item,
                        devolution.holder,
                        town,
                        devolution,
                        f"power {item.code} ({item.name_zh}) devolved to {where} since "
                        f"{devolution.valid_from:%Y-%m-%d}: held by {devolution.holder}",
                    )
        where = "" if town is not None else " (no town: out of grid)"
        return Holding(
            item,
            item.holder,
            town,
            None,
            f"power {item.code} ({item.name_zh}) not devolved{where}: held by {item.holder}",
        )

    @property
    def checksum(self) -> str:
        """SHA-256 (hex) of the canonical rows of both tables."""
        data = json.dumps(
            [powers_to_rows(self), devolution_to_rows(self)],
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(data.encode("utf-8")).hexdigest()


def powers_to_rows(powers: PowerCatalog) -> list[dict[str, str]]:
    """The power items as ``powers.csv`` rows, in canonical form."""
    return [
        {
            "code": item.code,
            "name_zh": item.name_zh,
            "power_class": item.power_class.value,
            "legal_basis": item.legal_basis,
            "holder": str(item.holder),
            "valid_from": format_time(item.valid_from),
            "valid_to": format_time(item.valid_to),
        }
        for item in powers
    ]


def devolution_to_rows(powers: PowerCatalog) -> list[dict[str, str]]:
    """The devolutions as ``devolution.csv`` rows, in canonical form."""
    return [
        {
            "power_code": d.power_code,
            "town": d.town,
            "holder": str(d.holder),
            "valid_from": format_time(d.valid_from),
            "valid_to": format_time(d.valid_to),
        }
        for d in powers.devolutions
    ]


def unlinked_categories(catalog: Catalog, powers: PowerCatalog) -> list[str]:
    """Messages for categories naming a power code that ``powers`` does not have."""
    return [
        f"category {c.code} names power {c.power_code!r}, which {powers.source} does not have"
        for c in catalog
        if c.power_code and c.power_code not in powers
    ]
