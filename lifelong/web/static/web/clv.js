/* CLV calibration chart: actual against predicted holdout purchases, from the JSON the view embedded. */
(function () {
  "use strict";
  var node = document.getElementById("clv-data");
  var canvas = document.getElementById("chart-calibration");
  if (!node || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;
  new Chart(canvas, {
    type: "bar",
    data: {
      labels: data.labels,
      datasets: [
        { label: data.text.actual, data: data.actual, backgroundColor: "rgba(148,163,184,0.6)" },
        { type: "line", label: data.text.predicted, data: data.predicted, borderColor: "#0f766e",
          backgroundColor: "#0f766e", borderWidth: 2, pointRadius: 3, tension: 0 }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { title: { display: true, text: data.text.x }, grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: data.text.y } }
      }
    }
  });
})();
