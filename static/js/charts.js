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
// Picking a day for a custom range means a custom range. Listened for on the body, which
// outlives the form that a history restore replaces.
document.body.addEventListener("change", (event) => {
  const input = event.target;
  if (!input.matches(".custom-range input[type=date]")) return;
  const range = input.form && input.form.elements.namedItem("range");
  if (range) range.value = "custom";
});
