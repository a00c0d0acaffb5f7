"""Grid workers' habits in the simulated city, from diligent to careless.

Each worker gets a **diligence** ``d`` in [0, 1] (Beta(2, 2): most are middling, a few are
very good or very poor), drawn from the seed and his person id alone, so a worker keeps his
habits whatever the roster around him. It sets what the monthly assessment (考核) measures:

- **patrols**: the share of working days he goes out (``patrol_share``, from about 0.45 to
  1.0 around the model's mean) and how long he walks (``walk_minutes``: 30–90 minutes for the
  most careless, 100–160 for the most diligent) — 巡查覆盖率, and the tracks 漏报 is judged on;
- **finding**: of the incidents in his cell that a grid worker would report, the share he
  finds before a resident calls them in (``find_share``, 0.35 to 1.0; the rest reach the
  hotline or the desk) — 主动发现率 and 漏报;
- **punctuality**: the share of his sign-for (签收) and handling (处置) stages he finishes
  after their deadline (``late_share``: 0.2 % for the most diligent, up to 6.2 % for the most
  careless, the model's 2 % on average, so the city as a whole stays as punctual) — 按时签收率
  and 按时处置率.

Cells differ in load by themselves: :class:`gridmgr.simulation.activity.ArrivalModel` gives each
cell a seeded log-normal hot-spot factor and a kind (market, commercial, industrial,
residential) with its own busy hours. Everything here is pure and seeded.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace

import numpy as np

from gridmgr.cases import Case, CaseState
from gridmgr.grid.datum import Datum
from gridmgr.responsibility.roster import PostKind, Roster, field_post
from gridmgr.simulation.activity import ActivityModel, Arrival, Channel


@dataclass(frozen=True)
class Habit:
    """One worker's habits (see the module docstring)."""

    diligence: float
    patrol_share: float
    walk_minutes: tuple[float, float]
    find_share: float
    late_share: float


def habit_of(
    person_id: str, *, seed: int, patrol_share: float = 0.85, late_share: float = 0.02
) -> Habit:
    """The habits of ``person_id`` in the city simulated with ``seed``; ``patrol_share`` and
    ``late_share`` are the model's means.

    >>> a, b = habit_of("P00001", seed=5), habit_of("P00001", seed=5)
    >>> a == b, 0.0 <= a.diligence <= 1.0
    (True, True)
    >>> careful = habit_from_diligence(1.0)
    >>> sloppy = habit_from_diligence(0.0)
    >>> careful.find_share > sloppy.find_share, careful.late_share < sloppy.late_share
    (True, True)
    """
    rng = np.random.default_rng([seed, 11, zlib.crc32(person_id.encode("utf-8"))])
    d = float(rng.beta(2.0, 2.0))
    return habit_from_diligence(d, patrol_share=patrol_share, late_share=late_share)


def habit_from_diligence(
    diligence: float, *, patrol_share: float = 0.85, late_share: float = 0.02
) -> Habit:
    """The habits a diligence ``d`` in [0, 1] gives (see the module docstring): the patrol
    share centred on ``patrol_share``; lateness ``0.002 + 3 × late_share × (1 - d)²``, whose
    mean over Beta(2, 2) is about ``late_share``.

    >>> habit_from_diligence(0.5).patrol_share
    0.85
    """
    d = min(1.0, max(0.0, diligence))
    lo = 30.0 + 70.0 * d
    return Habit(
        diligence=d,
        patrol_share=round(min(1.0, max(0.05, patrol_share + 0.8 * (d - 0.5))), 6),
        walk_minutes=(lo, lo + 60.0),
        find_share=0.35 + 0.65 * d,
        late_share=0.002 + 3.0 * late_share * (1.0 - d) ** 2,
    )


@dataclass
class Habits:
    """Every worker's habits in one simulated city (drawn on first use, then kept)."""

    seed: int
    model: ActivityModel = field(default_factory=ActivityModel)
    _known: dict[str, Habit] = field(default_factory=dict, repr=False)

    def of(self, person_id: str) -> Habit:
        """The habits of ``person_id``."""
        habit = self._known.get(person_id)
        if habit is None:
            m = self.model
            habit = habit_of(
                person_id, seed=self.seed, patrol_share=m.patrol_share, late_share=m.late_share
            )
            self._known[person_id] = habit
        return habit

    def found_by(self, rng: np.random.Generator, arrival: Arrival, roster: Roster) -> Arrival:
        """``arrival`` as it comes in: a report its cell's worker would make is his only as
        often as his ``find_share``; otherwise a resident calls it in (the hotline, or the desk,
        in the model's proportion)."""
        if arrival.channel != Channel.WORKER or arrival.cell is None:
            return arrival
        worker = roster.owner(field_post(arrival.cell), arrival.at)
        if worker is None or rng.random() < self.of(worker.person_id).find_share:
            return arrival
        m = self.model
        hotline = rng.random() * (m.open311_share + m.operator_share) < m.open311_share
        channel = Channel.OPEN311 if hotline else Channel.OPERATOR
        return replace(arrival, channel=channel, datum=Datum.WGS84)

    def late_share(self, case: Case, default: float) -> float:
        """How often the running stage of ``case`` ends late: as its grid worker's habit says
        while he signs for (签收) or handles (处置) it; ``default`` for everyone else."""
        who = case.assignee
        if case.state not in (CaseState.DISPATCHED, CaseState.IN_PROGRESS) or who is None:
            return default
        if not who.post.startswith(f"{PostKind.GRID_WORKER.value}:"):
            return default
        return self.of(who.person_id).late_share


__all__ = ["Habit", "Habits", "habit_from_diligence", "habit_of"]
