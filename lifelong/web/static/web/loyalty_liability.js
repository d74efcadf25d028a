/* Points liability: the points of open lots by the month they expire in, from the JSON the view embedded. */
(function () {
  "use strict";
  var node = document.getElementById("liability-data");
  var canvas = document.getElementById("chart-liability");
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
        { label: data.text.points, data: data.points, backgroundColor: "rgba(15,118,110,0.7)" }
      ]
    },
    options: {
      plugins: { legend: { display: false } },
      scales: {
        x: { grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: data.text.y } }
      }
    }
  });
})();
