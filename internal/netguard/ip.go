package netguard

import (
	"fmt"
	"net/netip"
)

// class says how bad a destination is.
type class uint8

const (
	classPublic  class = iota // reachable
	classPrivate              // local network: allowed only by an owner-configured exception
	classHard                 // never reachable, whatever the policy (metadata, reserved)
)

type rangeRule struct {
	prefix netip.Prefix
	reason string
	class  class
}

func rule(p, reason string, c class) rangeRule {
	return rangeRule{netip.MustParsePrefix(p), reason, c}
}

// Order matters: the first matching rule wins, so exact metadata addresses come
// before the ranges that contain them.
var v4Rules = []rangeRule{
	rule("169.254.169.254/32", "a cloud metadata address", classHard),
	rule("169.254.170.2/32", "a cloud metadata address (ECS task credentials)", classHard),
	rule("169.254.170.23/32", "a cloud metadata address (EKS pod identity)", classHard),
	rule("100.100.100.200/32", "a cloud metadata address (Alibaba Cloud)", classHard),
	rule("192.0.0.192/32", "a cloud metadata address (Oracle Cloud)", classHard),
	// All of IPv4 link-local stays closed: clouds keep DNS, NTP and
	// credential services there, not only at .169.254.
	rule("169.254.0.0/16", "a link-local address (cloud metadata range)", classHard),
	rule("0.0.0.0/8", "an unspecified (\"this network\") address", classHard),
	rule("127.0.0.0/8", "a loopback address", classPrivate),
	rule("10.0.0.0/8", "a private (RFC 1918) address", classPrivate),
	rule("172.16.0.0/12", "a private (RFC 1918) address", classPrivate),
	rule("192.168.0.0/16", "a private (RFC 1918) address", classPrivate),
	rule("100.64.0.0/10", "a carrier-grade NAT (RFC 6598) address", classPrivate),
	rule("192.0.0.0/24", "an IETF protocol assignment (RFC 6890) address", classPrivate),
	rule("192.0.2.0/24", "a documentation (TEST-NET-1) address", classPrivate),
	rule("198.51.100.0/24", "a documentation (TEST-NET-2) address", classPrivate),
	rule("203.0.113.0/24", "a documentation (TEST-NET-3) address", classPrivate),
	rule("198.18.0.0/15", "a benchmarking (RFC 2544) address", classPrivate),
	rule("192.88.99.0/24", "a deprecated 6to4 relay anycast address", classHard),
	rule("224.0.0.0/4", "a multicast address", classHard),
	rule("255.255.255.255/32", "the broadcast address", classHard),
	rule("240.0.0.0/4", "a reserved (240/4) address", classHard),
}

var v6Rules = []rangeRule{
	rule("fd00:ec2::254/128", "a cloud metadata address (AWS IMDS over IPv6)", classHard),
	rule("fd00:ec2::23/128", "a cloud metadata address (EKS pod identity over IPv6)", classHard),
	rule("100::/64", "a discard-only (RFC 6666) address", classHard),
	rule("2001:db8::/32", "a documentation address", classPrivate),
	rule("3fff::/20", "a documentation address", classPrivate),
	rule("2001:2::/48", "a benchmarking address", classPrivate),
	rule("2001:10::/28", "a deprecated ORCHID address", classHard),
	rule("2001:20::/28", "an ORCHIDv2 address", classHard),
	rule("5f00::/16", "a segment routing (SRv6 SID) address", classPrivate),
	rule("fc00::/7", "a unique local (ULA) address", classPrivate),
	rule("fe80::/10", "a link-local address", classPrivate),
	rule("fec0::/10", "a deprecated site-local address", classPrivate),
	rule("ff00::/8", "a multicast address", classHard),
}

var (
	pfxIPv4Compat     = netip.MustParsePrefix("::/96")
	pfxIPv4Translated = netip.MustParsePrefix("::ffff:0:0:0/96")
	pfxNAT64          = netip.MustParsePrefix("64:ff9b::/96")
	pfxNAT64Local     = netip.MustParsePrefix("64:ff9b:1::/48")
	pfx6to4           = netip.MustParsePrefix("2002::/16")
	pfxTeredo         = netip.MustParsePrefix("2001::/32")
	pfxGlobalUnicast  = netip.MustParsePrefix("2000::/3")
)

