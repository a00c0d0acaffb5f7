"""The database use cases the doors open it through: the URL, creating, upgrading, checking."""

from __future__ import annotations

from pathlib import Path

import pytest

from gridmgr.errors import StoreError
from gridmgr.services.database import (
    check_database,
    database_url,
    is_new_database,
    open_database,
    upgrade_database,
)
from gridmgr.settings import Settings


def test_a_new_database_is_created_once_then_already_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gm.sqlite'}"
    assert is_new_database(url)

    first = upgrade_database(url)
    again = upgrade_database(url)

    assert first.before is None
    assert first.changed
    assert not again.changed
    assert again.before == again.after == first.after
    assert first.durability["journal_mode"].lower() == "wal"
    assert not is_new_database(url)
    assert check_database(url).revision == first.after


def test_checking_an_empty_database_says_to_run_db_init(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="gridmgr db init"):
        check_database(f"sqlite:///{tmp_path / 'empty.sqlite'}")


def test_open_database_follows_the_gridmgr_db_setting_unless_given_a_db(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", db=str(tmp_path / "setting.sqlite"))

    open_database(settings, create=True).close()
    open_database(settings, db=str(tmp_path / "option.sqlite"), create=True).close()

    assert (tmp_path / "setting.sqlite").is_file()
    assert (tmp_path / "option.sqlite").is_file()
    assert not (tmp_path / "data" / "gridmgr.sqlite").exists()


def test_a_command_line_db_wins_over_gridmgr_db_and_the_data_folder_is_the_last_resort() -> None:
    settings = Settings.from_env({"GRIDMGR_DATA_DIR": "/d", "GRIDMGR_DB": "/srv/city.sqlite"})

    assert database_url(settings) == "sqlite:////srv/city.sqlite"
    assert database_url(settings, "/tmp/other.sqlite") == "sqlite:////tmp/other.sqlite"
    assert database_url(Settings(data_dir=Path("/d"))) == "sqlite:////d/gridmgr.sqlite"
