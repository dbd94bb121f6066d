package security

import (
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

func (e auditEnv) auditTreeSkills(t *testing.T, tree map[string]any, sa *SkillsAudit) []Finding {
	t.Helper()
	c, err := config.Validate(tree, e.lookup)
	if err != nil {
		t.Fatal(err)
	}
	out := Audit(AuditInput{Config: c, Tree: tree, Lookup: e.lookup, ConfigPath: e.cfgPath, StateDir: e.state, Home: e.home, Skills: sa})
	for _, f := range out {
		if _, ok := checkFor(f.CheckID); !ok {
			t.Errorf("Audit reported %s, which is not in Checks()", f.CheckID)
		}
	}
	return out
}

func TestInvariant13_AuditReportsSkills(t *testing.T) {
	e := newAuditEnv(t)
	run := func(sa *SkillsAudit, tree string) []Finding {
		return e.auditTreeSkills(t, parseTree(t, tree), sa)
	}
	fs := run(&SkillsAudit{Skills: []SkillState{
		{Name: "tides", Version: "1.0.0", Signed: true, VerifyError: "tides: files do not match the signed manifest: SKILL.md changed"},
		{Name: "plain", Version: "0.1.0"},
		{Name: "trusted-plain", Version: "0.1.0", Trusted: true},
		{Name: "weather", Version: "2.0.0", Signed: true, Critical: []string{"skills.scan.download_exec SKILL.md:7"}},
		{Name: "gh", Version: "1.0.0", Signed: true, Trusted: true, Exceeds: []string{"bins gh: not in tools.exec.allowlist"}},
	}}, `{skills: {registry: {url: "https://hub.example"}}}`)
	want := map[string]string{"skills.modified": Critical, "skills.scan_critical": Critical, "skills.capability_excess": Warn,
		"skills.untrusted": Info, "skills.registry_no_key": Warn}
	for id, sev := range want {
		found := false
		for _, f := range fs {
			if f.CheckID == id && f.Severity == sev {
				found = true
			}
		}
		if !found {
			t.Errorf("no %s %s finding in %+v", sev, id, fs)
		}
	}
	var unsigned []string
	for _, f := range fs {
		if f.CheckID == "skills.unsigned" {
			unsigned = append(unsigned, f.Severity)
		}
	}
	if len(unsigned) != 2 || unsigned[0] == unsigned[1] {
		t.Errorf("unsigned findings: %v (want one info, one warn for the trusted one)", unsigned)
	}
	if fs := run(&SkillsAudit{LockError: "damaged"}, `{}`); !has(fs, "skills.lock_unreadable") {
		t.Error("a damaged lockfile is not reported")
	}
	if fs := run(&SkillsAudit{Skills: []SkillState{{Name: "ok", Version: "1", Signed: true, Trusted: true}}}, `{}`); has(fs, "skills.modified") || has(fs, "skills.unsigned") || has(fs, "skills.untrusted") {
		t.Error("a verified, signed, trusted skill was reported")
	}
}
