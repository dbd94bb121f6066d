package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy/execplan"
)

// Effect is what a tool can do to the world, for the taint rules.
type Effect uint8

const (
	// ReadOnly tools only read (files in the workspace, session lists).
	ReadOnly Effect = 1 << iota
	// ChangesHost tools modify the machine or persist (exec, writes, cron add).
	ChangesHost
	// Egress tools can carry data out (web fetches and searches, messages,
	// exec with network).
	Egress
	// Ingests tools bring outside content in (their results taint).
	Ingests
	// ReadsPrivate tools read the owner's data (workspace files, other
	// sessions' transcripts). A reply goes to whoever asked, so for anyone
	// but the owner that is a disclosure and needs approval.
	ReadsPrivate
)

// ToolInfo classifies one tool.
type ToolInfo struct {
	Group   string
	Effects Effect
}

// Tools is the classification of every tool in DESIGN §2. A tool missing
// from it is denied: unknown tools fail closed.
var Tools = map[string]ToolInfo{
	"read":             {"group:fs", ReadOnly | ReadsPrivate},
	"write":            {"group:fs", ChangesHost},
	"edit":             {"group:fs", ChangesHost},
	"apply_patch":      {"group:fs", ChangesHost},
	"exec":             {"group:runtime", ChangesHost | Egress},
	"process":          {"group:runtime", ChangesHost},
	"web_fetch":        {"group:web", Egress | Ingests},
	"web_search":       {"group:web", Egress | Ingests},
	"message":          {"group:messaging", Egress},
	"cron":             {"group:automation", ChangesHost},
	"sessions_list":    {"group:sessions", ReadOnly | ReadsPrivate},
	"sessions_history": {"group:sessions", ReadOnly | ReadsPrivate},
	"sessions_send":    {"group:sessions", Egress},
	"skill_read":       {"group:fs", ReadOnly}, // its untrusted results taint (issue 15)
}

// profiles are the base tool sets of tools.profile.
var profiles = map[string][]string{
	"minimal":   {},
	"coding":    {"group:fs", "group:runtime", "group:web", "group:sessions"},
	"messaging": {"group:messaging", "sessions_list", "sessions_history", "sessions_send"},
	"full":      {"*"},
}

// Rules is the Decider for the configured policy. Sources, strictest wins:
// the profile, tools.allow and tools.deny (deny wins, "*" globs, groups),
// the sender's trust, and the session's taint (invariant 8). Exec commands
// get a further decision from Exec when it is set.
type Rules struct {
	// Config returns the config in force.
	Config func() *config.Config
	// Exec decides an exec call's command (the canonical-plan analysis);
	// nil denies every exec.
	Exec func(ctx context.Context, actor Actor, args json.RawMessage) Decision
	// Args-aware hooks for the tools that need them.
	MessageTarget func(args json.RawMessage) (current bool) // does a message go to the current conversation?
}

var _ Decider = (*Rules)(nil)

// Enabled reports whether the profile and allow/deny lists enable tool.
func Enabled(t config.Tools, tool string) bool {
	info, known := Tools[tool]
	if !known {
		return false
	}
	match := func(list []string) bool {
		for _, p := range list {
			if p == info.Group || p == tool {
				return true
			}
			if ok, _ := path.Match(p, tool); ok {
				return true
			}
		}
		return false
	}
	if match(t.Deny) {
		return false
	}
	return match(profiles[t.Profile]) || match(t.Allow)
}

