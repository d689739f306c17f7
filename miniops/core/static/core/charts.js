// Console charts drawn with the Chart.js that unfold serves (no CDN).
//
// A page puts <canvas class="miniops-chart" data-chart="ID"> and the chart's data in
// {{ config|json_script:"ID" }} (miniops.core.charts builds it). The data is plain
// JSON: labels, datasets (label, data, color, dashed, axis, type), axis titles,
// money axes (fen shown as yuan), a horizontal flag and per-bar value labels.
(function () {
  if (typeof Chart === "undefined") return;
  const grid = "rgba(156, 163, 175, 0.25)";
  const ink = "#6b7280";
  const locale = document.documentElement.lang || undefined;
  const number = new Intl.NumberFormat(locale);
  const yuan = new Intl.NumberFormat(locale, { style: "currency", currency: "CNY", maximumFractionDigits: 0 });
  const yuanExact = new Intl.NumberFormat(locale, { style: "currency", currency: "CNY" });

  function format(value, axis, config, exact) {
    if (value === null || value === undefined) return "—";
    if ((config.money || []).includes(axis)) return (exact ? yuanExact : yuan).format(value / 100);
    if ((config.percent || []).includes(axis)) return `${(value * 100).toFixed(1)}%`;
    return number.format(value);
  }

  // Text at the end of each bar of the first dataset (counts and conversion rates).
  const valueLabels = {
    id: "miniopsValueLabels",
    afterDatasetsDraw(chart) {
      const labels = chart.config.options.miniopsValueLabels;
      if (!labels) return;
      const meta = chart.getDatasetMeta(0);
      const { ctx } = chart;
      ctx.save();
      ctx.fillStyle = ink;
      ctx.font = "12px sans-serif";
      const horizontal = chart.config.options.indexAxis === "y";
      meta.data.forEach((bar, index) => {
        const text = labels[index];
        if (!text) return;
        if (horizontal) {
          ctx.textAlign = "left";
          ctx.textBaseline = "middle";
          ctx.fillText(text, bar.x + 6, bar.y);
        } else {
          ctx.textAlign = "center";
          ctx.textBaseline = "bottom";
          ctx.fillText(text, bar.x, bar.y - 4);
        }
      });
      ctx.restore();
    },
  };

  function scale(config, axis, position, title) {
    return {
      type: "linear",
      position,
      beginAtZero: true,
      grace: config.valueLabels ? (config.horizontal ? "60%" : "15%") : 0,
      grid: { color: grid, drawOnChartArea: position !== "right" },
      ticks: {
        color: ink,
        precision: (config.percent || []).includes(axis) ? undefined : 0,
        callback: (value) => format(value, axis, config, false),
      },
      title: { display: Boolean(title), text: title || "", color: ink },
    };
  }

  function build(canvas, config) {
    const horizontal = Boolean(config.horizontal);
    const valueAxis = horizontal ? "x" : "y";
    const titles = config.axes || {};
    const datasets = config.datasets.map((d) => {
      const axis = d.axis === "y2" ? "y2" : valueAxis;
      const color = d.color || "#3b82f6";
      return {
        label: d.label,
        data: d.data,
        type: d.type || config.type,
        yAxisID: horizontal ? undefined : axis,
        xAxisID: horizontal ? "x" : undefined,
        borderColor: color,
        backgroundColor: (d.type || config.type) === "bar" ? color : color,
        borderDash: d.dashed ? [6, 4] : [],
        borderWidth: 2,
        pointRadius: (d.data || []).length > 40 ? 0 : 2,
        tension: 0.2,
        fill: false,
        maxBarThickness: 48,
        order: d.dashed ? 2 : 1,
        miniopsAxis: axis,
        miniopsDates: d.dates || null,
      };
    });
    const scales = {};
    const category = {
      type: "category",
      grid: { display: !horizontal, color: grid },
      ticks: { color: ink, autoSkip: true, maxRotation: 0 },
      title: { display: Boolean(titles.x), text: titles.x || "", color: ink },
    };
    if (horizontal) {
      scales.y = category;
      scales.x = scale(config, "x", "bottom", titles.y);
    } else {
      scales.x = category;
      scales.y = scale(config, "y", "left", titles.y);
      if (datasets.some((d) => d.miniopsAxis === "y2")) scales.y2 = scale(config, "y2", "right", titles.y2);
    }
    return new Chart(canvas, {
      type: config.type || "line",
      data: { labels: config.labels, datasets },
      plugins: [valueLabels],
      options: {
        animation: false,
        responsive: true,
        indexAxis: horizontal ? "y" : "x",
        interaction: { mode: "index", intersect: false },
        miniopsValueLabels: config.valueLabels || null,
        scales,
        plugins: {
          legend: { display: true, position: "top", align: "start", labels: { color: ink, usePointStyle: true } },
          tooltip: {
            callbacks: {
              label(context) {
                const ds = context.dataset;
                const when = ds.miniopsDates ? ` (${ds.miniopsDates[context.dataIndex] || ""})` : "";
                const value = horizontal ? context.parsed.x : context.parsed.y;
                return `${ds.label}${when}: ${format(value, ds.miniopsAxis, config, true)}`;
              },
            },
          },
        },
      },
    });
  }

  function renderAll() {
    for (const canvas of document.querySelectorAll("canvas.miniops-chart")) {
      if (canvas.dataset.drawn) continue;
      const source = document.getElementById(canvas.dataset.chart);
      if (!source) continue;
      canvas.dataset.drawn = "1";
      build(canvas, JSON.parse(source.textContent));
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", renderAll);
  else renderAll();
  document.addEventListener("htmx:afterSettle", renderAll);
})();
