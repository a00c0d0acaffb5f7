"""Names people read instead of codes: categories, places, persons and posts."""

from __future__ import annotations

from gridmgr.cases import Assignee
from gridmgr.grid.model import Grid
from gridmgr.responsibility.roster import Post
from gridmgr.services.context import Services

OUT_OF_GRID = "网格外 out of grid"


def category_name(services: Services, code: str, lang: str = "zh") -> str:
    """A category's name in ``lang`` (its code if the catalog no longer has it)."""
    catalog = services.catalog
    if code not in catalog:
        return code
    category = catalog.category(code)
    return category.name_zh if lang == "zh" else category.name_en


def categories(services: Services, lang: str = "zh") -> list[tuple[str, str]]:
    """(code, name) of every category, for pickers."""
    return [(c.code, c.name_zh if lang == "zh" else c.name_en) for c in services.catalog]


def cell_name(grid: Grid, code: str) -> str:
    """A cell's name (``LookupError`` for a cell this grid does not have)."""
    return str(grid.cell(code)["name"])


def place(grid: Grid, cell: str | None) -> str:
    """A cell's name with its town (or 网格外 out of grid).

    A cell of an older grid generation is not in ``grid``: its code is shown as it is.
    """
    if cell is None:
        return OUT_OF_GRID
    try:
        town = grid.cell_to_ancestors(cell)
        names = [cell_name(grid, c) for c in [*town[:1], cell]]
    except LookupError:
        return cell
    return " · ".join(dict.fromkeys(names))


def town_of(grid: Grid, cell: str | None) -> str:
    """The name of the town a cell lies in (网格外 out of grid; the code of a cell this grid
    does not have, such as one of an older generation)."""
    if cell is None:
        return OUT_OF_GRID
    try:
        path = [*grid.cell_to_ancestors(cell), cell]
        return cell_name(grid, path[0])
    except LookupError:
        return cell


def person_name(services: Services, actor_id: str) -> str:
    """A roster person's name (system actors and unknown ids as they are)."""
    person = services.roster.persons.get(actor_id)
    return actor_id if person is None else f"{person.name} ({actor_id})"


def post_label(grid: Grid, post: Post | None, key: str) -> str:
    """A post as people say it: 网格员 · 澄江01社区01网格."""
    if post is None:
        return key
    label = post.kind.label_zh
    if post.place:
        try:
            label += " · " + cell_name(grid, post.place)
        except LookupError:
            label += " · " + post.place
    return label


def holder_label(services: Services, holder: Assignee | None) -> str:
    """The person answering for a stage, with his post: 刘鑫 · 值班员 (— when nobody)."""
    if holder is None:
        return "—"
    post = next((p for p in services.roster.posts if p.key == holder.post), None)
    name = holder.name or holder.person_id
    return f"{name} · {post_label(services.grid, post, holder.post)}"
