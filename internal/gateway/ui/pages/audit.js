// Audit: the hash-chained log with filters, and "verify" showing the
// chain's status.

import { h, fill, when, table, action, section } from "../lib/dom.js";

export async function render(root, app) {
  const kind = h("input", { type: "search", id: "audit-kind", placeholder: "kind, e.g. approval", "aria-label": "Filter by kind" });
  const who = h("input", { type: "search", id: "audit-text", placeholder: "actor or subject", "aria-label": "Filter by actor or subject", class: "grow" });
  const n = h("select", { "aria-label": "How many records" }, [100, 500, 1000].map((x) => h("option", { value: x }, "last " + x)));
  const status = h("div", { id: "audit-status", role: "status" });
  const list = h("div", { id: "audit-list" });
  const verify = action("Verify the chain", async () => {
    const r = await app.gw.call("audit.verify", {});
    fill(status, r.ok
      ? h("p", { class: "ok" }, "Chain intact: " + r.records + " records, " + r.checkpoints + " signed checkpoints.")
      : h("p", { class: "bad" }, "Chain BROKEN at record " + r.firstBad + ": " + r.reason));
  }, app.report, { class: "primary", id: "audit-verify" });
  root.append(section("Audit log", h("div", { class: "row" }, kind, who, n, verify), status, list));
  let recs = [];

  function draw() {
    const k = kind.value.trim().toLowerCase(), t = who.value.trim().toLowerCase();
    const rows = recs.filter((r) => (!k || r.kind.toLowerCase().includes(k)) && (!t || (r.actor + " " + r.subject).toLowerCase().includes(t)));
    fill(list, table([
      { label: "#", get: (r) => String(r.seq) },
      { label: "When", get: (r) => when(r.ts) },
      { label: "Kind", get: (r) => h("code", {}, r.kind) },
      { label: "Actor", get: (r) => r.actor },
      { label: "Subject", get: (r) => r.subject },
      { label: "Data", get: (r) => h("code", { class: "note" }, r.data ? JSON.stringify(r.data).slice(0, 300) : "") },
    ], rows.slice().reverse(), "No record matches."));
  }

  async function load() {
    const r = await app.gw.call("audit.tail", { n: Number(n.value) });
    recs = r.records || [];
    draw();
  }
  kind.addEventListener("input", draw);
  who.addEventListener("input", draw);
  n.addEventListener("change", () => load().catch(app.report));
  await load();
}
