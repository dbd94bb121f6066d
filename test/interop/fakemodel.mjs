// A fake OpenAI-compatible chat-completions server for the interop suite:
// it answers every request with "echo: " followed by the last user message,
// streamed as SSE chat.completion.chunk objects (or one chat.completion
// object when stream is false), with usage. A user message "RUNEXEC: CMD"
// is answered with an exec tool call of CMD instead (the scripted, possibly
// hijacked model), and the turn after the tool result with "tool said: "
// and the result. Listens on 127.0.0.1 only and prints
// "fakemodel listening on PORT" once ready. Like a real model it takes a
// moment: 300 ms before the first chunk (FAKEMODEL_DELAY_MS), 50 ms
// between chunks. (OpenClaw's TUI, 2026.9.6, loses track of a run whose
// events all arrive before it has handled the chat.send response.)
import http from "node:http";

function lastUser(messages) {
  for (let i = (messages || []).length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    if (Array.isArray(m.content)) return m.content.map((p) => p.text || "").join("");
  }
  return "";
}

const delayMs = Number(process.env.FAKEMODEL_DELAY_MS ?? 300);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const server = http.createServer((req, res) => {
  let body = "";
  req.on("data", (c) => { body += c; });
  req.on("end", async () => {
    if (req.method === "GET" && req.url.endsWith("/models")) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ object: "list", data: [{ id: "qwen3", object: "model" }] }));
      return;
    }
    let r = {};
    try { r = JSON.parse(body || "{}"); } catch { /* garbage in: answer anyway */ }
    const msgs = r.messages || [];
    const last = msgs[msgs.length - 1] || {};
    const user = lastUser(msgs).split("\n").pop();
    let text = "echo: " + user;
    let call = null;
    if (last.role === "tool") {
      text = "tool said: " + String(typeof last.content === "string" ? last.content : JSON.stringify(last.content)).slice(0, 200);
    } else if (user.startsWith("RUNEXEC: ")) {
      call = { id: "call_1", type: "function", function: { name: "exec", arguments: JSON.stringify({ command: user.slice(9) }) } };
    }
    const usage = { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 };
    const id = "chatcmpl-fake", created = Math.floor(Date.now() / 1000), model = r.model || "qwen3";
    if (!r.stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ id, object: "chat.completion", created, model,
        choices: [{ index: 0, message: call ? { role: "assistant", content: null, tool_calls: [call] } : { role: "assistant", content: text },
          finish_reason: call ? "tool_calls" : "stop" }], usage }));
      return;
    }
    await sleep(delayMs);
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
    const chunk = (delta, finish) => "data: " + JSON.stringify({ id, object: "chat.completion.chunk", created, model,
      choices: [{ index: 0, delta, finish_reason: finish }] }) + "\n\n";
    res.write(chunk({ role: "assistant", content: "" }, null));
    if (call) {
      res.write(chunk({ tool_calls: [{ index: 0, ...call }] }, null));
      res.write(chunk({}, "tool_calls"));
      res.write("data: " + JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage }) + "\n\n");
      res.end("data: [DONE]\n\n");
      return;
    }
    const half = Math.ceil(text.length / 2);
    res.write(chunk({ content: text.slice(0, half) }, null));
    await sleep(50);
    res.write(chunk({ content: text.slice(half) }, null));
    res.write(chunk({}, "stop"));
    res.write("data: " + JSON.stringify({ id, object: "chat.completion.chunk", created, model, choices: [], usage }) + "\n\n");
    res.end("data: [DONE]\n\n");
  });
});
server.listen(0, "127.0.0.1", () => {
  console.log("fakemodel listening on " + server.address().port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
