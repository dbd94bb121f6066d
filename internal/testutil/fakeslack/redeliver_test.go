package fakeslack

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// dialSocket opens a Socket Mode connection as a client would and reads
// the hello.
func dialSocket(t *testing.T, s *Server) *websocket.Conn {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"apps.connections.open", strings.NewReader(""))
	req.Header.Set("Authorization", "Bearer "+s.AppToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var open struct {
		OK  bool   `json:"ok"`
		URL string `json:"url"`
	}
	json.NewDecoder(resp.Body).Decode(&open)
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, open.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	if env := readEnvelope(t, c); env.Type != "hello" {
		t.Fatalf("first message %+v, want hello", env)
	}
	return c
}

func readEnvelope(t *testing.T, c *websocket.Conn) Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var env Envelope
	if err := json.Unmarshal(data, &env); err != nil {
		t.Fatal(err)
	}
	return env
}

// Deliver holds an event until it is acknowledged: sent on the next
// connection if none is open, and again (new envelope id, next
// retry_attempt, same event) when its connection closes unacknowledged.
func TestDeliverRedeliversUnackedOnReconnect(t *testing.T) {
	s := New(t)
	first := s.Deliver(Event{Type: "message", User: "U1", Text: "one", TS: "1.1", Channel: "D1", ChannelType: "im"})
	if d := s.Deliveries(); len(d) != 1 || d[0].Attempts != 0 || d[0].Acked {
		t.Fatalf("before any connection: %+v", d)
	}

	c := dialSocket(t, s)
	got := readEnvelope(t, c)
	if got.EnvelopeID != first.EnvelopeID || got.RetryAttempt != 0 || got.Payload.EventID != first.Payload.EventID {
		t.Fatalf("queued event sent as %+v, want %+v", got, first)
	}
	second := s.Deliver(Event{Type: "message", User: "U1", Text: "two", TS: "1.2", Channel: "D1", ChannelType: "im"})
	if got := readEnvelope(t, c); got.EnvelopeID != second.EnvelopeID {
		t.Fatalf("live event sent as %+v", got)
	}
	ack, _ := json.Marshal(map[string]string{"envelope_id": second.EnvelopeID})
	c.Write(context.Background(), websocket.MessageText, ack)
	s.WaitAck(second.EnvelopeID)
	c.CloseNow() // "one" was never acknowledged
	s.wait("the connection to close", func() bool { return len(s.conns) == 0 })
	if s.Unacked() != 1 {
		t.Fatalf("unacked %d, want 1: %+v", s.Unacked(), s.Deliveries())
	}

	c = dialSocket(t, s)
	defer c.CloseNow()
	again := readEnvelope(t, c)
	if again.Payload.EventID != first.Payload.EventID || again.EnvelopeID == first.EnvelopeID ||
		again.RetryAttempt != 1 || again.RetryReason == "" {
		t.Fatalf("redelivery %+v of %+v", again, first)
	}
	ack, _ = json.Marshal(map[string]string{"envelope_id": again.EnvelopeID})
	c.Write(context.Background(), websocket.MessageText, ack)
	s.WaitAck(again.EnvelopeID)
	d := s.Deliveries()
	if s.Unacked() != 0 || s.Redelivered() != 1 || d[0].Attempts != 2 || d[1].Attempts != 1 {
		t.Fatalf("after the redelivery was acknowledged: unacked %d, redelivered %d, %+v", s.Unacked(), s.Redelivered(), d)
	}
	// An acknowledged event is not sent again.
	c.CloseNow()
	c = dialSocket(t, s)
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, data, err := c.Read(ctx); err == nil {
		t.Fatalf("acknowledged event sent again: %s", data)
	}
}
