package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/config"
)

// Unauthenticated connections (see the package doc, "Resource limits").
//
// Every accepted TCP connection takes a slot in the preAuth table until it
// completes a WebSocket connect handshake or closes. The table is the one
// place where the caps are enforced: the listener asks it before handing a
// connection to net/http, the HTTP middleware asks it again once a request
// has named its client (trusted proxies), and the connect handshake gives
// the slot back.

const (
	// activeGrace protects a request in flight on a young connection from
	// eviction; after it, a connection that is still busy (for instance
	// pipelining requests without end) may be evicted like an idle one.
	activeGrace = 2 * time.Second
	// maxRefusing bounds the connections being answered 503 at once; beyond
	// it a refused connection is closed without an answer.
	maxRefusing = 32
	// refuseDeadline bounds the time spent answering a refused connection.
	refuseDeadline = time.Second
	// minPreAuthBudget is the smallest cap derived from the open-file limit.
	minPreAuthBudget = 16
	// loopbackKey groups every loopback client (all of 127.0.0.0/8 and ::1):
	// a local process can pick any of those source addresses.
	loopbackKey = "loopback"
)

// slotState is where an unauthenticated connection is in its life.
type slotState uint8

const (
	slotNew      slotState = iota // accepted, no request read yet
	slotActive                    // an HTTP request is being served
	slotIdle                      // HTTP keep-alive, between requests
	slotUpgraded                  // WebSocket, waiting for its connect frame
	slotReleased                  // authenticated, closed or evicted; no longer counted
)

// idle reports whether a connection in this state is waiting on its client.
func (s slotState) idle() bool { return s == slotNew || s == slotIdle || s == slotUpgraded }

// Limits are the effective connection limits of a gateway.
type Limits struct {
	IdleTimeout      time.Duration
	ReadTimeout      time.Duration
	WriteTimeout     time.Duration
	HandshakeTimeout time.Duration
	// MaxPreAuth is gateway.limits.maxPreAuthConns, lowered to a quarter of
	// the open-file limit when that is smaller.
	MaxPreAuth        int
	MaxPreAuthPerAddr int
	// OpenFileLimit is the soft RLIMIT_NOFILE (0: unknown on this platform).
	OpenFileLimit uint64
}

// EffectiveLimits computes the limits a gateway would apply with cfg and the
// given open-file limit (0: unknown, no lowering).
func EffectiveLimits(cfg *config.Config, openFiles uint64) Limits {
	l := cfg.Gateway.Limits
	sec := func(n int) time.Duration { return time.Duration(n) * time.Second }
	out := Limits{
		IdleTimeout:       sec(l.IdleTimeoutSec),
		ReadTimeout:       sec(l.ReadTimeoutSec),
		WriteTimeout:      sec(l.WriteTimeoutSec),
		HandshakeTimeout:  sec(l.HandshakeTimeoutSec),
		MaxPreAuth:        max(l.MaxPreAuthConns, 1),
		MaxPreAuthPerAddr: max(l.MaxPreAuthConnsPerAddr, 1),
		OpenFileLimit:     openFiles,
	}
	if openFiles > 0 {
		budget := max(openFiles/4, minPreAuthBudget)
		if uint64(out.MaxPreAuth) > budget {
			out.MaxPreAuth = int(budget)
		}
	}
	out.MaxPreAuthPerAddr = min(out.MaxPreAuthPerAddr, out.MaxPreAuth)
	return out
}

// OpenFileLimit is this process's soft RLIMIT_NOFILE, 0 where unknown. The
// Go runtime has already raised it to the hard limit at start-up (and lowers
// it again for child processes), so the gateway does not change it.
func OpenFileLimit() uint64 { return openFileLimit() }

