// Talon Control UI: the owner's console. Plain ES modules, no build step,
// nothing loaded from anywhere but this gateway (docs/control-ui.md).
//
// Security notes:
// - The WebSocket always goes to this page's own origin (lib/gw.js).
// - A #token= fragment is read once and removed from the address bar
//   before anything else runs; the token enrols this browser's
//   non-extractable Ed25519 key (lib/cred.js) and is then forgotten. Only
//   a browser without WebCrypto Ed25519 keeps it, in sessionStorage (this
//   tab only).
// - All text is inserted as text, never as markup (lib/dom.js).

import { Gateway, ALL_SCOPES } from "./lib/gw.js";
import { loadDevice, setEnrolled } from "./lib/cred.js";
import { h } from "./lib/dom.js";

const PAGES = ["chat", "approvals", "sessions", "channels", "cron", "usage", "logs", "audit", "security", "config"];
const $ = (id) => document.getElementById(id);

// Read and remove the fragment's token before any other work.
let token = null, invite = null, viewer = false;
{
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.has("token") || frag.has("invite")) {
    token = frag.get("token");
    invite = frag.get("invite");
    viewer = frag.get("role") === "viewer";
    history.replaceState(null, "", location.pathname + "#/chat");
  }
}

const gw = new Gateway();
const app = { gw, pending: new Map(), report, cleanup: null, device: null };

function report(e) {
  const el = $("error");
  if (!e) { el.hidden = true; el.textContent = ""; return; }
  el.textContent = e.message || String(e);
  el.hidden = false;
}

function setState(s) { $("state").textContent = s; }

function showLogin(msg) {
  $("login").hidden = false;
  $("page").replaceChildren();
  setState("signed out");
  if (msg) report(new Error(msg));
  $("token").focus();
}

async function signIn() {
  report(null);
  const device = app.device;
  try {
    if (token) {
      const scopes = viewer ? ["operator.read"] : ALL_SCOPES;
      let secret = { token };
      try {
        await gw.connect({ device, token, scopes });
      } catch (e) {
        // A gateway in password mode: the form's secret is the password.
        if (!(e.details && e.details.code === "AUTH_PASSWORD_MISSING")) throw e;
        secret = { password: token };
        await gw.connect({ device, password: token, scopes });
      }
      if (device) {
        await gw.call("console.device.enroll", { label: browserLabel() });
        await setEnrolled(device, true);
        sessionStorage.removeItem("talon.token");
      } else if (secret.token) {
        sessionStorage.setItem("talon.token", token);
      }
      token = null;
    } else if (invite && device) {
      const code = invite;
      invite = null;
      await gw.connect({ device, invite: code, scopes: ALL_SCOPES });
      await setEnrolled(device, true);
    } else if (device && device.enrolled) {
      await gw.connect({ device, scopes: ALL_SCOPES });
    } else if (sessionStorage.getItem("talon.token")) {
      await gw.connect({ token: sessionStorage.getItem("talon.token"), scopes: ALL_SCOPES });
    } else {
      showLogin();
      return;
    }
  } catch (e) {
    token = null;
    invite = null;
    const detail = e.details && e.details.code;
    if (device && detail === "DEVICE_NOT_ENROLLED") {
      await setEnrolled(device, false);
      showLogin("This browser's access was revoked or is unknown to this gateway. Sign in again with the token.");
    } else if (e.code === "UNAUTHORIZED") {
      sessionStorage.removeItem("talon.token");
      showLogin("Sign-in refused: " + e.message);
    } else {
      showLogin(e.message);
    }
    return;
  }
  $("login").hidden = true;
  setState(gw.can("operator.admin") ? "connected" : gw.can("operator.approvals") ? "connected" : "connected (read-only)");
  applyScopes();
  startBadge();
  route();
}

function browserLabel() {
  const ua = navigator.userAgent;
  const m = ua.match(/(Firefox|Edg|Chrome|Safari)\/[\d.]+/);
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS" : /Mac/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : /Windows/.test(ua) ? "Windows" : "";
  return ((m ? m[1] : "browser") + " on " + os + (viewer ? " (viewer)" : "")).trim();
}

function applyScopes() {
  for (const a of document.querySelectorAll("[data-scope]")) a.hidden = !gw.can(a.dataset.scope);
}

// The pending-approval badge, on every page.
async function startBadge() {
  if (!gw.can("operator.approvals")) return;
  try {
    const r = await gw.call("exec.approval.list", {});
    app.pending.clear();
    for (const a of r.approvals) if (a.status === "pending") app.pending.set(a.id, a);
  } catch (e) { report(e); }
  badge();
}

function badge() {
  const n = app.pending.size;
  const b = $("badge");
  b.hidden = n === 0;
  b.textContent = n + (n === 1 ? " approval waiting" : " approvals waiting");
  document.title = (n ? "(" + n + ") " : "") + "Talon";
}

gw.on("exec.approval.requested", (p) => { if (p.status === "pending") app.pending.set(p.id, p); badge(); });
gw.on("exec.approval.resolved", (p) => { app.pending.delete(p.id); badge(); });
gw.on("shutdown", () => setState("gateway stopping"));
gw.on("_closed", (ev) => {
  if (ev.code === 1008 && /revoked/.test(ev.reason || "")) {
    setEnrolled(app.device, false).catch(() => {});
    showLogin("This browser's access was revoked.");
    return;
  }
  if (app.device && app.device.enrolled) {
    setState("connection lost; retrying");
    setTimeout(signIn, 2000);
  } else {
    setState("connection lost");
  }
});

let current = null;
async function route() {
  const name = (location.hash.match(/^#\/([a-z]+)/) || [])[1] || "chat";
  const page = PAGES.includes(name) ? name : "chat";
  for (const a of document.querySelectorAll(".nav a")) {
    if (a.dataset.page === page) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
  $("nav").classList.remove("open");
  $("menu").setAttribute("aria-expanded", "false");
  if (app.cleanup) { try { app.cleanup(); } catch {} app.cleanup = null; }
  report(null);
  const root = $("page");
  root.replaceChildren(h("p", { class: "note" }, "loading…"));
  if (!gw.ws || gw.ws.readyState !== WebSocket.OPEN) return;
  current = page;
  try {
    const mod = await import("./pages/" + page + ".js");
    if (current !== page) return;
    root.replaceChildren();
    app.cleanup = (await mod.render(root, app)) || null;
    // After a navigation by keyboard, start reading at the page.
    if (document.activeElement && document.activeElement.closest(".nav")) $("main").focus();
  } catch (e) {
    root.replaceChildren();
    report(e);
  }
}

window.addEventListener("hashchange", () => {
  const frag = new URLSearchParams(location.hash.slice(1));
  if (frag.has("token") || frag.has("invite")) {
    // A sign-in link opened in a tab that runs already.
    token = frag.get("token");
    invite = frag.get("invite");
    viewer = frag.get("role") === "viewer";
    history.replaceState(null, "", location.pathname + "#/chat");
    gw.close();
    signIn();
    return;
  }
  route();
});
$("menu").addEventListener("click", () => {
  const open = $("nav").classList.toggle("open");
  $("menu").setAttribute("aria-expanded", String(open));
});
$("login").addEventListener("submit", (e) => {
  e.preventDefault();
  const t = $("token").value.trim();
  if (!t) return;
  token = t;
  viewer = $("viewer").checked;
  $("token").value = "";
  signIn();
});

(async () => {
  app.device = await loadDevice();
  signIn();
})();
