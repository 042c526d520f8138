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
document.body.addEventListener("htmx:afterSwap", (event) => drawCharts(event.detail.target));
// Picking a day for a custom range means a custom range.
document.querySelectorAll(".custom-range input[type=date]").forEach((input) => {
  input.addEventListener("change", () => {
    const range = input.form && input.form.elements.namedItem("range");
    if (range) range.value = "custom";
  });
});
