package gateway

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/secret"
)

const testToken = "test-token-0123456789-abcdefghij"

type testGW struct {
	g      *Gateway
	url    string // ws://127.0.0.1:port
	http   string // http://127.0.0.1:port
	host   string // 127.0.0.1:port
	cancel context.CancelFunc
	done   chan error
	cfg    string // config path ("" if none)
	logBuf *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type gwOpt func(*config.Config, *Options)

func withConfigFile(t testing.TB) gwOpt {
	return func(c *config.Config, o *Options) {
		dir := t.TempDir()
		path := filepath.Join(dir, "talon.json")
		if err := config.WriteFileAtomic(path, config.DefaultFile(testToken), 0o600); err != nil {
			t.Fatal(err)
		}
		o.ConfigPath = path
		o.ReloadInterval = 50 * time.Millisecond
	}
}

func startGW(t testing.TB, opts ...gwOpt) *testGW {
	t.Helper()
	cfg := config.Default()
	cfg.Gateway.Auth.Token = secret.New(testToken)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	buf := &syncBuffer{}
	logger, err := logging.New(logging.Options{Level: "debug", Format: "text", Stderr: buf})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Config: cfg, Logger: logger, Version: "test", Listener: ln, Env: func(string) (string, bool) { return "", false }}
	for _, f := range opts {
		f(cfg, &o)
	}
	g, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	ready := make(chan struct{})
	g.opts.Ready = func(net.Addr) { close(ready) }
	go func() { done <- g.Run(ctx) }()
	<-ready
	host := ln.Addr().String()
	tg := &testGW{g: g, url: "ws://" + host + "/", http: "http://" + host, host: host, cancel: cancel, done: done, cfg: o.ConfigPath, logBuf: buf}
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("gateway did not stop within 10s")
		}
		logger.Close()
	})
	return tg
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// rawConn opens a WebSocket and reads the challenge, for tests that speak the
// protocol by hand.
func rawConn(t *testing.T, tg *testGW, h http.Header) (*websocket.Conn, protocol.Challenge) {
	t.Helper()
	ws, resp, err := websocket.Dial(ctxT(t), tg.url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		code := 0
		if resp != nil {
			code = resp.StatusCode
		}
		t.Fatalf("dial: %v (status %d)", err, code)
	}
	t.Cleanup(func() { ws.CloseNow() })
	_, data, err := ws.Read(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Type    string             `json:"type"`
		Event   string             `json:"event"`
		Payload protocol.Challenge `json:"payload"`
	}
	if err := json.Unmarshal(data, &ev); err != nil || ev.Type != "event" || ev.Event != "connect.challenge" || ev.Payload.Nonce == "" || ev.Payload.TS == 0 {
		t.Fatalf("bad challenge %s", data)
	}
	return ws, ev.Payload
}

