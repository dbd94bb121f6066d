package core

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Effect is one kind of thing a plan does to the world. The policy's rules
// are written over effects and targets, never over tool names.
type Effect uint16

const (
	// ReadsPrivate: the result holds the owner's data (workspace files,
	// command output, other sessions' transcripts).
	ReadsPrivate Effect = 1 << iota
	// WritesHost: changes files, processes or state on the host.
	WritesHost
	// Persists: acts after the turn is over (scheduled jobs, configuration).
	Persists
	// Egress: can carry data to a network destination.
	Egress
	// Messages: sends text to a person or session other than the
	// conversation the turn answers.
	Messages
	// Ingests: brings outside content in; the result is untrusted.
	Ingests
	// Executes: runs programs.
	Executes
)

var effectNames = []struct {
	e    Effect
	name string
}{
	{ReadsPrivate, "reads-private"}, {WritesHost, "writes-host"}, {Persists, "persists"},
	{Egress, "egress"}, {Messages, "messages"}, {Ingests, "ingests"}, {Executes, "executes"},
}

// Names lists the effects by name, in a fixed order.
func (e Effect) Names() []string {
	out := []string{}
	for _, n := range effectNames {
		if e&n.e != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// ParseEffects is the inverse of Names; unknown names are an error.
func ParseEffects(names []string) (Effect, error) {
	var e Effect
	for _, s := range names {
		found := false
		for _, n := range effectNames {
			if n.name == s {
				e, found = e|n.e, true
			}
		}
		if !found {
			return 0, fmt.Errorf("core.ParseEffects: unknown effect %q", s)
		}
	}
	return e, nil
}

func (e Effect) String() string {
	if e == 0 {
		return "none"
	}
	return strings.Join(e.Names(), "|")
}

// TargetKind says what a Target names.
type TargetKind string

const (
	TargetPath          TargetKind = "path"           // a file the plan reads or writes (workspace-relative or absolute)
	TargetProgramConfig TargetKind = "program-config" // a file that configures programs (git hooks and config, rc files)
	TargetURL           TargetKind = "url"            // a network fetch: Value is the host, Rest what follows it
	TargetSearch        TargetKind = "search"         // a query to the configured search provider
	TargetBinary        TargetKind = "binary"         // a program the plan executes (resolved absolute path)
	TargetChat          TargetKind = "chat"           // a message destination: Value is "channel:target"
	TargetSession       TargetKind = "session"        // another session: Value is its key, Agent its agent
	TargetSchedule      TargetKind = "schedule"       // a scheduled job: Value is the schedule or job id
	TargetSkill         TargetKind = "skill"          // a skill the plan activates (reads its instructions): Value is its name
)

// Target is one thing a plan acts on.
type Target struct {
	Kind  TargetKind `json:"kind"`
	Value string     `json:"value"`
	// Rest is what follows the host of a URL beyond a bare "/" (path and
	// query: where data being carried out would ride).
	Rest string `json:"rest,omitempty"`
	// Agent is the agent a session target belongs to ("" when the session
	// does not exist yet).
	Agent string `json:"agent,omitempty"`
	// Current marks the conversation the turn answers.
	Current bool `json:"current,omitempty"`
}

// Severity of a tool's own finding about a plan.
type Severity string

const (
	// Refuse: the plan must not run, whatever anyone approves (command
	// substitution, a repository configured to start programs).
	Refuse Severity = "refuse"
	// NeedsApproval: the plan may run only with a person's approval (a
	// binary not on the allowlist).
	NeedsApproval Severity = "needs-approval"
)

// Finding is what a tool's own analysis of a call found.
type Finding struct {
	Severity Severity `json:"severity"`
	Reason   string   `json:"reason"`
}

// Plan is the canonical form of one tool call: everything the policy
// decides on, made once from the raw arguments by the tool that will run
// it.
type Plan struct {
	Tool     string    `json:"tool"`
	Effects  Effect    `json:"-"`
	Targets  []Target  `json:"targets,omitempty"`
	Findings []Finding `json:"findings,omitempty"`
	// Args are the canonical arguments (what the prompt-leak rule reads).
	Args json.RawMessage `json:"args,omitempty"`
	// Summary is one line for people: what will happen.
	Summary string `json:"summary"`
	// Detail are further lines for people (each command of a chain, each
	// file of a patch).
	Detail []string `json:"detail,omitempty"`
	// Canon is the tool's own parsed form, for Run; it is covered by Hash
	// only through what the tool put in the fields above.
	Canon any `json:"-"`
	// Hash identifies the plan (Seal); an approval binds to it.
	Hash string `json:"hash,omitempty"`
}

// Seal sets the plan's hash over its tool, effects, targets, findings and
// canonical arguments, and returns the plan. Tools call it last.
func (p *Plan) Seal() *Plan {
	h := sha256.New()
	b, _ := json.Marshal(struct {
		Tool     string    `json:"tool"`
		Effects  []string  `json:"effects"`
		Targets  []Target  `json:"targets"`
		Findings []Finding `json:"findings"`
		Args     string    `json:"args"`
		Detail   []string  `json:"detail"`
	}{p.Tool, p.Effects.Names(), p.Targets, p.Findings, string(p.Args), p.Detail})
	h.Write(b)
	p.Hash = hex.EncodeToString(h.Sum(nil))
	return p
}

// Has reports whether the plan has every effect in e.
func (p *Plan) Has(e Effect) bool { return p.Effects&e == e }

// Any reports whether the plan has at least one effect in e.
func (p *Plan) Any(e Effect) bool { return p.Effects&e != 0 }

// TargetsOf lists the plan's targets of one kind.
func (p *Plan) TargetsOf(k TargetKind) []Target {
	var out []Target
	for _, t := range p.Targets {
		if t.Kind == k {
			out = append(out, t)
		}
	}
	return out
}

// Render is the plan for people, as approval requests show it: the summary,
// the effects, each target and finding.
func (p *Plan) Render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s\n", p.Tool, p.Summary)
	for _, d := range p.Detail {
		fmt.Fprintf(&b, "  %s\n", d)
	}
	fmt.Fprintf(&b, "effects: %s\n", p.Effects)
	for _, t := range p.Targets {
		v := t.Value + t.Rest
		if t.Current {
			v += " (this conversation)"
		}
		fmt.Fprintf(&b, "%s: %s\n", t.Kind, v)
	}
	for _, f := range p.Findings {
		fmt.Fprintf(&b, "%s: %s\n", f.Severity, f.Reason)
	}
	return strings.TrimRight(b.String(), "\n")
}

// MarshalJSON adds the effects by name.
func (p Plan) MarshalJSON() ([]byte, error) {
	type plain Plan
	return json.Marshal(struct {
		plain
		Effects []string `json:"effects"`
	}{plain(p), p.Effects.Names()})
}

// ParseArgs decodes a call's arguments into v; the error names the shape
// the tool wants.
func ParseArgs(raw json.RawMessage, v any, want string) error {
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("invalid arguments: %v (want %s)", err, want)
	}
	return nil
}
