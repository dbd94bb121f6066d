package agent

import (
	"context"
	"testing"

	"github.com/talonclaw/talon/internal/policy"
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
	if _, err := e.agent.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: key, Text: "once only", RunID: "run_in1"}); err == nil {
		t.Fatal("the first try did not fail")
	}
	e.fake.Script(fakellm.Reply{Text: "answered"}, fakellm.Reply{Text: "answered too"})
	for _, req := range []TurnRequest{
		{SessionKey: key, Text: "once only", RunID: "run_in1", Resume: true, Trust: policy.TrustOwner},
		{SessionKey: key, Text: "never stored", RunID: "run_in2", Resume: true, Trust: policy.TrustOwner},
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
	// A turn that had stored its answer before the crash (only the reply
	// was not sent) answers with it again, without a model call.
	calls := e.fake.Count()
	res, err := e.agent.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: key, Text: "never stored", RunID: "run_in2", Resume: true})
	if err != nil || res.Reply != "answered too" || e.fake.Count() != calls {
		t.Fatalf("resumed finished turn: %+v %v, model calls %d -> %d", res, err, calls, e.fake.Count())
	}
	if hist, _ := e.store.History(ctx, key, store.HistoryOptions{}); len(hist) != 4 {
		t.Fatalf("transcript grew to %d messages", len(hist))
	}
}
