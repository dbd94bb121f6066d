// Package skilltool gives the agent its skills: the system prompt's list
// (names and descriptions only) and the skill_read tool that reads a
// skill's SKILL.md or one of its files on demand.
//
// Invariant 9 and 13 here: a managed skill is re-verified against
// skills.lock whenever the catalog is built and every file read is checked
// against the verified manifest again; text of a skill the owner has not
// trusted (this exact version and fingerprint) reaches the model only in
// provenance markers and taints the session. An agent sees only the skills
// its agents.list[].skills allowlist names (all when unset).
package skilltool

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/provenance"
	"github.com/talonclaw/talon/internal/skills"
)

// MaxReadChars caps one skill_read result.
const MaxReadChars = 100_000

// Library finds the skills: workspace skills/ over managed over bundled.
type Library struct {
	Manager   *skills.Manager
	Workspace string
	Bundled   string
	Config    func() *config.Config
	// HasBin answers OpenClaw's requires.bins gating; nil uses PATH.
	HasBin func(string) bool
	// HasEnv answers requires.env: Talon passes no environment to
	// commands, so the caller answers whether a secret of that name is
	// stored (nil: none is).
	HasEnv func(string) bool
	// Policy is what the owner's config lets an agent do, in the terms
	// skill capabilities are compared in; a skill is granted at most
	// that (skills.Grant). Nil grants nothing beyond the declaration's
	// intersection with an empty policy.
	Policy func(agentID string) skills.AgentPolicy
}

// Active describes an activated skill for the policy's skill-capability
// rule: its grant (declared capabilities, restricted unless trusted,
// intersected with the agent's policy) and whether it is restricted. A
// skill that is no longer available to the agent — removed, modified,
// refused on load — is restricted and may do nothing.
func (l *Library) Active(agentID, name string) policy.ActiveSkill {
	sk, ok := l.Catalog().Get(name)
	allow := l.allow(agentID)
	if !ok || (allow != nil && !slices.Contains(allow, name) && !slices.Contains(allow, "*")) {
		return policy.ActiveSkill{Name: name, Restricted: true, Check: func(*core.Plan) string {
			return "skill " + name + " was activated in this session but is no longer available (removed, modified or not allowed)"
		}}
	}
	var view skills.AgentPolicy
	if l.Policy != nil {
		view = l.Policy(agentID)
	}
	grant := skills.Grant(sk.Capabilities, view, sk.Restricted)
	a := policy.ActiveSkill{Name: name, Restricted: sk.Restricted, Check: func(p *core.Plan) string {
		return skills.Reason(name, grant.Check(ActionOf(p)))
	}}
	if !sk.Restricted {
		a.Secrets = grant.Secrets
	}
	return a
}

// ActionOf is a plan in skill-capability terms: its tool, the binaries it
// executes, the URLs it fetches, and the paths it reads or (when it writes
// the host) writes.
func ActionOf(p *core.Plan) skills.Action {
	a := skills.Action{Tool: p.Tool}
	for _, t := range p.Targets {
		switch t.Kind {
		case core.TargetBinary:
			a.Binaries = append(a.Binaries, t.Value)
		case core.TargetURL:
			rest := t.Rest
			if i := strings.Index(rest, "@"); i >= 0 && !strings.ContainsAny(rest[:i], "/?#") {
				rest = rest[i+1:] // user info carries no path
			}
			u, err := url.Parse("https://" + t.Value + rest)
			if err != nil {
				u = &url.URL{Scheme: "https", Host: t.Value, Path: "/\x00unparsable"}
			}
			a.URLs = append(a.URLs, u)
		case core.TargetPath:
			rel := strings.TrimPrefix(path.Clean(t.Value), "./")
			if p.Any(core.WritesHost) {
				a.Writes = append(a.Writes, rel)
			} else {
				a.Reads = append(a.Reads, rel)
			}
		}
	}
	return a
}

// Catalog loads (and verifies) the skills now.
func (l *Library) Catalog() *skills.Catalog {
	hasBin := l.HasBin
	if hasBin == nil {
		hasBin = func(b string) bool { _, err := exec.LookPath(b); return err == nil }
	}
	return skills.Load(skills.LoadOptions{Workspace: l.Workspace, Manager: l.Manager, Bundled: l.Bundled, HasBin: hasBin, HasEnv: l.HasEnv})
}

// allow is agentID's skill allowlist (nil: every skill).
func (l *Library) allow(agentID string) []string {
	if agentID == "" {
		agentID = "main"
	}
	if l.Config == nil {
		return nil
	}
	for _, o := range l.Config().Agents.List {
		if o.ID == agentID && o.Skills != nil {
			return o.Skills
		}
	}
	return nil
}

// PromptSection is the skills section of agentID's system prompt.
func (l *Library) PromptSection(agentID string) string {
	return skills.PromptSection(l.Catalog().Allowed(l.allow(agentID)))
}

// Tool returns skill_read. A nil Library gives a tool whose Spec works
// (tools.Catalog) and whose plans are refused.
func Tool(l *Library) core.Tool { return readTool{l} }

// Tool returns skill_read for this library.
func (l *Library) Tool() core.Tool { return readTool{l} }

type readTool struct{ l *Library }

