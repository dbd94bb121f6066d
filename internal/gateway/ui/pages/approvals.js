// Approvals: the pending queue (plan, reason, requester, age; allow once,
// allow always, deny), the history, and the standing allowlist with revoke.
// Buttons exist only for a browser holding operator.approvals; the gateway
// refuses the methods to anyone else regardless.

import { h, fill, ago, when, table, action, section } from "../lib/dom.js";

// visible shows control, zero-width and bidirectional-override characters
// as \u{…}, so a command cannot be dressed up as another on screen.
export function visible(s) {
  return String(s).replace(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]/g,
    (c) => "\\u{" + c.codePointAt(0).toString(16) + "}");
}

// planText is what a person is asked to approve: the gateway's rendered
// plan when the request carries one, else the command made visible.
export function planText(a) {
  if (a.plan) return a.plan;
  try {
    const args = typeof a.args === "string" ? JSON.parse(a.args) : a.args;
    if (args && typeof args.command === "string") return a.tool + ": " + visible(args.command);
  } catch {}
  return a.tool + " " + visible(typeof a.args === "string" ? a.args : JSON.stringify(a.args));
}

export async function render(root, app) {
  const { gw } = app;
  const may = gw.can("operator.approvals");
  const queue = h("div", { id: "queue" });
  const hist = h("div", { id: "history" });
  const allow = h("div", { id: "allowlist" });
  root.append(section("Waiting for you", queue), section("History", hist), section("Standing allowlist (tools.exec.allowlist)", allow));

  if (!may) {
    queue.append(h("p", { class: "note" }, "Read-only: this browser cannot see or answer approval requests (it lacks operator.approvals)."));
  }

  function card(a) {
    const exp = a.expiresAt ? " · expires " + ago(a.expiresAt) : "";
    return h("article", { class: "card approval", "data-id": a.id },
      h("div", { class: "row" }, h("strong", {}, a.tool), h("span", { class: "tag" }, a.id), h("span", { class: "note" }, "asked " + ago(a.createdAt) + exp)),
      h("pre", { class: "plan", "aria-label": "What will run" }, planText(a)),
      a.reason ? h("p", {}, h("strong", {}, "Why it needs you: "), a.reason) : null,
      h("p", { class: "note" }, "Requested by session ", h("code", {}, a.sessionKey || "?"), a.fallback ? " · if nobody answers: " + a.fallback : ""),
      may ? h("div", { class: "row" },
        action("Allow once", () => resolve(a.id, "allow-once"), app.report, { class: "primary", "data-decision": "allow-once" }),
        a.tool === "exec" ? action("Allow always", () => resolve(a.id, "allow-always"), app.report, { "data-decision": "allow-always" }) : null,
        action("Deny", () => resolve(a.id, "deny"), app.report, { class: "danger", "data-decision": "deny" })) : null);
  }

  async function resolve(id, decision) {
    await gw.call("exec.approval.resolve", { id, decision });
    app.pending.delete(id);
    drawQueue();
    loadHistory().catch(app.report);
    if (decision === "allow-always") loadAllowlist().catch(app.report);
  }

  function drawQueue() {
    if (!may) return;
    const list = [...app.pending.values()].sort((a, b) => String(a.createdAt).localeCompare(String(b.createdAt)));
    fill(queue, ...(list.length ? list.map(card) : [h("p", { class: "empty" }, "No approval is waiting.")]));
  }

  async function loadHistory() {
    if (!may) return;
    const r = await gw.call("exec.approval.list", { all: true, limit: 200 });
    const done = r.approvals.filter((a) => a.status !== "pending");
    fill(hist, table([
      { label: "When", get: (a) => when(a.resolvedAt || a.createdAt) },
      { label: "What", get: (a) => h("code", {}, planText(a)) },
      { label: "Outcome", get: (a) => h("span", { class: a.status === "allowed" ? "ok" : "bad" }, a.decision || a.status) },
      { label: "By", get: (a) => a.resolvedBy || "" },
      { label: "Session", get: (a) => a.sessionKey },
    ], done, "No approval has been answered yet."));
  }

  async function loadAllowlist() {
    const r = await gw.call("exec.allowlist.list", {});
    fill(allow, 
      h("p", { class: "note" }, "Programs that run without asking (mode " + r.security + "). \"Allow always\" adds here; revoking takes effect at once."),
      table([
        { label: "Program", get: (e) => h("code", {}, e) },
        { label: "", get: (e) => may ? action("Revoke", async () => { await gw.call("exec.allowlist.revoke", { entry: e }); await loadAllowlist(); }, app.report, { class: "danger", "aria-label": "Revoke " + e }) : "" },
      ], r.allowlist, "The allowlist is empty."),
      r.safeBins.length ? h("p", { class: "note" }, "Safe bins (stdin-only filters): " + r.safeBins.join(", ")) : null);
  }

  const offs = [
    app.gw.on("exec.approval.requested", () => drawQueue()),
    app.gw.on("exec.approval.resolved", () => { drawQueue(); loadHistory().catch(app.report); }),
  ];
  if (may) {
    const r = await gw.call("exec.approval.list", {});
    for (const a of r.approvals) if (a.status === "pending" && !app.pending.has(a.id)) app.pending.set(a.id, a);
  }
  drawQueue();
  await Promise.all([loadHistory(), loadAllowlist()]);
  return () => offs.forEach((f) => f());
}
