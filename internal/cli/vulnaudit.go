package cli

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime/debug"

	"github.com/talonclaw/talon/internal/release"
	"github.com/talonclaw/talon/internal/security"
)

// vulnFindings reports the known vulnerabilities of this binary's modules
// (and Go standard library), from the offline database in
// <state>/vulndb (each release ships it as vulndb.tar.gz). Without a
// database it says so instead of pretending to have checked.
func (a *app) vulnFindings(p paths) []security.Finding {
	dir := filepath.Join(p.StateDir, "vulndb")
	fix := "unpack the release's vulndb.tar.gz into " + dir + " (or copy a database built by make vulndb there)"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return []security.Finding{{CheckID: "deep.vulndb_skipped", Severity: security.Info, Title: "known vulnerabilities not checked: this binary carries no build information"}}
	}
	meta, vulns, err := release.ScanBinary(dir, bi)
	switch {
	case errors.Is(err, release.ErrNoVulnDB):
		return []security.Finding{{CheckID: "deep.vulndb_missing", Severity: security.Info, Title: "known vulnerabilities not checked: no vulnerability database", Detail: "looked in " + dir, Fix: fix}}
	case err != nil:
		return []security.Finding{{CheckID: "deep.vulndb_unreadable", Severity: security.Warn, Title: "known vulnerabilities not checked: the vulnerability database is unreadable", Detail: err.Error(), Fix: fix}}
	}
	date := meta.Modified.Format("2006-01-02")
	out := []security.Finding{{CheckID: "deep.vulndb", Severity: security.Info,
		Title:  fmt.Sprintf("vulnerability database of %s: %d known vulnerabilit(ies) in this binary's modules", date, len(vulns)),
		Detail: fmt.Sprintf("%s, %d entries; matched by module version (govulncheck -mode binary narrows this to reachable symbols)", meta.Source, meta.Entries)}}
	for _, v := range vulns {
		fixed := "no fixed version yet"
		if v.Fixed != "" {
			fixed = "fixed in " + v.Fixed
		}
		out = append(out, security.Finding{CheckID: "deep.vuln." + v.ID, Severity: security.Warn,
			Title:  fmt.Sprintf("%s %s: %s %s", v.Module, v.Version, v.ID, v.Summary),
			Detail: fmt.Sprintf("%s (database of %s)", fixed, date),
			Fix:    "talon update (or rebuild with the fixed version)"})
	}
	return out
}