func writeJSON(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	if err := ws.Write(ctxT(t), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

type resFrame struct {
	Type    string          `json:"type"`
	ID      string          `json:"id"`
	OK      bool            `json:"ok"`
	Payload json.RawMessage `json:"payload"`
	Error   *protocol.Error `json:"error"`
}

func readRes(t *testing.T, ws *websocket.Conn) resFrame {
	t.Helper()
	for {
		_, data, err := ws.Read(ctxT(t))
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var r resFrame
		if err := json.Unmarshal(data, &r); err != nil {
			t.Fatalf("bad frame %s", data)
		}
		if r.Type == "res" {
			return r
		}
	}
}

// expectClosed reads until the connection ends and returns the close code.
func expectClosed(t *testing.T, ws *websocket.Conn) websocket.StatusCode {
	t.Helper()
	for {
		_, _, err := ws.Read(ctxT(t))
		if err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

func connectParams(token string) map[string]any {
	return map[string]any{
		"minProtocol": 4, "maxProtocol": 4,
		"client": map[string]any{"id": "cli", "version": "1", "platform": "linux", "mode": "cli"},
		"role":   "operator", "scopes": []string{"operator.read"},
		"auth": map[string]any{"token": token},
	}
}

func dialErr(t *testing.T, tg *testGW, o DialOptions) *protocol.Error {
	t.Helper()
	c, err := Dial(ctxT(t), tg.url, o)
	if err == nil {
		c.Close()
		t.Fatal("connect succeeded; want refusal")
	}
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		t.Fatalf("want protocol error, got %v", err)
	}
	return pe
}

func TestInvariant1_RightTokenGetsHelloAndHealth(t *testing.T) {
	tg := startGW(t)
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := c.Hello
	if h.Type != "hello-ok" || h.Protocol != 4 || h.Server.ConnID == "" || h.Server.Version != "test" {
		t.Fatalf("bad hello: %+v", h)
	}
	if h.Policy.MaxPayload != 25<<20 || h.Policy.TickIntervalMs != 15000 || h.Policy.MaxBufferedBytes <= 0 {
		t.Fatalf("bad policy: %+v", h.Policy)
	}
	if strings.Join(h.Auth.Scopes, ",") != "operator.read" || h.Auth.Role != "operator" {
		t.Fatalf("granted %v", h.Auth)
	}
	for _, m := range []string{"health", "status", "config.get", "config.patch", "logs.tail", "channels.status"} {
		if !strings.Contains(strings.Join(h.Features.Methods, " "), m) {
			t.Errorf("features.methods lacks %s", m)
		}
	}
	var health map[string]any
	if err := c.Call(ctxT(t), "health", nil, &health); err != nil {
		t.Fatal(err)
	}
	if health["ok"] != true {
		t.Fatalf("health = %v", health)
	}
	var st map[string]any
	if err := c.Call(ctxT(t), "status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if gw := st["gateway"].(map[string]any); gw["authMode"] != "token" || gw["connections"].(float64) < 1 {
		t.Fatalf("status = %v", st)
	}
}

func TestInvariant1_NoAuthRefused(t *testing.T) {
	tg := startGW(t)
	ws, _ := rawConn(t, tg, nil)
	p := connectParams("")
	delete(p, "auth")
	writeJSON(t, ws, map[string]any{"type": "req", "id": "c1", "method": "connect", "params": p})
	r := readRes(t, ws)
	if r.OK || r.ID != "c1" || r.Error == nil || r.Error.Code != protocol.CodeUnauthorized {
		t.Fatalf("want UNAUTHORIZED, got %+v", r)
	}
	if code := expectClosed(t, ws); code != websocket.StatusPolicyViolation {
		t.Fatalf("close code %d, want 1008", code)
	}
}

func TestInvariant1_WrongTokenRefused(t *testing.T) {
	tg := startGW(t)
	for _, tok := range []string{"wrong", testToken + "x", testToken[:len(testToken)-1], strings.ToUpper(testToken), ""} {
		pe := dialErr(t, tg, DialOptions{Token: tok})
		if pe.Code != protocol.CodeUnauthorized {
			t.Fatalf("token %q: got %v", tok, pe)
		}
		if strings.Contains(pe.Message, testToken) {
			t.Fatal("error message leaks the token")
		}
	}
	if strings.Contains(tg.logBuf.String(), testToken) {
		t.Fatal("log leaks the token")
	}
}

func TestInvariant1_PasswordMode(t *testing.T) {
	tg := startGW(t, func(c *config.Config, o *Options) {
		c.Gateway.Auth.Mode = "password"
		c.Gateway.Auth.Password = secret.New("correct horse battery")
	})
	if pe := dialErr(t, tg, DialOptions{Token: testToken}); pe.Code != protocol.CodeUnauthorized {
		t.Fatalf("token accepted in password mode: %v", pe)
	}
	c, err := Dial(ctxT(t), tg.url, DialOptions{Password: "correct horse battery"})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestInvariant1_NonLoopbackWithoutAuthRefusesToStart(t *testing.T) {
	logger, _ := logging.New(logging.Options{Level: "error"})
	defer logger.Close()
	for _, bind := range []string{"lan", "custom"} {
		cfg := config.Default()
		cfg.Gateway.Bind = bind
		cfg.Gateway.CustomBindHost = "192.0.2.1"
		cfg.Gateway.Auth.Mode = "none"
		_, err := New(Options{Config: cfg, Logger: logger})
		if !errors.Is(err, ErrInsecureBind) {
			t.Fatalf("bind %s with auth none: got %v, want ErrInsecureBind", bind, err)
		}
		if !strings.Contains(err.Error(), "hint") {
			t.Fatalf("error has no fix: %v", err)
		}
	}
	// Loopback with auth none is allowed.
	cfg := config.Default()
	cfg.Gateway.Auth.Mode = "none"
	if _, err := New(Options{Config: cfg, Logger: logger}); err != nil {
		t.Fatalf("loopback + none refused: %v", err)
	}
}

func TestInvariant1_WeakOrMissingTokenRefusesToStart(t *testing.T) {
	logger, _ := logging.New(logging.Options{Level: "error"})
	defer logger.Close()
	for _, tok := range []string{"", "short-token-1234567890"} {
		cfg := config.Default()
		cfg.Gateway.Auth.Token = secret.New(tok)
		if _, err := New(Options{Config: cfg, Logger: logger}); err == nil {
			t.Fatalf("token %q accepted", tok)
		}
	}
}

func TestInvariant1_AuthNoneOnlyForLocalClients(t *testing.T) {
	tg := startGW(t, func(c *config.Config, o *Options) { c.Gateway.Auth.Mode = "none" })
	c, err := Dial(ctxT(t), tg.url, DialOptions{})
	if err != nil {
		t.Fatalf("local client refused with auth none: %v", err)
	}
	c.Close()
	// A request relayed by an unknown proxy is not local.
	pe := dialErr(t, tg, DialOptions{Header: http.Header{"X-Forwarded-For": {"203.0.113.9"}}})
	if pe.Code != protocol.CodeUnauthorized {
		t.Fatalf("forwarded request accepted with auth none: %v", pe)
	}
}

func TestInvariant1_RateLimitAndLockout(t *testing.T) {
	// A browser on loopback is not exempt: 10 failures lock the address and
	// the Origin out, and then even the right token is refused.
	tg := startGW(t)
	origin := "http://" + tg.host
	for i := range 9 {
		if pe := dialErr(t, tg, DialOptions{Token: "wrong", Origin: origin}); pe.Code != protocol.CodeUnauthorized {
			t.Fatalf("attempt %d: %v", i+1, pe)
		}
	}
	pe := dialErr(t, tg, DialOptions{Token: "wrong", Origin: origin})
	if pe.Code != protocol.CodeAuthRateLimited || pe.RetryAfterMs == nil || *pe.RetryAfterMs != 300000 {
		t.Fatalf("10th failure: %+v", pe)
	}
	pe = dialErr(t, tg, DialOptions{Token: testToken, Origin: origin})
	if pe.Code != protocol.CodeAuthRateLimited {
		t.Fatalf("right token during lockout: %v", pe)
	}
	// The local CLI (no Origin) is exempt and still gets in.
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatalf("local cli locked out: %v", err)
	}
	c.Close()
}

func TestInvariant1_LockoutExpires(t *testing.T) {
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tg := startGW(t, func(c *config.Config, o *Options) { o.Now = clock })
	fwd := http.Header{"X-Forwarded-For": {"198.51.100.7"}}
	for range 10 {
		dialErr(t, tg, DialOptions{Token: "wrong", Header: fwd})
	}
	if pe := dialErr(t, tg, DialOptions{Token: testToken, Header: fwd}); pe.Code != protocol.CodeAuthRateLimited {
		t.Fatalf("want lockout, got %v", pe)
	}
	mu.Lock()
	now = now.Add(5*time.Minute + time.Second)
	mu.Unlock()
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Header: fwd})
	if err != nil {
		t.Fatalf("after lockout: %v", err)
	}
	c.Close()
}

func TestInvariant1_ForwardedHeadersFromUntrustedPeerAreNotLocal(t *testing.T) {
	// Without trustedProxies, a loopback peer that sends X-Forwarded-For is
	// treated as remote: no loopback exemption from the limiter.
	tg := startGW(t)
	fwd := http.Header{"X-Forwarded-For": {"127.0.0.1"}}
	for range 10 {
		dialErr(t, tg, DialOptions{Token: "wrong", Header: fwd})
	}
	if pe := dialErr(t, tg, DialOptions{Token: testToken, Header: fwd}); pe.Code != protocol.CodeAuthRateLimited {
		t.Fatalf("forwarded loopback claim bypassed the limiter: %v", pe)
	}
}

func TestInvariant1_TrustedProxyClientAddress(t *testing.T) {
	tg := startGW(t, func(c *config.Config, o *Options) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	a := http.Header{"X-Forwarded-For": {"203.0.113.1"}}
	b := http.Header{"X-Forwarded-For": {"203.0.113.2"}}
	for range 10 {
		dialErr(t, tg, DialOptions{Token: "wrong", Header: a})
	}
	if pe := dialErr(t, tg, DialOptions{Token: testToken, Header: a}); pe.Code != protocol.CodeAuthRateLimited {
		t.Fatalf("client a not locked: %v", pe)
	}
	// A different client behind the same trusted proxy is unaffected.
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Header: b})
	if err != nil {
		t.Fatalf("client b: %v", err)
	}
	c.Close()
}

