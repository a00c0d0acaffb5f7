"""The registry of inspection targets: enterprises and premises, located in cells, with risk.

A :class:`Target` has a location (WGS84, six decimals) and the tier-3 cell it falls in, an
industry, a risk class (A highest … D lowest) and the departments that supervise it. The
registry also carries each target's last inspection (date and officers), so the rule "never the
same officer twice running" is part of the published input of a draw.

The registry's identity is :func:`registry_hash`: a sha256 over its canonical rows, the same
whether it was generated, imported or read back from its published CSV.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gridmgr.errors import InvalidTableError, RowProblem
from gridmgr.grid.codes import code_length, code_to_tier, is_valid_code
from gridmgr.responsibility.catalog import DEPARTMENTS
from gridmgr.tablefiles import Table, formula_problems, read_table, write_table

if TYPE_CHECKING:
    from gridmgr.grid.model import Grid

RISK_CLASSES = ("A", "B", "C", "D")
"""Risk classes, highest first (A 高风险, B 较高风险, C 一般风险, D 低风险)."""

REGISTRY_COLUMNS = (
    "target_id",
    "name",
    "lon",
    "lat",
    "cell",
    "industry",
    "risk",
    "departments",
    "last_inspected_on",
    "last_inspected_by",
)
"""The registry CSV's columns; ``departments`` and ``last_inspected_by`` are ``;``-separated."""

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


class RegistryError(InvalidTableError):
    """A registry file is invalid; ``problems`` lists every bad row."""


@dataclass(frozen=True)
class Target:
    """One enterprise or premises under inspection."""

    target_id: str
    name: str
    lon: float
    lat: float
    cell: str
    industry: str
    risk: str
    departments: tuple[str, ...]
    last_inspected_on: date | None = None
    last_inspected_by: tuple[str, ...] = ()

    @property
    def town(self) -> str:
        """The tier-1 code of the target's cell."""
        return self.cell[: code_length(1)]

    def to_row(self) -> dict[str, str]:
        """The target as a CSV row of canonical text (what :func:`registry_hash` hashes)."""
        return {
            "target_id": self.target_id,
            "name": self.name,
            "lon": f"{self.lon:.6f}",
            "lat": f"{self.lat:.6f}",
            "cell": self.cell,
            "industry": self.industry,
            "risk": self.risk,
            "departments": ";".join(sorted(self.departments)),
            "last_inspected_on": ""
            if self.last_inspected_on is None
            else self.last_inspected_on.isoformat(),
            "last_inspected_by": ";".join(sorted(self.last_inspected_by)),
        }


class Registry:
    """Targets by id, in id order; read-only."""

    def __init__(self, targets: Iterable[Target], *, source: str = "") -> None:
        self.targets: dict[str, Target] = {
            t.target_id: t for t in sorted(targets, key=lambda t: t.target_id)
        }
        self.source = source

    def __len__(self) -> int:
        return len(self.targets)

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets.values())

    def __repr__(self) -> str:
        return f"<Registry {len(self)} targets {self.snapshot_hash[:12]}>"

    @cached_property
    def snapshot_hash(self) -> str:
        """:func:`registry_hash` of this registry."""
        return registry_hash(self)


def registry_hash(registry: Registry) -> str:
    """sha256 (hex) of the registry's canonical form.

    The canonical form is the UTF-8 bytes of the JSON array (no spaces, non-ASCII kept) of every
    target's row values in :data:`REGISTRY_COLUMNS` order, as strings (coordinates with six
    decimals), sorted by ``target_id``.

    >>> registry_hash(Registry([]))[:16]
    '4f53cda18c2baa0c'
    """
    digest = hashlib.sha256()
    digest.update(b"[")
    for i, target in enumerate(registry):
        row = target.to_row()
        if i:
            digest.update(b",")
        digest.update(
            json.dumps(
                [row[c] for c in REGISTRY_COLUMNS], ensure_ascii=False, separators=(",", ":")
            ).encode()
        )
    digest.update(b"]")
    return digest.hexdigest()


# -- synthetic default ----------------------------------------------------------------------

