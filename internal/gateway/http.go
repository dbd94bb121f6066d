package gateway

import (
	"net/http"
	"strings"

	"github.com/coder/websocket"
)

// Handler is the gateway's HTTP handler: /healthz, the Control UI, and the
// WebSocket upgrade on "/".
func (g *Gateway) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		// Reveals nothing beyond liveness: no version, no config.
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte(`{"ok":true}` + "\n"))
	})
	mux.Handle("GET /ui/", g.uiAssets())
	mux.HandleFunc("/", g.serveRoot)
	return g.limitRequests(securityHeaders(g.checkHost(mux)))
}

// checkHost rejects requests whose Host does not name this machine (DNS
// rebinding). /healthz is exempt so that probes by IP or container name work;
// it reveals nothing.
func (g *Gateway) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" && !hostAllowed(r.Host, g.config().names) {
			http.Error(w, "talon: host not allowed (hint: reach the gateway by IP, localhost, or a host listed in gateway.controlUi.allowedOrigins)", http.StatusForbidden)
			g.log.Warn("request refused: host not allowed", "host", r.Host, "remote", r.RemoteAddr)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

func (g *Gateway) serveRoot(w http.ResponseWriter, r *http.Request) {
	if isWebSocketUpgrade(r) {
		g.serveWS(w, r)
		return
	}
	if r.URL.Path != "/" || (r.Method != http.MethodGet && r.Method != http.MethodHead) {
		http.NotFound(w, r)
		return
	}
	if r.URL.Query().Has("token") {
		// A token in a query string ends up in logs and history; refuse to
		// make that habit work.
		http.Error(w, "talon: never put the token in the URL query; use the #token= fragment", http.StatusBadRequest)
		return
	}
	if !g.config().cfg.Gateway.ControlUI.Enabled {
		http.NotFound(w, r)
		return
	}
	g.serveUIIndex(w, r)
}

func isWebSocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket") &&
		strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade")
}

func (g *Gateway) serveWS(w http.ResponseWriter, r *http.Request) {
	if g.closing.Load() {
		http.Error(w, "talon: gateway is shutting down", http.StatusServiceUnavailable)
		return
	}
	lc := g.config()
	p := resolvePeer(r, lc.proxies)
	if !originAllowed(p.origin, r.Host, lc.cfg.Gateway.ControlUI.AllowedOrigins) {
		g.log.Warn("websocket refused: origin not allowed", "origin", p.origin, "remote", r.RemoteAddr)
		http.Error(w, "talon: origin not allowed (hint: add it to gateway.controlUi.allowedOrigins)", http.StatusForbidden)
		return
	}
	if r.URL.Query().Has("token") || r.URL.Query().Has("password") {
		http.Error(w, "talon: credentials never go in the URL; send them in the connect frame", http.StatusBadRequest)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		// The Origin was checked above, with our own rules.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		g.log.Debug("websocket accept failed", "err", err)
		return
	}
	c := newConn(g, ws, p, slotOf(r))
	if !g.addConn(c) {
		ws.Close(websocket.StatusGoingAway, "gateway stopping")
		return
	}
	g.wg.Add(1)
	defer g.wg.Done()
	defer g.removeConn(c)
	c.serve(r.Context())
}