func httpStatus(t *testing.T, tg *testGW, path string, h http.Header) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", tg.http+path, nil)
	for k, v := range h {
		req.Header[k] = v
	}
	if host := h.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestInvariant2_OriginChecks(t *testing.T) {
	tg := startGW(t, func(c *config.Config, o *Options) {
		c.Gateway.ControlUI.AllowedOrigins = []string{"https://ui.example.com"}
	})
	cases := []struct {
		origin string
		ok     bool
	}{
		{"", true},
		{"http://" + tg.host, true},
		{"https://ui.example.com", true},
		{"https://evil.example", false},
		{"null", false},
		{"http://" + tg.host + ".evil.example", false},
		{"https://ui.example.com.evil.example", false},
		{"http://127.0.0.1:1", false},
		{"file://", false},
		{"http://" + tg.host + "/path", false},
	}
	for _, tc := range cases {
		_, resp, err := websocket.Dial(ctxT(t), tg.url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {tc.origin}}})
		if tc.ok && err != nil {
			t.Errorf("origin %q refused: %v", tc.origin, err)
		}
		if !tc.ok {
			if err == nil {
				t.Errorf("origin %q accepted (cross-site WebSocket hijacking)", tc.origin)
			} else if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Errorf("origin %q: want 403, got %v", tc.origin, err)
			}
		}
	}
}

