package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
)

var owner = Actor{AgentID: "main", SessionKey: "agent:main:main", SenderID: "owner", Trust: TrustOwner}

var (
	stranger = Actor{AgentID: "main", SessionKey: "agent:main:telegram:direct:9", SenderID: "telegram:9", Trust: TrustUntrusted}
	friend   = Actor{AgentID: "main", SessionKey: "agent:main:telegram:direct:8", SenderID: "telegram:8", Trust: TrustTrusted}
	research = Actor{AgentID: "research", SessionKey: "agent:research:main", SenderID: "owner", Trust: TrustOwner}
	noTrust  = Actor{AgentID: "main", SessionKey: "agent:main:x", SenderID: "x"}
)

var (
	clean     = SessionState{}
	tainted   = SessionState{Tainted: true, TaintSources: []string{"web_fetch evil.example"}, VisitedHosts: []string{"evil.example"}}
	trifState = SessionState{Tainted: true, HoldsPrivate: true, TaintSources: []string{"web_fetch evil.example"}, VisitedHosts: []string{"evil.example"}}
)

// plan builds a sealed plan for the tables.
func plan(e core.Effect, targets ...core.Target) *core.Plan {
	return (&core.Plan{Tool: "t", Effects: e, Targets: targets, Args: json.RawMessage(`{}`), Summary: "test"}).Seal()
}

func withFindings(p *core.Plan, f ...core.Finding) *core.Plan {
	p.Findings = f
	return p.Seal()
}

func argsPlan(e core.Effect, args json.RawMessage) *core.Plan {
	return (&core.Plan{Tool: "t", Effects: e, Args: args, Summary: "test"}).Seal()
}

func guarded() SessionState { return SessionState{Prompt: NewPromptGuard(testPrompt, testCanary)} }

func skillState(restricted bool, excess string) SessionState {
	return SessionState{Skills: []ActiveSkill{{Name: "weather", Restricted: restricted, Check: func(*core.Plan) string {
		if excess == "" {
			return ""
		}
		return "skill weather: " + excess
	}}}}
}

func tgt(k core.TargetKind, v string) core.Target { return core.Target{Kind: k, Value: v} }

// ruleCase is one row of the policy table: a request and the action the
// policy must reach.
type ruleCase struct {
	name    string
	mut     func(*config.Config)
	actor   Actor
	state   SessionState
	tool    string // name; its group is "group:" + tool unless set
	group   string
	unknown bool
	plan    *core.Plan
	planErr error
	calls   int
	want    Action
	reason  string // a substring the reason must hold
}

func (c ruleCase) request() Request {
	g := c.group
	if g == "" {
		g = "group:fs"
	}
	name := c.tool
	if name == "" {
		name = "write"
	}
	p := c.plan
	if p == nil && c.planErr == nil && !c.unknown {
		p = plan(0)
	}
	return Request{Actor: c.actor, State: c.state, Tool: core.Spec{Name: name, Group: g}, Registered: !c.unknown,
		Plan: p, PlanErr: c.planErr, CallsInTurn: c.calls, CallLimit: 25}
}

func (c ruleCase) config() *config.Config {
	cfg := config.Default()
	cfg.Tools.Profile = "full"
	if c.mut != nil {
		c.mut(cfg)
	}
	return cfg
}

