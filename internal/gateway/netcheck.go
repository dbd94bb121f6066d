package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// forwardedHeaders are the request headers a reverse proxy uses to describe
// the original client. They are honoured only from gateway.trustedProxies;
// from anyone else their mere presence makes the request non-local, because
// a proxy we do not know about may be relaying traffic from anywhere.
var forwardedHeaders = []string{"Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip"}

// peer is what the gateway knows about the other end of a request.
type peer struct {
	addr netip.Addr // the client address after trusted-proxy resolution
	// local is true only for a loopback client with no forwarding in between
	// that we cannot vouch for.
	local bool
	// origin is the browser Origin header ("" for non-browser clients).
	origin string
}

// browser reports whether the request came from a web page.
func (p peer) browser() bool { return p.origin != "" }

// proxySet is a parsed gateway.trustedProxies list.
type proxySet []netip.Prefix

func parseProxies(list []string) (proxySet, error) {
	var ps proxySet
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			ps = append(ps, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("gateway.trustedProxies: %q is not an IP address or CIDR", s)
		}
		a = a.Unmap()
		ps = append(ps, netip.PrefixFrom(a, a.BitLen()))
	}
	return ps, nil
}

func (ps proxySet) contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// resolvePeer works out the client address. Forwarded headers count only when
// the direct peer is a trusted proxy; then the right-most X-Forwarded-For
// entry that is not itself a trusted proxy is the client.
func resolvePeer(r *http.Request, proxies proxySet) peer {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	var direct netip.Addr
	if err == nil {
		direct = ap.Addr().Unmap()
	}
	forwarded := false
	for _, h := range forwardedHeaders {
		if r.Header.Get(h) != "" {
			forwarded = true
			break
		}
	}
	p := peer{addr: direct, origin: r.Header.Get("Origin")}
	if !forwarded {
		p.local = direct.IsValid() && direct.IsLoopback()
		return p
	}
	if !proxies.contains(direct) {
		// Someone relayed this request and we do not know them: never local.
		p.local = false
		return p
	}
	client, ok := forwardedClient(r, proxies)
	if !ok {
		p.local = false
		return p
	}
	p.addr = client
	p.local = client.IsLoopback()
	return p
}

func forwardedClient(r *http.Request, proxies proxySet) (netip.Addr, bool) {
	var hops []string
	for _, v := range r.Header.Values("X-Forwarded-For") {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				hops = append(hops, h)
			}
		}
	}
	if len(hops) == 0 {
		if v := strings.TrimSpace(r.Header.Get("X-Real-Ip")); v != "" {
			hops = []string{v}
		}
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(hops[i])
		if err != nil {
			return netip.Addr{}, false
		}
		a = a.Unmap()
		if !proxies.contains(a) {
			return a, true
		}
	}
	return netip.Addr{}, false
}

// originAllowed decides whether a browser Origin may open a WebSocket: the
// gateway's own origin (same host:port as the request's Host, which has
// already passed hostAllowed) or one listed in gateway.controlUi.allowedOrigins.
// "null" (sandboxed iframes, file: pages) is never allowed.
func originAllowed(origin, host string, allowed []string) bool {
	if origin == "" {
		return true
	}
	if origin == "null" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.User != nil {
		return false
	}
	norm := strings.ToLower(u.Scheme + "://" + u.Host)
	for _, a := range allowed {
		if strings.EqualFold(strings.TrimSuffix(a, "/"), norm) {
			return true
		}
	}
	return strings.EqualFold(withDefaultPort(u.Host, u.Scheme), withDefaultPort(host, u.Scheme))
}

func withDefaultPort(hostport, scheme string) string {
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport
	}
	if scheme == "https" {
		return hostport + ":443"
	}
	return hostport + ":80"
}

// hostAllowed is the DNS-rebinding defence: a page on evil.example whose name
// resolves to 127.0.0.1 sends "Host: evil.example:18789", which is refused.
// Accepted are IP literals, localhost names, this machine's own names, and the
// hosts of allowed origins.
func hostAllowed(host string, extra map[string]bool) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
	if h == "" {
		return false
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return true
	}
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	return extra[h]
}

// hostNames collects the names besides IP literals and localhost under which
// the gateway may legitimately be reached.
func hostNames(osHostname string, allowedOrigins []string) map[string]bool {
	m := map[string]bool{}
	if osHostname != "" {
		n := strings.ToLower(osHostname)
		m[n] = true
		m[n+".local"] = true
	}
	for _, o := range allowedOrigins {
		if u, err := url.Parse(o); err == nil && u.Hostname() != "" {
			m[strings.ToLower(u.Hostname())] = true
		}
	}
	return m
}

// ErrInsecureBind is returned when the gateway would listen beyond loopback
// without authentication.
var ErrInsecureBind = errors.New("refusing to listen beyond loopback without authentication")

// bindHost turns gateway.bind into the address to listen on.
func bindHost(bind, custom string, ifaceAddrs func() ([]net.Addr, error)) (string, error) {
	switch bind {
	case "", "loopback":
		return "127.0.0.1", nil
	case "lan":
		return "0.0.0.0", nil
	case "custom":
		if _, err := netip.ParseAddr(custom); err != nil {
			return "", fmt.Errorf("gateway.customBindHost: %q is not an IP address (hint: set gateway.customBindHost to an address of this host, e.g. 192.168.1.10)", custom)
		}
		return custom, nil
	case "tailnet":
		addrs, err := ifaceAddrs()
		if err != nil {
			return "", fmt.Errorf("gateway.bind: tailnet: listing interfaces: %w", err)
		}
		cgnat := netip.MustParsePrefix("100.64.0.0/10")
		tsULA := netip.MustParsePrefix("fd7a:115c:a1e0::/48")
		for _, a := range addrs {
			pfx, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := pfx.Addr().Unmap()
			if cgnat.Contains(ip) || tsULA.Contains(ip) {
				return ip.String(), nil
			}
		}
		return "", errors.New(`gateway.bind: tailnet: no Tailscale address (100.64.0.0/10) on this host (hint: start tailscale, or use bind "loopback")`)
	default:
		return "", fmt.Errorf("gateway.bind: %q is not one of loopback|lan|tailnet|custom", bind)
	}
}

func isLoopbackHost(host string) bool {
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}