func TestInvariant2_HostHeaderDNSRebinding(t *testing.T) {
	tg := startGW(t)
	for _, h := range []struct {
		host string
		want int
	}{
		{"evil.example:18789", 403},
		{"attacker.com", 403},
		{"localhost:18789", 200},
		{"127.0.0.1:18789", 200},
		{"[::1]:18789", 200},
	} {
		code, _ := httpStatus(t, tg, "/", http.Header{"Host": {h.host}})
		if code != h.want {
			t.Errorf("Host %s: status %d, want %d", h.host, code, h.want)
		}
	}
	// A WebSocket through a rebinding name is refused before the upgrade.
	_, resp, err := websocket.Dial(ctxT(t), tg.url, &websocket.DialOptions{Host: "evil.example"})
	if err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("rebinding websocket: err %v", err)
	}
}

func TestInvariant2_NoTokenInURL(t *testing.T) {
	tg := startGW(t)
	if code, _ := httpStatus(t, tg, "/?token="+testToken, nil); code != 400 {
		t.Fatalf("token query on UI: status %d", code)
	}
	_, resp, err := websocket.Dial(ctxT(t), tg.url+"?token="+testToken, nil)
	if err == nil || resp == nil || resp.StatusCode != 400 {
		t.Fatalf("token query on websocket accepted: %v", err)
	}
	// The Control UI reads the fragment, and connects only to its own origin.
	_, body := httpStatus(t, tg, "/ui/lib/gw.js", nil)
	if !strings.Contains(body, `location.host + "/"`) {
		t.Fatal("control ui must connect to its own origin")
	}
	for _, f := range []string{"app.js", "lib/gw.js", "lib/cred.js", "lib/dom.js"} {
		if _, body := httpStatus(t, tg, "/ui/"+f, nil); strings.Contains(body, "searchParams") || strings.Contains(body, "location.search") {
			t.Fatalf("control ui %s reads the query", f)
		}
	}
}

