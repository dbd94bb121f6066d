package migrate

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Strictness orders: a lower index is stricter. The effective OpenClaw
// policy is the stricter of tools.exec and the exec approvals file, as
// OpenClaw computes it.
var (
	securityOrder = []string{"deny", "allowlist", "full"}
	askOrder      = []string{"always", "on-miss", "off"}
)

func stricter(order []string, a, b string) string {
	ia, ib := slices.Index(order, a), slices.Index(order, b)
	switch {
	case ia < 0:
		return b
	case ib < 0:
		return a
	case ib < ia:
		return b
	}
	return a
}

// execState is the exec policy being built from both sources.
type execState struct {
	security, ask, askFallback string
	// from names the key that decided security, for the report.
	from      string
	allowlist []any
}

func (m *mapper) execPolicy() {
	st := &execState{}
	if v, ok := m.get("tools.exec.mode"); ok {
		s, _ := v.(string)
		switch s {
		case "deny":
			st.security = "deny"
		case "allowlist":
			st.security, st.ask = "allowlist", "off"
		case "ask":
			st.security, st.ask = "allowlist", "on-miss"
		case "auto":
			st.security, st.ask = "allowlist", "on-miss"
			m.warn("tools.exec.ask", `OpenClaw's "auto" reviewer has no Talon equivalent: commands off the allowlist ask the owner (on-miss)`)
		case "full":
			st.security, st.ask = "full", "off"
		default:
			m.unmapped("tools.exec.mode", fmt.Sprintf("%q is not an exec mode Talon knows", s))
		}
		st.from = "tools.exec.mode"
	}
	if v, ok := m.get("tools.exec.security"); ok {
		if s, ok := v.(string); ok && slices.Contains(securityOrder, s) {
			st.security = stricter(securityOrder, st.security, s)
			if st.from == "" {
				st.from = "tools.exec.security"
			}
		}
	}
	if v, ok := m.get("tools.exec.ask"); ok {
		if s, ok := v.(string); ok && slices.Contains(askOrder, s) {
			st.ask = stricter(askOrder, st.ask, s)
		}
	}
	if l, ok := m.stringList("tools.exec.safeBins"); ok {
		m.set("tools.exec.safeBins", l, "tools.exec.safeBins")
	}
	m.skip("tools.exec.host", "Talon runs commands on the gateway host, confined by its sandbox")
	m.skip("tools.exec.pathPrepend", "Talon refuses PATH overrides (invariant 5)")
	m.skip("tools.exec.safeBinTrustedDirs", "Talon resolves binaries by absolute path")
	m.skip("tools.exec.safeBinProfiles", "Talon's safe bins have built-in argument rules")
	m.skip("tools.exec.reviewer", "Talon has no model reviewer: approvals go to the owner")
	m.execApprovalsInto(st)
	m.applyExec(st)
}

// execApprovalsInto reads exec-approvals.json into st.
func (m *mapper) execApprovalsInto(st *execState) {
	if m.in.ExecApprovals == nil {
		return
	}
	var doc struct {
		Defaults struct {
			Security    string `json:"security"`
			Ask         string `json:"ask"`
			AskFallback string `json:"askFallback"`
		} `json:"defaults"`
		Agents map[string]json.RawMessage `json:"agents"`
	}
	if err := json.Unmarshal(m.in.ExecApprovals, &doc); err != nil {
		m.approvalsErr = fmt.Errorf("%w: exec-approvals.json: %v", ErrBadInput, err)
		return
	}
	const file = "exec-approvals.json"
	apply := func(key, sec, ask, fb string) {
		if sec != "" {
			st.security = stricter(securityOrder, st.security, sec)
			if st.from == "" {
				st.from = key + ".security"
			}
		}
		if ask != "" {
			st.ask = stricter(askOrder, st.ask, ask)
		}
		if fb != "" {
			st.askFallback = stricter(securityOrder, st.askFallback, fb)
		}
	}
	apply(file+":defaults", doc.Defaults.Security, doc.Defaults.Ask, doc.Defaults.AskFallback)
	for _, id := range sortedKeys(doc.Agents) {
		key := file + ":agents." + id
		if id != "main" && id != "*" {
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: "Talon runs one agent (main) with one exec allowlist; another agent's entries would widen it"})
			continue
		}
		var a struct {
			Security    string            `json:"security"`
			Ask         string            `json:"ask"`
			AskFallback string            `json:"askFallback"`
			Allowlist   []json.RawMessage `json:"allowlist"`
			MCPTools    []json.RawMessage `json:"mcpTools"`
		}
		if err := json.Unmarshal(doc.Agents[id], &a); err != nil {
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: "not the shape OpenClaw documents: " + err.Error()})
			continue
		}
		apply(key, a.Security, a.Ask, a.AskFallback)
		for i, raw := range a.Allowlist {
			ek := fmt.Sprintf("%s.allowlist.%d", key, i)
			var e struct {
				Pattern    string `json:"pattern"`
				ArgPattern string `json:"argPattern"`
			}
			if err := json.Unmarshal(raw, &e); err != nil {
				_ = json.Unmarshal(raw, &e.Pattern)
			}
			if p, ok := m.allowlistEntry(ek, e.Pattern, e.ArgPattern); ok && !slices.Contains(st.allowlist, any(p)) {
				st.allowlist = append(st.allowlist, p)
				m.rep.Mapped = append(m.rep.Mapped, Mapping{From: ek, To: "tools.exec.allowlist"})
			}
		}
		if len(a.MCPTools) > 0 {
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key + ".mcpTools", Message: "Talon has no MCP tools"})
		}
	}
}

