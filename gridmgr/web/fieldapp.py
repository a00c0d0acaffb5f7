"""The grid worker's field app at ``/m/``: an installable, offline-first web app for his phone.

A plain Flask blueprint serving a few static files (the HTML shell, three small scripts, a style
sheet, the web app manifest, the icons and the service worker ``/m/sw.js``, whose scope is
``/m/``). Everything the app does afterwards goes through the token API (``/api/v1``) with the
worker's own device token, so nothing here reads the store or knows who is asking.

The files are read once, when the app is built, and kept gzipped as well: a phone on a weak
signal gets the whole first load in a few tens of kilobytes, revalidated by ETag afterwards. The
service worker is stamped with a digest of the shell's files, so a new release replaces the
cached shell on the phones at their next visit. The pages carry a stricter policy than the
dashboard's: no inline script and no inline style at all.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from importlib.resources import files

from flask import Blueprint, Flask, Response, current_app, redirect, request

EXTENSION = "gridmgr_fieldapp"
"""The key of the app's :class:`FieldFiles` in ``app.extensions``."""
STATIC = "fieldapp_static"
"""The package folder (beside this module) holding the app's files."""
TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
COMPRESSIBLE = (".html", ".js", ".css", ".webmanifest", ".svg")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
"""The app's policy: scripts, styles and fetches from this site only (photos as ``blob:``)."""
VERSION_MARK = b"__VERSION__"


@dataclass(frozen=True)
class FieldFile:
    """One file of the app as served: its bytes, their gzipped form, its type and ETag."""

    body: bytes
    gzipped: bytes | None
    mimetype: str
    etag: str


@dataclass(frozen=True)
class FieldFiles:
    """The app's files by name (``index.html`` is the shell) and the digest of them all."""

    by_name: dict[str, FieldFile]
    version: str


def load_field_files() -> FieldFiles:
    """Read the shipped files, stamp the service worker with their digest, gzip the text ones."""
    folder = files("gridmgr.web").joinpath(STATIC)
    raw = {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and _suffix(entry.name) in TYPES
    }
    digest = hashlib.sha256()
    for name in sorted(raw):
        if name != "sw.js":
            digest.update(name.encode() + b"\0" + raw[name])
    version = digest.hexdigest()[:16]
    if "sw.js" in raw:
        raw["sw.js"] = raw["sw.js"].replace(VERSION_MARK, version.encode())
    return FieldFiles({name: _served(name, body) for name, body in raw.items()}, version)


def _served(name: str, body: bytes) -> FieldFile:
    suffix = _suffix(name)
    packed = gzip.compress(body, compresslevel=9, mtime=0) if suffix in COMPRESSIBLE else None
    etag = hashlib.sha256(body).hexdigest()[:20]
    return FieldFile(body, packed, TYPES[suffix], etag)


def _suffix(name: str) -> str:
    return name[name.rfind(".") :] if "." in name else ""


bp = Blueprint("fieldapp", __name__, url_prefix="/m")


def init_field_app(app: Flask) -> FieldFiles:
    """Serve the field app at ``/m/`` on ``app``."""
    loaded = load_field_files()
    app.extensions[EXTENSION] = loaded
    app.register_blueprint(bp)
    return loaded


@bp.get("")
def bare() -> Response:
    """``/m`` → ``/m/`` (the service worker's scope, and the manifest's start URL)."""
    return redirect("/m/", code=301)  # type: ignore[return-value]


@bp.get("/")
def shell() -> Response:
    """The app's HTML shell (the same for everyone: the scripts fill it in)."""
    return _send("index.html")


@bp.get("/<name>")
def static_file(name: str) -> Response:
    """One of the app's files (``sw.js`` with the header allowing its ``/m/`` scope)."""
    response = _send(name)
    if name == "sw.js" and response.status_code in (200, 304):
        response.headers["Service-Worker-Allowed"] = "/m/"
    return response


def _send(name: str) -> Response:
    loaded: FieldFiles = current_app.extensions[EXTENSION]
    found = loaded.by_name.get(name)
    if found is None or name.startswith("."):
        return Response("no such file in the field app", status=404, mimetype="text/plain")
    etag = f'"{found.etag}"'
    headers = {
        "ETag": etag,
        # revalidated each time online (a 304 costs a few bytes); offline the service worker answers
        "Cache-Control": "no-cache",
        "Vary": "Accept-Encoding",
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    }
    if etag in request.headers.get("If-None-Match", ""):
        return Response(status=304, headers=headers)
    body = found.body
    if found.gzipped is not None and "gzip" in request.headers.get("Accept-Encoding", ""):
        body = found.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, content_type=found.mimetype, headers=headers)
