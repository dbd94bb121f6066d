// The per-browser credential (docs/control-ui.md). An Ed25519 key pair is
// made with WebCrypto with a private key that cannot be exported; the
// CryptoKey objects are kept in IndexedDB, which stores them opaquely. The
// gateway token is used once to enrol the public key and then forgotten.

const DB = "talon-control-ui", STORE = "keys", KEY = "device";

function idb() {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

async function tx(mode, fn) {
  const db = await idb();
  return new Promise((resolve, reject) => {
    const t = db.transaction(STORE, mode);
    const req = fn(t.objectStore(STORE));
    t.oncomplete = () => { db.close(); resolve(req && req.result); };
    t.onerror = () => { db.close(); reject(t.error); };
  });
}

function b64url(buf) {
  let s = "";
  for (const b of new Uint8Array(buf)) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function hex(buf) {
  return Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", buf)), (b) => b.toString(16).padStart(2, "0")).join("");
}

// load returns the stored device, or makes one (not yet enrolled). It
// returns null when this browser has no Ed25519 in WebCrypto.
export async function loadDevice() {
  try {
    let d = await tx("readonly", (s) => s.get(KEY));
    if (!d) {
      const kp = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
      const raw = await crypto.subtle.exportKey("raw", kp.publicKey);
      d = { privateKey: kp.privateKey, publicKey: b64url(raw), id: await hex(raw), enrolled: false };
      await tx("readwrite", (s) => s.put(d, KEY));
    }
    return d;
  } catch (e) {
    console.warn("talon: no WebCrypto Ed25519 here; the token is kept for this tab only", e && e.name);
    return null;
  }
}

export async function setEnrolled(d, enrolled) {
  d.enrolled = enrolled;
  await tx("readwrite", (s) => s.put(d, KEY));
}

export async function forget() {
  await tx("readwrite", (s) => s.delete(KEY));
}

// sign makes the connect frame's device block: an Ed25519 signature over
// OpenClaw's v3 payload, which binds this connection's challenge nonce.
export async function sign(d, p, nonce, token) {
  const signedAt = Date.now();
  const payload = ["v3", d.id, p.client.id, p.client.mode, p.role, p.scopes.join(","), String(signedAt), token || "", nonce,
    p.client.platform.toLowerCase(), ""].join("|");
  const sig = await crypto.subtle.sign({ name: "Ed25519" }, d.privateKey, new TextEncoder().encode(payload));
  return { id: d.id, publicKey: d.publicKey, signature: b64url(sig), signedAt, nonce };
}