func (readTool) Spec() core.Spec {
	return core.Spec{
		Name:        "skill_read",
		Description: "Read a skill listed under Skills in the system prompt: its SKILL.md instructions, or a file the skill mentions (path relative to the skill's folder).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","description":"the skill's name"},` +
			`"path":{"type":"string","description":"a file inside the skill; omit for SKILL.md"}},"required":["name"],"additionalProperties":false}`),
		Group: "group:fs",
	}
}

// readPlan is skill_read's canonical form: the skill as loaded (and
// verified) at planning, and the file.
type readPlan struct {
	skill skills.Loaded
	path  string
}

// Plan finds the skill among those this agent may use. Reading a skill the
// owner has not trusted ingests untrusted content: its result taints the
// session whatever Run says.
func (t readTool) Plan(ctx context.Context, c core.Call) (*core.Plan, error) {
	var args struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(c.Args, &args); err != nil || args.Name == "" {
		return nil, fmt.Errorf("invalid arguments: want {name, path?}")
	}
	if t.l == nil {
		return nil, fmt.Errorf("skills are not available here")
	}
	cat := t.l.Catalog()
	allow := t.l.allow(c.Actor.AgentID)
	sk, ok := cat.Get(args.Name)
	if !ok || (allow != nil && !slices.Contains(allow, args.Name) && !slices.Contains(allow, "*")) {
		return nil, fmt.Errorf("no skill %q is available to this agent", args.Name)
	}
	if args.Path != "" {
		if err := skills.CheckPath(args.Path); err != nil {
			return nil, fmt.Errorf("skill %s: %v", args.Name, err)
		}
	}
	var eff core.Effect
	trust := "trusted"
	if !sk.Trusted {
		eff, trust = core.Ingests, "not trusted"
	}
	canon, _ := json.Marshal(map[string]string{"name": sk.Name, "path": args.Path})
	return (&core.Plan{Tool: "skill_read", Effects: eff, Args: canon, Targets: []core.Target{{Kind: core.TargetSkill, Value: sk.Name}},
		Summary: fmt.Sprintf("read %s of skill %s@%s (%s, %s)", orSkillMD(args.Path), sk.Name, orStr(sk.Version, "unversioned"), sk.Source, trust),
		Canon:   readPlan{skill: sk, path: args.Path}}).Seal(), nil
}

func (t readTool) Run(ctx context.Context, c core.Call, plan *core.Plan) (core.Result, error) {
	rp, ok := plan.Canon.(readPlan)
	if !ok {
		return core.Result{}, fmt.Errorf("skill_read: not a skill_read plan")
	}
	sk := rp.skill
	data, err := sk.ReadFile(rp.path)
	if err != nil {
		return core.Result{}, fmt.Errorf("skill %s: %v", sk.Name, err)
	}
	if !utf8.Valid(data) {
		return core.Result{}, fmt.Errorf("skill %s: %s is not text", sk.Name, orSkillMD(rp.path))
	}
	text := string(data)
	if len(text) > MaxReadChars {
		text = text[:MaxReadChars] + "\n[… truncated]"
	}
	detail := map[string]any{"skill": sk.Name, "version": sk.Version, "source": sk.Source, "path": orSkillMD(rp.path), "trusted": sk.Trusted}
	// Activating a skill that declares more than the agent's policy allows
	// is reported (the audit log's tool.exec record), never granted: the
	// policy checks every later call against the grant only.
	if t.l.Policy != nil {
		if ex := sk.Capabilities.Exceeds(t.l.Policy(c.Actor.AgentID)); len(ex) > 0 {
			lines := make([]string, len(ex))
			for i, e := range ex {
				lines[i] = e.String()
			}
			detail["exceedsPolicy"] = lines
		}
	}
	if sk.Trusted {
		return core.Result{Content: text, Detail: detail}, nil
	}
	src := fmt.Sprintf("skill %s@%s (%s, not trusted) %s", sk.Name, sk.Version, sk.Source, orSkillMD(rp.path))
	return core.Result{Content: provenance.WrapUntrusted(src, text), Untrusted: true, Detail: detail}, nil
}

func orSkillMD(p string) string {
	if p == "" {
		return skills.SkillFile
	}
	return p
}

func orStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Status is the agent's skills in the shape of OpenClaw's skills.status
// report, for `openclaw skills list`: every skill found, whether it is
// usable by this agent and why not. Only names, descriptions and where a
// skill comes from; never its body.
func (l *Library) Status(agentID, stateDir string) map[string]any {
	cat := l.Catalog()
	allow := l.allow(agentID)
	row := func(name, desc, source string, eligible, blocked bool, reason string) map[string]any {
		r := map[string]any{"name": name, "skillKey": name, "description": desc, "emoji": "", "eligible": eligible && !blocked,
			"disabled": false, "blockedByAllowlist": false, "blockedByAgentFilter": blocked, "modelVisible": eligible && !blocked,
			"userInvocable": false, "commandVisible": false, "source": source, "bundled": source == "bundled", "primaryEnv": "", "homepage": "",
			"missing": map[string][]string{"bins": {}, "anyBins": {}, "env": {}, "config": {}, "os": {}}}
		if reason != "" {
			r["refused"] = reason
		}
		return r
	}
	rows := []map[string]any{}
	for _, sk := range cat.Skills {
		blocked := allow != nil && !slices.Contains(allow, sk.Name) && !slices.Contains(allow, "*")
		rows = append(rows, row(sk.Name, sk.Description, sk.Source, true, blocked, ""))
	}
	for _, r := range cat.Refused {
		rows = append(rows, row(r.Name, "", r.Source, false, false, r.Reason))
	}
	return map[string]any{"workspaceDir": l.Workspace, "managedSkillsDir": filepath.Join(stateDir, "skills"), "skills": rows}
}
