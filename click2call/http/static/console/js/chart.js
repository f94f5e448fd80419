// Charts: a thin wrapper over the vendored uPlot (canvas, small, no dependencies). Periods are drawn by their
// index with our own labels, so the hours and days are those of the service's time zone (the API's keys), not the
// browser's. uPlot styles its elements through the CSSOM, which the console's CSP allows; its stylesheet is linked.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { h } from "./dom.js";
import { sheet } from "./ui.js";

// Colours per status, told apart without relying on hue alone (the legend names them and the table beside each
// chart gives every number).
export const COLOURS = {
  answered: "#1e7b34", no_answer: "#c58a00", busy: "#8f4fbf", cancelled: "#7a7a7a", failed: "#c01c28",
  in_progress: "#1a5fb4", calls: "#1a5fb4", talk: "#1e7b34",
};

// A bar chart of periods (or agents). series: [{label, values, colour}]: one series, or several stacked (each
// period's parts on top of one another, the total's height), drawn tallest first so each lower part paints over.
export function barChart(host, { labels, series, height = 240, caption }) {
  const stacked = series.length > 1;
  sheet("../vendor/uplot/uPlot.min.css");
  const shown = stacked ? stackUp(series) : series.map((s) => s.values);
  const order = stacked ? series.map((_, i) => series.length - 1 - i) : series.map((_, i) => i);
  const opts = {
    width: width(host), height,
    legend: { show: false },  // our own legend (below), a list a screen reader reads
    cursor: { drag: { x: false, y: false } },
    scales: { x: { time: false, range: (u, min, max) => [min - 0.5, max + 0.5] }, y: { range: (u, min, max) => [0, Math.max(1, max)] } },
    axes: [
      { values: (u, splits) => splits.map((i) => (Number.isInteger(i) && labels[i] !== undefined ? labels[i] : "")),
        space: 36, grid: { show: false } },
      { values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : "")) },
    ],
    series: [{}, ...order.map((i) => ({
      label: series[i].label, stroke: series[i].colour, fill: series[i].colour, width: 0, points: { show: false },
      paths: uPlot.paths.bars({ size: [0.7, 48] }),
    }))],
  };
  const data = [labels.map((_, i) => i), ...order.map((i) => shown[i])];
  const box = h("div", { class: "chart-canvas", "aria-hidden": "true" });
  const legend = h("ul", { class: "chart-legend" }, series.map((s) => {
    const swatch = h("span", { class: "swatch" });
    swatch.style.backgroundColor = s.colour;  // CSSOM, allowed by style-src 'self' (an attribute would not be)
    return h("li", {}, swatch, s.label);
  }));
  const figure = h("figure", { class: "chart" }, box, legend, caption ? h("figcaption", {}, caption) : null);
  host.append(figure);
  const plot = new uPlot(opts, data, box);
  const resize = new ResizeObserver(() => plot.setSize({ width: width(host), height }));
  resize.observe(host);
  return { destroy() { resize.disconnect(); plot.destroy(); } };
}

function stackUp(series) {
  const sums = series[0].values.map(() => 0);
  return series.map((s) => s.values.map((v, i) => (sums[i] += v || 0)));
}

function width(host) {
  return Math.max(240, Math.floor(host.clientWidth || 600));
}
