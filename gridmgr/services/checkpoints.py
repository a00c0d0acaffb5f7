"""The scheduled checkpoint: every few minutes, a signed tree head when the ledger grew.

One node runs it (the server's ``checkpoint`` job, under its job lock, as the escalation loop).
Each pass brings the Merkle cache up to the ledger in short write transactions, so proofs and
``gridmgr ledger checkpoint`` find it warm; makes the replay snapshots due (one every
:data:`~gridmgr.services.replay.SNAPSHOT_EVERY` events); and, when the ledger holds events the
newest signed head does not cover, verifies the chain and signs and publishes a head
(:func:`gridmgr.services.treeheads.checkpoint_tree_head`). A ledger that did not grow gets no
new head, so the heads published are one per period of activity, not one per tick.
"""

from __future__ import annotations

import logging

from gridmgr.ledger.treehead import SignedTreeHead
from gridmgr.services.context import Services
from gridmgr.services.loops import PeriodicLoop
from gridmgr.services.replay import take_snapshots
from gridmgr.services.treeheads import SigningKeyError, checkpoint_tree_head, signing_key

log = logging.getLogger(__name__)


class ScheduledCheckpoint:
    """One pass of the checkpoint loop (:meth:`run`), and the loop itself (:meth:`loop`)."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._warned = False

    def run(self) -> SignedTreeHead | None:
        """Warm the Merkle cache, make the replay snapshots due, and sign and publish a tree
        head if the ledger grew since the newest one. Returns the new head, or ``None``
        (nothing new, or no signing key outside demo mode: then the cache is still warmed,
        and a warning logged once)."""
        store = self._services.store
        store.warm_merkle_cache()
        take_snapshots(self._services)
        head = store.ledger_head()
        latest = store.latest_tree_head()
        if head is None or (latest is not None and latest.size >= head.seq):
            return None
        try:
            key = signing_key(self._services.settings)
        except SigningKeyError as exc:
            if not self._warned:
                log.warning("scheduled checkpoint: no tree head signed: %s", exc)
                self._warned = True
            return None
        signed = checkpoint_tree_head(store, key, now=self._services.clock())
        log.info("scheduled checkpoint: signed the tree head of %d events", signed.size)
        return signed

    def loop(self) -> PeriodicLoop:
        """The pass at start and every :attr:`Settings.checkpoint_minutes` minutes."""

        def step() -> None:
            self.run()

        minutes = self._services.settings.checkpoint_minutes
        return PeriodicLoop(step, every=minutes * 60.0, name="gridmgr-checkpoint")
