package agent

import (
	"context"
	"testing"

	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant14_ResumedTurnStoresItsMessageOnce: a turn resumed after a
// crash whose user message is already in the transcript (the turn had
// started) does not store it again; one whose message never got there
// stores it.
func TestInvariant14_ResumedTurnStoresItsMessageOnce(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	key := MainSessionKey("")
	e.fake.Script(fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500})
	// The first try stored the message and died (here: the provider failed).
	if _, err := e.agent.Run(ctx, TurnRequest{SessionKey: key, Text: "once only", RunID: "run_in1"}); err == nil {
		t.Fatal("the first try did not fail")
	}
	e.fake.Script(fakellm.Reply{Text: "answered"}, fakellm.Reply{Text: "answered too"})
	for _, req := range []TurnRequest{
		{SessionKey: key, Text: "once only", RunID: "run_in1", Resume: true},
		{SessionKey: key, Text: "never stored", RunID: "run_in2", Resume: true},
	} {
		if _, err := e.agent.Run(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	hist, err := e.store.History(ctx, key, store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, m := range hist {
		if m.Role == "user" {
			count[m.Content]++
		}
	}
	if count["once only"] != 1 || count["never stored"] != 1 {
		t.Fatalf("user messages in the transcript: %v", count)
	}
}
