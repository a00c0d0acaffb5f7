"""A credential found valid is trusted for a few seconds without its row being read again: a
revocation through the same store takes effect at once, one through another process within
:data:`~gridmgr.store.credentialcache.RECHECK_AFTER`, and expiry is always exact."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from gridmgr.errors import CredentialError
from gridmgr.responsibility.calendar import TZ
from gridmgr.store import Store, open_store
from gridmgr.store.credentialcache import RECHECK_AFTER

NOW = datetime(2026, 10, 9, 9, 0, tzinfo=TZ)


def test_a_revocation_by_the_same_store_takes_effect_at_once(store: Store) -> None:
    token = store.create_credential(kind="person", subject="P00001", now=NOW, days=1)
    assert store.check_credential(token, now=NOW, kind="person").subject == "P00001"
    assert store.revoke_credential(token[3:19], now=NOW)
    with pytest.raises(CredentialError, match="revoked"):
        store.check_credential(token, now=NOW + timedelta(seconds=1), kind="person")


def test_a_revocation_by_another_process_takes_effect_within_the_recheck_time(
    store: Store, db_url: str
) -> None:
    token = store.create_credential(kind="person", subject="P00001", now=NOW, days=1)
    store.check_credential(token, now=NOW, kind="person")
    other = open_store(db_url)  # another server process on the same database
    try:
        assert other.revoke_credential(token[3:19], now=NOW)
    finally:
        other.close()
    # trusted a moment longer by the store that checked it, then read again and refused
    assert store.check_credential(token, now=NOW + timedelta(seconds=1), kind="person")
    with pytest.raises(CredentialError, match="revoked"):
        store.check_credential(token, now=NOW + RECHECK_AFTER, kind="person")


def test_a_trusted_credential_still_expires_on_time_and_keeps_its_kind(store: Store) -> None:
    token = store.create_credential(kind="person", subject="P00001", now=NOW, days=1)
    store.check_credential(token, now=NOW + timedelta(days=1, seconds=-1), kind="person")
    with pytest.raises(CredentialError, match="expired"):
        store.check_credential(token, now=NOW + timedelta(days=1), kind="person")
    with pytest.raises(CredentialError, match="unknown"):
        store.check_credential(token, now=NOW, kind="apikey")
