/* Feedback insights: NPS per period as a line, its 95 % interval as a thin floating bar (the whisker). */
(function () {
  "use strict";
  var node = document.getElementById("insights-data");
  var canvas = document.getElementById("chart-nps");
  if (!node || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;
  new Chart(canvas, {
    data: {
      labels: data.labels,
      datasets: [
        {
          type: "line", label: data.text.nps, data: data.nps, spanGaps: false,
          borderColor: "#0f766e", backgroundColor: "#0f766e", pointRadius: 4, order: 1
        },
        {
          type: "bar", label: data.text.interval, data: data.interval,
          backgroundColor: "rgba(15,118,110,0.35)", barThickness: 6, order: 2
        }
      ]
    },
    options: {
      scales: {
        x: { grid: { display: false } },
        y: { min: -100, max: 100, title: { display: true, text: data.text.y } }
      }
    }
  });
})();
