// Charts: <div data-plotly='{"data": [...], "layout": {...}}'>, drawn once plotly.js is loaded,
// and again for whatever an htmx swap brings in.
//
// Traces whose meta is "changes" mark what changed (publishes, prices, TAO spikes, month
// closes): a [data-toggle-changes] checkbox shows or hides them on every chart, and a click on
// a change's mark opens the page that describes it.
function changesShown() {
  const toggle = document.querySelector("[data-toggle-changes]");
  return !toggle || toggle.checked;
}

function changeTraces(data) {
  return data.flatMap((trace, index) => (trace.meta === "changes" ? [index] : []));
}

function openChange(event) {
  const point = event.points && event.points[0];
  if (!point || point.data.meta !== "changes" || !Array.isArray(point.customdata)) return;
  const url = point.customdata[3];
  // Only our own pages: a path, never another site.
  if (typeof url === "string" && url.startsWith("/") && !url.startsWith("//")) {
    window.location.assign(url);
  }
}

function drawCharts(root) {
  if (!window.Plotly) return;
  root.querySelectorAll("[data-plotly]").forEach((element) => {
    const figure = JSON.parse(element.dataset.plotly);
    element.removeAttribute("data-plotly");
    element.textContent = "";
    if (!changesShown()) changeTraces(figure.data).forEach((index) => { figure.data[index].visible = false; });
    window.Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
    element.on("plotly_click", openChange);
  });
}

function toggleChanges() {
  const visible = changesShown();
  document.querySelectorAll(".js-plotly-plot").forEach((element) => {
    const indices = changeTraces(element.data || []);
    if (indices.length) window.Plotly.restyle(element, { visible }, indices);
  });
}

drawCharts(document);
// On the swapped element itself: a history restore's afterSwap has no detail.target.
document.body.addEventListener("htmx:afterSwap", (event) => drawCharts(event.target));
document.addEventListener("change", (event) => {
  if (event.target.matches("[data-toggle-changes]")) toggleChanges();
});
