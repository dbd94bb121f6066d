package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// pubNet is a pretend public internet for these tests (internal/testutil/
// fakenet is the same for other packages; it imports netguard, so it cannot
// be used here): names resolve to public-looking 1.2.3.x addresses, and a
// dial of such an address reaches a loopback canary. netguard checks the
// names, addresses and ports as it would on the real network.
type pubNet struct {
	mu     sync.Mutex
	names  map[string]netip.Addr
	routes map[netip.AddrPort]string
	dials  []netip.AddrPort
}

func newPubNet() *pubNet {
	return &pubNet{names: map[string]netip.Addr{}, routes: map[netip.AddrPort]string{}}
}

// host makes name resolve to a fresh public-looking address whose port
// leads to c, and returns that address.
func (n *pubNet) host(name string, port int, c *canary) netip.Addr {
	n.mu.Lock()
	defer n.mu.Unlock()
	ip, ok := n.names[name]
	if !ok {
		ip = netip.AddrFrom4([4]byte{1, 2, 3, byte(len(n.names) + 1)})
		n.names[name] = ip
	}
	n.routes[netip.AddrPortFrom(ip, uint16(port))] = c.srv.Listener.Addr().String()
	return ip
}

func (n *pubNet) hooks() *Hooks {
	return &Hooks{
		LookupIP: func(_ context.Context, host string) ([]netip.Addr, error) {
			n.mu.Lock()
			defer n.mu.Unlock()
			if ip, ok := n.names[strings.ToLower(host)]; ok {
				return []netip.Addr{ip}, nil
			}
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		},
		Dial: func(ctx context.Context, network string, ap netip.AddrPort) (net.Conn, error) {
			n.mu.Lock()
			n.dials = append(n.dials, ap)
			to, ok := n.routes[ap]
			n.mu.Unlock()
			if !ok {
				return nil, fmt.Errorf("pubnet: nothing listens at %s", ap)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", to)
		},
	}
}

func TestCheckHostEntry(t *testing.T) {
	for _, ok := range []string{"docs.example.com", "Docs.Example.COM.", "*.example.com", "*.a.b.example.com", "wiki.lan", "wiki.lan:8080",
		"*.corp.example:8443", "10.1.2.3", "10.1.2.3:8080", "[fd00::5]", "[fd00::5]:8443", "münchen.de", "localhost", "my_host.example.com:1"} {
		if err := CheckHostEntry(ok); err != nil {
			t.Errorf("CheckHostEntry(%q) = %v, want ok", ok, err)
		}
	}
	for _, tc := range []struct{ entry, want string }{
		{"", "is empty"},
		{"https://docs.example.com", "is a URL"},
		{"docs.example.com/path", "is not a host name"},
		{"user@docs.example.com", "is not a host name"},
		{" docs.example.com", "is not a host name"},
		{"*", `leading "*."`},
		{"*.com", "top-level domain"},
		{"*.lan", "top-level domain"},
		{"a.*.example.com", `leading "*."`},
		{"*example.com", `leading "*."`},
		{"*.10.0.0.1", "wildcard on an IP address"},
		{"*.[fd00::1]", "not a host name"},
		{"wiki.lan:", `port ""`},
		{"wiki.lan:0", `port "0"`},
		{"wiki.lan:65536", `port "65536"`},
		{"wiki.lan:08080", `port "08080"`},
		{"wiki.lan:http", `port "http"`},
		{"fd00::5", "without brackets"},
		{"[fd00::5", "unclosed"},
		{"[fd00::5]x", "after ]"},
		{"[wiki.lan]:80", "brackets"},
		{"127.1", "non-canonical"},
		{"0x7f000001", "non-canonical"},
		{"169.254.169.254", "never reachable"},
		{"metadata.google.internal", "never reachable"},
		{"[fd00:ec2::254]", "never reachable"},
		{"0.0.0.0:80", "never reachable"},
		{"exa mple.com", "is not a host name"},
		{"example..com", "not a valid host name"},
	} {
		err := CheckHostEntry(tc.entry)
		var he *HostEntryError
		if !errors.As(err, &he) {
			t.Errorf("CheckHostEntry(%q) = %v, want a *HostEntryError", tc.entry, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || he.Hint == "" || strings.Contains(err.Error(), "\n") {
			t.Errorf("CheckHostEntry(%q) = %q, want one line containing %q and a hint", tc.entry, err, tc.want)
		}
	}
}

// TestInvariant7_OnlyHostsTable: with OnlyHosts, exactly the listed hosts
// (on their ports) pass the URL check; everything else is refused with an
// error naming tools.web.fetch.allowedHostnames.
func TestInvariant7_OnlyHostsTable(t *testing.T) {
	only := Policy{OnlyHosts: []string{"docs.example.com", "*.corp.example", "wiki.lan:8080", "[fd00::5]:8443", "10.1.2.3", "Mixed.Example.org."}}
	withOrigin := only
	withOrigin.AllowedOrigins = []string{"http://127.0.0.1:11434"}
	for _, tc := range []struct {
		p    Policy
		raw  string
		ok   bool
		want string
	}{
		{only, "https://docs.example.com/a", true, ""},
		{only, "http://docs.example.com/a", true, ""},
		{only, "https://DOCS.example.com./a", true, ""},
		{only, "https://docs.example.com:443/a", true, ""},
		{only, "https://mixed.example.org/", true, ""},
		{only, "https://docs.example.com:8080/", false, `port 8080 of docs.example.com is not allowed by tools.web.fetch.allowedHostnames`},
		{only, "https://example.com/", false, "example.com is not in tools.web.fetch.allowedHostnames"},
		{only, "https://evil.com/", false, `add "evil.com"`},
		{only, "https://docs.example.com.evil.com/", false, "not in tools.web.fetch.allowedHostnames"},
		{only, "https://a.docs.example.com/", false, "not in"},
		{only, "http://93.184.216.34/", false, "not in"},
		{only, "https://a.corp.example/", true, ""},
		{only, "https://a.b.corp.example/", true, ""},
		{only, "https://corp.example/", false, "not in"},
		{only, "https://xcorp.example/", false, "not in"},
		{only, "http://wiki.lan:8080/", true, ""},
		{only, "http://wiki.lan/", false, `add "wiki.lan:80"`},
		{only, "https://wiki.lan/", false, "ports [8080]"},
		{only, "https://[fd00::5]:8443/", true, ""},
		{only, "https://[fd00::5]/", false, `add "[fd00::5]:443"`},
		{only, "http://10.1.2.3/", true, ""},
		{only, "http://10.1.2.4/", false, "not in"},
		{only, "http://[::ffff:10.1.2.3]/", false, "not in"},
		{only, "http://127.0.0.1:11434/", false, "not in"},
		{withOrigin, "http://127.0.0.1:11434/v1", true, ""},
		{withOrigin, "http://127.0.0.1:11435/", false, "not in"},
		// A malformed list is still a list: nothing is reachable.
		{Policy{OnlyHosts: []string{"https://docs.example.com"}}, "https://docs.example.com/", false, "not in"},
		{Policy{OnlyHosts: []string{"metadata.google.internal"}}, "http://metadata.google.internal/", false, ""},
	} {
		_, err := CheckURL(tc.raw, tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q, %v) = %v, want ok=%v", tc.raw, tc.p.OnlyHosts, err, tc.ok)
			continue
		}
		if err != nil && (!errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckURL(%q) = %q, want ErrBlocked containing %q", tc.raw, err, tc.want)
		}
	}
}

// TestInvariant7_OnlyHostsRefusesUnlistedPublicHost: a public-looking host
// not in OnlyHosts is never connected to, neither directly, nor by a
// redirect from a listed host, nor by a Transport-only client; a listed
// host on its extra port is reached, another port of it is not.
func TestInvariant7_OnlyHostsRefusesUnlistedPublicHost(t *testing.T) {
	unlisted := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	listed := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-unlisted":
			http.Redirect(w, r, "http://unlisted.test/", http.StatusFound)
		case "/to-other-port":
			http.Redirect(w, r, "http://listed.test:9090/", http.StatusFound)
		default:
			io.WriteString(w, "listed")
		}
	}))
	pn := newPubNet()
	pn.host("unlisted.test", 80, unlisted)
	pn.host("unlisted.test", 8080, unlisted)
	pn.host("listed.test", 8080, listed)
	pn.host("listed.test", 9090, unlisted) // the listed host's unlisted port
	p := Policy{OnlyHosts: []string{"listed.test:8080"}, Ports: []int{80, 443, 8080, 9090}, Hooks: pn.hooks()}

	resp, err := p.Client().Get("http://listed.test:8080/")
	if err != nil {
		t.Fatalf("listed host on its extra port: %v", err)
	}
	resp.Body.Close()
	if listed.hits.Load() != 1 {
		t.Fatalf("listed host hits = %d, want 1", listed.hits.Load())
	}
	for _, cl := range []*http.Client{p.Client(), {Transport: p.Transport()}} {
		for _, u := range []string{"http://unlisted.test/", "http://unlisted.test:8080/", "http://listed.test:9090/",
			"http://listed.test:8080/to-unlisted", "http://listed.test:8080/to-other-port"} {
			resp, err := cl.Get(u)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s: fetched", u)
			} else if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "tools.web.fetch.allowedHostnames") {
				t.Errorf("%s: %v, want ErrBlocked naming the setting", u, err)
			}
		}
		// The dialer enforces the list on its own too (host:port only).
		tr := cl.Transport.(*Transport)
		if c, err := tr.DialContext(context.Background(), "tcp", "unlisted.test:80"); err == nil {
			c.Close()
			t.Error("the dialer connected to an unlisted host")
		}
	}
	unlisted.assertUntouched(t)
	for _, ap := range pn.dials {
		if ap.Port() != 8080 || ap.Addr() != pn.names["listed.test"] {
			t.Errorf("dialled %s, which no entry allows", ap)
		}
	}
}

