package netguard

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// canary is a loopback HTTP server that records every connection and request
// it sees; a blocked request must leave it at zero.
type canary struct {
	srv   *httptest.Server
	conns atomic.Int64
	hits  atomic.Int64
	port  int
	url   string // http://127.0.0.1:port
}

func newCanary(t *testing.T, network, addr string, h http.Handler) *canary {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	c := &canary{}
	if h == nil {
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "canary") })
	}
	c.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.hits.Add(1)
		h.ServeHTTP(w, r)
	}))
	c.srv.Listener.Close()
	c.srv.Listener = ln
	c.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			c.conns.Add(1)
		}
	}
	c.srv.Start()
	t.Cleanup(c.srv.Close)
	c.port = ln.Addr().(*net.TCPAddr).Port
	c.url = "http://" + ln.Addr().String()
	return c
}

func (c *canary) assertUntouched(t *testing.T) {
	t.Helper()
	if n, h := c.conns.Load(), c.hits.Load(); n != 0 || h != 0 {
		t.Fatalf("canary %s saw %d connections and %d requests; want none", c.url, n, h)
	}
}

func loopbackSpellings(port int) []string {
	p := strconv.Itoa(port)
	hosts := []string{
		"127.0.0.1", "127.0.0.1.", "127.1", "127.0.1", "2130706433", "0177.0.0.1", "0177.1",
		"0x7f.1", "0x7f000001", "0x7F.0.0.1", "127.000.000.001", "017700000001",
		"0", "0.0.0.0", "0x0", "127.0.0.2",
		"[::]", "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[0:0:0:0:0:ffff:7f00:1]",
		"[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
		"[::1%25lo]", "[fe80::1%25lo]",
		"localhost", "LOCALHOST", "localhost.", "foo.localhost", "ip6-localhost",
		"１２７.０.０.１", "127。0。0。1", "%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1", "ｌｏｃａｌｈｏｓｔ",
	}
	var urls []string
	for _, h := range hosts {
		urls = append(urls, "http://"+h+":"+p+"/", "https://"+h+":"+p+"/")
	}
	return urls
}

// TestInvariant7_CanaryLoopbackSpellings: with the canary's port allowed, only the
// address rule stands between the request and the canary; every spelling
// must be refused with ErrBlocked through Client, Get, and the bare
// Transport, and the canary must see nothing.
func TestInvariant7_CanaryLoopbackSpellings(t *testing.T) {
	c4 := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	p := Policy{Ports: []int{c4.port}}
	client := p.Client()
	bare := &http.Client{Transport: p.Transport(), CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx := context.Background()
	for _, u := range loopbackSpellings(c4.port) {
		for name, do := range map[string]func() (*http.Response, error){
			"Client.Get": func() (*http.Response, error) { return client.Get(u) },
			"Get":        func() (*http.Response, error) { return Get(ctx, client, u) },
			"Transport":  func() (*http.Response, error) { return bare.Get(u) },
		} {
			resp, err := do()
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s(%q) succeeded", name, u)
				continue
			}
			// The bare Transport cannot see a URL that does not parse
			// (e.g. a zone without %25); net/http refuses those itself.
			if !errors.Is(err, ErrBlocked) && !(name == "Transport" && isParseError(err)) {
				t.Errorf("%s(%q) = %v, want ErrBlocked", name, u, err)
			}
		}
	}
	c4.assertUntouched(t)

	// Control: the same canary is reachable once its origin is allowed, so
	// zero hits above means blocked, not unreachable.
	ok := Policy{AllowedOrigins: []string{c4.url}}.Client()
	resp, err := ok.Get(c4.url + "/")
	if err != nil {
		t.Fatalf("allowed origin: %v", err)
	}
	resp.Body.Close()
	if c4.hits.Load() != 1 {
		t.Fatalf("control request: canary hits = %d, want 1", c4.hits.Load())
	}
}

func isParseError(err error) bool {
	var ue *url.Error
	return errors.As(err, &ue) && ue.Op == "parse"
}

