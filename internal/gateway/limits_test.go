package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/config"
)

// withLimits sets gateway.limits in a test gateway and lifts the open-file
// cap so that only the configured values apply.
func withLimits(f func(*config.GatewayLimits)) gwOpt {
	return func(c *config.Config, o *Options) {
		f(&c.Gateway.Limits)
		o.OpenFileLimit = 1 << 20
	}
}

// keepAlive sends one HTTP/1.1 request for /healthz on a new connection,
// reads the answer and leaves the connection open and silent, as an idle
// keep-alive client does.
func keepAlive(t testing.TB, host string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := io.WriteString(nc, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || res.Close {
		t.Fatalf("healthz: %d close=%v", res.StatusCode, res.Close)
	}
	return nc, br
}

// closedByServer waits (up to a generous bound) for the server to end a
// connection and reports whether it did; a timeout means it is still open.
func closedByServer(nc net.Conn, br *bufio.Reader, within time.Duration) bool {
	_ = nc.SetReadDeadline(time.Now().Add(within))
	var err error
	if br != nil {
		_, err = br.ReadByte()
	} else {
		_, err = nc.Read(make([]byte, 1))
	}
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// ownerLoop connects with the right token and calls health over and over
// until stop is closed; it returns the number of successes and the first
// failure.
func ownerLoop(tg *testGW, stop <-chan struct{}) (ok *atomic.Int64, failed func() error) {
	ok = new(atomic.Int64)
	var mu sync.Mutex
	var first error
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			err := func() error {
				c, err := Dial(ctx, tg.url, DialOptions{Token: testToken})
				if err != nil {
					return err
				}
				defer c.Close()
				return c.Call(ctx, "health", nil, nil)
			}()
			cancel()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
				return
			}
			ok.Add(1)
		}
	}()
	return ok, func() error { mu.Lock(); defer mu.Unlock(); return first }
}

// waitFor polls cond for up to 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// TestInvariant1_IdleKeepAliveSocketsAreReaped: 300 HTTP keep-alive
// connections that fall silent after one request are closed by the server
// (idle timeout), none by eviction, while the owner keeps connecting and
// calling health the whole time.
func TestInvariant1_IdleKeepAliveSocketsAreReaped(t *testing.T) {
	tg := startGW(t, withLimits(func(l *config.GatewayLimits) {
		l.IdleTimeoutSec = 1
		l.MaxPreAuthConns, l.MaxPreAuthConnsPerAddr = 1000, 1000
	}))
	const n = 300
	stop := make(chan struct{})
	ok, failed := ownerLoop(tg, stop)
	defer close(stop)

	type sock struct {
		nc net.Conn
		br *bufio.Reader
	}
	socks := make([]sock, n)
	for i := range socks {
		socks[i].nc, socks[i].br = keepAlive(t, tg.host)
	}
	var wg sync.WaitGroup
	var open atomic.Int64
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if !closedByServer(s.nc, s.br, 30*time.Second) {
				open.Add(1)
			}
		}()
	}
	wg.Wait()
	if k := open.Load(); k > 0 {
		t.Fatalf("%d of %d idle keep-alive sockets still open 30 s after a 1 s idle timeout", k, n)
	}
	if err := failed(); err != nil {
		t.Fatalf("the owner could not connect while idle sockets were held: %v", err)
	}
	if ok.Load() == 0 {
		t.Fatal("the owner never completed a connect and health call")
	}
	waitFor(t, "the slot table to drain", func() bool { held, _, _ := tg.g.slots.stats(); return held == 0 })
	if _, evicted, refused := tg.g.slots.stats(); evicted != 0 || refused != 0 {
		t.Fatalf("sockets were evicted (%d) or refused (%d); the idle timeout should have closed them", evicted, refused)
	}
}

