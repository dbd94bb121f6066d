package gateway

import (
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

func withStore(t testing.TB) gwOpt {
	return func(c *config.Config, o *Options) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "talon.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		o.Store = st
	}
}

// browserConn connects as the Control UI does: from the gateway's own
// Origin, with an Ed25519 device signature over this connection's
// challenge, and the token only when one is given.
func browserConn(t *testing.T, tg *testGW, priv ed25519.PrivateKey, token string, scopes ...string) (*websocket.Conn, resFrame) {
	t.Helper()
	ws, ch := rawConn(t, tg, http.Header{"Origin": {"http://" + tg.host}})
	p := protocol.ConnectParams{MinProtocol: 4, MaxProtocol: 4, Role: "operator", Scopes: scopes,
		Client: protocol.ClientInfo{ID: "talon-control-ui", Version: "1", Platform: "web", Mode: "ui"}, Auth: &protocol.ConnectAuth{Token: token}}
	signDevice(t, &p, ch.Nonce, priv)
	if token == "" {
		p.Auth = nil
	}
	writeJSON(t, ws, map[string]any{"type": "req", "id": "c", "method": "connect", "params": p})
	return ws, readRes(t, ws)
}

func callRaw(t *testing.T, ws *websocket.Conn, method string, params any) resFrame {
	t.Helper()
	writeJSON(t, ws, map[string]any{"type": "req", "id": method, "method": method, "params": params})
	return readRes(t, ws)
}

func grantedScopes(t *testing.T, r resFrame) []string {
	t.Helper()
	var h protocol.HelloOK
	if err := json.Unmarshal(r.Payload, &h); err != nil {
		t.Fatal(err)
	}
	return h.Auth.Scopes
}

var allScopes = []string{protocol.ScopeRead, protocol.ScopeWrite, protocol.ScopeAdmin, protocol.ScopeApprovals, protocol.ScopePairing}

