package policy

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
)

// profiles are the base tool sets of tools.profile, by tool name or group.
var profiles = map[string][]string{
	"minimal":   {},
	"coding":    {"group:fs", "group:runtime", "group:web", "group:sessions"},
	"messaging": {"group:messaging", "sessions_list", "sessions_history", "sessions_send"},
	"full":      {"*"},
}

// Rules is the Decider for the configured policy: the ordered list of named
// rules below, strictest wins. A rule either denies (the decision is made)
// or asks (the call needs an approval; later rules add their reasons), so
// a deny can never be approved away and no rule can loosen another.
type Rules struct {
	// Config returns the config in force.
	Config func() *config.Config
}

var _ Decider = (*Rules)(nil)

// rule is one named check. check returns the rule's verdict (Deny or Ask)
// and true when it applies.
type rule struct {
	name  string
	check func(cfg *config.Config, req Request) (Decision, bool)
}

// rules in the order they are applied. Deny rules come before ask rules.
var rules = []rule{
	ruleUnknownTool,
	ruleCallLimit,
	rulePromptLeak,
	ruleInvalidArgs,
	{"tool-enabled", toolEnabled},
	{"agent-tools", agentTools},
	{"plan-refused", planRefused},
	{"exec-disabled", execDisabled},
	{"session-visibility", sessionVisibility},
	{"skill-capability", skillCapability},
	{"persist-owner-only", persistOwnerOnly},
	{"plan-needs-approval", planNeedsApproval},
	{"exec-ask-always", execAskAlways},
	{"program-config", programConfig},
	{"sender-acts", senderActs},
	{"sender-reads-private", senderReadsPrivate},
	{"taint-changes-host", taintChangesHost},
	{"taint-sends", taintSends},
	{"trifecta", trifecta},
	{"taint-new-host", taintNewHost},
}

// Decide implements Decider.
func (r *Rules) Decide(_ context.Context, req Request) Decision {
	return decide(rules, r.Config(), req)
}

func decide(list []rule, cfg *config.Config, req Request) Decision {
	if req.Plan == nil {
		req.Plan = &core.Plan{} // unsealed: invalid-arguments refuses it
	}
	d := Decision{Action: Allow, Reason: "allowed by tools.profile " + cfg.Tools.Profile, Rule: "default"}
	if req.Plan.Any(core.Executes) {
		d.Reason += "; every command is on tools.exec.allowlist or a safe bin"
	}
	for _, r := range list {
		v, ok := r.check(cfg, req)
		if !ok {
			continue
		}
		v.Rule = r.name
		if v.Action == Deny {
			return withHash(v, req)
		}
		if d.Action == Allow {
			d = v
		} else {
			d.Reason += "; " + v.Reason
		}
	}
	return withHash(d, req)
}

func deny(format string, args ...any) (Decision, bool) {
	return Decision{Action: Deny, Reason: fmt.Sprintf(format, args...)}, true
}

func ask(format string, args ...any) (Decision, bool) {
	return Decision{Action: Ask, Reason: fmt.Sprintf(format, args...)}, true
}

// Rules without configuration; AllowAll applies them too.
var (
	ruleUnknownTool = rule{"unknown-tool", func(_ *config.Config, req Request) (Decision, bool) {
		if req.Registered {
			return Decision{}, false
		}
		d, _ := deny("unknown tool %q", req.Tool.Name)
		d.Invalid = true
		return d, true
	}}
	ruleCallLimit = rule{"turn-call-limit", func(cfg *config.Config, req Request) (Decision, bool) {
		if req.CallLimit <= 0 || req.CallsInTurn <= req.CallLimit {
			return Decision{}, false
		}
		return deny("tool call limit for this turn reached (budgets.perTurnToolCalls = %d)", req.CallLimit)
	}}
	ruleInvalidArgs = rule{"invalid-arguments", func(_ *config.Config, req Request) (Decision, bool) {
		if req.Plan != nil && req.Plan.Hash != "" && req.PlanErr == nil {
			return Decision{}, false
		}
		why := "the tool made no plan of this call"
		if req.PlanErr != nil {
			why = req.PlanErr.Error()
		}
		d, _ := deny("%s", why)
		d.Invalid = true
		return d, true
	}}
	// rulePromptLeak: a call whose arguments carry the turn's system
	// prompt is denied, whatever else allows it, with an alert — also
	// when the tool could make no plan of them. A plan whose only effect
	// is writing the host (no egress, no messages — nor a reply in this
	// conversation —, no programs, no private reads: the text stays on
	// the owner's machine, and editing the workspace files the prompt is
	// made of is what such tools are for) is refused only the canary.
	rulePromptLeak = rule{"prompt-leak", func(_ *config.Config, req Request) (Decision, bool) {
		p := req.Plan
		args := req.Args
		if args == nil {
			args = p.Args
		}
		var leak bool
		if p.Hash != "" && p.Effects != 0 && p.Effects&^core.WritesHost == 0 {
			leak = req.State.Prompt.leaksCanaryOnly(args) // writes only
		} else {
			leak = req.State.Prompt.LeaksArgs(args)
		}
		if !leak {
			return Decision{}, false
		}
		return Decision{Action: Deny, Alert: AlertPromptLeak,
			Reason: "the arguments carry this turn's system prompt (its canary or one of its lines, however encoded or spaced); it never leaves in a tool call"}, true
	}}
)

