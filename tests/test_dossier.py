"""The case dossier (案卷): exported from the store, verified offline with no database, and every
changed byte of an event, photo, proof or file detected and named (both backends)."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from gridmgr import Grid
from gridmgr.access import Caller
from gridmgr.cases import Action, Actor, Role
from gridmgr.errors import CaseNotFoundError
from gridmgr.intake.photos import sanitize_photo
from gridmgr.ledger.dossier import DossierError, verify_dossier
from gridmgr.ledger.treehead import SignedTreeHead, public_key_bytes
from gridmgr.responsibility.calendar import TZ
from gridmgr.services.actions import act
from gridmgr.services.context import Services
from gridmgr.services.dossier import export_dossier
from gridmgr.services.photos import store_photo
from gridmgr.services.reports import report_incident
from gridmgr.settings import Settings
from gridmgr.store import Store, open_store
from gridmgr.testing import tiny_context

AT = datetime(2026, 5, 6, 9, 0, tzinfo=TZ)
OPERATOR = Actor("op-1", Role.OPERATOR, "值班员")
CITY = Caller(OPERATOR, None)
KEY = Ed25519PrivateKey.generate()


def jpeg(colour: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def services_for(store: Store, tmp_path: Path) -> Services:
    return Services(store, tiny_context(), Settings(data_dir=tmp_path), clock=lambda: AT)


def a_case_with_photos(services: Services) -> str:
    """A dispatched case with two photos, among other cases' events."""
    other = report_incident(
        services.store,
        services.context,
        reporter=OPERATOR,
        category="street_vending",
        lon=120.4375,
        lat=31.5625,
        description="别的案件",
        at=AT,
    ).case
    case = report_incident(
        services.store,
        services.context,
        reporter=OPERATOR,
        category="street_vending",
        lon=120.0625,
        lat=31.9375,
        description="桥下有人占道经营 <b>不是标记</b>",
        at=AT + timedelta(minutes=1),
    ).case
    store_photo(services, case.case_id, sanitize_photo(jpeg((200, 80, 40))), actor="op-1")
    act(
        services.store,
        services.context,
        case.case_id,
        Action.REGISTER,
        actor=OPERATOR,
        comment="立案",
        at=AT + timedelta(minutes=2),
    )
    store_photo(services, case.case_id, sanitize_photo(jpeg((40, 80, 200))), actor="op-1")
    act(
        services.store,
        services.context,
        other.case_id,
        Action.REGISTER,
        actor=OPERATOR,
        comment="立案",
        at=AT + timedelta(minutes=3),
    )
    return case.case_id


def export(store: Store, data_dir: Path) -> tuple[dict[str, bytes], SignedTreeHead, str]:
    services = services_for(store, data_dir)
    case_id = a_case_with_photos(services)
    _, data = export_dossier(services, CITY, case_id, KEY, now=AT + timedelta(hours=1))
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    head = store.latest_tree_head()
    assert head is not None
    return members, head, case_id


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[dict[str, bytes], SignedTreeHead, str]:
    """One dossier, exported once from a SQLite store, for the tamper tests (which are offline)."""
    folder = tmp_path_factory.mktemp("dossier")
    store = open_store(f"sqlite:///{folder / 'gridmgr.sqlite'}", create=True)
    try:
        return export(store, folder)
    finally:
        store.close()


