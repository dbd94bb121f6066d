// Package policy is the single decision point for tool calls: every call the
// model asks for is decided here, on the canonical arguments, before it runs.
//
// Invariant: nothing executes a tool without a Decision from a Decider, and
// the decision is recorded with the call. Every Decider's first check is
// the prompt-leak guard (leak.go): a call whose arguments carry the turn's
// system prompt is denied, with Decision.Alert set. Rules (rules.go) is the
// gateway's Decider: profiles, allow/deny lists, exec analysis, taint.
package policy

import (
	"context"
	"encoding/json"
)

// Action is what happens to a tool call.
type Action string

const (
	Allow Action = "allow"
	Ask   Action = "ask" // needs an explicit approval
	Deny  Action = "deny"
)

// Trust levels of the sender of a message (and of content provenance).
const (
	TrustOwner     = "owner"
	TrustTrusted   = "trusted"
	TrustUntrusted = "untrusted"
)

// Actor is who caused the call: the agent, the session and the sender of the
// message the turn answers.
type Actor struct {
	AgentID    string
	SessionKey string
	SenderID   string
	Channel    string
	Trust      string
}

// SessionState is what the session has taken in so far (invariant 8).
type SessionState struct {
	Tainted      bool     // holds untrusted content
	TaintSources []string // where it came from, for approval prompts
	HoldsPrivate bool     // holds private data
	VisitedHosts []string // hosts web_fetch has read in this session
	// Prompt is this turn's system prompt and canary, which no tool
	// argument may carry (see PromptGuard); nil checks nothing.
	Prompt *PromptGuard
}

// Decision is the outcome, with a reason a person can read.
type Decision struct {
	Action Action `json:"action"`
	Reason string `json:"reason"`
	// PlanHash binds the decision to the canonical plan it was made on
	// (exec); the tool refuses to run a different plan.
	PlanHash string `json:"planHash,omitempty"`
	// Alert, when set, says the call was refused as an attack the owner
	// should hear about (AlertPromptLeak); the caller raises the alert.
	Alert string `json:"alert,omitempty"`
}

// Decider decides tool calls. Implementations must be deterministic in their
// inputs and must not consult the model.
type Decider interface {
	Decide(ctx context.Context, actor Actor, state SessionState, tool string, args json.RawMessage) Decision
}

// AllowAll allows every call except one carrying the system prompt. It
// stands in for tests and embedders without tool rules.
type AllowAll struct{}

// Decide implements Decider.
func (AllowAll) Decide(_ context.Context, _ Actor, state SessionState, tool string, args json.RawMessage) Decision {
	if d, leak := promptLeak(state, tool, args); leak {
		return d
	}
	return Decision{Action: Allow, Reason: "no tool policy configured yet"}
}

// promptLeak is the first check of every Decider: a call whose arguments
// carry the turn's system prompt is denied, whatever else allows it.
// File-writing tools (no egress; the text stays on the owner's machine,
// and editing the workspace files the prompt is made of is their job) are
// refused only the canary.
func promptLeak(state SessionState, tool string, args json.RawMessage) (Decision, bool) {
	leak := false
	if info := Tools[tool]; info.Group == "group:fs" && info.Effects&(Egress|ReadsPrivate) == 0 {
		leak = state.Prompt.leaksCanaryOnly(args)
	} else {
		leak = state.Prompt.LeaksArgs(args)
	}
	if !leak {
		return Decision{}, false
	}
	return Decision{Action: Deny, Alert: AlertPromptLeak,
		Reason: "the arguments carry this turn's system prompt (its canary or one of its lines, however encoded or spaced); it never leaves in a tool call"}, true
}
