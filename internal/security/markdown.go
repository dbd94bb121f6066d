package security

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/config"
)

// AuditMarkdown returns docs/security-audit.md: every check with its
// severity, meaning and fix, and every config key with the check that
// reports its widening values (or why it needs none), generated from
// Checks and the config types' widens tags. A test keeps the committed
// file equal to it.
func AuditMarkdown() []byte {
	var b bytes.Buffer
	b.WriteString(auditIntro)

	b.WriteString("\n## Checks\n\n")
	b.WriteString("`<channel>` stands for telegram, discord, slack, signal or whatsapp; `<file>` for the state file or directory named in the meaning. Source: **config** checks read the file, **files** the state directory, **kernel** this machine's sandbox support, **summary** findings describe rather than warn, **deep** findings come only from `--deep`.\n\n")
	b.WriteString("| Check | Severity | What it means | Fix | `--fix` | Source |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, c := range Checks() {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s |\n", c.ID, mdCell(c.Severity), mdCell(c.Meaning), mdCell(orText(c.Fix, "—")), mdCell(orText(c.AutoFix, "—")), c.Source)
	}

	var widening, none [][3]string
	seen := map[string]bool{}
	for _, w := range config.Widenings() {
		key := docKey(w.Key)
		if seen[key] {
			continue
		}
		seen[key] = true
		if len(w.Triggers) == 0 {
			none = append(none, [3]string{key, w.Reason, docKey(w.From)})
			continue
		}
		var vals, checks []string
		for _, tr := range w.Triggers {
			if tr.Check == config.SecretLiteralCheck {
				vals = append(vals, "a literal, not a `${…}` reference")
			} else {
				vals = append(vals, "`"+tr.Value+"`")
			}
			if !slices.Contains(checks, "`"+tr.Check+"`") {
				checks = append(checks, "`"+tr.Check+"`")
			}
		}
		cell := "`" + key + "`"
		if w.From != "" {
			cell += " (through `" + docKey(w.From) + "`)"
		}
		widening = append(widening, [3]string{cell, strings.Join(vals, ", "), strings.Join(checks, ", ")})
	}
	b.WriteString("\n## Settings that widen exposure\n\n")
	b.WriteString(wideningIntro)
	b.WriteString("| Key | For example | Reported by |\n|---|---|---|\n")
	for _, r := range widening {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r[0], mdCell(r[1]), r[2])
	}
	b.WriteString("\n## Settings that need no check\n\n")
	b.WriteString("Each key below does not widen what strangers or the agent can do, or is covered elsewhere, for the reason given. A reason given for a section covers every key in it.\n\n")
	b.WriteString("| Key | Why no check |\n|---|---|\n")
	for _, r := range none {
		reason := r[1]
		if r[2] != "" {
			reason += " (for all of `" + r[2] + "`)"
		}
		fmt.Fprintf(&b, "| `%s` | %s |\n", r[0], mdCell(reason))
	}
	return b.Bytes()
}

// docKey writes a key path the way docs/configuration.md does: "<id>" for
// a map key, and one row for the keys every channel shares.
func docKey(k string) string {
	if k == "" {
		return ""
	}
	segs := strings.Split(k, ".")
	for i, s := range segs {
		if s == "*" {
			segs[i] = "<id>"
		}
	}
	if len(segs) > 2 && segs[0] == "channels" && sharedChannelKey(segs[2]) {
		segs[1] = "<channel>"
	}
	return strings.Join(segs, ".")
}

// sharedChannelKey: the ChannelAccess keys every channel section has.
func sharedChannelKey(k string) bool {
	switch k {
	case "enabled", "dmPolicy", "allowFrom", "groupPolicy", "groupAllowFrom", "groups", "requireMention", "dangerouslyAllowNameMatching", "rateLimit":
		return true
	}
	return false
}

func mdCell(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ") }

const auditIntro = `# Security audit reference

<!-- Generated from internal/security/checks.go and the widens tags of
     internal/config/types.go; do not edit. Regenerate with
     go test ./internal/security -run TestAuditDocs -update -->

` + "`talon security audit`" + ` reports what in this setup widens what strangers or the
agent can do: who can reach the agent, what it may run or read, where it may send
data, how much it may spend, and what is logged or kept. Each finding has a stable
check id, a severity, what is wrong, and how to fix it.

` + "```" + `
talon security audit            # findings grouped by severity, each with its fix
talon security audit --fix      # apply the safe fixes (below), with a config backup
talon security audit --deep     # also probe the running gateway as an attacker would
talon security audit --json --strict   # for scripts: exit 1 on any critical finding
` + "```" + `

## Severities

- **critical**: strangers, or a hijacked model, can do serious harm now; fix it first.
- **warn**: an exposure wider than it needs to be, or one that becomes serious with
  one more mistake.
- **info**: a description of the setup, or a choice that is fine for most owners.

A fresh default setup reports nothing at warn or critical.

**Strangers can reach the agent** when any enabled channel has DM policy ` + "`open`" + `,
` + "`*`" + ` in allowFrom, open groups (groupPolicy ` + "`open`" + `, ` + "`*`" + ` in groups or groupAllowFrom),
or DM policy ` + "`pairing`" + ` (strangers can ask for access). Several checks raise their
severity then: the same setting is worse when people the owner has not listed can
send the model text.

## What --fix changes

` + "`--fix`" + ` only narrows: it tightens file modes, turns log redaction on, closes open
groups, replaces a missing or weak gateway token (announced, since clients must use
the new one), moves literal secrets into the encrypted secrets store behind
` + "`${secret:NAME}`" + ` references, sets ` + "`tools.exec.askFallback`" + ` to ` + "`deny`" + `, removes shells and
interpreters from exec lists, turns sandbox networking off, narrows session
visibility and sets a daily budget when strangers can reach the agent. It never
widens anything, backs the config up first, writes it atomically, and records each
change in the audit log. A finding with no safe change (an open DM policy, a broad
workspace) is left for the owner.
`

const wideningIntro = `Every config key says, in its ` + "`widens`" + ` tag in ` + "`internal/config/types.go`" + `, whether it
widens exposure and which check reports it. A test sets each listed value in a
secure setup and fails unless the audit then reports the check, and another fails
when a key has no tag, so a new key cannot widen exposure unnoticed. Keys of type
secret (tokens, passwords, API keys) are found by their type: a literal value in any
of them is reported by ` + "`secrets.plaintext`" + `.

`
