package gateway

import (
	"testing"
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
