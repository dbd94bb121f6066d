// Package policy is the single decision point for tool calls: every call the
// model asks for is decided here, on the call's canonical Plan, before it
// runs.
//
// Invariant: nothing executes a tool without a Decision from a Decider, and
// the decision is recorded with the call. The decision is made on the Plan
// alone (core.Plan: effects, targets, the tool's own findings), with the
// actor, the session's state and the turn; no rule names a tool or parses
// arguments. Rules (rules.go) is the ordered list of named rules; each has
// a table test that fails when the rule is removed (rules_test.go removes
// every rule in turn and checks that).
package policy

import (
	"context"
	"encoding/json"

	"github.com/talonclaw/talon/internal/core"
)

// Action is what happens to a tool call.
type Action string

const (
	Allow Action = "allow"
	Ask   Action = "ask" // needs an explicit approval
	Deny  Action = "deny"
)

// Trust levels (see core).
const (
	TrustOwner     = core.TrustOwner
	TrustTrusted   = core.TrustTrusted
	TrustUntrusted = core.TrustUntrusted
)

// Actor is who caused the call (see core.Actor).
type Actor = core.Actor

// SessionState is what the session has taken in so far (invariant 8).
type SessionState struct {
	Tainted      bool     // holds untrusted content
	TaintSources []string // where it came from, for approval prompts
	HoldsPrivate bool     // holds private data
	VisitedHosts []string // hosts fetched in this session without data in the URL
	// Skills are the skills the session has activated (read with
	// skill_read): while one is active, every call must stay within what
	// it declared (rule skill-capability).
	Skills []ActiveSkill
	// Prompt is this turn's system prompt and canary, which no tool
	// argument may carry (see PromptGuard); nil checks nothing.
	Prompt *PromptGuard
}

// ActiveSkill is a skill the session has activated, as the decision needs
// it: Check says what a plan does beyond the skill's granted capabilities
// (its declared capabilities intersected with the agent's policy; ""
// when within), and Restricted marks a skill that is unsigned, or from the
// workspace, and not trusted.
type ActiveSkill struct {
	Name       string
	Restricted bool
	Check      func(*core.Plan) string
	// Secrets are the secret names the skill was granted (none while
	// restricted): the agent injects them into what an allowed plan
	// executes.
	Secrets []string
}

// Request is everything one decision is made on.
type Request struct {
	Actor Actor
	State SessionState
	// Tool is the called tool's spec; Registered is false for a name no
	// tool answers to (then Plan is nil).
	Tool       core.Spec
	Registered bool
	// Args are the call's raw arguments, as the model wrote them (the
	// prompt-leak rule reads them even when no plan could be made).
	Args json.RawMessage
	// Plan is the tool's plan of the call; nil with PlanErr when the tool
	// could not make one (invalid arguments).
	Plan    *core.Plan
	PlanErr error
	// CallsInTurn counts the tool calls of this turn so far, this one
	// included; CallLimit is budgets.perTurnToolCalls (0: none).
	CallsInTurn int
	CallLimit   int
}

// Decision is the outcome, with a reason a person can read.
type Decision struct {
	Action Action `json:"action"`
	Reason string `json:"reason"`
	// Rule names the rule that decided (the last one that changed the
	// action).
	Rule string `json:"rule,omitempty"`
	// PlanHash binds the decision to the plan it was made on; the tool
	// refuses to run a different plan.
	PlanHash string `json:"planHash,omitempty"`
	// Alert, when set, says the call was refused as an attack the owner
	// should hear about (AlertPromptLeak); the caller raises the alert.
	Alert string `json:"alert,omitempty"`
	// Invalid marks a call refused because it could not be made at all
	// (an unknown tool, invalid arguments): its outcome is an error.
	Invalid bool `json:"invalid,omitempty"`
}

// Decider decides tool calls. Implementations must be deterministic in their
// inputs and must not consult the model.
type Decider interface {
	Decide(ctx context.Context, req Request) Decision
}

// AllowAll allows every call that can be made at all, except one carrying
// the system prompt. It stands in for tests and embedders without tool
// rules.
type AllowAll struct{}

// Decide implements Decider.
func (AllowAll) Decide(_ context.Context, req Request) Decision {
	if req.Plan == nil {
		req.Plan = &core.Plan{}
	}
	for _, r := range []rule{ruleUnknownTool, ruleCallLimit, rulePromptLeak, ruleInvalidArgs} {
		if d, ok := r.check(nil, req); ok {
			d.Rule = r.name
			return withHash(d, req)
		}
	}
	return withHash(Decision{Action: Allow, Reason: "no tool policy configured"}, req)
}

func withHash(d Decision, req Request) Decision {
	if req.Plan != nil {
		d.PlanHash = req.Plan.Hash
	}
	return d
}
