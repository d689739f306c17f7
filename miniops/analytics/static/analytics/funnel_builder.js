// The funnel builder: show the filled step rows and one empty row; "Add a step"
// shows the next one. Without this script every row shows, which works too.
(function () {
  const rows = Array.from(document.querySelectorAll("#funnel-steps tr.funnel-step"));
  const add = document.getElementById("funnel-add-step");
  if (!rows.length || !add) return;
  const filled = (row) => Array.from(row.querySelectorAll("select, input")).some((el) => el.value.trim() !== "");
  let last = 0;
  rows.forEach((row, index) => { if (filled(row)) last = index; });
  const visible = Math.min(rows.length, Math.max(last + 2, 2));
  rows.forEach((row, index) => { row.hidden = index >= visible; });
  const refresh = () => { add.classList.toggle("hidden", rows.every((row) => !row.hidden)); };
  add.addEventListener("click", () => {
    const next = rows.find((row) => row.hidden);
    if (next) { next.hidden = false; next.querySelector("select").focus(); }
    refresh();
  });
  refresh();
})();