def test_an_exported_dossier_verifies_offline_against_the_published_head(
    store: Store, tmp_path: Path
) -> None:
    members, head, case_id = export(store, tmp_path)
    result = verify_dossier(members, trusted=head, trusted_key=public_key_bytes(KEY.public_key()))
    assert (result.case_id, result.photos) == (case_id, 2)
    assert result.events == len(json.loads(members["events.json"])["events"]) >= 4
    assert {"dossier.pdf", "README.txt", "case.json", "manifest.sig"} <= members.keys()
    assert members["dossier.pdf"].startswith(b"%PDF")
    listed = json.loads(members["photos.json"])["photos"]
    assert all(p["file"] in members for p in listed)


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def test_a_changed_field_of_any_event_is_named(exported) -> None:
    members, head, _ = exported
    document = json.loads(members["events.json"])
    for i, event in enumerate(document["events"]):
        for field in ("at", "kind", "actor", "payload", "prev_hash"):
            changed = json.loads(members["events.json"])
            value = changed["events"][i][field]
            changed["events"][i][field] = value[:-1] + ("0" if value[-1] != "0" else "1")
            forged = {**members, "events.json": json.dumps(changed).encode()}
            with pytest.raises(DossierError, match=f"event {event['seq']} .*its hash does not"):
                verify_dossier(forged, trusted=head)


def test_a_forged_event_with_a_recomputed_hash_fails_its_inclusion_proof(exported) -> None:
    from gridmgr.ledger import event_hash

    members, head, _ = exported
    changed = json.loads(members["events.json"])
    event = changed["events"][0]
    event["actor"] = "someone-else"
    event["hash"] = event_hash(**{k: v for k, v in event.items() if k != "hash"})
    forged = {**members, "events.json": json.dumps(changed).encode()}
    with pytest.raises(DossierError, match=f"inclusion proof of event {event['seq']}"):
        verify_dossier(forged, trusted=head)


def test_every_changed_hash_of_every_proof_is_named(exported) -> None:
    members, head, _ = exported
    proofs = json.loads(members["proofs.json"])["proofs"]
    for i, proof in enumerate(proofs):
        for j, node in enumerate(proof["path"]):
            changed = json.loads(members["proofs.json"])
            changed["proofs"][i]["path"][j] = ("0" if node[0] != "0" else "1") + node[1:]
            forged = {**members, "proofs.json": json.dumps(changed).encode()}
            with pytest.raises(DossierError, match=f"inclusion proof of event {proof['seq']}"):
                verify_dossier(forged, trusted=head)


