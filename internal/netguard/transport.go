package netguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Policy says where outbound requests may go. The zero Policy allows public
// addresses on ports 80 and 443 only.
type Policy struct {
	// OnlyHosts, if not empty, are the only hosts reachable (besides
	// AllowedOrigins), redirects included; e.g.
	// tools.web.fetch.allowedHostnames. Each entry is an exact host name
	// (case-insensitive, IDNA-normalised) or IP address, or "*.example.com"
	// for every name below example.com (not example.com itself), optionally
	// with ":port": an entry without a port allows Ports, one with a port
	// allows that port only. A listed host may also resolve to a private
	// address; metadata endpoints stay closed. See CheckHostEntry.
	OnlyHosts []string
	// AllowedOrigins are the owner's configured provider and channel base
	// URLs (e.g. "http://127.0.0.1:11434/v1"; any path is ignored). A request
	// whose scheme://host:port equals one exactly may reach a private
	// address, on that port even if it is not in Ports.
	AllowedOrigins []string
	// AllowPrivate opens private, loopback, CGNAT and ULA addresses
	// (tools.web.fetch.allowPrivateNetwork). Metadata endpoints, link-local
	// IPv4, unspecified, multicast and reserved addresses stay closed.
	AllowPrivate bool
	// Ports allowed for every host; empty means 80 and 443. An exact
	// AllowedOrigins match is allowed on its own port in addition.
	Ports []int
	// CredentialHeaders names headers, besides the default set (see
	// IsCredentialHeader), that carry credentials: they are removed from a
	// request that a redirect takes to another origin.
	CredentialHeaders []string
	// MaxRedirects is the most redirects a request follows; 0 means 3 and
	// a negative value means none.
	MaxRedirects int
	// SameOriginRedirects refuses a redirect that leaves the first
	// request's origin (scheme, host, port). API clients (model providers,
	// chat platforms, the search backend) set it: their APIs do not
	// redirect elsewhere, and a 307/308 would re-send the request body (a
	// prompt, a message) to whoever the redirect names.
	SameOriginRedirects bool
	// MaxBodyBytes caps a response body; reading past it returns
	// ErrBodyTooLarge. 0 means 10 MiB.
	MaxBodyBytes int64
	// Timeout bounds a whole request made with Client, body included, and
	// the wait for response headers of any request; 0 means 30s.
	Timeout time.Duration
	// Resolver resolves names at dial time; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// Hooks replace netguard's contact with the real network, for tests;
	// nil in production.
	Hooks *Hooks
}

// Hooks let tests put a pretend network under a Policy (see
// internal/testutil/fakenet). Whatever they return is checked exactly like
// the real thing: every resolved address, every port, every redirect.
type Hooks struct {
	// LookupIP, if set, replaces Resolver.
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
	// Dial, if set, opens the connection to an address that has passed
	// every check (it never sees a refused one), in place of net.Dialer.
	Dial func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error)
	// RootCAs, if set, replaces the system's trusted roots.
	RootCAs *x509.CertPool
}

const (
	defaultMaxRedirects = 3
	defaultMaxBody      = 10 << 20
	defaultTimeout      = 30 * time.Second
	dialTimeout         = 10 * time.Second
)

func (p Policy) withDefaults() Policy {
	if p.MaxRedirects == 0 {
		p.MaxRedirects = defaultMaxRedirects
	}
	if p.MaxBodyBytes <= 0 {
		p.MaxBodyBytes = defaultMaxBody
	}
	if p.Timeout <= 0 {
		p.Timeout = defaultTimeout
	}
	return p
}

// Transport is netguard's http.RoundTripper, the one choke point of
// invariant 7. For every request, the first and each redirect hop, it:
//
//   - checks the URL with the policy (CheckURL's rules);
//   - refuses a redirect chain longer than MaxRedirects;
//   - removes credential headers (IsCredentialHeader, plus
//     Policy.CredentialHeaders) and Referer once a redirect has taken the
//     request to an origin (scheme, host, port) other than the first's;
//   - dials through a dialer that resolves names itself, refuses the dial if
//     ANY resolved address is blocked, then dials the checked addresses
//     (never the name), with a socket-level hook checking once more;
//   - ignores environment proxies;
//   - caps the response body at MaxBodyBytes (WebSocket upgrades excepted).
//
// Constructors of outbound clients verify they were given one with
// CheckClient.
type Transport struct {
	p     Policy
	c     *compiled
	d     *dialer
	inner *http.Transport
}