// TestInvariant7_CredentialHeadersStrippedOnCrossOriginRedirect: a redirect
// to another origin (host, port or scheme) carries no credential header and
// no Referer, whatever the caller put in; ordinary headers survive, and a
// same-origin redirect keeps everything. Once a chain has left the origin,
// coming back does not restore the credentials.
func TestInvariant7_CredentialHeadersStrippedOnCrossOriginRedirect(t *testing.T) {
	type seen struct {
		path   string
		header http.Header
	}
	var mu sync.Mutex
	var got []seen
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, seen{r.Host + r.URL.Path, r.Header.Clone()})
		mu.Unlock()
	}
	attacker := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		if r.URL.Path == "/back" {
			http.Redirect(w, r, "http://api.test/final", http.StatusFound)
		}
	}))
	api := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record(w, r)
		switch r.URL.Path {
		case "/to-evil":
			http.Redirect(w, r, "http://evil.test/loot", http.StatusTemporaryRedirect)
		case "/to-sub":
			http.Redirect(w, r, "http://sub.api.test/loot", http.StatusFound)
		case "/to-port":
			http.Redirect(w, r, "http://api.test:8080/loot", http.StatusFound)
		case "/to-same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/round-trip":
			http.Redirect(w, r, "http://evil.test/back", http.StatusFound)
		}
	}))
	pn := newPubNet()
	pn.host("api.test", 80, api)
	pn.host("evil.test", 80, attacker)
	pn.host("sub.api.test", 80, attacker)
	pn.host("api.test", 8080, attacker)
	p := Policy{Ports: []int{80, 8080}, CredentialHeaders: []string{"X-Custom-Credential"}, Hooks: pn.hooks()}
	creds := map[string]string{
		"Authorization":        "Bearer sk-secret-1",
		"Proxy-Authorization":  "Basic c2VjcmV0",
		"Cookie":               "session=secret-2",
		"X-Api-Key":            "secret-3",
		"Api-Key":              "secret-4",
		"X-Subscription-Token": "secret-5",
		"X-Auth-Token":         "secret-6",
		"X-Goog-Api-Key":       "secret-7",
		"Private-Token":        "secret-8",
		"X-Custom-Credential":  "secret-9",
		"Referer":              "http://api.test/bot123:secret-10/getUpdates",
	}
	for _, path := range []string{"/to-evil", "/to-sub", "/to-port", "/to-same", "/round-trip"} {
		got = nil
		req, _ := http.NewRequest(http.MethodGet, "http://api.test"+path, nil)
		for k, v := range creds {
			req.Header.Set(k, v)
		}
		req.Header.Set("X-Trace", "keep-me")
		resp, err := p.Client().Do(req)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		resp.Body.Close()
		if len(got) < 2 {
			t.Fatalf("%s: %d requests seen, want the redirect followed", path, len(got))
		}
		for i, s := range got[1:] {
			if s.header.Get("X-Trace") != "keep-me" {
				t.Errorf("%s hop %d (%s): ordinary header dropped", path, i+1, s.path)
			}
			for k, v := range creds {
				has := strings.Contains(fmt.Sprint(s.header), strings.TrimPrefix(v, "Bearer "))
				if path == "/to-same" && k != "Referer" && !has {
					t.Errorf("%s: same-origin redirect lost %s", path, k)
				}
				if path != "/to-same" && has {
					t.Errorf("%s hop %d (%s) received %s", path, i+1, s.path, k)
				}
			}
		}
	}
	// The caller's request is untouched.
	req, _ := http.NewRequest(http.MethodGet, "http://api.test/to-evil", nil)
	req.Header.Set("X-Api-Key", "secret-3")
	if resp, err := p.Client().Do(req); err == nil {
		resp.Body.Close()
	}
	if req.Header.Get("X-Api-Key") != "secret-3" {
		t.Fatal("the caller's request was modified")
	}
}