func TestHealthzRevealsNothing(t *testing.T) {
	tg := startGW(t)
	code, body := httpStatus(t, tg, "/healthz", http.Header{"Host": {"anything.example"}})
	if code != 200 || strings.TrimSpace(body) != `{"ok":true}` {
		t.Fatalf("healthz: %d %q", code, body)
	}
}

func TestControlUIHeaders(t *testing.T) {
	tg := startGW(t)
	resp, err := http.Get(tg.http + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Fatalf("weak headers: %v", resp.Header)
	}
}

func TestInvariant14_ConnectMustBeFirst(t *testing.T) {
	tg := startGW(t)
	ws, _ := rawConn(t, tg, nil)
	writeJSON(t, ws, map[string]any{"type": "req", "id": "1", "method": "health"})
	r := readRes(t, ws)
	if r.OK || r.Error.Code != protocol.CodeInvalidRequest || r.ID != "1" {
		t.Fatalf("got %+v", r)
	}
	if code := expectClosed(t, ws); code != websocket.StatusPolicyViolation {
		t.Fatalf("close %d", code)
	}
}

func TestInvariant14_MalformedFrames(t *testing.T) {
	tg := startGW(t)
	for _, frame := range []string{
		`not json`, `[]`, `{"type":"event","id":"1","method":"connect"}`, `{"type":"req","method":"connect"}`,
		`{"type":"req","id":"1","method":"connect","params":[1]}`, `{"type":"req","id":"1","method":"connect"} trailing`,
		`{"type":"req","id":"1","method":"connect","params":{"minProtocol":"four"}}`, "\xff\xfe",
	} {
		ws, _ := rawConn(t, tg, nil)
		if err := ws.Write(ctxT(t), websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		r := readRes(t, ws)
		if r.OK || r.Error == nil || r.Error.Code != protocol.CodeInvalidRequest {
			t.Fatalf("frame %q: got %+v", frame, r)
		}
		if code := expectClosed(t, ws); code != websocket.StatusPolicyViolation {
			t.Fatalf("frame %q: close %d", frame, code)
		}
	}
	// The gateway is still serving.
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

func TestInvariant14_OversizePreConnectFrame(t *testing.T) {
	tg := startGW(t)
	ws, _ := rawConn(t, tg, nil)
	big := `{"type":"req","id":"1","method":"connect","params":{"pad":"` + strings.Repeat("a", 70<<10) + `"}}`
	_ = ws.Write(ctxT(t), websocket.MessageText, []byte(big))
	if code := expectClosed(t, ws); code != websocket.StatusMessageTooBig {
		t.Fatalf("close %d, want 1009", code)
	}
}

func TestInvariant14_HandshakeTimeout(t *testing.T) {
	tg := startGW(t, func(c *config.Config, o *Options) { o.HandshakeTimeout = 200 * time.Millisecond })
	ws, _ := rawConn(t, tg, nil)
	if code := expectClosed(t, ws); code != websocket.StatusPolicyViolation {
		t.Fatalf("close %d, want 1008", code)
	}
}

func TestProtocolMismatch(t *testing.T) {
	tg := startGW(t)
	ws, _ := rawConn(t, tg, nil)
	p := connectParams(testToken)
	p["minProtocol"], p["maxProtocol"] = 5, 6
	writeJSON(t, ws, map[string]any{"type": "req", "id": "c", "method": "connect", "params": p})
	r := readRes(t, ws)
	if r.OK || r.Error.Code != protocol.CodeProtocolMismatch {
		t.Fatalf("got %+v", r)
	}
	if code := expectClosed(t, ws); code != websocket.StatusProtocolError {
		t.Fatalf("close %d, want 1002", code)
	}
}

func TestUnknownMethodFailsClosed(t *testing.T) {
	tg := startGW(t)
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: protocol.OperatorScopes})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range []string{"exec.run", "config.set", "Health", "health ", "__proto__"} {
		err := c.Call(ctxT(t), m, nil, nil)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeInvalidRequest || pe.Message != "unknown method: "+m {
			t.Fatalf("%q: %v (want INVALID_REQUEST %q, as OpenClaw answers)", m, err, "unknown method: "+m)
		}
	}
}

