// Charts: <div data-plotly='{"data": [...], "layout": {...}}'>, drawn once plotly.js is loaded.
document.querySelectorAll("[data-plotly]").forEach((element) => {
  if (!window.Plotly) return;
  const figure = JSON.parse(element.dataset.plotly);
  element.textContent = "";
  window.Plotly.newPlot(element, figure.data, figure.layout, { responsive: true, displaylogo: false });
});