// TestInvariant1_PreAuthCapClosesOldestAndOwnerGetsIn: an attacker holds
// the whole unauthenticated cap with silent TCP sockets and then opens N
// more WebSockets that never send connect. The gateway never holds more than
// the cap: each newcomer costs the attacker its own oldest socket. The owner,
// on the same loopback address, still authenticates and calls health.
func TestInvariant1_PreAuthCapClosesOldestAndOwnerGetsIn(t *testing.T) {
	const maxConns, extra = 20, 30
	tg := startGW(t, withLimits(func(l *config.GatewayLimits) {
		l.MaxPreAuthConns, l.MaxPreAuthConnsPerAddr = maxConns, maxConns
		l.HandshakeTimeoutSec, l.ReadTimeoutSec = 120, 120 // only the cap may close them here
	}))
	var tcp []net.Conn
	for range maxConns {
		nc, err := net.Dial("tcp", tg.host)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		tcp = append(tcp, nc)
	}
	waitFor(t, "the cap to fill", func() bool { held, _, _ := tg.g.slots.stats(); return held == maxConns })

	var wss []*websocket.Conn
	for range extra {
		ws, _ := rawConn(t, tg, nil)
		wss = append(wss, ws)
		if held, _, _ := tg.g.slots.stats(); held > maxConns {
			t.Fatalf("gateway holds %d unauthenticated connections, cap %d", held, maxConns)
		}
	}
	for i, nc := range tcp {
		if !closedByServer(nc, nil, 15*time.Second) {
			t.Fatalf("held TCP socket %d was not closed when newer connections needed its slot", i)
		}
	}
	for i, ws := range wss[:extra-maxConns] {
		if code := expectClosed(t, ws); code != -1 {
			t.Fatalf("evicted WebSocket %d: close code %d, want the socket dropped", i, code)
		}
	}

	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatalf("owner refused while the cap was held: %v", err)
	}
	defer c.Close()
	if err := c.Call(ctxT(t), "health", nil, nil); err != nil {
		t.Fatal(err)
	}
	held, evicted, refused := tg.g.slots.stats()
	if held > maxConns-1 || evicted != extra+1 || refused != 0 {
		t.Fatalf("held %d evicted %d refused %d; want ≤%d held (the owner no longer counts), %d evicted, 0 refused",
			held, evicted, refused, maxConns-1, extra+1)
	}
	// The newest attacker sockets are the ones still held.
	last := wss[len(wss)-1]
	writeJSON(t, last, map[string]any{"type": "req", "id": "1", "method": "connect", "params": connectParams("wrong-token-000000000000000")})
	if r := readRes(t, last); r.OK {
		t.Fatal("wrong token accepted")
	}
}

// TestInvariant1_PerAddressCapBehindTrustedProxy: behind a trusted proxy the
// forwarded client address is what the per-address cap counts. One address
// opening many pre-auth WebSockets loses its own oldest ones; another
// address keeps its connections and its owner gets in.
func TestInvariant1_PerAddressCapBehindTrustedProxy(t *testing.T) {
	const perAddr = 4
	tg := startGW(t, withLimits(func(l *config.GatewayLimits) {
		l.MaxPreAuthConns, l.MaxPreAuthConnsPerAddr = 100, perAddr
		l.HandshakeTimeoutSec, l.ReadTimeoutSec = 120, 120
	}), func(c *config.Config, o *Options) { c.Gateway.TrustedProxies = []string{"127.0.0.1"} })
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }

	var bystander []*websocket.Conn
	for range perAddr - 1 {
		ws, _ := rawConn(t, tg, from("203.0.113.8"))
		bystander = append(bystander, ws)
	}
	var attacker []*websocket.Conn
	for range 3 * perAddr {
		ws, _ := rawConn(t, tg, from("203.0.113.7"))
		attacker = append(attacker, ws)
	}
	for i, ws := range attacker[:2*perAddr] {
		if code := expectClosed(t, ws); code != -1 {
			t.Fatalf("attacker socket %d: close code %d, want dropped", i, code)
		}
	}
	tg.g.slots.mu.Lock()
	a, b := tg.g.slots.perKey["ip:203.0.113.7"], tg.g.slots.perKey["ip:203.0.113.8"]
	tg.g.slots.mu.Unlock()
	if a != perAddr || b != perAddr-1 {
		t.Fatalf("slots: attacker %d (want %d), bystander %d (want %d)", a, perAddr, b, perAddr-1)
	}
	// The bystander's connections were not touched: they can still connect.
	writeJSON(t, bystander[0], map[string]any{"type": "req", "id": "1", "method": "connect", "params": connectParams(testToken)})
	if r := readRes(t, bystander[0]); !r.OK {
		t.Fatalf("bystander connect refused: %+v", r.Error)
	}
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Header: from("203.0.113.8")})
	if err != nil {
		t.Fatalf("owner behind the proxy refused: %v", err)
	}
	defer c.Close()
	if err := c.Call(ctxT(t), "health", nil, nil); err != nil {
		t.Fatal(err)
	}
	// Even the attacker's own address is not locked out: a newcomer that
	// authenticates at once gets in.
	c2, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Header: from("203.0.113.7")})
	if err != nil {
		t.Fatalf("owner on the attacker's address refused: %v", err)
	}
	c2.Close()
}