func TestScopeDenied(t *testing.T) {
	tg := startGW(t)
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read", "operator.everything", "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if strings.Join(c.Hello.Auth.Scopes, ",") != "operator.read" {
		t.Fatalf("unknown scopes granted: %v", c.Hello.Auth.Scopes)
	}
	for _, m := range []string{"config.get", "config.patch"} {
		err := c.Call(ctxT(t), m, nil, nil)
		var pe *protocol.Error
		if !errors.As(err, &pe) || pe.Code != protocol.CodeForbidden || pe.Details["code"] != protocol.DetailMissingScope {
			t.Fatalf("%s with read scope: %v", m, err)
		}
	}
}

func adminClient(t *testing.T, tg *testGW) *Client {
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.admin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConfigGetRedactsSecrets(t *testing.T) {
	tg := startGW(t, withConfigFile(t))
	c := adminClient(t, tg)
	var out map[string]any
	if err := c.Call(ctxT(t), "config.get", nil, &out); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	if strings.Contains(string(b), testToken) {
		t.Fatal("config.get leaks the token")
	}
	if !strings.Contains(string(b), `"***"`) || out["hash"] == "" {
		t.Fatalf("config.get = %s", b)
	}
}

func TestConfigPatch(t *testing.T) {
	tg := startGW(t, withConfigFile(t))
	c := adminClient(t, tg)
	var got struct {
		Hash string `json:"hash"`
	}
	if err := c.Call(ctxT(t), "config.get", nil, &got); err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(tg.cfg)
	code := func(err error) string {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return pe.Code
		}
		return "ok"
	}
	// Stale base hash: conflict, nothing written.
	err := c.Call(ctxT(t), "config.patch", map[string]any{"baseHash": strings.Repeat("0", 64), "raw": `{logging:{level:"debug"}}`}, nil)
	if code(err) != protocol.CodeConflict {
		t.Fatalf("stale hash: %v", err)
	}
	// Invalid result: nothing written, both problems named.
	err = c.Call(ctxT(t), "config.patch", map[string]any{"baseHash": got.Hash, "raw": `{gateway:{bind:"everywhere", prot: 1}}`}, nil)
	if code(err) != protocol.CodeInvalidRequest || !strings.Contains(err.Error(), "gateway.bind") || !strings.Contains(err.Error(), "gateway.prot") {
		t.Fatalf("invalid patch: %v", err)
	}
	// Unsafe result: lan bind without auth.
	err = c.Call(ctxT(t), "config.patch", map[string]any{"baseHash": got.Hash, "patch": map[string]any{"gateway": map[string]any{"bind": "lan", "auth": map[string]any{"mode": "none"}}}}, nil)
	if code(err) != protocol.CodeInvalidRequest {
		t.Fatalf("unsafe patch accepted: %v", err)
	}
	// The redacted placeholder is never written over a secret.
	err = c.Call(ctxT(t), "config.patch", map[string]any{"baseHash": got.Hash, "patch": map[string]any{"gateway": map[string]any{"auth": map[string]any{"token": "***"}}}}, nil)
	if code(err) != protocol.CodeInvalidRequest {
		t.Fatalf("*** accepted: %v", err)
	}
	if now, _ := os.ReadFile(tg.cfg); !bytes.Equal(now, orig) {
		t.Fatal("a refused patch changed the file")
	}
	// A good patch is written atomically (0600) and applied live.
	var res map[string]any
	if err := c.Call(ctxT(t), "config.patch", map[string]any{"baseHash": got.Hash, "raw": `{gateway:{controlUi:{allowedOrigins:["https://ops.example.com"]}}}`}, &res); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(tg.cfg)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if !originAllowed("https://ops.example.com", tg.host, tg.g.config().cfg.Gateway.ControlUI.AllowedOrigins) {
		t.Fatal("patched origin not applied live")
	}
	cfg, _, err := config.Load(tg.cfg, func(string) (string, bool) { return "", false })
	if err != nil || !cfg.Gateway.Auth.Token.Equal(testToken) {
		t.Fatalf("token lost by patch: %v", err)
	}
}

