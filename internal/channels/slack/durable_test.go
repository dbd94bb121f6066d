package slack

import (
	"errors"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

// TestInvariant14_SlackEnvelopeAckedAfterStore: a Socket Mode envelope is
// acknowledged only once the handler has stored its message; one the
// handler could not store is not acknowledged at all, and Slack's
// redelivery of it (a new envelope) is handled and acknowledged.
func TestInvariant14_SlackEnvelopeAckedAfterStore(t *testing.T) {
	s := connected(t)
	var failing atomic.Bool
	var mu sync.Mutex
	var ackedAtStore [][]string // the fake's acks when each message was stored
	s.in.Fail = func(channels.Message) error {
		if failing.Load() {
			return errors.New("disk full")
		}
		mu.Lock()
		ackedAtStore = append(ackedAtStore, s.fs.Acks())
		mu.Unlock()
		return nil
	}
	ev := fakeslack.Event{Type: "message", User: "U0ALICE", Text: "keep me", TS: "1712349999.000100", Channel: "D0DM", ChannelType: "im"}
	env := s.fs.SendEvent(ev)
	m := s.in.Next(t)
	s.fs.WaitAck(env.EnvelopeID)
	mu.Lock()
	if m.Text != "keep me" || len(ackedAtStore) != 1 || slices.Contains(ackedAtStore[0], env.EnvelopeID) {
		t.Fatalf("envelope %s acknowledged before its message was stored: %v", env.EnvelopeID, ackedAtStore)
	}
	mu.Unlock()

	failing.Store(true)
	lost := s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0ALICE", Text: "retry me", TS: "1712349999.000200", Channel: "D0DM", ChannelType: "im"})
	// A later envelope that is acknowledged shows the first was read.
	s.fs.SendEnvelope(fakeslack.Envelope{EnvelopeID: "env-marker", Type: "slash_commands"})
	s.fs.WaitAck("env-marker")
	if slices.Contains(s.fs.Acks(), lost.EnvelopeID) {
		t.Fatal("an envelope whose message was not stored was acknowledged")
	}
	failing.Store(false)
	again := lost
	again.EnvelopeID, again.RetryAttempt = "env-redelivered", 1
	s.fs.SendEnvelope(again)
	s.fs.WaitAck(again.EnvelopeID)
	if m := s.in.Next(t); m.Text != "retry me" {
		t.Fatalf("redelivery handled as %q", m.Text)
	}
	if _, ok := s.in.NextWithin(50 * time.Millisecond); ok {
		t.Fatal("a message was handled twice")
	}
}

// TestInvariant14_SlackEventsUnstored500: the HTTP Events API answers 500
// to an event the handler could not store (Slack retries), and 200 to the
// retry once it is stored.
func TestInvariant14_SlackEventsUnstored500(t *testing.T) {
	s := httpSetup(t)
	var failing atomic.Bool
	failing.Store(true)
	s.in.Fail = func(channels.Message) error {
		if failing.Load() {
			return errors.New("disk full")
		}
		return nil
	}
	body := dmBody(s.fs, "retry me", "9.1")
	if rec := (fakeslack.EventRequest{Body: body, Secret: testSecret}).Serve(s.a.EventsHandler()); rec.Code != http.StatusInternalServerError {
		t.Fatalf("unstored event answered %d, want 500", rec.Code)
	}
	failing.Store(false)
	if rec := (fakeslack.EventRequest{Body: body, Secret: testSecret}).Serve(s.a.EventsHandler()); rec.Code != http.StatusOK {
		t.Fatalf("retry answered %d, want 200", rec.Code)
	}
	if got := s.in.Wait(t, 1); got[0].Text != "retry me" {
		t.Fatalf("got %q", got[0].Text)
	}
}
