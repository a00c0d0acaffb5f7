"""A ``--no-demo`` start refuses a database demo mode left open, and ends the demo's tokens."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from gridmgr.errors import CredentialError
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.demo_roster import DEMO_PASSWORD
from gridmgr.services.credentials import create_token, person_for_token
from gridmgr.services.simulator import MARKER_KIND
from gridmgr.store import Store, open_store
from tests.test_cli import run_main
from tests.test_sessions import FAST_ARGON2

KEY = "s" * 16 + "-security-test-key-long-enough"


@pytest.fixture(autouse=True)
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gridmgr.store.accounts._hasher", lambda: FAST_ARGON2)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """``serve`` prepares everything and returns instead of serving; records each start."""
    calls: list[object] = []
    monkeypatch.setattr(
        "gridmgr.server.serve_forever", lambda prepared, *, workers: calls.append(prepared)
    )
    monkeypatch.setenv("GRIDMGR_SECRET_KEY", KEY)
    return calls


def store_of(data_dir: Path) -> Store:
    return open_store(f"sqlite:///{data_dir / 'gridmgr.sqlite'}")


def demo_start(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Serve once in demo mode (no simulator); the demo login person ids."""
    code, out, _ = run_main(data_dir, "serve", "--demo", "--no-simulate", capsys=capsys)
    assert code == 0, out
    store = store_of(data_dir)
    try:
        ids = [a.person_id for a in store.demo_accounts()]
    finally:
        store.close()
    assert ids
    return ids


def test_no_demo_start_refuses_logins_that_take_the_demo_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: list[object]
) -> None:
    data = tmp_path / "data"
    demo_ids = demo_start(data, capsys)
    assert len(started) == 1

    code, _, err = run_main(data, "serve", "--no-demo", capsys=capsys)

    assert code == 1
    assert len(started) == 1  # nothing served
    message = " ".join(err.split())
    assert "demo password" in message
    for person_id in demo_ids:
        assert f"gridmgr account disable --person {person_id}" in message
    assert "new data folder" in message
    assert "Traceback" not in err


def test_disabling_the_demo_logins_lets_no_demo_start_and_revokes_the_demo_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: list[object]
) -> None:
    data = tmp_path / "data"
    demo_ids = demo_start(data, capsys)
    now = datetime.now(TZ)
    store = store_of(data)
    try:
        demo_token = create_token(store, demo_ids[0], now=now, days=30)
        other_token = create_token(store, demo_ids[-1], now=now, days=30)
    finally:
        store.close()

    code, _, err = run_main(data, "account", "disable", "--person", demo_ids[0], capsys=capsys)
    assert code == 0, err
    store = store_of(data)
    try:  # disabling a login revokes his tokens at once
        with pytest.raises(CredentialError, match="revoked"):
            person_for_token(store, demo_token, now=datetime.now(TZ))
        assert person_for_token(store, other_token, now=datetime.now(TZ)) == demo_ids[-1]
    finally:
        store.close()
    for person_id in demo_ids[1:]:
        assert run_main(data, "account", "disable", "--person", person_id, capsys=capsys)[0] == 0

    code, out, err = run_main(data, "serve", "--no-demo", capsys=capsys)

    assert code == 0, err
    assert len(started) == 2
    assert "demo mode ended" in out
    store = store_of(data)
    try:  # the first --no-demo start revoked every token made during the demo
        with pytest.raises(CredentialError, match="revoked"):
            person_for_token(store, other_token, now=datetime.now(TZ))
        assert store.has_ledger_event("demo.ended")
        for person_id in demo_ids:
            assert not store.check_password(person_id, DEMO_PASSWORD, now=datetime.now(TZ))
    finally:
        store.close()
    # once: a later token survives the next start
    store = store_of(data)
    try:
        later = create_token(store, "P-later", now=datetime.now(TZ), days=1)
    finally:
        store.close()
    code, out, _ = run_main(data, "serve", "--no-demo", capsys=capsys)
    assert code == 0
    assert "demo mode ended" not in out
    store = store_of(data)
    try:
        assert person_for_token(store, later, now=datetime.now(TZ)) == "P-later"
    finally:
        store.close()