// Transport returns the policy's Transport. TLS still verifies the URL's
// host name.
func (p Policy) Transport() *Transport {
	p = p.withDefaults()
	c, _ := p.compile()
	d := &dialer{p: p, c: c}
	inner := &http.Transport{
		Proxy:                 nil, // HTTP_PROXY and friends are ignored on purpose.
		DialContext:           d.dialContext,
		ForceAttemptHTTP2:     true, // a custom DialContext would otherwise disable HTTP/2
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: p.Timeout,
		ExpectContinueTimeout: 1 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConns:          100,
		// API clients send concurrent requests to one host (a chat
		// platform, a model provider); the default of 2 idle connections
		// per host would close and redial most of them in a burst.
		MaxIdleConnsPerHost:    16,
		MaxResponseHeaderBytes: 1 << 20,
	}
	if p.Hooks != nil && p.Hooks.RootCAs != nil {
		inner.TLSClientConfig = &tls.Config{RootCAs: p.Hooks.RootCAs}
	}
	return &Transport{p: p, c: c, d: d, inner: inner}
}

// DialContext is the checked dialer, for WebSocket libraries that dial
// themselves: the same rules as every request, on host:port alone (the
// scheme is not known here).
func (t *Transport) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return t.d.dialContext(ctx, network, addr)
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	hops, left := redirectChain(req)
	fail := func(err error) (*http.Response, error) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	if hops > max(t.p.MaxRedirects, 0) {
		return fail(blocked("the site redirects more often than allowed", "more than %d redirects (last to %s)", max(t.p.MaxRedirects, 0), req.URL.Redacted()))
	}
	u := *req.URL
	if err := t.c.check(&u); err != nil {
		return fail(err)
	}
	if left && t.p.SameOriginRedirects {
		return fail(blocked("this client follows redirects only within the origin it called", "redirect to another origin (%s)", req.URL.Redacted()))
	}
	if left {
		// A RoundTripper must not change the caller's request.
		req = req.Clone(req.Context())
		for k := range req.Header {
			if t.c.isCredential(k) || strings.EqualFold(k, "Referer") {
				delete(req.Header, k)
			}
		}
	}
	resp, err := t.inner.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection (a WebSocket, say); it must
		// stay an io.ReadWriteCloser, and a stream has no size to cap.
		return resp, nil
	}
	resp.Body = &cappedBody{rc: resp.Body, left: t.p.MaxBodyBytes}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// connection pool.
func (t *Transport) CloseIdleConnections() { t.inner.CloseIdleConnections() }

// redirectChain returns how many redirects led to req (http.Client links
// each hop to the response that caused it) and whether any request of the
// chain, req included, is on another origin than the first.
func redirectChain(req *http.Request) (hops int, left bool) {
	var chain []*url.URL
	for r := req; r != nil; {
		chain = append(chain, r.URL)
		if r.Response == nil {
			break
		}
		r = r.Response.Request
	}
	first := originKey(chain[len(chain)-1])
	for _, u := range chain[:len(chain)-1] {
		if originKey(u) != first {
			left = true
		}
	}
	return len(chain) - 1, left
}

// originKey is scheme://host:port, lower case, default ports filled in.
func originKey(u *url.URL) string {
	if u == nil {
		return ""
	}
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "https":
			port = "443"
		case "http":
			port = "80"
		}
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	return scheme + "://" + net.JoinHostPort(host, port)
}

// credentialWords are the parts of a header name that mark it as carrying
// a credential (matched case-insensitively anywhere in the name).
var credentialWords = []string{"auth", "token", "key", "secret", "password", "passwd", "session", "cookie", "credential", "signature"}

// IsCredentialHeader reports whether a header is in netguard's default set
// of credential headers, removed when a redirect leaves the first origin:
// Authorization, Proxy-Authorization, Cookie and every header whose name
// contains auth, token, key, secret, password, passwd, session, cookie,
// credential or signature in any case (X-Api-Key, X-Subscription-Token,
// X-Goog-Api-Key, Private-Token, X-Auth-Token, X-Amz-Security-Token, …).
// The rule errs on the side of removing: a header that is needlessly
// dropped costs a failed request to a site that was not asked for.
func IsCredentialHeader(name string) bool {
	n := strings.ToLower(name)
	for _, w := range credentialWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

func (c *compiled) isCredential(name string) bool {
	return IsCredentialHeader(name) || c.credHeaders[strings.ToLower(name)]
}

// ErrNotGuarded is wrapped by CheckClient's refusals.
var ErrNotGuarded = errors.New("netguard: not a netguard client")

// CheckClient returns nil if c sends its requests through a netguard
// Transport, and an error wrapping ErrNotGuarded otherwise (nil client, nil
// transport, which would mean http.DefaultTransport, or any other
// transport). Every constructor of an outbound client calls it on the
// client it is given, so that a missing netguard is an error at
// construction, never a silent fallback.
func CheckClient(c *http.Client) error {
	hint := " (hint: build it with netguard.Policy{...}.Client())"
	switch {
	case c == nil:
		return fmt.Errorf("%w: no HTTP client%s", ErrNotGuarded, hint)
	case c.Transport == nil:
		return fmt.Errorf("%w: the client has no transport, so it would use http.DefaultTransport%s", ErrNotGuarded, hint)
	}
	if _, ok := c.Transport.(*Transport); !ok {
		return fmt.Errorf("%w: the client's transport is %T%s", ErrNotGuarded, c.Transport, hint)
	}
	return nil
}

type dialer struct {
	p Policy
	c *compiled
}

func (d *dialer) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := d.dial(ctx, network, addr)
	switch {
	case err == nil:
		return conn, nil
	case errors.Is(err, ErrBlocked): // refusals already name their target
		return nil, err
	default:
		return nil, fmt.Errorf("netguard: dial %s: %w", addr, err)
	}
}

