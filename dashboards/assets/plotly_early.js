// Fetch and evaluate plotly.js while the page asks the server for its content, not after it:
// left alone, dcc.Graph loads plotly.js only once a graph is on the page, which puts its
// download and evaluation (the geo bundle of dashboards/plotlyjs.py) after every callback.
// dcc.Graph waits on `window.Plotly` when that is a promise; plotly.js, once evaluated,
// replaces it with itself.
(() => {
    if (window.Plotly) {
        return;
    }
    const script = document.createElement("script");
    script.src = "/dashboard/_dash-component-suites/plotly/package_data/plotly.min.js";
    window.Plotly = new Promise((resolve, reject) => {
        script.onload = () => resolve();
        script.onerror = () => reject(new Error("plotly.js did not load"));
    });
    document.head.appendChild(script);
})();