// TestInvariant1_BrowserCredentialReplacesToken: the token is used once to
// enrol a browser key; afterwards the key alone signs in, with at most the
// enrolled scopes; an unknown key, a forged signature for the enrolled
// key, or a revoked key is refused, and revoking closes the open session.
func TestInvariant1_BrowserCredentialReplacesToken(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	tg := startGW(t, withStore(t), func(c *config.Config, o *Options) {
		o.Audit = func(_ context.Context, kind, _, subject string, _ any) error {
			mu.Lock()
			defer mu.Unlock()
			kinds = append(kinds, kind+" "+subject)
			return nil
		}
	})
	_, owner, _ := ed25519.GenerateKey(nil)
	_, viewer, _ := ed25519.GenerateKey(nil)
	_, stranger, _ := ed25519.GenerateKey(nil)

	// Without enrolment the key alone is nobody.
	if _, r := browserConn(t, tg, owner, "", allScopes...); r.OK || r.Error.Code != protocol.CodeUnauthorized {
		t.Fatalf("unenrolled browser got in: %+v", r)
	}
	ws, r := browserConn(t, tg, owner, testToken, allScopes...)
	if !r.OK {
		t.Fatalf("token + device refused: %+v", r.Error)
	}
	if e := callRaw(t, ws, "console.device.enroll", map[string]any{"label": "laptop"}); !e.OK {
		t.Fatalf("enroll: %+v", e.Error)
	}
	ws.CloseNow()
	vws, r := browserConn(t, tg, viewer, testToken, protocol.ScopeRead)
	if !r.OK || callRaw(t, vws, "console.device.enroll", map[string]any{"label": "phone"}).Error != nil {
		t.Fatalf("viewer enrol: %+v", r.Error)
	}
	vws.CloseNow()

	// The owner's browser signs in with its key alone, with its scopes.
	ows, r := browserConn(t, tg, owner, "", allScopes...)
	if !r.OK || len(grantedScopes(t, r)) != len(allScopes) {
		t.Fatalf("enrolled browser: %+v %s", r.Error, r.Payload)
	}
	// A browser credential cannot enrol anything (no escalation path).
	if e := callRaw(t, ows, "console.device.enroll", nil); e.OK || e.Error.Code != protocol.CodeForbidden {
		t.Fatalf("device session enrolled: %+v", e)
	}

	// The viewer asks for everything and gets read only; approving is refused.
	vws, r = browserConn(t, tg, viewer, "", allScopes...)
	if !r.OK || !slices.Equal(grantedScopes(t, r), []string{protocol.ScopeRead}) {
		t.Fatalf("viewer: %+v %s", r.Error, r.Payload)
	}
	if e := callRaw(t, vws, "exec.approval.resolve", map[string]any{"id": "x", "decision": "allow-once"}); e.OK || e.Error.Code != protocol.CodeForbidden {
		t.Fatalf("viewer resolved an approval: %+v", e)
	}

	// A stranger's key cannot pass for the owner's: the id and public key
	// are the owner's, the signature is the stranger's.
	sws, ch := rawConn(t, tg, http.Header{"Origin": {"http://" + tg.host}})
	p := protocol.ConnectParams{MinProtocol: 4, MaxProtocol: 4, Role: "operator", Scopes: allScopes,
		Client: protocol.ClientInfo{ID: "talon-control-ui", Version: "1", Platform: "web", Mode: "ui"}, Auth: &protocol.ConnectAuth{}}
	signDevice(t, &p, ch.Nonce, stranger)
	forged := *p.Device
	signDevice(t, &p, ch.Nonce, owner)
	p.Device.Signature = forged.Signature
	p.Auth = nil
	writeJSON(t, sws, map[string]any{"type": "req", "id": "c", "method": "connect", "params": p})
	if r := readRes(t, sws); r.OK {
		t.Fatal("forged signature for the enrolled key accepted")
	}

	// Revoking the viewer closes its session and keeps it out.
	var list struct {
		Devices []ConsoleDevice
	}
	l := callRaw(t, ows, "console.device.list", nil)
	if err := json.Unmarshal(l.Payload, &list); err != nil || len(list.Devices) != 2 {
		t.Fatalf("list: %s %v", l.Payload, err)
	}
	var vid string
	for _, d := range list.Devices {
		if d.Label == "phone" {
			vid = d.ID
		}
	}
	if e := callRaw(t, ows, "console.device.revoke", map[string]any{"id": vid}); !e.OK {
		t.Fatalf("revoke: %+v", e.Error)
	}
	if code := expectClosed(t, vws); code != websocket.StatusPolicyViolation {
		t.Fatalf("the revoked browser's session was not closed (close status %d)", code)
	}
	if _, r := browserConn(t, tg, viewer, "", protocol.ScopeRead); r.OK {
		t.Fatal("revoked browser got in")
	} else if r.Error.Details["code"] != DetailDeviceNotEnrolled {
		t.Fatalf("revoked: %+v", r.Error)
	}
	mu.Lock()
	got := strings.Join(kinds, "|")
	mu.Unlock()
	for _, want := range []string{core.KindDeviceEnroll + " ", core.KindDeviceRevoke + " " + vid} {
		if !strings.Contains(got, want) {
			t.Errorf("audit %q lacks %q", got, want)
		}
	}
}

// TestInvariant1_UnknownBrowserKeysAreLockedOut: guessing device keys
// counts like guessing tokens: after the limit even the enrolled key is
// refused from that Origin.
func TestInvariant1_UnknownBrowserKeysAreLockedOut(t *testing.T) {
	tg := startGW(t, withStore(t))
	_, owner, _ := ed25519.GenerateKey(nil)
	ws, r := browserConn(t, tg, owner, testToken, protocol.ScopeRead)
	if !r.OK || !callRaw(t, ws, "console.device.enroll", nil).OK {
		t.Fatal("enrol failed")
	}
	ws.CloseNow()
	for range 10 {
		_, k, _ := ed25519.GenerateKey(nil)
		if _, r := browserConn(t, tg, k, "", protocol.ScopeRead); r.OK {
			t.Fatal("unknown key got in")
		}
	}
	if _, r := browserConn(t, tg, owner, "", protocol.ScopeRead); r.OK || r.Error.Code != protocol.CodeAuthRateLimited {
		t.Fatalf("after 10 guesses: %+v", r)
	}
}

