"""``gridmgr powers``: the power catalog (赋权清单) — check, import, export, generate."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from gridmgr.cli.common import console, err_console, grid_file_option, load_grid, settings_of


@click.group()
def powers() -> None:
    """The power catalog (赋权清单): power items, their holders and their devolution to towns.

    A power catalog is a folder of two CSV files you can edit in a spreadsheet: powers.csv
    (code, name, class, legal basis, default holder, validity) and devolution.csv (which town's
    team holds which power from when). `powers export FOLDER` writes one to start from.
    """


def _summarise(checked: object) -> None:
    from gridmgr.responsibility.powers import PowerCatalog

    assert isinstance(checked, PowerCatalog)
    table = Table(title=f"{checked.source}: valid, {len(checked)} power items")
    for column in ("class", "items"):
        table.add_column(column)
    for power_class, count in checked.classes().items():
        table.add_row(f"{power_class.value} {power_class.label_zh}", str(count))
    console.print(table)
    towns = {d.town for d in checked.devolutions}
    console.print(
        f"{len(checked.devolutions)} devolution rows over {len(towns)} town(s) (* = every town)",
        markup=False,
    )


def _warn_links(ctx: click.Context, checked: object) -> None:
    from gridmgr.datafiles import load_catalog
    from gridmgr.responsibility.powers import PowerCatalog, unlinked_categories

    assert isinstance(checked, PowerCatalog)
    for message in unlinked_categories(load_catalog(settings_of(ctx)), checked):
        err_console.print(f"warning: {message}; routing falls back to its handler", markup=False)


@powers.command("check")
@click.argument(
    "folder", type=click.Path(path_type=Path, exists=True, file_okay=False), required=False
)
@grid_file_option
@click.pass_context
def powers_check(ctx: click.Context, folder: Path | None, grid_path: Path | None) -> None:
    """Check a power catalog folder (default: the current one) against the grid's towns.

    Every problem is listed with its file, row and column (exit 1). Categories of the current
    matter catalog that name a power the folder lacks are warned about.
    """
    from gridmgr.datafiles import load_powers, town_codes
    from gridmgr.responsibility.powers_file import read_powers

    if folder is None:
        checked = load_powers(settings_of(ctx))
    else:
        checked = read_powers(folder, towns=town_codes(load_grid(ctx, grid_path)))
    _summarise(checked)
    _warn_links(ctx, checked)


@powers.command("import")
@click.argument("folder", type=click.Path(path_type=Path, exists=True, file_okay=False))
@grid_file_option
@click.pass_context
def powers_import(ctx: click.Context, folder: Path, grid_path: Path | None) -> None:
    """Check a power catalog folder and, if valid, make it the city's (replacing the shipped one).

    A folder with problems is refused whole, every problem named with its file and row.
    """
    from gridmgr.datafiles import store_powers, town_codes
    from gridmgr.responsibility.powers_file import read_powers

    checked = read_powers(folder, towns=town_codes(load_grid(ctx, grid_path)))
    target = store_powers(settings_of(ctx), checked)
    console.print(
        f"power catalog of {len(checked)} items and {len(checked.devolutions)} devolution rows "
        f"stored in {target}",
        markup=False,
    )
    _warn_links(ctx, checked)


@powers.command("export")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False))
@click.pass_context
def powers_export(ctx: click.Context, folder: Path) -> None:
    """Write the current power catalog as powers.csv and devolution.csv, to edit and import."""
    from gridmgr.datafiles import load_powers
    from gridmgr.responsibility.powers_file import write_powers

    current = load_powers(settings_of(ctx))
    write_powers(current, folder)
    console.print(f"wrote {len(current)} power items to {folder}", markup=False)


@powers.command("generate")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="Folder to write the synthetic default into.",
)
def powers_generate(out: Path) -> None:
    """Write the synthetic default power catalog (890 items: 75 approval/service, 815 penalty).

    The shipped data/powers/ is this output; names and legal bases are synthetic.
    """
    from gridmgr.responsibility.demo_powers import generate_powers
    from gridmgr.responsibility.powers_file import write_powers

    made = generate_powers()
    write_powers(made, out)
    console.print(
        f"synthetic power catalog: {len(made)} items, {len(made.devolutions)} devolution rows "
        f"written to {out}",
        markup=False,
    )
