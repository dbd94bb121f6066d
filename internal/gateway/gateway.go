// Package gateway is Talon's front door: one port serving HTTP (/healthz, the
// Control UI) and the WebSocket protocol of package protocol.
//
// Invariant (DESIGN §3, 1–2): nothing is reachable beyond loopback without
// authentication — New refuses such a configuration — and every WebSocket
// connection must authenticate in its first frame. Shared secrets are compared
// in constant time; failed attempts are rate limited per client address and,
// for browsers, per Origin (loopback is exempt only for non-browser clients).
// Browser connections are accepted only from the gateway's own origin or
// gateway.controlUi.allowedOrigins, never from "null"; the Host header must
// name this machine (DNS rebinding); forwarded headers count only from
// gateway.trustedProxies. Tokens never travel in URLs: the Control UI reads
// its token from the URL fragment, which browsers do not send.
//
// Resource limits (DESIGN §3, 1): a client that has not authenticated cannot
// hold the gateway's sockets. Every accepted connection takes a slot in one
// table (limits.go) from accept until its WebSocket completes connect; plain
// HTTP connections never authenticate and hold theirs until they close.
// Slots are capped globally (gateway.limits.maxPreAuthConns, also kept at or
// below a quarter of RLIMIT_NOFILE) and per client address
// (maxPreAuthConnsPerAddr, grouped like the auth limiter, behind
// trustedProxies by the forwarded address). The Go runtime already raises
// the soft RLIMIT_NOFILE to the hard limit at start-up (and restores it for
// child processes), so the gateway only reads it; a quarter leaves the rest
// for authenticated clients, the store, logs and outbound connections.
// Every pre-auth state has a
// deadline: readTimeoutSec for a request, idleTimeoutSec between keep-alive
// requests, writeTimeoutSec for a response, handshakeTimeoutSec for the
// connect frame; requests with a body are refused unread. net/http clears a
// connection's deadlines when the WebSocket hijacks it, so none of this
// touches an authenticated WebSocket.
//
// The owner can always get in: when a cap is reached the newcomer is
// admitted and the oldest idle connection of its address (per-address cap)
// or of the address holding the most slots (global cap) is closed instead.
// Refusing newcomers would let anyone who holds the cap, idle, lock
// everyone else out until they let go; with eviction, holding sockets buys
// nothing — a client that handshakes promptly finishes long before it becomes
// the oldest. Every loopback address (127.0.0.0/8, ::1) is one group, since
// a local process can choose its source address, and that group is bounded
// only by the global cap: a local attacker shares the owner's address, so a
// per-address cap would make the owner's window as short as that cap. Only
// a newcomer that finds every slot in its scope busy with a request in
// flight on a connection younger than 2 s is refused (503, Retry-After).
// What remains is a flood: to push the owner's connection out before its
// handshake completes, a client must open more connections than the cap
// within that handshake. On loopback (cap 256, a handshake of about a
// millisecond) that is some 250,000 connections a second — a CPU denial of
// service no connection table stops. A remote client that shares the
// owner's address group (the same IPv6 /64, NAT or forwarded address) needs
// only maxPreAuthConnsPerAddr per handshake round trip.
//
// Session model: there are no cookies. A WebSocket connection is the session;
// its scopes are fixed at connect time, each method names the scope it needs,
// and unknown methods fail closed. A browser running the Control UI proves
// the shared secret once, to enrol a non-extractable Ed25519 key (or joins
// with a one-time invitation), and afterwards signs each connect with that
// key alone, getting at most the enrolled scopes (console_devices.go).
package gateway

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// Fixed limits (DESIGN: at most 64 KiB before connect; the connect deadline
// and the HTTP timeouts are in gateway.limits).
const (
	preConnectMaxBytes = 64 << 10
	shutdownGrace      = 5 * time.Second
	writeTimeout       = 10 * time.Second
	outQueueLen        = 128
	maxInFlight        = 32
)

