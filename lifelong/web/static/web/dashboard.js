/* Dashboard charts: reads the JSON the view embedded and draws it with Chart.js. */
(function () {
  "use strict";
  var node = document.getElementById("dashboard-data");
  if (!node || typeof Chart === "undefined") { return; }
  var data = JSON.parse(node.textContent);
  var text = data.text;
  var primary = "#0f766e";
  var locale = document.documentElement.lang || "ru";
  var number = new Intl.NumberFormat(locale, { maximumFractionDigits: 0 });
  var percent = new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: 0 });

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.maintainAspectRatio = false;
  // Figures, not a show: draw at once (also keeps screenshots and printouts complete).
  Chart.defaults.animation = false;
  Chart.defaults.plugins.legend.labels.boxWidth = 12;

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (canvas) { new Chart(canvas, config); }
  }
  function ticks(value) { return number.format(value); }

  /* The bucket holding today is not over: the line into it is dashed and its bar pale,
     so a half-filled day does not read as a collapse. */
  var partial = data.trend.partial;
  function isPartial(index) { return partial !== null && index >= partial; }
  draw("chart-trend", {
    type: "bar",
    data: {
      labels: data.trend.labels,
      datasets: [
        { type: "line", label: text.revenue, data: data.trend.revenue, borderColor: primary,
          backgroundColor: primary, pointRadius: 0, borderWidth: 2, tension: 0.2, yAxisID: "y",
          segment: { borderDash: function (ctx) { return isPartial(ctx.p1DataIndex) ? [5, 4] : undefined; } } },
        { label: text.orders, data: data.trend.orders, yAxisID: "y1",
          backgroundColor: data.trend.orders.map(function (_, i) {
            return isPartial(i) ? "rgba(148,163,184,0.18)" : "rgba(148,163,184,0.45)";
          }),
          borderColor: "rgba(100,116,139,0.7)",
          borderWidth: data.trend.orders.map(function (_, i) { return isPartial(i) ? 1 : 0; }) }
      ]
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 8, maxRotation: 0 }, grid: { display: false } },
        y: { position: "left", beginAtZero: true, ticks: { callback: ticks, maxTicksLimit: 6 } },
        y1: { position: "right", beginAtZero: true, grid: { display: false }, ticks: { callback: ticks, maxTicksLimit: 6 } }
      }
    }
  });

  draw("chart-stages", {
    type: "bar",
    data: {
      labels: data.stages.labels,
      datasets: [{ label: text.customers, data: data.stages.counts, backgroundColor: data.stages.colours }]
    },
    options: {
      indexAxis: "y",
      plugins: { legend: { display: false } },
      scales: { x: { beginAtZero: true, ticks: { callback: ticks, maxTicksLimit: 5 } }, y: { grid: { display: false } } }
    }
  });

  draw("chart-flows", {
    type: "bar",
    data: { labels: data.flows.labels, datasets: data.flows.datasets },
    options: {
      indexAxis: "y",
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { stacked: true, beginAtZero: true, ticks: { callback: ticks, maxTicksLimit: 5 } },
        y: { stacked: true, grid: { display: false } }
      }
    }
  });

  var edges = data.histogram.edges;
  draw("chart-value", {
    type: "bar",
    data: {
      labels: data.histogram.counts.map(function (_, i) {
        return number.format(edges[i]) + (i === data.histogram.counts.length - 1 ? "+" : "–" + number.format(edges[i + 1]));
      }),
      datasets: [{ label: text.customers, data: data.histogram.counts, backgroundColor: primary, barPercentage: 1, categoryPercentage: 0.95 }]
    },
    options: {
      plugins: { legend: { display: false }, tooltip: { callbacks: { title: function (items) { return text.value + ": " + items[0].label; } } } },
      scales: {
        x: { title: { display: true, text: text.value }, ticks: { maxRotation: 0, autoSkip: true, maxTicksLimit: 6 }, grid: { display: false } },
        y: { beginAtZero: true, ticks: { callback: ticks, maxTicksLimit: 5 } }
      }
    }
  });

  var curve = data.lorenz.map(function (p) { return { x: p[0], y: p[1] }; });
  draw("chart-lorenz", {
    type: "line",
    data: {
      datasets: [
        { label: text.actual, data: curve, borderColor: primary, backgroundColor: "rgba(15,118,110,0.12)", fill: true, pointRadius: 0, borderWidth: 2 },
        { label: text.equality, data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderColor: "#94a3b8", borderDash: [5, 4], pointRadius: 0, borderWidth: 1.5 }
      ]
    },
    options: {
      aspectRatio: 1,
      plugins: { legend: { position: "bottom" } },
      scales: {
        x: { type: "linear", min: 0, max: 1, title: { display: true, text: text.buyers_share }, ticks: { callback: function (v) { return percent.format(v); }, stepSize: 0.2 } },
        y: { min: 0, max: 1, title: { display: true, text: text.revenue_share }, ticks: { callback: function (v) { return percent.format(v); }, stepSize: 0.2 } }
      }
    }
  });
})();
