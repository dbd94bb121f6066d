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
	"os/exec"
	"slices"
	"unicode/utf8"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/security"
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
}

var _ agent.SkillPrompter = (*Library)(nil)

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

// Tool returns skill_read.
func (l *Library) Tool() agent.Tool { return readTool{l} }

type readTool struct{ l *Library }

func (readTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{
		Name:        "skill_read",
		Description: "Read a skill listed under Skills in the system prompt: its SKILL.md instructions, or a file the skill mentions (path relative to the skill's folder).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"name":{"type":"string","description":"the skill's name"},` +
			`"path":{"type":"string","description":"a file inside the skill; omit for SKILL.md"}},"required":["name"],"additionalProperties":false}`),
	}
}

func (t readTool) Run(ctx context.Context, c agent.ToolCall) (agent.ToolResult, error) {
	var args struct {
		Name string `json:"name"`
		Path string `json:"path"`
	}
	if err := json.Unmarshal(c.Args, &args); err != nil || args.Name == "" {
		return agent.ToolResult{}, fmt.Errorf("invalid arguments: want {name, path?}")
	}
	cat := t.l.Catalog()
	allow := t.l.allow(c.AgentID)
	sk, ok := cat.Get(args.Name)
	if !ok || (allow != nil && !slices.Contains(allow, args.Name) && !slices.Contains(allow, "*")) {
		return agent.ToolResult{}, fmt.Errorf("no skill %q is available to this agent", args.Name)
	}
	data, err := sk.ReadFile(args.Path)
	if err != nil {
		return agent.ToolResult{}, fmt.Errorf("skill %s: %v", args.Name, err)
	}
	if !utf8.Valid(data) {
		return agent.ToolResult{}, fmt.Errorf("skill %s: %s is not text", args.Name, orSkillMD(args.Path))
	}
	text := string(data)
	if len(text) > MaxReadChars {
		text = text[:MaxReadChars] + "\n[… truncated]"
	}
	detail := map[string]any{"skill": sk.Name, "version": sk.Version, "source": sk.Source, "path": orSkillMD(args.Path), "trusted": sk.Trusted}
	if sk.Trusted {
		return agent.ToolResult{Content: text, Detail: detail}, nil
	}
	src := fmt.Sprintf("skill %s@%s (%s, not trusted) %s", sk.Name, sk.Version, sk.Source, orSkillMD(args.Path))
	return agent.ToolResult{Content: security.WrapUntrusted(src, text), Untrusted: true, Detail: detail}, nil
}

func orSkillMD(p string) string {
	if p == "" {
		return skills.SkillFile
	}
	return p
}
