// The dashboard's SVG maps (Plotly's geo subplot; see dashboards/figures.py) draw only our own
// GeoJSON, with Plotly's land, sea and borders hidden. Plotly still loads its world map before a
// geo subplot draws, from its CDN unless it is already here: an empty world, so no map ever
// needs the internet. Plotly keeps the GeoJSON it fetches in this same object.
window.PlotlyGeoAssets = window.PlotlyGeoAssets || {topojson: {}};
window.PlotlyGeoAssets.topojson.world_110m = {
    type: "Topology",
    arcs: [],
    objects: Object.fromEntries(
        ["land", "ocean", "lakes", "rivers", "coastlines", "countries", "subunits"].map(
            (name) => [name, {type: "GeometryCollection", geometries: []}],
        ),
    ),
};
