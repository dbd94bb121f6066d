package netguard

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// TestInvariant7_CheckURLSpellings is the table of URL spellings: every blocked form must be
// refused with ErrBlocked, every public one accepted.
func TestInvariant7_CheckURLSpellings(t *testing.T) {
	blockedURLs := []string{
		// schemes
		"file:///etc/passwd",
		"file://localhost/etc/passwd",
		"gopher://example.com:70/_GET",
		"ftp://example.com/",
		"data:text/plain,hello",
		"javascript:alert(1)",
		"ws://example.com/",
		"dict://example.com:11211/",
		"ldap://example.com/",
		"//example.com/",
		"example.com",
		"http:example.com",
		"http:/example.com",
		"http://",
		"http:///path",
		// userinfo
		"http://user:pass@example.com/",
		"http://user@example.com/",
		"http://example.com@127.0.0.1/",
		"http://127.0.0.1:80@example.com/",
		// loopback v4, every spelling
		"http://127.0.0.1/",
		"http://127.0.0.1:80/",
		"https://127.0.0.1/",
		"HTTP://127.0.0.1/",
		"http://127.0.0.1./",
		"http://127.1/",
		"http://127.0.1/",
		"http://127.000.000.001/",
		"http://2130706433/",
		"http://0177.0.0.1/",
		"http://0177.1/",
		"http://0x7f.1/",
		"http://0x7f000001/",
		"http://0X7F.0.0.1/",
		"http://0x7f.0x0.0x0.0x1/",
		"http://017700000001/",
		"http://127.0.0.2/",
		"http://127.255.255.254/",
		"http://%31%32%37.0.0.1/",
		"http://%31%32%37%2e%30%2e%30%2e%31/",
		"http://１２７.０.０.１/",
		"http://127。0。0。1/",
		"http://%EF%BC%91%EF%BC%92%EF%BC%97.0.0.1/", // percent-encoded fullwidth digits
		"http://%EF%BD%8C%EF%BD%8F%EF%BD%83%EF%BD%81%EF%BD%8C%EF%BD%88%EF%BD%8F%EF%BD%93%EF%BD%94/", // ｌｏｃａｌｈｏｓｔ
		"http://127%E3%80%820%E3%80%820%E3%80%821/",                                                 // ideographic full stops
		// unspecified
		"http://0/",
		"http://0.0.0.0/",
		"http://0x0/",
		"http://000/",
		"http://[::]/",
		"http://[0:0:0:0:0:0:0:0]/",
		// IPv6 loopback and embedded forms
		"http://[::1]/",
		"http://[0:0:0:0:0:0:0:1]/",
		"http://[::1]:443/",
		"http://[::ffff:127.0.0.1]/",
		"http://[0:0:0:0:0:ffff:7f00:1]/",
		"http://[::ffff:7f00:1]/",
		"http://[::FFFF:7F00:1]/",
		"http://[::127.0.0.1]/",
		"http://[::7f00:1]/",
		"http://[::ffff:0:127.0.0.1]/",
		"http://[64:ff9b::7f00:1]/",
		"http://[64:ff9b::127.0.0.1]/",
		"http://[64:ff9b::a9fe:a9fe]/",
		"http://[64:ff9b:1::1]/",
		"http://[64:ff9b:1:7f00:1::]/",
		"http://[2002:7f00:1::]/",
		"http://[2002:a9fe:a9fe::1]/",
		"http://[2002:c0a8:101::1]/",
		"http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", // Teredo client 127.0.0.1
		"http://[2001:0:a9fe:a9fe::f7f7:f7f7]/",          // Teredo server 169.254.169.254, client 8.8.8.8
		"http://[fe80::1]/",
		"http://[fe80::1%25eth0]/",
		"http://[fe80::1%eth0]/",
		"http://[::1%25lo]/",
		"http://[fc00::1]/",
		"http://[fd00::1]/",
		"http://[fd00:ec2::254]/",
		"http://[ff02::1]/",
		"http://[100::1]/",
		"http://[2001:db8::1]/",
		"http://[4000::1]/",
		"http://[::ffff:169.254.169.254]/",
		"http://[::ffff:a9fe:a9fe]/",
		"http://[::ffff:10.0.0.1]/",
		// private and special v4
		"http://10.0.0.1/",
		"http://10.255.255.255/",
		"http://172.16.0.1/",
		"http://172.31.255.255/",
		"http://192.168.1.1/",
		"http://100.64.0.1/",
		"http://100.127.255.255/",
		"http://169.254.169.254/latest/meta-data/",
		"http://169.254.170.2/v2/credentials",
		"http://169.254.0.1/",
		"http://2852039166/",
		"http://0xa9fea9fe/",
		"http://0251.0376.0251.0376/",
		"http://169.254.43518/",
		"http://100.100.100.200/",
		"http://192.0.0.1/",
		"http://192.0.2.1/",
		"http://198.18.0.1/",
		"http://198.19.255.255/",
		"http://198.51.100.1/",
		"http://203.0.113.1/",
		"http://224.0.0.1/",
		"http://239.255.255.250/",
		"http://240.0.0.1/",
		"http://255.255.255.255/",
		"http://0.1.2.3/",
		// names
		"http://localhost/",
		"http://LOCALHOST/",
		"http://localhost./",
		"http://LocalHost.:80/",
		"http://foo.localhost/",
		"http://a.b.localhost/",
		"http://%6c%6f%63%61%6c%68%6f%73%74/",
		"http://ｌｏｃａｌｈｏｓｔ/",
		"http://ⓛⓞⓒⓐⓛⓗⓞⓢⓣ/",
		"http://printer.local/",
		"http://db.internal/",
		"http://metadata.google.internal/computeMetadata/v1/",
		"http://METADATA.GOOGLE.INTERNAL./",
		"http://metadata/",
		"http://instance-data/",
		"http://instance-data.ec2.internal/",
		"http://router.lan/",
		"http://nas.home.arpa/",
		"http://intranet/",
		"http://ip6-localhost/",
		// malformed hosts
		"http://1.2.3.4.5/",
		"http://256.1.1.1/",
		"http://example.123/",
		"http://example..com/",
		"http://example.com../",
		"http://exa mple.com/",
		"http://-/",
		"http://[::1/",
		"http://[127.0.0.1]/",
		"http://[example.com]/",
		"http://::1/",
		"http://a%00b.com/",
		"http://example.com%2f.evil/",
		// ports
		"http://example.com:22/",
		"http://example.com:8080/",
		"http://example.com:0/",
		"http://example.com:65536/",
		"http://example.com:99999999999/",
		"https://93.184.216.34:6379/",
	}
	for _, raw := range blockedURLs {
		u, err := CheckURL(raw, Policy{})
		if err == nil {
			t.Errorf("CheckURL(%q) = %v, want refusal", raw, u)
			continue
		}
		if !errors.Is(err, ErrBlocked) {
			t.Errorf("CheckURL(%q) error %v does not wrap ErrBlocked", raw, err)
		}
		if !strings.HasPrefix(err.Error(), "netguard: blocked: ") {
			t.Errorf("CheckURL(%q) error %q lacks the prefix", raw, err)
		}
	}

	allowed := []struct{ raw, want string }{
		{"https://example.com", "https://example.com"},
		{"https://example.com/", "https://example.com/"},
		{"http://example.com/path?q=1#frag", "http://example.com/path?q=1#frag"},
		{"HTTPS://EXAMPLE.COM/", "https://example.com/"},
		{"https://example.com./", "https://example.com/"},
		{"https://example.com:443/", "https://example.com:443/"},
		{"http://example.com:80/", "http://example.com:80/"},
		{"http://93.184.216.34/", "http://93.184.216.34/"},
		{"https://1.1.1.1/", "https://1.1.1.1/"},
		{"http://8.8.8.8/", "http://8.8.8.8/"},
		{"http://[2606:4700:4700::1111]/", "http://[2606:4700:4700::1111]/"},
		{"http://[2001:4860:4860::8888]:443/", "http://[2001:4860:4860::8888]:443/"},
		{"http://[::ffff:93.184.216.34]/", "http://[::ffff:93.184.216.34]/"},
		{"http://[64:ff9b::5db8:d822]/", "http://[64:ff9b::5db8:d822]/"},
		{"https://münchen.de/", "https://xn--mnchen-3ya.de/"},
		{"https://xn--mnchen-3ya.de/", "https://xn--mnchen-3ya.de/"},
		{"https://api.anthropic.com/v1/messages", "https://api.anthropic.com/v1/messages"},
		{"https://127.0.0.1.nip.io/", "https://127.0.0.1.nip.io/"}, // a name: its resolved address is checked at dial time
		{"https://localhost.example.com/", "https://localhost.example.com/"},
		{"https://my_host.example.com/", "https://my_host.example.com/"},
		{"http://172.32.0.1/", "http://172.32.0.1/"},
		{"http://100.128.0.1/", "http://100.128.0.1/"},
		{"http://11.0.0.1/", "http://11.0.0.1/"},
	}
	for _, tc := range allowed {
		u, err := CheckURL(tc.raw, Policy{})
		if err != nil {
			t.Errorf("CheckURL(%q) = %v, want allowed", tc.raw, err)
			continue
		}
		if got := u.String(); got != tc.want {
			t.Errorf("CheckURL(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
	if n := len(blockedURLs) + len(allowed); n < 80 {
		t.Fatalf("table has %d spellings, want at least 80", n)
	}
}

func TestInvariant7_CheckURLMessages(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"http://127.0.0.1/", "netguard: blocked: 127.0.0.1 is a loopback address (hint: "},
		{"http://0x7f.1/", `"0x7f.1" is a non-canonical spelling of 127.0.0.1, a loopback address`},
		{"http://[::ffff:7f00:1]/", "::ffff:127.0.0.1 is an IPv4-mapped address embedding 127.0.0.1 (a loopback address)"},
		{"http://169.254.169.254/", "169.254.169.254 is a cloud metadata address (hint: no setting opens this destination)"},
		{"gopher://x.com/", `scheme "gopher" is not allowed`},
		{"http://example.com:22/", "port 22 is not allowed"},
		{"http://localhost/", "localhost is a loopback name"},
	} {
		_, err := CheckURL(tc.raw, Policy{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckURL(%q) = %v, want it to contain %q", tc.raw, err, tc.want)
		}
	}
}

func TestInvariant7_CheckURLPolicyExceptions(t *testing.T) {
	origins := Policy{AllowedOrigins: []string{"http://127.0.0.1:11434/v1", "https://LLM.Internal:8443", "http://[::1]:9000"}}
	hosts := Policy{OnlyHosts: []string{"Wiki.Corp.", "10.1.2.3"}}
	private := Policy{AllowPrivate: true}
	ports := Policy{Ports: []int{8080}}
	for _, tc := range []struct {
		name string
		p    Policy
		raw  string
		ok   bool
	}{
		{"origin exact", origins, "http://127.0.0.1:11434/api/chat", true},
		{"origin other port", origins, "http://127.0.0.1:11435/", false},
		{"origin default port", origins, "http://127.0.0.1/", false},
		{"origin other scheme", origins, "https://127.0.0.1:11434/", false},
		{"origin other spelling", origins, "http://127.1:11434/", false},
		{"origin localhost is not 127.0.0.1", origins, "http://localhost:11434/", false},
		{"origin other loopback", origins, "http://127.0.0.2:11434/", false},
		{"origin name", origins, "https://llm.internal:8443/x", true},
		{"origin name case and dot", origins, "https://LLM.INTERNAL.:8443/x", true},
		{"origin name other port", origins, "https://llm.internal/x", false},
		{"origin v6", origins, "http://[::1]:9000/", true},
		{"origin v6 mapped spelling", origins, "http://[0:0:0:0:0:0:0:1]:9000/", true},
		{"allowed host", hosts, "http://wiki.corp/page", true},
		{"allowed host https", hosts, "https://WIKI.corp./page", true},
		{"allowed host bad port", hosts, "http://wiki.corp:8080/", false},
		{"allowed host sub", hosts, "http://a.wiki.corp/", false},
		{"allowed host ip", hosts, "http://10.1.2.3/", true},
		{"allowed host other ip", hosts, "http://10.1.2.4/", false},
		{"private 10", private, "http://10.0.0.1/", true},
		{"private 127", private, "http://127.0.0.1/", true},
		{"private ::1", private, "http://[::1]/", true},
		{"private localhost", private, "http://localhost/", true},
		{"private local", private, "http://printer.local/", true},
		{"private metadata ip", private, "http://169.254.169.254/", false},
		{"private metadata mapped", private, "http://[::ffff:169.254.169.254]/", false},
		{"private metadata nat64", private, "http://[64:ff9b::a9fe:a9fe]/", false},
		{"private metadata v6", private, "http://[fd00:ec2::254]/", false},
		{"private link-local", private, "http://169.254.1.1/", false},
		{"private metadata name", private, "http://metadata.google.internal/", false},
		{"private metadata short name", private, "http://metadata/", false},
		{"private unspecified", private, "http://0.0.0.0/", false},
		{"private legacy spelling", private, "http://127.1/", false},
		{"private still port", private, "http://10.0.0.1:22/", false},
		{"private still scheme", private, "ftp://10.0.0.1/", false},
		{"ports custom", ports, "http://example.com:8080/", true},
		{"ports custom no default", ports, "http://example.com/", false},
		{"metadata as origin", Policy{AllowedOrigins: []string{"http://169.254.169.254"}}, "http://169.254.169.254/", false},
		{"metadata as host", Policy{OnlyHosts: []string{"metadata.google.internal"}}, "http://metadata.google.internal/", false},
	} {
		_, err := CheckURL(tc.raw, tc.p)
		if (err == nil) != tc.ok {
			t.Errorf("%s: CheckURL(%q) = %v, want ok=%v", tc.name, tc.raw, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrBlocked) {
			t.Errorf("%s: error %v does not wrap ErrBlocked", tc.name, err)
		}
	}
}

func TestParseLegacyIPv4(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"2130706433", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"127.0.1", "127.0.0.1"},
		{"0", "0.0.0.0"},
		{"0x", "0.0.0.0"},
		{"1.2.3.4", "1.2.3.4"},
		{"4294967295", "255.255.255.255"},
		{"4294967296", ""},
		{"1.2.3.4.5", ""},
		{"256.1", ""},
		{"1.16777216", ""},
		{"1.16777215", "1.255.255.255"},
		{"08.1.1.1", ""},
		{"0x1g", ""},
		{"a.b", ""},
		{"", ""},
		{"1..2", ""},
	} {
		got, ok := parseLegacyIPv4(tc.in)
		if tc.want == "" {
			if ok {
				t.Errorf("parseLegacyIPv4(%q) = %v, want failure", tc.in, got)
			}
			continue
		}
		if !ok || got != netip.MustParseAddr(tc.want) {
			t.Errorf("parseLegacyIPv4(%q) = %v, %v, want %s", tc.in, got, ok, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	if err := (Policy{AllowedOrigins: []string{"http://127.0.0.1:11434"}, OnlyHosts: []string{"a.b"}, Ports: []int{8080}}).Validate(); err != nil {
		t.Fatalf("valid policy: %v", err)
	}
	err := Policy{AllowedOrigins: []string{"ftp://x", "http://u:p@h.com"}, OnlyHosts: []string{"0x7f.1"}, Ports: []int{0}}.Validate()
	if err == nil {
		t.Fatal("invalid policy accepted")
	}
	for _, want := range []string{`"ftp://x"`, `"http://u:p@h.com"`, `"0x7f.1"`, "port 0"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate error %q does not mention %s", err, want)
		}
	}
}