// preAuth is the table of unauthenticated connections.
type preAuth struct {
	log    *slog.Logger
	now    func() time.Time
	limits func() (total, perAddr int)
	grace  time.Duration // activeGrace; tests change it

	mu       sync.Mutex
	conns    map[*slotConn]struct{}
	perKey   map[string]int
	seq      uint64
	refusing int
	// Counters for tests, benchmarks and the rate-limited warning.
	evicted, refused int
	lastWarn         time.Time
	warnEvicted      int
	warnRefused      int
}

func newPreAuth(log *slog.Logger, now func() time.Time, limits func() (int, int)) *preAuth {
	return &preAuth{log: log, now: now, limits: limits, grace: activeGrace, conns: map[*slotConn]struct{}{}, perKey: map[string]int{}}
}

// slotConn is an accepted connection while it holds (or held) a slot.
type slotConn struct {
	net.Conn
	t *preAuth
	// Guarded by t.mu.
	key      string // client address group
	exempt   bool   // loopback or a trusted proxy: only the global cap applies
	seq      uint64
	accepted time.Time
	state    slotState
}

// Close gives the slot back and closes the socket.
func (c *slotConn) Close() error {
	c.t.release(c)
	return c.Conn.Close()
}

// CloseWrite keeps net/http's graceful close (it looks for this method).
func (c *slotConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// clientKey groups client addresses for the per-address cap the way the
// auth limiter does (IPv6 by /64), with every loopback address as one group.
func clientKey(a netip.Addr) (key string, exempt bool) {
	if !a.IsValid() {
		return "ip:?", false
	}
	if a.Unmap().IsLoopback() {
		return loopbackKey, true
	}
	return addrKey(a), false
}

// acceptKey is the group of a freshly accepted connection: its direct peer.
// A trusted proxy carries many clients, so it is exempt from the per-address
// cap until a request names the client behind it (rekey).
func acceptKey(remote net.Addr, proxies proxySet) (string, bool) {
	var a netip.Addr
	if ap, err := netip.ParseAddrPort(remote.String()); err == nil {
		a = ap.Addr().Unmap()
	}
	key, exempt := clientKey(a)
	if !exempt && proxies.contains(a) {
		return "proxy:" + a.String(), true
	}
	return key, exempt
}

// admit takes a slot for a new connection, closing the oldest idle
// connections of its address group or of the heaviest group when a cap is
// reached. It returns nil when there is no room; the caller then refuses.
func (t *preAuth) admit(raw net.Conn, key string, exempt bool) *slotConn {
	t.mu.Lock()
	total, perAddr := t.limits()
	c := &slotConn{Conn: raw, t: t, key: key, exempt: exempt, accepted: t.now()}
	victims, ok := t.makeRoomLocked(c, total, perAddr)
	if ok {
		t.seq++
		c.seq = t.seq
		t.conns[c] = struct{}{}
		t.perKey[key]++
	} else {
		t.refused++
		t.warnRefused++
	}
	t.maybeWarnLocked()
	t.mu.Unlock()
	closeVictims(victims)
	if !ok {
		return nil
	}
	return c
}

// makeRoomLocked evicts until c fits under both caps. It fails, evicting
// nothing more, when a cap is reached and nobody in its scope may be evicted.
func (t *preAuth) makeRoomLocked(c *slotConn, total, perAddr int) (victims []*slotConn, ok bool) {
	now := t.now()
	for !c.exempt && t.perKey[c.key] >= perAddr {
		v := t.pickLocked(c, c.key, now)
		if v == nil {
			return victims, false
		}
		victims = t.evictLocked(v, victims)
	}
	for len(t.conns) >= total {
		v := t.pickLocked(c, "", now)
		if v == nil {
			return victims, false
		}
		victims = t.evictLocked(v, victims)
	}
	return victims, true
}

// evictLocked takes v's slot away; the caller closes its socket once the
// lock is released.
func (t *preAuth) evictLocked(v *slotConn, victims []*slotConn) []*slotConn {
	t.releaseLocked(v)
	t.evicted++
	t.warnEvicted++
	return append(victims, v)
}

// pickLocked chooses whom to evict for c: within group key, or (key "")
// from the group holding the most slots. Idle connections go first, then
// connections busy for longer than activeGrace; oldest first. A request in
// flight on a young connection is never picked.
func (t *preAuth) pickLocked(c *slotConn, key string, now time.Time) *slotConn {
	var best *slotConn
	better := func(a, b *slotConn) bool { // is a a better victim than b?
		if key == "" && t.perKey[a.key] != t.perKey[b.key] {
			return t.perKey[a.key] > t.perKey[b.key]
		}
		if a.state.idle() != b.state.idle() {
			return a.state.idle()
		}
		return a.seq < b.seq
	}
	for v := range t.conns {
		if v == c || (key != "" && v.key != key) {
			continue
		}
		if !v.state.idle() && now.Sub(v.accepted) < t.grace {
			continue
		}
		if best == nil || better(v, best) {
			best = v
		}
	}
	return best
}

func (t *preAuth) releaseLocked(c *slotConn) {
	if c.state == slotReleased {
		return
	}
	c.state = slotReleased
	delete(t.conns, c)
	if t.perKey[c.key]--; t.perKey[c.key] <= 0 {
		delete(t.perKey, c.key)
	}
}

func (t *preAuth) release(c *slotConn) {
	t.mu.Lock()
	t.releaseLocked(c)
	t.mu.Unlock()
}

// authenticated gives the slot back once the connect handshake succeeded.
// It reports false when the connection was evicted meanwhile.
func (t *preAuth) authenticated(c *slotConn) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.state == slotReleased {
		return false
	}
	t.releaseLocked(c)
	return true
}

