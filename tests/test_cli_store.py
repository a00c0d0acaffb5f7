"""The ``gridmgr db``, ``ledger``, ``escalate``, ``token`` and ``apikey`` commands, as a user runs
them (SQLite files, and PostgreSQL where it is cheap)."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.cases import Action, Actor, CaseState, Role
from gridmgr.errors import CredentialError
from gridmgr.grid.generations import store_generation
from gridmgr.ledger import Checkpoint
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.actions import act
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import open_store
from gridmgr.store.migrate import head_revision
from tests.builders import tiny_context
from tests.test_cli import flat, invoke, run_main
from tests.test_store import drop_ledger_guards

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)  # a Wednesday morning, working time
INSIDE = {"lon": 120.0625, "lat": 31.9375}  # the centre of tiny-grid cell 320281001001001
OPERATOR = Actor("op-1", Role.OPERATOR, "值班员")
TOKEN = re.compile(r"^gm_([0-9a-f]{16})_[A-Za-z0-9_-]{32,64}$")


@pytest.fixture
def tiny_dir(tmp_path: Path, tiny: Grid) -> Path:
    """A data folder whose current grid is the tiny grid (the demo roster is made on first use)."""
    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


@pytest.fixture
def db_file(tmp_path: Path) -> Path:
    """Where a SQLite database may be created (nothing there yet)."""
    return tmp_path / "db" / "gridmgr.sqlite"


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def report_cases(url: str, n: int) -> list[str]:
    """Open ``n`` cases in the database at ``url`` (one ledger event each)."""
    store = open_store(url, create=True)
    try:
        return [
            report_incident(
                store,
                tiny_context(),
                reporter=OPERATOR,
                category="street_vending",
                at=AT + timedelta(minutes=i),
                description=f"占道 {i}",
                **INSIDE,
            ).case.case_id
            for i in range(n)
        ]
    finally:
        store.close()


def tamper(url: str, *statements: str) -> None:
    """Drop the ledger's guards as an attacker would, then run ``statements``."""
    store = open_store(url, check=False)
    try:
        drop_ledger_guards(store)
        for statement in statements:
            store.execute_sql_for_tests(statement)
    finally:
        store.close()


# -- db -------------------------------------------------------------------------------------


def test_db_init_creates_the_schema_and_reports_the_durability_settings(
    tiny_dir: Path, db_file: Path
) -> None:
    result = invoke(tiny_dir, "db", "init", "--db", str(db_file))

    assert result.exit_code == 0, result.output
    out = flat(result.stdout)
    assert f"schema created (empty → {head_revision()})" in out
    assert "durability: journal_mode=wal, synchronous=2, foreign_keys=1" in out
    assert "grid: loaded" in out
    assert db_file.is_file()
    open_store(sqlite_url(db_file)).close()  # refuses unless the schema is current


def test_db_init_again_says_the_schema_is_already_current(tiny_dir: Path, db_file: Path) -> None:
    invoke(tiny_dir, "db", "init", "--db", str(db_file))

    result = invoke(tiny_dir, "db", "init", "--db", str(db_file))

    assert result.exit_code == 0, result.output
    assert f"schema already at {head_revision()}" in flat(result.stdout)
    assert "created" not in result.stdout
    assert "grid: already current" in result.stdout


def test_db_upgrade_of_a_current_database_is_a_no_op(tiny_dir: Path, db_file: Path) -> None:
    invoke(tiny_dir, "db", "init", "--db", str(db_file))

    result = invoke(tiny_dir, "db", "upgrade", "--db", str(db_file))

    assert result.exit_code == 0, result.output
    assert f"schema already at {head_revision()}" in flat(result.stdout)


def test_db_check_passes_on_an_initialised_database(tiny_dir: Path, db_file: Path) -> None:
    invoke(tiny_dir, "db", "init", "--db", str(db_file))

    result = invoke(tiny_dir, "db", "check", "--db", str(db_file))

    assert result.exit_code == 0, result.output
    assert f"schema {head_revision()} (current)" in flat(result.stdout)


