// The real-time monitor: polls the console's JSON every 5 seconds and redraws.
(function () {
  const root = document.getElementById("realtime");
  if (!root) return;
  const labels = JSON.parse(document.getElementById("realtime-labels").textContent);
  const colors = ["#3b82f6", "#f97316", "#10b981", "#a855f7", "#ef4444", "#eab308"];
  const metrics = Object.keys(labels);
  const chart = new Chart(document.getElementById("realtime-chart"), {
    type: "line",
    data: {
      labels: [],
      datasets: metrics.map((m, i) => ({
        label: labels[m], data: [], borderColor: colors[i], backgroundColor: colors[i],
        pointRadius: 0, tension: 0.2,
      })),
    },
    options: { animation: false, responsive: true, interaction: { mode: "index", intersect: false } },
  });
  const text = (tag, value) => { const el = document.createElement(tag); el.textContent = value; return el; };
  async function refresh() {
    try {
      const response = await fetch(root.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const data = await response.json();
      chart.data.labels = data.labels;
      metrics.forEach((m, i) => { chart.data.datasets[i].data = data.series[m]; });
      chart.update();
      for (const m of metrics) {
        const el = root.querySelector(`[data-total="${m}"]`);
        if (el) el.textContent = data.totals[m];
      }
      const pages = document.getElementById("realtime-pages");
      pages.replaceChildren(...data.top_pages.map(([path, n]) => {
        const tr = document.createElement("tr");
        tr.append(text("td", path), text("td", n));
        return tr;
      }));
      const alerts = document.getElementById("realtime-alerts");
      alerts.replaceChildren(...data.alerts.map((a) => text("li", `${a.at} ${a.message}`)));
      document.getElementById("realtime-updated").textContent = new Date().toLocaleTimeString();
    } catch (error) {
      // keep the last picture; the next tick retries
    }
  }
  refresh();
  setInterval(refresh, 5000);
})();