INDUSTRIES: Mapping[str, tuple[tuple[str, ...], tuple[float, float, float, float], float]] = {
    # industry: (supervising departments, P(risk A, B, C, D), share of the registry)
    "餐饮服务": (("scjg", "xfjy", "wjw"), (0.08, 0.22, 0.45, 0.25), 0.20),
    "批发零售": (("scjg",), (0.02, 0.10, 0.48, 0.40), 0.26),
    "食品生产": (("scjg", "sthj"), (0.15, 0.30, 0.40, 0.15), 0.04),
    "化工": (("yjgl", "sthj", "xfjy"), (0.35, 0.35, 0.20, 0.10), 0.03),
    "机械制造": (("yjgl", "sthj"), (0.10, 0.25, 0.45, 0.20), 0.12),
    "纺织服装": (("yjgl", "xfjy", "rsj"), (0.05, 0.20, 0.50, 0.25), 0.10),
    "建筑施工": (("zjj", "yjgl", "rsj"), (0.20, 0.30, 0.35, 0.15), 0.06),
    "交通物流": (("jtys", "xfjy"), (0.08, 0.22, 0.45, 0.25), 0.07),
    "医疗卫生": (("wjw", "scjg"), (0.12, 0.28, 0.40, 0.20), 0.03),
    "住宿娱乐": (("xfjy", "gaj", "wjw"), (0.10, 0.30, 0.40, 0.20), 0.05),
    "市政环卫": (("cgj", "sthj"), (0.05, 0.20, 0.50, 0.25), 0.04),
}
"""The synthetic registry's industries (departments are
:data:`gridmgr.responsibility.catalog.DEPARTMENTS`)."""

DEFAULT_TARGETS = 50_000
"""Jiangyin has over 50,000 registered enterprises."""

_SUFFIX = {
    "餐饮服务": "餐饮店",
    "批发零售": "商贸有限公司",
    "食品生产": "食品有限公司",
    "化工": "化工有限公司",
    "机械制造": "机械制造有限公司",
    "纺织服装": "纺织服装有限公司",
    "建筑施工": "建设工程有限公司",
    "交通物流": "物流有限公司",
    "医疗卫生": "诊所",
    "住宿娱乐": "酒店",
    "市政环卫": "环境服务有限公司",
}


def generate_registry(grid: Grid, *, n: int = DEFAULT_TARGETS, seed: int = 2026) -> Registry:
    """A synthetic registry of ``n`` targets over ``grid``; the same inputs give the same one.

    Each town gets a share growing with its area; within it, 70% of targets cluster around the
    town centre (Gaussian, σ ≈ 1.5 km) and the rest spread uniformly, so cells near town
    centres are denser. Names are synthetic (Faker ``zh_CN`` words, seeded).

    >>> from gridmgr.testing import tiny_grid
    >>> reg = generate_registry(tiny_grid(), n=200)
    >>> len(reg), sorted({t.risk for t in reg})
    (200, ['A', 'B', 'C', 'D'])
    """
    from faker import Faker

    rng = np.random.default_rng(seed)
    towns = grid.tier(1)
    areas = np.asarray(towns.to_crs(grid.meta.metric_crs).area, dtype=float)
    weights = areas * rng.uniform(0.6, 1.4, size=len(areas))
    counts = rng.multinomial(n, weights / weights.sum())
    town_codes = list(towns["code"])
    leaf_codes = np.asarray(grid.codes(3), dtype=object)
    lons: list[np.ndarray] = []
    lats: list[np.ndarray] = []
    leaves: list[np.ndarray] = []
    sigma = 1500.0 / 111_000.0
    for town, geom, count in zip(town_codes, towns.geometry.values, counts, strict=True):
        if count == 0:
            continue
        centre = geom.point_on_surface()
        x0, y0, x1, y1 = geom.bounds
        got_lon: list[np.ndarray] = []
        got_lat: list[np.ndarray] = []
        got_leaf: list[np.ndarray] = []
        have = 0
        while have < count:
            m = max(64, 3 * (count - have))
            clustered = rng.random(m) < 0.7
            lon = np.where(
                clustered, rng.normal(centre.x, sigma * 1.18, m), rng.uniform(x0, x1, m)
            ).round(6)
            lat = np.where(clustered, rng.normal(centre.y, sigma, m), rng.uniform(y0, y1, m)).round(
                6
            )
            leaf = grid.points_to_leaf_positions(lon, lat)
            inside = leaf >= 0
            inside[inside] = np.char.startswith(leaf_codes[leaf[inside]].astype(str), str(town))
            got_lon.append(lon[inside])
            got_lat.append(lat[inside])
            got_leaf.append(leaf[inside])
            have += int(inside.sum())
        lons.append(np.concatenate(got_lon)[:count])
        lats.append(np.concatenate(got_lat)[:count])
        leaves.append(np.concatenate(got_leaf)[:count])
    lon_all = np.concatenate(lons)
    lat_all = np.concatenate(lats)
    cell_all = leaf_codes[np.concatenate(leaves)]
    names = list(INDUSTRIES)
    shares = np.array([INDUSTRIES[k][2] for k in names])
    industry = rng.choice(len(names), size=n, p=shares / shares.sum())
    u = rng.random(n)
    risk_idx = np.empty(n, dtype=np.int64)
    for k, name in enumerate(names):
        cum = np.cumsum(INDUSTRIES[name][1])
        mask = industry == k
        risk_idx[mask] = np.minimum(np.searchsorted(cum / cum[-1], u[mask], side="right"), 3)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    words = sorted({fake.company_prefix() for _ in range(3000)})
    word_idx = rng.integers(0, len(words), size=n)
    targets = []
    for i in range(n):
        ind = names[int(industry[i])]
        targets.append(
            Target(
                target_id=f"T{i + 1:06d}",
                name=f"江阴市{words[int(word_idx[i])]}{_SUFFIX[ind]}",
                lon=float(lon_all[i]),
                lat=float(lat_all[i]),
                cell=str(cell_all[i]),
                industry=ind,
                risk=RISK_CLASSES[int(risk_idx[i])],
                departments=tuple(sorted(INDUSTRIES[ind][0])),
            )
        )
    return Registry(targets, source=f"synthetic registry (seed {seed}, {n} targets)")


