// Cron: jobs with their next run, runs with their status and output (the
// run's transcript), add and remove.

import { h, fill, ago, when, table, action, section } from "../lib/dom.js";

export async function render(root, app) {
  const { gw } = app;
  const jobs = h("div", { id: "cron-jobs" });
  const runs = h("div", { id: "cron-runs" });
  const admin = gw.can("operator.admin");
  const sched = h("input", { id: "cron-schedule", placeholder: "@hourly, 0 9 * * 1-5, every 30m", required: true });
  const msg = h("textarea", { id: "cron-message", rows: 2, required: true });
  const name = h("input", { id: "cron-name" });
  const form = h("form", {},
    h("label", { for: "cron-name" }, "Name (optional)"), name,
    h("label", { for: "cron-schedule" }, "Schedule"), sched,
    h("label", { for: "cron-message" }, "Message to the agent"), msg,
    h("div", { class: "row" }, h("button", { type: "submit", class: "primary", id: "cron-add" }, "Add job")));
  root.append(section("Jobs", jobs), admin ? section("Add a job", form) : null, section("Runs", runs));

  async function load() {
    const r = await gw.call("cron.list", {});
    fill(jobs, table([
      { label: "Job", get: (j) => [h("strong", {}, j.name || j.id), h("div", { class: "note" }, j.message)] },
      { label: "Schedule", get: (j) => h("code", {}, j.schedule) },
      { label: "Next run", get: (j) => j.enabled ? when(j.nextRunAt) + " (" + ago(j.nextRunAt) + ")" : "disabled" },
      { label: "Last run", get: (j) => j.lastRunAt ? ago(j.lastRunAt) : "never" },
      { label: "", get: (j) => h("div", { class: "row" }, action("Runs", () => loadRuns(j), app.report),
        admin ? action("Remove", async () => { if (confirm("Remove job " + (j.name || j.id) + "?")) { await gw.call("cron.remove", { id: j.id }); await load(); } }, app.report, { class: "danger" }) : null) },
    ], r.jobs, "No job yet."));
  }

  async function loadRuns(j) {
    const r = await gw.call("cron.runs", { id: j.id, limit: 50 });
    fill(runs, h("p", {}, "Runs of ", h("strong", {}, j.name || j.id)), table([
      { label: "Started", get: (x) => when(x.startedAt) },
      { label: "Status", get: (x) => h("span", { class: x.status === "ok" || x.status === "done" ? "ok" : x.error ? "bad" : "" }, x.status, x.missed ? " (missed " + x.missed + ")" : "") },
      { label: "Output", get: (x) => x.error ? h("span", { class: "bad" }, x.error) : x.runId ? action("Show output", () => output(x), app.report) : "" },
    ], r.runs, "This job has not run yet."));
  }

  async function output(run) {
    // A run's output is what its turn (run.runId) wrote in the job's
    // session: the replies, and each tool call's result.
    const s = await gw.call("sessions.list", { limit: 500 });
    const mine = s.sessions.filter((x) => x.key.includes(run.jobId));
    for (const sess of mine) {
      const hist = await gw.call("chat.history", { sessionKey: sess.key, limit: 500 });
      const out = hist.messages.filter((m) => m.runId === run.runId && (m.role === "assistant" || m.role === "tool") && m.content);
      if (out.length) {
        runs.append(h("pre", { class: "plan" }, out.map((m) => (m.role === "tool" ? "[" + (m.toolName || "tool") + "] " : "") + m.content).join("\n\n")));
        return;
      }
    }
    runs.append(h("p", { class: "empty" }, "No output recorded for this run."));
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    try {
      await gw.call("cron.add", { schedule: sched.value.trim(), message: msg.value, name: name.value.trim() });
      sched.value = msg.value = name.value = "";
      await load();
    } catch (err) { app.report(err); }
  });
  await load();
}