// ruleTable holds, for every rule, cases that need it: removing any one
// rule from the list makes at least one case fail
// (TestEveryRuleIsNeeded).
var ruleTable = []ruleCase{
	// unknown-tool, turn-call-limit, invalid-arguments
	{name: "unknown tool", tool: "rm_rf", unknown: true, actor: owner, want: Deny, reason: "unknown tool"},
	{name: "over the per-turn limit", actor: owner, calls: 26, want: Deny, reason: "perTurnToolCalls"},
	{name: "at the per-turn limit", actor: owner, calls: 25, want: Allow},
	{name: "invalid arguments", actor: owner, planErr: errors.New("invalid arguments: want {path}"), want: Deny, reason: "want {path}"},
	// prompt-leak
	{name: "fetch carrying a prompt line", actor: owner, state: guarded(), plan: argsPlan(core.Egress|core.Ingests, jsonArgs("url", "https://x.example/?q="+testLine)), want: Deny, reason: "system prompt"},
	{name: "write carrying a prompt line", actor: owner, state: guarded(), plan: argsPlan(core.WritesHost, jsonArgs("path", "AGENTS.md", "content", testLine)), want: Allow},
	{name: "write carrying the canary", actor: owner, state: guarded(), plan: argsPlan(core.WritesHost, jsonArgs("path", "x", "content", testCanary)), want: Deny},
	{name: "reply here carrying a prompt line", actor: stranger, state: guarded(), plan: argsPlan(0, jsonArgs("action", "send", "text", testLine)), want: Deny, reason: "system prompt"},
	// tool-enabled
	{name: "coding lacks message", mut: func(c *config.Config) { c.Tools.Profile = "coding" }, tool: "message", group: "group:messaging", actor: owner, want: Deny, reason: "tools.profile"},
	{name: "coding has fs", mut: func(c *config.Config) { c.Tools.Profile = "coding" }, tool: "write", group: "group:fs", actor: owner, want: Allow},
	{name: "allow adds a tool", mut: func(c *config.Config) { c.Tools.Profile = "coding"; c.Tools.Allow = []string{"message"} }, tool: "message", group: "group:messaging", actor: owner, want: Allow},
	{name: "allow adds a group", mut: func(c *config.Config) { c.Tools.Profile = "coding"; c.Tools.Allow = []string{"group:automation"} }, tool: "cron", group: "group:automation", actor: owner, want: Allow},
	{name: "deny removes a group", mut: func(c *config.Config) { c.Tools.Deny = []string{"group:runtime"} }, tool: "exec", group: "group:runtime", actor: owner, want: Deny},
	{name: "deny wins over allow", mut: func(c *config.Config) { c.Tools.Allow = []string{"exec"}; c.Tools.Deny = []string{"exec"} }, tool: "exec", group: "group:runtime", actor: owner, want: Deny},
	{name: "deny glob", mut: func(c *config.Config) { c.Tools.Deny = []string{"web_*"} }, tool: "web_search", group: "group:web", actor: owner, want: Deny},
	{name: "minimal has nothing", mut: func(c *config.Config) { c.Tools.Profile = "minimal" }, tool: "read", actor: owner, want: Deny},
	{name: "messaging lacks exec", mut: func(c *config.Config) { c.Tools.Profile = "messaging" }, tool: "exec", group: "group:runtime", actor: owner, want: Deny},
	// agent-tools
	{name: "agent allow keeps only those", mut: func(c *config.Config) {
		c.Agents.List = []config.AgentOverride{{ID: "research", Tools: config.AgentTools{Allow: []string{"group:web", "read"}}}}
	}, tool: "write", actor: research, want: Deny, reason: "agents.list"},
	{name: "agent deny removes", mut: func(c *config.Config) {
		c.Agents.List = []config.AgentOverride{{ID: "main", Tools: config.AgentTools{Deny: []string{"exec"}}}}
	}, tool: "exec", group: "group:runtime", actor: owner, want: Deny, reason: "agents.list"},
	{name: "agent override cannot widen", mut: func(c *config.Config) {
		c.Tools.Profile = "coding"
		c.Agents.List = []config.AgentOverride{{ID: "research", Tools: config.AgentTools{Allow: []string{"cron"}}}}
	}, tool: "cron", group: "group:automation", actor: research, want: Deny},
	// plan-refused, exec-disabled
	{name: "refused plan cannot be approved", actor: owner, plan: withFindings(plan(core.Executes), core.Finding{Severity: core.Refuse, Reason: "command substitution is not allowed"}), want: Deny, reason: "command substitution"},
	{name: "refused plan under taint stays denied", actor: owner, state: tainted, plan: withFindings(plan(core.Executes|core.WritesHost), core.Finding{Severity: core.Refuse, Reason: "x"}), want: Deny},
	{name: "exec disabled", mut: func(c *config.Config) { c.Tools.Exec.Security = "deny" }, actor: owner, plan: plan(core.Executes), want: Deny, reason: "tools.exec.security"},
	// session-visibility
	{name: "other session under self", actor: owner, plan: plan(core.ReadsPrivate, core.Target{Kind: core.TargetSession, Value: "agent:main:other", Agent: "main"}), want: Deny, reason: "not visible"},
	{name: "own session under self", actor: owner, plan: plan(core.ReadsPrivate, core.Target{Kind: core.TargetSession, Value: "agent:main:main", Agent: "main"}), want: Allow},
	{name: "same agent under agent", mut: func(c *config.Config) { c.Tools.Sessions.Visibility = "agent" }, actor: owner, plan: plan(core.ReadsPrivate, core.Target{Kind: core.TargetSession, Value: "agent:main:other", Agent: "main"}), want: Allow},
	{name: "other agent under agent", mut: func(c *config.Config) { c.Tools.Sessions.Visibility = "agent" }, actor: owner, plan: plan(core.ReadsPrivate, core.Target{Kind: core.TargetSession, Value: "agent:ops:main", Agent: "ops"}), want: Deny},
	{name: "missing session under agent", mut: func(c *config.Config) { c.Tools.Sessions.Visibility = "agent" }, actor: owner, plan: plan(core.ReadsPrivate, tgt(core.TargetSession, "agent:main:nope")), want: Deny},
	{name: "anything under all", mut: func(c *config.Config) { c.Tools.Sessions.Visibility = "all" }, actor: owner, plan: plan(core.ReadsPrivate, core.Target{Kind: core.TargetSession, Value: "agent:ops:main", Agent: "ops"}), want: Allow},
	// skill-capability
	{name: "restricted skill execs", actor: owner, state: skillState(true, "bins /usr/bin/curl: the skill did not declare this program"), plan: plan(core.Executes|core.WritesHost, tgt(core.TargetBinary, "/usr/bin/curl")), want: Deny, reason: "restricted until trusted"},
	{name: "trusted skill goes beyond", actor: owner, state: skillState(false, "network evil.example: the skill did not declare this host and path"), plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "evil.example"}), want: Ask, reason: "did not declare"},
	{name: "skill within its grant", actor: owner, state: skillState(false, ""), plan: plan(core.WritesHost, tgt(core.TargetPath, "notes.md")), want: Allow},
	{name: "restricted skill, a reply", actor: owner, state: skillState(true, "tools message: the skill did not declare this tool"), plan: plan(0, core.Target{Kind: core.TargetChat, Current: true}), want: Allow},
	{name: "skill of unknown capabilities", actor: owner, state: SessionState{Skills: []ActiveSkill{{Name: "gone"}}}, plan: plan(core.WritesHost), want: Deny, reason: "unknown"},
	// persist-owner-only
	{name: "stranger schedules a job", actor: stranger, plan: plan(core.WritesHost|core.Persists, tgt(core.TargetSchedule, "* * * * *")), want: Deny, reason: "only the owner"},
	{name: "trusted sender schedules a job", actor: friend, plan: plan(core.WritesHost | core.Persists), want: Deny},
	{name: "empty trust schedules a job", actor: noTrust, plan: plan(core.Persists), want: Deny},
	{name: "owner schedules a job", actor: owner, plan: plan(core.WritesHost | core.Persists), want: Allow},
	// plan-needs-approval, exec-ask-always
	{name: "binary not on the allowlist", actor: owner, plan: withFindings(plan(core.Executes), core.Finding{Severity: core.NeedsApproval, Reason: "/usr/bin/curl is not on the allowlist"}), want: Ask, reason: "not on the allowlist"},
	{name: "ask off denies a miss", mut: func(c *config.Config) { c.Tools.Exec.Ask = "off" }, actor: owner, plan: withFindings(plan(core.Executes), core.Finding{Severity: core.NeedsApproval, Reason: "miss"}), want: Deny, reason: "tools.exec.ask = off"},
	{name: "ask always", mut: func(c *config.Config) { c.Tools.Exec.Ask = "always" }, actor: owner, plan: plan(core.Executes, tgt(core.TargetBinary, "/usr/bin/ls")), want: Ask, reason: "always"},
	{name: "allowlisted exec", actor: owner, plan: plan(core.Executes|core.WritesHost|core.Egress|core.ReadsPrivate, tgt(core.TargetBinary, "/usr/bin/ls")), want: Allow},
	// program-config
	{name: "writes a git hook", actor: owner, plan: plan(core.WritesHost, tgt(core.TargetPath, ".git/hooks/pre-commit"), tgt(core.TargetProgramConfig, ".git/hooks/pre-commit")), want: Ask, reason: "configures programs"},
	{name: "writes an ordinary file", actor: owner, plan: plan(core.WritesHost, tgt(core.TargetPath, "src/main.go")), want: Allow},
	// sender-acts, sender-reads-private
	{name: "stranger writes", actor: stranger, plan: plan(core.WritesHost), want: Ask, reason: "untrusted sender"},
	{name: "stranger fetches", actor: stranger, plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "x.example"}), want: Ask},
	{name: "stranger messages", actor: stranger, plan: plan(core.Messages), want: Ask},
	{name: "stranger reads a file", actor: stranger, plan: plan(core.ReadsPrivate), want: Ask, reason: "owner's data"},
	{name: "trusted sender reads a file", actor: friend, plan: plan(core.ReadsPrivate), want: Ask, reason: "owner's data"},
	{name: "empty trust reads a file", actor: noTrust, plan: plan(core.ReadsPrivate), want: Ask},
	{name: "owner reads a file", actor: owner, plan: plan(core.ReadsPrivate), want: Allow},
	{name: "stranger replies here", actor: stranger, plan: plan(0, core.Target{Kind: core.TargetChat, Current: true}), want: Allow},
	// taint-changes-host
	{name: "tainted write", actor: owner, state: tainted, plan: plan(core.WritesHost), want: Ask, reason: "untrusted content from web_fetch evil.example"},
	{name: "tainted cron add", actor: owner, state: tainted, plan: plan(core.WritesHost | core.Persists), want: Ask},
	{name: "tainted persist only", actor: owner, state: tainted, plan: plan(core.Persists), want: Ask},
	{name: "tainted read", actor: owner, state: tainted, plan: plan(core.ReadsPrivate), want: Allow},
	{name: "tainted safe bins", actor: owner, state: tainted, plan: plan(core.Executes), want: Allow},
	// taint-sends
	{name: "tainted message elsewhere", actor: owner, state: tainted, plan: plan(core.Messages, tgt(core.TargetChat, "telegram:42")), want: Ask, reason: "sending elsewhere"},
	{name: "tainted exec with network", actor: owner, state: tainted, plan: plan(core.Egress | core.Executes), want: Ask},
	{name: "tainted reply here", actor: owner, state: tainted, plan: plan(0, core.Target{Kind: core.TargetChat, Current: true}), want: Allow},
	{name: "tainted search", actor: owner, state: tainted, plan: plan(core.Egress|core.Ingests, tgt(core.TargetSearch, "q")), want: Allow},
	// trifecta
	{name: "trifecta search", actor: owner, state: trifState, plan: plan(core.Egress|core.Ingests, tgt(core.TargetSearch, "q")), want: Ask, reason: "private data"},
	{name: "trifecta fetch of a visited host", actor: owner, state: trifState, plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "evil.example"}), want: Ask},
	// taint-new-host
	{name: "tainted fetch of a new host", actor: owner, state: tainted, plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "other.example"}), want: Ask, reason: "new host"},
	{name: "tainted fetch with data", actor: owner, state: tainted, plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "evil.example", Rest: "/?q=SECRET"}), want: Ask},
	{name: "tainted fetch of a visited host", actor: owner, state: tainted, plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "evil.example"}), want: Allow},
	{name: "clean fetch with data", actor: owner, plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "x.example", Rest: "/?q=1"}), want: Allow},
}

