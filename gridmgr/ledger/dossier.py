"""The case dossier (案卷): what its zip holds, and its offline verification.

Pure: :func:`verify_dossier` takes the zip's members as bytes and the tree head the verifier
trusts, and names the first thing that does not match. The zip, format ``gridmgr-dossier/1``:

- ``events.json``: the case's ledger events, raw (every field of each row, in ``seq`` order);
- ``proofs.json``: each event's inclusion proof (RFC 9162) against ``sth.json``;
- ``sth.json``: the signed tree head the proofs lead to (see :mod:`gridmgr.ledger.treehead`);
- ``photos.json`` and ``photos/``: each photo, with its SHA-256, which its ``case.photo`` event
  in the ledger also records;
- ``case.json`` and ``dossier.pdf``: the case for people to read (derived, not evidence);
- ``manifest.json``: the SHA-256 of every other file, signed in ``manifest.sig`` (Ed25519,
  base64) by the key that signed the tree head, so a change to any byte of any file shows.

An event is proven by its own hash (recomputed from its fields), then by its inclusion proof
leading to the signed root. A photo is proven by its bytes hashing to the SHA-256 its ledger
event records.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gridmgr.ledger.hashing import LedgerError, LedgerEvent, event_hash
from gridmgr.ledger.merkle import event_leaf, verify_consistency, verify_inclusion
from gridmgr.ledger.treehead import SignedTreeHead, tree_head_problem

DOSSIER_FORMAT = "gridmgr-dossier/1"
EVIDENCE = ("events.json", "proofs.json", "sth.json", "photos.json", "manifest.json")
SIGNATURE = "manifest.sig"
PHOTO_EVENT = "case.photo"


class DossierError(LedgerError):
    """The first thing in a dossier that does not match (its message names it)."""


@dataclass(frozen=True)
class DossierCheck:
    """A dossier that verified: its case, how many events and photos, the tree head."""

    case_id: str
    events: int
    photos: int
    head: SignedTreeHead

    def __str__(self) -> str:
        return (
            f"dossier of {self.case_id} verified: {self.events} events proven in the signed tree "
            f"of {self.head.size} events (root {self.head.root_hash[:16]}…, key "
            f"{self.head.key_id[:16]}…), {self.photos} photos match their ledger hashes"
        )


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def manifest_bytes(case_id: str, files: Mapping[str, bytes]) -> bytes:
    """The manifest of a dossier: the SHA-256 of each file, as canonical JSON."""
    document = {
        "format": DOSSIER_FORMAT,
        "case_id": case_id,
        "files": {name: sha256_hex(data) for name, data in sorted(files.items())},
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False).encode() + b"\n"


def _json(members: Mapping[str, bytes], name: str) -> Any:
    if name not in members:
        raise DossierError(f"{name} is missing from the dossier")
    try:
        return json.loads(members[name].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DossierError(f"{name} is not valid JSON ({exc})") from None


def _heads(
    members: Mapping[str, bytes], trusted: SignedTreeHead | None, key: bytes | None
) -> SignedTreeHead:
    try:
        head = SignedTreeHead.from_dict(_json(members, "sth.json"))
    except DossierError:
        raise
    except LedgerError as exc:
        raise DossierError(f"sth.json: {exc}") from None
    if trusted is not None:
        problem = tree_head_problem(trusted, trusted_key=key)
        if problem:
            raise DossierError(f"the trusted tree head (--sth): {problem}")
        key = base64.b64decode(trusted.public_key)
    problem = tree_head_problem(head, trusted_key=key)
    if problem:
        raise DossierError(f"sth.json: {problem}")
    return head


def _check_against_trusted(
    head: SignedTreeHead, trusted: SignedTreeHead | None, consistency: Any
) -> None:
    if trusted is None or (trusted.size, trusted.root_hash) == (head.size, head.root_hash):
        return
    if trusted.size == head.size:
        raise DossierError(
            f"sth.json has root {head.root_hash[:16]}… but the trusted tree head of the same "
            f"size {head.size} has root {trusted.root_hash[:16]}…: the ledger was rewritten"
        )
    if consistency is None:
        raise DossierError(
            f"the dossier is proven against the tree of {head.size} events, the trusted head is "
            f"of {trusted.size}: pass --consistency with the proof from "
            f"/api/v1/ledger/consistency?from={min(head.size, trusted.size)}"
            f"&to={max(head.size, trusted.size)}"
        )
    old, new = sorted((head, trusted), key=lambda h: h.size)
    path = consistency.get("path") if isinstance(consistency, dict) else None
    try:
        hashes = [bytes.fromhex(h) for h in path or []]
    except (TypeError, ValueError):
        hashes = []
    if not verify_consistency(old.size, new.size, old.root, new.root, hashes):
        raise DossierError(
            f"the consistency proof does not show the tree of {new.size} events extending the "
            f"tree of {old.size}"
        )


def _events(members: Mapping[str, bytes]) -> tuple[str, list[LedgerEvent]]:
    document = _json(members, "events.json")
    if not isinstance(document, dict) or not isinstance(document.get("events"), list):
        raise DossierError('events.json must be {"case_id": …, "events": […]}')
    case_id = str(document.get("case_id"))
    events = []
    for i, row in enumerate(document["events"]):
        try:
            event = LedgerEvent(**row)
            recomputed = event_hash(**{k: v for k, v in row.items() if k != "hash"})
        except (TypeError, LedgerError) as exc:
            raise DossierError(f"events.json, event #{i + 1}: malformed ({exc})") from None
        if recomputed != event.hash:
            raise DossierError(
                f"event {event.seq} ({event.kind}): its hash does not match its contents "
                "(the event was changed)"
            )
        if event.subject != f"case:{case_id}":
            raise DossierError(f"event {event.seq} is of {event.subject}, not case:{case_id}")
        events.append(event)
    return case_id, events


def _proofs(members: Mapping[str, bytes], events: list[LedgerEvent], head: SignedTreeHead) -> None:
    document = _json(members, "proofs.json")
    proofs = document.get("proofs") if isinstance(document, dict) else None
    if not isinstance(proofs, list):
        raise DossierError('proofs.json must be {"proofs": […]}')
    by_seq = {p.get("seq"): p for p in proofs if isinstance(p, dict)}
    for event in events:
        proof = by_seq.get(event.seq)
        if proof is None:
            raise DossierError(f"event {event.seq} ({event.kind}) has no inclusion proof")
        try:
            path = [bytes.fromhex(h) for h in proof["path"]]
            size = proof["tree_size"]
        except (KeyError, TypeError, ValueError):
            raise DossierError(f"the inclusion proof of event {event.seq} is malformed") from None
        if size != head.size:
            raise DossierError(
                f"the inclusion proof of event {event.seq} is for a tree of {size} events, "
                f"not the signed {head.size}"
            )
        if not verify_inclusion(event.seq - 1, head.size, event_leaf(event.hash), path, head.root):
            raise DossierError(
                f"the inclusion proof of event {event.seq} ({event.kind}) does not lead to the "
                f"signed root {head.root_hash[:16]}…"
            )


def _photos(members: Mapping[str, bytes], events: list[LedgerEvent]) -> int:
    document = _json(members, "photos.json")
    listed = document.get("photos") if isinstance(document, dict) else None
    if not isinstance(listed, list):
        raise DossierError('photos.json must be {"photos": […]}')
    recorded = {}
    for event in events:
        if event.kind == PHOTO_EVENT:
            details = json.loads(event.payload)
            recorded[details.get("attachment_id")] = (details.get("sha256"), event.seq)
    seen = set()
    for entry in listed:
        name, attachment = entry.get("file"), entry.get("attachment_id")
        if name not in members:
            raise DossierError(f"photo {name} is listed in photos.json but missing")
        actual = sha256_hex(members[name])
        if actual != entry.get("sha256"):
            raise DossierError(f"photo {name}: its SHA-256 is {actual[:16]}…, not the listed one")
        if attachment not in recorded or recorded[attachment][0] != actual:
            raise DossierError(
                f"photo {name}: no case.photo event of this case records SHA-256 {actual[:16]}…"
            )
        seen.add(attachment)
    for attachment, (_, seq) in recorded.items():
        if attachment not in seen:
            raise DossierError(f"the photo of event {seq} ({attachment}) is missing")
    return len(seen)


def _manifest(members: Mapping[str, bytes], head: SignedTreeHead, case_id: str) -> None:
    if SIGNATURE not in members:
        raise DossierError(f"{SIGNATURE} is missing from the dossier")
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(head.public_key))
    try:
        key.verify(base64.b64decode(members[SIGNATURE], validate=True), members["manifest.json"])
    except (InvalidSignature, binascii.Error, ValueError):
        raise DossierError("manifest.sig: the signature of manifest.json does not verify") from None
    manifest = _json(members, "manifest.json")
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict) or manifest.get("case_id") != case_id:
        raise DossierError(f"manifest.json is not the manifest of {case_id}")
    for name in sorted(set(members) - {"manifest.json", SIGNATURE}):
        if name not in files:
            raise DossierError(f"{name} is in the dossier but not in its signed manifest")
        if sha256_hex(members[name]) != files[name]:
            raise DossierError(f"{name}: its SHA-256 differs from the signed manifest's")
    for name in files:
        if name not in members:
            raise DossierError(f"{name} is in the signed manifest but missing")


def verify_dossier(
    members: Mapping[str, bytes],
    *,
    trusted: SignedTreeHead | None = None,
    trusted_key: bytes | None = None,
    consistency: Any = None,
) -> DossierCheck:
    """Check a dossier's members offline; :class:`DossierError` names the first mismatch.

    ``trusted`` is the tree head the verifier got independently (``--sth``); without it the
    dossier's own head is checked only against its own key (or ``trusted_key``). A trusted head
    of another size needs ``consistency``, the proof between the two sizes.
    """
    head = _heads(members, trusted, trusted_key)
    _check_against_trusted(head, trusted, consistency)
    case_id, events = _events(members)
    if not events:
        raise DossierError("events.json holds no event")
    _proofs(members, events, head)
    photos = _photos(members, events)
    _manifest(members, head, case_id)
    return DossierCheck(case_id=case_id, events=len(events), photos=photos, head=head)
