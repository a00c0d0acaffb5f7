"""The plotly.js the dashboard serves: plotly.js's geo bundle for its SVG maps, the full one
only with a tile server (MapLibre), revalidated rather than cached for good."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from flask import Flask
from plotly.offline import get_plotlyjs_version

from dashboards.plotlyjs import DASH_PLOTLY_PATH, GEO_BUNDLE
from gridmgr import Grid
from gridmgr.store import Store
from tests.builders import close_app
from tests.test_dashboard import dashboard_app, logged_in
from tests.test_sessions import FIXED, Clock

URL = "/dashboard/" + DASH_PLOTLY_PATH
FULL = resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()


@pytest.fixture
def app(store: Store, tiny: Grid, tmp_path: Path) -> Iterator[Flask]:
    built = dashboard_app(store, tiny, tmp_path, Clock(FIXED))
    yield built
    close_app(built)


def test_the_vendored_geo_bundle_is_the_plotly_js_major_of_the_plotly_package() -> None:
    """The figures are written for the ``plotly`` package's plotly.js; the geo bundle must be the
    same major version (an upgrade to another major needs a new bundle: dashboards/vendor/)."""
    head = GEO_BUNDLE.read_bytes()[:200].decode()
    found = re.search(r"plotly\.js \(geo - minified\) v(\d+)\.", head)
    assert found is not None
    assert found[1] == get_plotlyjs_version().split(".")[0]


def test_without_tiles_dcc_graph_gets_the_geo_bundle_revalidated_by_etag(app: Flask) -> None:
    client = app.test_client()
    first = client.get(URL)
    assert first.status_code == 200
    assert first.data == GEO_BUNDLE.read_bytes()
    assert len(first.data) < len(FULL) / 3
    assert first.headers["Cache-Control"] == "no-cache"  # not Dash's "immutable": one fixed URL
    again = client.get(URL, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
    # the big screen draws with the same one
    assert client.get("/dashboard/screen/plotly.js").data == first.data


def test_dash_fingerprinted_scripts_stay_cached_for_good(app: Flask) -> None:
    client = logged_in(app, None)
    page = client.get("/dashboard/").get_data(as_text=True)
    script = re.search(
        r'src="(/dashboard/_dash-component-suites/[^"]+\.v[0-9_]+m[0-9]+\.[^"]+)"', page
    )
    assert script is not None
    assert "immutable" in client.get(script[1]).headers["Cache-Control"]


def test_with_a_tile_server_the_full_bundle_draws_maplibre(
    store: Store, tiny: Grid, tmp_path: Path
) -> None:
    built = dashboard_app(
        store, tiny, tmp_path, Clock(FIXED), tile_url="https://tiles.example/{z}/{x}/{y}.png"
    )
    try:
        answer = built.test_client().get(URL)
        assert answer.status_code == 200
        assert answer.data == FULL
    finally:
        close_app(built)


def test_the_page_leaves_out_babel_polyfill_and_defines_regenerator_before_the_renderer(
    app: Flask,
) -> None:
    """Dash's bundles need only ``regeneratorRuntime`` of ``@babel/polyfill``: the page loads
    the vendored runtime after React and before the renderer, and no polyfill (dashboards/app.py).
    A Dash upgrade that renames the polyfill's tag fails here."""
    client = logged_in(app, None)
    page = client.get("/dashboard/").get_data(as_text=True)
    scripts = re.findall(r'<script src="([^"]+)"', page)
    assert not [s for s in scripts if "polyfill" in s]
    names = [s.split("?")[0].rsplit("/", 1)[-1] for s in scripts]
    runtime = names.index("regenerator-runtime.js")
    assert names.index(next(n for n in names if n.startswith("react-dom@"))) < runtime
    assert runtime < names.index(next(n for n in names if n.startswith("dash_renderer.")))
    served = client.get(next(s for s in scripts if "regenerator-runtime.js" in s))
    assert served.status_code == 200
    assert b"regeneratorRuntime = runtime" in served.data


def test_the_vendored_files_are_the_ones_their_readme_names() -> None:
    """Each vendored file's SHA-256 is the one recorded with its provenance."""
    readme = (GEO_BUNDLE.parent / "README.md").read_text()
    for path in (GEO_BUNDLE, GEO_BUNDLE.parent.parent / "assets" / "regenerator-runtime.js"):
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert f"`sha256sum {path.name}` =\n  `{digest}`" in readme, path.name


@pytest.mark.parametrize(
    ("path", "early"),
    [
        ("/dashboard/", True),
        ("/dashboard/case/abc", True),
        ("/dashboard/analysis", True),
        ("/dashboard/wall", False),
        ("/dashboard/queue", False),
        ("/dashboard/no-such-page", False),
    ],
)
def test_plotly_js_is_loaded_early_only_on_the_pages_that_draw_a_graph(
    app: Flask, path: str, early: bool
) -> None:
    client = logged_in(app, None)
    page = client.get(path).get_data(as_text=True)
    assert ("plotly_early.js" in page) is early
    assert "dash_renderer" in page  # the rest of the page is the same