// TestAllowlistRevoke: a standing exec grant can be revoked by an approver
// (not a viewer); the config file and the running config lose it, and the
// revocation is audited before it is made.
func TestAllowlistRevoke(t *testing.T) {
	var audited []string
	tg := startGW(t, withConfigFile(t), func(c *config.Config, o *Options) {
		o.Audit = func(_ context.Context, kind, _, subject string, _ any) error {
			audited = append(audited, kind+" "+subject)
			return nil
		}
	})
	admin := adminClient(t, tg)
	var got struct{ Hash string }
	if err := admin.Call(ctxT(t), "config.get", nil, &got); err != nil {
		t.Fatal(err)
	}
	if err := admin.Call(ctxT(t), "config.patch", map[string]any{"baseHash": got.Hash,
		"patch": map[string]any{"tools": map[string]any{"exec": map[string]any{"allowlist": []any{"/usr/bin/ls", "/usr/bin/touch"}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	viewer, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{protocol.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	if err := viewer.Call(ctxT(t), "exec.allowlist.revoke", map[string]any{"entry": "/usr/bin/touch"}, nil); err == nil {
		t.Fatal("viewer revoked a grant")
	}
	approver, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{protocol.ScopeApprovals}})
	if err != nil {
		t.Fatal(err)
	}
	defer approver.Close()
	if err := approver.Call(ctxT(t), "exec.allowlist.revoke", map[string]any{"entry": "/usr/bin/nosuch"}, nil); err == nil {
		t.Fatal("revoking a missing entry succeeded")
	}
	if err := approver.Call(ctxT(t), "exec.allowlist.revoke", map[string]any{"entry": "/usr/bin/touch"}, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(tg.cfg)
	if strings.Contains(string(raw), "/usr/bin/touch") || !strings.Contains(string(raw), "/usr/bin/ls") {
		t.Fatalf("config after revoke:\n%s", raw)
	}
	// The file watcher may apply a read it made just before the write;
	// it catches up on its next poll.
	deadline := time.Now().Add(10 * time.Second)
	for slices.Contains(tg.g.config().cfg.Tools.Exec.Allowlist, "/usr/bin/touch") {
		if time.Now().After(deadline) {
			t.Fatal("running config still allows /usr/bin/touch")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !slices.Contains(audited, core.KindAllowlistRevoke+" /usr/bin/touch") {
		t.Fatalf("not audited: %v", audited)
	}
}

// TestConsoleScopes: every console method that changes something or shows
// the audit log or config needs more than operator.read.
func TestConsoleScopes(t *testing.T) {
	tg := startGW(t)
	for name, m := range tg.g.consoleMethods() {
		readOK := map[string]bool{"config.schema": true, "exec.allowlist.list": true, "console.device.enroll": true, "sessions.search": true}[name]
		if (m.scope == protocol.ScopeRead) != readOK {
			t.Errorf("%s: scope %s", name, m.scope)
		}
	}
}

// TestControlUIAssets: the console is plain ES modules with no inline
// script or style and no third-party URL, and its JavaScript stays under
// 150 KB gzipped.
func TestControlUIAssets(t *testing.T) {
	sub, _ := fs.Sub(uiFS, "ui")
	var total int64
	external := regexp.MustCompile(`(?i)\b(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}`)
	err := fs.WalkDir(sub, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := fs.ReadFile(sub, path)
		if strings.HasSuffix(path, ".js") {
			cw := &countWriter{}
			zw, _ := gzip.NewWriterLevel(cw, gzip.BestCompression)
			zw.Write(b)
			zw.Close()
			total += cw.n
		}
		if strings.HasSuffix(path, ".html") {
			s := string(b)
			if regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]+</script>|\son[a-z]+=|style=|<style`).MatchString(s) {
				t.Errorf("%s has inline script, handler or style", path)
			}
		}
		if m := external.FindString(string(b)); m != "" && !strings.Contains(m, "json-schema.org") {
			t.Errorf("%s names an external host %q", path, m)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Control UI JavaScript: %d bytes gzipped", total)
	if total == 0 || total > 150<<10 {
		t.Fatalf("Control UI JavaScript is %d bytes gzipped; the budget is 150 KB", total)
	}
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestInvariant1_InviteEnrolsOneBrowserWithItsScopes: a viewer's browser
// joins through a one-time invitation and never sees the gateway token; it
// gets the invited scopes whatever it asks for, and the code works once.
func TestInvariant1_InviteEnrolsOneBrowserWithItsScopes(t *testing.T) {
	tg := startGW(t, withStore(t))
	admin := adminClient(t, tg)
	var inv struct{ Code string }
	if err := admin.Call(ctxT(t), "console.device.invite", map[string]any{"scopes": []string{"operator.read"}, "label": "phone"}, &inv); err != nil || inv.Code == "" {
		t.Fatalf("invite: %v", err)
	}
	invited := func(priv ed25519.PrivateKey, code string) resFrame {
		ws, ch := rawConn(t, tg, http.Header{"Origin": {"http://" + tg.host}})
		p := protocol.ConnectParams{MinProtocol: 4, MaxProtocol: 4, Role: "operator", Scopes: allScopes,
			Client: protocol.ClientInfo{ID: "talon-control-ui", Version: "1", Platform: "web", Mode: "ui"}, Auth: &protocol.ConnectAuth{Token: code}}
		signDevice(t, &p, ch.Nonce, priv)
		p.Auth = &protocol.ConnectAuth{BootstrapToken: code}
		writeJSON(t, ws, map[string]any{"type": "req", "id": "c", "method": "connect", "params": p})
		r := readRes(t, ws)
		ws.CloseNow()
		return r
	}
	_, phone, _ := ed25519.GenerateKey(nil)
	_, other, _ := ed25519.GenerateKey(nil)
	if r := invited(phone, "not-the-code"); r.OK {
		t.Fatal("a made-up invitation worked")
	}
	r := invited(phone, inv.Code)
	if !r.OK || !slices.Equal(grantedScopes(t, r), []string{protocol.ScopeRead}) {
		t.Fatalf("invited browser: %+v %s", r.Error, r.Payload)
	}
	if r := invited(other, inv.Code); r.OK {
		t.Fatal("an invitation worked twice")
	}
	// The enrolled phone signs in with its key alone, still read-only.
	if _, r := browserConn(t, tg, phone, "", allScopes...); !r.OK || !slices.Equal(grantedScopes(t, r), []string{protocol.ScopeRead}) {
		t.Fatalf("phone later: %+v %s", r.Error, r.Payload)
	}
	// A viewer cannot invite anyone (admin only), and an admin cannot
	// invite beyond its own scopes.
	viewer, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{protocol.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	if err := viewer.Call(ctxT(t), "console.device.invite", nil, nil); err == nil {
		t.Fatal("a viewer made an invitation")
	}
}

// TestSessionsSearch finds text in transcripts, case-insensitively, with
// the session and a snippet, and refuses a query too short to mean much.
func TestSessionsSearch(t *testing.T) {
	fake := fakellm.New(t)
	var st *store.Store
	tg := startGW(t, withAgent(t, fake), func(c *config.Config, o *Options) { st = o.Store })
	ctx := ctxT(t)
	for key, text := range map[string]string{"agent:main:main": "remind me about the Dentist on friday", "agent:main:telegram:direct:42": "nothing to see"} {
		if _, err := st.EnsureSession(ctx, key, store.SessionInit{AgentID: "main"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.AppendMessages(ctx, key, store.Message{Role: "user", Content: text}); err != nil {
			t.Fatal(err)
		}
	}
	viewer, err := Dial(ctx, tg.url, DialOptions{Token: testToken, Scopes: []string{protocol.ScopeRead}})
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Close()
	var res struct {
		Hits []struct{ SessionKey, Snippet string }
	}
	if err := viewer.Call(ctx, "sessions.search", map[string]any{"query": "dentist"}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Hits) != 1 || res.Hits[0].SessionKey != "agent:main:main" || !strings.Contains(res.Hits[0].Snippet, "Dentist") {
		t.Fatalf("hits %+v", res.Hits)
	}
	if err := viewer.Call(ctx, "sessions.search", map[string]any{"query": "d"}, nil); err == nil {
		t.Fatal("a one-letter query was accepted")
	}
}
