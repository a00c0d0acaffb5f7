"""The plotly.js that the dashboard's pages draw with.

Without a tile server every map is SVG on Plotly's ``geo`` subplot and the dashboard draws no
other trace type (:mod:`dashboards.figures`), so the browser gets plotly.js's own *geo* partial
bundle (``dashboards/vendor/plotly-geo.min.js``: 1.4 MB, the trace modules ``choropleth``,
``scattergeo`` and ``scatter``) instead of the full 4.8 MB one, whose evaluation alone cost each
page with a map 0.5–0.9 s of the browser's main thread. With a tile server the command
center's map is MapLibre, and the full bundle of the ``plotly`` package is served.

``dcc.Graph`` loads plotly.js on the first page with a graph from one fixed, unfingerprinted
URL (:data:`DASH_PLOTLY_PATH` under the dashboard's prefix); this module answers that URL, and
the big screen's, with the bundle for the app's maps. The answer is revalidated on each use
(``no-cache`` with an ETag: a 304 when unchanged), so turning the tile server on or off, or an
upgrade, reaches every browser at its next page.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from pathlib import Path

from flask import Flask, Response, request

from dashboards.context import PREFIX, dashboard

DASH_PLOTLY_PATH = "_dash-component-suites/plotly/package_data/plotly.min.js"
"""Where dash-renderer tells ``dcc.Graph`` to load plotly.js from (``serve_locally``)."""
GEO_BUNDLE = Path(__file__).with_name("vendor") / "plotly-geo.min.js"


@cache
def bundle(full: bool) -> tuple[bytes, str]:
    """The full plotly.js of the ``plotly`` package, or the vendored geo bundle, with its ETag."""
    if full:
        data = resources.files("plotly").joinpath("package_data/plotly.min.js").read_bytes()
    else:
        data = GEO_BUNDLE.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:32]


def plotly_js() -> Response:
    """The plotly.js for this dashboard's maps (full only when a tile server is set)."""
    data, etag = bundle(full=bool(dashboard().tile_url))
    response = Response(data, mimetype="text/javascript")
    response.set_etag(etag)
    response.headers["Cache-Control"] = "no-cache"  # revalidate: a 304 when unchanged
    response.make_conditional(request)  # in place: a 304 without a body when unchanged
    return response


def add_plotly_route(server: Flask) -> None:
    """Answer dash-renderer's plotly.js URL (a static rule: it wins over Dash's own
    ``<package>/<path>`` rule for component code)."""
    server.add_url_rule(PREFIX + DASH_PLOTLY_PATH, "dash_plotly_js", plotly_js)
