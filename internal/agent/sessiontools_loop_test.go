package agent

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/tools/sessiontools"
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
	e.reg.Register(sessionTools(e, func() *config.Config { return cfg })...)
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

// TestInvariant4_VisibilityRuleBindsTheOwnerToo: the policy lets the
// owner's own, untainted session call every session tool, so what keeps
// another session's transcript out is tools.sessions.visibility alone. Under
// the default "tree" (and "self") nothing of another session is listed,
// read or written; "agent" opens the same agent's sessions only; "all"
// opens every session.
func TestInvariant4_VisibilityRuleBindsTheOwnerToo(t *testing.T) {
	var cfg *config.Config
	e := newEnv(t, func(c *config.Config, o *Options) {
		c.Tools.Profile = "full"
		cfg = c
		o.Policy = &policy.Rules{Config: func() *config.Config { return cfg }}
	})
	if cfg.Tools.Sessions.Visibility != "tree" {
		t.Fatalf("default visibility %q, want tree", cfg.Tools.Sessions.Visibility)
	}
	e.reg.Register(sessionTools(e, func() *config.Config { return cfg })...)
	ctx := context.Background()
	friend, work := "agent:main:telegram:direct:42", "agent:work:main"
	e.store.EnsureSession(ctx, friend, store.SessionInit{AgentID: "main", Channel: "telegram", PeerID: "42", ChatType: "direct"})
	e.store.AppendMessages(ctx, friend, store.Message{Role: "user", Content: "friend secret: the door code is 8812", Provenance: "trusted"})
	e.store.EnsureSession(ctx, work, store.SessionInit{AgentID: "work"})
	e.store.AppendMessages(ctx, work, store.Message{Role: "user", Content: "work secret: merger with ACME", Provenance: "owner"})

	// run has the owner's model list, read and write the two other
	// sessions, and returns the tool results the model got back by id.
	run := func(vis string, n int) (map[string]ToolCallRecord, map[string]string) {
		t.Helper()
		cfg.Tools.Sessions.Visibility = vis
		e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{
			{ID: "list", Name: "sessions_list", Args: `{}`},
			{ID: "friend", Name: "sessions_history", Args: `{"sessionKey":"` + friend + `"}`},
			{ID: "work", Name: "sessions_history", Args: `{"sessionKey":"` + work + `"}`},
			{ID: "send", Name: "sessions_send", Args: `{"sessionKey":"` + work + `","text":"note from the owner ` + vis + `"}`},
		}}, fakellm.Reply{Text: "done"})
		res, err := e.agent.Run(ctx, TurnRequest{SessionKey: MainSessionKey(""), Text: "look around", Trust: policy.TrustOwner})
		if err != nil {
			t.Fatal(err)
		}
		recs := map[string]ToolCallRecord{}
		for _, c := range res.ToolCalls {
			recs[c.ID] = c
			if c.Decision != policy.Allow && !strings.Contains(c.Reason, "not visible") {
				t.Fatalf("%s: a rule other than session visibility refused %s: %s", vis, c.ID, c.Reason)
			}
		}
		// The tool results are in this turn's last model request (with
		// "all", the turn sessions_send starts in the work session may
		// call the model after it: find the request by its results).
		out := map[string]string{}
		reqs := e.fake.Requests()
		for i := len(reqs) - 1; i >= 0 && len(out) == 0; i-- {
			for _, m := range reqs[i].Messages {
				if m.Role == "tool" && m.ToolCallID == "list" {
					for _, m := range reqs[i].Messages {
						if m.Role == "tool" {
							out[m.ToolCallID] = m.Content
						}
					}
					break
				}
			}
		}
		if vis == "all" {
			// sessions_send started a turn in the work session: wait for it.
			for range 500 {
				hist, _ := e.store.History(ctx, work, store.HistoryOptions{})
				if len(hist) >= n && hist[len(hist)-1].Role == "assistant" {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		return recs, out
	}
	workLen := func() int {
		hist, _ := e.store.History(ctx, work, store.HistoryOptions{})
		return len(hist)
	}

	for _, vis := range []string{"tree", "self"} {
		recs, out := run(vis, 0)
		if strings.Contains(out["list"], friend) || strings.Contains(out["list"], work) {
			t.Errorf("%s: sessions_list shows other sessions: %q", vis, out["list"])
		}
		for _, id := range []string{"friend", "work", "send"} {
			if recs[id].Outcome == "executed" || !strings.Contains(out[id], "not visible") {
				t.Errorf("%s: %s: %s %q", vis, id, recs[id].Outcome, out[id])
			}
		}
		if strings.Contains(out["friend"]+out["work"], "secret") {
			t.Fatalf("%s: another session's transcript reached the model", vis)
		}
		if n := workLen(); n != 1 {
			t.Fatalf("%s: sessions_send wrote into another session (%d messages)", vis, n)
		}
	}

	recs, out := run("agent", 0)
	if !strings.Contains(out["list"], friend) || strings.Contains(out["list"], work) {
		t.Errorf("agent: sessions_list %q", out["list"])
	}
	if recs["friend"].Outcome != "executed" || !strings.Contains(out["friend"], "door code is 8812") {
		t.Errorf("agent: the same agent's session: %s %q", recs["friend"].Outcome, out["friend"])
	}
	if recs["work"].Outcome == "executed" || strings.Contains(out["work"], "merger") || recs["send"].Outcome == "executed" || workLen() != 1 {
		t.Errorf("agent: another agent's session: %s %q, send %s", recs["work"].Outcome, out["work"], recs["send"].Outcome)
	}

	recs, out = run("all", 3)
	if recs["work"].Outcome != "executed" || !strings.Contains(out["work"], "merger") || recs["send"].Outcome != "executed" {
		t.Errorf("all: %s %q, send %s", recs["work"].Outcome, out["work"], recs["send"].Outcome)
	}
	if n := workLen(); n != 3 {
		t.Errorf("all: sessions_send did not reach the work session (%d messages)", n)
	}
}

func sessionTools(e *env, cfg func() *config.Config) []core.Tool {
	return sessiontools.Tools(sessiontools.Options{Config: cfg, Store: e.store, Sender: e.agent, ValidKey: ValidSessionKey})
}
