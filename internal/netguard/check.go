package netguard

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/idna"
)

// ErrBlocked is wrapped by every refusal; errors.Is(err, ErrBlocked) works on
// the errors of CheckURL, Get, and requests made with Policy.Client or
// Policy.Transport.
var ErrBlocked = errors.New("netguard: blocked")

// ErrBodyTooLarge is returned by a response body read past Policy.MaxBodyBytes.
var ErrBodyTooLarge = errors.New("netguard: response body too large")

// BlockedError is the refusal: what was refused, why, and what would allow it.
type BlockedError struct {
	Reason string // e.g. `127.0.0.1 is a loopback address`
	Hint   string // the setting that would allow it, or why nothing does
}

func (e *BlockedError) Error() string {
	if e.Hint == "" {
		return "netguard: blocked: " + e.Reason
	}
	return "netguard: blocked: " + e.Reason + " (hint: " + e.Hint + ")"
}

// Is makes errors.Is(err, ErrBlocked) true.
func (e *BlockedError) Is(target error) bool { return target == ErrBlocked }

const (
	hintPrivate = "to reach it, configure it as a provider or channel baseUrl, list the host in tools.web.fetch.allowedHostnames, or set tools.web.fetch.allowPrivateNetwork"
	hintNever   = "no setting opens this destination"
	hintSpell   = "write an IP address in canonical dotted-decimal form"
	hintScheme  = "only http and https URLs are fetched"
)

func blocked(hint, format string, args ...any) *BlockedError {
	return &BlockedError{Reason: fmt.Sprintf(format, args...), Hint: hint}
}

// host is a destination host normalised the way net/http dials it.
type host struct {
	name string     // lower-case ASCII, no trailing dot; the IP's text for literals
	ip   netip.Addr // valid for IP literals
}

