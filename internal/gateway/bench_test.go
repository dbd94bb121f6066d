package gateway

import (
	"net"
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

// BenchmarkHealthRoundTrip is one health request and response on an open
// connection over loopback, through the real client.
func BenchmarkHealthRoundTrip(b *testing.B) {
	tg := startGW(b)
	c, err := Dial(b.Context(), tg.url, DialOptions{Token: testToken})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Call(b.Context(), "health", nil, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnect is a whole handshake: upgrade, challenge, connect with a
// token, hello-ok.
func BenchmarkConnect(b *testing.B) {
	tg := startGW(b)
	b.ReportAllocs()
	for b.Loop() {
		c, err := Dial(b.Context(), tg.url, DialOptions{Token: testToken})
		if err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// BenchmarkConnectWith300IdleSockets is the owner's whole handshake and one
// health call while 300 idle HTTP keep-alive sockets are held (the
// resource-exhaustion attack of issue 10). "underCap": the cap is above 300
// and all are held. "atCap": the default cap of 256 is full, so each owner
// connect evicts the oldest idle socket, and the attacker opens a new one
// after every owner connect (untimed).
func BenchmarkConnectWith300IdleSockets(b *testing.B) {
	for _, bc := range []struct {
		name   string
		cap    int
		refill bool
	}{{"underCap", 1000, false}, {"atCap", 256, true}} {
		b.Run(bc.name, func(b *testing.B) {
			tg := startGW(b, withLimits(func(l *config.GatewayLimits) { l.MaxPreAuthConns = bc.cap }))
			ring := make([]net.Conn, 300)
			for i := range ring {
				ring[i], _ = keepAlive(b, tg.host)
			}
			next := 0
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c, err := Dial(b.Context(), tg.url, DialOptions{Token: testToken})
				if err != nil {
					b.Fatal(err)
				}
				if err := c.Call(b.Context(), "health", nil, nil); err != nil {
					b.Fatal(err)
				}
				c.Close()
				if bc.refill {
					// The gateway evicted the oldest; the attacker replaces it.
					b.StopTimer()
					ring[next].Close()
					ring[next], _ = keepAlive(b, tg.host)
					next = (next + 1) % len(ring)
					b.StartTimer()
				}
			}
			held, evicted, _ := tg.g.slots.stats()
			b.ReportMetric(float64(held), "held")
			b.ReportMetric(float64(evicted), "evicted")
		})
	}
}