func TestIsCredentialHeader(t *testing.T) {
	for _, h := range []string{"Authorization", "Proxy-Authorization", "Cookie", "Cookie2", "X-Api-Key", "x-api-key", "Api-Key", "X-Subscription-Token",
		"X-Auth-Token", "X-Goog-Api-Key", "Private-Token", "X-Amz-Security-Token", "X-Session-Id", "X-Client-Secret", "X-Password", "X-Signature"} {
		if !IsCredentialHeader(h) {
			t.Errorf("%s is not a credential header", h)
		}
	}
	for _, h := range []string{"Accept", "User-Agent", "Content-Type", "X-Trace", "Accept-Language", "Anthropic-Version", "Openai-Beta"} {
		if IsCredentialHeader(h) {
			t.Errorf("%s is a credential header", h)
		}
	}
}

// TestInvariant7_CheckClient: only a client over a netguard Transport passes.
func TestInvariant7_CheckClient(t *testing.T) {
	if err := CheckClient(Policy{}.Client()); err != nil {
		t.Fatalf("Policy.Client: %v", err)
	}
	if err := CheckClient(&http.Client{Transport: Policy{}.Transport()}); err != nil {
		t.Fatalf("a client over Policy.Transport: %v", err)
	}
	for i, c := range []*http.Client{nil, {}, http.DefaultClient, {Transport: http.DefaultTransport}, {Transport: &http.Transport{}},
		{Transport: roundTripFunc(Policy{}.Transport().RoundTrip)}} {
		err := CheckClient(c)
		if !errors.Is(err, ErrNotGuarded) || !strings.Contains(err.Error(), "hint: ") {
			t.Errorf("client %d: %v, want ErrNotGuarded with a hint", i, err)
		}
	}
}