// parseHost normalises h (a URL hostname without brackets, already
// percent-decoded by net/url) and refuses what can never be dialled safely:
// malformed names, non-canonical IPv4 spellings, zones.
func parseHost(h string) (host, error) {
	if h == "" {
		return host{}, blocked(hintScheme, "the URL has no host")
	}
	if strings.Contains(h, ":") {
		ip, err := netip.ParseAddr(h)
		if err != nil {
			return host{}, blocked("", "%q is not a valid IPv6 address", h)
		}
		if ip.Zone() != "" {
			return host{}, blocked(hintNever, "%s is a scoped address (zone %q)", h, ip.Zone())
		}
		return host{name: ip.String(), ip: ip}, nil
	}
	name := h
	if !isASCII(name) {
		// net/http maps non-ASCII hosts with idna.Lookup before dialling;
		// do the same so "１２７.０.０.１" is seen as 127.0.0.1.
		a, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return host{}, blocked("", "%q is not a valid internationalised host name", h)
		}
		name = a
	}
	name = strings.ToLower(name)
	name = strings.TrimSuffix(name, ".")
	if name == "" || strings.HasSuffix(name, ".") {
		return host{}, blocked("", "%q is not a valid host name", h)
	}
	if ip, err := netip.ParseAddr(name); err == nil && ip.Is4() {
		return host{name: name, ip: ip}, nil
	}
	if v4, ok := parseLegacyIPv4(name); ok {
		if reason, c := classifyIP(v4); c != classPublic {
			return host{}, blocked(hintSpell, "%q is a non-canonical spelling of %s, %s", h, v4, reason)
		}
		return host{}, blocked(hintSpell, "%q is a non-canonical spelling of %s", h, v4)
	}
	if len(name) > 253 {
		return host{}, blocked("", "host name is longer than 253 bytes")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return host{}, blocked("", "%q is not a valid host name", h)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return host{}, blocked("", "%q is not a valid host name", h)
			}
		}
	}
	if last := labels[len(labels)-1]; looksNumeric(last) {
		// WHATWG URL parsing treats a numeric last label as an IPv4
		// address; refuse what would be read two ways.
		return host{}, blocked(hintSpell, "%q looks like an IP address but is not one", h)
	}
	return host{name: name}, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func looksNumeric(l string) bool {
	if strings.HasPrefix(l, "0x") {
		l = l[2:]
		for i := 0; i < len(l); i++ {
			if !strings.ContainsRune("0123456789abcdef", rune(l[i])) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}

// parseLegacyIPv4 parses the inet_aton/WHATWG spellings of an IPv4 address:
// one to four dot-separated parts, each decimal, octal (leading 0) or hex
// (0x), the last filling the remaining bytes ("127.1", "0x7f.1",
// "2130706433", "0177.0.0.1"). s is lower case.
func parseLegacyIPv4(s string) (netip.Addr, bool) {
	parts := strings.Split(s, ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	var vals [4]uint64
	for i, p := range parts {
		base := 10
		switch {
		case strings.HasPrefix(p, "0x"):
			base, p = 16, p[2:]
			if p == "" {
				p = "0"
			}
		case len(p) > 1 && p[0] == '0':
			base, p = 8, p[1:]
		}
		if p == "" || len(p) > 32 || p[0] == '+' || p[0] == '-' {
			return netip.Addr{}, false
		}
		v, err := strconv.ParseUint(p, base, 64)
		if err != nil {
			return netip.Addr{}, false
		}
		vals[i] = v
	}
	n := len(parts)
	var out uint64
	for i := 0; i < n-1; i++ {
		if vals[i] > 255 {
			return netip.Addr{}, false
		}
		out |= vals[i] << (8 * (3 - i))
	}
	last := vals[n-1]
	if last >= 1<<(8*(5-n)) {
		return netip.Addr{}, false
	}
	out |= last
	return netip.AddrFrom4([4]byte{byte(out >> 24), byte(out >> 16), byte(out >> 8), byte(out)}), true
}

// Names that are never dialled, whatever the policy.
var hardNames = map[string]bool{
	"metadata":                   true,
	"metadata.google.internal":   true,
	"metadata.goog":              true,
	"instance-data":              true,
	"instance-data.ec2.internal": true,
	"metadata.azure.internal":    true,
}

// Suffixes of names that only mean something on the local network.
var privateSuffixes = []struct{ suffix, reason string }{
	{"localhost", "a loopback name"},
	{"local", "an mDNS (.local) name"},
	{"internal", "an internal (.internal) name"},
	{"localdomain", "a local (.localdomain) name"},
	{"home.arpa", "a home network (.home.arpa) name"},
	{"lan", "a local (.lan) name"},
	{"intranet", "an intranet name"},
	{"corp", "an internal (.corp) name"},
	{"home", "a home network (.home) name"},
}

func classifyName(name string) (string, class) {
	if hardNames[name] {
		return "a cloud metadata name", classHard
	}
	for _, s := range privateSuffixes {
		if name == s.suffix || strings.HasSuffix(name, "."+s.suffix) {
			return s.reason, classPrivate
		}
	}
	if !strings.Contains(name, ".") {
		return "a single-label name (resolved through local search domains)", classPrivate
	}
	return "", classPublic
}

// compiled is a Policy prepared for checking.
type compiled struct {
	origins      map[string]bool // "scheme://host:port"
	originAddrs  map[string]bool // "host:port" of origins, for the dialer
	hosts        map[string]bool
	ports        []int
	allowPrivate bool
}

func (p Policy) compile() (*compiled, error) {
	c := &compiled{
		origins:      map[string]bool{},
		originAddrs:  map[string]bool{},
		hosts:        map[string]bool{},
		allowPrivate: p.AllowPrivate,
		ports:        p.Ports,
	}
	if len(c.ports) == 0 {
		c.ports = []int{80, 443}
	}
	var errs []error
	for _, o := range p.AllowedOrigins {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.User != nil || u.Opaque != "" {
			errs = append(errs, fmt.Errorf("netguard: allowed origin %q: not an http(s) URL without userinfo", o))
			continue
		}
		h, err := parseHost(u.Hostname())
		if err != nil {
			errs = append(errs, fmt.Errorf("netguard: allowed origin %q: %w", o, err))
			continue
		}
		port, err := urlPort(u)
		if err != nil {
			errs = append(errs, fmt.Errorf("netguard: allowed origin %q: %w", o, err))
			continue
		}
		hp := net.JoinHostPort(h.name, strconv.Itoa(port))
		c.origins[u.Scheme+"://"+hp] = true
		c.originAddrs[hp] = true
	}
	for _, n := range p.AllowedHosts {
		h, err := parseHost(strings.TrimSuffix(strings.TrimPrefix(n, "["), "]"))
		if err != nil {
			errs = append(errs, fmt.Errorf("netguard: allowed host %q: %w", n, err))
			continue
		}
		c.hosts[h.name] = true
	}
	for _, port := range p.Ports {
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("netguard: port %d is out of range", port))
		}
	}
	return c, errors.Join(errs...)
}

// Validate reports every malformed entry of the policy at once. Malformed
// entries never match anything, so an unvalidated policy is only stricter.
func (p Policy) Validate() error {
	_, err := p.compile()
	return err
}

func urlPort(u *url.URL) (int, error) {
	ps := u.Port()
	if ps == "" {
		if u.Scheme == "https" {
			return 443, nil
		}
		return 80, nil
	}
	return parsePort(ps)
}

func parsePort(ps string) (int, error) {
	port, err := strconv.Atoi(ps)
	if err != nil || port < 1 || port > 65535 || len(ps) > 5 {
		return 0, blocked("", "port %q is not valid", ps)
	}
	return port, nil
}

// checkTarget applies the rules shared by CheckURL and the dialer. scheme is
// "" at dial time, where only host:port is known. It returns whether private
// (but never hard-blocked) addresses may be dialled for this target.
func (c *compiled) checkTarget(scheme string, h host, port int) (privateOK bool, err error) {
	hp := net.JoinHostPort(h.name, strconv.Itoa(port))
	origin := c.originAddrs[hp]
	if scheme != "" {
		origin = c.origins[scheme+"://"+hp]
	}
	privateOK = origin || c.hosts[h.name] || c.allowPrivate
	var reason string
	var cl class
	if h.ip.IsValid() {
		reason, cl = classifyIP(h.ip)
	} else {
		reason, cl = classifyName(h.name)
	}
	switch {
	case cl == classHard:
		return false, blocked(hintNever, "%s is %s", h.name, reason)
	case cl == classPrivate && !privateOK:
		return false, blocked(hintPrivate, "%s is %s", h.name, reason)
	}
	if !origin && !slices.Contains(c.ports, port) {
		return false, blocked(fmt.Sprintf("allowed ports are %v and those of configured base URLs", c.ports), "port %d is not allowed", port)
	}
	return privateOK, nil
}

// checkAddr checks one resolved or literal address at dial time.
func (c *compiled) checkAddr(name string, ip netip.Addr, privateOK bool) error {
	reason, cl := classifyIP(ip)
	switch {
	case cl == classHard:
		return blocked(hintNever, "%s resolves to %s, %s", name, ip, reason)
	case cl == classPrivate && !privateOK:
		return blocked(hintPrivate, "%s resolves to %s, %s", name, ip, reason)
	}
	return nil
}

// CheckURL parses raw and applies the static rules of p: scheme http or
// https, no userinfo, an allowed port, a host that is neither a local or
// metadata name nor a blocked IP literal in any spelling. It returns the URL
// with its host normalised (lower case, IDNA, no trailing dot). Names are
// not resolved here; the dialer checks every resolved address.
//
// An exact match of scheme://host:port with p.AllowedOrigins, or of the host
// with p.AllowedHosts, or p.AllowPrivate, opens private addresses; nothing
// opens metadata endpoints.
func CheckURL(raw string, p Policy) (*url.URL, error) {
	c, _ := p.compile()
	return c.checkURL(raw)
}

func (c *compiled) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, blocked("", "the URL does not parse: %v", errors.Unwrap(err))
	}
	return u, c.check(u)
}

func (c *compiled) check(u *url.URL) error {
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		if scheme == "" {
			return blocked(hintScheme, "the URL has no scheme")
		}
		return blocked(hintScheme, "scheme %q is not allowed", scheme)
	}
	if u.Opaque != "" {
		return blocked(hintScheme, "the URL has no host")
	}
	if u.User != nil {
		return blocked("put credentials in a header, not in the URL", "the URL carries userinfo")
	}
	hn := u.Hostname()
	if strings.HasPrefix(u.Host, "[") != strings.Contains(hn, ":") {
		return blocked("", "%q is not a valid host", u.Host)
	}
	h, err := parseHost(hn)
	if err != nil {
		return err
	}
	port, err := urlPort(u)
	if err != nil {
		return err
	}
	if _, err := c.checkTarget(scheme, h, port); err != nil {
		return err
	}
	// Normalise so what is logged and sent is what was checked.
	u.Scheme = scheme
	hostText := h.name
	if h.ip.Is6() {
		hostText = "[" + hostText + "]"
	}
	if u.Port() != "" {
		hostText = net.JoinHostPort(strings.Trim(hostText, "[]"), strconv.Itoa(port))
	}
	u.Host = hostText
	return nil
}
