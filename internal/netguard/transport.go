package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"syscall"
	"time"
)

// Policy says where outbound requests may go. The zero Policy allows public
// addresses on ports 80 and 443 only.
type Policy struct {
	// AllowedHosts are exact host names (case-insensitive, IDNA-normalised)
	// allowed even if they resolve to private addresses, on allowed ports;
	// e.g. tools.web.fetch.allowedHostnames. No wildcards.
	AllowedHosts []string
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
	// MaxRedirects is the most redirects Client follows; 0 means 3 and a
	// negative value means none.
	MaxRedirects int
	// MaxBodyBytes caps a response body read through Client; reading past
	// it returns ErrBodyTooLarge. 0 means 10 MiB.
	MaxBodyBytes int64
	// Timeout bounds a whole request made with Client, body included;
	// 0 means 30s.
	Timeout time.Duration
	// Resolver resolves names at dial time; nil means net.DefaultResolver.
	Resolver *net.Resolver
	// LookupIP, if set, replaces Resolver (tests inject names with it).
	LookupIP func(ctx context.Context, host string) ([]netip.Addr, error)
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

// Transport returns a transport that ignores environment proxies and whose
// dialer checks every address it is about to connect to: IP literals
// directly, names by resolving them itself, refusing the dial if ANY resolved
// address is blocked, then dialling the checked addresses (never the name),
// with a socket-level hook checking once more. TLS still verifies the URL's
// host name. The exceptions of p apply by exact host:port (origins) or host
// (AllowedHosts) match.
func (p Policy) Transport() *http.Transport {
	p = p.withDefaults()
	c, _ := p.compile()
	d := &dialer{p: p, c: c}
	return &http.Transport{
		Proxy:                  nil, // HTTP_PROXY and friends are ignored on purpose.
		DialContext:            d.dialContext,
		ForceAttemptHTTP2:      true, // a custom DialContext would otherwise disable HTTP/2
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  p.Timeout,
		ExpectContinueTimeout:  1 * time.Second,
		IdleConnTimeout:        90 * time.Second,
		MaxIdleConns:           100,
		MaxResponseHeaderBytes: 1 << 20,
	}
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
	var errs []error
	for _, ip := range addrs {
		if network == "tcp4" && !ip.Is4() || network == "tcp6" && !ip.Is6() {
			continue
		}
		conn, err := nd.DialContext(ctx, network, netip.AddrPortFrom(ip, uint16(port)).String())
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
	if d.p.LookupIP != nil {
		addrs, err := d.p.LookupIP(ctx, name)
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

// Client returns an http.Client whose every request, the first and each
// redirect hop, is checked with CheckURL before it is sent, over
// p.Transport(); it follows at most MaxRedirects redirects, bounds the whole
// request by Timeout and caps response bodies at MaxBodyBytes.
func (p Policy) Client() *http.Client {
	p = p.withDefaults()
	c, _ := p.compile()
	g := &guard{p: p, c: c, rt: p.Transport()}
	return &http.Client{
		Transport: g,
		Timeout:   p.Timeout,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if p.MaxRedirects < 0 || len(via) > p.MaxRedirects {
				return blocked("the site redirects more often than allowed", "more than %d redirects (last to %s)", max(p.MaxRedirects, 0), req.URL.Redacted())
			}
			u := *req.URL
			return c.check(&u)
		},
	}
}

// guard is the Client's RoundTripper: the static check before every request,
// the body cap after.
type guard struct {
	p  Policy
	c  *compiled
	rt http.RoundTripper
}

func (g *guard) RoundTrip(req *http.Request) (*http.Response, error) {
	u := *req.URL
	if err := g.c.check(&u); err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	resp, err := g.rt.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection (a WebSocket, say); it must
		// stay an io.ReadWriteCloser, and a stream has no size to cap.
		return resp, nil
	}
	resp.Body = &cappedBody{rc: resp.Body, left: g.p.MaxBodyBytes}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the transport.
func (g *guard) CloseIdleConnections() {
	if t, ok := g.rt.(interface{ CloseIdleConnections() }); ok {
		t.CloseIdleConnections()
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

// Get fetches url with c, which must have been made by Policy.Client; the
// URL is checked with that policy first.
func Get(ctx context.Context, c *http.Client, url string) (*http.Response, error) {
	if c == nil {
		return nil, errors.New("netguard.Get: nil client")
	}
	g, ok := c.Transport.(*guard)
	if !ok {
		return nil, errors.New("netguard.Get: client was not made by netguard.Policy.Client")
	}
	u, err := g.c.checkURL(url)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("netguard.Get: %w", err)
	}
	return c.Do(req)
}
