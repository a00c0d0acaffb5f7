"""The scheduled checkpoint: a signed tree head when the ledger grew, none when it did not."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr.ledger.merkle import event_leaf, root_of
from gridmgr.ledger.treehead import tree_head_problem
from gridmgr.responsibility.calendar import TZ
from gridmgr.server import Prepared, _background
from gridmgr.services.checkpoints import ScheduledCheckpoint
from gridmgr.services.context import Services
from gridmgr.settings import Settings, SettingsError
from gridmgr.store import Store
from tests.builders import tiny_context
from tests.test_nodes import wait_for

AT = datetime(2026, 5, 3, 10, 5, tzinfo=TZ)


def record(store: Store, n: int, start: int = 0) -> list[str]:
    return [
        store.record(
            at=AT + timedelta(seconds=i), kind="test.event", actor="t", subject=f"s{i}", details={}
        ).hash
        for i in range(start, start + n)
    ]


def services_of(store: Store, settings: Settings) -> Services:
    return Services(store, tiny_context(), settings, clock=lambda: AT + timedelta(hours=1))


def test_a_pass_signs_a_head_when_the_ledger_grew_and_none_when_it_did_not(
    store: Store, tmp_path: Path
) -> None:
    checkpoint = ScheduledCheckpoint(services_of(store, Settings(data_dir=tmp_path)))
    assert checkpoint.run() is None  # an empty ledger: nothing to sign
    hashes = record(store, 21)
    head = checkpoint.run()
    assert head is not None
    assert (head.size, head.root_hash) == (21, root_of([event_leaf(h) for h in hashes]).hex())
    assert tree_head_problem(head) is None
    assert store.latest_tree_head() == head
    assert checkpoint.run() is None  # no new event: no new head
    assert store.latest_tree_head() == head
    hashes += record(store, 3, start=21)
    again = checkpoint.run()
    assert again is not None
    assert again.size == 24
    assert store.latest_tree_head() == again
    # the pass left the cache table warm: it agrees with the ledger without a catch-up
    assert store.warm_merkle_cache() == 0
    assert store.stored_merkle_root(24) == root_of([event_leaf(h) for h in hashes])


def test_without_a_signing_key_a_pass_warms_the_cache_and_warns_once(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path, demo=False)
    checkpoint = ScheduledCheckpoint(services_of(store, settings))
    hashes = record(store, 40)
    with caplog.at_level(logging.WARNING, logger="gridmgr.services.checkpoints"):
        assert checkpoint.run() is None
        assert checkpoint.run() is None
    assert len(caplog.records) == 1  # once, not at every pass
    assert "GRIDMGR_SIGNING_KEY" in caplog.records[0].getMessage()
    assert store.latest_tree_head() is None
    assert store.warm_merkle_cache() == 0  # already warm
    assert store.stored_merkle_root(40) == root_of([event_leaf(h) for h in hashes])


def test_a_serving_node_runs_the_checkpoint_job_and_none_when_it_is_off(
    store: Store, tmp_path: Path
) -> None:
    record(store, 5)
    context = tiny_context()
    off = Settings(data_dir=tmp_path, checkpoint_minutes=0)
    prepared = Prepared(off, context.grid, context, store.url, "k" * 32, 0.0)
    with _background(prepared, 0, Services(store, context, off, clock=lambda: AT)):
        pass
    assert store.latest_tree_head() is None
    on = Settings(data_dir=tmp_path)
    prepared = replace(prepared, settings=on)
    with _background(prepared, 0, Services(store, context, on, clock=lambda: AT)):
        assert wait_for(lambda: store.latest_tree_head() is not None)
    head = store.latest_tree_head()
    assert head is not None
    assert head.size == 5


def test_the_checkpoint_period_comes_from_the_environment_and_is_checked() -> None:
    assert Settings.from_env({}).checkpoint_minutes == 15.0
    assert Settings.from_env({"GRIDMGR_CHECKPOINT_MINUTES": "5"}).checkpoint_minutes == 5.0
    with pytest.raises(SettingsError, match="GRIDMGR_CHECKPOINT_MINUTES"):
        Settings.from_env({"GRIDMGR_CHECKPOINT_MINUTES": "soon"})