// Options are what a Gateway needs from the process that runs it.
type Options struct {
	Config     *config.Config
	ConfigPath string           // the file config.patch writes and hot reload watches; "" disables both
	Env        config.LookupEnv // for ${VAR} substitution on reload
	Store      *store.Store     // may be nil in tests
	Agent      *agent.Agent     // nil: chat methods answer UNAVAILABLE
	Approvals  *approvals.Manager
	// Pairing resolves channel pairing requests; Channels reports the
	// channel adapters and sends --notify messages. Nil: not running.
	Pairing  *access.Pairing
	Channels Channels
	// Audit records security events in the audit log; nil records nothing.
	Audit     auditlog.Func
	AuditTail AuditTail
	// AuditVerify and SecurityAudit serve the Control UI's audit and
	// security pages (console.go); nil answers UNAVAILABLE.
	AuditVerify   AuditVerify
	SecurityAudit SecurityAudit
	// SkillsStatus answers skills.status: the agent's skills in OpenClaw's
	// report shape (nil: skills are not available in this gateway).
	SkillsStatus func(ctx context.Context, agentID string) (any, error)
	// OnConfig is told of every config applied by hot reload or config.patch
	// (the agent runtime reads budgets, models and tools from it).
	OnConfig func(*config.Config)
	Logger   *logging.Logger
	LogFile  string // for logs.tail
	// Scrub removes every known secret, in every encoding, from the log
	// lines logs.tail serves (the process's one scrubber,
	// security.LiveScrubber.Scrub): a line written before a secret was
	// known, or by an earlier run, may hold it. Nil applies only the
	// credential-format redaction of logging.Tail.
	Scrub    func(string) string
	Version  string
	StateDir string
	// Listener, when set, is used instead of listening on the configured
	// address (tests).
	Listener net.Listener
	// Ready is called once with the listening address.
	Ready func(addr net.Addr)
	// Now is the clock (tests); nil means time.Now.
	Now func() time.Time
	// Hostname is this machine's name for the Host check; "" means os.Hostname.
	Hostname string
	// ReloadInterval is how often the config file is polled; 0 means 1s.
	ReloadInterval time.Duration
	// HandshakeTimeout bounds the wait for the connect frame; 0 means
	// gateway.limits.handshakeTimeoutSec.
	HandshakeTimeout time.Duration
	// OpenFileLimit replaces the process's RLIMIT_NOFILE in the connection
	// caps (tests); 0 means read it.
	OpenFileLimit uint64
}

// Gateway is the running server. Create it with New, run it with Run.
type Gateway struct {
	opts Options
	// rec records the intent of every side effect before it and its
	// outcome after (auditlog.Recorder).
	rec *auditlog.Recorder

	summaryMu sync.Mutex
	summary   map[string]any // sessionSummary's last answer, at summaryAt
	summaryAt time.Time

	log     *slog.Logger
	cfg     atomic.Pointer[liveConfig]
	limiter *authLimiter
	slots   *preAuth // unauthenticated connections
	methods map[string]method
	started time.Time
	host    string   // listen host
	addr    net.Addr // set by Run before serving

	mu    sync.Mutex
	conns map[*conn]struct{}
	wg    sync.WaitGroup // one per connection goroutine
	// closing is set once shutdown starts; new connections are refused.
	closing atomic.Bool

	configMu sync.Mutex // serialises config.patch writes
	devices  deviceRegistry
	idem     idempotency
	runs     runRegistry   // operator-started turns, for agent.wait
	subs     subscriptions // OpenClaw session subscriptions per connection
}

// liveConfig is the config plus what is derived from it, swapped atomically on
// hot reload.
type liveConfig struct {
	cfg     *config.Config
	proxies proxySet
	names   map[string]bool
}

