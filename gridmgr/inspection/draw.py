"""The draw: targets and officers chosen at random, reproducibly, from committed inputs.

Commit, draw, reveal
--------------------
1. A 32-byte **seed** is made and kept secret; its **commitment** ``sha256(seed)`` (hex) is
   published and ledgered, with the plan hash and the registry and pool snapshot hashes.
2. The draw is run: a pure function of (plan, registry, pool, seed) — :func:`run_draw`.
3. The seed is revealed. Anyone re-runs the draw from the published plan JSON, registry CSV,
   pool CSV and seed (:func:`verify_draw`, ``gridmgr inspect verify-draw``) and gets the same
   result hash, or is told which input differs.

Randomness (byte format, to re-implement elsewhere)
---------------------------------------------------
``key = HMAC-SHA256(key=seed, msg=b"gridmgr-inspection-draw/v1\\n" + P + b"\\n" + R + b"\\n" + O)``
where ``seed`` is the 32 raw seed bytes and ``P``, ``R``, ``O`` are the plan, registry and pool
hashes as lowercase hex ASCII. Every random choice uses a **label** ``L`` (ASCII text, fields
joined with ``|``) and its value ``u(L) = HMAC-SHA256(key, L)``, compared as 32-byte big-endian
unsigned integers (i.e. bytewise):

* **targets** — for each plan department ``d`` and risk class ``r``, the population is the
  registry's targets supervised by ``d`` (in the plan's towns, if any) of class ``r``; the
  ``n = floor(ratio_r × N + 1/2)`` targets with the smallest ``u("select|d|r|target_id")`` are
  drawn (a uniform sample without replacement). A **joint** plan draws once per risk class
  instead, with ``d`` = ``joint``, from the targets supervised by any plan department; each
  drawn target is drawn for all plan departments that supervise it;
* **bundling** — each drawn target gets one visit carrying the items of every department that
  drew it; visits are numbered 1, 2, … in target-id order;
* **officers** — visits are staffed in increasing ``u("visit|target_id")``. A visit has one slot
  per department, in department-id order, then further slots (any of its departments) up to
  ``officers_per_visit``. A slot takes, among the officers of its department(s) who act in the
  target's town, have no conflict (:func:`~gridmgr.inspection.pool.conflicts_of`), are not on
  the visit yet and are below their ``max_visits``, the one with the fewest visits so far, ties
  broken by the smallest ``u("officer|target_id|officer_id")``. A slot nobody can fill is
  reported in ``unstaffed``.

The **result hash** is the sha256 of the UTF-8 canonical JSON (sorted keys, no spaces,
non-ASCII kept) of :meth:`DrawResult.to_dict` without ``result_hash``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gridmgr.inspection import DrawError, VerificationError, json_sha256
from gridmgr.inspection.plan import Plan, plan_hash, sample_size
from gridmgr.inspection.pool import Officer, Pool, conflicts_of
from gridmgr.inspection.registry import RISK_CLASSES, Registry, Target

DOMAIN = b"gridmgr-inspection-draw/v1\n"
JOINT = "joint"
"""The stratum name of a joint plan's single draw (department ids are never this)."""
_SEED = re.compile(r"^[0-9a-f]{64}$")


def parse_seed(text: str) -> bytes:
    """The 32 seed bytes of a 64-hex-digit seed text (surrounding blanks ignored).

    >>> len(parse_seed("00" * 32))
    32
    """
    value = text.strip().lower()
    if not _SEED.match(value):
        raise DrawError(
            "a seed is 64 hexadecimal digits (32 bytes); use the file `inspect draw commit` wrote"
        )
    return bytes.fromhex(value)


def commitment_of(seed: str) -> str:
    """The public commitment of a seed: ``sha256(seed bytes)`` in hex.

    >>> commitment_of("00" * 32)[:16]
    '66687aadf862bd77'
    """
    return hashlib.sha256(parse_seed(seed)).hexdigest()


def draw_key(seed: str, plan_digest: str, registry_digest: str, pool_digest: str) -> bytes:
    """The draw's HMAC key (see the module docstring)."""
    message = DOMAIN + "\n".join((plan_digest, registry_digest, pool_digest)).encode("ascii")
    return hmac.new(parse_seed(seed), message, hashlib.sha256).digest()


def _u(key: bytes, label: str) -> bytes:
    return hmac.new(key, label.encode("ascii"), hashlib.sha256).digest()