func (d *dialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
	default:
		return nil, blocked("", "network %q is not allowed", network)
	}
	hn, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, blocked("", "address %q is not host:port", addr)
	}
	h, err := parseHost(hn)
	if err != nil {
		return nil, err
	}
	port, err := parsePort(ps)
	if err != nil {
		return nil, err
	}
	privateOK, err := d.c.checkTarget("", h, port)
	if err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if h.ip.IsValid() {
		addrs = []netip.Addr{h.ip}
	} else {
		addrs, err = d.lookup(ctx, network, hn)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, fmt.Errorf("resolving %s: no addresses", h.name)
		}
	}
	// Every address must pass, not just the first: a name with one public
	// and one private address is refused outright.
	for i, ip := range addrs {
		if err := d.c.checkAddr(h.name, ip, privateOK); err != nil {
			return nil, err
		}
		addrs[i] = ip.Unmap()
	}
	nd := &net.Dialer{
		Timeout: dialTimeout,
		// Last line: whatever address the socket is about to connect to
		// is checked again with the same exceptions.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return blocked("", "socket address %q does not parse", address)
			}
			return d.c.checkAddr(h.name, ap.Addr(), privateOK)
		},
	}
	dial := func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
		return nd.DialContext(ctx, network, ap.String())
	}
	if d.p.Hooks != nil && d.p.Hooks.Dial != nil {
		dial = d.p.Hooks.Dial
	}
	var errs []error
	for _, ip := range addrs {
		if network == "tcp4" && !ip.Is4() || network == "tcp6" && !ip.Is6() {
			continue
		}
		conn, err := dial(ctx, network, netip.AddrPortFrom(ip, uint16(port)))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("no %s address for %s", network, h.name)
	}
	return nil, errors.Join(errs...)
}

func (d *dialer) lookup(ctx context.Context, network, name string) ([]netip.Addr, error) {
	if d.p.Hooks != nil && d.p.Hooks.LookupIP != nil {
		addrs, err := d.p.Hooks.LookupIP(ctx, name)
		return append([]netip.Addr(nil), addrs...), err
	}
	r := d.p.Resolver
	if r == nil {
		r = net.DefaultResolver
	}
	nw := "ip"
	switch network {
	case "tcp4":
		nw = "ip4"
	case "tcp6":
		nw = "ip6"
	}
	return r.LookupNetIP(ctx, nw, name)
}

// Client returns an http.Client over p.Transport() (which checks every
// request and redirect hop, strips credentials on cross-origin redirects and
// caps bodies) that bounds the whole request by Timeout.
func (p Policy) Client() *http.Client {
	p = p.withDefaults()
	return &http.Client{
		Transport: p.Transport(),
		Timeout:   p.Timeout,
		// The Transport counts and checks redirects; this only lifts
		// net/http's own limit of 10 so MaxRedirects is what applies.
		CheckRedirect: func(*http.Request, []*http.Request) error { return nil },
	}
}

type cappedBody struct {
	mu   sync.Mutex
	rc   io.ReadCloser
	left int64
	err  error
}

func (b *cappedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if b.left <= 0 {
		// The cap is reached; a body of exactly the cap ends here,
		// anything more is an error.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			b.err = ErrBodyTooLarge
			return 0, b.err
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// Get fetches url with c, whose transport must be a netguard Transport (see
// CheckClient); the URL is checked with that policy first.
func Get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	if err := CheckClient(c); err != nil {
		return nil, fmt.Errorf("netguard.Get: %w", err)
	}
	u, err := c.Transport.(*Transport).c.checkURL(url)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("netguard.Get: %w", err)
	}
	return c.Do(req)
}
