// Security: `talon security audit` findings by severity, "apply safe
// fixes", and the browsers enrolled in this console, with revoke.

import { h, fill, ago, table, action, section } from "../lib/dom.js";

const ORDER = ["critical", "warn", "info"];

export async function render(root, app) {
  const { gw } = app;
  const findings = h("div", { id: "findings" });
  const fixed = h("div", { id: "fixed", role: "status" });
  const devices = h("div", { id: "devices" });
  const fix = action("Apply safe fixes", async () => {
    if (!confirm("Apply the safe fixes? They only tighten settings (the config is backed up first).")) return;
    const r = await gw.call("security.fix", {});
    fill(fixed, r.fixed.length ? h("ul", {}, r.fixed.map((f) => h("li", {}, f))) : h("p", { class: "note" }, "Nothing to fix automatically."));
    draw(r);
  }, app.report, { class: "primary", id: "security-fix" });
  const role = h("select", { id: "invite-role", "aria-label": "Access of the invited browser" },
    h("option", { value: "operator.read" }, "viewer (read-only)"),
    h("option", { value: "operator.read operator.approvals" }, "approver (read, approve)"),
    h("option", { value: "operator.read operator.write operator.approvals operator.pairing" }, "operator (chat, approve, pair)"),
    h("option", { value: "operator.admin" }, "admin (everything)"));
  const ilabel = h("input", { id: "invite-label", placeholder: "e.g. Sam's phone", "aria-label": "Name of the invited browser" });
  const link = h("div", { id: "invite-link", role: "status" });
  const inv = action("Make a one-time link", async () => {
    const r = await gw.call("console.device.invite", { scopes: role.value.split(" "), label: ilabel.value });
    const url = location.origin + "/" + r.fragment;
    const out = h("input", { readonly: true, value: url, class: "grow", "aria-label": "Invitation link", id: "invite-url" });
    fill(link, h("p", { class: "note" }, "Open this once in the other browser within 15 minutes (" + r.scopes.join(", ") + "). It never carries the gateway token."), out);
    out.focus();
    out.select();
  }, app.report, { id: "invite-make" });
  root.append(section("Security audit", h("div", { class: "row" }, fix), fixed, findings), section("Browsers with access to this console", devices),
    section("Invite another browser", h("div", { class: "row" }, ilabel, role, inv), link));

  function draw(r) {
    const s = r.summary || {};
    fill(findings, h("p", {}, (s.critical || 0) + " critical · " + (s.warn || 0) + " warn · " + (s.info || 0) + " info"),
      ...ORDER.map((sev) => {
        const fs = r.findings.filter((f) => f.severity === sev);
        if (!fs.length) return null;
        return h("details", { open: sev !== "info" }, h("summary", {}, h("span", { class: "tag " + sev }, sev), " " + fs.length),
          ...fs.map((f) => h("div", { class: "card" }, h("strong", {}, f.title), " ", h("code", { class: "note" }, f.checkId), f.fixable ? h("span", { class: "tag" }, "safe fix") : null,
            f.detail ? h("p", {}, f.detail) : null, f.fix ? h("p", { class: "note" }, "Fix: " + f.fix) : null)));
      }));
  }

  async function loadDevices() {
    const r = await gw.call("console.device.list", {});
    fill(devices, h("p", { class: "note" }, "Each browser signs in with its own key, made when it first used the token. Revoke a browser you no longer use; it is disconnected at once."),
      table([
        { label: "Browser", get: (d) => [d.label || "browser", d.id === r.self ? h("span", { class: "tag" }, "this one") : null] },
        { label: "Access", get: (d) => d.scopes.map((s) => s.replace("operator.", "")).join(", ") },
        { label: "Enrolled", get: (d) => ago(d.createdAt) },
        { label: "Key", get: (d) => h("code", { class: "note" }, d.id.slice(0, 16)) },
        { label: "", get: (d) => action("Revoke", async () => { if (confirm("Revoke " + (d.label || d.id) + "?")) { await gw.call("console.device.revoke", { id: d.id }); await loadDevices(); } }, app.report, { class: "danger", "aria-label": "Revoke " + (d.label || d.id) }) },
      ], r.devices, "No browser is enrolled."));
  }

  const [r] = await Promise.all([gw.call("security.audit", {}), loadDevices()]);
  draw(r);
}