func TestHotReloadTokenRotation(t *testing.T) {
	tg := startGW(t, withConfigFile(t))
	newTok := "rotated-token-ABCDEFGHIJKLMNOPQRSTUV"
	if err := config.WriteFileAtomic(tg.cfg, config.DefaultFile(newTok), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !tg.g.config().cfg.Gateway.Auth.Token.Equal(newTok) {
		if time.Now().After(deadline) {
			t.Fatal("token not reloaded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if pe := dialErr(t, tg, DialOptions{Token: testToken}); pe.Code != protocol.CodeUnauthorized {
		t.Fatalf("old token still works: %v", pe)
	}
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: newTok})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	// An invalid file is refused and the running config stays.
	os.WriteFile(tg.cfg, []byte(`{gateway:{bind:"nowhere"}}`), 0o600)
	time.Sleep(300 * time.Millisecond)
	if !tg.g.config().cfg.Gateway.Auth.Token.Equal(newTok) {
		t.Fatal("invalid config replaced the running one")
	}
}

func TestLogsTailRedacted(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "talon.log")
	os.WriteFile(logPath, []byte("line one\nAuthorization: Bearer sk-proj-abcdefghijklmnopqrstuvwxyz0123456789\nlast line\n"), 0o600)
	tg := startGW(t, func(c *config.Config, o *Options) { o.LogFile = logPath })
	// operator.read is enough (as OpenClaw's clients ask), and what it
	// gets is redacted.
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out struct {
		Lines []string `json:"lines"`
	}
	if err := c.Call(ctxT(t), "logs.tail", map[string]any{"lines": 2}, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Lines) != 2 || out.Lines[1] != "last line" || strings.Contains(out.Lines[0], "abcdefghijklmnop") {
		t.Fatalf("tail = %q", out.Lines)
	}
}

// TestInvariant10_LogsTailScrubsKnownSecrets: a log line written before
// a secret was known (an earlier run) holds it percent-encoded; logs.tail
// serves it through the process's scrubber, so the secret does not reach
// the operator's client.
func TestInvariant10_LogsTailScrubsKnownSecrets(t *testing.T) {
	dir := t.TempDir()
	logPath := filepath.Join(dir, "talon.log")
	const secretVal = "plainpassw0rd-without-a-format"
	os.WriteFile(logPath, []byte("level=WARN msg=\"retry\" url=https://x.example/?p=plainpassw0rd%2dwithout%2da%2dformat\nlast\n"), 0o600)
	scrub := redact.NewScrubber([]redact.Known{{Name: "MY_SECRET", Value: secretVal}}).Scrub
	tg := startGW(t, func(c *config.Config, o *Options) { o.LogFile = logPath; o.Scrub = scrub })
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var out struct {
		Lines []string `json:"lines"`
	}
	if err := c.Call(ctxT(t), "logs.tail", map[string]any{"lines": 5}, &out); err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(out.Lines, "\n")
	if strings.Contains(joined, "plainpassw0rd") || !strings.Contains(joined, "[REDACTED:MY_SECRET]") {
		t.Fatalf("tail = %q", out.Lines)
	}
}

func TestShutdownEventAndClose(t *testing.T) {
	tg := startGW(t)
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	tg.cancel()
	gotShutdown := false
	for ev := range c.Events() {
		if ev.Event == "shutdown" {
			gotShutdown = true
		}
	}
	if !gotShutdown {
		t.Fatal("no shutdown event")
	}
	if code := c.CloseStatus(); code != websocket.StatusGoingAway {
		t.Fatalf("close %d, want 1001", code)
	}
	select {
	case err := <-tg.done:
		if err != nil {
			t.Fatal(err)
		}
		tg.done <- nil
	case <-time.After(6 * time.Second):
		t.Fatal("gateway did not stop within 5s grace")
	}
}

