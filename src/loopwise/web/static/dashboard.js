// The dashboard: each chart from /v1/projects/{p}/dashboard drawn with uPlot (vendored), its
// numbers in a table for screen readers and keyboard users, and a CSV link.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("dashboard-config").textContent);
  const base = "/v1/projects/" + encodeURIComponent(config.project) + "/dashboard";
  const period = new URLSearchParams(location.search).get("period") || "day";
  const palette = ["#0b57d0", "#c2410c", "#15803d", "#7e22ce", "#b91c1c", "#0e7490"];
  const el = window.loopwise.el;
  const fmt = (v) => (v === null || v === undefined ? "–" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toFixed(3)) : String(v));

  function table(chart) {
    const xs = chart.data[0];
    const rows = xs.map((x, i) => {
      const first = chart.categories ? chart.categories[i] : chart.x_is_time ? new Date(x * 1000).toISOString().slice(0, 16).replace("T", " ") : x;
      return el("tr", {}, el("th", { scope: "row", text: fmt(first) }), ...chart.data.slice(1).map((s) => el("td", { class: "num", text: fmt(s[i]) })));
    });
    return el(
      "table",
      { class: "grid" },
      el("caption", { class: "sr", text: chart.title }),
      el("thead", {}, el("tr", {}, ...chart.columns.map((c) => el("th", { scope: "col", text: c })))),
      el("tbody", {}, ...rows),
    );
  }

  // Ratios (accuracy, rates, kappa, alpha) on one axis, counts and minutes on another.
  const isRatio = (name) => /accuracy|rate|kappa|alpha|^gold_/.test(name);

  function plot(chart, target) {
    const wanted = chart.series && chart.series.length ? chart.series : chart.columns.slice(1);
    const picked = wanted
      .map((name) => [name, chart.columns.indexOf(name)])
      .filter(([, i]) => i > 0 && chart.data[i].every((v) => v === null || typeof v === "number"));
    if (!chart.data[0].length || !picked.length) {
      target.append(el("p", { class: "help", text: "No data yet." }));
      return null;
    }
    const ratios = picked.filter(([name]) => isRatio(name)).length;
    const twoAxes = ratios > 0 && ratios < picked.length;
    const series = [{ label: chart.columns[0] }].concat(
      picked.map(([name], k) => ({
        label: name.replaceAll("_", " "),
        scale: twoAxes && !isRatio(name) ? "n" : "y",
        stroke: palette[k % palette.length],
        fill: chart.kind === "bar" ? palette[k % palette.length] + "99" : undefined,
        width: 2,
        // bars of several series overlap, each narrower than the one before
        paths: chart.kind === "bar" ? uPlot.paths.bars({ size: [Math.max(0.2, 0.7 - 0.25 * k), 80] }) : undefined,
        points: { show: chart.kind !== "line" || chart.data[0].length < 30, size: 6 },
      })),
    );
    const axes = [
      {
        label: chart.x_label,
        values: chart.categories ? (u, ticks) => ticks.map((t) => (Number.isInteger(t) && chart.categories[t] !== undefined ? chart.categories[t] : "")) : undefined,
      },
      { label: twoAxes ? "share" : chart.y_label, scale: "y" },
    ];
    if (twoAxes) axes.push({ label: chart.y_label, scale: "n", side: 1, size: 70, grid: { show: false } });
    const step = period === "hour" ? 3600 : 86400;
    const pad = chart.x_is_time ? step : 1;
    const scales = {
      x: {
        time: !!chart.x_is_time,
        range: chart.categories
          ? [-0.5, chart.categories.length - 0.5]
          : chart.key === "calibration"
            ? [0, 1]
            : chart.data[0].length === 1
              ? [chart.data[0][0] - pad, chart.data[0][0] + pad]
              : undefined,
      },
      y: {
        range:
          ratios === picked.length || twoAxes
            ? [0, 1]
            : (u, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.1 : 1],
      },
    };
    if (twoAxes) scales.n = { range: (u, lo, hi) => [0, Math.max(1, hi * 1.1)] };
    const opts = { width: Math.max(320, target.clientWidth || 460), height: 240, series, axes, scales, legend: { show: true } };
    const data = [chart.data[0]].concat(picked.map(([, i]) => chart.data[i]));
    if (chart.key === "calibration") {
      // the diagonal: where a calibrated model's points lie
      series.push({ label: "calibrated", stroke: "#6b7480", dash: [6, 4], width: 1, points: { show: false } });
      data.push(chart.data[0].slice());
    }
    const u = new uPlot(opts, data, target);
    target.dataset.series = String(picked.length);
    return u;
  }

  function card(chart) {
    const plotBox = el("div", { class: "plot", role: "img", "aria-label": chart.title + ": chart; the same numbers are in the table below" });
    const csv = el("a", { href: base + "/" + encodeURIComponent(chart.key) + ".csv?period=" + period, download: chart.key + ".csv", text: "Download CSV" });
    const details = el("details", {}, el("summary", { text: "Numbers (" + chart.data[0].length + " rows)" }), table(chart));
    const section = el(
      "section",
      { class: "card chart", id: "chart-" + chart.key, "data-key": chart.key, "aria-labelledby": "title-" + chart.key },
      el("h2", { id: "title-" + chart.key, text: chart.title }),
      el("p", { class: "help", text: chart.note }),
      ...Object.entries(chart.summary || {})
        .filter(([, v]) => v !== null)
        .map(([k, v]) => el("p", { class: "summary", text: k.replaceAll("_", " ") + ": " + fmt(v) })),
      plotBox,
      el("div", { class: "tools" }, csv),
      details,
    );
    return [section, plotBox];
  }

  fetch(base + "?period=" + encodeURIComponent(period), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(async (r) => {
      const body = await r.json().catch(() => null);
      if (r.status === 401) {
        location.href = "/ui/login?reason=expired&next=" + encodeURIComponent(location.pathname);
        return;
      }
      if (!r.ok) throw new Error((body && body.error && body.error.message) || "HTTP " + r.status);
      const box = document.getElementById("charts");
      for (const chart of body.charts) {
        const [section, plotBox] = card(chart);
        box.append(section);
        plot(chart, plotBox);
      }
      const status = document.getElementById("charts-status");
      status.textContent = body.charts.length + " charts, as of " + body.as_of.replace("T", " ").slice(0, 19) + " UTC.";
      document.body.dataset.chartsReady = "1";
    })
    .catch((err) => {
      const status = document.getElementById("charts-status");
      status.textContent = "The charts could not be loaded: " + err.message + ". Reload the page to try again.";
      status.className = "error";
    });
})();
