/* Community page: joins, leaves and removals per month, the current month drawn pale
   (it is not over, so a low bar there is not a fall). */
(function () {
  "use strict";
  var node = document.getElementById("community-flow");
  var canvas = document.getElementById("chart-community-flow");
  if (!node || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;
  function colours(solid, pale) {
    return data.labels.map(function (_, i) { return i === data.partial ? pale : solid; });
  }
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: data.text.joins, data: data.joins, stack: "in",
          backgroundColor: colours("rgba(15,118,110,0.8)", "rgba(15,118,110,0.25)") },
        { label: data.text.leaves, data: data.leaves, stack: "out",
          backgroundColor: colours("rgba(148,163,184,0.8)", "rgba(148,163,184,0.3)") },
        { label: data.text.removals, data: data.removals, stack: "out",
          backgroundColor: colours("rgba(185,28,28,0.7)", "rgba(185,28,28,0.25)") }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } },
      scales: {
        x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0 } },
        y: { stacked: true, beginAtZero: true, ticks: { precision: 0, maxTicksLimit: 6 } }
      }
    }
  });
}());
