/* The segment rule builder: nested AND / OR groups (each node can be negated),
   conditions over profile, orders, behaviour and RFM; writes the rule JSON into
   the form's textarea and asks the preview page for the live count. */
(function () {
  "use strict";
  const root = document.getElementById("segment-builder");
  if (!root) return;
  const L = JSON.parse(document.getElementById("segment-builder-labels").textContent);
  const textarea = document.getElementById(root.dataset.textarea);
  const previewUrl = root.dataset.previewUrl;
  const csrf = (document.querySelector("input[name=csrfmiddlewaretoken]") || {}).value || "";
  let catalog = { levels: [], tags: [], categories: [], templates: [] };

  const opts = (pairs) => pairs.map(([v, t]) => ({ v, t }));
  const CMP = opts([["gte", "≥"], ["gt", ">"], ["eq", "="], ["ne", "≠"], ["lte", "≤"], ["lt", "<"]]);
  const DAYS = { key: "days", type: "number", label: L.days, min: 1, max: 3650 };
  const KINDS = {
    "profile.level": { label: L.level, params: [{ key: "op", type: "select", options: opts([["in", L.in], ["not_in", L.not_in]]) }, { key: "value", type: "multi", source: "levels" }] },
    "profile.tags": { label: L.tags, params: [{ key: "op", type: "select", options: opts([["any", L.any], ["all", L.all], ["none", L.none]]) }, { key: "value", type: "multi", source: "tags" }] },
    "profile.channel": { label: L.channel, params: [{ key: "op", type: "select", options: opts([["in", L.in], ["not_in", L.not_in]]) }, { key: "value", type: "list" }] },
    "profile.city": { label: L.city, params: [{ key: "op", type: "select", options: opts([["in", L.in], ["not_in", L.not_in]]) }, { key: "value", type: "list" }] },
    "profile.province": { label: L.province, params: [{ key: "op", type: "select", options: opts([["in", L.in], ["not_in", L.not_in]]) }, { key: "value", type: "list" }] },
    "profile.gender": { label: L.gender, params: [{ key: "value", type: "multi", options: opts([[0, L.unknown], [1, L.male], [2, L.female]]) }] },
    "profile.birthday_month": { label: L.birthday_month, params: [{ key: "value", type: "multi", options: opts([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12].map((m) => [m, String(m)])) }] },
    "profile.registered": { label: L.registered, params: [{ key: "value", type: "range" }] },
    "profile.points": { label: L.points, params: [{ key: "op", type: "select", options: CMP }, { key: "value", type: "number", min: 0 }] },
    "commerce.orders": { label: L.orders, params: [{ key: "op", type: "select", options: CMP }, { key: "value", type: "number", min: 0 }, DAYS] },
    "commerce.gmv": { label: L.gmv, params: [{ key: "op", type: "select", options: CMP }, { key: "value", type: "number", min: 0, step: "0.01" }, DAYS] },
    "commerce.aov": { label: L.aov, params: [{ key: "op", type: "select", options: CMP }, { key: "value", type: "number", min: 0, step: "0.01" }, DAYS] },
    "commerce.last_order": { label: L.last_order, params: [{ key: "value", type: "range" }] },
    "commerce.bought": { label: L.bought, params: [{ key: "categories", type: "multi", source: "categories" }, { key: "products", type: "ids", label: L.products }, DAYS] },
    "commerce.coupon": { label: L.coupon, params: [{ key: "state", type: "select", options: opts([["held", L.held], ["used", L.used]]) }, { key: "templates", type: "multi", source: "templates" }] },
    "commerce.refunded": { label: L.refunded, params: [DAYS] },
    event: { label: L.event, params: [{ key: "mode", type: "select", options: opts([["did", L.did], ["did_not", L.did_not], ["first_time", L.first_time], ["stopped", L.stopped]]) }, { key: "event", type: "text", label: L.event_name }, { key: "count", type: "number", label: L.times, min: 1 }, { key: "days", type: "number", label: L.days, min: 1, max: 3650 }, { key: "where", type: "where" }] },
    rfm: { label: L.rfm, params: [{ key: "r", type: "score", label: "R" }, { key: "f", type: "score", label: "F" }, { key: "m", type: "score", label: "M" }] },
  };

  function kindOf(leaf) {
    if (leaf.type === "profile") return "profile." + leaf.field;
    if (leaf.type === "commerce") return "commerce." + leaf.metric;
    return leaf.type;
  }
  function leafOf(kind, values) {
    const [type, sub] = kind.split(".");
    const leaf = { type };
    if (type === "profile") leaf.field = sub;
    if (type === "commerce") leaf.metric = sub;
    for (const [k, v] of Object.entries(values)) if (v !== undefined && v !== null && v !== "") leaf[k] = v;
    return leaf;
  }
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }
  const INPUT = "border border-base-300 rounded px-2 py-1 text-sm bg-white dark:bg-base-900";

  // --- the tree state -------------------------------------------------------------------
  function fromJson(node) {
    if (node.op === "not") { const inner = fromJson(node.rule); inner.negate = !inner.negate; return inner; }
    if (node.op === "and" || node.op === "or") return { group: node.op, negate: false, children: node.rules.map(fromJson) };
    return { leaf: node, negate: false };
  }
  function toJson(state) {
    const body = state.group ? { op: state.group, rules: state.children.map(toJson) } : state.leaf;
    return state.negate ? { op: "not", rule: body } : body;
  }
  let state;
  try { state = fromJson(JSON.parse(textarea.value || "{}")); if (!state.group) state = { group: "and", negate: false, children: [state] }; }
  catch (e) { state = { group: "and", negate: false, children: [] }; }

  // --- rendering --------------------------------------------------------------------------
  function param(leaf, p, onChange) {
    const label = p.label || "";
    const value = leaf[p.key];
    const set = (v) => { if (v === undefined) delete leaf[p.key]; else leaf[p.key] = v; onChange(); };
    if (p.type === "select") {
      const s = el("select", { class: INPUT, "data-param": p.key, onchange: (e) => set(e.target.value) }, ...p.options.map((o) => el("option", { value: o.v }, o.t)));
      s.value = value !== undefined ? value : p.options[0].v; if (value === undefined) leaf[p.key] = s.value;
      return s;
    }
    if (p.type === "number" || p.type === "text") {
      const i = el("input", { class: INPUT + " w-24", type: p.type, placeholder: label, title: label, "data-param": p.key, min: p.min, max: p.max, step: p.step || "1",
        oninput: (e) => set(e.target.value === "" ? undefined : p.type === "number" ? Number(e.target.value) : e.target.value) });
      if (value !== undefined) i.value = value;
      return el("label", { class: "text-xs" }, label ? label + " " : "", i);
    }
    if (p.type === "multi") {
      const options = p.options || (catalog[p.source] || []).map((x) => ({ v: x.id, t: x.name }));
      const s = el("select", { class: INPUT, multiple: "multiple", "data-param": p.key, onchange: (e) => set(Array.from(e.target.selectedOptions).map((o) => (isNaN(Number(o.value)) ? o.value : Number(o.value)))) },
        ...options.map((o) => el("option", { value: o.v }, o.t)));
      const chosen = (value || []).map(String);
      Array.from(s.options).forEach((o) => { o.selected = chosen.includes(o.value); });
      return s;
    }
    if (p.type === "list" || p.type === "ids") {
      const i = el("input", { class: INPUT + " w-48", type: "text", placeholder: p.label || L.comma_list, "data-param": p.key,
        oninput: (e) => { const parts = e.target.value.split(/[,，\s]+/).filter(Boolean); set(parts.length ? (p.type === "ids" ? parts.map(Number) : parts) : undefined); } });
      if (value) i.value = value.join(", ");
      return i;
    }
    if (p.type === "range") {
      const range = value || { within_days: 30 };
      leaf[p.key] = range;
      const which = Object.keys(range)[0] || "within_days";
      const s = el("select", { class: INPUT }, ...opts([["within_days", L.within_days], ["before_days", L.before_days], ["after", L.after], ["before", L.before]]).map((o) => el("option", { value: o.v }, o.t)));
      s.value = which;
      const i = el("input", { class: INPUT + " w-36", type: which.endsWith("days") ? "number" : "date", value: range[which] });
      const update = () => { const k = s.value; i.type = k.endsWith("days") ? "number" : "date"; leaf[p.key] = { [k]: k.endsWith("days") ? Number(i.value) : i.value }; onChange(); };
      s.addEventListener("change", update); i.addEventListener("input", update);
      return el("span", {}, s, " ", i);
    }
    if (p.type === "score") {
      const i = el("input", { class: INPUT + " w-20", type: "text", placeholder: p.label + " 1-5", value: value ? value.join("-") : "",
        oninput: (e) => { const m = e.target.value.match(/^\s*([1-5])\s*(?:-\s*([1-5]))?\s*$/); set(m ? [Number(m[1]), Number(m[2] || m[1])] : undefined); } });
      return i;
    }
    if (p.type === "where") {
      const f = (value && value[0]) || {};
      const name = el("input", { class: INPUT + " w-24", placeholder: L.property, value: f.property || "" });
      const val = el("input", { class: INPUT + " w-24", placeholder: L.value, value: f.value || "" });
      const update = () => { set(name.value && val.value ? [{ property: name.value, op: "eq", value: val.value }] : undefined); };
      name.addEventListener("input", update); val.addEventListener("input", update);
      return el("span", { class: "text-xs" }, L.where + " ", name, " = ", val);
    }
    return null;
  }

  function renderNode(node, parent, index) {
    const remove = parent ? el("button", { type: "button", class: "text-xs underline", onclick: () => { parent.children.splice(index, 1); changed(true); } }, L.remove) : null;
    const negate = el("label", { class: "text-xs" }, el("input", { type: "checkbox", onchange: (e) => { node.negate = e.target.checked; changed(false); } }), " " + L.not);
    negate.querySelector("input").checked = !!node.negate;
    if (node.group) {
      const op = el("select", { class: INPUT, "data-group-op": "1", onchange: (e) => { node.group = e.target.value; changed(false); } }, el("option", { value: "and" }, L.and), el("option", { value: "or" }, L.or));
      op.value = node.group;
      const kind = el("select", { class: INPUT, "data-add-kind": "1" }, ...Object.entries(KINDS).map(([k, v]) => el("option", { value: k }, v.label)));
      const add = el("button", { type: "button", class: "text-sm underline", "data-add": "1", onclick: () => { node.children.push({ leaf: leafOf(kind.value, {}), negate: false }); changed(true); } }, L.add_condition);
      const addGroup = el("button", { type: "button", class: "text-sm underline", onclick: () => { node.children.push({ group: "and", negate: false, children: [] }); changed(true); } }, L.add_group);
      const box = el("div", { class: "border border-base-200 dark:border-base-700 rounded p-2 my-1 flex flex-col gap-1" },
        el("div", { class: "flex gap-2 items-center flex-wrap" }, negate, L.match, op, remove));
      node.children.forEach((child, i) => box.append(renderNode(child, node, i)));
      box.append(el("div", { class: "flex gap-2 items-center" }, kind, add, addGroup));
      return box;
    }
    const kind = kindOf(node.leaf);
    const spec = KINDS[kind];
    const row = el("div", { class: "flex gap-2 items-center flex-wrap pl-2", "data-condition": kind }, negate, el("span", { class: "font-semibold text-sm" }, spec ? spec.label : kind));
    if (spec) for (const p of spec.params) row.append(param(node.leaf, p, () => changed(false)));
    row.append(remove);
    return row;
  }

  const tree = el("div", { id: "segment-builder-tree" });
  const result = el("div", { id: "segment-preview", class: "mt-2 text-sm", "aria-live": "polite" });
  root.append(tree, result);

  function render() { tree.replaceChildren(renderNode(state, null, 0)); }
  let timer = null;
  function changed(rerender) {
    if (rerender) render();
    textarea.value = JSON.stringify(toJson(state), null, 1);
    clearTimeout(timer);
    timer = setTimeout(preview, 400);
  }
  textarea.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(preview, 400); });

  async function preview() {
    result.replaceChildren(el("span", { class: "opacity-60" }, L.counting));
    const body = new URLSearchParams({ rules: textarea.value });
    let data;
    try {
      const response = await fetch(previewUrl, { method: "POST", body, headers: { "X-CSRFToken": csrf }, credentials: "same-origin" });
      data = await response.json();
    } catch (e) { result.replaceChildren(el("span", { class: "text-red-600", id: "segment-preview-error" }, L.failed)); return; }
    if (data.error) {
      const list = el("ul", { class: "text-xs" }, ...Object.entries(data.fields || {}).map(([k, v]) => el("li", {}, k + ": " + v)));
      result.replaceChildren(el("div", { class: "text-red-600", id: "segment-preview-error" }, data.error, list));
      return;
    }
    const rows = data.sample.map((m) => el("tr", {}, el("td", { class: "pr-4" }, "#" + m.id), el("td", { class: "pr-4" }, m.nickname), el("td", { class: "pr-4" }, m.city || "—"), el("td", {}, m.registered_at)));
    result.replaceChildren(
      el("p", {}, el("strong", { id: "segment-preview-count", class: "text-xl" }, String(data.count)), " " + L.members + " · ",
        el("span", { id: "segment-preview-time" }, L.query_time.replace("%s", data.elapsed_ms))),
      el("table", { class: "text-xs mt-1", id: "segment-preview-sample" }, ...rows)
    );
  }

  fetch(previewUrl, { credentials: "same-origin" }).then((r) => r.json()).then((d) => { catalog = d.catalog; render(); preview(); }).catch(() => { render(); });
  render();
})();
