package agent

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"

	"github.com/talonclaw/talon/internal/policy"
)

// TurnRequest is one inbound message for the agent.
type TurnRequest struct {
	// SessionKey, when set, names the session; otherwise it is derived from
	// Inbound and session.dmScope.
	SessionKey string
	Inbound    Inbound
	Text       string
	SenderID   string
	// Trust of the sender: policy.TrustOwner (default), TrustTrusted or
	// TrustUntrusted. It becomes the message's provenance.
	Trust string
	RunID string
	// Resume marks a turn restarted after a crash for a message the
	// channels journaled (invariant 14): its user message, stored under
	// RunID, may already be in the transcript and is not stored twice.
	Resume bool
	// Journaled says the message is already durable in the channels'
	// inbound journal, stored before its platform was told it arrived
	// (invariant 14). The turn then stores the user message with the
	// model's first response, in one commit, instead of in a commit of its
	// own before the call: a crash in between resumes the turn from the
	// journal, which stores it then.
	Journaled bool
	// Compact asks for the session's older history to be summarised now
	// (sessions.compact), instead of a model turn; Text is unused.
	Compact bool
	// OnStart, if set, is called when the turn stops waiting for its
	// session and a free slot and starts to run (the channels show
	// "typing" from then on). It must not block.
	OnStart func()
	// OnEvent receives the turn's events (deltas, tool calls, the end). It is
	// called from the turn's goroutine and must not block for long.
	OnEvent func(Event)
}

// Event is one thing that happened in a turn, in order.
type Event struct {
	Type       string          `json:"type"` // delta | message | alert | tool_call | tool_result | final | error | aborted | refused
	RunID      string          `json:"runId"`
	SessionKey string          `json:"sessionKey"`
	Text       string          `json:"text,omitempty"`
	ToolCall   *ToolCallRecord `json:"toolCall,omitempty"`
	Result     *TurnResult     `json:"result,omitempty"` // on final, error, aborted, refused
}

// ToolCallRecord is a tool call as `talon agent --json` reports it.
type ToolCallRecord struct {
	ID       string          `json:"id"`
	Name     string          `json:"name"`
	Args     json.RawMessage `json:"args"`
	Decision policy.Action   `json:"decision"`
	Outcome  string          `json:"outcome"` // executed | denied | error
	Reason   string          `json:"reason"`
}

// Usage is what a turn consumed.
type Usage struct {
	InputTokens  int     `json:"inputTokens"`
	OutputTokens int     `json:"outputTokens"`
	CostUSD      float64 `json:"costUsd"`
}

// TurnResult is the outcome of a turn; its JSON is `talon agent --json`.
type TurnResult struct {
	Reply      string           `json:"reply"`
	SessionKey string           `json:"sessionKey"`
	ToolCalls  []ToolCallRecord `json:"toolCalls"`
	Usage      Usage            `json:"usage"`
	RunID      string           `json:"runId,omitempty"`
	Model      string           `json:"model,omitempty"`
	StopReason string           `json:"stopReason,omitempty"`
}

func newRunID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "run_" + hex.EncodeToString(b[:])
}
