package cli

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestProbePortThroughNetguard: the doctor's gateway probe (a netguard
// client allowed to reach exactly the probed address) tells a Talon
// gateway from another program, also for a gateway bound to 0.0.0.0.
func TestProbePortThroughNetguard(t *testing.T) {
	talon := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			io.WriteString(w, `{"ok":true}`)
		}
	}))
	defer talon.Close()
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	_, port, _ := net.SplitHostPort(talon.Listener.Addr().String())
	ctx := context.Background()
	for addr, want := range map[string]string{
		talon.Listener.Addr().String():    "talon",
		net.JoinHostPort("0.0.0.0", port): "talon",
		other.Listener.Addr().String():    "other",
	} {
		if got := probePort(ctx, addr); got != want {
			t.Errorf("probePort(%s) = %s, want %s", addr, got, want)
		}
	}
	free, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := free.Addr().String()
	free.Close()
	if got := probePort(ctx, addr); got != "free" {
		t.Errorf("probePort(%s) = %s, want free", addr, got)
	}
}
