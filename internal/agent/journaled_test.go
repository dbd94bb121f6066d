package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// A journaled turn stores its user message with the first response: the
// model sees it, and the transcript holds it, before the reply, under the
// turn's run id.
func TestJournaledTurnStoresUserMessageWithResponse(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(
		fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "echo", Args: `{"text":"ping"}`}}},
		fakellm.Reply{Text: "done"})
	e.reg.Register(&echoTool{})
	const key = "agent:main:telegram:direct:7"
	req := TurnRequest{SessionKey: key, Text: "hello from the journal", SenderID: "telegram:7", Trust: policy.TrustOwner,
		RunID: "run_in42", Journaled: true}
	if _, err := e.agent.Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls", len(reqs))
	}
	first := reqs[0].Messages
	if last := first[len(first)-1]; last.Role != "user" || last.Content != "hello from the journal" {
		t.Fatalf("the first call did not end with the user message: %+v", last)
	}
	h, err := e.store.History(context.Background(), key, store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range h {
		roles = append(roles, m.Role)
		if m.RunID != "run_in42" {
			t.Errorf("message %d has run id %q", m.Seq, m.RunID)
		}
	}
	if got := strings.Join(roles, " "); got != "user assistant tool assistant" {
		t.Fatalf("transcript %s", got)
	}
	if h[0].Content != "hello from the journal" || h[0].SenderID != "telegram:7" {
		t.Errorf("stored user message %+v", h[0])
	}
}

// A journaled turn that ends before any response — here the model fails —
// still leaves its user message in the transcript for the next try, as an
// unjournaled turn does (invariant 14: nothing acknowledged is lost).
func TestInvariant14_JournaledTurnKeepsMessageWhenModelFails(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(fakellm.Reply{Status: 400, Text: "bad request"})
	const key = "agent:main:telegram:direct:8"
	req := TurnRequest{SessionKey: key, Text: "please keep me", SenderID: "telegram:8", Trust: policy.TrustOwner,
		RunID: "run_in43", Journaled: true}
	if _, err := e.agent.Run(context.Background(), req); err == nil {
		t.Fatal("the turn succeeded against a failing model")
	}
	h, err := e.store.History(context.Background(), key, store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Content != "please keep me" || h[0].RunID != "run_in43" {
		t.Fatalf("transcript after the failed turn: %+v", h)
	}
}
