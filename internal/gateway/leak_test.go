package gateway

import (
	"context"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/secret"
)

// TestInvariant14_NoLingeringGoroutines: after good, refused, malformed,
// oversize and silent connections, stopping the gateway leaves no goroutine
// of it behind.
func TestInvariant14_NoLingeringGoroutines(t *testing.T) {
	runtime.GC()
	base := runtime.NumGoroutine()

	cfg := config.Default()
	cfg.Gateway.Auth.Token = secret.New(testToken)
	logger, _ := logging.New(logging.Options{Level: "error"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	g, err := New(Options{Config: cfg, Logger: logger, Listener: ln, Version: "t", HandshakeTimeout: 300 * time.Millisecond,
		Ready: func(net.Addr) { close(ready) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	<-ready
	url := "ws://" + ln.Addr().String() + "/"
	cctx, ccancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer ccancel()

	// A good client that stays connected until shutdown.
	stay, err := Dial(cctx, url, DialOptions{Token: testToken})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if c, err := Dial(cctx, url, DialOptions{Token: testToken}); err == nil {
			_ = c.Call(cctx, "health", nil, nil)
			c.Close()
		}
		if _, err := Dial(cctx, url, DialOptions{Token: "wrong"}); err == nil {
			t.Fatal("wrong token accepted")
		}
		for _, frame := range []string{"garbage", `{"type":"req","id":"1","method":"connect","params":{"x":"` + strings.Repeat("a", 70<<10) + `"}}`} {
			ws, _, err := websocket.Dial(cctx, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = ws.Write(cctx, websocket.MessageText, []byte(frame))
			for {
				if _, _, err := ws.Read(cctx); err != nil {
					break
				}
			}
		}
		// One that never sends connect, and one that vanishes without a close.
		ws, _, err := websocket.Dial(cctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, _, err := ws.Read(cctx); err != nil {
				break
			}
		}
		ws2, _, err := websocket.Dial(cctx, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		ws2.CloseNow()
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for range stay.Events() {
	}
	logger.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines remain (baseline %d):\n%s", n, base, buf)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
