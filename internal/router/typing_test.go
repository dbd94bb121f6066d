package router

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/channels"
)

// heldRunner takes turns and runs none until the test says so.
type heldRunner struct {
	mu   sync.Mutex
	reqs []agent.TurnRequest
}

func (r *heldRunner) Start(_ context.Context, req agent.TurnRequest) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, req)
	return "run", nil
}

func (r *heldRunner) get(i int) agent.TurnRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[i]
}

// "typing" is shown while a turn runs, not while it waits for a slot: a
// burst of queued messages does not fire one request per message at the
// platform at once.
func TestTypingShownWhenTurnStarts(t *testing.T) {
	h := newHarness(t, nil)
	run := &heldRunner{}
	h.r.Agent = run
	h.r.Handle(t.Context(), dmFrom("1", "hello"))
	time.Sleep(20 * time.Millisecond)
	if n := h.tg.typed(); n != 0 {
		t.Fatalf("typing shown %d times for a turn still queued", n)
	}
	req := run.get(0)
	if req.OnStart == nil {
		t.Fatal("the turn request has no OnStart: typing would never show")
	}
	req.OnStart()
	deadline := time.Now().Add(10 * time.Second)
	for h.tg.typed() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	h.tg.mu.Lock()
	typing := append([]channels.Target(nil), h.tg.typing...)
	h.tg.mu.Unlock()
	if len(typing) != 1 || typing[0].ChatID != "1" {
		t.Fatalf("typing after the turn started: %+v", typing)
	}
	req.OnEvent(agent.Event{Type: "final", Result: &agent.TurnResult{Reply: "hi"}})
}

// A turn that ends before typingDelay shows no "typing" at all: the
// reply is there already.
func TestTypingNotShownForQuickTurns(t *testing.T) {
	h := newHarness(t, nil)
	run := &heldRunner{}
	h.r.Agent = run
	h.r.Handle(t.Context(), dmFrom("1", "hello"))
	req := run.get(0)
	req.OnStart()
	req.OnEvent(agent.Event{Type: "final", Result: &agent.TurnResult{Reply: "hi"}})
	time.Sleep(2 * typingDelay)
	if n := h.tg.typed(); n != 0 {
		t.Fatalf("typing shown %d times for a turn that had ended", n)
	}
	if len(h.tg.messages()) != 1 {
		t.Fatalf("reply not sent: %+v", h.tg.messages())
	}
}
