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

// A turn reuses the context it read only when its own message follows it
// directly: a message someone else appended in between (another
// session's sessions_send, a CLI) must not be missing from the model's
// context.
func TestExtendHistoryOnlyWhenContiguous(t *testing.T) {
	hist := []store.Message{{SessionID: "s", Seq: 1}, {SessionID: "s", Seq: 2}}
	if got := extendHistory(hist, []store.Message{{SessionID: "s", Seq: 3}}); len(got) != 3 {
		t.Errorf("contiguous append not reused: %d messages", len(got))
	}
	if got := extendHistory(hist, []store.Message{{SessionID: "s", Seq: 4}}); got != nil {
		t.Errorf("a gap (someone else's message at seq 3) was papered over: %+v", got)
	}
	if got := extendHistory(hist, []store.Message{{SessionID: "other", Seq: 3}}); got != nil {
		t.Errorf("a message of another session id (a reset meanwhile) was appended: %+v", got)
	}
	if got := extendHistory(nil, []store.Message{{SessionID: "s", Seq: 1}}); len(got) != 1 {
		t.Errorf("a new session's first message not reused: %+v", got)
	}
}