# -- files ----------------------------------------------------------------------------------


def parse_registry(
    table: Table,
    *,
    grid: Grid | None = None,
    known_departments: Iterable[str] = DEPARTMENTS,
) -> Registry:
    """A :class:`Registry` from a table, or one :class:`RegistryError` listing every bad row.

    With ``grid``, each target is located from its coordinates and a ``cell`` column, when
    given, must agree; without it (verifying published files) the ``cell`` column is taken as
    written and must be a tier-3 code.
    """
    src = table.source
    problems: list[RowProblem] = []
    known = frozenset(known_departments)
    parsed: list[tuple[int, dict[str, object]]] = []
    coords: list[tuple[float, float]] = []
    seen: dict[str, int] = {}
    for row, values in table.numbered():
        bad = len(problems)
        # the registry is published byte for byte with a draw, so it cannot be neutralised
        problems += formula_problems(src, row, values)
        fields, point = _row_to_fields(
            src, row, values, problems, known=known, seen=seen, located=grid is not None
        )
        if len(problems) == bad:
            parsed.append((row, fields))
            coords.append(point)
    if grid is not None and parsed:
        problems.extend(_locate_targets(src, parsed, coords, grid))
    if problems:
        raise RegistryError(
            f"registry {src} refused: {len(problems)} problem(s); first: {problems[0]}", problems
        )
    return Registry((Target(**f) for _, f in parsed), source=src)  # type: ignore[arg-type]


def _row_to_fields(
    src: str,
    row: int,
    values: Mapping[str, str],
    problems: list[RowProblem],
    *,
    known: frozenset[str],
    seen: dict[str, int],
    located: bool,
) -> tuple[dict[str, object], tuple[float, float]]:
    """A target's fields from one row and its point as given, a problem appended to
    ``problems`` for each bad cell (the fields are then not usable); ``seen`` maps ids to their
    first row; ``located`` says the cells will be found from a grid."""

    def problem(column: str | None, message: str) -> None:
        problems.append(RowProblem(src, row, column, message))

    tid = values.get("target_id", "")
    if not _ID.match(tid):
        problem("target_id", f"{tid!r} is not an id: use letters, digits, '-', '_' or '.'")
    elif tid in seen:
        problem("target_id", f"{tid} already on row {seen[tid]}")
    else:
        seen[tid] = row
    if not values.get("name"):
        problem("name", "a target needs a name")
    lon = lat = float("nan")
    try:
        lon, lat = float(values.get("lon", "")), float(values.get("lat", ""))
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValueError
    except ValueError:
        problem("lon", f"({values.get('lon')!r}, {values.get('lat')!r}) is not a lon/lat pair")
    risk = values.get("risk", "").upper()
    if risk not in RISK_CLASSES:
        problem("risk", f"{values.get('risk')!r}: use one of {', '.join(RISK_CLASSES)}")
    depts = tuple(sorted({d.strip() for d in values.get("departments", "").split(";") if d}))
    if not depts:
        problem("departments", "name at least one supervising department (ids, ';'-separated)")
    unknown = [d for d in depts if d not in known]
    if unknown:
        problem("departments", f"unknown department(s) {', '.join(unknown)}")
    last_on = None
    if values.get("last_inspected_on"):
        try:
            last_on = date.fromisoformat(values["last_inspected_on"])
        except ValueError:
            problem("last_inspected_on", f"{values['last_inspected_on']!r}: write 2026-01-31")
    cell = values.get("cell", "")
    if cell and (not is_valid_code(cell) or code_to_tier(cell) != 3):
        problem("cell", f"{cell!r} is not a tier-3 cell code")
    elif not cell and not located:
        problem("cell", "the cell column is needed when no grid is given")
    inspectors = {o.strip() for o in values.get("last_inspected_by", "").split(";")} - {""}
    fields: dict[str, object] = {
        "target_id": tid,
        "name": values.get("name", ""),
        "lon": round(lon, 6),
        "lat": round(lat, 6),
        "cell": cell,
        "industry": values.get("industry", ""),
        "risk": risk,
        "departments": depts,
        "last_inspected_on": last_on,
        "last_inspected_by": tuple(sorted(inspectors)),
    }
    return fields, (lon, lat)


