"""Signed tree heads: the ledger's Merkle root at a size, signed with Ed25519 (as CT's STH).

Pure: the key is passed in (the services load it from the settings), and so is the time.

Signed bytes, format ``gridmgr-sth/1`` (enough to check a head in any language): the UTF-8 text ::

    gridmgr-sth/1
    <size>
    <root_hash, 64 lowercase hex digits>
    <head_hash: the hash of event <size>, or 64 zeros when size is 0>
    <timestamp: the ledger's time form, YYYY-MM-DDTHH:MM:SS.ffffffZ>

each line ending with ``\\n``, signed with Ed25519 (RFC 8032). The JSON file of a head
(:meth:`SignedTreeHead.to_json`) carries those fields, the signature and the raw 32-byte public key,
both in standard base64, and ``key_id``: the SHA-256 of the public key in hex, so a verifier pins
the key it trusts (``--public-key``) rather than the one the file brings.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gridmgr.errors import GridMgrError, TimeError
from gridmgr.ledger.hashing import GENESIS_HASH, LedgerError, parse_time

STH_FORMAT = "gridmgr-sth/1"
_HEX64 = re.compile(r"[0-9a-f]{64}", re.ASCII)
_FIELDS = ("format", "size", "root_hash", "head_hash", "timestamp", "public_key", "key_id",
           "signature")  # fmt: skip


class NoTreeHeadError(GridMgrError, LookupError):
    """No signed tree head has been published yet (run ``gridmgr ledger checkpoint``)."""


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    """The raw 32 bytes of an Ed25519 public key."""
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: bytes) -> str:
    """The SHA-256 of a raw public key, in hex: how a head names the key that signed it."""
    return hashlib.sha256(public_key).hexdigest()


def tree_head_bytes(*, size: int, root_hash: str, head_hash: str, timestamp: str) -> bytes:
    """The bytes a tree head's signature covers (the format in the module docstring)."""
    return f"{STH_FORMAT}\n{size}\n{root_hash}\n{head_hash}\n{timestamp}\n".encode()


@dataclass(frozen=True)
class SignedTreeHead:
    """The ledger's Merkle root at ``size`` events, with the chain's head hash, signed."""

    size: int
    root_hash: str
    head_hash: str
    timestamp: str
    public_key: str
    signature: str

    def __post_init__(self) -> None:
        if type(self.size) is not int or self.size < 0:
            raise LedgerError(f"tree head size={self.size!r} must be an int >= 0")
        for name in ("root_hash", "head_hash"):
            value = getattr(self, name)
            if not isinstance(value, str) or _HEX64.fullmatch(value) is None:
                raise LedgerError(f"tree head {name}={value!r} must be 64 lowercase hex digits")
        if self.size == 0 and self.head_hash != GENESIS_HASH:
            raise LedgerError("a tree head of size 0 must carry the genesis head hash (64 zeros)")
        try:
            parse_time(self.timestamp)
        except TimeError as exc:
            raise LedgerError(f"tree head timestamp: {exc}") from exc
        for name, length in (("public_key", 32), ("signature", 64)):
            if len(_b64(getattr(self, name), name)) != length:
                raise LedgerError(f"tree head {name} must be {length} bytes in base64")

    @property
    def key_id(self) -> str:
        """The SHA-256 of the signing public key, in hex."""
        return key_id(_b64(self.public_key, "public_key"))

    @property
    def root(self) -> bytes:
        """The root hash as bytes."""
        return bytes.fromhex(self.root_hash)

    def signed_bytes(self) -> bytes:
        """What the signature covers."""
        return tree_head_bytes(
            size=self.size,
            root_hash=self.root_hash,
            head_hash=self.head_hash,
            timestamp=self.timestamp,
        )

    def to_dict(self) -> dict[str, Any]:
        """The head as a JSON-ready dict (what the API returns and the file holds)."""
        return {"format": STH_FORMAT, **asdict(self), "key_id": self.key_id}

    def to_json(self) -> str:
        """The head as a small JSON document."""
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, document: object) -> SignedTreeHead:
        """Read a head written by :meth:`to_dict`; a malformed one is a :class:`LedgerError`."""
        if not isinstance(document, dict) or document.get("format") != STH_FORMAT:
            got = document.get("format") if isinstance(document, dict) else type(document).__name__
            raise LedgerError(
                f"not a signed tree head: format is {got!r}, expected {STH_FORMAT!r}; pass a file "
                "written by `gridmgr ledger checkpoint`"
            )
        missing = sorted(set(_FIELDS) - document.keys())
        unknown = sorted(document.keys() - set(_FIELDS))
        if missing or unknown:
            raise LedgerError(
                f"malformed signed tree head: missing {missing}, unknown {unknown}; expected "
                f"exactly the fields {sorted(_FIELDS)}"
            )
        head = cls(**{k: document[k] for k in _FIELDS if k not in ("format", "key_id")})
        if document["key_id"] != head.key_id:
            raise LedgerError("malformed signed tree head: key_id is not the public key's SHA-256")
        return head

    @classmethod
    def from_json(cls, text: str) -> SignedTreeHead:
        """Read a head from JSON text (see :meth:`from_dict`)."""
        try:
            document = json.loads(text)
        except (ValueError, TypeError) as exc:
            raise LedgerError(f"not a signed tree head: the text is not JSON ({exc})") from exc
        return cls.from_dict(document)


def _b64(text: object, name: str) -> bytes:
    if not isinstance(text, str):
        raise LedgerError(f"tree head {name} must be base64 text, got {type(text).__name__}")
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LedgerError(f"tree head {name} is not base64 ({exc})") from exc


def sign_tree_head(
    key: Ed25519PrivateKey, *, size: int, root_hash: str, head_hash: str, timestamp: str
) -> SignedTreeHead:
    """Sign the head of a tree of ``size`` events with root ``root_hash`` at ``timestamp``."""
    message = tree_head_bytes(
        size=size, root_hash=root_hash, head_hash=head_hash, timestamp=timestamp
    )
    return SignedTreeHead(
        size=size,
        root_hash=root_hash,
        head_hash=head_hash,
        timestamp=timestamp,
        public_key=base64.b64encode(public_key_bytes(key.public_key())).decode(),
        signature=base64.b64encode(key.sign(message)).decode(),
    )


def tree_head_problem(head: SignedTreeHead, *, trusted_key: bytes | None = None) -> str | None:
    """What is wrong with ``head``'s signature (``None``: it verifies), with the key it names or,
    when given, the raw ``trusted_key`` that must have signed it."""
    own = _b64(head.public_key, "public_key")
    if trusted_key is not None and own != trusted_key:
        return (
            f"the tree head was signed by key {head.key_id[:16]}…, not by the trusted key "
            f"{key_id(trusted_key)[:16]}…"
        )
    try:
        Ed25519PublicKey.from_public_bytes(own).verify(
            _b64(head.signature, "signature"), head.signed_bytes()
        )
    except InvalidSignature:
        return f"the signature of the tree head of size {head.size} does not verify"
    return None
