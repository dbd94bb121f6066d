package skills

import (
	"fmt"
	"net/url"
)

// Action is one tool call in capability terms: what the policy's typed
// plan says it will touch. The policy fills in what applies (an exec plan
// its resolved binaries and whether it has network, a web_fetch its URL, a
// file tool its workspace-relative paths, any call the secrets it would
// have injected).
type Action struct {
	Tool     string
	Binaries []string // resolved absolute paths
	URLs     []*url.URL
	Reads    []string // workspace-relative
	Writes   []string // workspace-relative
	Secrets  []string
	Env      []string
}

// Check lists what the action does beyond c (empty: within it). The policy
// uses it for actions taken while a skill is active, with c = Grant(…):
// the skill's declared capabilities intersected with the agent's policy.
// It only ever narrows: an action within c still needs everything the
// policy already requires (approvals, taint rules, netguard).
func (c Capabilities) Check(a Action) []Excess {
	var out []Excess
	if a.Tool != "" && !c.AllowsTool(a.Tool) {
		out = append(out, Excess{"tools", a.Tool, "the skill did not declare this tool"})
	}
	for _, b := range a.Binaries {
		if !c.AllowsBinary(b) {
			out = append(out, Excess{"bins", b, "the skill did not declare this program"})
		}
	}
	for _, u := range a.URLs {
		if !c.AllowsURL(u) {
			out = append(out, Excess{"network", u.Redacted(), "the skill did not declare this host and path"})
		}
	}
	for _, p := range a.Reads {
		if !c.AllowsFile(p, false) {
			out = append(out, Excess{"files.read", p, "outside the skill's declared read globs"})
		}
	}
	for _, p := range a.Writes {
		if !c.AllowsFile(p, true) {
			out = append(out, Excess{"files.write", p, "outside the skill's declared write globs"})
		}
	}
	for _, s := range a.Secrets {
		if !c.AllowsSecret(s) {
			out = append(out, Excess{"secrets", s, "the skill did not declare this secret"})
		}
	}
	for _, e := range a.Env {
		if !c.AllowsEnv(e) {
			out = append(out, Excess{"env", e, "the skill did not declare this variable"})
		}
	}
	return out
}

// Reason renders Check's result as one line for a denial or approval
// prompt ("" when within).
func Reason(skill string, ex []Excess) string {
	if len(ex) == 0 {
		return ""
	}
	s := fmt.Sprintf("skill %s: %s", skill, ex[0])
	if len(ex) > 1 {
		s += fmt.Sprintf(" (and %d more)", len(ex)-1)
	}
	return s
}