// BlockedIP reports whether ip must not be dialled by default, and why. The
// reason reads after the address: "127.0.0.1 is " + reason.
//
// Blocked are loopback, unspecified, RFC 1918, link-local (with cloud
// metadata), CGNAT, 0/8, IETF, documentation and benchmarking ranges,
// multicast, broadcast, reserved, ULA, discard, addresses with a zone, IPv6
// outside global unicast, and every IPv6 form that embeds a blocked IPv4
// address (IPv4-mapped, IPv4-compatible, IPv4-translated, NAT64 including the
// local-use 64:ff9b:1::/48, 6to4 and Teredo).
//
// Some of these a Policy can open (see Policy.AllowPrivate); metadata,
// unspecified, multicast and reserved addresses it never can.
func BlockedIP(ip netip.Addr) (reason string, blocked bool) {
	reason, c := classifyIP(ip)
	return reason, c != classPublic
}

func classifyIP(ip netip.Addr) (string, class) {
	if !ip.IsValid() {
		return "not a valid IP address", classHard
	}
	if ip.Zone() != "" {
		return "a scoped address (zone " + ip.Zone() + ")", classHard
	}
	if ip.Is4() {
		for _, r := range v4Rules {
			if r.prefix.Contains(ip) {
				return r.reason, r.class
			}
		}
		return "", classPublic
	}
	if ip.Is4In6() {
		return embedded("an IPv4-mapped address", ip.Unmap(), false)
	}
	switch ip {
	case netip.IPv6Unspecified():
		return "an unspecified address", classHard
	case netip.IPv6Loopback():
		return "a loopback address", classPrivate
	}
	b := ip.As16()
	v4at := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{b[i], b[i+1], b[i+2], b[i+3]}) }
	switch {
	case pfxIPv4Compat.Contains(ip):
		// Deprecated (RFC 4291); nothing legitimate uses it, so it is
		// refused even when the embedded address is public.
		return embedded("a deprecated IPv4-compatible address", v4at(12), true)
	case pfxIPv4Translated.Contains(ip):
		return embedded("an IPv4-translated address", v4at(12), false)
	}
	for _, r := range v6Rules[:2] { // metadata first
		if r.prefix.Contains(ip) {
			return r.reason, r.class
		}
	}
	switch {
	case pfxNAT64.Contains(ip):
		return embedded("a NAT64 address", v4at(12), false)
	case pfxNAT64Local.Contains(ip):
		// RFC 8215 local-use NAT64 reaches the operator's own network.
		// The embedded address depends on the prefix length the operator
		// chose; check the /48 (RFC 6052: octets 6,7,9,10) and /96 layouts.
		r48, c48 := embedded("a local-use NAT64 address", netip.AddrFrom4([4]byte{b[6], b[7], b[9], b[10]}), false)
		r96, c96 := embedded("a local-use NAT64 address", v4at(12), false)
		if c96 > c48 {
			r48, c48 = r96, c96
		}
		if c48 == classPublic {
			return "a local-use NAT64 (64:ff9b:1::/48) address", classPrivate
		}
		return r48, c48
	case pfx6to4.Contains(ip):
		return embedded("a 6to4 address", v4at(2), false)
	case pfxTeredo.Contains(ip):
		server := v4at(4)
		client := netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]})
		rs, cs := embedded("a Teredo address (server)", server, false)
		rc, cc := embedded("a Teredo address (client)", client, false)
		if cc >= cs {
			return rc, cc
		}
		return rs, cs
	}
	for _, r := range v6Rules[2:] {
		if r.prefix.Contains(ip) {
			return r.reason, r.class
		}
	}
	if !pfxGlobalUnicast.Contains(ip) {
		return "not a global unicast address (outside 2000::/3)", classHard
	}
	return "", classPublic
}

// embedded classifies an IPv6 form by the IPv4 address it carries. If
// alwaysBlock is set, a public embedded address still yields classHard.
func embedded(form string, v4 netip.Addr, alwaysBlock bool) (string, class) {
	reason, c := classifyIP(v4)
	if c == classPublic {
		if alwaysBlock {
			return fmt.Sprintf("%s embedding %s", form, v4), classHard
		}
		return "", classPublic
	}
	return fmt.Sprintf("%s embedding %s (%s)", form, v4, reason), c
}