// agentNarrows applies agents.list[].tools for the actor's agent: its deny
// removes tools, and its allow (when set) keeps only those. It can only
// take away what tools.* enabled.
func agentNarrows(list []config.AgentOverride, agentID, tool string) string {
	if agentID == "" {
		agentID = "main"
	}
	info := Tools[tool]
	match := func(ps []string) bool {
		for _, p := range ps {
			if p == tool || p == info.Group || p == "*" {
				return true
			}
			if ok, _ := path.Match(p, tool); ok {
				return true
			}
		}
		return false
	}
	for _, o := range list {
		if o.ID != agentID {
			continue
		}
		if match(o.Tools.Deny) {
			return fmt.Sprintf("tool %s is denied for agent %s (agents.list[id=%s].tools.deny)", tool, agentID, agentID)
		}
		if len(o.Tools.Allow) > 0 && !match(o.Tools.Allow) {
			return fmt.Sprintf("tool %s is not in agents.list[id=%s].tools.allow", tool, agentID)
		}
	}
	return ""
}

// Decide implements Decider.
func (r *Rules) Decide(ctx context.Context, actor Actor, state SessionState, tool string, args json.RawMessage) Decision {
	if d, leak := promptLeak(state, tool, args); leak {
		return d
	}
	cfg := r.Config()
	info, known := Tools[tool]
	if !known {
		return Decision{Action: Deny, Reason: fmt.Sprintf("unknown tool %q", tool)}
	}
	if !Enabled(cfg.Tools, tool) {
		return Decision{Action: Deny, Reason: fmt.Sprintf("tool %s is not enabled by tools.profile %q and tools.allow/deny (hint: add it to tools.allow)", tool, cfg.Tools.Profile)}
	}
	if why := agentNarrows(cfg.Agents.List, actor.AgentID, tool); why != "" {
		return Decision{Action: Deny, Reason: why}
	}
	if tool == "cron" && actor.Trust != TrustOwner && cronAdds(args) {
		return Decision{Action: Deny, Reason: "only the owner's sessions may create scheduled jobs"}
	}

	// The tool's own decision (exec's canonical plan) comes first: a deny
	// there cannot be approved away.
	d := Decision{Action: Allow, Reason: "allowed by tools.profile " + cfg.Tools.Profile}
	effects := info.Effects
	if tool == "exec" {
		if r.Exec == nil {
			return Decision{Action: Deny, Reason: "exec is not available"}
		}
		d = r.Exec(ctx, actor, args)
		if d.Action == Deny {
			return d
		}
		if d.Action == Allow && isSafeBinDecision(d) {
			effects = ReadOnly // safe bins read stdin and write stdout only
		}
	}
	if tool == "process" && !processKills(args) {
		effects = ReadOnly // list, poll and log only read a run's output
	}
	if tool == "message" && r.MessageTarget != nil && r.MessageTarget(args) {
		effects = 0 // replying in the current conversation carries nothing new out
	}

	// Strictest wins from here: each rule can only turn allow into ask.
	if target, ok := writesProgramConfig(tool, args); ok {
		// Invariant 5: files that configure programs (git hooks and
		// drivers, rc files) would steer an allowlisted program.
		d = escalate(d, fmt.Sprintf("writes %s, which configures programs (git configuration and hooks, rc files); that changes the host and needs approval in every session", target))
	}
	if actor.Trust != TrustOwner && effects&(ChangesHost|Egress) != 0 {
		return escalate(d, fmt.Sprintf("requested in a turn from a %s sender (%s)", orUnknown(actor.Trust), actor.SenderID))
	}
	if actor.Trust != TrustOwner && effects&ReadsPrivate != 0 {
		return escalate(d, fmt.Sprintf("would show the owner's data to a %s sender (%s)", orUnknown(actor.Trust), actor.SenderID))
	}
	if state.Tainted && effects&ChangesHost != 0 {
		return escalate(d, "session contains untrusted content from "+sources(state))
	}
	if state.Tainted && effects&Egress != 0 && tool != "web_fetch" && tool != "web_search" {
		return escalate(d, "session contains untrusted content from "+sources(state)+"; sending elsewhere could carry it out")
	}
	if state.Tainted && state.HoldsPrivate && effects&Egress != 0 {
		return escalate(d, "session contains untrusted content from "+sources(state)+" and private data; this could carry it out")
	}
	if tool == "web_fetch" && state.Tainted && !visited(state, args) {
		return escalate(d, "session contains untrusted content from "+sources(state)+"; fetching a new host could carry data out")
	}
	return d
}

