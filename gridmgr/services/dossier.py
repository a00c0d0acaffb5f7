"""The case dossier (案卷): one zip a person can read and anyone can check offline.

:func:`export_dossier` gathers a case's raw ledger events, the inclusion proof of each against a
signed tree head, its photos with their SHA-256, and a PDF (:mod:`gridmgr.services.dossierpdf`),
and signs the manifest; :func:`gridmgr.ledger.dossier.verify_dossier` checks it with no database.
The format is described in :mod:`gridmgr.ledger.dossier`.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from dataclasses import asdict
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gridmgr.access import Caller
from gridmgr.cases import Case
from gridmgr.ledger.dossier import DOSSIER_FORMAT, PHOTO_EVENT, SIGNATURE, manifest_bytes
from gridmgr.ledger.hashing import LedgerEvent
from gridmgr.ledger.treehead import SignedTreeHead
from gridmgr.responsibility.chains import owner_chain
from gridmgr.services import accesslog
from gridmgr.services.cases import visible_case
from gridmgr.services.context import Services
from gridmgr.services.dossierpdf import DossierContent, DossierPhoto, cell_map_png, render_pdf
from gridmgr.services.treeheads import checkpoint_tree_head

_SUFFIX = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}
README = """gridmgr case dossier ({format})

events.json   the case's ledger events, raw; each hash is SHA-256 over the event's fields
proofs.json   each event's inclusion proof (RFC 9162) against the signed tree head sth.json
photos/       the photos; photos.json lists their SHA-256, which their case.photo events record
dossier.pdf   the case for people to read (trail, photos, map, owners, deadlines)
manifest.json the SHA-256 of every file, signed in manifest.sig by the tree head's key

Check it offline: gridmgr ledger verify-dossier THIS.zip --sth TRUSTED_STH.json
(TRUSTED_STH.json: a signed tree head you got from the command center itself, e.g.
GET /api/v1/ledger/sth or the file `gridmgr ledger checkpoint` wrote.)
"""


def tree_head_for(
    services: Services, key: Ed25519PrivateKey, events: list[LedgerEvent], *, now: datetime
) -> SignedTreeHead:
    """The newest published head if it covers every event and was signed by ``key``, else a
    new checkpoint (which verifies the chain first)."""
    latest = services.store.latest_tree_head()
    own = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    last = max((e.seq for e in events), default=0)
    if latest is not None and latest.size >= last and latest.public_key == own:
        return latest
    return checkpoint_tree_head(services.store, key, now=now)


def gather(
    services: Services, caller: Caller, case_id: str, key: Ed25519PrivateKey, *, now: datetime
) -> DossierContent:
    """A case's dossier content, for a caller who may see the case (else a 404 error)."""
    case = visible_case(services.store, caller, case_id)
    accesslog.record_reads(services, caller.actor, [case], door="dossier")
    store = services.store
    events = store.subject_events(f"case:{case.case_id}")
    head = tree_head_for(services, key, events, now=now)
    photos = []
    for row in store.attachments_of(case.case_id):
        stored, data = store.read_attachment(services.data_dir, row.attachment_id)
        suffix = _SUFFIX.get(stored.content_type, "bin")
        photos.append(
            DossierPhoto(
                file=f"photos/{stored.attachment_id}.{suffix}",
                attachment_id=stored.attachment_id,
                sha256=stored.sha256,
                content_type=stored.content_type,
                taken=stored.created_at.isoformat(),
                data=data,
            )
        )
    return DossierContent(
        case=case,
        number=_number(events),
        cell_name=_cell_name(services, case.cell),
        owners=_owners(services, case, now),
        events=events,
        photos=photos,
        head=head,
        generated_at=now,
        cell_map=_cell_map(services, case),
    )


def _number(events: list[LedgerEvent]) -> int | None:
    for event in events:
        details = json.loads(event.payload).get("details")
        number = details.get("number") if isinstance(details, dict) else None
        if isinstance(number, int):
            return number
    return None


