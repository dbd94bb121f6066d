package gateway

import (
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/secret"
)

// FuzzHandshake drives the whole connection handler over a real loopback
// WebSocket with arbitrary first frames (then a second one): the gateway must
// answer with a well-formed error or hello-ok, never hang, never crash, and
// never grant a connection without the token.
func FuzzHandshake(f *testing.F) {
	for _, s := range []string{
		`{"type":"req","id":"1","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"1","platform":"linux","mode":"cli"},"auth":{"token":"` + testToken + `"}}}`,
		`{"type":"req","id":"1","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"auth":{"token":"x"}}}`,
		`{"type":"req","id":"1","method":"connect","params":{"minProtocol":4,"maxProtocol":4,"auth":{"token":"` + testToken + `"},"device":{"id":"a","publicKey":"b","signature":"c","signedAt":1}}}`,
		`{"type":"req","id":"1","method":"health"}`,
		`{}`, `null`, `{"type":"req","id":"1","method":"connect","params":{"minProtocol":1e400}}`,
	} {
		f.Add([]byte(s), []byte(`{"type":"req","id":"2","method":"health"}`))
	}
	cfg := config.Default()
	cfg.Gateway.Auth.Token = secret.New(testToken)
	cfg.Gateway.Auth.RateLimit.MaxAttempts = 1 << 30
	logger, _ := logging.New(logging.Options{Level: "error"})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	ready := make(chan struct{})
	g, err := New(Options{Config: cfg, Logger: logger, Listener: ln, Version: "fuzz", HandshakeTimeout: time.Second,
		Ready: func(net.Addr) { close(ready) }})
	if err != nil {
		f.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go g.Run(ctx)
	<-ready
	url := "ws://" + ln.Addr().String() + "/"

	f.Fuzz(func(t *testing.T, first, second []byte) {
		cctx, ccancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer ccancel()
		ws, _, err := websocket.Dial(cctx, url, &websocket.DialOptions{HTTPHeader: map[string][]string{"Origin": {"http://" + ln.Addr().String()}}})
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer ws.CloseNow()
		if _, _, err := ws.Read(cctx); err != nil {
			t.Fatalf("no challenge: %v", err)
		}
		if ws.Write(cctx, websocket.MessageText, first) != nil {
			return
		}
		_, data, err := ws.Read(cctx)
		if err != nil {
			if cctx.Err() != nil {
				t.Fatal("gateway hung on the first frame")
			}
			return // closed (e.g. frame too big)
		}
		var res struct {
			Type    string `json:"type"`
			OK      bool   `json:"ok"`
			Payload struct {
				Type string `json:"type"`
			} `json:"payload"`
			Error *struct{ Code, Message string } `json:"error"`
		}
		if err := json.Unmarshal(data, &res); err != nil || res.Type != "res" {
			t.Fatalf("bad answer %q", data)
		}
		if res.OK {
			var p struct {
				Params struct {
					Auth struct{ Token string } `json:"auth"`
				} `json:"params"`
			}
			if json.Unmarshal(first, &p) != nil || p.Params.Auth.Token != testToken || res.Payload.Type != "hello-ok" {
				t.Fatalf("connection granted without the token: %q", first)
			}
			_ = ws.Write(cctx, websocket.MessageText, second)
			return
		}
		if res.Error == nil || res.Error.Code == "" {
			t.Fatalf("error without code: %q", data)
		}
	})
	_ = logger.Close()
}