// escalate turns an allow into an ask with the reason; an ask keeps asking
// with both reasons.
func escalate(d Decision, why string) Decision {
	if d.Action == Allow {
		return Decision{Action: Ask, Reason: why, PlanHash: d.PlanHash}
	}
	return Decision{Action: Ask, Reason: d.Reason + "; " + why, PlanHash: d.PlanHash}
}

func sources(s SessionState) string {
	if len(s.TaintSources) == 0 {
		return "an unknown source"
	}
	src := slices.Clone(s.TaintSources)
	slices.Sort(src)
	src = slices.Compact(src)
	if len(src) > 3 {
		src = append(src[:3], fmt.Sprintf("%d more", len(src)-3))
	}
	return strings.Join(src, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// SafeBinReason marks an exec decision that allowed only safe bins; Rules
// treats such a call as read-only for the taint rules.
const SafeBinReason = "safe bins reading stdin only"

func isSafeBinDecision(d Decision) bool { return strings.HasPrefix(d.Reason, SafeBinReason) }

func cronAdds(args json.RawMessage) bool {
	var a struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(args, &a) != nil {
		return true // unreadable: assume the worst
	}
	return a.Action != "list" && a.Action != "remove"
}

// visited reports whether a web_fetch goes to a host this session already
// fetched from without data in the path or query.
func visited(s SessionState, args json.RawMessage) bool {
	var a struct {
		URL string `json:"url"`
	}
	if json.Unmarshal(args, &a) != nil {
		return false
	}
	host, rest, ok := splitURL(a.URL)
	if !ok || rest != "" {
		return false
	}
	return slices.Contains(s.VisitedHosts, host)
}

// splitURL returns the lowercased host and whatever follows it beyond a bare
// "/" (path and query), which is where exfiltrated data would ride.
func splitURL(raw string) (host, rest string, ok bool) {
	i := strings.Index(raw, "://")
	if i < 0 {
		return "", "", false
	}
	s := raw[i+3:]
	j := strings.IndexAny(s, "/?#")
	if j < 0 {
		return strings.ToLower(s), "", true
	}
	host, rest = strings.ToLower(s[:j]), s[j:]
	if rest == "/" {
		rest = ""
	}
	return host, rest, true
}

func processKills(args json.RawMessage) bool {
	var a struct {
		Action string `json:"action"`
	}
	if json.Unmarshal(args, &a) != nil {
		return true
	}
	return a.Action != "list" && a.Action != "poll" && a.Action != "log"
}

// writesProgramConfig reports the first path a file tool call would write
// that configures programs (execplan.ConfiguresPrograms). Arguments it
// cannot read count as such a write: the tool refuses them anyway, and
// asking costs nothing.
func writesProgramConfig(tool string, args json.RawMessage) (string, bool) {
	var a struct {
		Path  string `json:"path"`
		Patch string `json:"patch"`
	}
	switch tool {
	case "write", "edit":
		if json.Unmarshal(args, &a) != nil {
			return "(unreadable arguments)", true
		}
		if _, ok := execplan.ConfiguresPrograms(a.Path); ok {
			return a.Path, true
		}
	case "apply_patch":
		if json.Unmarshal(args, &a) != nil {
			return "(unreadable arguments)", true
		}
		// Looser than the tool's parser on purpose: every header-like line
		// counts, so no spelling the parser accepts slips past.
		for _, line := range strings.Split(a.Patch, "\n") {
			line = strings.TrimSpace(line)
			if !strings.HasPrefix(line, "***") {
				continue
			}
			_, p, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			if _, bad := execplan.ConfiguresPrograms(strings.TrimSpace(p)); bad {
				return strings.TrimSpace(p), true
			}
		}
	}
	return "", false
}