def test_any_changed_byte_of_a_photo_is_named(exported) -> None:
    members, head, _ = exported
    for name in [n for n in members if n.startswith("photos/")]:
        for at in (0, len(members[name]) // 2, len(members[name]) - 1):
            forged = {**members, name: flip(members[name], at)}
            with pytest.raises(DossierError, match=f"photo {name}: its SHA-256"):
                verify_dossier(forged, trusted=head)


def test_a_photo_swapped_with_its_listed_hash_is_caught_by_the_ledger(exported) -> None:
    members, head, _ = exported
    name = next(n for n in members if n.startswith("photos/"))
    fake = jpeg((1, 2, 3))
    listed = json.loads(members["photos.json"])
    for entry in listed["photos"]:
        if entry["file"] == name:
            entry["sha256"] = hashlib.sha256(fake).hexdigest()
    forged = {**members, name: fake, "photos.json": json.dumps(listed).encode()}
    with pytest.raises(DossierError, match=r"no case\.photo event of this case records"):
        verify_dossier(forged, trusted=head)


@pytest.mark.parametrize("name", ["dossier.pdf", "case.json", "README.txt"])
def test_a_changed_byte_of_any_other_file_breaks_the_signed_manifest(exported, name) -> None:
    members, head, _ = exported
    forged = {**members, name: flip(members[name], len(members[name]) // 2)}
    with pytest.raises(DossierError, match=f"{name}: its SHA-256 differs from the signed"):
        verify_dossier(forged, trusted=head)


def test_a_dossier_signed_by_another_key_or_against_another_root_is_refused(exported) -> None:
    members, head, _ = exported
    other = Ed25519PrivateKey.generate()
    with pytest.raises(DossierError, match="not by the trusted key"):
        verify_dossier(members, trusted_key=public_key_bytes(other.public_key()))
    from gridmgr.ledger.treehead import sign_tree_head

    rival = sign_tree_head(
        KEY, size=head.size, root_hash="ab" * 32, head_hash=head.head_hash, timestamp=head.timestamp
    )
    with pytest.raises(DossierError, match="the ledger was rewritten"):
        verify_dossier(members, trusted=rival)
    bigger = sign_tree_head(
        KEY,
        size=head.size + 5,
        root_hash="ab" * 32,
        head_hash=head.head_hash,
        timestamp=head.timestamp,
    )
    with pytest.raises(DossierError, match="pass --consistency"):
        verify_dossier(members, trusted=bigger)
    forged_sig = {**members, "manifest.sig": base64.b64encode(other.sign(members["manifest.json"]))}
    with pytest.raises(DossierError, match=r"manifest\.sig"):
        verify_dossier(forged_sig, trusted=head)


def test_a_worker_cannot_export_a_case_outside_his_scope(store: Store, tmp_path: Path) -> None:
    services = services_for(store, tmp_path)
    case_id = a_case_with_photos(services)
    worker = Caller(Actor("w-9", Role.WORKER, "网格员"), ("320281004",))
    with pytest.raises(CaseNotFoundError):
        export_dossier(services, worker, case_id, KEY, now=AT)


def test_the_case_page_downloads_a_dossier_that_verifies_and_refuses_others(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    from tests.builders import close_app
    from tests.test_dashboard import OTHER_CELL, dashboard_app, logged_in, render, report
    from tests.test_sessions import FIXED, OWN_CELL, Clock

    app = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    try:
        case_id = report(app, OWN_CELL)
        operator = logged_in(app, None)
        page = render(operator, f"/dashboard/case/{case_id}")
        assert f"/dashboard/dossier/{case_id}" in json.dumps(page)
        reply = operator.get(f"/dashboard/dossier/{case_id}")
        assert reply.status_code == 200
        assert reply.mimetype == "application/zip"
        assert "attachment" in reply.headers["Content-Disposition"]
        with zipfile.ZipFile(io.BytesIO(reply.data)) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
        assert verify_dossier(members).case_id == case_id
        assert app.test_client().get(f"/dashboard/dossier/{case_id}").status_code == 303
        stranger = logged_in(app, OTHER_CELL)
        assert stranger.get(f"/dashboard/dossier/{case_id}").status_code == 404
    finally:
        close_app(app)


def test_the_commands_export_a_dossier_and_verify_it_offline_naming_a_tampered_photo(
    tiny: Grid, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gridmgr.grid.generations import store_generation
    from tests.test_cli import flat, run_main

    data_dir = tmp_path / "data"
    store_generation(tiny, Settings(data_dir=data_dir))
    db = tmp_path / "gridmgr.sqlite"
    store = open_store(f"sqlite:///{db}", create=True)
    try:
        case_id = a_case_with_photos(services_for(store, data_dir))
    finally:
        store.close()
    out = tmp_path / "case.zip"
    code, text, err = run_main(
        data_dir, "case", "export", case_id, "--out", str(out), "--db", str(db), capsys=capsys
    )
    assert code == 0, err
    assert f"written to {out}" in flat(text)
    checkpoint = tmp_path / "head.json"
    run_main(data_dir, "ledger", "checkpoint", str(checkpoint), "--db", str(db), capsys=capsys)
    sth = tmp_path / "head.sth.json"
    verify = ("ledger", "verify-dossier", str(out), "--sth", str(sth))
    code, text, err = run_main(data_dir, *verify, capsys=capsys)
    assert code == 0, err
    assert f"dossier of {case_id} verified" in flat(text)
    with zipfile.ZipFile(out) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    photo = next(n for n in members if n.startswith("photos/"))
    members[photo] = flip(members[photo], 200)
    with zipfile.ZipFile(out, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    code, _, err = run_main(data_dir, *verify, capsys=capsys)
    assert code == 1
    assert f"DOSSIER DOES NOT VERIFY: photo {photo}: its SHA-256" in flat(err)
    out.write_bytes(b"not a zip")
    code, _, err = run_main(data_dir, *verify, capsys=capsys)
    assert code == 1
    assert "is not a readable zip" in flat(err)
