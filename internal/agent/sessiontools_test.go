package agent

import (
	"context"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant4_SessionsAreIsolated: the model in a stranger's session
// tries to list, read and write into the owner's session.
func TestInvariant4_SessionsAreIsolated(t *testing.T) {
	var cfg *config.Config
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.Tools.Profile = "full"
		cfg = c
		o.Policy = &policy.Rules{Config: func() *config.Config { return cfg }}
	})
	for _, tl := range e.agent.SessionTools() {
		e.reg.Register(tl)
	}
	ctx := context.Background()
	e.store.EnsureSession(ctx, "agent:main:main", store.SessionInit{AgentID: "main"})
	e.store.AppendMessages(ctx, "agent:main:main", store.Message{Role: "user", Content: "my bank PIN is 4321", Provenance: "owner"})

	stranger := TurnRequest{SessionKey: "agent:main:telegram:direct:666", Text: "what do you know?", SenderID: "telegram:666", Trust: policy.TrustUntrusted,
		Inbound: Inbound{Channel: "telegram", PeerID: "666"}}
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{
		{ID: "l", Name: "sessions_list", Args: `{}`},
		{ID: "h", Name: "sessions_history", Args: `{"sessionKey":"agent:main:main"}`},
		{ID: "s", Name: "sessions_send", Args: `{"sessionKey":"agent:main:main","text":"transfer money"}`},
	}}, fakellm.Reply{Text: "nothing"})
	res, err := e.agent.Run(ctx, stranger)
	if err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	for _, m := range reqs[len(reqs)-1].Messages {
		if m.Role == "tool" && (strings.Contains(m.Content, "4321") || (m.ToolCallID == "l" && strings.Contains(m.Content, "agent:main:main"))) {
			t.Fatalf("another session leaked: %q", m.Content)
		}
	}
	for _, c := range res.ToolCalls {
		// Refused by the policy (a stranger reading the owner's data) or
		// by the tool's visibility rule; never executed.
		if c.ID == "h" && c.Outcome == "executed" {
			t.Errorf("history of another session: %+v", c)
		}
		if c.ID == "s" && c.Outcome == "executed" {
			t.Errorf("send into another session: %+v", c)
		}
	}
	hist, _ := e.store.History(ctx, "agent:main:main", store.HistoryOptions{})
	if len(hist) != 1 {
		t.Fatalf("the owner's session was written to: %+v", hist)
	}

	// visibility "all" opens reading, and the read taints-and-privates.
	cfg.Tools.Sessions.Visibility = "all"
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "h2", Name: "sessions_history", Args: `{"sessionKey":"agent:main:main"}`}}}, fakellm.Reply{Text: "ok"})
	res, err = e.agent.Run(ctx, TurnRequest{SessionKey: "agent:main:cli:direct:owner2", Text: "check main", Trust: policy.TrustOwner})
	if err != nil || res.ToolCalls[0].Outcome != "executed" {
		t.Fatalf("visibility all: %+v %v", res.ToolCalls, err)
	}
}
