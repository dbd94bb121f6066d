// Logs: a live tail of the gateway log (redacted by the gateway), with a
// level filter and follow.

import { h, fill, section } from "../lib/dom.js";

const LEVELS = ["DEBUG", "INFO", "WARN", "ERROR"];

function levelOf(line) {
  const m = line.match(/"level":"([A-Z]+)"|level=([A-Z]+)/);
  const l = m ? (m[1] || m[2]) : "INFO";
  return LEVELS.indexOf(l) < 0 ? 1 : LEVELS.indexOf(l);
}

export async function render(root, app) {
  const level = h("select", { id: "log-level", "aria-label": "Lowest level shown" }, LEVELS.map((l, i) => h("option", { value: i }, l)));
  level.value = "1";
  const follow = h("input", { type: "checkbox", id: "log-follow", checked: true });
  const q = h("input", { type: "search", placeholder: "Filter text", "aria-label": "Filter text", class: "grow" });
  const out = h("div", { class: "logs", id: "log-lines", tabindex: 0, "aria-label": "Log lines" });
  root.append(section("Logs", h("div", { class: "row" }, h("label", { for: "log-level" }, "Level"), level, q,
    h("label", { class: "inline" }, follow, "follow")), out));
  let lines = [];

  function draw() {
    const min = Number(level.value), needle = q.value.toLowerCase();
    const shown = lines.filter((l) => levelOf(l) >= min && (!needle || l.toLowerCase().includes(needle)));
    fill(out, ...shown.map((l) => h("div", { class: "line " + ["", "", "warn", "bad"][levelOf(l)] }, l)));
    if (follow.checked) out.scrollTop = out.scrollHeight;
  }

  async function load() {
    const r = await app.gw.call("logs.tail", { lines: 500 });
    lines = r.lines;
    draw();
  }
  // logs.tail has no event; follow polls it.
  const timer = setInterval(() => { if (follow.checked) load().catch(() => {}); }, 2000);
  level.addEventListener("change", draw);
  q.addEventListener("input", draw);
  await load();
  return () => clearInterval(timer);
}
