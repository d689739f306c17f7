// The home layout's order by drag and drop, or by keyboard: focus a row's handle
// and press the up or down arrow key. Every change posts the whole order to the
// reorder URL (CSRF token from the page); the server answers the new positions.
(function () {
  "use strict";
  var box = document.getElementById("cms-reorder");
  var table = document.getElementById("result_list");
  if (!box || !table) return;
  var words = JSON.parse(document.getElementById("cms-reorder-words").textContent);
  var status = document.getElementById("cms-reorder-status");
  var token = box.querySelector("input[name=csrfmiddlewaretoken]").value;
  var dragged = null;

  function rowId(row) {
    var check = row.querySelector("input.action-select");
    if (check) return check.value;
    var link = row.querySelector("a[href*='/homesection/']");
    var match = link && link.getAttribute("href").match(/\/homesection\/(\d+)\//);
    return match ? match[1] : null;
  }

  // What moves: a row, or its own tbody when the theme gives each row one.
  var units = Array.prototype.filter.call(table.querySelectorAll("tbody tr"), function (row) {
    return rowId(row) !== null;
  }).map(function (row) {
    var parent = row.parentElement;
    return parent.tagName === "TBODY" && parent.rows.length === 1 ? parent : row;
  });
  if (!units.length) return;
  var body = units[0].parentElement;

  function rows() {
    return Array.prototype.filter.call(body.children, function (unit) {
      return units.indexOf(unit) !== -1;
    });
  }

  function save(focus) {
    var ids = rows().map(rowId);
    var data = new URLSearchParams();
    ids.forEach(function (id) { data.append("ids", id); });
    status.textContent = "";
    fetch(box.dataset.url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": token, "Accept": "application/json" },
      body: data
    }).then(function (response) {
      return response.json().then(function (answer) { return [response.ok, answer]; });
    }).then(function (result) {
      if (!result[0]) throw new Error(result[1].error ? result[1].error.message : "");
      var positions = {};
      result[1].sections.forEach(function (s) { positions[String(s.id)] = s.position; });
      rows().forEach(function (row) {
        var cell = row.querySelector("td.field-position, th.field-position");
        if (cell && positions[rowId(row)] !== undefined) cell.textContent = positions[rowId(row)];
      });
      status.textContent = words.saved;
      box.dataset.saved = ids.join(",");
      if (focus) focus.focus();
    }).catch(function (error) {
      status.textContent = words.failed.replace("%(reason)s", error.message || "");
      window.setTimeout(function () { window.location.reload(); }, 2500);
    });
  }

  rows().forEach(function (row) {
    var handle = document.createElement("button");
    handle.type = "button";
    handle.className = "cms-drag-handle";
    handle.textContent = "⠿";
    handle.title = words.handle;
    handle.setAttribute("aria-label", words.handle);
    handle.style.cursor = "grab";
    handle.style.padding = "0 0.5rem";
    handle.style.fontSize = "1.25rem";
    var first = row.querySelector("td, th");
    first.insertBefore(handle, first.firstChild);
    row.draggable = true;

    row.addEventListener("dragstart", function (event) {
      dragged = row;
      row.style.opacity = "0.5";
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", rowId(row));
    });
    row.addEventListener("dragover", function (event) {
      if (!dragged || dragged === row) return;
      event.preventDefault();
      var rect = row.getBoundingClientRect();
      var after = event.clientY > rect.top + rect.height / 2;
      body.insertBefore(dragged, after ? row.nextSibling : row);
    });
    row.addEventListener("drop", function (event) { event.preventDefault(); });
    row.addEventListener("dragend", function () {
      row.style.opacity = "";
      var before = box.dataset.saved;
      dragged = null;
      if (rows().map(rowId).join(",") !== before) save(null);
    });
    handle.addEventListener("keydown", function (event) {
      if (event.key !== "ArrowUp" && event.key !== "ArrowDown") return;
      event.preventDefault();
      var other = event.key === "ArrowUp" ? row.previousElementSibling : row.nextElementSibling;
      if (!other || units.indexOf(other) === -1) return;
      body.insertBefore(row, event.key === "ArrowUp" ? other : other.nextSibling);
      save(handle);
    });
  });
  box.dataset.saved = rows().map(rowId).join(",");
})();
