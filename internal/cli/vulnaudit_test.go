package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/release"
)

// TestSecurityAuditDeepReportsKnownVulnerabilities: with the offline
// database in the state directory, `security audit --deep` names each known
// vulnerability of this binary's modules and the database's date; without
// one it says it did not check.
func TestSecurityAuditDeepReportsKnownVulnerabilities(t *testing.T) {
	state := t.TempDir()
	audit := func() map[string]string {
		t.Helper()
		var out, errb strings.Builder
		env := Env{Lookup: func(k string) (string, bool) {
			if k == "TALON_STATE_DIR" {
				return state, true
			}
			return "", false
		}, Home: state, Stdout: &out, Stderr: &errb}
		if err := Execute(context.Background(), env, []string{"security", "audit", "--deep", "--json"}); err != nil {
			t.Fatalf("security audit --deep: %v %s", err, errb.String())
		}
		var res struct {
			Findings []struct{ CheckID, Severity, Title, Detail string }
		}
		if err := json.Unmarshal([]byte(out.String()), &res); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		got := map[string]string{}
		for _, f := range res.Findings {
			got[f.CheckID] = f.Severity + " " + f.Title + " " + f.Detail
		}
		return got
	}
	if f := audit(); !strings.HasPrefix(f["deep.vulndb_missing"], "info") {
		t.Fatalf("without a database: %v", f)
	}

	osv := t.TempDir()
	// Every Go standard library before 99.0.0 (so this binary's), and a
	// module this binary does not link.
	for id, mod := range map[string]string{"GO-2099-0001": "stdlib", "GO-2099-0002": "example.com/not-linked"} {
		e := `{"id":"` + id + `","modified":"0001-01-01T00:00:00Z","summary":"test hole in ` + mod + `","affected":[{"package":{"name":"` + mod + `","ecosystem":"Go"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"99.0.0"}]}]}]}`
		if err := os.WriteFile(filepath.Join(osv, id+".json"), []byte(e), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := release.BuildVulnDB(osv, filepath.Join(state, "vulndb"), "golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018"); err != nil {
		t.Fatal(err)
	}
	f := audit()
	if v := f["deep.vuln.GO-2099-0001"]; !strings.HasPrefix(v, "warn stdlib") || !strings.Contains(v, "fixed in 99.0.0") || !strings.Contains(v, "2026-11-05") {
		t.Errorf("stdlib vulnerability not reported: %q (all: %v)", v, f)
	}
	if _, ok := f["deep.vuln.GO-2099-0002"]; ok {
		t.Error("a vulnerability of a module the binary does not link was reported")
	}
	if !strings.Contains(f["deep.vulndb"], "2026-11-05") {
		t.Errorf("the database date is not reported: %q", f["deep.vulndb"])
	}
}
