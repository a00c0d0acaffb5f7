"""Tests of the matter catalog: the shipped file, every refusal, lookups and the round trip."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridmgr.errors import CatalogError, UnknownCategoryError
from gridmgr.responsibility.catalog import (
    CATALOG_COLUMNS,
    DEPARTMENTS,
    Catalog,
    CategoryGroup,
    Competence,
    Handler,
    PowerClass,
    Priority,
    catalog_to_rows,
    parse_handler,
)
from gridmgr.responsibility.catalog_file import (
    default_catalog_path,
    parse_catalog,
    read_catalog,
    write_catalog,
)
from gridmgr.responsibility.sla import COMMAND_STAGES, Clock, Span, Stage
from gridmgr.tablefiles import parse_table

HEADER = ",".join(CATALOG_COLUMNS)
VENDING = (
    "street_vending,占道经营,Street vending,city_appearance,town,town_team,normal,working,"
    "2h,1d,1d,yes,penalty,摆摊;占道"
)
GAS = (
    "gas_leak,燃气泄漏隐患,Gas leak,safety_hazard,city,dept:zjj,urgent,natural,"
    "30m,4h,2h,是,inspection,燃气"
)


def catalog_text(*rows: str) -> str:
    """A catalog CSV text with the standard header and ``rows``."""
    return "\n".join([HEADER, *rows]) + "\n"


def refusal(text: str, *, known_departments: Collection[str] | None = None) -> CatalogError:
    """The CatalogError raised when parsing ``text``."""
    with pytest.raises(CatalogError) as caught:
        parse_catalog(parse_table(text, source="test.csv"), known_departments=known_departments)
    return caught.value


@pytest.fixture(scope="module")
def shipped() -> Catalog:
    return read_catalog(known_departments=DEPARTMENTS)


def test_shipped_catalog_is_valid_with_at_least_30_categories_in_every_group(
    shipped: Catalog,
) -> None:
    assert len(shipped) >= 30
    assert all(count >= 4 for count in shipped.groups().values())
    assert set(shipped.groups()) == set(CategoryGroup)


def test_shipped_catalog_uses_only_known_departments_and_both_tiers(shipped: Catalog) -> None:
    assert shipped.departments() <= set(DEPARTMENTS)
    assert {c.competent_tier for c in shipped} == set(Competence)
    assert sum(c.devolved for c in shipped) >= 15


def test_shipped_urgent_categories_run_on_the_natural_clock(shipped: Catalog) -> None:
    urgent = [c for c in shipped if c.priority is Priority.URGENT]
    assert urgent
    assert all(c.clock is Clock.NATURAL for c in urgent)
    assert shipped.category("gas_leak").sla[Stage.SIGN] == Span(30, "m")


def test_shipped_catalog_file_is_in_canonical_form(shipped: Catalog, tmp_path: Path) -> None:
    written = write_catalog(shipped, tmp_path / "catalog.csv")
    assert written.read_bytes() == default_catalog_path().read_bytes()


def test_reading_the_shipped_catalog_does_not_import_geopandas() -> None:
    # A fresh interpreter: this test process has long imported the geospatial stack.
    code = (
        "import json, sys\n"
        "from gridmgr.responsibility.catalog_file import read_catalog\n"
        "catalog = read_catalog()\n"
        "print(json.dumps([len(catalog), 'geopandas' in sys.modules]))\n"
    )
    root = Path(__file__).resolve().parents[1]
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={**os.environ, "PYTHONPATH": path},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    categories, geopandas_imported = json.loads(done.stdout)
    assert categories >= 30
    assert not geopandas_imported, "reading a CSV catalog imported geopandas"


def test_export_then_import_gives_an_equal_catalog(shipped: Catalog, tmp_path: Path) -> None:
    again = read_catalog(write_catalog(shipped, tmp_path / "out.csv"))
    assert tuple(again) == tuple(shipped)
    assert again.checksum == shipped.checksum
    assert catalog_to_rows(again) == catalog_to_rows(shipped)


def test_rows_parse_back_to_the_same_rows(shipped: Catalog) -> None:
    rows = catalog_to_rows(shipped)
    text = catalog_text(*(",".join(row[c] for c in CATALOG_COLUMNS) for row in rows))
    assert catalog_to_rows(parse_catalog(parse_table(text, source="x.csv"))) == rows


def test_checksum_changes_when_a_span_changes() -> None:
    one = parse_catalog(parse_table(catalog_text(VENDING), source="a.csv"))
    two = parse_catalog(parse_table(catalog_text(VENDING.replace(",2h,", ",3h,")), source="b.csv"))
    assert one.checksum != two.checksum


def test_spans_clock_and_flags_are_parsed() -> None:
    catalog = parse_catalog(parse_table(catalog_text(VENDING, GAS), source="x.csv"))
    gas = catalog.category("gas_leak")
    assert dict(gas.sla) == {
        Stage.SIGN: Span(30, "m"),
        Stage.HANDLE: Span(4, "h"),
        Stage.VERIFY: Span(2, "h"),
        # the command center's stages: not given, 30 minutes each (on the natural clock here)
        **dict.fromkeys(COMMAND_STAGES, Span(30, "m")),
    }

    assert gas.clock is Clock.NATURAL
    assert gas.photo_required is True
    assert gas.handler == Handler("department", "zjj")
    assert gas.power_class is PowerClass.INSPECTION
    assert not gas.devolved
    assert catalog.category("street_vending").keywords == ("摆摊", "占道")
    assert catalog.codes == ("street_vending", "gas_leak")
    assert [c.code for c in catalog] == ["street_vending", "gas_leak"]
    assert "gas_leak" in catalog
    assert "nothing" not in catalog
    assert hash(gas) == hash(catalog.category("燃气泄漏隐患"))


def test_command_center_stage_spans_are_optional_columns() -> None:
    # HEADER has every column; VENDING leaves the optional ones out (empty: the defaults)
    row = VENDING + ",,,,10m"  # dup_distance_m, dup_window, dup_group, then register_within
    vending = parse_catalog(parse_table(catalog_text(row), source="x.csv")).category(
        "street_vending"
    )
    assert (vending.sla[Stage.REGISTER], vending.sla[Stage.CLOSE]) == (Span(10, "m"), Span(30, "m"))
    error = refusal(catalog_text(VENDING + ",,,,soon"))
    assert [(p.row, p.field) for p in error.problems] == [(2, "register_within")]


def test_chinese_labels_are_accepted_for_enumerated_columns() -> None:
    row = "x,某事,X,市容环境,镇街,town_team,紧急,自然日,1h,1d,1d,否,行政处罚,"
    category = next(iter(parse_catalog(parse_table(catalog_text(row), source="x.csv"))))
    assert category.group is CategoryGroup.CITY_APPEARANCE
    assert category.priority is Priority.URGENT
    assert category.photo_required is False
    assert category.keywords == ()


def test_category_is_found_by_chinese_name(shipped: Catalog) -> None:
    assert shipped.category("占道经营").code == "street_vending"
    assert shipped.category(" Street_Vending ").name_zh == "占道经营"


def test_unknown_category_names_the_code_and_suggests_close_ones(shipped: Catalog) -> None:
    with pytest.raises(UnknownCategoryError, match="street_vendng") as caught:
        shipped.category("street_vendng")
    assert "street_vending" in str(caught.value)
    assert "gridmgr catalog check" in str(caught.value)
    with pytest.raises(LookupError, match="燃气泄漏隐患"):
        shipped.category("燃气泄露隐患")


@pytest.mark.parametrize(
    ("old", "new", "field", "fragment"),
    [
        ("street_vending,", ",", "code", "empty code"),
        ("street_vending,", "Street Vending,", "code", "lowercase"),
        ("city_appearance", "appearance", "group", "city_appearance (市容环境)"),
        (",town,", ",county,", "competent_tier", "town"),
        ("town_team", "police", "handler", "dept:<id>"),
        ("town_team", "city_team", "handler", "city_team cannot handle a town-tier"),
        (",normal,", ",asap,", "priority", "urgent"),
        (",working,", ",weekly,", "clock", "natural"),
        (",2h,", ",2 weeks,", "sign_within", "30m, 2h, 3d"),
        (",1d,1d,", ",1d,0d,", "verify_within", "positive"),
        (",yes,", ",maybe,", "photo_required", "yes/no"),
        ("penalty", "fine", "power_class", "行政处罚"),
    ],
)
def test_each_refusal_names_its_row_and_column(
    old: str, new: str, field: str, fragment: str
) -> None:
    error = refusal(catalog_text(GAS, VENDING.replace(old, new, 1)))
    assert len(error.problems) == 1
    (problem,) = error.problems
    assert (problem.source, problem.row, problem.field) == ("test.csv", 3, field)
    assert fragment in problem.message
    assert str(error).startswith(f"test.csv: 1 problem(s); first: row 3 [{field}]: ")


def test_city_tier_matter_refuses_the_town_team() -> None:
    (problem,) = refusal(catalog_text(GAS.replace("dept:zjj", "town_team"))).problems
    assert problem.field == "handler"
    assert "city_team" in problem.message


def test_duplicate_code_and_chinese_name_name_the_first_row() -> None:
    error = refusal(catalog_text(VENDING, GAS, VENDING))
    assert [(p.row, p.field) for p in error.problems] == [(4, "code"), (4, "name_zh")]
    assert "row 2" in error.problems[0].message


def test_every_problem_is_reported_at_once() -> None:
    bad = "Bad,,X,nowhere,town,city_team,asap,weekly,x,y,z,maybe,fine,"
    error = refusal(catalog_text(VENDING, bad))
    fields = [p.field for p in error.problems]
    assert fields == [
        "code",
        "name_zh",
        "group",
        "priority",
        "clock",
        "sign_within",
        "handle_within",
        "verify_within",
        "photo_required",
        "power_class",
        "handler",
    ]
    assert {p.row for p in error.problems} == {3}
    assert str(error).startswith("test.csv: 11 problem(s); first: row 3 [code]: ")


def test_unknown_department_is_refused_only_when_departments_are_known() -> None:
    text = catalog_text(GAS.replace("dept:zjj", "dept:nosuch"))
    assert parse_catalog(parse_table(text, source="x.csv")).departments() == {"nosuch"}
    (problem,) = refusal(text, known_departments=DEPARTMENTS).problems
    assert problem.field == "handler"
    assert "nosuch" in problem.message
    assert "zjj" in problem.message


def test_catalog_without_categories_is_refused() -> None:
    error = refusal(catalog_text())
    assert [(p.row, p.field) for p in error.problems] == [(None, None)]
    assert "no categories" in str(error)


def test_missing_column_is_refused_by_name() -> None:
    text = catalog_text(VENDING).replace(",power_class", ",power")
    error = refusal(text)
    assert [(p.row, p.field) for p in error.problems] == [(None, "power_class")]


def test_gb18030_encoded_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(catalog_text(VENDING, GAS).encode("gb18030"))
    catalog = read_catalog(path)
    assert catalog.category("燃气泄漏隐患").code == "gas_leak"
    assert catalog.source == "catalog.csv"


def test_handler_csv_form_round_trips() -> None:
    for text in ("town_team", "city_team", "dept:cgj"):
        assert str(parse_handler(text)) == text
    with pytest.raises(CatalogError, match="dept:<id>"):
        parse_handler("the police")
    with pytest.raises(ValueError, match="department id"):
        parse_handler("dept:")


def test_priority_rank_orders_urgent_first() -> None:
    assert [p.rank for p in Priority] == [1, 2, 3, 4]
    assert Priority.URGENT.label_zh == "紧急"
    assert CategoryGroup.DISPUTE.label_zh == "矛盾纠纷"


@given(
    spans=st.tuples(*[st.integers(1, 999)] * 3),
    units=st.tuples(*[st.sampled_from("mhd")] * 3),
    keywords=st.lists(st.text("垃圾燃气噪声纠纷abc", min_size=1, max_size=4), max_size=5),
)
def test_any_valid_row_round_trips(
    spans: tuple[int, int, int], units: tuple[str, str, str], keywords: list[str]
) -> None:
    span_cells = ",".join(f"{n}{u}" for n, u in zip(spans, units, strict=True))
    row = f"k,某事,K,dispute,city,city_team,low,working,{span_cells},no,other,{';'.join(keywords)}"
    catalog = parse_catalog(parse_table(catalog_text(row), source="h.csv"))
    rows = catalog_to_rows(catalog)
    assert rows[0]["keywords"] == ";".join(dict.fromkeys(keywords))
    again = catalog_text(",".join(rows[0][c] for c in CATALOG_COLUMNS))
    assert tuple(parse_catalog(parse_table(again, source="h.csv"))) == tuple(catalog)
