// openclaw-node (the npm client library) connects to a gateway and chats:
// streaming (client.chat) and complete (client.chatSync). Prints one JSON
// line with what it saw; exits non-zero on any failure.
// Usage: node openclaw-node-chat.mjs MODULE_DIR URL TOKEN
import { createRequire } from "node:module";

const [, , moduleDir, url, token] = process.argv;
const { OpenClawClient } = createRequire(moduleDir + "/")("openclaw-node");

const fail = (msg) => { console.error("openclaw-node: " + msg); process.exit(1); };
const timer = setTimeout(() => fail("timed out"), 60_000);

const client = new OpenClawClient({ url, token, autoReconnect: false });
await client.connect();
let streamed = "";
const types = new Set();
for await (const chunk of client.chat("hello from openclaw-node")) {
  types.add(chunk.type);
  if (chunk.type === "text") streamed += chunk.text;
  if (chunk.type === "error") fail("stream error: " + chunk.text);
  if (chunk.type === "done") break;
}
const sync = await client.chatSync("second message");
const sessions = await client.sessions.list({ limit: 10 });
await client.disconnect();
clearTimeout(timer);
console.log(JSON.stringify({ streamed, sync, types: [...types], sessions }));
