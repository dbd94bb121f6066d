// Usage and budgets: spend today and this month against the budgets, and
// by day, session and model.

import { h, usd, table, section } from "../lib/dom.js";

function meter(v, max) {
  if (!max) return h("span", { class: "note" }, "no limit");
  return h("meter", { min: 0, max, value: Math.min(v, max), high: max * 0.8, optimum: 0, "aria-label": usd(v) + " of " + usd(max) });
}

export async function render(root, app) {
  const r = await app.gw.call("usage.status", { days: 30 });
  const b = r.budgets || {};
  // limit: the budget each row is held against (0: none).
  const rows = (list, limit) => table([
    { label: "Key", get: (x) => h("code", {}, x.key) },
    { label: "Spend", get: (x) => usd(x.costUsd) },
    limit ? { label: "Of budget " + usd(limit), get: (x) => meter(x.costUsd, limit) } : null,
    { label: "Tokens in/out", get: (x) => x.inputTokens + " / " + x.outputTokens },
    { label: "Calls", get: (x) => String(x.calls) },
  ].filter(Boolean), list || [], "No usage yet.");
  root.append(
    section("Budgets",
      h("div", { class: "row" }, h("strong", {}, "Today"), usd(r.today.costUsd), " of ", r.today.limitUsd ? usd(r.today.limitUsd) : "∞", meter(r.today.costUsd, r.today.limitUsd)),
      h("div", { class: "row" }, h("strong", {}, "This month"), usd(r.month.costUsd), " of ", r.month.limitUsd ? usd(r.month.limitUsd) : "∞", meter(r.month.costUsd, r.month.limitUsd)),
      h("p", { class: "note" }, "Per session: " + (b.perSessionUsd ? usd(b.perSessionUsd) : "no limit") + (b.perTurnToolCalls ? " · tool calls per turn: " + b.perTurnToolCalls : "") + (r.reserved && r.reserved.costUsd ? " · held by calls in flight: " + usd(r.reserved.costUsd) : ""))),
    section("By day (last " + r.days + " days)", rows(r.byDay, b.perDayUsd)),
    section("By session", rows(r.bySession, b.perSessionUsd)),
    section("By model", rows(r.byModel)));
}
