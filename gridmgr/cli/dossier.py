"""``gridmgr case export`` and ``gridmgr ledger verify-dossier``: the case dossier (案卷), written
from the database and checked offline, with no database."""

from __future__ import annotations

import base64
import binascii
import json
import sys
import zipfile
from datetime import datetime
from pathlib import Path

import click

from gridmgr.cli.common import console, err_console, load_grid, settings_of
from gridmgr.cli.store import db_option, ledger, opened_store

MAX_MEMBER_BYTES = 64 * 2**20
"""The largest file a dossier may hold (a photo is at most a few MiB): a zip bomb stops here."""


@click.group("case")
def case() -> None:
    """Work with one case: export its dossier (案卷)."""


@case.command("export")
@click.argument("case_ref")
@click.option(
    "--out",
    "out",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="Where to write the dossier (a .zip).",
)
@db_option
@click.pass_context
def case_export(ctx: click.Context, case_ref: str, out: Path, db: str | None) -> None:
    """Write the dossier of CASE_REF (a case id, or its number) to --out: a PDF for people, the
    raw ledger events, the photos with their SHA-256, and each event's inclusion proof against a
    signed tree head (a new checkpoint is signed when the latest does not cover the case)."""
    from gridmgr.access import Caller
    from gridmgr.cases import Actor, Role
    from gridmgr.datafiles import routing_context
    from gridmgr.responsibility.calendar import TZ
    from gridmgr.services.context import Services
    from gridmgr.services.dossier import export_dossier
    from gridmgr.services.queries import CaseFilter
    from gridmgr.services.treeheads import signing_key

    settings = settings_of(ctx)
    key = signing_key(settings)
    now = datetime.now(TZ)
    context = routing_context(settings, load_grid(ctx, None))
    caller = Caller(Actor("cli:case-export", Role.OPERATOR, "命令行 command line"), None)
    with opened_store(ctx, db) as store:
        case_id = case_ref
        if case_ref.isdigit():
            rows = store.search_cases(case_ref, CaseFilter(), limit=20)
            found = [r for r in rows if r.number == int(case_ref)]
            case_id = found[0].case.case_id if found else case_ref
        services = Services(store, context, settings, clock=lambda: now)
        _, data = export_dossier(services, caller, case_id, key, now=now)
    out.write_bytes(data)
    console.print(f"dossier of case {case_ref} written to {out} ({len(data):,} bytes)")


@ledger.command("verify-dossier")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option(
    "--sth",
    "sth_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="The signed tree head you trust (from the command center: `ledger checkpoint`'s "
    "file or GET /api/v1/ledger/sth). Without it the dossier is checked against its own head.",
)
@click.option(
    "--public-key",
    default=None,
    help="The signing key you trust: its 32 raw bytes in base64 (the heads' public_key).",
)
@click.option(
    "--consistency",
    "consistency_path",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    default=None,
    help="A consistency proof (GET /api/v1/ledger/consistency) when --sth is of another size.",
)
def verify_dossier_command(
    path: Path, sth_path: Path | None, public_key: str | None, consistency_path: Path | None
) -> None:
    """Check a dossier offline, with no database: every event's hash, its inclusion proof to the
    signed root, every photo's SHA-256 against its ledger event, and the signed manifest of every
    file. Exit 0 when it all holds; otherwise exit 1 naming the first thing that does not."""
    from gridmgr.ledger.dossier import DossierError, verify_dossier
    from gridmgr.ledger.treehead import SignedTreeHead

    trusted = None
    if sth_path is not None:
        trusted = SignedTreeHead.from_json(_text(sth_path, "a signed tree head"))
    key = None
    if public_key is not None:
        try:
            key = base64.b64decode(public_key, validate=True)
        except (binascii.Error, ValueError):
            raise click.BadParameter("not base64", param_hint="--public-key") from None
    consistency = None
    if consistency_path is not None:
        try:
            consistency = json.loads(_text(consistency_path, "a consistency proof"))
        except ValueError:
            raise click.BadParameter("not JSON", param_hint="--consistency") from None
    try:
        members = read_members(path)
        result = verify_dossier(members, trusted=trusted, trusted_key=key, consistency=consistency)
    except DossierError as exc:
        err_console.print(f"DOSSIER DOES NOT VERIFY: {exc}", markup=False)
        sys.exit(1)
    console.print(str(result), markup=False)
    if trusted is None:
        console.print(
            "note: checked against the dossier's own tree head; pass --sth with a head from the "
            "command center to bind it to the published ledger",
            markup=False,
        )


def _text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter(f"{path} is not {what}: not UTF-8 text") from None


def read_members(path: Path) -> dict[str, bytes]:
    """The files of a dossier zip, by name (a file that is not a zip is a named problem)."""
    from gridmgr.ledger.dossier import DossierError

    try:
        with zipfile.ZipFile(path) as archive:
            members = {}
            for info in archive.infolist():
                if info.file_size > MAX_MEMBER_BYTES:
                    raise DossierError(f"{info.filename} is too large for a dossier")
                members[info.filename] = archive.read(info)
            return members
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError) as exc:
        raise DossierError(f"{path} is not a readable zip ({exc})") from None