def _locate_targets(
    src: str,
    parsed: list[tuple[int, dict[str, object]]],
    coords: list[tuple[float, float]],
    grid: Grid,
) -> list[RowProblem]:
    """Set each target's ``cell`` to the tier-3 cell of its point (``coords``, as given); the
    problems of points outside the grid or in another cell than the row's ``cell`` column."""
    problems: list[RowProblem] = []
    lon_a = np.array([c[0] for c in coords])
    lat_a = np.array([c[1] for c in coords])
    located = grid.points_to_cells(lon_a, lat_a)["tier3"].tolist()
    for (row, fields), found in zip(parsed, located, strict=True):
        if found is None:
            problems.append(
                RowProblem(
                    src,
                    row,
                    "lon",
                    f"({fields['lon']}, {fields['lat']}) is outside "
                    "the grid; check the coordinates (WGS84, lon first)",
                )
            )
        elif fields["cell"] and fields["cell"] != found:
            problems.append(
                RowProblem(
                    src,
                    row,
                    "cell",
                    f"{fields['cell']} does not contain the point, "
                    f"which is in {found}; leave the cell empty to locate it",
                )
            )
        else:
            fields["cell"] = found
    return problems


def read_registry(path: Path, *, grid: Grid | None = None) -> Registry:
    """Read a registry CSV (see :func:`parse_registry`)."""
    table = read_table(
        path,
        required=("target_id", "name", "lon", "lat", "risk", "departments"),
        optional=("cell", "industry", "last_inspected_on", "last_inspected_by"),
    )
    return parse_registry(table, grid=grid)


def registry_to_rows(registry: Registry) -> list[dict[str, str]]:
    """The registry as canonical CSV rows."""
    return [t.to_row() for t in registry]


def write_registry(registry: Registry, path: Path) -> Path:
    """Write the registry as CSV (UTF-8 with BOM); reading it back gives the same hash.

    Written byte for byte (not neutralised): :func:`parse_registry` refuses formula-like text.
    """
    return write_table(path, REGISTRY_COLUMNS, registry_to_rows(registry), neutralise=False)


def registry_to_csv_text(registry: Registry) -> str:
    """The registry as CSV text (no byte-order mark), e.g. to store as a snapshot."""
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(REGISTRY_COLUMNS)
    for row in registry_to_rows(registry):
        writer.writerow([row[c] for c in REGISTRY_COLUMNS])
    return buffer.getvalue()


def registry_from_csv_text(text: str, *, source: str = "snapshot") -> Registry:
    """The registry of :func:`registry_to_csv_text` (cells taken as written)."""
    from gridmgr.tablefiles import parse_table

    return parse_registry(parse_table(text, source=source, required=REGISTRY_COLUMNS), grid=None)


def with_last_inspections(
    registry: Registry, inspections: Mapping[str, tuple[date, Sequence[str]]]
) -> Registry:
    """A copy of ``registry`` where each target in ``inspections`` (id → (date, officers))
    has that last inspection, when it is later than the one on record."""
    out = []
    for t in registry:
        got = inspections.get(t.target_id)
        if got is not None and (t.last_inspected_on is None or got[0] >= t.last_inspected_on):
            out.append(
                Target(
                    t.target_id,
                    t.name,
                    t.lon,
                    t.lat,
                    t.cell,
                    t.industry,
                    t.risk,
                    t.departments,
                    got[0],
                    tuple(sorted(set(got[1]))),
                )
            )
        else:
            out.append(t)
    return Registry(out, source=registry.source)