def test_db_check_of_an_empty_database_exits_1_and_says_run_db_init(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(tiny_dir, "db", "check", "--db", str(db_file), capsys=capsys)

    assert code == 1
    assert "gridmgr db init" in err
    assert "Traceback" not in err
    assert out == ""


def test_db_without_db_option_uses_gridmgr_sqlite_in_the_data_folder(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDMGR_DB", raising=False)

    result = invoke(tiny_dir, "db", "init")

    assert result.exit_code == 0, result.output
    assert (tiny_dir / "gridmgr.sqlite").is_file()


def test_without_data_dir_option_the_data_folder_is_gridmgr_data_dir(
    tiny_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from gridmgr.cli import cli

    monkeypatch.delenv("GRIDMGR_DB", raising=False)
    monkeypatch.setenv("GRIDMGR_DATA_DIR", str(tiny_dir))

    result = CliRunner().invoke(cli, ["db", "init"])

    assert result.exit_code == 0, result.output
    assert (tiny_dir / "gridmgr.sqlite").is_file()


def test_db_without_db_option_uses_the_gridmgr_db_setting(
    tiny_dir: Path, db_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRIDMGR_DB", str(db_file))

    result = invoke(tiny_dir, "db", "init")

    assert result.exit_code == 0, result.output
    assert db_file.is_file()
    assert not (tiny_dir / "gridmgr.sqlite").exists()


def test_a_bad_setting_in_the_environment_exits_1_naming_the_variable(
    tiny_dir: Path,
    db_file: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GRIDMGR_NOTIFY_DUE_WITHIN_HOURS", "soon")

    code, out, err = run_main(tiny_dir, "db", "init", "--db", str(db_file), capsys=capsys)

    assert code == 1
    assert "GRIDMGR_NOTIFY_DUE_WITHIN_HOURS" in flat(err)
    assert "Traceback" not in err
    assert out == ""
    assert not db_file.exists()


def test_db_accepts_a_url_on_each_backend_and_hides_the_password(
    tiny_dir: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before, _, _ = run_main(tiny_dir, "db", "check", "--db", db_url, capsys=capsys)

    init, init_out, _ = run_main(tiny_dir, "db", "init", "--db", db_url, capsys=capsys)
    check, check_out, _ = run_main(tiny_dir, "db", "check", "--db", db_url, capsys=capsys)

    assert (before, init, check) == (1, 0, 0)
    assert "schema created" in init_out
    assert f"schema {head_revision()} (current)" in flat(check_out)
    if db_url.startswith("postgresql"):
        assert "fsync=on" in check_out
        assert "gridmgr:***@" in init_out
        assert ":gridmgr@" not in init_out + check_out  # the password is never printed


# -- ledger verify / checkpoint ---------------------------------------------------------------


def test_ledger_verify_of_an_intact_ledger_exits_0_and_counts_the_events(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report_cases(db_url, 3)

    code, out, err = run_main(tmp_path, "ledger", "verify", "--db", db_url, capsys=capsys)

    assert code == 0, err
    assert "ledger verified: 3 events, head event 3" in flat(out)


def test_ledger_verify_of_an_empty_ledger_counts_zero(
    tmp_path: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_store(sqlite_url(db_file), create=True).close()

    code, out, _ = run_main(tmp_path, "ledger", "verify", "--db", str(db_file), capsys=capsys)

    assert code == 0
    assert "ledger verified: 0 events" in flat(out)


def test_ledger_verify_after_an_edited_payload_exits_1_and_names_the_event(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report_cases(db_url, 3)
    tamper(db_url, "UPDATE ledger SET payload = replace(payload, '占道 1', '无事 1') WHERE seq = 2")

    code, out, err = run_main(tmp_path, "ledger", "verify", "--db", db_url, capsys=capsys)

    assert code == 1
    assert "LEDGER BROKEN" in err
    assert "event 2: hash does not match" in flat(err)
    assert "ledger NOT verified" in flat(out)
    assert "Traceback" not in err


def test_ledger_checkpoint_writes_the_head_seq_and_hash_as_json(
    tmp_path: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(db_file)
    report_cases(url, 2)
    path = tmp_path / "head.json"

    code, out, err = run_main(
        tmp_path, "ledger", "checkpoint", str(path), "--db", str(db_file), capsys=capsys
    )

    assert code == 0, err
    document = json.loads(path.read_text(encoding="utf-8"))
    store = open_store(url)
    try:
        head = store.ledger_head()
    finally:
        store.close()
    assert head is not None
    assert (document["seq"], document["hash"], document["count"]) == (2, head.hash, 2)
    assert document["format"] == "gridmgr-ledger-checkpoint/1"
    assert Checkpoint.from_json(path.read_text(encoding="utf-8")).seq == 2
    assert "checkpoint at event 2" in flat(out)


def test_ledger_checkpoint_of_a_broken_ledger_is_refused_and_writes_nothing(
    tmp_path: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(db_file)
    report_cases(url, 2)
    tamper(url, "UPDATE ledger SET actor = 'nobody' WHERE seq = 1")
    path = tmp_path / "head.json"

    code, _, err = run_main(
        tmp_path, "ledger", "checkpoint", str(path), "--db", str(db_file), capsys=capsys
    )

    assert code == 1
    assert "does not verify" in flat(err)
    assert not path.exists()


def test_ledger_verify_against_a_checkpoint_detects_a_truncated_tail(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report_cases(db_url, 4)
    path = tmp_path / "head.json"
    code, _, err = run_main(
        tmp_path, "ledger", "checkpoint", str(path), "--db", db_url, capsys=capsys
    )
    assert code == 0, err
    tamper(
        db_url,
        "DELETE FROM case_events WHERE ledger_seq >= 3",
        "DELETE FROM ledger WHERE seq >= 3",
    )

    plain, _, _ = run_main(tmp_path, "ledger", "verify", "--db", db_url, capsys=capsys)
    code, out, err = run_main(
        tmp_path, "ledger", "verify", "--checkpoint", str(path), "--db", db_url, capsys=capsys
    )

    assert plain == 0  # a shorter chain is still a valid chain ...
    assert code == 1  # ... until the published checkpoint is consulted
    assert "truncated" in flat(err)
    assert "checkpoint NOT confirmed" in flat(out)


def test_ledger_verify_against_a_matching_checkpoint_confirms_it(
    tmp_path: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_cases(sqlite_url(db_file), 2)
    path = tmp_path / "head.json"
    run_main(tmp_path, "ledger", "checkpoint", str(path), "--db", str(db_file), capsys=capsys)
    report_cases(sqlite_url(db_file), 1)  # the ledger grows past the checkpoint

    code, out, _ = run_main(
        tmp_path, "ledger", "verify", "--checkpoint", str(path), "--db", str(db_file), capsys=capsys
    )

    assert code == 0
    assert "3 events" in flat(out)
    assert "checkpoint matches" in flat(out)


@pytest.mark.parametrize(
    "content",
    [
        "not json at all",
        "[1, 2, 3]",
        '{"format": "something/2"}',
        '{"format": "gridmgr-ledger-checkpoint/1", "seq": 1}',
        '{"format": "gridmgr-ledger-checkpoint/1", "seq": "2", "count": "2", '
        '"hash": "' + "0" * 64 + '", "at": "2026-05-06T01:00:00.000000Z"}',
        '{"format": "gridmgr-ledger-checkpoint/1", "seq": 2, "count": 2, '
        '"hash": "' + "0" * 64 + '", "at": 5}',
        "",
    ],
    ids=["not-json", "array", "wrong-format", "missing-fields", "string-seq", "number-at", "empty"],
)
def test_a_malformed_checkpoint_file_is_a_one_line_error_without_traceback(
    tmp_path: Path, db_file: Path, content: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report_cases(sqlite_url(db_file), 1)
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")

    code, _, err = run_main(
        tmp_path, "ledger", "verify", "--checkpoint", str(path), "--db", str(db_file), capsys=capsys
    )

    assert code == 1
    assert "checkpoint" in err
    assert "Traceback" not in err
    assert "internal error" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_binary_checkpoint_file_is_a_clear_error_not_an_internal_error(
    tmp_path: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_cases(sqlite_url(db_file), 1)
    path = tmp_path / "bad.json"
    path.write_bytes(b"\xff\xfe\x00garbage\x80")

    code, _, err = run_main(
        tmp_path, "ledger", "verify", "--checkpoint", str(path), "--db", str(db_file), capsys=capsys
    )

    assert "internal error" not in err
    assert code == 1
    assert "checkpoint" in err


# -- escalate -------------------------------------------------------------------------------


def dispatched_case(url: str) -> tuple[str, datetime]:
    """A case reported, registered and dispatched at AT; returns its id and its sign deadline."""
    context = tiny_context()
    store = open_store(url, create=True)
    try:
        case_id = report_incident(
            store,
            context,
            reporter=OPERATOR,
            category="street_vending",
            at=AT,
            description="占道",
            **INSIDE,
        ).case.case_id
        for minutes, action in ((1, Action.REGISTER), (2, Action.DISPATCH)):
            act(
                store,
                context,
                case_id,
                action,
                actor=OPERATOR,
                at=AT + timedelta(minutes=minutes),
                comment=action.value,
            )
        case = store.case(case_id)
    finally:
        store.close()
    assert case.state is CaseState.DISPATCHED
    assert case.due_at is not None
    return case_id, case.due_at


def test_escalate_escalates_an_overdue_dispatched_case_exactly_once(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = sqlite_url(db_file)
    case_id, due = dispatched_case(url)
    late = (due + timedelta(minutes=30)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")
    args = ("escalate", "--at", late, "--db", str(db_file))

    first, first_out, err = run_main(tiny_dir, *args, capsys=capsys)
    again, again_out, _ = run_main(tiny_dir, *args, capsys=capsys)

    assert (first, again) == (0, 0), err
    assert "escalated 1 overdue stage(s)" in first_out
    assert case_id in first_out
    assert "street_vending rung 1 yellow" in first_out
    assert "escalated 0 overdue stage(s)" in again_out
    assert case_id not in again_out
    store = open_store(url)
    try:
        assert store.case(case_id).escalation_level == 1
        assert store.verify_ledger().count == 4  # report, register, dispatch, one escalation
    finally:
        store.close()


def test_escalate_before_the_deadline_escalates_nothing(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case_id, due = dispatched_case(sqlite_url(db_file))
    early = (due - timedelta(minutes=30)).astimezone(TZ).strftime("%Y-%m-%d %H:%M")

    code, out, _ = run_main(
        tiny_dir, "escalate", "--at", early, "--db", str(db_file), capsys=capsys
    )

    assert code == 0
    assert "escalated 0 overdue stage(s)" in out
    assert case_id not in out


def test_escalate_with_an_unreadable_time_is_a_clear_error(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_store(sqlite_url(db_file), create=True).close()

    code, _, err = run_main(
        tiny_dir, "escalate", "--at", "next tuesday", "--db", str(db_file), capsys=capsys
    )

    assert code == 1
    assert "cannot read 'next tuesday' as a time" in flat(err)
    assert "Traceback" not in err


# -- token / apikey -------------------------------------------------------------------------


def test_token_create_prints_exactly_one_gm_credential_line_on_stdout(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        tiny_dir, "token", "create", "--person", "P00001", "--db", str(db_file), capsys=capsys
    )

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert TOKEN.match(lines[0])
    assert "P00001" in err
    assert "valid 90 days" in err
    store = open_store(sqlite_url(db_file))
    try:
        credential = store.check_credential(lines[0], now=datetime.now(TZ), kind="person")
        stored = [c.secret_hash for c in store.list_credentials()]
    finally:
        store.close()
    assert credential.subject == "P00001"
    secret = lines[0][len("gm_0123456789abcdef_") :]
    assert stored == [hashlib.sha256(secret.encode()).hexdigest()]  # only the hash is kept


def test_token_create_with_days_sets_the_expiry(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(
        tiny_dir,
        "token",
        "create",
        "--person",
        "P00001",
        "--days",
        "3",
        "--db",
        str(db_file),
        capsys=capsys,
    )
    assert code == 0
    secret = out.strip()
    store = open_store(sqlite_url(db_file))
    try:
        now = datetime.now(TZ)
        credential = store.check_credential(secret, now=now, kind="person")
    finally:
        store.close()
    assert credential.expires_at is not None
    assert timedelta(days=3) - timedelta(minutes=5) < credential.expires_at - now
    assert credential.expires_at - now <= timedelta(days=3)


def test_token_create_for_an_unknown_person_is_a_clear_error_and_creates_nothing(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        tiny_dir, "token", "create", "--person", "P99999", "--db", str(db_file), capsys=capsys
    )

    assert code == 1
    assert "P99999" in err
    assert "roster" in err
    assert "Traceback" not in err
    assert "gm_" not in out


def test_token_create_refuses_fewer_than_one_day(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        tiny_dir,
        "token",
        "create",
        "--person",
        "P00001",
        "--days",
        "0",
        "--db",
        str(db_file),
        capsys=capsys,
    )

    assert code == 2
    assert "at least one day" in err
    assert "gm_" not in out


def test_token_revoke_works_once_and_the_token_stops_working(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, out, _ = run_main(
        tiny_dir, "token", "create", "--person", "P00001", "--db", str(db_file), capsys=capsys
    )
    secret = out.strip()
    match = TOKEN.match(secret)
    assert match is not None
    token_id = match.group(1)

    first, first_out, err = run_main(
        tiny_dir, "token", "revoke", token_id, "--db", str(db_file), capsys=capsys
    )
    again, _, again_err = run_main(
        tiny_dir, "token", "revoke", token_id, "--db", str(db_file), capsys=capsys
    )

    assert first == 0, err
    assert f"revoked {token_id}" in first_out
    assert again != 0
    assert f"no live credential with id {token_id}" in again_err
    store = open_store(sqlite_url(db_file))
    try:
        with pytest.raises(CredentialError, match="revoked"):
            store.check_credential(secret, now=datetime.now(TZ), kind="person")
    finally:
        store.close()


def test_token_revoke_of_an_unknown_id_fails(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    open_store(sqlite_url(db_file), create=True).close()

    code, _, err = run_main(
        tiny_dir, "token", "revoke", "0123456789abcdef", "--db", str(db_file), capsys=capsys
    )

    assert code != 0
    assert "no live credential with id 0123456789abcdef" in err


def test_apikey_create_prints_a_credential_for_the_partner(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(
        tiny_dir, "apikey", "create", "hotline", "--db", str(db_file), capsys=capsys
    )

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert TOKEN.match(lines[0])
    assert "api_key for hotline, valid 365 days" in err
    store = open_store(sqlite_url(db_file))
    try:
        credential = store.check_credential(lines[0], now=datetime.now(TZ), kind="apikey")
    finally:
        store.close()
    assert (credential.kind, credential.subject, credential.label) == (
        "apikey",
        "hotline",
        "hotline",
    )


def test_token_and_apikey_secrets_are_different_each_time(
    tiny_dir: Path, db_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = set()
    for _ in range(3):
        _, out, _ = run_main(
            tiny_dir, "apikey", "create", "hotline", "--db", str(db_file), capsys=capsys
        )
        secrets.add(out.strip())
    assert len(secrets) == 3


def test_serve_outside_demo_mode_refuses_to_start_without_a_secret_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GRIDMGR_SECRET_KEY", raising=False)

    code, _, err = run_main(tmp_path / "data", "serve", "--no-demo", "--port", "1", capsys=capsys)

    assert code == 1
    assert "GRIDMGR_SECRET_KEY" in err
    assert not (tmp_path / "data" / "gridmgr.sqlite").exists()  # refused before anything started
