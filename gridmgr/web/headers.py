"""Security headers: one ``after_request`` hook gives every response of the app (dashboard pages,
their scripts and styles, the API's JSON, Open311's XML) the same protective headers.

The Content-Security-Policy fits the Dash dashboard: scripts only from this site (plus the
inline renderer start-up the dashboard allows by its hash, :func:`allow_inline_scripts`, and no
``eval``); inline styles, which Dash components and plotly write at run time; images from this
site, ``data:`` and ``blob:`` URLs (plotly's exports, map sprites); web workers from ``blob:``
URLs (MapLibre, plotly's map, starts its workers so); and the basemap's tile server, when one
is configured (``GRIDMGR_TILE_URL``), for images and the fetches MapLibre makes. A view that
sets its own policy (the login page's stricter one) keeps it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from flask import Flask, Response, request

EXTENSION = "gridmgr_headers"
"""The key of the app's :class:`HeaderPolicy` in ``app.extensions``."""
HSTS = "max-age=31536000; includeSubDomains"


@dataclass
class HeaderPolicy:
    """What the app's responses are sent with: built once when the app is built."""

    hsts: bool = False
    """Send ``Strict-Transport-Security`` on every response (the site is served over HTTPS);
    otherwise only on requests that came over TLS."""
    tile_origins: list[str] = field(default_factory=list)
    script_hashes: list[str] = field(default_factory=list)

    def content_security_policy(self) -> str:
        """The policy's header value.

        >>> HeaderPolicy(tile_origins=["https://t.example"]).content_security_policy()
        ... # doctest: +NORMALIZE_WHITESPACE
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline';
        img-src 'self' data: blob: https://t.example; connect-src 'self' https://t.example;
        worker-src 'self' blob:; font-src 'self' data:; object-src 'none'; base-uri 'none';
        form-action 'self'; frame-ancestors 'none'"
        """
        scripts = " ".join(["'self'", *(f"'{h}'" for h in self.script_hashes)])
        tiles = "".join(f" {o}" for o in self.tile_origins)
        return (
            "default-src 'self'; "
            f"script-src {scripts}; "
            "style-src 'self' 'unsafe-inline'; "
            f"img-src 'self' data: blob:{tiles}; "
            f"connect-src 'self'{tiles}; "
            "worker-src 'self' blob:; "
            "font-src 'self' data:; "
            "object-src 'none'; "
            "base-uri 'none'; "
            "form-action 'self'; "
            "frame-ancestors 'none'"
        )


def init_security_headers(app: Flask, *, hsts: bool = False) -> HeaderPolicy:
    """Send the security headers with every response of ``app`` (see the module); ``hsts``
    sends ``Strict-Transport-Security`` even when the request did not come over TLS (a proxy
    terminates it: ``GRIDMGR_SECURE_COOKIES``)."""
    policy = HeaderPolicy(hsts=hsts)
    app.extensions[EXTENSION] = policy

    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", policy.content_security_policy())
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if policy.hsts or request.is_secure:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    app.after_request(add_headers)
    return policy


def allow_inline_scripts(app: Flask, hashes: Iterable[str]) -> None:
    """Let the pages of ``app`` run the inline scripts of these CSP hashes (``sha256-…``, quoted
    or not), e.g.
    the dashboard's renderer start-up (``Dash.csp_hashes()``)."""
    policy = _policy(app)
    for quoted in hashes:
        found = quoted.strip("'")  # Dash gives them quoted
        if found not in policy.script_hashes:
            policy.script_hashes.append(found)


def allow_tiles(app: Flask, tile_url: str | None) -> None:
    """Let the pages of ``app`` load the basemap tiles of ``tile_url`` (its origin)."""
    if not tile_url:
        return
    parts = urlsplit(tile_url)
    # a subdomain template ("{s}.tile.example") allows the domain's subdomains
    origin = f"{parts.scheme}://{re.sub(r'[{][^}]*[}]', '*', parts.netloc)}"
    policy = _policy(app)
    if parts.netloc and origin not in policy.tile_origins:
        policy.tile_origins.append(origin)


def _policy(app: Flask) -> HeaderPolicy:
    found = app.extensions.get(EXTENSION)
    if not isinstance(found, HeaderPolicy):
        raise RuntimeError("call init_security_headers(app) first (create_app does)")
    return found
