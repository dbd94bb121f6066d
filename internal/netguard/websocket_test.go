package netguard

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestInvariant7_WebSocketThroughClient: channel adapters dial WebSockets
// with a netguard client; the upgrade works for an allowed origin and is
// refused, before any connection, for a blocked one.
func TestInvariant7_WebSocketThroughClient(t *testing.T) {
	ws := newCanary(t, "tcp4", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		typ, msg, err := c.Read(r.Context())
		if err != nil {
			return
		}
		c.Write(r.Context(), typ, msg)
		c.Close(websocket.StatusNormalClosure, "")
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	client := Policy{AllowedOrigins: []string{ws.url}}.Client()
	c, _, err := websocket.Dial(ctx, strings.Replace(ws.url, "http:", "ws:", 1), &websocket.DialOptions{HTTPClient: client})
	if err != nil {
		t.Fatalf("dial allowed origin: %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != "ping" {
		t.Fatalf("echo = %q, %v", msg, err)
	}

	other := newCanary(t, "tcp4", "127.0.0.1:0", nil)
	blockedClient := Policy{AllowedOrigins: []string{ws.url}, Ports: []int{other.port}}.Client()
	for _, u := range []string{
		strings.Replace(other.url, "http:", "ws:", 1),
		strings.Replace(other.url, "http://127.0.0.1", "ws://[::ffff:127.0.0.1]", 1),
		strings.Replace(other.url, "http://127.0.0.1", "wss://localhost", 1),
	} {
		if _, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: blockedClient}); !errors.Is(err, ErrBlocked) {
			t.Errorf("websocket.Dial(%s) = %v, want ErrBlocked", u, err)
		}
	}
	other.assertUntouched(t)
}
