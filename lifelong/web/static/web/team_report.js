/* Report by manager: one line per staff member over the periods; the stretch into the running
   period is dashed and its point hollow, since that figure is not final. */
(function () {
  "use strict";
  var node = document.getElementById("team-chart-data");
  var canvas = document.getElementById("team-chart");
  if (!node || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var colours = ["#0f766e", "#b45309", "#4338ca", "#be123c", "#15803d", "#7e22ce", "#0369a1"];
  var open = function (index) { return data.incomplete[index] === true; };
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.animation = false;
  new Chart(canvas, {
    type: "line",
    data: {
      labels: data.labels,
      datasets: data.series.map(function (series, n) {
        var colour = colours[n % colours.length];
        return {
          label: series.name, data: series.values, borderColor: colour, backgroundColor: colour,
          spanGaps: false, pointRadius: 4,
          pointBackgroundColor: data.labels.map(function (_l, i) { return open(i) ? "#fff" : colour; }),
          segment: { borderDash: function (ctx) { return open(ctx.p1DataIndex) ? [6, 4] : undefined; } }
        };
      })
    },
    options: { scales: { x: { grid: { display: false } } } }
  });
})();