// setState follows net/http's connection states.
func (t *preAuth) setState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*slotConn)
	if !ok {
		return
	}
	if s == http.StateClosed {
		t.release(c)
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if c.state == slotReleased {
		return
	}
	switch s {
	case http.StateActive:
		c.state = slotActive
	case http.StateIdle:
		c.state = slotIdle
	case http.StateHijacked:
		c.state = slotUpgraded
	}
}

// rekey moves a connection to the group of the client a request names (it
// differs from the direct peer only behind a trusted proxy) and applies that
// group's cap. It reports false when there is no room: the request is then
// refused.
func (t *preAuth) rekey(c *slotConn, key string, exempt bool) bool {
	t.mu.Lock()
	if c.state == slotReleased || (c.key == key && c.exempt == exempt) {
		t.mu.Unlock()
		return true
	}
	if t.perKey[c.key]--; t.perKey[c.key] <= 0 {
		delete(t.perKey, c.key)
	}
	c.key, c.exempt = key, exempt
	_, perAddr := t.limits()
	// c is counted under its new key while room is made, so the cap holds
	// with c included.
	t.perKey[key]++
	var victims []*slotConn
	ok := true
	if !exempt {
		now := t.now()
		for t.perKey[key] > perAddr {
			v := t.pickLocked(c, key, now)
			if v == nil {
				ok = false
				break
			}
			victims = t.evictLocked(v, victims)
		}
	}
	if !ok {
		t.refused++
		t.warnRefused++
	}
	t.maybeWarnLocked()
	t.mu.Unlock()
	closeVictims(victims)
	return ok
}

// closeVictims closes evicted connections' sockets. Whatever goroutine
// serves them then fails its read and ends.
func closeVictims(vs []*slotConn) {
	for _, v := range vs {
		_ = v.Conn.Close()
	}
}

// maybeWarnLocked logs evictions and refusals at most once a minute, so a
// flood cannot flood the log too.
func (t *preAuth) maybeWarnLocked() {
	if t.warnEvicted == 0 && t.warnRefused == 0 {
		return
	}
	now := t.now()
	if now.Sub(t.lastWarn) < time.Minute {
		return
	}
	total, perAddr := t.limits()
	t.log.Warn("unauthenticated connection cap reached; closed the oldest idle connections",
		"evicted", t.warnEvicted, "refused", t.warnRefused, "held", len(t.conns), "max", total, "maxPerAddr", perAddr)
	t.lastWarn, t.warnEvicted, t.warnRefused = now, 0, 0
}

