"""Re-homing the roster on a new grid generation: posts follow their cell by code.

A field post is named by its cell's code, so a post whose code the new grid still has moves
with it, whatever the cell's new shape. What cannot move is listed: posts left without a cell
(their code is gone; the roster must be edited before the new grid can be current, or every
door would refuse it) and cells left without a post (new codes, or posts vacant already), and
teams covering a town the new grid lacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from gridmgr.grid.codes import is_valid_code
from gridmgr.grid.model import Grid
from gridmgr.responsibility.roster import Post, Roster, field_post


@dataclass(frozen=True)
class RosterRehoming:
    """What a new grid leaves of the roster's posts."""

    rehomed: int
    """Field posts whose cell the new grid keeps (by code)."""
    posts_without_cell: tuple[Post, ...]
    """Field posts (current or past) whose cell code the new grid lacks."""
    cells_without_post: tuple[str, ...]
    """Cells of the new grid whose field post has no holder at the time asked."""
    units_without_town: tuple[tuple[str, str], ...]
    """(unit id, town code) of teams covering a town the new grid lacks."""

    @property
    def blocks_activation(self) -> bool:
        """Whether the roster must be edited first (it names places the new grid lacks)."""
        return bool(self.posts_without_cell or self.units_without_town)


def rehome_roster(roster: Roster, grid: Grid, *, at: datetime) -> RosterRehoming:
    """Match ``roster``'s field posts to ``grid``'s cells by code, as of ``at``."""
    codes = set(grid.cells["code"])
    field_posts = [p for p in roster.posts if is_valid_code(p.place)]
    orphans = tuple(p for p in field_posts if p.place not in codes)
    vacant = tuple(
        code for code in sorted(codes) if roster.holder(field_post(str(code)), at) is None
    )
    towns = set(grid.codes(1))
    units = tuple(
        (u.unit_id, town)
        for u in sorted(roster.units.values(), key=lambda u: u.unit_id)
        for town in u.towns
        if town not in towns
    )
    return RosterRehoming(
        rehomed=len(field_posts) - len(orphans),
        posts_without_cell=orphans,
        cells_without_post=vacant,
        units_without_town=units,
    )