// TestInvariant7_CanaryIPv6Loopback runs the IPv6 spellings against a canary that
// really listens on [::1].
func TestInvariant7_CanaryIPv6Loopback(t *testing.T) {
	c6 := newCanary(t, "tcp6", "[::1]:0", nil)
	p := Policy{Ports: []int{c6.port}}
	port := strconv.Itoa(c6.port)
	for _, h := range []string{"[::1]", "[0:0:0:0:0:0:0:1]", "[::]", "localhost", "ip6-localhost", "[::1%25lo]"} {
		for _, cl := range []*http.Client{p.Client(), {Transport: p.Transport()}} {
			resp, err := cl.Get("http://" + h + ":" + port + "/")
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s succeeded", h)
			} else if !errors.Is(err, ErrBlocked) {
				t.Errorf("%s: %v, want ErrBlocked", h, err)
			}
		}
	}
	c6.assertUntouched(t)
	resp, err := Policy{AllowedOrigins: []string{"http://[::1]:" + port}}.Client().Get("http://[::1]:" + port + "/")
	if err != nil {
		t.Fatalf("allowed v6 origin: %v", err)
	}
	resp.Body.Close()
}

func staticLookup(m map[string][]string) func(context.Context, string) ([]netip.Addr, error) {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		ss, ok := m[strings.TrimSuffix(strings.ToLower(host), ".")]
		if !ok {
			return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
		}
		var out []netip.Addr
		for _, s := range ss {
			out = append(out, netip.MustParseAddr(s))
		}
		return out, nil
	}
}

// TestInvariant7_DialTimeRebinding: a name that passes the static check but resolves to
// a blocked address is refused by the dialer; so is a name with one public
// and one private address, in either order.
func TestInvariant7_DialTimeRebinding(t *testing.T) {
	c := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	p := Policy{
		Ports: []int{c.port},
		Hooks: &Hooks{LookupIP: staticLookup(map[string][]string{
			"rebind.test":   {"127.0.0.1"},
			"mapped.test":   {"::ffff:127.0.0.1"},
			"mixed.test":    {"93.184.216.34", "127.0.0.1"},
			"mixed2.test":   {"127.0.0.1", "93.184.216.34"},
			"metadata.test": {"169.254.169.254"},
			"nat64.test":    {"64:ff9b::7f00:1"},
			"ok.test":       {"127.0.0.1"},
		})},
	}
	for _, name := range []string{"rebind.test", "REBIND.test.", "mapped.test", "mixed.test", "mixed2.test", "metadata.test", "nat64.test"} {
		u := fmt.Sprintf("http://%s:%d/", name, c.port)
		if _, err := CheckURL(u, p); err != nil {
			t.Fatalf("CheckURL(%q) = %v; the static check must pass so the dial-time check is what is tested", u, err)
		}
		for _, cl := range []*http.Client{p.Client(), {Transport: p.Transport()}} {
			resp, err := cl.Get(u)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s succeeded", u)
			} else if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "resolves to") {
				t.Errorf("%s: %v, want ErrBlocked at dial time", u, err)
			}
		}
	}
	c.assertUntouched(t)

	// OnlyHosts opens ok.test; the dialer connects to the address it
	// checked (the system resolver knows nothing of ok.test).
	p.OnlyHosts = []string{"ok.test"}
	resp, err := p.Client().Get(fmt.Sprintf("http://ok.test:%d/", c.port))
	if err != nil {
		t.Fatalf("allowed host: %v", err)
	}
	resp.Body.Close()
	if c.hits.Load() != 1 {
		t.Fatalf("canary hits = %d, want 1", c.hits.Load())
	}
	// ...but never a metadata address, even for an allowed host.
	p.OnlyHosts = []string{"metadata.test"}
	if _, err := p.Client().Get(fmt.Sprintf("http://metadata.test:%d/", c.port)); !errors.Is(err, ErrBlocked) {
		t.Fatalf("allowed host resolving to metadata: %v, want ErrBlocked", err)
	}
}

// TestInvariant7_DialTimeRebindingRealResolver drives the Resolver path with a real
// net.Resolver talking to a tiny DNS server on loopback.
func TestInvariant7_DialTimeRebindingRealResolver(t *testing.T) {
	c := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	dns := newDNSServer(t, map[string][4]byte{
		"rebind.test.": {127, 0, 0, 1},
		"ok.test.":     {127, 0, 0, 1},
	})
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", dns)
	}}
	p := Policy{Ports: []int{c.port}, Resolver: r}
	resp, err := p.Client().Get(fmt.Sprintf("http://rebind.test:%d/", c.port))
	if err == nil {
		resp.Body.Close()
		t.Fatal("rebind.test succeeded")
	}
	if !errors.Is(err, ErrBlocked) || !strings.Contains(err.Error(), "resolves to 127.0.0.1") {
		t.Fatalf("rebind.test: %v, want ErrBlocked at dial time", err)
	}
	c.assertUntouched(t)

	p.OnlyHosts = []string{"ok.test"}
	resp, err = p.Client().Get(fmt.Sprintf("http://ok.test:%d/", c.port))
	if err != nil {
		t.Fatalf("ok.test: %v", err)
	}
	resp.Body.Close()
	if c.hits.Load() != 1 {
		t.Fatalf("canary hits = %d, want 1", c.hits.Load())
	}
}

