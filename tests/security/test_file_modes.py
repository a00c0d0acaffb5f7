"""Finding 11: the data folder is made 0700 and the SQLite files 0600; a folder or database
others may read is refused at start, with the ``chmod`` that fixes it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from gridmgr.cli import cli
from gridmgr.datafiles import private_data_dir
from gridmgr.errors import DataFolderError, StoreError
from gridmgr.settings import Settings
from gridmgr.store import open_store

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_its_wal_and_shm_are_made_0600_in_a_0700_folder(
    tmp_path: Path,
) -> None:
    old = os.umask(0o022)  # the usual umask, which gave 0644 / 0755
    try:
        folder = tmp_path / "data"
        store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
        try:
            files = sorted(p.name for p in folder.iterdir())
            modes = {p.name: mode(p) for p in folder.iterdir()}
        finally:
            store.close()
    finally:
        os.umask(old)
    assert mode(folder) == 0o700
    assert {"gridmgr.sqlite", "gridmgr.sqlite-wal", "gridmgr.sqlite-shm"} <= set(files)
    assert {n: m for n, m in modes.items() if n.startswith("gridmgr.sqlite")} == {
        "gridmgr.sqlite": 0o600,
        "gridmgr.sqlite-wal": 0o600,
        "gridmgr.sqlite-shm": 0o600,
    }


@pytest.mark.parametrize("suffix", ["", "-wal", "-shm"])
def test_a_database_file_others_may_read_is_refused_with_the_chmod(
    tmp_path: Path, suffix: str
) -> None:
    db = tmp_path / "gridmgr.sqlite"
    open_store(f"sqlite:///{db}", create=True).close()
    shared = db.with_name(db.name + suffix)
    shared.touch()
    shared.chmod(0o644)
    with pytest.raises(StoreError, match=rf"chmod 600 {db}\*"):
        open_store(f"sqlite:///{db}")


def test_the_data_folder_is_made_0700(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        folder = private_data_dir(Settings(data_dir=tmp_path / "new" / "data"))
    finally:
        os.umask(old)
    assert mode(folder) == 0o700


def test_a_data_folder_others_may_read_is_refused_with_the_chmod(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    with pytest.raises(DataFolderError, match=rf"chmod 700 {folder}"):
        private_data_dir(Settings(data_dir=folder))


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "--port", "1"],
        ["db", "upgrade"],
        ["grid", "info"],
        ["ledger", "verify"],
    ],
)
def test_commands_refuse_a_data_folder_others_may_read(tmp_path: Path, args: list[str]) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o755)
    result = CliRunner().invoke(cli, ["--data-dir", str(folder), *args], obj=None)
    assert result.exit_code != 0
    assert isinstance(result.exception, DataFolderError)
    assert f"chmod 700 {folder}" in str(result.exception)
    assert not (folder / "gridmgr.sqlite").exists()  # nothing was made in it


def test_serve_reports_the_refusal_as_an_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridmgr.cli import main

    folder = tmp_path / "data"
    folder.mkdir()
    folder.chmod(0o750)
    with pytest.raises(SystemExit) as stopped:
        main(["--data-dir", str(folder), "serve"])
    assert stopped.value.code == 1
    assert f"chmod 700 {folder}" in capsys.readouterr().err.replace("\n", "")