// TestInvariant7_HooksSeeOnlyCheckedAddresses: the Dial hook is never
// handed an address netguard refused.
func TestInvariant7_HooksSeeOnlyCheckedAddresses(t *testing.T) {
	var dials []string
	p := Policy{Ports: []int{80, 8080}, Hooks: &Hooks{
		LookupIP: staticLookup(map[string][]string{"rebind.test": {"127.0.0.1"}, "meta.test": {"169.254.169.254"}, "mixed.test": {"1.2.3.4", "10.0.0.1"}}),
		Dial: func(_ context.Context, _ string, ap netip.AddrPort) (net.Conn, error) {
			dials = append(dials, ap.String())
			return nil, errors.New("dial hook")
		},
	}}
	for _, u := range []string{"http://rebind.test/", "http://meta.test/", "http://mixed.test/", "http://127.0.0.1/", "http://[::1]:8080/", "http://1.2.3.4:22/"} {
		if resp, err := p.Client().Get(u); err == nil {
			resp.Body.Close()
			t.Errorf("%s fetched", u)
		}
	}
	if len(dials) != 0 {
		t.Fatalf("the dial hook saw %v", dials)
	}
	if _, err := p.Client().Get("http://1.2.3.4:" + strconv.Itoa(8080) + "/"); err == nil || len(dials) != 1 {
		t.Fatalf("public address: %v, dials %v", err, dials)
	}
}

// TestInvariant7_SameOriginRedirectsKeepTheBody: an API client
// (SameOriginRedirects) refuses a 307 to another origin, so the request
// body (a prompt, a message) never reaches the redirect's target; a
// redirect within the origin is still followed, and without the flag the
// cross-origin redirect goes through (the control).
func TestInvariant7_SameOriginRedirectsKeepTheBody(t *testing.T) {
	var mu sync.Mutex
	var evilBodies []string
	attacker := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		evilBodies = append(evilBodies, string(b))
		mu.Unlock()
	}))
	api := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/chat":
			http.Redirect(w, r, "http://evil.test/collect", http.StatusTemporaryRedirect)
		case "/v1/moved":
			http.Redirect(w, r, "/v1/final", http.StatusTemporaryRedirect)
		}
	}))
	pn := newPubNet()
	pn.host("api.test", 80, api)
	pn.host("evil.test", 80, attacker)
	post := func(p Policy, path string) error {
		resp, err := p.Client().Post("http://api.test"+path, "application/json", strings.NewReader(`{"prompt":"the owner's secret plans"}`))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	guarded := Policy{SameOriginRedirects: true, Hooks: pn.hooks()}
	if err := post(guarded, "/v1/chat"); err == nil || !strings.Contains(err.Error(), "another origin") {
		t.Fatalf("cross-origin 307 followed: %v", err)
	}
	if err := post(guarded, "/v1/moved"); err != nil {
		t.Fatalf("same-origin redirect refused: %v", err)
	}
	mu.Lock()
	n := len(evilBodies)
	mu.Unlock()
	if n != 0 {
		t.Fatalf("the body reached the redirect target: %q", evilBodies)
	}
	if err := post(Policy{Hooks: pn.hooks()}, "/v1/chat"); err != nil {
		t.Fatalf("control: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(evilBodies) != 1 || !strings.Contains(evilBodies[0], "secret plans") {
		t.Fatalf("control did not reach the target, so the test measures nothing: %q", evilBodies)
	}
}
