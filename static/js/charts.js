// Charts: <div data-plotly='{"data": [...], "layout": {...}}'>, drawn once plotly.js is loaded,
// and again for whatever an htmx swap brings in.
function drawCharts(root) {
  if (!window.Plotly) return;
  root.querySelectorAll("[data-plotly]").forEach((element) => {
    const figure = JSON.parse(element.dataset.plotly);
    element.removeAttribute("data-plotly");
    element.textContent = "";
    window.Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
  });
}
drawCharts(document);
// On the swapped element itself: a history restore's afterSwap has no detail.target.
document.body.addEventListener("htmx:afterSwap", (event) => drawCharts(event.target));