// New checks the configuration and prepares a gateway. It refuses to listen
// beyond loopback without authentication, and refuses a missing or weak
// secret in any mode that needs one.
func New(opts Options) (*Gateway, error) {
	if opts.Config == nil {
		return nil, errors.New("gateway.New: no config")
	}
	if opts.Logger == nil {
		return nil, errors.New("gateway.New: no logger")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Hostname == "" {
		opts.Hostname, _ = os.Hostname()
	}
	if opts.ReloadInterval == 0 {
		opts.ReloadInterval = time.Second
	}
	if opts.OpenFileLimit == 0 {
		opts.OpenFileLimit = openFileLimit()
	}
	gc := opts.Config.Gateway
	host, err := bindHost(gc.Bind, gc.CustomBindHost, net.InterfaceAddrs)
	if err != nil {
		return nil, err
	}
	if opts.Listener != nil {
		if ta, ok := opts.Listener.Addr().(*net.TCPAddr); ok {
			host = ta.IP.String()
		}
	}
	if err := checkAuth(opts.Config, isLoopbackHost(host)); err != nil {
		return nil, err
	}
	g := &Gateway{
		opts:    opts,
		rec:     &auditlog.Recorder{Sink: opts.Audit},
		log:     opts.Logger.Logger.With("component", "gateway"),
		limiter: newAuthLimiter(opts.Now),
		conns:   map[*conn]struct{}{},
		host:    host,
	}
	if err := g.setConfig(opts.Config); err != nil {
		return nil, err
	}
	g.slots = newPreAuth(g.log, opts.Now, func() (int, int) {
		l := g.limits()
		return l.MaxPreAuth, l.MaxPreAuthPerAddr
	})
	g.methods = g.withConsoleMethods(g.methodTable())
	return g, nil
}

// checkAuth enforces invariant 1 on a config about to be served.
func checkAuth(cfg *config.Config, loopback bool) error {
	a := cfg.Gateway.Auth
	switch a.Mode {
	case "none":
		if !loopback {
			return fmt.Errorf("%w: gateway.auth.mode is \"none\" with bind %q (hint: set gateway.auth.mode to \"token\" with a token, or bind \"loopback\")", ErrInsecureBind, cfg.Gateway.Bind)
		}
	case "token", "":
		if a.Token.IsZero() {
			return errors.New("gateway.auth.token is not set (hint: set it in the config or TALON_GATEWAY_TOKEN; `talon doctor --generate-token` makes one)")
		}
		if a.Token.Len() < 24 {
			return fmt.Errorf("gateway.auth.token is too short (%d chars); use at least 24 random characters (hint: talon doctor --generate-token)", a.Token.Len())
		}
	case "password":
		if a.Password.IsZero() {
			return errors.New("gateway.auth.password is not set (hint: set it in the config or TALON_GATEWAY_PASSWORD)")
		}
	default:
		return fmt.Errorf("gateway.auth.mode: %q is not one of token|password|none", a.Mode)
	}
	return nil
}

func (g *Gateway) setConfig(c *config.Config) error {
	ps, err := parseProxies(c.Gateway.TrustedProxies)
	if err != nil {
		return err
	}
	g.cfg.Store(&liveConfig{cfg: c, proxies: ps, names: hostNames(g.opts.Hostname, c.Gateway.ControlUI.AllowedOrigins)})
	return nil
}

func (g *Gateway) config() *liveConfig { return g.cfg.Load() }

// limits are the effective limits of the running config.
func (g *Gateway) limits() Limits {
	return EffectiveLimits(g.config().cfg, g.opts.OpenFileLimit)
}

// handshakeTimeout bounds the wait for the connect frame.
func (g *Gateway) handshakeTimeout() time.Duration {
	if g.opts.HandshakeTimeout > 0 {
		return g.opts.HandshakeTimeout
	}
	return g.limits().HandshakeTimeout
}

// Run listens and serves until ctx is cancelled, then shuts down in two
// phases: stop accepting and tell every client (shutdown event, close 1001),
// then force-close whatever is left after the grace period.
func (g *Gateway) Run(ctx context.Context) error {
	ln := g.opts.Listener
	if ln == nil {
		port := g.config().cfg.Gateway.Port
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(g.host, strconv.Itoa(port)))
		if err != nil {
			return fmt.Errorf("gateway: listen on %s:%d: %w (hint: another process may hold the port; `talon doctor` shows what is listening, or use --port)", g.host, port, err)
		}
	}
	g.started = g.opts.Now()
	g.addr = ln.Addr()
	// Read/WriteTimeout end at the hijack: net/http clears a connection's
	// deadlines when it hands it to the WebSocket, so they never cut an
	// authenticated WebSocket (TestInvariant1_AuthenticatedWebSocketOutlivesHTTPTimeouts).
	lim := g.limits()
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: lim.ReadTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ConnContext:       withSlot,
		ConnState:         g.slots.setState,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(&limitListener{Listener: ln, g: g}) }()

	bg, stopBG := context.WithCancel(context.Background())
	defer stopBG()
	go g.tickLoop(bg)
	if g.opts.ConfigPath != "" && g.config().cfg.Gateway.Reload.Mode != "off" {
		go config.Watch(bg, g.opts.ConfigPath, g.opts.Env, g.opts.ReloadInterval, g.onReload, func(err error) {
			g.log.Warn("config reload rejected; keeping the running config", "err", err)
		})
	}
	g.log.Info("gateway listening", "addr", ln.Addr().String(), "auth", g.config().cfg.Gateway.Auth.Mode,
		"maxPreAuthConns", lim.MaxPreAuth, "maxPreAuthConnsPerAddr", lim.MaxPreAuthPerAddr, "openFileLimit", lim.OpenFileLimit)
	if g.opts.Ready != nil {
		g.opts.Ready(ln.Addr())
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	g.log.Info("gateway shutting down")
	g.closing.Store(true)
	shutCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	// Phase 1: stop accepting, tell everyone, close politely.
	g.broadcast(protocol.EventShutdown, map[string]any{"reason": "gateway stopping", "restartExpectedMs": nil})
	for _, c := range g.snapshotConns() {
		c.closeWith(1001, "gateway stopping")
	}
	_ = srv.Shutdown(shutCtx)
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-shutCtx.Done():
		// Phase 2: force.
		for _, c := range g.snapshotConns() {
			c.ws.CloseNow()
		}
		_ = srv.Close()
		<-done
	}
	return nil
}

func (g *Gateway) onReload(old, cur *config.Config, live, restart []string) {
	applied := g.applyConfig(cur, live, restart)
	if applied != nil {
		g.log.Warn("config reload rejected", "err", applied)
	}
}

