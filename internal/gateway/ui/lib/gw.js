// The gateway connection. The WebSocket URL is always this page's own
// origin: nothing in the page's URL (query or fragment) can point it at
// another gateway (invariant 2; CVE-2026-25253 was a UI that did).

import { sign } from "./cred.js";

export const ALL_SCOPES = ["operator.read", "operator.write", "operator.admin", "operator.approvals", "operator.pairing"];

export class Gateway {
  constructor() {
    this.ws = null;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Map();
    this.scopes = new Set();
    this.methods = new Set();
  }

  url() { return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/"; }

  // connect resolves with hello-ok or rejects with the gateway's error.
  // token or password: the gateway's shared secret (used once, to
  // enrol); invite: a one-time invitation code; none: the enrolled device
  // key alone.
  connect({ device, token, password, invite, scopes }) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url());
      this.ws = ws;
      let done = false, opened = false;
      const fail = (e) => { if (!done) { done = true; reject(e); } };
      ws.onerror = () => fail(Object.assign(new Error("cannot reach the gateway"), { code: "UNREACHABLE" }));
      ws.onclose = (ev) => {
        fail(Object.assign(new Error("connection closed (" + ev.code + ")"), { code: "CLOSED" }));
        if (this.ws === ws && opened) this.closed(ev); // a refused or replaced socket is not a lost session
      };
      ws.onmessage = async (ev) => {
        let f;
        try { f = JSON.parse(ev.data); } catch { return; }
        if (f.type === "event" && f.event === "connect.challenge") {
          const p = {
            minProtocol: 4, maxProtocol: 4, role: "operator", scopes,
            client: { id: "talon-control-ui", version: "1", platform: "web", mode: "ui" },
          };
          if (token) p.auth = { token };
          else if (password) p.auth = { password };
          else if (invite) p.auth = { bootstrapToken: invite };
          try {
            if (device) p.device = await sign(device, p, f.payload.nonce, token || invite);
          } catch (e) { fail(e); ws.close(); return; }
          ws.send(JSON.stringify({ type: "req", id: "connect", method: "connect", params: p }));
          return;
        }
        if (f.type === "res" && f.id === "connect") {
          if (!f.ok) { fail(gwError(f.error)); return; }
          done = opened = true;
          this.scopes = new Set(f.payload.auth.scopes || []);
          this.methods = new Set((f.payload.features && f.payload.features.methods) || []);
          resolve(f.payload);
          return;
        }
        if (f.type === "res") {
          const p = this.pending.get(f.id);
          if (!p) return;
          this.pending.delete(f.id);
          f.ok ? p.resolve(f.payload) : p.reject(gwError(f.error));
          return;
        }
        if (f.type === "event") this.emit(f.event, f.payload);
      };
    });
  }

  closed(ev) {
    for (const p of this.pending.values()) p.reject(new Error("connection closed"));
    this.pending.clear();
    this.emit("_closed", { code: ev.code, reason: ev.reason });
  }

  call(method, params) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return Promise.reject(new Error("not connected"));
    const id = String(this.nextId++);
    this.ws.send(JSON.stringify({ type: "req", id, method, params: params || {} }));
    return new Promise((resolve, reject) => this.pending.set(id, { resolve, reject }));
  }

  can(scope) { return this.scopes.has(scope) || (scope === "operator.read" && this.scopes.has("operator.write")) || this.scopes.has("operator.admin"); }

  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
    return () => this.listeners.get(event).delete(fn);
  }

  emit(event, payload) {
    for (const fn of this.listeners.get(event) || []) {
      try { fn(payload); } catch (e) { console.error(e); }
    }
  }

  close() { if (this.ws) this.ws.close(); }
}

function gwError(e) {
  const err = new Error((e && e.message) || "request failed");
  err.code = e && e.code;
  err.details = e && e.details;
  return err;
}
