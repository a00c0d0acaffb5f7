"""The power catalog (赋权清单): its files, the shipped synthetic default, routing that names the
power, and the ``gridmgr powers`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gridmgr import Grid
from gridmgr.errors import PowerCatalogError
from gridmgr.grid.generations import store_generation
from gridmgr.responsibility.calendar import WorkCalendar
from gridmgr.responsibility.catalog import PowerClass, parse_handler
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.responsibility.demo_powers import generate_powers
from gridmgr.responsibility.demo_roster import generate_roster
from gridmgr.responsibility.powers import (
    ALL_TOWNS,
    Devolution,
    PowerCatalog,
    PowerItem,
    unlinked_categories,
)
from gridmgr.responsibility.powers_file import parse_powers, read_powers, write_powers
from gridmgr.responsibility.roster_files import parse_time
from gridmgr.responsibility.routing import RoutingContext, route_incident
from gridmgr.settings import Settings
from gridmgr.tablefiles import parse_table
from tests.test_cli import invoke, run_main

TOWN = "320281001"
CELL = "320281001001001"
HEADER = "code,name_zh,power_class,legal_basis,holder,valid_from,valid_to\n"
ITEM = "CF0001,对占道经营的行政处罚,penalty,《条例》第1条,city_team,2020-01-01,\n"


def test_the_shipped_default_has_890_synthetic_items_75_approval_or_service_815_penalty() -> None:
    shipped = read_powers()

    classes = shipped.classes()
    assert len(shipped) == 890
    assert classes[PowerClass.APPROVAL] + classes[PowerClass.SERVICE] == 75
    assert classes[PowerClass.PENALTY] == 815
    assert all("合成示例" in item.legal_basis for item in shipped)
    assert shipped.checksum == generate_powers().checksum  # the generator rebuilds it exactly


def test_every_category_link_of_the_shipped_catalog_names_a_shipped_power() -> None:
    catalog = read_catalog()

    assert catalog.category("street_vending").power_code == "CF0001"
    assert unlinked_categories(catalog, read_powers()) == []


def test_a_written_power_catalog_reads_back_equal(tmp_path: Path) -> None:
    shipped = read_powers()

    again = read_powers(write_powers(shipped, tmp_path / "powers"))

    assert again.checksum == shipped.checksum
    assert (tmp_path / "powers" / "powers.csv").read_bytes().startswith(b"\xef\xbb\xbf")


def test_refusals_name_every_bad_row_and_column() -> None:
    items = parse_table(
        HEADER + ITEM + "CF0001,重复,penalty,x,city_team,2020-01-01,\n"
        "CF0002,名称,fine,x,city_team,2020-01-01,\n"
        "CF0003,名称,penalty,x,town_team,2021-01-01,2020-01-01\n",
        source="powers.csv",
    )
    devolutions = parse_table(
        "power_code,town,holder,valid_from,valid_to\n"
        f"CF0001,{TOWN},,2026-07-01,\n"
        f"CF0001,{TOWN},,2027-01-01,\n"
        "CF9999,*,,2026-07-01,\n"
        "CF0001,3202810,,2026-07-01,\n",
        source="devolution.csv",
    )

    with pytest.raises(PowerCatalogError) as refused:
        parse_powers(items, devolutions)

    where = {(p.source, p.row, p.field) for p in refused.value.problems}
    assert where == {
        ("powers.csv", 3, "code"),
        ("powers.csv", 4, "power_class"),
        ("powers.csv", 5, "valid_to"),
        ("devolution.csv", 3, None),  # overlaps row 2
        ("devolution.csv", 4, "power_code"),
        ("devolution.csv", 5, "town"),
    }


def test_a_devolution_to_a_town_the_grid_lacks_is_refused() -> None:
    items = parse_table(HEADER + ITEM, source="powers.csv")
    devolutions = parse_table(
        "power_code,town,valid_from\nCF0001,320281004,2026-07-01\n", source="devolution.csv"
    )

    with pytest.raises(PowerCatalogError, match="no town 320281004"):
        parse_powers(items, devolutions, towns={TOWN})


def _devolved_from(date: str) -> PowerCatalog:
    item = PowerItem(
        "CF0001",
        "对占道经营的行政处罚",
        PowerClass.PENALTY,
        "《条例》第1条",
        parse_handler("city_team"),
        parse_time("2020-01-01"),
    )
    elsewhere = Devolution(
        "CF0001", "320281099", parse_handler("town_team"), parse_time("2020-01-01")
    )
    to_town = Devolution("CF0001", TOWN, parse_handler("town_team"), parse_time(date))
    return PowerCatalog([item], [elsewhere, to_town], source="test powers")


def test_routing_names_the_power_and_its_holder_before_and_after_a_devolution(tiny: Grid) -> None:
    context = RoutingContext(
        tiny,
        generate_roster(tiny),
        read_catalog(),
        WorkCalendar(),
        powers=_devolved_from("2026-07-01"),
    )

    before = route_incident(
        context, category="street_vending", cell=CELL, at=parse_time("2026-06-30 10:00")
    )
    after = route_incident(
        context, category="street_vending", cell=CELL, at=parse_time("2026-07-01 10:00")
    )

    assert before.power is not None
    assert str(before.power.holder) == "city_team"
    assert not before.power.devolved
    assert before.handling.unit is not None
    assert before.handling.unit.unit_id == "city-team-1"
    assert before.handling.dispatched_by == "command center"
    assert after.power is not None
    assert after.power.devolved
    assert after.handling.unit is not None
    assert after.handling.unit.unit_id == f"town-team-{TOWN}"
    assert after.handling.dispatched_by == "town"
    power = after.to_dict()["power"]
    assert power["code"] == "CF0001"
    assert power["class"] == "penalty"
    assert power["holder"] == {
        "handler": "town_team",
        "unit_id": f"town-team-{TOWN}",
        "name": after.handling.unit.name,
    }
    assert any("devolved to town 320281001 since 2026-07-01" in r for r in after.reasons)


def test_a_power_not_in_force_leaves_the_catalogs_handler(tiny: Grid) -> None:
    powers = PowerCatalog(
        [
            PowerItem(
                "CF0001",
                "x",
                PowerClass.PENALTY,
                "y",
                parse_handler("city_team"),
                parse_time("2027-01-01"),
            )
        ],
        [Devolution("CF0001", ALL_TOWNS, parse_handler("town_team"), parse_time("2027-01-01"))],
        source="p",
    )
    context = RoutingContext(
        tiny, generate_roster(tiny), read_catalog(), WorkCalendar(), powers=powers
    )

    decision = route_incident(
        context, category="street_vending", cell=CELL, at=parse_time("2026-06-30 10:00")
    )

    assert decision.power is None
    assert decision.to_dict()["power"] is None
    assert decision.handling.unit is not None
    assert decision.handling.unit.unit_id == f"town-team-{TOWN}"


@pytest.fixture
def tiny_dir(tmp_path: Path, tiny: Grid) -> Path:
    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    return data_dir


def test_route_json_names_the_power_at_the_given_time(tiny_dir: Path) -> None:
    result = invoke(
        tiny_dir,
        "route",
        "--cell",
        CELL,
        "--category",
        "占道经营",
        "--at",
        "2026-10-01 14:05",
        "--json",
    )

    assert result.exit_code == 0, result.output
    power = json.loads(result.output)["power"]
    assert {k: power[k] for k in ("code", "class")} == {"code": "CF0001", "class": "penalty"}
    assert power["holder"]["handler"] == "town_team"
    assert power["name"]


def test_powers_export_then_import_makes_the_citys_own_catalog(
    tiny_dir: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mine"
    assert invoke(tiny_dir, "powers", "export", str(folder)).exit_code == 0
    text = (folder / "devolution.csv").read_text(encoding="utf-8-sig")
    # the tiny grid has one town: keep the devolutions to every town only
    kept = [line for line in text.splitlines() if ",320281" not in line]
    (folder / "devolution.csv").write_text("\n".join(kept) + "\n", encoding="utf-8-sig")

    result = invoke(tiny_dir, "powers", "import", str(folder))

    assert result.exit_code == 0, result.output
    assert (tiny_dir / "powers" / "powers.csv").exists()
    assert "890 items" in result.output


def test_powers_import_refuses_a_bad_folder_naming_the_row(
    tiny_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "powers.csv").write_text(HEADER + ITEM.replace("penalty", "fine"), encoding="utf-8")

    code, _, err = run_main(tiny_dir, "powers", "import", str(folder), capsys=capsys)

    assert code == 1
    assert "powers.csv row 2 [power_class]" in err
    assert not (tiny_dir / "powers").exists()
