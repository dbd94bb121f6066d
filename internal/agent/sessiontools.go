package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// Session tools (invariant 4): what another session holds is visible only as
// tools.sessions.visibility allows — self (default for tree until spawned
// sessions exist), agent, or all — and every read of another transcript
// counts as private data; one that held untrusted content taints.

// SessionTools returns sessions_list, sessions_history and sessions_send,
// bound to this agent.
func (a *Agent) SessionTools() []Tool {
	return []Tool{sessionsList{a}, sessionsHistory{a}, sessionsSend{a}}
}

// visible reports whether the session `from` may see `target`.
func (a *Agent) visible(ctx context.Context, from ToolCall, target string) (bool, error) {
	if target == from.SessionKey {
		return true, nil
	}
	switch a.o.Config().Tools.Sessions.Visibility {
	case "all":
		return true, nil
	case "agent":
		s, ok, err := a.o.Store.Session(ctx, target)
		if err != nil || !ok {
			return false, err
		}
		return s.AgentID == orDefault(from.AgentID, "main"), nil
	default: // self, tree (no spawned sessions yet)
		return false, nil
	}
}

func notVisible(key string, vis string) error {
	return fmt.Errorf("session %s is not visible from this session (tools.sessions.visibility = %s)", key, vis)
}

type sessionsList struct{ a *Agent }

func (sessionsList) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "sessions_list", Description: "List the sessions this session may see.",
		Parameters: json.RawMessage(`{"type":"object","properties":{},"additionalProperties":false}`)}
}

func (t sessionsList) Run(ctx context.Context, c ToolCall) (ToolResult, error) {
	list, err := t.a.o.Store.ListSessions(ctx, store.ListSessionsOptions{Limit: 200})
	if err != nil {
		return ToolResult{}, err
	}
	var b strings.Builder
	for _, s := range list {
		ok, err := t.a.visible(ctx, c, s.Key)
		if err != nil {
			return ToolResult{}, err
		}
		if ok {
			fmt.Fprintf(&b, "%s  channel=%s messages=%d updated=%s\n", s.Key, orDefault(s.Channel, "-"), s.MessageCount, s.UpdatedAt.UTC().Format("2006-01-02T15:04Z"))
		}
	}
	if b.Len() == 0 {
		return ToolResult{Content: "no visible sessions"}, nil
	}
	return ToolResult{Content: b.String()}, nil
}

type sessionsHistory struct{ a *Agent }

func (sessionsHistory) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "sessions_history", Description: "Read the recent messages of a session this session may see.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"sessionKey":{"type":"string"}},"required":["sessionKey"],"additionalProperties":false}`)}
}

func (t sessionsHistory) Run(ctx context.Context, c ToolCall) (ToolResult, error) {
	var a struct {
		SessionKey string `json:"sessionKey"`
	}
	if err := json.Unmarshal(c.Args, &a); err != nil || !ValidSessionKey(a.SessionKey) {
		return ToolResult{}, fmt.Errorf("invalid arguments: want {sessionKey}")
	}
	ok, err := t.a.visible(ctx, c, a.SessionKey)
	if err != nil {
		return ToolResult{}, err
	}
	if !ok {
		return ToolResult{}, notVisible(a.SessionKey, t.a.o.Config().Tools.Sessions.Visibility)
	}
	hist, err := t.a.o.Store.History(ctx, a.SessionKey, store.HistoryOptions{Limit: 50})
	if err != nil {
		return ToolResult{}, err
	}
	var b strings.Builder
	untrusted := false
	for _, m := range hist {
		if m.Provenance == policy.TrustUntrusted {
			untrusted = true
		}
		if m.Role == "user" || (m.Role == "assistant" && m.Content != "") {
			fmt.Fprintf(&b, "[%s %s] %s\n", m.Role, orDefault(m.Provenance, "-"), m.Content)
		}
	}
	return ToolResult{Content: b.String(), Untrusted: untrusted}, nil
}

type sessionsSend struct{ a *Agent }

func (sessionsSend) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "sessions_send", Description: "Send a message into another session this session may see; that session's agent answers it there.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"sessionKey":{"type":"string"},"text":{"type":"string"}},"required":["sessionKey","text"],"additionalProperties":false}`)}
}

func (t sessionsSend) Run(ctx context.Context, c ToolCall) (ToolResult, error) {
	var a struct {
		SessionKey string `json:"sessionKey"`
		Text       string `json:"text"`
	}
	if err := json.Unmarshal(c.Args, &a); err != nil || !ValidSessionKey(a.SessionKey) || strings.TrimSpace(a.Text) == "" {
		return ToolResult{}, fmt.Errorf("invalid arguments: want {sessionKey, text}")
	}
	if a.SessionKey == c.SessionKey {
		return ToolResult{}, fmt.Errorf("sessions_send cannot target the calling session")
	}
	ok, err := t.a.visible(ctx, c, a.SessionKey)
	if err != nil {
		return ToolResult{}, err
	}
	if !ok {
		return ToolResult{}, notVisible(a.SessionKey, t.a.o.Config().Tools.Sessions.Visibility)
	}
	// The message enters the other session as untrusted: it was written by
	// a model, whatever that model read.
	runID, err := t.a.Start(context.WithoutCancel(ctx), TurnRequest{SessionKey: a.SessionKey, Text: a.Text,
		SenderID: "session:" + c.SessionKey, Trust: policy.TrustUntrusted})
	if err != nil {
		return ToolResult{}, err
	}
	return ToolResult{Content: fmt.Sprintf("sent to %s (run %s)", a.SessionKey, runID)}, nil
}
