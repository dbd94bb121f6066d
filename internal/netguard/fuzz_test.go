package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/idna"
)

// FuzzCheckURL: CheckURL never panics, and whatever it accepts under the
// default policy is not a blocked address under any reading of its host:
// as net/http will dial it (IDNA-mapped), as a canonical IP, as an
// inet_aton spelling, or as a local name.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/", "https://example.com/", "http://0x7f.1/", "http://[::ffff:7f00:1]/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := CheckURL(raw, Policy{})
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q in %q", u.Scheme, raw)
		}
		if u.User != nil {
			t.Fatalf("accepted userinfo in %q", raw)
		}
		// What net/http would dial for the original string.
		orig, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("CheckURL accepted %q that url.Parse refuses: %v", raw, err)
		}
		for _, h := range []string{u.Hostname(), orig.Hostname()} {
			if a, err := idna.Lookup.ToASCII(h); err == nil {
				assertNotBlockedHost(t, raw, a)
			}
			assertNotBlockedHost(t, raw, h)
		}
	})
}

func assertNotBlockedHost(t *testing.T, raw, h string) {
	t.Helper()
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if ip, err := netip.ParseAddr(h); err == nil {
		if reason, b := BlockedIP(ip); b {
			t.Fatalf("accepted %q: host %s is %s", raw, ip, reason)
		}
	}
	if ip, ok := parseLegacyIPv4(h); ok && ip.String() != h {
		t.Fatalf("accepted %q: host %q is a legacy spelling of %s", raw, h, ip)
	}
	// A non-ASCII host is never dialled as is: net/http maps it with IDNA
	// first (checked by the caller), so only ASCII names are classified.
	if reason, c := classifyName(h); c != classPublic && !strings.Contains(h, ":") && isASCII(h) {
		if _, err := netip.ParseAddr(h); err != nil {
			t.Fatalf("accepted %q: host %q is %s", raw, h, reason)
		}
	}
}

// FuzzBlockedIP: BlockedIP never panics, agrees with the standard library's
// own predicates, and treats every IPv6 form by the IPv4 address it embeds.
func FuzzBlockedIP(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1})
	f.Add(netip.MustParseAddr("::ffff:169.254.169.254").AsSlice())
	f.Fuzz(func(t *testing.T, b []byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		reason, blocked := BlockedIP(ip)
		if blocked && reason == "" || !blocked && reason != "" {
			t.Fatalf("BlockedIP(%s) = %q, %v", ip, reason, blocked)
		}
		if (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
			ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || !ip.IsGlobalUnicast()) && !blocked {
			t.Fatalf("BlockedIP(%s) allowed an address the standard library calls non-public", ip)
		}
		if ip.Is4() {
			b4 := ip.As4()
			var embeds []netip.Addr
			embeds = append(embeds,
				netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: b4[0], 13: b4[1], 14: b4[2], 15: b4[3]}),
				netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: b4[0], 13: b4[1], 14: b4[2], 15: b4[3]}),
				netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: b4[0], 3: b4[1], 4: b4[2], 5: b4[3]}),
				netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 12: ^b4[0], 13: ^b4[1], 14: ^b4[2], 15: ^b4[3], 4: 8, 5: 8, 6: 8, 7: 8}),
			)
			for _, e := range embeds {
				if _, eb := BlockedIP(e); eb != blocked {
					t.Fatalf("BlockedIP(%s) = %v but BlockedIP(%s) = %v", ip, blocked, e, eb)
				}
			}
			if _, eb := BlockedIP(netip.AddrFrom16([16]byte{12: b4[0], 13: b4[1], 14: b4[2], 15: b4[3]})); !eb {
				t.Fatalf("IPv4-compatible form of %s allowed", ip)
			}
		}
	})
}

func BenchmarkCheckURL(b *testing.B) {
	p := Policy{AllowedOrigins: []string{"http://127.0.0.1:11434"}, OnlyHosts: []string{"wiki.example.org"}}
	urls := []string{
		"https://example.com/some/path?q=1",
		"http://127.0.0.1:11434/v1/chat",
		"http://0x7f.1/",
		"http://[::ffff:7f00:1]/",
		"https://münchen.de/",
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		CheckURL(urls[i%len(urls)], p)
	}
}

// BenchmarkCheckURLCompiled is the per-request cost inside Client, where the
// policy is compiled once.
func BenchmarkCheckURLCompiled(b *testing.B) {
	c, _ := Policy{AllowedOrigins: []string{"http://127.0.0.1:11434"}}.compile()
	b.ReportAllocs()
	for b.Loop() {
		c.checkURL("https://example.com/some/path?q=1")
	}
}

// FuzzHostEntry: parsing an OnlyHosts entry never panics, and a valid entry
// lets through exactly what it names: its host (or a name below a wildcard)
// on its ports passes CheckURL with the entry as the only host.
func FuzzHostEntry(f *testing.F) {
	for _, s := range []string{"docs.example.com", "*.example.com", "wiki.lan:8080", "[fd00::5]:8443", "10.1.2.3", "München.DE.", "*.a.b:1",
		"127.1", "*.com", "fd00::5", "[::1]", "x:0", "https://a", "*", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseHostEntry(s)
		if err != nil {
			var he *HostEntryError
			if !errors.As(err, &he) || he.Hint == "" {
				t.Fatalf("ParseHostEntry(%q) = %v, want a *HostEntryError with a hint", s, err)
			}
			if CheckHostEntry(s) == nil {
				t.Fatalf("CheckHostEntry(%q) accepts what ParseHostEntry refuses", s)
			}
			return
		}
		host := e.Host
		if e.Wildcard {
			host = "sub." + host
		}
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		p := Policy{OnlyHosts: []string{s}}
		for _, port := range e.Ports {
			raw := fmt.Sprintf("http://%s:%d/", host, port)
			if _, err := CheckURL(raw, p); err != nil {
				t.Fatalf("entry %q: %s refused: %v", s, raw, err)
			}
		}
		if _, err := CheckURL("http://not-listed.example/", p); err == nil && !(e.Wildcard && strings.HasSuffix("not-listed.example", "."+e.Host)) && e.Host != "not-listed.example" {
			t.Fatalf("entry %q lets an unlisted host through", s)
		}
	})
}