def _cell_name(services: Services, cell: str | None) -> str:
    if cell is None:
        return "网格外 out of grid"
    try:
        return str(services.grid.cell(cell)["name"])
    except LookupError:
        return cell


def _cell_map(services: Services, case: Case) -> bytes | None:
    """The map of the case's cell among its siblings (``None`` out of grid, or for a cell of an
    older grid generation)."""
    grid = services.grid
    if case.cell is None:
        return None
    try:
        parent = grid.cell_to_parent(case.cell)
        codes = grid.cell_to_children(parent) if parent is not None else [case.cell]
        cells = [(code, grid.cell(code)["geometry"], code == case.cell) for code in codes]
    except LookupError:
        return None
    return cell_map_png(case, cells)


def _owners(services: Services, case: Case, now: datetime) -> list[tuple[str, str]]:
    """(post, who acts for it now) along the case's owner chain: names of officials only."""
    context = services.context
    chain = owner_chain(
        context.roster,
        context.escalation,
        case.cell,
        now,
        adjacency=context.adjacency,
        cell_names=context.cell_names,
    )
    rows = []
    for link in chain:
        where = f" · {link.cell_name}" if link.cell_name else ""
        who = link.person.name if link.person is not None else "空缺 vacant"
        if link.on_duty:
            who = "、".join(p.name for p in link.on_duty)
        rows.append((f"{link.post.kind.value}{where}", who))
    return rows


def dossier_members(
    content: DossierContent, key: Ed25519PrivateKey, proofs: list[dict[str, object]]
) -> dict[str, bytes]:
    """The zip's files, by name (the PDF included), with the manifest and its signature."""
    case_id = content.case.case_id
    listed = [{k: v for k, v in asdict(p).items() if k != "data"} for p in content.photos]
    files: dict[str, bytes] = {
        "README.txt": README.format(format=DOSSIER_FORMAT).encode(),
        "sth.json": content.head.to_json().encode(),
        "events.json": _dump({"case_id": case_id, "events": [asdict(e) for e in content.events]}),
        "proofs.json": _dump({"tree_head_size": content.head.size, "proofs": proofs}),
        "photos.json": _dump({"photos": listed}),
        "case.json": _dump(_case_json(content)),
    }
    for photo in content.photos:
        files[photo.file] = photo.data
    files["dossier.pdf"] = render_pdf(content)
    files["manifest.json"] = manifest_bytes(case_id, files)
    files[SIGNATURE] = base64.b64encode(key.sign(files["manifest.json"]))
    return files


def export_dossier(
    services: Services, caller: Caller, case_id: str, key: Ed25519PrivateKey, *, now: datetime
) -> tuple[str, bytes]:
    """The dossier of ``case_id`` as zip bytes, and a file name for it."""
    content = gather(services, caller, case_id, key, now=now)
    size = content.head.size
    proofs = [services.store.inclusion_proof(e.seq, size=size).to_dict() for e in content.events]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in dossier_members(content, key, proofs).items():
            archive.writestr(name, data)
    label = content.number if content.number is not None else content.case.case_id[:12]
    return f"case-{label}-dossier.zip", buffer.getvalue()


def _case_json(content: DossierContent) -> dict[str, object]:
    case = content.case
    return {
        "case_id": case.case_id,
        "number": content.number,
        "category": case.category,
        "state": case.state.value,
        "state_zh": case.state.label_zh,
        "cell": case.cell,
        "cell_name": content.cell_name,
        "reported_at": case.reported_at.isoformat(),
        "stage": None if case.stage is None else case.stage.value,
        "due_at": None if case.due_at is None else case.due_at.isoformat(),
        "holder": None if case.holder is None else case.holder.name,
        "assignee": None if case.assignee is None else case.assignee.name,
        "owners": [{"post": post, "person": who} for post, who in content.owners],
        "events": len(content.events),
        "photos": [p.file for p in content.photos],
        "generated_at": content.generated_at.isoformat(),
        "photo_event_kind": PHOTO_EVENT,
    }


def _dump(document: object) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True).encode() + b"\n"
