package cli

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/store"
)

// sessionRow is one session as the CLI prints it (`sessions list --json`,
// chat's /sessions): camelCase keys like every --json output, the same
// names the gateway's sessions.list uses.
type sessionRow struct {
	Key          string    `json:"key"`
	SessionID    string    `json:"sessionId"`
	AgentID      string    `json:"agentId"`
	Channel      string    `json:"channel"`
	ChatType     string    `json:"chatType"`
	Title        string    `json:"title,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	InputTokens  int64     `json:"inputTokens"`
	OutputTokens int64     `json:"outputTokens"`
	CostUSD      float64   `json:"costUsd"`
	MessageCount int       `json:"messageCount"`
	Model        string    `json:"model"`
}

func sessionRowOf(s store.Session) sessionRow {
	return sessionRow{Key: s.Key, SessionID: s.ID, AgentID: s.AgentID, Channel: s.Channel, ChatType: s.ChatType, Title: s.Title,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, InputTokens: s.InputTokens, OutputTokens: s.OutputTokens,
		CostUSD: s.CostUSD, MessageCount: s.MessageCount, Model: s.LastModel}
}

// transcriptEntry is one message of a transcript with where it came from
// (provenance, sender) and, for tool results, the policy decision.
type transcriptEntry struct {
	Seq        int64           `json:"seq"`
	TS         time.Time       `json:"ts"`
	Role       string          `json:"role"`
	Content    string          `json:"content"`
	Provenance string          `json:"provenance,omitempty"`
	SenderID   string          `json:"senderId,omitempty"`
	Model      string          `json:"model,omitempty"`
	ToolCalls  json.RawMessage `json:"toolCalls,omitempty"`
	ToolCallID string          `json:"toolCallId,omitempty"`
	ToolName   string          `json:"toolName,omitempty"`
	IsError    bool            `json:"isError,omitempty"`
	Decision   json.RawMessage `json:"decision,omitempty"`
	RunID      string          `json:"runId,omitempty"`
	Summary    bool            `json:"summary,omitempty"`
	Compacted  bool            `json:"compacted,omitempty"`
}

func transcriptOf(ms []store.Message) []transcriptEntry {
	out := make([]transcriptEntry, 0, len(ms))
	for _, m := range ms {
		out = append(out, transcriptEntry{Seq: m.Seq, TS: m.CreatedAt, Role: m.Role, Content: m.Content, Provenance: m.Provenance,
			SenderID: m.SenderID, Model: m.Model, ToolCalls: m.ToolCalls, ToolCallID: m.ToolCallID, ToolName: m.ToolName,
			IsError: m.IsError, Decision: m.Decision, RunID: m.RunID, Summary: m.Summary, Compacted: m.Compacted})
	}
	return out
}

// printTranscript renders a transcript for people: who said what, with
// provenance, the tool calls the model made and each call's decision.
func printTranscript(a *app, entries []transcriptEntry) {
	if len(entries) == 0 {
		a.outf("(no messages)\n")
		return
	}
	for _, e := range entries {
		ts := e.TS.Local().Format("2006-01-02 15:04:05")
		switch e.Role {
		case "user":
			who := orStr(e.SenderID, "user")
			a.outf("[%s] %s (%s): %s\n", ts, who, orStr(e.Provenance, "unknown provenance"), oneBlock(e.Content))
		case "assistant":
			label := "assistant"
			if e.Model != "" {
				label += " (" + e.Model + ")"
			}
			if e.Content != "" {
				a.outf("[%s] %s: %s\n", ts, label, oneBlock(e.Content))
			}
			var calls []struct {
				ID, Name string
				Args     json.RawMessage
			}
			_ = json.Unmarshal(e.ToolCalls, &calls)
			for _, c := range calls {
				a.outf("[%s] %s calls %s %s\n", ts, label, c.Name, shortArgs(c.Args))
			}
		case "tool":
			var d struct{ Action, Reason, Outcome string }
			_ = json.Unmarshal(e.Decision, &d)
			verdict := orStr(d.Action, "?")
			if d.Outcome != "" {
				verdict += " -> " + d.Outcome
			}
			if d.Reason != "" {
				verdict += ": " + d.Reason
			}
			a.outf("[%s] tool %s [%s] (%s): %s\n", ts, e.ToolName, verdict, orStr(e.Provenance, "trusted"), cut(oneBlock(e.Content), 400))
		default:
			prefix := e.Role
			if e.Summary {
				prefix = "summary"
			}
			a.outf("[%s] %s: %s\n", ts, prefix, oneBlock(e.Content))
		}
	}
}

// oneBlock indents continuation lines so every message stays one block.
func oneBlock(s string) string {
	return strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
