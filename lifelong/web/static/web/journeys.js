/* Journey results: conversion of the treated group and the holdout, each with its 95 % interval. */
(function () {
  "use strict";
  var node = document.getElementById("journey-results");
  var canvas = document.getElementById("chart-results");
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
        { label: data.text.rate, data: data.rates, backgroundColor: ["#0f766e", "rgba(148,163,184,0.7)"],
          barPercentage: 0.6, order: 2 },
        /* The interval as a thin floating bar over each rate. */
        { label: data.text.interval, data: data.intervals, backgroundColor: "rgba(17,24,39,0.55)",
          barPercentage: 0.06, order: 1 }
      ]
    },
    options: {
      scales: {
        x: { stacked: true, grid: { display: false } },
        y: { beginAtZero: true, title: { display: true, text: data.text.rate } }
      },
      plugins: { legend: { display: true } }
    }
  });
})();
