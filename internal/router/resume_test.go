package router

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/store"
)

// stuck is a Runner whose turns never end: the gateway died mid-turn.
type stuck struct{ n int }

func (s *stuck) Start(context.Context, agent.TurnRequest) (string, error) { s.n++; return "run", nil }

// restart is a Router over the same store with a fresh adapter and runner,
// as a gateway process after kill -9.
func restart(t *testing.T, h *harness, now time.Time) (*Router, *recorder, *runner) {
	t.Helper()
	tg, run := &recorder{ch: "telegram", acct: "default"}, &runner{}
	r := &Router{Config: h.r.Config, Access: h.r.Access, Agent: run, Journal: h.st, Now: func() time.Time { return now }}
	r.Add(tg)
	return r, tg, run
}

func inboundRows(t *testing.T, st *store.Store) (pending, all int) {
	t.Helper()
	err := st.Read(t.Context(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(t.Context(), `SELECT count(*) FILTER (WHERE state = 'pending'), count(*) FROM inbound`).Scan(&pending, &all)
	})
	if err != nil {
		t.Fatal(err)
	}
	return pending, all
}

// TestInvariant14_ResumeAnswersOnce: messages journaled before a crash are
// answered exactly once after it, in order; one whose reply was already
// delivered is not answered again; one too old gets the note instead; a
// second start sends nothing more.
func TestInvariant14_ResumeAnswersOnce(t *testing.T) {
	h := newHarness(t, nil)
	start := time.Now()
	h.r.Journal = h.st
	h.r.Agent = &stuck{}
	h.r.Now = func() time.Time { return start.Add(-2 * time.Hour) }
	for _, text := range []string{"old one"} {
		if err := h.r.Handle(t.Context(), dmFrom("1", text)); err != nil {
			t.Fatal(err)
		}
	}
	h.r.Now = func() time.Time { return start }
	var first channels.Message
	for _, text := range []string{"replied", "first", "second"} {
		m := dmFrom("1", text)
		if text == "first" {
			first = m
		}
		if err := h.r.Handle(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if p, _ := inboundRows(t, h.st); p != 4 {
		t.Fatalf("%d pending rows, want 4", p)
	}
	// The reply to "replied" went out just before the kill.
	pend, err := h.st.PendingInbound(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.st.MarkInboundReplied(t.Context(), pend[1].ID, start); err != nil {
		t.Fatal(err)
	}

	r, tg, run := restart(t, h, start.Add(time.Minute))
	turns, notes, err := r.Resume(t.Context(), time.Hour)
	if err != nil || turns != 2 || notes != 1 {
		t.Fatalf("Resume = %d turns, %d notes, %v", turns, notes, err)
	}
	sent := tg.messages()
	var texts []string
	for _, s := range sent {
		texts = append(texts, s.Text)
	}
	if len(sent) != 3 || !strings.Contains(texts[0], "was not processed because the gateway restarted") ||
		texts[1] != "echo: first" || texts[2] != "echo: second" {
		t.Fatalf("after restart sent %q", texts)
	}
	for _, req := range run.requests() {
		if !req.Resume || !strings.HasPrefix(req.RunID, "run_in") {
			t.Fatalf("resumed turn %+v is not marked as resumed", req)
		}
	}
	// Replied rows are marked done in a batch a few milliseconds later.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		p, _ := inboundRows(t, h.st)
		if p == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows still pending", p)
		}
	}
	// Done rows keep ids, not text: the transcript is the only copy.
	var kept int
	if err := h.st.Read(t.Context(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(t.Context(), `SELECT count(*) FROM inbound WHERE message != '{}'`).Scan(&kept)
	}); err != nil || kept != 0 {
		t.Fatalf("%d done rows still hold their message (%v)", kept, err)
	}
	// Another restart answers nothing again.
	r2, tg2, _ := restart(t, h, start.Add(2*time.Minute))
	if turns, notes, err := r2.Resume(t.Context(), time.Hour); err != nil || turns+notes != 0 || len(tg2.messages()) != 0 {
		t.Fatalf("second resume: %d %d %v %v", turns, notes, err, tg2.messages())
	}
	// The platform redelivering a message the journal knows (its offset was
	// never confirmed) is a duplicate, not a new turn.
	if err := r2.Handle(t.Context(), first); err != nil || len(tg2.messages()) != 0 {
		t.Fatalf("redelivery after restart: %v, sent %v", err, tg2.messages())
	}
}

// TestInvariant14_HandleErrorWhenNotStored: when the journal cannot be
// written Handle says so (the adapter must not acknowledge) and no turn
// starts; a stranger's message is never journaled.
func TestInvariant14_HandleErrorWhenNotStored(t *testing.T) {
	h := newHarness(t, nil)
	h.r.Journal = h.st
	if err := h.r.Handle(t.Context(), dmFrom("666", "stranger secret text")); err != nil {
		t.Fatal(err)
	}
	if _, all := inboundRows(t, h.st); all != 0 {
		t.Fatalf("a stranger's message was journaled (%d rows)", all)
	}
	m := dmFrom("1", "owner text")
	h.st.Close()
	if err := h.r.Handle(t.Context(), m); err == nil {
		t.Fatal("Handle returned nil without storing the message")
	}
	if n := len(h.run.requests()); n != 0 {
		t.Fatalf("%d turns started for an unstored message", n)
	}
}

// failing is a Runner whose turns end at once with an error, as when the
// gateway's shutdown cancels them.
type failing struct{}

func (failing) Start(_ context.Context, req agent.TurnRequest) (string, error) {
	req.OnEvent(agent.Event{Type: "error", Text: "context canceled"})
	return "run", nil
}

// TestInvariant14_ShutdownLeavesTurnPending: a turn the gateway's shutdown
// cuts short sends no apology and leaves its message pending, so the next
// start answers it.
func TestInvariant14_ShutdownLeavesTurnPending(t *testing.T) {
	h := newHarness(t, nil)
	tg := &recorder{ch: "telegram", acct: "default"}
	r := &Router{Config: h.r.Config, Access: h.r.Access, Agent: failing{}, Journal: h.st}
	r.Add(tg)
	ctx, cancel := context.WithCancel(t.Context())
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := r.Handle(t.Context(), dmFrom("1", "answer me later")); err != nil {
		t.Fatal(err)
	}
	if p, _ := inboundRows(t, h.st); p != 1 || len(tg.messages()) != 0 {
		t.Fatalf("after a cut-short turn: %d pending, sent %v", p, tg.messages())
	}
	r2, tg2, _ := restart(t, h, time.Now())
	if turns, _, err := r2.Resume(t.Context(), time.Hour); err != nil || turns != 1 || len(tg2.messages()) != 1 {
		t.Fatalf("resume: %d turns %v, sent %v", turns, err, tg2.messages())
	}
}
