// DOM helpers. Text always goes in as text nodes (never innerHTML), so
// nothing the gateway, the model or a stranger wrote can become markup.

export function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "value") el.value = v;
    else if (k === "checked") el.checked = !!v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  add(el, kids);
  return el;
}

function add(el, kids) {
  for (const k of kids) {
    if (k === undefined || k === null || k === false) continue;
    if (Array.isArray(k)) add(el, k);
    else el.append(k instanceof Node ? k : document.createTextNode(String(k)));
  }
}

export function ago(ms) {
  if (!ms) return "";
  const t = typeof ms === "string" ? Date.parse(ms) : ms;
  if (!t || t < 0) return "";
  let s = Math.round((Date.now() - t) / 1000);
  const future = s < 0;
  s = Math.abs(s);
  const v = s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 86400 ? Math.round(s / 3600) + " h" : Math.round(s / 86400) + " d";
  return future ? "in " + v : v + " ago";
}

export function when(ms) {
  const t = typeof ms === "string" ? Date.parse(ms) : ms;
  if (!t || t < 0) return "";
  return new Date(t).toLocaleString();
}

export function usd(n) { return "$" + (Number(n) || 0).toFixed(4); }

// table renders rows with columns [{label, get(row) → node|text}].
export function table(cols, rows, empty) {
  if (!rows.length) return h("p", { class: "empty" }, empty || "Nothing here.");
  return h("div", { class: "tablewrap" }, h("table", {},
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c.label)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, cols.map((c) => h("td", { "data-label": c.label }, c.get(r))))))));
}

// button that runs an async action, disabled while it runs, and reports
// errors through report.
export function action(label, fn, report, attrs) {
  const b = h("button", Object.assign({ type: "button" }, attrs || {}), label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    try { await fn(); } catch (e) { report(e); } finally { b.disabled = false; }
  });
  return b;
}

export function section(title, ...kids) {
  return h("section", { class: "card" }, h("h2", {}, title), kids);
}

// fill replaces el's children with kids (null, false and undefined are
// skipped, arrays flattened).
export function fill(el, ...kids) {
  el.replaceChildren();
  add(el, kids);
  return el;
}
