// Talon Control UI (minimal). Security notes:
// - The token comes only from the URL fragment or the login form, is kept in
//   sessionStorage (this tab only), and the fragment is removed at once.
// - The WebSocket URL is always this page's own origin; nothing in the page's
//   URL can redirect it to another gateway.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.has("token")) {
    sessionStorage.setItem("talon.token", frag.get("token"));
    history.replaceState(null, "", location.pathname);
  }
  let ws = null, nextId = 1;
  const pending = new Map();

  function showError(msg) { const e = $("error"); e.textContent = msg; e.hidden = !msg; }
  function setState(s) { $("state").textContent = s; }

  function call(method, params) {
    const id = String(nextId++);
    ws.send(JSON.stringify({ type: "req", id, method, params: params || {} }));
    return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
  }

  function render(status, health) {
    const dl = $("status");
    dl.replaceChildren();
    const g = status.gateway || {};
    const rows = [["version", status.version], ["bind", g.bind + " (" + g.host + ":" + g.port + ")"],
      ["auth", g.authMode], ["connections", g.connections], ["uptime", Math.round((g.uptimeMs || 0) / 1000) + " s"]];
    for (const [k, v] of rows) {
      const dt = document.createElement("dt"); dt.textContent = k;
      const dd = document.createElement("dd"); dd.textContent = String(v);
      dl.append(dt, dd);
    }
    $("health").textContent = JSON.stringify(health, null, 2);
    $("overview").hidden = false;
    $("login").hidden = true;
  }

  function connect() {
    const token = sessionStorage.getItem("talon.token");
    if (!token) { $("login").hidden = false; return; }
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/";
    ws = new WebSocket(url);
    setState("connecting");
    ws.onmessage = async (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === "event" && f.event === "connect.challenge") {
        ws.send(JSON.stringify({ type: "req", id: "connect", method: "connect", params: {
          minProtocol: 4, maxProtocol: 4,
          client: { id: "talon-control-ui", version: "1", platform: "web", mode: "ui" },
          role: "operator", scopes: ["operator.read", "operator.admin"], auth: { token } } }));
        return;
      }
      if (f.type === "res" && f.id === "connect") {
        if (!f.ok) {
          showError("connect refused: " + f.error.message);
          if (f.error.code === "UNAUTHORIZED") { sessionStorage.removeItem("talon.token"); $("login").hidden = false; }
          return;
        }
        setState("connected");
        showError("");
        try { render(await call("status"), await call("health")); } catch (e) { showError(String(e)); }
        return;
      }
      if (f.type === "res" && pending.has(f.id)) {
        const p = pending.get(f.id); pending.delete(f.id);
        f.ok ? p.resolve(f.payload) : p.reject(new Error(f.error.code + ": " + f.error.message));
      }
      if (f.type === "event" && f.event === "shutdown") setState("gateway stopped");
    };
    ws.onclose = () => setState("disconnected");
  }

  $("login-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const t = $("token").value.trim();
    if (t) { sessionStorage.setItem("talon.token", t); $("token").value = ""; connect(); }
  });
  connect();
})();
