// Package sessiontools implements sessions_list, sessions_history and
// sessions_send.
//
// Invariant 4: what another session holds is reachable only as
// tools.sessions.visibility allows — self (the default), agent, or all.
// The rule is the policy's (session-visibility, on the plan's session
// targets); sessions_list filters with the same function
// (policy.SessionVisible). Every read of another transcript is private
// data, and one that held untrusted content taints the reader; a message
// sent into another session enters it untrusted.
package sessiontools

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// Sender starts a turn in another session with a message from this one,
// as an untrusted sender (the agent implements it).
type Sender interface {
	SendToSession(ctx context.Context, from core.Actor, sessionKey, text string) (runID string, err error)
}

// Options are what the session tools need.
type Options struct {
	Config func() *config.Config
	Store  *store.Store
	Sender Sender
	// ValidKey reports whether a session key is well formed.
	ValidKey func(string) bool
}

// Tools returns sessions_list, sessions_history and sessions_send.
func Tools(o Options) []core.Tool {
	return []core.Tool{list{o}, history{o}, send{o}}
}

// target is a session as a plan names it: its key and, if it exists, its
// agent.
func (o Options) target(ctx context.Context, key string) (core.Target, error) {
	t := core.Target{Kind: core.TargetSession, Value: key}
	s, ok, err := o.Store.Session(ctx, key)
	if err != nil {
		return t, err
	}
	if ok {
		t.Agent = orDefault(s.AgentID, "main")
	}
	return t, nil
}

func (o Options) validKey(k string) bool { return k != "" && (o.ValidKey == nil || o.ValidKey(k)) }

type list struct{ o Options }

func (list) Spec() core.Spec {
	return core.Spec{Name: "sessions_list", Group: "group:sessions", Description: "List the sessions this session may see.",
		Parameters: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)}
}

func (list) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a struct{}
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return nil, fmt.Errorf("invalid arguments: want {}")
	}
	return (&core.Plan{Tool: "sessions_list", Effects: core.ReadsPrivate, Args: c.Args, Summary: "list the sessions visible from this one"}).Seal(), nil
}

func (t list) Run(ctx context.Context, c core.Call, _ *core.Plan) (core.Result, error) {
	all, err := t.o.Store.ListSessions(ctx, store.ListSessionsOptions{Limit: 200})
	if err != nil {
		return core.Result{}, err
	}
	vis := t.o.Config().Tools.Sessions.Visibility
	var b strings.Builder
	for _, s := range all {
		if policy.SessionVisible(vis, c.Actor, core.Target{Kind: core.TargetSession, Value: s.Key, Agent: orDefault(s.AgentID, "main")}) {
			fmt.Fprintf(&b, "%s  channel=%s messages=%d updated=%s\n", s.Key, orDefault(s.Channel, "-"), s.MessageCount, s.UpdatedAt.UTC().Format("2006-01-02T15:04Z"))
		}
	}
	if b.Len() == 0 {
		return core.Result{Content: "no visible sessions"}, nil
	}
	return core.Result{Content: b.String()}, nil
}

type history struct{ o Options }

func (history) Spec() core.Spec {
	return core.Spec{Name: "sessions_history", Group: "group:sessions", Description: "Read the recent messages of a session this session may see.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"sessionKey":{"type":"string"}},"required":["sessionKey"],"additionalProperties":false}`)}
}

type historyArgs struct {
	SessionKey string `json:"sessionKey"`
}

func (t history) Plan(ctx context.Context, c core.Call) (*core.Plan, error) {
	var a historyArgs
	if err := json.Unmarshal(c.Args, &a); err != nil || !t.o.validKey(a.SessionKey) {
		return nil, fmt.Errorf("invalid arguments: want {sessionKey}")
	}
	tg, err := t.o.target(ctx, a.SessionKey)
	if err != nil {
		return nil, err
	}
	return (&core.Plan{Tool: "sessions_history", Effects: core.ReadsPrivate, Args: c.Args, Canon: a,
		Summary: "read the transcript of " + a.SessionKey, Targets: []core.Target{tg}}).Seal(), nil
}

func (t history) Run(ctx context.Context, _ core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(historyArgs)
	hist, err := t.o.Store.History(ctx, a.SessionKey, store.HistoryOptions{Limit: 50})
	if err != nil {
		return core.Result{}, err
	}
	var b strings.Builder
	untrusted := false
	for _, m := range hist {
		if m.Provenance == core.TrustUntrusted {
			untrusted = true
		}
		if m.Role == "user" || (m.Role == "assistant" && m.Content != "") {
			fmt.Fprintf(&b, "[%s %s] %s\n", m.Role, orDefault(m.Provenance, "-"), m.Content)
		}
	}
	return core.Result{Content: b.String(), Untrusted: untrusted}, nil
}

type send struct{ o Options }

func (send) Spec() core.Spec {
	return core.Spec{Name: "sessions_send", Group: "group:sessions", Description: "Send a message into another session this session may see; that session's agent answers it there.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"sessionKey":{"type":"string"},"text":{"type":"string"}},"required":["sessionKey","text"],"additionalProperties":false}`)}
}

type sendArgs struct {
	SessionKey string `json:"sessionKey"`
	Text       string `json:"text"`
}

func (t send) Plan(ctx context.Context, c core.Call) (*core.Plan, error) {
	var a sendArgs
	if err := json.Unmarshal(c.Args, &a); err != nil || !t.o.validKey(a.SessionKey) || strings.TrimSpace(a.Text) == "" {
		return nil, fmt.Errorf("invalid arguments: want {sessionKey, text}")
	}
	if a.SessionKey == c.Actor.SessionKey {
		return nil, fmt.Errorf("sessions_send cannot target the calling session")
	}
	tg, err := t.o.target(ctx, a.SessionKey)
	if err != nil {
		return nil, err
	}
	return (&core.Plan{Tool: "sessions_send", Effects: core.Messages, Args: c.Args, Canon: a,
		Summary: "send a message into " + a.SessionKey, Targets: []core.Target{tg}}).Seal(), nil
}

func (t send) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(sendArgs)
	if t.o.Sender == nil {
		return core.Result{}, fmt.Errorf("sessions_send is not available here")
	}
	runID, err := t.o.Sender.SendToSession(ctx, c.Actor, a.SessionKey, a.Text)
	if err != nil {
		return core.Result{}, err
	}
	return core.Result{Content: fmt.Sprintf("sent to %s (run %s)", a.SessionKey, runID)}, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