// applyConfig installs a new config for the settings that can change live and
// logs the rest as needing a restart. Restart-only settings keep their
// running values.
func (g *Gateway) applyConfig(cur *config.Config, live, restart []string) error {
	running := g.config().cfg
	next := *cur
	// Keep what cannot change without a restart.
	next.Gateway.Port = running.Gateway.Port
	next.Gateway.Bind = running.Gateway.Bind
	next.Gateway.CustomBindHost = running.Gateway.CustomBindHost
	next.Gateway.Auth.Mode = running.Gateway.Auth.Mode
	next.Gateway.MaxPayloadBytes = running.Gateway.MaxPayloadBytes
	next.Gateway.TickIntervalMs = running.Gateway.TickIntervalMs
	next.Gateway.ControlUI.Enabled = running.Gateway.ControlUI.Enabled
	next.Gateway.Limits.IdleTimeoutSec = running.Gateway.Limits.IdleTimeoutSec
	next.Gateway.Limits.ReadTimeoutSec = running.Gateway.Limits.ReadTimeoutSec
	next.Gateway.Limits.WriteTimeoutSec = running.Gateway.Limits.WriteTimeoutSec
	next.Logging.Format = running.Logging.Format
	next.Logging.File = running.Logging.File
	if next.Gateway.Auth.Token.IsZero() && next.Gateway.Auth.Mode == "token" {
		// An env-provided token is not in the file; keep it.
		next.Gateway.Auth.Token = running.Gateway.Auth.Token
	}
	if next.Gateway.Auth.Password.IsZero() {
		next.Gateway.Auth.Password = running.Gateway.Auth.Password
	}
	if err := checkAuth(&next, isLoopbackHost(g.host)); err != nil {
		return err
	}
	if err := g.setConfig(&next); err != nil {
		return err
	}
	if g.opts.OnConfig != nil {
		g.opts.OnConfig(&next)
	}
	if err := g.opts.Logger.SetLevel(next.Logging.Level); err != nil {
		g.log.Warn("logging.level", "err", err)
	}
	g.opts.Logger.SetRedact(next.Logging.RedactSensitive != "off")
	if len(live) > 0 {
		g.log.Info("config reloaded", "applied", live)
	}
	if len(restart) > 0 {
		g.log.Warn("config changed; restart required for these keys", "keys", restart)
	}
	return nil
}

func (g *Gateway) tickLoop(ctx context.Context) {
	iv := time.Duration(g.config().cfg.Gateway.TickIntervalMs) * time.Millisecond
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			g.broadcast(protocol.EventTick, map[string]any{"ts": now.UnixMilli()})
		}
	}
}

func (g *Gateway) addConn(c *conn) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closing.Load() {
		return false
	}
	g.conns[c] = struct{}{}
	return true
}

func (g *Gateway) removeConn(c *conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
	g.subs.drop(c)
}

func (g *Gateway) snapshotConns() []*conn {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		out = append(out, c)
	}
	return out
}

// broadcast sends an event to every connection that finished its handshake.
func (g *Gateway) broadcast(event string, payload any) {
	g.broadcastScoped("", event, payload)
}

// broadcastScoped sends an event to the connections holding scope.
func (g *Gateway) broadcastScoped(scope, event string, payload any) {
	for _, c := range g.snapshotConns() {
		if c.ready.Load() && c.hasScope(scope) {
			c.sendEvent(event, payload)
		}
	}
}

// ConnCount is the number of open WebSocket connections.
func (g *Gateway) ConnCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// begin records a side effect a method is about to make (kind, the
// operator, its subject) through the one audit recorder, and returns the
// error that must stop it: a change the audit log cannot record is not
// made. dispatch records the outcome when the method returns.
func (g *Gateway) begin(ctx context.Context, c *conn, kind, subject string, data map[string]any) *protocol.Error {
	act, err := g.rec.Begin(ctx, auditlog.Intent{Kind: kind, Actor: "operator:" + c.client.ID, Subject: subject, Data: data})
	if err != nil {
		g.log.Error("method refused: the audit log could not record it", "kind", kind, "subject", subject, "err", err)
		return protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if ca, ok := ctx.Value(callAuditKey{}).(*callAudit); ok {
		ca.mu.Lock()
		ca.acts = append(ca.acts, act)
		ca.mu.Unlock()
	}
	return nil
}

// callAudit holds the actions one request began (begin), for dispatch to
// record their outcome.
type callAudit struct {
	mu   sync.Mutex
	acts []*auditlog.Action
}

type callAuditKey struct{}

func (g *Gateway) audit(kind, actor, subject string, data any) {
	if g.opts.Audit != nil {
		g.opts.Audit(context.Background(), kind, actor, subject, data)
	}
}