// stats reports the slots held and the evictions and refusals so far.
func (t *preAuth) stats() (held, evicted, refused int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns), t.evicted, t.refused
}

// refuse answers a connection that found no room with 503 and Retry-After,
// or closes it at once when too many are being answered already.
func (t *preAuth) refuse(raw net.Conn) {
	t.mu.Lock()
	if t.refusing >= maxRefusing {
		t.mu.Unlock()
		_ = raw.Close()
		return
	}
	t.refusing++
	t.mu.Unlock()
	go func() {
		defer func() {
			t.mu.Lock()
			t.refusing--
			t.mu.Unlock()
		}()
		defer raw.Close()
		_ = raw.SetDeadline(time.Now().Add(refuseDeadline))
		// Read the request first: closing with it unread would reset the
		// connection and the client might never see the answer.
		_, _ = http.ReadRequest(bufio.NewReader(io.LimitReader(raw, 32<<10)))
		_, _ = io.WriteString(raw, refusal())
	}()
}

// refusal is the whole answer to a refused connection.
func refusal() string {
	const body = "talon: too many unauthenticated connections; try again shortly\n"
	return "HTTP/1.1 503 Service Unavailable\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"X-Content-Type-Options: nosniff\r\n" +
		"Retry-After: 1\r\n" +
		"Connection: close\r\n" +
		"Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
}

// limitListener admits every accepted connection through the preAuth table.
type limitListener struct {
	net.Listener
	g *Gateway
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		raw, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		key, exempt := acceptKey(raw.RemoteAddr(), l.g.config().proxies)
		if c := l.g.slots.admit(raw, key, exempt); c != nil {
			return c, nil
		}
		l.g.slots.refuse(raw)
	}
}

type slotCtxKey struct{}

// slotOf is the connection slot behind a request (nil outside Run).
func slotOf(r *http.Request) *slotConn {
	c, _ := r.Context().Value(slotCtxKey{}).(*slotConn)
	return c
}

func withSlot(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*slotConn); ok {
		return context.WithValue(ctx, slotCtxKey{}, c)
	}
	return ctx
}

// limitRequests is the HTTP side of the limits: a request counts against the
// address it names (trusted proxies), and requests with a body are refused
// unread — no endpoint takes one, and draining it would let a slow client
// keep a slot busy.
func (g *Gateway) limitRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
			refuseBody(w)
			return
		}
		if c := slotOf(r); c != nil {
			p := resolvePeer(r, g.config().proxies)
			key, exempt := clientKey(p.addr)
			if !g.slots.rekey(c, key, exempt) {
				w.Header().Set("Connection", "close")
				w.Header().Set("Retry-After", "1")
				http.Error(w, "talon: too many unauthenticated connections from your address; try again shortly", http.StatusServiceUnavailable)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuseBody answers 413 and closes the connection without reading the
// body. net/http would otherwise drain up to 256 KiB of it before closing,
// as slowly as the client cares to send it.
func refuseBody(w http.ResponseWriter) {
	const body = "talon: the gateway takes no request bodies\n"
	nc, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		w.Header().Set("Connection", "close")
		http.Error(w, strings.TrimSpace(body), http.StatusRequestEntityTooLarge)
		return
	}
	defer nc.Close()
	_ = nc.SetWriteDeadline(time.Now().Add(refuseDeadline))
	_, _ = io.WriteString(nc, "HTTP/1.1 413 Request Entity Too Large\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n"+
		"X-Content-Type-Options: nosniff\r\n"+
		"Connection: close\r\n"+
		"Content-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
}
