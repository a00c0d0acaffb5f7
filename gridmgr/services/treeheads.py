"""Signed tree heads: the ledger signing key, and publishing a checkpoint of the Merkle root.

The key comes from the settings (``GRIDMGR_SIGNING_KEY``: a PEM file's path or the raw 32-byte
private key in base64); in demo mode only, a key made once and kept in
``<data_dir>/ledger_signing_key.pem`` (mode 0600), as the demo session key is.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from gridmgr.access import Caller
from gridmgr.errors import CaseNotFoundError, GridMgrError
from gridmgr.ledger import LedgerError, format_time
from gridmgr.ledger.treehead import NoTreeHeadError, SignedTreeHead, sign_tree_head
from gridmgr.services.context import Services
from gridmgr.settings import Settings
from gridmgr.store import ConsistencyProof, InclusionProof, Store

SIGNING_KEY_ENV = "GRIDMGR_SIGNING_KEY"
DEMO_KEY_FILE = "ledger_signing_key.pem"


class SigningKeyError(GridMgrError, ValueError):
    """The ledger signing key is missing or unusable."""


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The Ed25519 key that signs tree heads (see the module docstring)."""
    value = settings.signing_key
    if value:
        path = Path(value).expanduser()
        if path.is_file():
            return _pem_key(path.read_bytes(), source=str(path))
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise SigningKeyError(
                f"{SIGNING_KEY_ENV} is neither a readable PEM file nor 32 bytes in base64; make "
                "one with `openssl genpkey -algorithm ed25519 -out signing.pem` and point "
                f"{SIGNING_KEY_ENV} at it"
            )
        return Ed25519PrivateKey.from_private_bytes(raw)
    if not settings.demo:
        raise SigningKeyError(
            f"set {SIGNING_KEY_ENV} to the path of an Ed25519 PEM key (`openssl genpkey "
            "-algorithm ed25519 -out signing.pem`); it signs the ledger's tree heads"
        )
    return _demo_key(settings.data_dir / DEMO_KEY_FILE)


def _pem_key(data: bytes, *, source: str) -> Ed25519PrivateKey:
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{source} is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{source} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def _demo_key(path: Path) -> Ed25519PrivateKey:
    """The demo key in ``path``, made on first use (created exclusively, mode 0600)."""
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _pem_key(path.read_bytes(), source=str(path))
    except OSError as exc:
        raise SigningKeyError(f"cannot create the demo signing key {path}: {exc}") from None
    key = Ed25519PrivateKey.generate()
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
        out.flush()
        os.fsync(out.fileno())
    return key


def checkpoint_tree_head(
    store: Store,
    key: Ed25519PrivateKey,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> SignedTreeHead:
    """Verify the chain, compute the Merkle root of the whole ledger from the ledger itself, check
    the store's cache against it (rebuilding a cache that disagrees), sign and publish the head."""
    verified = store.verify_ledger()
    if not verified.ok:
        raise LedgerError(
            f"the ledger does not verify, so no tree head was signed: {verified.problem}"
        )
    size = verified.head_seq
    truth = store.ledger_root_from_chain(size, progress=progress)
    if store.stored_merkle_root(size) != truth or store.merkle_root(size)[1] != truth:
        store.rebuild_merkle_cache()
        if store.stored_merkle_root(size) != truth or store.merkle_root(size)[1] != truth:
            raise LedgerError("the Merkle cache still disagrees with the ledger after a rebuild")
    head = sign_tree_head(
        key,
        size=size,
        root_hash=truth.hex(),
        head_hash=store.head_hash_at(size),
        timestamp=format_time(now),
    )
    store.publish_tree_head(head)
    return head


def latest_head(services: Services) -> SignedTreeHead:
    """The newest published signed tree head; any authenticated caller may read it (hashes)."""
    head = services.store.latest_tree_head()
    if head is None:
        raise NoTreeHeadError(
            "no signed tree head has been published yet; run `gridmgr ledger checkpoint`"
        )
    return head


def inclusion_for(
    services: Services, caller: Caller, seq: int, *, size: int | None = None
) -> tuple[InclusionProof, SignedTreeHead | None]:
    """The proof that event ``seq`` is in the tree of ``size`` events (default: the latest
    signed head's size, else the whole ledger), and the signed head of that size if one was
    published.

    City-wide callers may ask for any event; anyone else only for an event of a case he may see
    (its ``subject`` ``case:<id>``), and an event outside that is refused as if it did not exist.
    """
    store = services.store
    if not caller.city_wide:
        event = store.ledger_event(seq)
        subject = "" if event is None else event.subject
        try:
            case = (
                store.case(subject.removeprefix("case:")) if subject.startswith("case:") else None
            )
        except CaseNotFoundError:
            case = None
        if case is None or not caller.may_see(case):
            raise CaseNotFoundError(f"no ledger event {seq} of a case visible to you")
    if size is None:
        latest = store.latest_tree_head()
        if latest is not None and latest.size >= seq:
            size = latest.size
    proof = store.inclusion_proof(seq, size=size)
    return proof, store.latest_tree_head(size=proof.size)


def consistency_between(
    services: Services, first: int, second: int | None = None
) -> tuple[ConsistencyProof, SignedTreeHead | None, SignedTreeHead | None]:
    """The proof that the tree of ``second`` events extends that of ``first``, with the signed
    heads of both sizes where published (hashes only: any authenticated caller)."""
    proof = services.store.consistency_proof(first, second)
    store = services.store
    return (
        proof,
        store.latest_tree_head(size=proof.first),
        store.latest_tree_head(size=proof.second),
    )
