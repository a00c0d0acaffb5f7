"""``gridmgr assess appeal / decide / appeals``: appeals (申诉) of a closed month's scorecard —
filed by a town leader or a grid head, decided by a manager, listed with their decisions."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import click

from gridmgr.cli.assess import at_option, services_at
from gridmgr.cli.common import console
from gridmgr.cli.store import db_option

if TYPE_CHECKING:
    from gridmgr.access import Caller
    from gridmgr.services.context import Services

LEVELS = click.Choice(["worker", "community", "town"])


def _caller(services: Services, person_id: str) -> Caller:
    from gridmgr.access import caller_for

    return caller_for(services.roster, person_id, services.now())


def _local(t: datetime) -> str:
    from gridmgr.responsibility.calendar import TZ

    return f"{t.astimezone(TZ):%Y-%m-%d %H:%M}"


@click.command("appeal")
@click.argument("month")
@click.option("--person", "person_id", required=True,
              help="Who appeals: a town leader or a grid head (a person id).")  # fmt: skip
@click.option("--level", type=LEVELS, required=True, help="The level of the unit appealed for.")
@click.option("--subject", "unit", required=True,
              help="The unit: a town or community code, or a grid worker's person id.")  # fmt: skip
@click.option("--indicator", required=True, help="The indicator appealed, e.g. missed.")
@click.option("--reason", required=True, help="Why the figure is wrong.")
@click.option("--client-id", default=None,
              help="The sender's id for this appeal: a resend records nothing twice.")  # fmt: skip
@at_option
@db_option
@click.pass_context
def assess_appeal(
    ctx: click.Context, month: str, person_id: str, level: str, unit: str, indicator: str,
    reason: str, client_id: str | None, at: datetime | None, db: str | None,
) -> None:  # fmt: skip
    """Appeal (申诉) one indicator of one unit in the closed MONTH. The appeal waits for a named
    manager's decision, due in five working days (``gridmgr assess decide``)."""
    from gridmgr.services.appeals import file_appeal

    with services_at(ctx, db, at) as services:
        caller = _caller(services, person_id)
        appeal = file_appeal(services, caller, month, level=level, unit=unit,
                             indicator=indicator, reason=reason, client_id=client_id)  # fmt: skip
        decider = services.roster.persons[appeal.decider_id].name
    console.print(
        f"appeal {appeal.appeal_id}: {appeal.indicator} of {appeal.unit} ({appeal.level}) in "
        f"{appeal.month} version {appeal.version}; waits for {decider} ({appeal.decider_id}) "
        f"until {_local(appeal.due_at)} (ledger event {appeal.ledger_seq})"
    )


@click.command("decide")
@click.argument("appeal_id")
@click.option("--uphold/--reject", "uphold", required=True,
              help="Uphold (publish a corrected scorecard) or reject (it stands).")  # fmt: skip
@click.option("--reason", required=True, help="Why.")
@click.option("--by", "person_id", required=True, help="The deciding manager (a person id).")
@at_option
@db_option
@click.pass_context
def assess_decide(
    ctx: click.Context, appeal_id: str, uphold: bool, reason: str, person_id: str,
    at: datetime | None, db: str | None,
) -> None:  # fmt: skip
    """Decide APPEAL_ID. Upheld: the indicator is waived for the unit in a new version of the
    month's scorecard naming the one it supersedes; rejected: the scorecard stands."""
    from gridmgr.services.appeals import decide_appeal

    with services_at(ctx, db, at) as services:
        caller = _caller(services, person_id)
        appeal = decide_appeal(services, caller, appeal_id, uphold=uphold, reason=reason)
    decision = appeal.decision
    assert decision is not None
    if decision.upheld:
        console.print(
            f"appeal {appeal_id} upheld: {appeal.month} version {decision.new_version} published "
            f"(supersedes version {decision.new_version - 1 if decision.new_version else '?'})"
        )
    else:
        console.print(f"appeal {appeal_id} rejected: the {appeal.month} scorecard stands")


@click.command("appeals")
@click.argument("month")
@click.option("--person", "person_id", required=True,
              help="Who asks (a manager sees all; a leader or head, his area's).")  # fmt: skip
@at_option
@db_option
@click.pass_context
def assess_appeals(
    ctx: click.Context, month: str, person_id: str, at: datetime | None, db: str | None
) -> None:
    """List MONTH's appeals with their deadlines and decisions."""
    from gridmgr.services.appeals import month_appeals

    with services_at(ctx, db, at) as services:
        caller = _caller(services, person_id)
        found = month_appeals(services, caller, month)
        now = services.now()
    console.print(f"appeals {month}: {len(found)}")
    for a in found:
        if a.decision is None:
            state = "OVERDUE" if a.due_at <= now else "open"
            state += f", waits for {a.decider_id} until {_local(a.due_at)}"
        else:
            state = "upheld" if a.decision.upheld else "rejected"
            state += f" by {a.decision.person_id}: {a.decision.reason}"
        # one line per appeal (greppable); the reasons are people's words, printed as text
        click.echo(f"{a.appeal_id}  {a.indicator} of {a.unit} ({a.level}) by {a.person_id}: "
                   f"{a.reason} — {state}")  # fmt: skip
