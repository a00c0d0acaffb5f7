"""Intake: batch import by channel (idempotent by source id), the unlocated queue and placement."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from gridmgr.cases import Action, Actor, Role
from gridmgr.intake.channels import Channel, IntakeError, read_intake_file
from gridmgr.responsibility.calendar import TZ
from gridmgr.responsibility.catalog_file import read_catalog
from gridmgr.services.actions import act
from gridmgr.services.notices import notifications_for
from gridmgr.services.triage import TriageError, import_intake, place_case, unlocated_queue
from gridmgr.store import Store
from tests.builders import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
OPERATOR = Actor("op-1", Role.OPERATOR)
CSV = """source_id,category,description,reported_at,lon,lat,address,reporter
H-001,streetlight_out,人民路路灯不亮,2026-05-06T08:10,120.0625,31.5625,,138****0001
H-002,road_damage,路面坑洞,2026-05-06T08:20,,,澄江街道人民路12号,138****0002
H-003,exposed_garbage,垃圾堆放,,120.3125,31.8125,,
"""


def write(tmp_path: Path, text: str, name: str = "hotline.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def run_import(store: Store, path: Path, *, skip_bad: bool = False):  # type: ignore[no-untyped-def]
    batch = read_intake_file(path, catalog=read_catalog())
    return import_intake(
        store,
        tiny_context(),
        batch,
        channel=Channel.HOTLINE,
        actor=OPERATOR,
        now=AT,
        skip_bad=skip_bad,
    )


def test_a_reimported_file_creates_nothing_twice(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, CSV)
    first = run_import(store, path)
    again = run_import(store, path)

    assert [row for row, _ in first.created] == [2, 3, 4]
    assert again.created == []
    assert again.existing == first.created
    assert store.count_cases() == 3
    infos = store.intake_info(c.case_id for c in store.cases())
    rows = [(i.channel, i.source_id, i.queue) for i in infos.values()]
    assert sorted(rows) == [
        ("hotline", "H-001", "cell"),
        ("hotline", "H-002", "unlocated"),
        ("hotline", "H-003", "cell"),
    ]
    report = store.trail(first.created[0][1])[0]
    assert (report.details["channel"], report.details["source_id"]) == ("hotline", "H-001")


def test_the_same_source_id_on_another_channel_is_another_report(
    store: Store, tmp_path: Path
) -> None:
    path = write(tmp_path, CSV)
    run_import(store, path)
    batch = read_intake_file(path, catalog=read_catalog())
    other = import_intake(
        store, tiny_context(), batch, channel=Channel.PARTNER, actor=OPERATOR, now=AT
    )
    assert len(other.created) == 3


def test_a_json_batch_is_read_like_a_csv_one(store: Store, tmp_path: Path) -> None:
    records = [
        {
            "source_id": "S-1",
            "category": "manhole_cover",
            "description": "井盖缺失",
            "lon": 120.1,
            "lat": 31.6,
        },
        {
            "source_id": "S-2",
            "category": "manhole_cover",
            "description": "井盖破损",
            "address": "某路",
        },
    ]
    path = write(tmp_path, json.dumps({"reports": records}, ensure_ascii=False), "sensor.json")
    result = run_import(store, path)
    assert [row for row, _ in result.created] == [1, 2]
    assert [row for row, _ in result.unlocated] == [2]


def test_a_bad_batch_is_refused_row_by_row_and_nothing_is_imported(
    store: Store, tmp_path: Path
) -> None:
    bad = CSV + "H-004,no_such_thing,x,,,,某路,\nH-001,streetlight_out,again,,120.1,31.6,,\n"
    bad += "H-006,streetlight_out,no place,,,,,\nH-007,streetlight_out,swapped,,31.6,120.1,,\n"
    path = write(tmp_path, bad)

    with pytest.raises(IntakeError) as info:
        run_import(store, path)

    where = [(p.row, p.field) for p in info.value.problems]
    assert where == [(5, "category"), (6, "source_id"), (7, "address"), (8, "lat")]
    assert "row 5" in str(info.value)
    assert "nothing was imported" in str(info.value)
    assert store.count_cases() == 0

    partial = run_import(store, path, skip_bad=True)
    assert [row for row, _ in partial.created] == [2, 3, 4]
    assert sorted({p.row for p in partial.refused}) == [5, 6, 7, 8]


def test_an_unlocated_report_waits_visible_until_an_operator_places_it(
    store: Store, tmp_path: Path
) -> None:
    context = tiny_context()
    result = run_import(store, write(tmp_path, CSV))
    [(_, case_id)] = result.unlocated

    [waiting] = unlocated_queue(store)
    assert waiting.case.case_id == case_id
    assert waiting.address == "澄江街道人民路12号"
    assert waiting.case.cell is None

    with pytest.raises(Exception, match="operator"):
        place_case(
            store, context, case_id, lon=120.0625, lat=31.5625, actor=Actor("w", Role.WORKER), at=AT
        )
    placed = place_case(store, context, case_id, lon=120.0625, lat=31.5625, actor=OPERATOR, at=AT)

    assert placed.cell == "320281001003003"
    assert unlocated_queue(store) == []
    last = store.trail(case_id)[-1]
    assert last.action == "place"
    assert last.verified
    assert last.details["cell"] == "320281001003003"
    assert last.details["responsible"]["person_id"] is not None
    assert store.verify_ledger().ok
    facts = store.case_facts().set_index("case_id")
    assert (facts.loc[case_id, "queue"], facts.loc[case_id, "tier2"]) == ("cell", "320281001003")
    with pytest.raises(TriageError, match="not the unlocated one"):
        place_case(store, context, case_id, lon=120.0625, lat=31.5625, actor=OPERATOR, at=AT)

    # once placed it follows the loop: road damage is a city matter of 城管局 (dept:cgj), so 派遣
    # goes by default to that unit's inbox, held by its leader, who is notified
    act(store, context, case_id, Action.REGISTER, actor=OPERATOR, at=AT, comment="立案")
    case = act(store, context, case_id, Action.DISPATCH, actor=OPERATOR, at=AT, comment="派遣")
    assert case.assignee is not None
    assert case.assignee.post == "unit:cgj"
    assert notifications_for(store, Actor(case.assignee.person_id, Role.WORKER))


def test_a_concurrent_import_of_the_same_record_counts_it_as_existing(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, CSV)
    first = run_import(store, path)
    real = store.existing_sources
    calls = []

    def stale(*args: object, **kw: object) -> dict[str, str]:
        calls.append(args)
        return {} if len(calls) == 1 else real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(store, "existing_sources", stale)  # the other import won the race
    again = run_import(store, path)

    assert again.created == []
    assert again.existing == first.created
    assert store.count_cases() == 3