func TestTickEvent(t *testing.T) {
	tg := startGW(t, func(c *config.Config, o *Options) { c.Gateway.TickIntervalMs = 1000 })
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	select {
	case ev := <-c.Events():
		if ev.Event != "tick" || ev.Seq == nil || *ev.Seq != 1 {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no tick")
	}
}

func signDevice(t *testing.T, p *protocol.ConnectParams, nonce string, priv ed25519.PrivateKey) {
	pub := priv.Public().(ed25519.PublicKey)
	sum := sha256.Sum256(pub)
	id := hex.EncodeToString(sum[:])
	at := time.Now().UnixMilli()
	payload := strings.Join([]string{"v3", id, p.Client.ID, p.Client.Mode, p.Role, strings.Join(p.Scopes, ","),
		strconv.FormatInt(at, 10), p.Auth.Token, nonce, strings.ToLower(p.Client.Platform), strings.ToLower(p.Client.DeviceFamily)}, "|")
	p.Device = &protocol.Device{ID: id, PublicKey: base64.RawURLEncoding.EncodeToString(pub),
		Signature: base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(payload))), SignedAt: at, Nonce: nonce}
}

func TestDeviceSignature(t *testing.T) {
	tg := startGW(t)
	_, priv, _ := ed25519.GenerateKey(nil)
	try := func(mutate func(p *protocol.ConnectParams, nonce string)) resFrame {
		ws, ch := rawConn(t, tg, nil)
		p := protocol.ConnectParams{MinProtocol: 4, MaxProtocol: 4, Role: "operator", Scopes: []string{"operator.read"},
			Client: protocol.ClientInfo{ID: "cli", Version: "1", Platform: "Linux", DeviceFamily: "Desktop", Mode: "cli"}, Auth: &protocol.ConnectAuth{Token: testToken}}
		signDevice(t, &p, ch.Nonce, priv)
		mutate(&p, ch.Nonce)
		writeJSON(t, ws, map[string]any{"type": "req", "id": "c", "method": "connect", "params": p})
		return readRes(t, ws)
	}
	if r := try(func(*protocol.ConnectParams, string) {}); !r.OK {
		t.Fatalf("valid device refused: %+v", r.Error)
	}
	// Replaying a signature made for another connection's nonce fails.
	if r := try(func(p *protocol.ConnectParams, nonce string) {
		signDevice(t, p, "other-nonce", priv)
		p.Device.Nonce = nonce
	}); r.OK || r.Error.Code != protocol.CodeDeviceAuthInvalid {
		t.Fatalf("replayed signature accepted: %+v", r)
	}
	// Scopes changed after signing fail.
	if r := try(func(p *protocol.ConnectParams, _ string) { p.Scopes = []string{"operator.admin"} }); r.OK {
		t.Fatal("tampered scopes accepted")
	}
	// An id that is not the key's hash fails.
	if r := try(func(p *protocol.ConnectParams, _ string) { p.Device.ID = strings.Repeat("a", 64) }); r.OK {
		t.Fatal("wrong device id accepted")
	}
	// A v2 signature (openclaw-node's) is accepted, and binds the same
	// fields: another nonce or changed scopes fail.
	signV2 := func(p *protocol.ConnectParams, nonce string) {
		payload := strings.Join([]string{"v2", p.Device.ID, p.Client.ID, p.Client.Mode, p.Role, strings.Join(p.Scopes, ","),
			strconv.FormatInt(p.Device.SignedAt, 10), p.Auth.Token, nonce}, "|")
		p.Device.Signature = base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(payload)))
	}
	if r := try(func(p *protocol.ConnectParams, nonce string) { signV2(p, nonce) }); !r.OK {
		t.Fatalf("valid v2 device refused: %+v", r.Error)
	}
	if r := try(func(p *protocol.ConnectParams, nonce string) { signV2(p, "other-nonce") }); r.OK {
		t.Fatal("v2 signature for another nonce accepted")
	}
	if r := try(func(p *protocol.ConnectParams, nonce string) {
		signV2(p, nonce)
		p.Scopes = []string{"operator.admin"}
	}); r.OK {
		t.Fatal("v2: tampered scopes accepted")
	}
}
