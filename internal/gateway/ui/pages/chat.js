// Chat with the agent: streaming replies, tool calls with the policy's
// decision and outcome, provenance labels on untrusted content, /new, and
// a session picker.

import { h, fill, ago, action } from "../lib/dom.js";
import { planText, visible } from "./approvals.js";

const MAIN = "agent:main:main";

export async function render(root, app) {
  const { gw } = app;
  let key = sessionStorage.getItem("talon.chatSession") || MAIN;
  let stream = null, running = null;
  const offs = [];

  const picker = h("select", { id: "session", "aria-label": "Session" });
  const msgs = h("div", { class: "msgs", id: "messages", "aria-live": "polite" });
  const input = h("textarea", { id: "chat-input", rows: 3, placeholder: "Message the agent (Enter sends, Shift+Enter for a new line; /new starts over)", "aria-label": "Message" });
  const send = h("button", { type: "submit", class: "primary", id: "chat-send" }, "Send");
  const abort = h("button", { type: "button", id: "chat-abort", hidden: true }, "Stop");
  const newBtn = h("button", { type: "button", id: "chat-new" }, "New session");
  const form = h("form", { class: "row", id: "composer" }, h("div", { class: "grow" }, input), h("div", { class: "row" }, send, abort));

  root.append(h("section", { class: "card" },
    h("div", { class: "row" }, h("label", { for: "session" }, "Session"), picker, gw.can("operator.write") ? newBtn : null),
    msgs, gw.can("operator.write") ? form : h("p", { class: "note" }, "Read-only: this browser cannot send messages.")));

  async function loadSessions() {
    const r = await gw.call("sessions.list", { limit: 200 });
    const keys = new Set([MAIN, key, ...r.sessions.map((s) => s.key)]);
    fill(picker, ...[...keys].map((k) => h("option", { value: k }, k)));
    picker.value = key;
  }

  async function loadHistory() {
    const r = await gw.call("chat.history", { sessionKey: key, limit: 200 });
    fill(msgs, ...r.messages.map(messageView));
    showApprovals();
    msgs.scrollTop = msgs.scrollHeight;
  }

  function append(el) {
    msgs.append(el);
    msgs.scrollTop = msgs.scrollHeight;
    return el;
  }

  offs.push(gw.on("chat", (p) => {
    if (p.sessionKey !== key) return;
    if (p.state === "delta") {
      if (!stream) stream = append(h("div", { class: "msg assistant streaming" }, h("div", { class: "who" }, "assistant"), h("div", { class: "text" })));
      stream.querySelector(".text").append(p.deltaText || "");
      msgs.scrollTop = msgs.scrollHeight;
      return;
    }
    stream = null;
    running = null;
    abort.hidden = true;
    if (p.state === "error") append(h("div", { class: "msg assistant" }, h("div", { class: "who bad" }, "error"), p.errorMessage || "the turn failed"));
    if (p.state === "aborted") append(h("div", { class: "msg assistant" }, h("div", { class: "who" }, "stopped")));
    loadHistory().then(loadSessions).catch(app.report);
  }));

  offs.push(gw.on("agent", (p) => {
    if (p.sessionKey !== key || p.stream !== "tool") return;
    const c = (p.data && p.data.call) || {};
    const id = "tool-" + (c.id || "").replace(/[^A-Za-z0-9_-]/g, "");
    let el = msgs.querySelector("#" + CSS.escape(id));
    const body = toolLine(c.name, c.args, c.decision, c.outcome, c.reason);
    if (!el) el = append(h("div", { class: "msg tool", id }, body));
    else fill(el, body);
  }));

  // A request of this session waits for a person: show it where the
  // owner is looking, with the answers when this browser may give them.
  function approvalView(a) {
    const id = "ask-" + a.id;
    const answer = (d) => async () => {
      await gw.call("exec.approval.resolve", { id: a.id, decision: d });
      app.pending.delete(a.id);
      const el = msgs.querySelector("#" + CSS.escape(id));
      if (el) el.remove();
    };
    return h("div", { class: "msg tool", id },
      h("div", { class: "who warn" }, "approval needed"),
      h("pre", { class: "plan" }, planText(a)),
      a.reason ? h("div", { class: "note" }, a.reason) : null,
      gw.can("operator.approvals") ? h("div", { class: "row" },
        action("Allow once", answer("allow-once"), app.report, { class: "primary" }),
        action("Deny", answer("deny"), app.report, { class: "danger" }),
        h("a", { href: "#/approvals" }, "more")) : null);
  }
  function showApprovals() {
    for (const a of app.pending.values()) {
      if (a.sessionKey === key && !msgs.querySelector("#" + CSS.escape("ask-" + a.id))) append(approvalView(a));
    }
  }
  offs.push(gw.on("exec.approval.requested", () => showApprovals()));
  offs.push(gw.on("exec.approval.resolved", (p) => {
    const el = msgs.querySelector("#" + CSS.escape("ask-" + p.id));
    if (el) el.remove();
  }));

  picker.addEventListener("change", () => {
    key = picker.value;
    sessionStorage.setItem("talon.chatSession", key);
    loadHistory().catch(app.report);
  });

  async function sendText(text) {
    if (text.trim() !== "/new") append(h("div", { class: "msg user" }, h("div", { class: "who" }, "you"), h("div", { class: "text" }, text)));
    const r = await gw.call("chat.send", { sessionKey: key, message: text, idempotencyKey: crypto.randomUUID() });
    running = r.runId;
    abort.hidden = false;
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = input.value;
    if (!text.trim()) return;
    send.disabled = true;
    try { await sendText(text); input.value = ""; } catch (err) { app.report(err); } finally { send.disabled = false; input.focus(); }
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  newBtn.addEventListener("click", () => sendText("/new").catch(app.report));
  abort.addEventListener("click", () => gw.call("chat.abort", { sessionKey: key, runId: running }).catch(app.report));

  await loadSessions();
  await loadHistory();
  return () => offs.forEach((f) => f());
}

function argsText(a) {
  if (a === undefined || a === null) return "";
  if (typeof a === "string") { try { a = JSON.parse(a); } catch { return visible(a); } }
  if (a && typeof a.command === "string") return visible(a.command);
  return visible(JSON.stringify(a));
}

function toolLine(name, args, decision, outcome, reason) {
  const d = typeof decision === "object" && decision ? decision.action : decision;
  return [h("div", { class: "who" }, "tool call"),
    h("div", {}, h("strong", {}, name || "?"), " ", h("code", {}, argsText(args))),
    h("div", {}, d ? h("span", { class: "tag " + (d === "deny" ? "untrusted" : "") }, "decision: " + d) : null,
      outcome ? h("span", { class: "tag" }, "outcome: " + outcome) : h("span", { class: "tag" }, "running…"),
      reason ? h("span", { class: "note" }, " " + reason) : null)];
}

function decisionOf(raw) {
  if (!raw) return null;
  if (typeof raw === "string") { try { return JSON.parse(raw); } catch { return null; } }
  return raw;
}

export function messageView(m) {
  const prov = m.provenance === "untrusted" ? h("span", { class: "tag untrusted", title: "Came from outside (a fetched page, a stranger, a tool): the agent treats it as data, not instructions" }, "untrusted content") : null;
  const who = h("div", { class: "who" }, m.role === "tool" ? "tool result: " + (m.toolName || "") : m.role, " ", prov, m.summary ? h("span", { class: "tag" }, "summary") : null, " ", h("time", {}, ago(m.ts)));
  const kids = [who];
  if (m.content) kids.push(h("div", { class: "text" }, m.content.length > 4000 ? m.content.slice(0, 4000) + "…" : m.content));
  if (m.role === "tool") {
    const d = decisionOf(m.decision);
    kids.push(h("div", {}, d ? h("span", { class: "tag" }, "decision: " + (d.action || "?")) : null, h("span", { class: "tag " + (m.isError ? "untrusted" : "") }, m.isError ? "outcome: error" : "outcome: done"), d && d.reason ? h("span", { class: "note" }, " " + d.reason) : null));
  }
  if (Array.isArray(m.toolCalls)) for (const c of m.toolCalls) kids.push(h("div", { class: "note" }, "→ calls ", h("strong", {}, c.name), " ", h("code", {}, argsText(c.args || c.arguments))));
  return h("div", { class: "msg " + (m.role === "tool" ? "tool" : m.role) }, kids);
}
