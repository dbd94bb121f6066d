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
	hintPrivate = "to reach it, configure it as a provider or channel baseUrl; for web_fetch, add the host to tools.web.fetch.allowedHostnames (once set, that list is every host web_fetch may reach)"
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
	origins     map[string]bool // "scheme://host:port"
	originAddrs map[string]bool // "host:port" of origins, for the dialer
	// only is set when Policy.OnlyHosts is not empty, even if none of its
	// entries parsed: a malformed list must never mean "anywhere".
	only         bool
	hosts        []hostRule
	ports        []int
	allowPrivate bool
	credHeaders  map[string]bool // lower-case names from Policy.CredentialHeaders
}

func (p Policy) compile() (*compiled, error) {
	c := &compiled{
		origins:      map[string]bool{},
		originAddrs:  map[string]bool{},
		only:         len(p.OnlyHosts) > 0,
		allowPrivate: p.AllowPrivate,
		ports:        p.Ports,
		credHeaders:  map[string]bool{},
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
	for _, n := range p.OnlyHosts {
		r, err := parseHostRule(n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.hosts = append(c.hosts, r)
	}
	for _, port := range p.Ports {
		if port < 1 || port > 65535 {
			errs = append(errs, fmt.Errorf("netguard: port %d is out of range", port))
		}
	}
	for _, h := range p.CredentialHeaders {
		c.credHeaders[strings.ToLower(h)] = true
	}
	return c, errors.Join(errs...)
}

// hostRule is one parsed entry of Policy.OnlyHosts.
type hostRule struct {
	name     string // normalised host name or IP text; for a wildcard, the suffix after "*."
	wildcard bool   // "*.example.com": every name below example.com, not example.com itself
	port     int    // 0: the policy's ports (80 and 443 by default)
}

func (r hostRule) matchesName(name string) bool {
	if r.wildcard {
		return strings.HasSuffix(name, "."+r.name)
	}
	return name == r.name
}

// String is the entry as the owner would write it.
func (r hostRule) String() string {
	s := r.name
	if r.wildcard {
		s = "*." + s
	}
	if r.port != 0 {
		if strings.Contains(s, ":") {
			s = "[" + s + "]"
		}
		return s + ":" + strconv.Itoa(r.port)
	}
	return s
}

// HostEntryError is a malformed Policy.OnlyHosts entry: what is wrong and
// how to write it instead.
type HostEntryError struct {
	Entry  string
	Reason string
	Hint   string
}

func (e *HostEntryError) Error() string {
	return fmt.Sprintf("netguard: host entry %q: %s (hint: %s)", e.Entry, e.Reason, e.Hint)
}

const hintHostEntry = `write a host name ("docs.example.com"), "*.example.com" for its subdomains, or an IP address, optionally with ":port" ("wiki.lan:8080", "[fd00::5]:8443")`

// CheckHostEntry reports whether s is a valid Policy.OnlyHosts entry; the
// error is a *HostEntryError. Config validation uses it so that a bad entry
// is refused when the config is loaded, not silently ignored later.
func CheckHostEntry(s string) error {
	_, err := parseHostRule(s)
	return err
}

// HostEntry is a valid Policy.OnlyHosts entry, explained (for
// `talon security audit`).
type HostEntry struct {
	Host     string // normalised name or IP; for a wildcard, the domain after "*."
	Wildcard bool
	Ports    []int // the ports it allows (80 and 443 for an entry without a port)
	// Local is why the host is on the local network ("a private (RFC 1918)
	// address", "a local (.lan) name", …), or "" for a public name or
	// address. A public name may still resolve to a private address, which
	// a listed host is allowed to.
	Local string
}

// ParseHostEntry explains one OnlyHosts entry; the error is a
// *HostEntryError.
func ParseHostEntry(s string) (HostEntry, error) {
	r, err := parseHostRule(s)
	if err != nil {
		return HostEntry{}, err
	}
	e := HostEntry{Host: r.name, Wildcard: r.wildcard, Ports: []int{80, 443}}
	if r.port != 0 {
		e.Ports = []int{r.port}
	}
	var cl class
	if ip, err := netip.ParseAddr(r.name); err == nil {
		e.Local, cl = classifyIP(ip)
	} else {
		e.Local, cl = classifyName(r.name)
	}
	if cl == classPublic {
		e.Local = ""
	}
	return e, nil
}

// parseHostRule parses one OnlyHosts entry:
//
//	host            exact name or IPv4 address, ports 80 and 443
//	*.example.com   every name below example.com (any depth), not example.com
//	[v6]            an IPv6 address (brackets required)
//	any of these followed by :port — that port only, for that entry
//
// Names are normalised like URL hosts (IDNA, case, trailing dot). An entry
// that can never be reached (a metadata name or address) is an error, so
// the owner is not left believing it works.
func parseHostRule(s string) (hostRule, error) {
	bad := func(reason string, hint string) (hostRule, error) {
		if hint == "" {
			hint = hintHostEntry
		}
		return hostRule{}, &HostEntryError{Entry: s, Reason: reason, Hint: hint}
	}
	switch {
	case s == "":
		return bad("is empty", "")
	case strings.Contains(s, "://"):
		return bad("is a URL, not a host", `write only the host (and port), e.g. "docs.example.com" or "wiki.lan:8080"`)
	case strings.ContainsAny(s, "/?#@ \t\r\n"), !strings.HasPrefix(s, "[") && strings.ContainsAny(s, "[]"):
		return bad("is not a host name", "")
	}
	hostPart, portPart, hasPort := s, "", false
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return bad("has an unclosed [", "")
		}
		hostPart = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return bad("has text after ]", "")
			}
			portPart, hasPort = rest[1:], true
		}
		if !strings.Contains(hostPart, ":") {
			return bad("has brackets around something that is not an IPv6 address", "brackets are for IPv6 addresses only")
		}
	} else if n := strings.Count(s, ":"); n > 1 {
		return bad("looks like an IPv6 address without brackets", `write it as "[fd00::5]" or "[fd00::5]:8443"`)
	} else if n == 1 {
		hostPart, portPart, _ = strings.Cut(s, ":")
		hasPort = true
	}
	var r hostRule
	if hasPort {
		port, err := strconv.Atoi(portPart)
		if err != nil || port < 1 || port > 65535 || portPart != strconv.Itoa(port) {
			return bad(fmt.Sprintf("has port %q, not a number from 1 to 65535", portPart), `e.g. "wiki.lan:8080"`)
		}
		r.port = port
	}
	if rest, ok := strings.CutPrefix(hostPart, "*."); ok {
		r.wildcard = true
		hostPart = rest
	}
	if strings.Contains(hostPart, "*") {
		return bad(`has a "*" that is not a leading "*."`, `only a leading "*." is supported, e.g. "*.example.com"`)
	}
	h, err := parseHost(hostPart)
	if err != nil {
		var be *BlockedError
		if errors.As(err, &be) {
			return bad("is refused: "+be.Reason, be.Hint)
		}
		return bad("is refused: "+err.Error(), "")
	}
	if r.wildcard {
		if h.ip.IsValid() {
			return bad("puts a wildcard on an IP address", `wildcards are for names: "*.example.com"`)
		}
		if !strings.Contains(h.name, ".") {
			return bad(fmt.Sprintf("would match every name under the top-level domain %q", h.name), `name a domain you trust, e.g. "*.example.com"`)
		}
	}
	var reason string
	var cl class
	if h.ip.IsValid() {
		reason, cl = classifyIP(h.ip)
	} else {
		reason, cl = classifyName(h.name)
	}
	if cl == classHard {
		return bad(fmt.Sprintf("is %s, which is never reachable", reason), "remove it")
	}
	r.name = h.name
	return r, nil
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
//
// The order is: an exact AllowedOrigins match (its own port, private
// allowed); otherwise, with OnlyHosts, a matching entry on a matching port
// or a refusal; then the address class; then the port.
func (c *compiled) checkTarget(scheme string, h host, port int) (privateOK bool, err error) {
	hp := net.JoinHostPort(h.name, strconv.Itoa(port))
	origin := c.originAddrs[hp]
	if scheme != "" {
		origin = c.origins[scheme+"://"+hp]
	}
	portOK := origin || slices.Contains(c.ports, port)
	listed := false
	if c.only && !origin {
		if err := c.checkOnly(h, port); err != nil {
			return false, err
		}
		listed, portOK = true, true
	}
	privateOK = origin || listed || c.allowPrivate
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
	if !portOK {
		return false, blocked(fmt.Sprintf("allowed ports are %v and those of configured base URLs", c.ports), "port %d is not allowed", port)
	}
	return privateOK, nil
}

