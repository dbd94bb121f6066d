package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestShutdownDrainsThenCancels: Shutdown refuses new turns, lets a turn
// that finishes in time deliver its end, cancels one still running at the
// deadline, and returns only once every turn has returned — so the caller
// may close the store behind it.
func TestShutdownDrainsThenCancels(t *testing.T) {
	e := newEnv(t)
	hold := make(chan struct{})
	e.fake.Script(fakellm.Reply{Text: "quick", Delay: 50 * time.Millisecond}, fakellm.Reply{Text: "never", Hold: hold})
	defer close(hold)
	var mu sync.Mutex
	ends := map[string]string{}
	start := func(key string) {
		_, err := e.agent.Start(context.WithoutCancel(t.Context()), TurnRequest{Trust: policy.TrustOwner, SessionKey: key, Text: "hi", OnEvent: func(ev Event) {
			switch ev.Type {
			case "final", "error", "aborted":
				mu.Lock()
				ends[key] = ev.Type
				mu.Unlock()
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	start("agent:main:one")
	for e.fake.Count() < 1 {
		time.Sleep(time.Millisecond)
	}
	start("agent:main:two")
	for e.fake.Count() < 2 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := e.agent.Shutdown(ctx)
	if err == nil {
		t.Fatal("Shutdown reported a clean drain with a turn held at the model")
	}
	mu.Lock()
	got := map[string]string{"one": ends["agent:main:one"], "two": ends["agent:main:two"]}
	mu.Unlock()
	if got["one"] != "final" || got["two"] == "" || got["two"] == "final" {
		t.Fatalf("turn ends when Shutdown returned: %v", got)
	}
	if _, err := e.agent.Start(t.Context(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:three", Text: "late"}); !errors.Is(err, ErrShuttingDown) {
		t.Fatalf("a turn started after Shutdown: %v", err)
	}
}
