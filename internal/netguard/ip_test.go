package netguard

import (
	"net/netip"
	"strings"
	"testing"
)

func TestInvariant7_BlockedIP(t *testing.T) {
	for _, tc := range []struct {
		ip      string
		blocked bool
		reason  string // substring of the reason, if blocked
	}{
		{"127.0.0.1", true, "loopback"},
		{"127.255.255.255", true, "loopback"},
		{"0.0.0.0", true, "unspecified"},
		{"0.255.255.255", true, "unspecified"},
		{"10.0.0.0", true, "RFC 1918"},
		{"10.255.255.255", true, "RFC 1918"},
		{"172.16.0.0", true, "RFC 1918"},
		{"172.31.255.255", true, "RFC 1918"},
		{"172.15.255.255", false, ""},
		{"172.32.0.0", false, ""},
		{"192.168.0.1", true, "RFC 1918"},
		{"169.254.169.254", true, "metadata"},
		{"169.254.170.2", true, "metadata"},
		{"169.254.0.1", true, "link-local"},
		{"100.64.0.0", true, "carrier-grade"},
		{"100.127.255.255", true, "carrier-grade"},
		{"100.63.255.255", false, ""},
		{"100.128.0.0", false, ""},
		{"100.100.100.200", true, "metadata"},
		{"192.0.0.1", true, "IETF"},
		{"192.0.0.192", true, "metadata"},
		{"192.0.2.1", true, "documentation"},
		{"198.18.0.1", true, "benchmarking"},
		{"198.19.255.255", true, "benchmarking"},
		{"198.20.0.0", false, ""},
		{"198.51.100.7", true, "documentation"},
		{"203.0.113.9", true, "documentation"},
		{"224.0.0.1", true, "multicast"},
		{"239.255.255.255", true, "multicast"},
		{"240.0.0.1", true, "reserved"},
		{"255.255.255.255", true, "broadcast"},
		{"192.88.99.1", true, "6to4 relay"},
		{"1.1.1.1", false, ""},
		{"8.8.8.8", false, ""},
		{"93.184.216.34", false, ""},
		{"223.255.255.255", false, ""},
		// IPv6
		{"::", true, "unspecified"},
		{"::1", true, "loopback"},
		{"::2", true, "IPv4-compatible"},
		{"::127.0.0.1", true, "loopback"},
		{"::8.8.8.8", true, "IPv4-compatible"},
		{"::ffff:127.0.0.1", true, "IPv4-mapped address embedding 127.0.0.1 (a loopback"},
		{"::ffff:7f00:1", true, "loopback"},
		{"::ffff:169.254.169.254", true, "metadata"},
		{"::ffff:10.1.1.1", true, "RFC 1918"},
		{"::ffff:8.8.8.8", false, ""},
		{"::ffff:0:127.0.0.1", true, "IPv4-translated"},
		{"::ffff:0:8.8.8.8", false, ""},
		{"64:ff9b::127.0.0.1", true, "NAT64 address embedding 127.0.0.1"},
		{"64:ff9b::169.254.169.254", true, "metadata"},
		{"64:ff9b::10.0.0.1", true, "RFC 1918"},
		{"64:ff9b::8.8.8.8", false, ""},
		{"64:ff9b:1::1", true, "local-use NAT64"},
		{"64:ff9b:1:7f00:1::", true, "local-use NAT64"},
		{"64:ff9b:1:808:8:8::", true, "local-use NAT64"},
		{"2002:7f00:1::", true, "6to4 address embedding 127.0.0.1"},
		{"2002:a9fe:a9fe::", true, "metadata"},
		{"2002:0a00:0001::1", true, "RFC 1918"},
		{"2002:808:808::1", false, ""},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", true, "Teredo address (client) embedding 127.0.0.1"},
		{"2001:0:a9fe:a9fe::f7f7:f7f7", true, "Teredo address (server) embedding 169.254.169.254"},
		{"2001:0:808:808::f7f7:f7f7", false, ""},
		{"fe80::1", true, "link-local"},
		{"febf::1", true, "link-local"},
		{"fec0::1", true, "site-local"},
		{"fc00::1", true, "unique local"},
		{"fd12:3456::1", true, "unique local"},
		{"fd00:ec2::254", true, "AWS IMDS"},
		{"fd00:ec2::23", true, "metadata"},
		{"ff02::1", true, "multicast"},
		{"ff0e::1", true, "multicast"},
		{"100::1", true, "discard"},
		{"100::ffff:ffff:ffff:ffff", true, "discard"},
		{"2001:db8::1", true, "documentation"},
		{"3fff::1", true, "documentation"},
		{"2001:2::1", true, "benchmarking"},
		{"2001:10::1", true, "ORCHID"},
		{"4000::1", true, "global unicast"},
		{"1::1", true, "global unicast"},
		{"2606:4700:4700::1111", false, ""},
		{"2001:4860:4860::8888", false, ""},
		{"2a00:1450:4001::1", false, ""},
	} {
		ip := netip.MustParseAddr(tc.ip)
		reason, blocked := BlockedIP(ip)
		if blocked != tc.blocked {
			t.Errorf("BlockedIP(%s) = %q, %v; want blocked=%v", tc.ip, reason, blocked, tc.blocked)
			continue
		}
		if blocked && !strings.Contains(reason, tc.reason) {
			t.Errorf("BlockedIP(%s) reason %q does not contain %q", tc.ip, reason, tc.reason)
		}
		if !blocked && reason != "" {
			t.Errorf("BlockedIP(%s) allowed with reason %q", tc.ip, reason)
		}
	}
	if r, b := BlockedIP(netip.Addr{}); !b || r == "" {
		t.Errorf("BlockedIP(zero) = %q, %v; want blocked", r, b)
	}
	if r, b := BlockedIP(netip.MustParseAddr("2606:4700::1%eth0")); !b || !strings.Contains(r, "zone") {
		t.Errorf("BlockedIP(zoned) = %q, %v; want blocked for its zone", r, b)
	}
}

// TestInvariant7_BlockedIPClasses pins which blocks a policy can and cannot open.
func TestInvariant7_BlockedIPClasses(t *testing.T) {
	for _, tc := range []struct {
		ip   string
		want class
	}{
		{"127.0.0.1", classPrivate},
		{"10.0.0.1", classPrivate},
		{"::1", classPrivate},
		{"fd12::1", classPrivate},
		{"::ffff:192.168.1.1", classPrivate},
		{"169.254.169.254", classHard},
		{"169.254.1.1", classHard},
		{"::ffff:169.254.169.254", classHard},
		{"64:ff9b::a9fe:a9fe", classHard},
		{"2002:a9fe:a9fe::", classHard},
		{"fd00:ec2::254", classHard},
		{"0.0.0.0", classHard},
		{"::", classHard},
		{"224.0.0.1", classHard},
		{"8.8.8.8", classPublic},
	} {
		if _, got := classifyIP(netip.MustParseAddr(tc.ip)); got != tc.want {
			t.Errorf("classifyIP(%s) = %d, want %d", tc.ip, got, tc.want)
		}
	}
}