// checkOnly refuses a host:port that no OnlyHosts entry allows.
func (c *compiled) checkOnly(h host, port int) error {
	var ports []int
	for _, r := range c.hosts {
		if !r.matchesName(h.name) {
			continue
		}
		if r.port == 0 && slices.Contains(c.ports, port) || r.port == port {
			return nil
		}
		if r.port == 0 {
			ports = append(ports, c.ports...)
		} else {
			ports = append(ports, r.port)
		}
	}
	if len(ports) > 0 {
		slices.Sort(ports)
		return blocked(fmt.Sprintf("its entries for this host allow ports %v; to allow this port too, add %q", slices.Compact(ports), hostRule{name: h.name, port: port}.String()),
			"port %d of %s is not allowed by %s", port, h.name, settingOnly)
	}
	return blocked(fmt.Sprintf("it lists the only hosts that may be reached; to allow this one, add %q", hostRule{name: h.name}.String()),
		"%s is not in %s", h.name, settingOnly)
}

// settingOnly names the setting behind OnlyHosts in refusals (web_fetch is
// its only user).
const settingOnly = "tools.web.fetch.allowedHostnames"

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
// An exact match of scheme://host:port with p.AllowedOrigins, a matching
// p.OnlyHosts entry, or p.AllowPrivate opens private addresses; nothing
// opens metadata endpoints. A non-empty p.OnlyHosts refuses every host it
// does not list (AllowedOrigins still apply).
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