// allowlistEntry turns an OpenClaw allowlist pattern into a Talon one, or
// reports why it cannot be carried over without widening it.
func (m *mapper) allowlistEntry(key, pat, argPat string) (string, bool) {
	switch {
	case pat == "":
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: "no pattern"})
		return "", false
	case argPat != "":
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: "allowed " + pat + " only with particular arguments; Talon's allowlist names binaries, so carrying it over would allow every argument: approve it again in Talon (allow-always)"})
		return "", false
	}
	if strings.HasPrefix(pat, "~/") && m.in.Home != "" {
		pat = path.Join(m.in.Home, pat[2:])
	}
	if !strings.HasPrefix(pat, "/") {
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: fmt.Sprintf("%q is not an absolute path; Talon matches resolved absolute binary paths (e.g. /usr/bin/%s)", pat, path.Base(pat))})
		return "", false
	}
	if strings.Contains(pat, "**") {
		for strings.Contains(pat, "**") {
			pat = strings.ReplaceAll(pat, "**", "*")
		}
		m.warn(key, "** became * (one directory level, narrower): Talon's globs do not cross /; now %s", pat)
	}
	if _, err := path.Match(pat, ""); err != nil {
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: key, Message: "not a valid glob"})
		return "", false
	}
	return pat, true
}

// applyExec writes the decided exec policy, narrowing "full" unless asked
// not to.
func (m *mapper) applyExec(st *execState) {
	if st.security == "" && st.ask == "" {
		m.warn("tools.exec.security", "OpenClaw sets no exec policy, so it ran commands without asking; Talon uses its defaults: allowlist, asking the owner on a miss")
	}
	if st.security == "full" {
		if m.in.KeepUnsafe {
			m.warn("tools.exec.security", `kept "full" (--keep-unsafe): any command runs; only approvals and the sandbox stand between a hijacked model and the host`)
		} else {
			st.security = "allowlist"
			if st.ask == "off" || st.ask == "" {
				st.ask = "on-miss"
			}
			m.warn("tools.exec.security", `OpenClaw had "full" (any command); imported as "allowlist", asking the owner on a miss. Pass --keep-unsafe to keep "full"`)
		}
	}
	from := st.from
	if from == "" {
		from = "tools.exec.security"
	}
	if st.security != "" {
		m.set("tools.exec.security", st.security, from)
	}
	if st.ask != "" {
		m.set("tools.exec.ask", st.ask, "tools.exec.ask")
	}
	if st.askFallback != "" {
		if st.askFallback == "full" && !m.in.KeepUnsafe {
			st.askFallback = "deny"
			m.warn("tools.exec.askFallback", `OpenClaw ran unapproved commands when no approver answered ("full"); imported as "deny". Pass --keep-unsafe to keep it`)
		}
		m.set("tools.exec.askFallback", st.askFallback, "exec-approvals.json:askFallback")
	}
	if len(st.allowlist) > 0 {
		setSegs(m.out, []string{"tools", "exec", "allowlist"}, st.allowlist)
	}
}

// execApprovals reports a bad approvals file (found while mapping tools).
func (m *mapper) execApprovals() error { return m.approvalsErr }
