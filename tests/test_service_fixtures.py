"""Smoke tests for the service machinery in tests/services.py.

They prove that PostgreSQL+PostGIS and Debian's Chromium (via Playwright) are
really usable, so that a green CI run means the postgres/browser tests ran.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.postgres
def test_postgis_point_roundtrip(pg_dsn: str) -> None:
    import psycopg

    # Jiangyin town hall, WGS 84.
    lon, lat = 120.285, 31.92
    with psycopg.connect(pg_dsn, connect_timeout=10) as conn:
        conn.execute(
            "CREATE TEMP TABLE smoke_point (id serial PRIMARY KEY, geom geometry(Point, 4326))"
        )
        conn.execute(
            "INSERT INTO smoke_point (geom) VALUES (ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            (lon, lat),
        )
        row = conn.execute("SELECT ST_AsText(geom), ST_SRID(geom) FROM smoke_point").fetchone()
    assert row == ("POINT(120.285 31.92)", 4326)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def local_site(tmp_path: Path) -> Iterator[str]:
    """Serve a tiny page from a thread on 127.0.0.1 (random port); yield its URL."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<title>gridmgr smoke</title></head>"
        "<body><h1 id='town'>江阴</h1><p>网格化管理</p></body></html>",
        encoding="utf-8",
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(site)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# Draw a character on a canvas and compare it with a code point no font has
# (U+10FFFD, private use): equal pixels mean the Han glyph is "tofu", i.e. no
# CJK font is installed (Debian: fonts-noto-cjk).
_GLYPH_CHECK_JS = """
([text, family]) => {
  const canvas = document.createElement('canvas');
  canvas.width = 80; canvas.height = 80;
  const ctx = canvas.getContext('2d', {willReadFrequently: true});
  const draw = (s) => {
    ctx.clearRect(0, 0, 80, 80);
    ctx.font = '64px ' + family;
    ctx.fillText(s, 4, 68);
    return ctx.getImageData(0, 0, 80, 80).data;
  };
  const han = Array.from(draw(text));
  const missing = Array.from(draw('\\u{10FFFD}'));
  const ink = han.filter((v, i) => i % 4 === 3 && v > 0).length;
  const same = han.every((v, i) => v === missing[i]);
  return {ink, same};
}
"""


@pytest.mark.browser
def test_chromium_renders_chinese(page: Page, local_site: str, tmp_path: Path) -> None:
    response = page.goto(local_site)
    assert response is not None
    assert response.ok

    town = page.locator("#town")
    assert town.inner_text() == "江阴"
    assert page.title() == "gridmgr smoke"

    glyph = page.evaluate(_GLYPH_CHECK_JS, ["江", "sans-serif"])
    assert glyph["ink"] > 0, "the Han character drew nothing"
    assert not glyph["same"], "the Han character renders as tofu: install fonts-noto-cjk"

    shot = tmp_path / "smoke.png"
    page.screenshot(path=shot, full_page=True)
    data = shot.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 1000
