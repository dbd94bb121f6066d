// Config: a form generated from the config schema (config.schema), a raw
// JSON5 merge-patch editor, secrets write-only (the gateway sends "***"
// for a set secret and never its value; an empty secret field leaves it
// unchanged), the baseHash guard against concurrent edits, validation
// problems shown at their field, and "restart required" where it applies.

import { h, fill, section } from "../lib/dom.js";

const SECRET = "***";

function typeOf(s) {
  const t = Array.isArray(s.type) ? s.type.find((x) => x !== "null") : s.type;
  if (t) return t;
  if (s.properties || s.additionalProperties) return "object";
  return "string";
}

function setPath(obj, path, v) {
  const ks = path.split(".");
  let o = obj;
  for (const k of ks.slice(0, -1)) o = o[k] = o[k] && typeof o[k] === "object" && !Array.isArray(o[k]) ? o[k] : {};
  o[ks[ks.length - 1]] = v;
}

export async function render(root, app) {
  const { gw } = app;
  const [sr, cr] = await Promise.all([gw.call("config.schema", {}), gw.call("config.get", {})]);
  const restartKeys = new Set(sr.restartKeys || []);
  let baseHash = cr.hash;
  const patch = {};
  const fields = new Map(); // path → field element
  const status = h("div", { id: "config-status", role: "status" });
  const save = h("button", { type: "submit", class: "primary", id: "config-save" }, "Save changes");
  const form = h("form", { id: "config-form", novalidate: true });

  function changed(path, v) { setPath(patch, path, v); save.disabled = false; }

  function field(path, key, s, v) {
    const id = "cfg-" + path.replace(/[^A-Za-z0-9]/g, "-");
    const t = typeOf(s);
    let input;
    if (s.writeOnly) {
      input = h("input", { id, type: "password", autocomplete: "new-password", placeholder: v === SECRET ? "set (write-only; type to replace)" : "not set" });
      input.addEventListener("change", () => { if (input.value) changed(path, input.value); });
    } else if (s.enum) {
      input = h("select", { id }, s.enum.map((e) => h("option", { value: e }, String(e))));
      input.value = v ?? s.default ?? "";
      input.addEventListener("change", () => changed(path, input.value));
    } else if (t === "boolean") {
      input = h("input", { id, type: "checkbox", checked: v ?? s.default });
      input.addEventListener("change", () => changed(path, input.checked));
    } else if (t === "integer" || t === "number") {
      input = h("input", { id, type: "number", step: t === "integer" ? 1 : "any", value: v ?? s.default ?? "", min: s.minimum, max: s.maximum });
      input.addEventListener("change", () => changed(path, input.value === "" ? null : Number(input.value)));
    } else if (t === "array" && s.items && typeOf(s.items) === "string" && !s.items.enum) {
      input = h("textarea", { id, rows: Math.min(6, Math.max(2, (v || []).length + 1)), value: (v || []).join("\n") });
      input.addEventListener("change", () => changed(path, input.value.split("\n").map((x) => x.trim()).filter(Boolean)));
    } else if (t === "array" || t === "object") {
      input = h("textarea", { id, rows: 3, value: v === undefined || v === null ? "" : JSON.stringify(v) });
      input.addEventListener("change", () => { try { changed(path, input.value.trim() ? JSON.parse(input.value) : null); mark(path, ""); } catch (e) { mark(path, "not valid JSON: " + e.message); } });
    } else {
      input = h("input", { id, type: "text", value: v ?? "", placeholder: s.default !== undefined ? String(s.default) : "", pattern: s.pattern, spellcheck: "false" });
      input.addEventListener("change", () => changed(path, input.value));
    }
    const err = h("div", { class: "err", id: id + "-err", "aria-live": "polite" });
    input.setAttribute("aria-describedby", id + "-err " + id + "-doc");
    const el = h("div", { class: "field", "data-path": path },
      t === "boolean" ? h("label", { class: "inline", for: id }, input, key) : [h("label", { for: id }, key), input],
      restartKeys.has(path) ? h("span", { class: "tag warn" }, "restart required") : null,
      s.description ? h("div", { class: "note", id: id + "-doc" }, s.description) : null, err);
    fields.set(path, el);
    return el;
  }

  function node(path, key, s, v, depth) {
    const t = typeOf(s);
    if (t === "object" && s.properties) {
      const kids = Object.keys(s.properties).filter((k) => k !== "$schema").sort().map((k) => node(path ? path + "." + k : k, k, s.properties[k], v ? v[k] : undefined, depth + 1));
      if (!path) return kids;
      return h("details", { open: depth <= 1 && false, "data-path": path }, h("summary", {}, key), s.description ? h("p", { class: "note" }, s.description) : null, kids);
    }
    if (t === "object" && s.additionalProperties && typeof s.additionalProperties === "object" && v && typeof v === "object" && typeOf(s.additionalProperties) === "object") {
      return h("details", { "data-path": path }, h("summary", {}, key + " (" + Object.keys(v).length + ")"), s.description ? h("p", { class: "note" }, s.description) : null,
        Object.keys(v).sort().map((k) => node(path + "." + k, k, s.additionalProperties, v[k], depth + 1)),
        h("p", { class: "note" }, "Add or remove entries in the raw editor below."));
    }
    return field(path, key, s, v);
  }

  function mark(path, msg) {
    let p = path;
    while (p && !fields.has(p)) p = p.includes(".") ? p.slice(0, p.lastIndexOf(".")) : "";
    const el = fields.get(p);
    if (!el) return false;
    el.querySelector(".err").textContent = msg;
    if (msg) { for (let d = el.closest("details"); d; d = d.parentElement.closest("details")) d.open = true; }
    return true;
  }

  async function submit(params) {
    for (const el of fields.values()) el.querySelector(".err").textContent = "";
    fill(status);
    try {
      const r = await gw.call("config.patch", Object.assign({ baseHash }, params));
      baseHash = r.hash;
      for (const k of Object.keys(patch)) delete patch[k];
      fill(status, h("p", { class: "ok" }, "Saved." + (r.applied.length ? " Applied now: " + r.applied.join(", ") + "." : "")),
        r.restartRequired.length ? h("p", { class: "warn" }, "Restart required for: " + r.restartRequired.join(", ") + " (talon gateway restart).") : null);
      return true;
    } catch (e) {
      const probs = (e.details && e.details.problems) || [];
      const loose = probs.filter((p) => !mark(p.path, p.message + (p.hint ? " (hint: " + p.hint + ")" : "")));
      fill(status, h("p", { class: "bad" }, e.code === "CONFLICT" ? "The config changed elsewhere since this page loaded; reload the page and redo the change." : "Not saved: " + (probs.length ? probs.length + " problem(s), shown at their fields." : e.message)),
        loose.length ? h("ul", { class: "bad" }, loose.map((p) => h("li", {}, (p.path ? p.path + ": " : "") + p.message))) : null);
      const first = form.querySelector(".err:not(:empty)");
      if (first) first.closest(".field").querySelector("input,select,textarea").focus();
      return false;
    }
  }

  form.append(h("p", { class: "note" }, "File: ", h("code", {}, cr.path || "(none)"), cr.valid === false ? h("span", { class: "bad" }, " — the file on disk does not validate: " + cr.issues) : null),
    ...node("", "", sr.schema, cr.config, 0), h("div", { class: "row" }, save));
  save.disabled = true;
  form.addEventListener("submit", (e) => { e.preventDefault(); if (Object.keys(patch).length) submit({ patch }); });

  const raw = h("textarea", { id: "config-raw", rows: 8, spellcheck: "false", "aria-label": "JSON5 merge patch", value: "{\n  // A JSON5 merge patch: keys given here replace the file's; null removes a key.\n  // e.g. logging: { level: \"debug\" }\n}\n" });
  const rawSave = h("button", { type: "button", class: "primary", id: "config-raw-save" }, "Apply patch");
  rawSave.addEventListener("click", async () => { if (await submit({ raw: raw.value })) raw.value = "{\n}\n"; });
  const current = h("details", {}, h("summary", {}, "Current config (secrets shown as ***)"), h("pre", {}, JSON.stringify(cr.config, null, 2)));

  root.append(section("Configuration", status, form), section("Raw editor", raw, h("div", { class: "row" }, rawSave), current));
}
