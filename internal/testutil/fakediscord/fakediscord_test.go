package fakediscord

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The fake's wire format, checked with a plain HTTP and WebSocket client.

func TestRESTAuthAndGateway(t *testing.T) {
	s := New(t)
	get := func(path, auth string) (int, map[string]any) {
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, body := get("/users/@me", "Bot wrong"); code != 401 || body["message"] != "401: Unauthorized" {
		t.Errorf("wrong token: %d %v", code, body)
	}
	if code, _ := get("/users/@me", s.Token); code != 401 {
		t.Errorf("token without \"Bot \": %d", code)
	}
	if code, body := get("/users/@me", "Bot "+s.Token); code != 200 || body["id"] != BotID || body["bot"] != true {
		t.Errorf("me: %d %v", code, body)
	}
	if code, body := get("/gateway/bot", "Bot "+s.Token); code != 200 || body["url"] != s.GatewayURL() || body["shards"] != float64(1) {
		t.Errorf("gateway/bot: %d %v", code, body)
	}
	if code, body := get("/gateway", ""); code != 200 || !strings.HasPrefix(body["url"].(string), "ws://127.0.0.1:") {
		t.Errorf("gateway: %d %v", code, body)
	}
}

func TestRateLimitBody(t *testing.T) {
	s := New(t)
	s.RateLimitMessages(1, 1500*time.Millisecond, true)
	req, _ := http.NewRequest("POST", s.URL+"/channels/1/messages", strings.NewReader(`{"content":"x"}`))
	req.Header.Set("Authorization", "Bot "+s.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		RetryAfter float64 `json:"retry_after"`
		Global     bool    `json:"global"`
	}
	json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != 429 || body.RetryAfter != 1.5 || resp.Header.Get("Retry-After") != "2" {
		t.Errorf("429: %d %+v Retry-After %q", resp.StatusCode, body, resp.Header.Get("Retry-After"))
	}
}

type payload struct {
	Op int             `json:"op"`
	D  json.RawMessage `json:"d"`
	S  *int64          `json:"s"`
	T  *string         `json:"t"`
}

func dial(t *testing.T, s *Server) (*websocket.Conn, context.Context) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	c, _, err := websocket.Dial(ctx, s.GatewayURL()+"/?v=10&encoding=json", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c, ctx
}

func read(t *testing.T, ctx context.Context, c *websocket.Conn) payload {
	t.Helper()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var p payload
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

func write(t *testing.T, ctx context.Context, c *websocket.Conn, v string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(v)); err != nil {
		t.Fatal(err)
	}
}

func TestGatewayHandshakeResumeAndClose(t *testing.T) {
	s := New(t)
	s.HeartbeatInterval = 1234 * time.Millisecond
	c, ctx := dial(t, s)
	hello := read(t, ctx, c)
	if hello.Op != 10 || string(hello.D) != `{"heartbeat_interval":1234}` || hello.S != nil || hello.T != nil {
		t.Fatalf("hello %+v %s", hello, hello.D)
	}
	write(t, ctx, c, `{"op":2,"d":{"token":"`+s.Token+`","intents":513,"properties":{"os":"linux","browser":"x","device":"x"}}}`)
	ready := read(t, ctx, c)
	var rd struct {
		SessionID string `json:"session_id"`
		User      struct{ ID string }
	}
	json.Unmarshal(ready.D, &rd)
	if ready.Op != 0 || *ready.T != "READY" || *ready.S != 1 || rd.User.ID != BotID || rd.SessionID == "" {
		t.Fatalf("ready %+v %s", ready, ready.D)
	}
	write(t, ctx, c, `{"op":1,"d":1}`)
	if ack := read(t, ctx, c); ack.Op != 11 {
		t.Fatalf("ack %+v", ack)
	}
	if seq := s.MessageCreate(`{"id":"1","channel_id":"2","content":"a","author":{"id":"3"}}`); seq != 2 {
		t.Errorf("seq %d", seq)
	}
	if ev := read(t, ctx, c); *ev.T != "MESSAGE_CREATE" || *ev.S != 2 {
		t.Fatalf("event %+v", ev)
	}

	s.Drop()
	s.WaitDisconnected()
	s.MessageCreate(`{"id":"4","channel_id":"2","content":"missed","author":{"id":"3"}}`)
	c2, ctx2 := dial(t, s)
	read(t, ctx2, c2) // hello
	write(t, ctx2, c2, `{"op":6,"d":{"token":"Bot `+s.Token+`","session_id":"`+rd.SessionID+`","seq":2}}`)
	if ev := read(t, ctx2, c2); *ev.T != "MESSAGE_CREATE" || *ev.S != 3 {
		t.Fatalf("replay %+v", ev)
	}
	if ev := read(t, ctx2, c2); *ev.T != "RESUMED" {
		t.Fatalf("resumed %+v", ev)
	}

	// An unknown session gets INVALID_SESSION; a wrong token close 4004.
	s.InvalidateSessions()
	c3, ctx3 := dial(t, s)
	read(t, ctx3, c3)
	write(t, ctx3, c3, `{"op":6,"d":{"token":"`+s.Token+`","session_id":"`+rd.SessionID+`","seq":3}}`)
	if inv := read(t, ctx3, c3); inv.Op != 9 || string(inv.D) != "false" {
		t.Fatalf("invalid session %+v", inv)
	}
	c4, ctx4 := dial(t, s)
	read(t, ctx4, c4)
	write(t, ctx4, c4, `{"op":2,"d":{"token":"nope","intents":0}}`)
	_, _, err := c4.Read(ctx4)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4004 {
		t.Fatalf("wrong token: %v, want close 4004", err)
	}
	if st := s.Stats(); st.Identifies != 1 || st.Resumes != 1 || st.Heartbeats != 1 || st.Intents != 513 || st.Query[0] != "10" {
		t.Errorf("stats %+v", st)
	}
}