// newDNSServer answers A queries for names from a map over UDP on loopback;
// other types get an empty answer, unknown names NXDOMAIN.
func newDNSServer(t *testing.T, a map[string][4]byte) string {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Skipf("udp: %v", err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := buf[:n]
			if len(q) < 12 {
				continue
			}
			// Question name.
			i, name := 12, ""
			for i < len(q) && q[i] != 0 {
				l := int(q[i])
				if i+1+l > len(q) {
					break
				}
				name += strings.ToLower(string(q[i+1:i+1+l])) + "."
				i += 1 + l
			}
			if i+5 > len(q) {
				continue
			}
			qtype := binary.BigEndian.Uint16(q[i+1:])
			qend := i + 5
			resp := append([]byte(nil), q[:qend]...)
			resp[2], resp[3] = 0x81, 0x80 // response, RD, RA, NOERROR
			binary.BigEndian.PutUint16(resp[6:], 0)
			binary.BigEndian.PutUint16(resp[8:], 0)
			binary.BigEndian.PutUint16(resp[10:], 0)
			ip, ok := a[name]
			switch {
			case !ok:
				resp[3] = 0x83 // NXDOMAIN
			case qtype == 1:
				binary.BigEndian.PutUint16(resp[6:], 1)
				resp = append(resp, 0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 0, 0, 4)
				resp = append(resp, ip[:]...)
			}
			pc.WriteTo(resp, from)
		}
	}()
	return pc.LocalAddr().String()
}

// TestInvariant7_RedirectsRechecked: redirects are re-checked on every hop and counted.
func TestInvariant7_RedirectsRechecked(t *testing.T) {
	other := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	otherPort := strconv.Itoa(other.port)
	var origin *canary
	origin = newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/to-other":
			http.Redirect(w, r, "http://127.0.0.1:"+otherPort+"/", http.StatusFound)
		case r.URL.Path == "/to-v6":
			http.Redirect(w, r, "http://[::1]:"+otherPort+"/", http.StatusFound)
		case r.URL.Path == "/to-mapped":
			http.Redirect(w, r, "http://[::ffff:127.0.0.1]:"+otherPort+"/", http.StatusTemporaryRedirect)
		case r.URL.Path == "/to-decimal":
			http.Redirect(w, r, "http://2130706433:"+otherPort+"/", http.StatusMovedPermanently)
		case r.URL.Path == "/to-localhost":
			http.Redirect(w, r, "http://localhost:"+otherPort+"/", http.StatusSeeOther)
		case r.URL.Path == "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case r.URL.Path == "/to-file":
			http.Redirect(w, r, "file:///etc/passwd", http.StatusFound)
		case r.URL.Path == "/to-https-same":
			http.Redirect(w, r, strings.Replace(origin.url, "http:", "https:", 1)+"/", http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/chain/"):
			n, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/chain/"))
			if n > 0 {
				http.Redirect(w, r, "/chain/"+strconv.Itoa(n-1), http.StatusFound)
				return
			}
			io.WriteString(w, "end")
		default:
			io.WriteString(w, "origin")
		}
	}))
	p := Policy{AllowedOrigins: []string{origin.url}, Ports: []int{other.port}}
	client := p.Client()
	for _, path := range []string{"/to-other", "/to-v6", "/to-mapped", "/to-decimal", "/to-localhost", "/to-metadata", "/to-file", "/to-https-same"} {
		resp, err := client.Get(origin.url + path)
		if resp != nil {
			resp.Body.Close()
		}
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("redirect %s: %v, want ErrBlocked", path, err)
		}
	}
	other.assertUntouched(t)

	for _, tc := range []struct {
		max, hops int
		ok        bool
	}{
		{0, 3, true}, {0, 4, false}, {2, 2, true}, {2, 3, false}, {-1, 0, true}, {-1, 1, false}, {5, 5, true},
	} {
		p := Policy{AllowedOrigins: []string{origin.url}, MaxRedirects: tc.max}
		resp, err := p.Client().Get(fmt.Sprintf("%s/chain/%d", origin.url, tc.hops))
		if resp != nil {
			resp.Body.Close()
		}
		if (err == nil) != tc.ok {
			t.Errorf("MaxRedirects=%d, %d hops: %v, want ok=%v", tc.max, tc.hops, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("MaxRedirects=%d: %v does not wrap ErrBlocked", tc.max, err)
		}
	}
}

