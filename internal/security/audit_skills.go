package security

import (
	"fmt"
	"strings"
)

// SkillState is what the audit knows about one installed skill; the
// caller (talon security audit) computes it with internal/skills.
type SkillState struct {
	Name, Version, Source string
	Signed, Trusted       bool
	// VerifyError is why the skill fails verification against skills.lock
	// ("" when it verifies).
	VerifyError string
	// Critical and Warn are scanner findings ("checkId file:line").
	Critical, Warn []string
	// Exceeds lists declared capabilities the agent's policy does not
	// allow (they are not granted).
	Exceeds []string
}

// SkillsAudit is the skills part of AuditInput.
type SkillsAudit struct {
	// LockError is why skills.lock could not be read ("" when fine).
	LockError string
	Skills    []SkillState
}

// skills reports invariant 13's state: unsigned, modified or untrusted
// skills, scanner findings and capability excesses.
func (a *auditor) skills() {
	if a.c.Skills.Registry.URL != "" && a.c.Skills.Registry.PublicKey == "" {
		a.add("skills.registry_no_key", Warn, "the skills registry has no pinned key",
			"skills.registry.url is set but skills.registry.publicKey is empty: installing by name is refused until the registry's key is pinned",
			"set skills.registry.publicKey to the output of `talon hub key` on the registry", false)
	}
	sa := a.in.Skills
	if sa == nil {
		return
	}
	if sa.LockError != "" {
		a.add("skills.lock_unreadable", Critical, "skills.lock cannot be read", sa.LockError+": no installed skill is loaded",
			"restore skills.lock from a backup, or remove it and reinstall the skills", false)
	}
	for _, s := range sa.Skills {
		id := s.Name + "@" + s.Version
		if s.VerifyError != "" {
			a.add("skills.modified", Critical, id+" fails verification", s.VerifyError+"; it is not loaded",
				"reinstall it from its bundle or registry (talon skills install), or remove it (talon skills remove "+s.Name+")", false)
			continue
		}
		switch {
		case !s.Signed && s.Trusted:
			a.add("skills.unsigned", Warn, id+" is unsigned and trusted", "nobody signed it, yet you trusted it: it gets every capability it declares",
				"prefer a signed bundle; reinstall to drop the trust if you did not mean it", false)
		case !s.Signed:
			a.add("skills.unsigned", Info, id+" is unsigned", "it was installed with --allow-unsigned and stays restricted (no exec, no network, no secrets) until trusted", "", false)
		case !s.Trusted:
			a.add("skills.untrusted", Info, id+" is not trusted", "its text reaches the model inside untrusted-content markers and taints the session",
				"review it and run talon skills trust "+id+" if you want it treated as your own instructions", false)
		}
		if len(s.Critical) > 0 {
			a.add("skills.scan_critical", Critical, id+" has critical scanner findings", strings.Join(s.Critical, "; "),
				"read the skill; remove it (talon skills remove "+s.Name+") unless each finding is a false positive", false)
		} else if len(s.Warn) > 0 {
			a.add("skills.scan_warn", Warn, id+" has scanner warnings", strings.Join(s.Warn, "; "), "read the lines named and decide whether to keep the skill", false)
		}
		if len(s.Exceeds) > 0 {
			a.add("skills.capability_excess", Warn, id+" declares capabilities the agent's policy does not allow",
				fmt.Sprintf("not granted: %s", strings.Join(s.Exceeds, "; ")),
				"widen the policy only if you want the skill to do that (tools.*, exec allowlist, allowedHostnames, secrets), or remove the skill", false)
		}
	}
}
