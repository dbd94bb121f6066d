// Package core is the vocabulary every part of Talon shares: what a tool
// is, the Plan it makes of one call, the effects a plan can have, who asks
// (Actor and Trust) and where content came from (provenance).
//
// Invariant: core imports nothing of Talon's. Tools, the policy, the agent
// and the audit log meet on these types without importing each other; a
// tool depends on core, never on the agent that runs it.
package core

import (
	"context"
	"encoding/json"
)

// Trust levels of the sender of a message, and provenance of content: the
// owner, someone the owner trusts, or anyone else.
const (
	TrustOwner     = "owner"
	TrustTrusted   = "trusted"
	TrustUntrusted = "untrusted"
)

// Actor is who a tool call acts for: the agent, the session, and the sender
// of the message the turn answers, with that sender's trust.
type Actor struct {
	AgentID    string
	SessionKey string
	SenderID   string
	Channel    string
	Trust      string // TrustOwner, TrustTrusted or TrustUntrusted; anything else counts as untrusted
}

// IsOwner reports whether the actor has the owner's trust.
func (a Actor) IsOwner() bool { return a.Trust == TrustOwner }

// Spec is how a tool presents itself to the model, and the group the
// owner's tools.profile and tools.allow/deny lists name it by.
type Spec struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Parameters  json.RawMessage `json:"parameters"` // JSON Schema (object)
	// Group is the tool's group ("group:fs", "group:runtime", …).
	Group string `json:"-"`
}

// Tool is one capability the model may call. The agent asks it for the
// Plan of a call, the policy decides on that Plan alone, and Run carries
// out exactly that Plan.
type Tool interface {
	Spec() Spec
	// Plan turns a call's raw arguments, once, into its canonical Plan. An
	// error means the arguments are invalid: the call is refused with it.
	// Plan has no effect on the world.
	Plan(ctx context.Context, call Call) (*Plan, error)
	// Run carries out the plan the policy allowed (the one Plan returned
	// for this call); a tool whose world may have changed since planning
	// re-plans and refuses a plan with a different Hash.
	Run(ctx context.Context, call Call, plan *Plan) (Result, error)
}

// Call is one tool call: its arguments and whose turn it is.
type Call struct {
	ID        string
	Args      json.RawMessage // a JSON object (checked before Plan)
	Actor     Actor
	RunID     string
	Workspace string
	// Reply delivers text to the conversation the turn answers (the
	// message tool without a target); nil where there is none.
	Reply func(text string)
	// Env are NAME=value pairs injected at the host boundary into what the
	// call executes: the secrets an active, trusted skill was granted. The
	// model never sees them; output is scrubbed of them like of every
	// secret.
	Env []string
}

// Result is a tool's output. IsError marks a failure the model should see.
type Result struct {
	Content string
	IsError bool
	// Untrusted marks output that came from outside or from someone other
	// than the owner (a page, another session's stranger): it taints the
	// session. A plan that Ingests is untrusted whatever this says.
	Untrusted bool
	// Detail is what the audit log records about the execution (exec: the
	// canonical argv, cwd, exit status); secrets in it are scrubbed first.
	Detail map[string]any
}
