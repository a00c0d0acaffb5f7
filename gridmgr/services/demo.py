"""Leaving demo mode: a start outside demo mode refuses a database demo mode left open, and ends
the demo (its API credentials) once it is safe.

Demo mode gives one login per role the published password ``DEMO_PASSWORD`` and lets the
simulator write made-up cases. A ``--no-demo`` start checks, before anything serves, that no
enabled account still takes that password (only the accounts demo mode made are hashed, a
handful) and that the simulator never wrote here; then it revokes every credential made during
the demo, once.
"""

from __future__ import annotations

from datetime import datetime

from gridmgr.errors import DemoLeftoverError
from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
from gridmgr.services.simulator import is_simulated
from gridmgr.store import Store

__all__ = ["demo_password_logins", "end_demo", "refuse_demo_leftovers"]


def demo_password_logins(store: Store, *, now: datetime) -> list[str]:
    """The person ids whose enabled account still takes the public demo password."""
    return [
        account.person_id
        for account in store.demo_accounts()
        if store.check_password(account.person_id, DEMO_PASSWORD, now=now)
    ]


def refuse_demo_leftovers(store: Store, *, now: datetime, data_dir: str) -> None:
    """Raise :class:`DemoLeftoverError` (saying how to fix it) when the database carries the
    simulator's data or a login with the demo password."""
    if is_simulated(store):
        raise DemoLeftoverError(
            "this database holds the demo simulator's made-up cases, so it cannot serve outside "
            f"demo mode; start with a new data folder (e.g. `gridmgr --data-dir NEW serve "
            f"--no-demo`, not {data_dir}) or another --db"
        )
    open_logins = demo_password_logins(store, now=now)
    if open_logins:
        fixes = "; ".join(f"`gridmgr account disable --person {p}`" for p in open_logins)
        raise DemoLeftoverError(
            f"{len(open_logins)} login(s) still take the public demo password "
            f"({', '.join(open_logins)}), so the server will not start outside demo mode; "
            f"run {fixes} (or set a new password with `gridmgr account set-password`), "
            "or start with a new data folder"
        )


def end_demo(store: Store, *, now: datetime, actor: str = "system:serve") -> int | None:
    """Revoke every API credential made during the demo, once per demo (``None``: there was
    no demo to end); the ledger records ``demo.ended``."""
    if store.is_demo_over():
        return None
    return store.end_demo(now=now, actor=actor)