func TestInvariant7_BodyCap(t *testing.T) {
	c := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		if r.URL.Query().Get("chunked") == "" {
			w.Header().Set("Content-Length", strconv.Itoa(n))
		}
		w.Write([]byte(strings.Repeat("x", n)))
	}))
	p := Policy{AllowedOrigins: []string{c.url}, MaxBodyBytes: 1000}
	for _, tc := range []struct {
		query string
		ok    bool
	}{
		{"n=0", true}, {"n=999", true}, {"n=1000", true}, {"n=1001", false}, {"n=100000", false},
		{"n=1000&chunked=1", true}, {"n=1001&chunked=1", false},
	} {
		resp, err := p.Client().Get(c.url + "/?" + tc.query)
		if err != nil {
			t.Fatalf("%s: %v", tc.query, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.query, err)
		}
		if !tc.ok && !errors.Is(err, ErrBodyTooLarge) {
			t.Errorf("%s: read %d bytes, err %v; want ErrBodyTooLarge", tc.query, len(b), err)
		}
		if len(b) > 1000 {
			t.Errorf("%s: read %d bytes past the cap", tc.query, len(b))
		}
	}
	// The cap applies to the decoded body: a small gzip bomb is cut off.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(make([]byte, 1<<20))
	zw.Close()
	bomb := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz.Bytes())
	}))
	resp, err := Policy{AllowedOrigins: []string{bomb.url}, MaxBodyBytes: 1000}.Client().Get(bomb.url)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); !errors.Is(err, ErrBodyTooLarge) || len(b) > 1000 {
		t.Fatalf("gzip bomb: read %d bytes, %v; want ErrBodyTooLarge", len(b), err)
	}
	resp.Body.Close()

	// The default cap is 10 MiB.
	resp, err = Policy{AllowedOrigins: []string{c.url}}.Client().Get(c.url + "/?n=" + strconv.Itoa(10<<20+1))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("default cap: %v, want ErrBodyTooLarge", err)
	}
}