// TestInvariant1_AuthenticatedWebSocketOutlivesHTTPTimeouts: with read,
// write and idle timeouts of one second, an authenticated WebSocket that is
// silent well past them still works. An HTTP keep-alive connection opened
// after it is closed by the idle timeout first, which proves the timeouts
// were in force for the whole time.
func TestInvariant1_AuthenticatedWebSocketOutlivesHTTPTimeouts(t *testing.T) {
	tg := startGW(t, withLimits(func(l *config.GatewayLimits) {
		l.ReadTimeoutSec, l.WriteTimeoutSec, l.IdleTimeoutSec = 1, 1, 1
	}), func(c *config.Config, o *Options) { c.Gateway.TickIntervalMs = 600000 })
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	nc, br := keepAlive(t, tg.host)
	if !closedByServer(nc, br, 30*time.Second) {
		t.Fatal("the idle keep-alive connection was not closed; the timeouts are not in force")
	}
	time.Sleep(time.Second) // a further full timeout, for margin
	if err := c.Call(ctxT(t), "health", nil, nil); err != nil {
		t.Fatalf("authenticated WebSocket died with the HTTP timeouts: %v", err)
	}
	if held, _, _ := tg.g.slots.stats(); held != 0 {
		t.Fatalf("an authenticated WebSocket still holds an unauthenticated slot (%d held)", held)
	}
}

// TestInvariant1_RequestBodyRefusedUnread: a request with a body gets 413
// and its connection is closed at once, without waiting for the body, so a
// slow body cannot keep a slot busy.
func TestInvariant1_RequestBodyRefusedUnread(t *testing.T) {
	tg := startGW(t, withLimits(func(l *config.GatewayLimits) { l.ReadTimeoutSec = 300 }))
	nc, err := net.Dial("tcp", tg.host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_, _ = io.WriteString(nc, "POST /healthz HTTP/1.1\r\nHost: "+tg.host+"\r\nContent-Length: 100000\r\n\r\n")
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", res.StatusCode)
	}
	if !closedByServer(nc, br, 30*time.Second) {
		t.Fatal("connection kept open waiting for the body")
	}
}

// fakeConn is one end of a net.Pipe with a chosen remote address.
type fakeConn struct {
	net.Conn
	closed atomic.Bool
}

func (f *fakeConn) Close() error { f.closed.Store(true); return f.Conn.Close() }

func newFake(t *testing.T) *fakeConn {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	return &fakeConn{Conn: a}
}

func testTable(total, perAddr int, now *time.Time) *preAuth {
	return newPreAuth(slog.New(slog.NewTextHandler(io.Discard, nil)), func() time.Time { return *now },
		func() (int, int) { return total, perAddr })
}

