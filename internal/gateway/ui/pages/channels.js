// Channels: each account's live state, last error and counters; the
// pairing requests of strangers, with approve and reject.

import { h, fill, ago, table, action, section } from "../lib/dom.js";

export async function render(root, app) {
  const { gw } = app;
  const accts = h("div", { id: "channel-list" });
  const pairs = h("div", { id: "pairing" });
  root.append(section("Channels", accts), section("Pairing requests", pairs));
  const may = gw.can("operator.pairing");

  async function loadChannels() {
    const r = await gw.call("channels.status", {});
    const list = r.channels || [];
    fill(accts, table([
      { label: "Channel", get: (c) => h("strong", {}, c.channel + (c.account && c.account !== "default" ? " / " + c.account : "")) },
      { label: "State", get: (c) => h("span", { class: c.state === "connected" || c.state === "running" ? "ok" : "warn" }, c.state, c.mode ? " (" + c.mode + ")" : "") },
      { label: "Bot", get: (c) => c.botName || c.botId || "" },
      { label: "Traffic", get: (c) => "in " + (c.received || 0) + " · out " + (c.sent || 0) + " · send errors " + (c.sendErrors || 0) + " · reconnects " + (c.reconnects || 0) },
      { label: "Access", get: (c) => counters(c.access) },
      { label: "Last error", get: (c) => c.lastError ? h("span", { class: "bad" }, c.lastError, " ", h("span", { class: "note" }, ago(c.lastErrorAt))) : "none" },
    ], list, "No channel is configured (see channels.* on the Config page)."));
  }

  function counters(a) {
    if (!a) return "";
    const denied = Object.entries(a.denied || {}).map(([k, v]) => k + " " + v).join(", ");
    return "accepted " + (a.accepted || 0) + " · pairing " + (a.pairingRequests || 0) + (denied ? " · denied: " + denied : "") + (a.turnErrors ? " · turn errors " + a.turnErrors : "");
  }

  async function loadPairing() {
    if (!may) { fill(pairs, h("p", { class: "note" }, "Read-only: this browser cannot see pairing requests (it lacks operator.pairing).")); return; }
    const r = await gw.call("pairing.list", {});
    fill(pairs, 
      h("p", { class: "note" }, "Someone who is not on a channel's allowlist gets a code. Approve only codes you expect: approving lets that sender talk to the agent."),
      table([
        { label: "Code", get: (p) => h("code", { class: "pair-code" }, p.code) },
        { label: "Channel", get: (p) => p.channel + (p.account && p.account !== "default" ? "/" + p.account : "") },
        { label: "Sender", get: (p) => [p.senderName || "", " ", h("code", {}, p.senderId || p.senderID || "")] },
        { label: "Asked", get: (p) => ago(p.createdAt) },
        { label: "", get: (p) => h("div", { class: "row" },
          action("Approve", async () => { await gw.call("pairing.approve", { channel: p.channel, code: p.code, notify: true }); await loadPairing(); }, app.report, { class: "primary", "data-code": p.code }),
          action("Reject", async () => { await gw.call("pairing.reject", { channel: p.channel, code: p.code }); await loadPairing(); }, app.report, { class: "danger" })) },
      ], r.requests, "No pairing request is waiting."));
  }

  const offs = [gw.on("pairing.requested", () => loadPairing().catch(app.report)), gw.on("pairing.resolved", () => loadPairing().catch(app.report))];
  const timer = setInterval(() => loadChannels().catch(() => {}), 5000);
  await Promise.all([loadChannels(), loadPairing()]);
  return () => { clearInterval(timer); offs.forEach((f) => f()); };
}
