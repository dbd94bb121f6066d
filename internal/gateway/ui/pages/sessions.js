// Sessions: list with search, transcript view, reset and delete.

import { h, fill, ago, usd, table, action, section } from "../lib/dom.js";
import { messageView } from "./chat.js";

export async function render(root, app) {
  const { gw } = app;
  const q = h("input", { type: "search", id: "session-search", placeholder: "Filter by key, channel or model", "aria-label": "Filter sessions", class: "grow" });
  const list = h("div", { id: "session-list" });
  const view = h("div", { id: "transcript" });
  const tq = h("input", { type: "search", id: "transcript-search", placeholder: "Words said in any session", "aria-label": "Search transcripts", class: "grow" });
  const hits = h("div", { id: "search-hits" });
  const tform = h("form", { class: "row" }, tq, h("button", { type: "submit", id: "transcript-search-go" }, "Search transcripts"));
  root.append(section("Sessions", h("div", { class: "row" }, q), list), section("Search transcripts", tform, hits), view);
  tform.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      const r = await gw.call("sessions.search", { query: tq.value });
      fill(hits, r.hits.length ? h("ul", {}, r.hits.map((x) => h("li", {},
        h("a", { href: "#/sessions", onclick: (ev) => { ev.preventDefault(); open(x.sessionKey); } }, x.sessionKey), " ",
        h("span", { class: "note" }, x.role + " · " + ago(x.ts)), x.provenance === "untrusted" ? h("span", { class: "tag untrusted" }, "untrusted content") : null,
        h("div", { class: "mono" }, x.snippet)))) : h("p", { class: "empty" }, "No transcript of the last " + r.sessionsSearched + " sessions says that."));
    } catch (err) { app.report(err); }
  });
  let all = [];

  async function load() {
    const r = await gw.call("sessions.list", { limit: 500 });
    all = r.sessions;
    draw();
  }

  function draw() {
    const needle = q.value.trim().toLowerCase();
    const rows = all.filter((s) => !needle || [s.key, s.channel, s.model, s.agentId].join(" ").toLowerCase().includes(needle));
    fill(list, table([
      { label: "Session", get: (s) => h("a", { href: "#/sessions", "data-key": s.key, onclick: (e) => { e.preventDefault(); open(s.key); } }, s.key) },
      { label: "Channel", get: (s) => s.channel || "" },
      { label: "Messages", get: (s) => String(s.messageCount) },
      { label: "Spend", get: (s) => usd(s.costUsd) + " · " + s.totalTokens + " tok" },
      { label: "Updated", get: (s) => ago(s.updatedAt) },
      { label: "", get: (s) => h("div", { class: "row" },
        gw.can("operator.write") ? action("Reset", async () => { if (confirm("Start " + s.key + " over? The transcript is kept for the record.")) { await gw.call("sessions.reset", { key: s.key }); await load(); } }, app.report) : null,
        gw.can("operator.admin") ? action("Delete", async () => { if (confirm("Delete " + s.key + " and its transcript?")) { await gw.call("sessions.delete", { key: s.key }); fill(view); await load(); } }, app.report, { class: "danger" }) : null) },
    ], rows, needle ? "No session matches." : "No session yet."));
  }

  async function open(key) {
    const r = await gw.call("chat.history", { sessionKey: key, limit: 500 });
    fill(view, section("Transcript of " + key,
      h("div", { class: "msgs" }, r.messages.length ? r.messages.map(messageView) : h("p", { class: "empty" }, "Empty transcript."))));
    view.scrollIntoView({ block: "start" });
  }

  q.addEventListener("input", draw);
  await load();
}