// TestInvariant1_PreAuthTable checks the slot table's choices: per-address
// eviction of that address's oldest idle slot, global eviction from the
// heaviest address, young requests in flight never evicted (the newcomer is
// refused instead), busy slots evicted once older than the grace.
func TestInvariant1_PreAuthTable(t *testing.T) {
	now := time.Unix(1000, 0)
	tb := testTable(6, 3, &now)
	admit := func(key string) (*slotConn, *fakeConn) {
		f := newFake(t)
		return tb.admit(f, key, false), f
	}
	a1, fa1 := admit("ip:198.51.100.1")
	a2, _ := admit("ip:198.51.100.1")
	a3, _ := admit("ip:198.51.100.1")
	if a1 == nil || a2 == nil || a3 == nil {
		t.Fatal("admission refused below the cap")
	}
	// Per-address: the fourth from the same address closes the first.
	a4, _ := admit("ip:198.51.100.1")
	if a4 == nil || !fa1.closed.Load() || a1.state != slotReleased {
		t.Fatal("per-address cap: oldest of the address not evicted")
	}
	b1, fb1 := admit("ip:198.51.100.2")
	b2, _ := admit("ip:198.51.100.2")
	c1, fc1 := admit("ip:198.51.100.3")
	_ = b2
	// Global cap (6) is full: 3 from .1, 2 from .2, 1 from .3. A newcomer
	// from .3 evicts from the heaviest address (.1), not its own or .2.
	if held, _, _ := tb.stats(); held != 6 {
		t.Fatalf("held %d", held)
	}
	c2, _ := admit("ip:198.51.100.3")
	if c2 == nil || a2.state != slotReleased || fb1.closed.Load() || fc1.closed.Load() {
		t.Fatal("global cap: did not evict the oldest slot of the heaviest address")
	}
	_, _ = b1, c1

	// Requests in flight on young connections are not evicted: the
	// newcomer is refused.
	tb2 := testTable(2, 2, &now)
	x1 := tb2.admit(newFake(t), loopbackKey, true)
	x2 := tb2.admit(newFake(t), loopbackKey, true)
	tb2.setState(x1, http.StateActive)
	tb2.setState(x2, http.StateActive)
	if tb2.admit(newFake(t), loopbackKey, true) != nil {
		t.Fatal("evicted a young request in flight")
	}
	// Idle goes first once there is one.
	tb2.setState(x2, http.StateIdle)
	x3 := tb2.admit(newFake(t), loopbackKey, true)
	if x3 == nil || x2.state != slotReleased || x1.state == slotReleased {
		t.Fatal("idle connection not chosen over a busy one")
	}
	tb2.setState(x3, http.StateActive)
	// A connection busy for longer than the grace may be evicted.
	now = now.Add(activeGrace + time.Second)
	if tb2.admit(newFake(t), loopbackKey, true) == nil || x1.state != slotReleased {
		t.Fatal("long-busy connection not evicted")
	}
	_, evicted, refused := tb2.stats()
	if evicted != 2 || refused != 1 {
		t.Fatalf("evicted %d refused %d", evicted, refused)
	}

	// Authentication gives the slot back; a slot evicted first cannot
	// authenticate.
	tb3 := testTable(1, 1, &now)
	y1 := tb3.admit(newFake(t), loopbackKey, true)
	if !tb3.authenticated(y1) {
		t.Fatal("authenticated refused")
	}
	if held, _, _ := tb3.stats(); held != 0 {
		t.Fatal("authenticated connection still counted")
	}
	y2 := tb3.admit(newFake(t), loopbackKey, true)
	tb3.admit(newFake(t), loopbackKey, true) // evicts y2
	if tb3.authenticated(y2) {
		t.Fatal("an evicted connection authenticated")
	}
	// Closing twice releases once.
	y3 := tb3.admit(newFake(t), loopbackKey, true)
	y3.Close()
	y3.Close()
	if held, _, _ := tb3.stats(); held != 0 {
		t.Fatalf("held %d after close", held)
	}
}

// TestInvariant1_RefusalAnswers503: a connection that found no room gets a
// 503 with Retry-After and is closed.
func TestInvariant1_RefusalAnswers503(t *testing.T) {
	now := time.Now()
	tb := testTable(1, 1, &now)
	srv, cli := net.Pipe()
	defer cli.Close()
	tb.refuse(srv)
	go io.WriteString(cli, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
	_ = cli.SetReadDeadline(time.Now().Add(15 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(cli), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") != "1" || !res.Close ||
		!strings.Contains(string(body), "too many unauthenticated connections") {
		t.Fatalf("refusal: %d %v %q", res.StatusCode, res.Header, body)
	}
}

func TestEffectiveLimits(t *testing.T) {
	cfg := config.Default()
	l := EffectiveLimits(cfg, 0)
	if l.MaxPreAuth != 256 || l.MaxPreAuthPerAddr != 32 || l.IdleTimeout != 30*time.Second || l.HandshakeTimeout != 10*time.Second {
		t.Fatalf("defaults: %+v", l)
	}
	// A small open-file limit lowers the caps to a quarter of it.
	if l := EffectiveLimits(cfg, 256); l.MaxPreAuth != 64 || l.MaxPreAuthPerAddr != 32 {
		t.Fatalf("nofile 256: %+v", l)
	}
	if l := EffectiveLimits(cfg, 40); l.MaxPreAuth != minPreAuthBudget || l.MaxPreAuthPerAddr != minPreAuthBudget {
		t.Fatalf("nofile 40: %+v", l)
	}
	if OpenFileLimit() == 0 && runtime.GOOS == "linux" {
		t.Fatal("no open-file limit on linux")
	}
}
