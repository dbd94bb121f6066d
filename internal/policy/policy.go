// Package policy is the single decision point for tool calls: every call the
// model asks for is decided here, on the canonical arguments, before it runs.
//
// Invariant: nothing executes a tool without a Decision from a Decider, and
// the decision is recorded with the call. This package holds the types and
// the interface; the rules (profiles, allow/deny lists, exec analysis, taint)
// arrive with the tools issue, and until then the gateway runs with
// AllowAll — which is safe only because no tool with side effects is
// registered yet.
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
}

// Decision is the outcome, with a reason a person can read.
type Decision struct {
	Action Action `json:"action"`
	Reason string `json:"reason"`
	// PlanHash binds the decision to the canonical plan it was made on
	// (exec); the tool refuses to run a different plan.
	PlanHash string `json:"planHash,omitempty"`
}

// Decider decides tool calls. Implementations must be deterministic in their
// inputs and must not consult the model.
type Decider interface {
	Decide(ctx context.Context, actor Actor, state SessionState, tool string, args json.RawMessage) Decision
}

// AllowAll allows every call. It stands in until the tools issue brings the
// real rules.
type AllowAll struct{}

// Decide implements Decider.
func (AllowAll) Decide(context.Context, Actor, SessionState, string, json.RawMessage) Decision {
	return Decision{Action: Allow, Reason: "no tool policy configured yet"}
}