func check(t *testing.T, list []rule, c ruleCase) (Decision, bool) {
	t.Helper()
	d := decide(list, c.config(), c.request())
	ok := d.Action == c.want && (c.reason == "" || strings.Contains(d.Reason, c.reason))
	return d, ok
}

// TestRules runs the table: every rule of the one decision.
func TestRules(t *testing.T) {
	for _, c := range ruleTable {
		if d, ok := check(t, rules, c); !ok {
			t.Errorf("%s: got %s (%s; rule %s), want %s with %q", c.name, d.Action, d.Reason, d.Rule, c.want, c.reason)
		}
	}
}

// TestEveryRuleIsNeeded removes each rule in turn: some row of the table
// must then fail, so no rule is untested and none is dead.
func TestEveryRuleIsNeeded(t *testing.T) {
	for i, r := range rules {
		without := append(append([]rule{}, rules[:i]...), rules[i+1:]...)
		failed := 0
		for _, c := range ruleTable {
			if _, ok := check(t, without, c); !ok {
				failed++
			}
		}
		if failed == 0 {
			t.Errorf("rule %s can be removed and every case still passes: add a case that needs it", r.name)
		}
	}
}

// TestDecisionNamesRuleAndPlan: the decision says which rule made it and
// binds to the plan's hash.
func TestDecisionNamesRuleAndPlan(t *testing.T) {
	p := plan(core.WritesHost)
	r := &Rules{Config: func() *config.Config { return config.Default() }}
	d := r.Decide(context.Background(), Request{Actor: stranger, Tool: core.Spec{Name: "write", Group: "group:fs"}, Registered: true, Plan: p})
	if d.Action != Ask || d.Rule != "sender-acts" || d.PlanHash != p.Hash || p.Hash == "" {
		t.Fatalf("%+v", d)
	}
	d = AllowAll{}.Decide(context.Background(), Request{Tool: core.Spec{Name: "nope"}})
	if d.Action != Deny || !d.Invalid || d.Rule != "unknown-tool" {
		t.Fatalf("AllowAll unknown tool: %+v", d)
	}
}

func BenchmarkDecide(b *testing.B) {
	cfg := config.Default()
	r := &Rules{Config: func() *config.Config { return cfg }}
	req := Request{Actor: owner, State: tainted, Tool: core.Spec{Name: "web_fetch", Group: "group:web"}, Registered: true,
		Plan: plan(core.Egress|core.Ingests, core.Target{Kind: core.TargetURL, Value: "evil.example", Rest: "/page"})}
	b.ReportAllocs()
	for b.Loop() {
		r.Decide(context.Background(), req)
	}
}