def test_a_new_password_for_each_demo_login_also_lets_no_demo_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: list[object]
) -> None:
    data = tmp_path / "data"
    demo_ids = demo_start(data, capsys)
    store = store_of(data)
    try:
        for person_id in demo_ids:
            store.set_password(person_id, "a real password 42", now=datetime.now(TZ))
    finally:
        store.close()

    code, _, err = run_main(data, "serve", "--no-demo", capsys=capsys)

    assert code == 0, err
    assert len(started) == 2


def test_no_demo_start_refuses_a_database_the_simulator_wrote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: list[object]
) -> None:
    data = tmp_path / "data"
    demo_ids = demo_start(data, capsys)
    store = store_of(data)
    try:
        for person_id in demo_ids:
            store.disable_account(person_id, now=datetime.now(TZ))
        store.record(
            at=datetime.now(TZ),
            kind=MARKER_KIND,
            actor="system:simulator",
            subject="demo",
            details={},
        )
    finally:
        store.close()

    code, _, err = run_main(data, "serve", "--no-demo", capsys=capsys)

    assert code == 1
    assert len(started) == 1
    assert "new data folder" in " ".join(err.split())


def test_a_new_database_starts_outside_demo_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], started: list[object]
) -> None:
    code, out, err = run_main(tmp_path / "data", "serve", "--no-demo", capsys=capsys)

    assert code == 0, err
    assert len(started) == 1
    assert "demo" not in out.replace("--no-demo", "")


def test_demo_password_check_hashes_only_the_demo_logins(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    started: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = tmp_path / "data"
    demo_ids = demo_start(data, capsys)
    store = store_of(data)
    try:
        for n in range(30):  # a roster's worth of real accounts
            store.set_password(f"P-real-{n:03d}", "a real password 42", now=datetime.now(TZ))
    finally:
        store.close()
    checked: list[str] = []
    original = Store.check_password

    def counting(self: Store, person_id: str, password: str, *, now: datetime) -> bool:
        checked.append(person_id)
        return original(self, person_id, password, now=now)

    monkeypatch.setattr(Store, "check_password", counting)

    assert run_main(data, "serve", "--no-demo", capsys=capsys)[0] == 1
    assert sorted(checked) == sorted(demo_ids)


def test_the_migration_marks_demo_logins_made_before_it(tmp_path: Path) -> None:
    from alembic import command

    from gridmgr.store.engine import make_engine
    from gridmgr.store.migrate import alembic_config, upgrade
    from gridmgr.store.transactions import writing

    url = f"sqlite:///{tmp_path / 'old.sqlite'}"
    engine = make_engine(url)
    try:
        config = alembic_config()
        with writing(engine).begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "0003")
        with writing(engine).begin() as conn:
            made = (("P-demo", "system:demo", 1), ("P-real", "cli:account", 2))
            for person_id, actor, seq in made:
                conn.execute(
                    sa.text(
                        "INSERT INTO accounts (person_id, password_hash, created_at, updated_at,"
                        " disabled) VALUES (:p, 'h', :t, :t, 0)"
                    ),
                    {"p": person_id, "t": datetime(2026, 5, 6, tzinfo=TZ)},
                )
                conn.execute(
                    sa.text(
                        "INSERT INTO ledger (seq, at, kind, actor, subject, payload, prev_hash,"
                        " hash) VALUES (:seq, 'x', 'account.password_set', :a, :s, '{}', 'p', 'h')"
                    ),
                    {
                        "seq": seq,
                        "a": actor,
                        "s": f"person:{person_id}",
                    },
                )
        upgrade(engine)
    finally:
        engine.dispose()
    store = open_store(url)
    try:
        assert [a.person_id for a in store.demo_accounts()] == ["P-demo"]
        real = store.account("P-real")
        assert real is not None
        assert (real.demo, real.session_epoch) == (False, 0)
    finally:
        store.close()