@dataclass(frozen=True)
class Visit:
    """One (joint) visit: a target, the departments and items checked, and the officers."""

    visit_no: int
    target_id: str
    departments: tuple[str, ...]
    items: tuple[tuple[str, str], ...]
    officers: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "visit_no": self.visit_no,
            "target_id": self.target_id,
            "departments": list(self.departments),
            "items": [list(i) for i in self.items],
            "officers": list(self.officers),
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Visit:
        return cls(
            int(value["visit_no"]),
            str(value["target_id"]),
            tuple(value["departments"]),
            tuple((str(d), str(i)) for d, i in value["items"]),
            tuple(value["officers"]),
        )


@dataclass(frozen=True)
class DrawResult:
    """What a draw chose, and from which inputs."""

    plan_hash: str
    registry_hash: str
    pool_hash: str
    commitment: str
    strata: Mapping[str, Mapping[str, tuple[int, int]]]
    """department (or :data:`JOINT`) → risk → (population, drawn)."""
    visits: tuple[Visit, ...]
    unstaffed: tuple[tuple[int, str], ...] = ()
    """(visit number, which slot could not be filled)."""
    result_hash: str = field(default="")

    @property
    def department_visits(self) -> int:
        """Visits the departments would make without bundling (one per drawn department)."""
        return sum(len(v.departments) for v in self.visits)

    @property
    def visits_saved(self) -> int:
        """Visits bundling saved: department visits minus joint visits."""
        return self.department_visits - len(self.visits)

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "format": "gridmgr-inspection-draw/v1",
            "plan_hash": self.plan_hash,
            "registry_hash": self.registry_hash,
            "pool_hash": self.pool_hash,
            "commitment": self.commitment,
            "strata": {
                d: {r: list(v) for r, v in sorted(rs.items())}
                for d, rs in sorted(self.strata.items())
            },
            "visits": [v.to_dict() for v in self.visits],
            "unstaffed": [list(u) for u in self.unstaffed],
            "visits_saved": self.visits_saved,
        }
        if self.result_hash:
            body["result_hash"] = self.result_hash
        return body

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> DrawResult:
        """A result from its published JSON value (as :meth:`to_dict` wrote it)."""
        try:
            return cls(
                str(value["plan_hash"]),
                str(value["registry_hash"]),
                str(value["pool_hash"]),
                str(value["commitment"]),
                {
                    d: {r: (int(v[0]), int(v[1])) for r, v in rs.items()}
                    for d, rs in value["strata"].items()
                },
                tuple(Visit.from_dict(v) for v in value["visits"]),
                tuple((int(n), str(s)) for n, s in value.get("unstaffed", [])),
                str(value.get("result_hash", "")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DrawError(f"not a published draw result: {type(exc).__name__} {exc}") from None


def result_hash_of(result: DrawResult) -> str:
    """sha256 (hex) of the result's canonical JSON, ``result_hash`` left out."""
    body = result.to_dict()
    body.pop("result_hash", None)
    return json_sha256(body)


def select_targets(
    plan: Plan, registry: Registry, key: bytes
) -> tuple[dict[str, list[str]], dict[str, dict[str, tuple[int, int]]]]:
    """Stratified random selection: (target id → departments that drew it, strata counts).

    Strata counts are (population, drawn) by department (or :data:`JOINT`) and risk class.
    """
    towns = set(plan.towns)
    by_stratum: dict[tuple[str, str], list[str]] = defaultdict(list)
    mine: dict[str, list[str]] = {}
    for t in registry:
        if towns and t.town not in towns:
            continue
        depts = [d for d in t.departments if d in plan.departments]
        if not depts:
            continue
        mine[t.target_id] = depts
        for d in [JOINT] if plan.joint else depts:
            by_stratum[(d, t.risk)].append(t.target_id)
    drawn: dict[str, list[str]] = defaultdict(list)
    strata: dict[str, dict[str, tuple[int, int]]] = {}
    for d in [JOINT] if plan.joint else sorted(plan.departments):
        strata[d] = {}
        for r in RISK_CLASSES:
            population = by_stratum.get((d, r), [])
            n = sample_size(plan.ratio(r), len(population))
            strata[d][r] = (len(population), n)
            if n == 0:
                continue
            ranked = sorted(population, key=lambda tid: (_u(key, f"select|{d}|{r}|{tid}"), tid))
            for tid in ranked[:n]:
                drawn[tid].extend(mine[tid] if d == JOINT else [d])
    return dict(drawn), strata


def run_draw(
    plan: Plan,
    registry: Registry,
    pool: Pool,
    seed: str,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> DrawResult:
    """Draw targets and officers (see the module docstring); a pure, deterministic function.

    ``progress(done, total)`` is told how many visits are staffed, now and then.
    """
    p_hash, r_hash, o_hash = plan_hash(plan), registry.snapshot_hash, pool.snapshot_hash
    key = draw_key(seed, p_hash, r_hash, o_hash)
    drawn, strata = select_targets(plan, registry, key)
    visits_by_target: dict[str, tuple[int, tuple[str, ...]]] = {
        tid: (no, tuple(sorted(depts)))
        for no, (tid, depts) in enumerate(sorted(drawn.items()), start=1)
    }
    by_dept: dict[str, list[Officer]] = defaultdict(list)
    for o in pool:
        if o.department in plan.departments and o.max_visits > 0:
            by_dept[o.department].append(o)
    load: dict[str, int] = defaultdict(int)
    staffed: dict[str, tuple[str, ...]] = {}
    unstaffed: list[tuple[int, str]] = []
    order = sorted(visits_by_target, key=lambda tid: (_u(key, f"visit|{tid}"), tid))
    for done, tid in enumerate(order):
        if progress is not None and done % 256 == 0:
            progress(done, len(order))
        target = registry.targets[tid]
        no, depts = visits_by_target[tid]
        slots: list[tuple[str, ...]] = [(d,) for d in depts]
        slots += [depts] * max(0, plan.officers_per_visit - len(depts))
        chosen: list[str] = []
        for slot in slots:
            officer = _pick(key, target, slot, by_dept, load, chosen)
            if officer is None:
                unstaffed.append((no, "|".join(slot)))
                continue
            chosen.append(officer.officer_id)
            load[officer.officer_id] += 1
        staffed[tid] = tuple(chosen)
    if progress is not None:
        progress(len(order), len(order))
    visits = tuple(
        Visit(
            no,
            tid,
            depts,
            tuple((d, item) for d in depts for item in plan.departments[d]),
            staffed[tid],
        )
        for tid, (no, depts) in sorted(visits_by_target.items(), key=lambda kv: kv[1][0])
    )
    result = DrawResult(
        p_hash,
        r_hash,
        o_hash,
        commitment_of(seed),
        strata,
        visits,
        tuple(sorted(unstaffed)),
    )
    return DrawResult(
        result.plan_hash,
        result.registry_hash,
        result.pool_hash,
        result.commitment,
        result.strata,
        result.visits,
        result.unstaffed,
        result_hash_of(result),
    )


def _pick(
    key: bytes,
    target: Target,
    departments: tuple[str, ...],
    by_dept: Mapping[str, list[Officer]],
    load: Mapping[str, int],
    chosen: list[str],
) -> Officer | None:
    candidates = [
        o
        for d in departments
        for o in by_dept.get(d, ())
        if o.officer_id not in chosen
        and load.get(o.officer_id, 0) < o.max_visits
        and o.covers(target.town)
        and not conflicts_of(o, target)
    ]
    if not candidates:
        return None
    least = min(load.get(o.officer_id, 0) for o in candidates)
    return min(
        (o for o in candidates if load.get(o.officer_id, 0) == least),
        key=lambda o: (_u(key, f"officer|{target.target_id}|{o.officer_id}"), o.officer_id),
    )


def verify_draw(
    plan: Plan,
    registry: Registry,
    pool: Pool,
    seed: str,
    *,
    published: DrawResult,
    progress: Callable[[int, int], None] | None = None,
) -> DrawResult:
    """Re-run the draw and compare it with ``published``; :class:`VerificationError` names the
    first difference (seed vs commitment, an input snapshot, then the result)."""
    if commitment_of(seed) != published.commitment:
        raise VerificationError(
            f"the revealed seed does not match the commitment {published.commitment[:16]}…: "
            "its sha256 is " + commitment_of(seed)[:16] + "…"
        )
    for label, got, want in (
        ("plan", plan_hash(plan), published.plan_hash),
        ("registry snapshot", registry.snapshot_hash, published.registry_hash),
        ("pool snapshot", pool.snapshot_hash, published.pool_hash),
    ):
        if got != want:
            raise VerificationError(
                f"the {label} differs from the one committed: hash {got[:16]}… instead of "
                f"{want[:16]}…; use the published {label}"
            )
    again = run_draw(plan, registry, pool, seed, progress=progress)
    if again.result_hash != published.result_hash or again.visits != published.visits:
        mine = {v.visit_no: v for v in again.visits}
        theirs = {v.visit_no: v for v in published.visits}
        first = next(
            (n for n in sorted(set(mine) | set(theirs)) if mine.get(n) != theirs.get(n)), None
        )
        where = f"; first difference at visit {first}" if first is not None else ""
        raise VerificationError(
            f"the re-run draw differs from the published one: result hash "
            f"{again.result_hash[:16]}… instead of {published.result_hash[:16]}…{where}"
        )
    return again