func TestInvariant7_Timeout(t *testing.T) {
	c := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	start := time.Now()
	resp, err := Policy{AllowedOrigins: []string{c.url}, Timeout: 200 * time.Millisecond}.Client().Get(c.url)
	if err == nil {
		resp.Body.Close()
		t.Fatal("slow request succeeded")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

// TestInvariant7_EnvironmentProxyIgnored: proxies from the environment never see a
// request; the request goes straight to the checked address.
func TestInvariant7_EnvironmentProxyIgnored(t *testing.T) {
	proxy := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	target := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"} {
		t.Setenv(k, proxy.url)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")
	p := Policy{
		OnlyHosts: []string{"public.test"},
		Ports:     []int{target.port},
		Hooks:     &Hooks{LookupIP: staticLookup(map[string][]string{"public.test": {"127.0.0.1"}})},
	}
	if tr := p.Transport(); tr.inner.Proxy != nil {
		t.Fatal("Transport has a Proxy func")
	}
	resp, err := p.Client().Get(fmt.Sprintf("http://public.test:%d/", target.port))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// https through HTTPS_PROXY would CONNECT to the proxy; here the TLS
	// handshake goes to the target (and fails: it speaks plain HTTP).
	if resp, err := p.Client().Get(fmt.Sprintf("https://public.test:%d/", target.port)); err == nil {
		resp.Body.Close()
	}
	proxy.assertUntouched(t)
	if target.hits.Load() != 1 {
		t.Fatalf("target hits = %d, want 1", target.hits.Load())
	}
}

func TestInvariant7_AllowedOriginExact(t *testing.T) {
	a := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	b := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	for _, p := range []Policy{
		{AllowedOrigins: []string{a.url}},
		{AllowedOrigins: []string{a.url}, Ports: []int{b.port}}, // port open: the address rule must stop it
	} {
		cl := p.Client()
		for _, u := range []string{
			b.url + "/",
			fmt.Sprintf("http://localhost:%d/", b.port),
			fmt.Sprintf("http://127.0.0.2:%d/", b.port),
		} {
			resp, err := cl.Get(u)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s succeeded", u)
			} else if !errors.Is(err, ErrBlocked) {
				t.Errorf("%s: %v, want ErrBlocked", u, err)
			}
		}
		// Other spellings of the allowed origin are not the origin.
		for _, u := range []string{
			fmt.Sprintf("http://localhost:%d/", a.port),
			fmt.Sprintf("http://127.1:%d/", a.port),
			fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", a.port),
			fmt.Sprintf("https://127.0.0.1:%d/", a.port),
		} {
			resp, err := cl.Get(u)
			if err == nil {
				resp.Body.Close()
				t.Errorf("%s succeeded", u)
			} else if !errors.Is(err, ErrBlocked) {
				t.Errorf("%s: %v, want ErrBlocked", u, err)
			}
		}
		resp, err := cl.Get(a.url + "/x")
		if err != nil {
			t.Fatalf("allowed origin: %v", err)
		}
		resp.Body.Close()
	}
	b.assertUntouched(t)
	if got := a.hits.Load(); got != 2 {
		t.Fatalf("origin hits = %d, want 2", got)
	}
}

func TestInvariant7_AllowPrivateKeepsMetadataClosed(t *testing.T) {
	c := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	p := Policy{
		AllowPrivate: true,
		Ports:        []int{c.port},
		Hooks: &Hooks{LookupIP: staticLookup(map[string][]string{
			"lan.test":  {"127.0.0.1"},
			"meta.test": {"169.254.169.254"},
			"ll.test":   {"169.254.1.1"},
			"map.test":  {"::ffff:169.254.169.254"},
		})},
	}
	cl := p.Client()
	for _, u := range []string{c.url + "/", fmt.Sprintf("http://lan.test:%d/", c.port)} {
		resp, err := cl.Get(u)
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		resp.Body.Close()
	}
	if c.hits.Load() != 2 {
		t.Fatalf("hits = %d, want 2", c.hits.Load())
	}
	for _, u := range []string{
		"http://169.254.169.254/latest/meta-data/",
		fmt.Sprintf("http://169.254.169.254:%d/", c.port),
		"http://[fd00:ec2::254]/",
		"http://[::ffff:a9fe:a9fe]/",
		"http://metadata.google.internal/",
		"http://metadata/",
		fmt.Sprintf("http://meta.test:%d/", c.port),
		fmt.Sprintf("http://ll.test:%d/", c.port),
		fmt.Sprintf("http://map.test:%d/", c.port),
		"http://0.0.0.0/",
	} {
		resp, err := cl.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s succeeded", u)
		} else if !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", u, err)
		}
	}
	if c.hits.Load() != 2 {
		t.Fatalf("hits = %d after blocked requests, want 2", c.hits.Load())
	}
}

func TestInvariant7_NonHTTPSchemesRefused(t *testing.T) {
	cl := Policy{AllowPrivate: true}.Client()
	for _, u := range []string{"file:///etc/passwd", "gopher://127.0.0.1:70/_x", "ftp://example.com/", "data:text/plain,x", "ws://example.com/", "unix:///var/run/docker.sock"} {
		resp, err := cl.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Errorf("%s succeeded", u)
		} else if !errors.Is(err, ErrBlocked) {
			t.Errorf("Client.Get(%s): %v, want ErrBlocked", u, err)
		}
		if _, err := Get(context.Background(), cl, u); !errors.Is(err, ErrBlocked) {
			t.Errorf("Get(%s): %v, want ErrBlocked", u, err)
		}
	}
}

func TestInvariant7_GetRefusesForeignClients(t *testing.T) {
	var hits atomic.Int64
	foreign := func(*http.Request) (*http.Response, error) {
		hits.Add(1)
		return nil, errors.New("foreign transport used")
	}
	for _, c := range []*http.Client{nil, http.DefaultClient, {}, {Transport: http.DefaultTransport},
		{Transport: roundTripFunc(foreign)}, {Transport: roundTripFunc(Policy{}.Transport().RoundTrip)}} {
		if _, err := Get(context.Background(), c, "https://example.com/"); !errors.Is(err, ErrNotGuarded) {
			t.Errorf("Get with %v: %v, want ErrNotGuarded", c, err)
		}
	}
	if hits.Load() != 0 {
		t.Fatal("a foreign transport was used")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestInvariant7_DialerRefusesOtherNetworks(t *testing.T) {
	c, _ := Policy{}.compile()
	d := &dialer{p: Policy{}, c: c}
	for _, nw := range []string{"udp", "unix", "ip"} {
		if _, err := d.dialContext(context.Background(), nw, "93.184.216.34:443"); !errors.Is(err, ErrBlocked) {
			t.Errorf("network %s: %v, want ErrBlocked", nw, err)
		}
	}
}