// Enabled reports whether the profile and allow/deny lists enable the tool
// of this name and group: deny wins, then the profile or tools.allow.
func Enabled(t config.Tools, name, group string) bool {
	if name == "" {
		return false
	}
	if matches(t.Deny, name, group) {
		return false
	}
	return matches(profiles[t.Profile], name, group) || matches(t.Allow, name, group)
}

// matches reports whether a list entry names the tool: its name, its
// group, or a glob ("*", "web_*").
func matches(list []string, name, group string) bool {
	for _, p := range list {
		if p == name || (group != "" && p == group) {
			return true
		}
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

func toolEnabled(cfg *config.Config, req Request) (Decision, bool) {
	if Enabled(cfg.Tools, req.Tool.Name, req.Tool.Group) {
		return Decision{}, false
	}
	return deny("tool %s is not enabled by tools.profile %q and tools.allow/deny (hint: add it to tools.allow)", req.Tool.Name, cfg.Tools.Profile)
}

// AgentEnables reports whether agents.list[].tools lets agentID use the
// tool of this name and group (the agent-tools rule; tools.* still has to
// enable it too: see Enabled).
func AgentEnables(cfg *config.Config, agentID, name, group string) bool {
	_, denied := agentTools(cfg, Request{Actor: Actor{AgentID: agentID}, Tool: core.Spec{Name: name, Group: group}})
	return !denied
}

// agentTools applies agents.list[].tools for the actor's agent: its deny
// removes tools, and its allow (when set) keeps only those. It can only
// take away what tools.* enabled.
func agentTools(cfg *config.Config, req Request) (Decision, bool) {
	agentID := orDefault(req.Actor.AgentID, "main")
	name, group := req.Tool.Name, req.Tool.Group
	for _, o := range cfg.Agents.List {
		if o.ID != agentID {
			continue
		}
		if matches(o.Tools.Deny, name, group) {
			return deny("tool %s is denied for agent %s (agents.list[id=%s].tools.deny)", name, agentID, agentID)
		}
		if len(o.Tools.Allow) > 0 && !matches(o.Tools.Allow, name, group) {
			return deny("tool %s is not in agents.list[id=%s].tools.allow", name, agentID)
		}
	}
	return Decision{}, false
}

// planRefused: what the tool's own analysis refuses cannot be approved
// (invariant 5: command substitution, a repository configured to start
// programs).
func planRefused(_ *config.Config, req Request) (Decision, bool) {
	for _, f := range req.Plan.Findings {
		if f.Severity == core.Refuse {
			return deny("%s", f.Reason)
		}
	}
	return Decision{}, false
}

func execDisabled(cfg *config.Config, req Request) (Decision, bool) {
	if req.Plan.Any(core.Executes) && cfg.Tools.Exec.Security == "deny" {
		return deny("exec is disabled (tools.exec.security = deny)")
	}
	return Decision{}, false
}

// sessionVisibility (invariant 4): another session's transcript is
// reachable only as tools.sessions.visibility allows: self, agent (sessions
// of the same agent), or all.
func sessionVisibility(cfg *config.Config, req Request) (Decision, bool) {
	for _, t := range req.Plan.TargetsOf(core.TargetSession) {
		if !SessionVisible(cfg.Tools.Sessions.Visibility, req.Actor, t) {
			return deny("session %s is not visible from this session (tools.sessions.visibility = %s)", t.Value, cfg.Tools.Sessions.Visibility)
		}
	}
	return Decision{}, false
}

// SessionVisible reports whether a session target is visible to the actor
// under visibility (tools.sessions.visibility). Tools that list sessions
// filter with it, so the list and the decision agree.
func SessionVisible(visibility string, actor Actor, t core.Target) bool {
	if t.Value == actor.SessionKey {
		return true
	}
	switch visibility {
	case "all":
		return true
	case "agent":
		return t.Agent != "" && t.Agent == orDefault(actor.AgentID, "main")
	default: // self, tree (no spawned sessions yet)
		return false
	}
}

// skillCapability (invariant 13): while the session has a skill active,
// a call that does anything must stay within what the skill declared and
// the owner's policy allows (what a skill does not declare, it does not
// get). Beyond it: a restricted skill (unsigned or from the workspace, not
// trusted) may not execute, send or change anything — deny; any other
// skill asks. It only narrows.
func skillCapability(_ *config.Config, req Request) (Decision, bool) {
	if req.Plan.Effects&^core.Ingests == 0 {
		return Decision{}, false // no effect beyond reading untrusted text
	}
	for _, sk := range req.State.Skills {
		why := "skill " + sk.Name + " is active but what it may do is unknown here"
		if sk.Check != nil {
			why = sk.Check(req.Plan)
		} else {
			sk.Restricted = true
		}
		if why == "" {
			continue
		}
		if sk.Restricted && req.Plan.Any(core.Executes|core.Egress|core.Messages|core.WritesHost|core.Persists) {
			return deny("%s; the skill is restricted until trusted (hint: talon skills trust %s@VERSION)", why, sk.Name)
		}
		return ask("%s", why)
	}
	return Decision{}, false
}

// persistOwnerOnly: only the owner's sessions may leave something that
// acts after the turn (scheduled jobs, configuration).
func persistOwnerOnly(_ *config.Config, req Request) (Decision, bool) {
	if req.Plan.Any(core.Persists) && !req.Actor.IsOwner() {
		return deny("only the owner's sessions may create scheduled jobs or change configuration (this turn is from a %s sender)", orUnknown(req.Actor.Trust))
	}
	return Decision{}, false
}

func planNeedsApproval(cfg *config.Config, req Request) (Decision, bool) {
	for _, f := range req.Plan.Findings {
		if f.Severity != core.NeedsApproval {
			continue
		}
		if req.Plan.Any(core.Executes) && cfg.Tools.Exec.Ask == "off" {
			return deny("%s (tools.exec.ask = off)", f.Reason)
		}
		return ask("%s", f.Reason)
	}
	return Decision{}, false
}

func execAskAlways(cfg *config.Config, req Request) (Decision, bool) {
	if req.Plan.Any(core.Executes) && cfg.Tools.Exec.Ask == "always" {
		return ask("tools.exec.ask = always")
	}
	return Decision{}, false
}

// programConfig (invariant 5): files that configure programs (git hooks
// and drivers, rc files) would steer an allowlisted program; writing one
// changes the host and needs approval in every session.
func programConfig(_ *config.Config, req Request) (Decision, bool) {
	if ts := req.Plan.TargetsOf(core.TargetProgramConfig); len(ts) > 0 {
		return ask("writes %s, which configures programs (git configuration and hooks, rc files); that changes the host and needs approval in every session", ts[0].Value)
	}
	return Decision{}, false
}

func senderActs(_ *config.Config, req Request) (Decision, bool) {
	if !req.Actor.IsOwner() && req.Plan.Any(core.WritesHost|core.Persists|core.Egress|core.Messages) {
		return ask("requested in a turn from a %s sender (%s)", orUnknown(req.Actor.Trust), req.Actor.SenderID)
	}
	return Decision{}, false
}

func senderReadsPrivate(_ *config.Config, req Request) (Decision, bool) {
	if !req.Actor.IsOwner() && req.Plan.Any(core.ReadsPrivate) {
		return ask("would show the owner's data to a %s sender (%s)", orUnknown(req.Actor.Trust), req.Actor.SenderID)
	}
	return Decision{}, false
}

// Invariant 8, the lethal trifecta: once tainted, changing the host needs
// approval; sending elsewhere too; tainted and holding private data, every
// egress does; and a fetch under taint may only go back to a host already
// read, without data in the URL.
func taintChangesHost(_ *config.Config, req Request) (Decision, bool) {
	if req.State.Tainted && req.Plan.Any(core.WritesHost|core.Persists) {
		return ask("session contains untrusted content from %s", sources(req.State))
	}
	return Decision{}, false
}

func taintSends(_ *config.Config, req Request) (Decision, bool) {
	p := req.Plan
	if req.State.Tainted && (p.Any(core.Messages) || (p.Any(core.Egress) && !p.Any(core.Ingests))) {
		return ask("session contains untrusted content from %s; sending elsewhere could carry it out", sources(req.State))
	}
	return Decision{}, false
}

func trifecta(_ *config.Config, req Request) (Decision, bool) {
	if req.State.Tainted && req.State.HoldsPrivate && req.Plan.Any(core.Egress|core.Messages) {
		return ask("session contains untrusted content from %s and private data; this could carry it out", sources(req.State))
	}
	return Decision{}, false
}

func taintNewHost(_ *config.Config, req Request) (Decision, bool) {
	if !req.State.Tainted {
		return Decision{}, false
	}
	for _, t := range req.Plan.TargetsOf(core.TargetURL) {
		if t.Rest != "" || !slices.Contains(req.State.VisitedHosts, t.Value) {
			return ask("session contains untrusted content from %s; fetching a new host could carry data out", sources(req.State))
		}
	}
	return Decision{}, false
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

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
