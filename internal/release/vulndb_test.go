package release

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

// WriteTestOSV writes OSV entries affecting module between introduced and
// fixed into dir, for tests.
func writeOSV(t *testing.T, dir, id, module, introduced, fixed string) {
	t.Helper()
	events := []map[string]string{{"introduced": introduced}}
	if fixed != "" {
		events = append(events, map[string]string{"fixed": fixed})
	}
	e := map[string]any{
		"schema_version": "1.3.1", "id": id, "modified": "0001-01-01T00:00:00Z", "summary": "test vulnerability in " + module,
		"affected": []any{map[string]any{"package": map[string]string{"name": module, "ecosystem": "Go"},
			"ranges": []any{map[string]any{"type": "SEMVER", "events": events}}}},
	}
	b, _ := json.Marshal(e)
	if err := os.WriteFile(filepath.Join(dir, id+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVulnDBBuildAndScan(t *testing.T) {
	osv := t.TempDir()
	writeOSV(t, osv, "GO-2026-0001", "golang.org/x/net", "0", "0.62.0")      // affects v0.61.0
	writeOSV(t, osv, "GO-2026-0002", "golang.org/x/net", "0", "0.50.0")      // fixed before v0.61.0
	writeOSV(t, osv, "GO-2026-0003", "example.com/unused", "0", "")          // module not linked
	writeOSV(t, osv, "GO-2026-0004", "stdlib", "1.26.0-0", "1.26.9")         // affects go1.26.8
	writeOSV(t, osv, "GO-2026-0005", "example.com/new", "1.0.1", "")         // the replacement, unfixed
	writeOSV(t, osv, "GO-2026-0006", "golang.org/x/net", "0.70.0", "0.71.0") // introduced later
	out := filepath.Join(t.TempDir(), "db")
	meta, err := BuildVulnDB(osv, out, "golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018")
	if err != nil {
		t.Fatal(err)
	}
	if meta.Entries != 6 || !meta.Modified.Equal(time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)) {
		t.Fatalf("meta %+v", meta)
	}
	for _, f := range []string{"index/db.json", "index/modules.json", "index/vulns.json", "ID/GO-2026-0001.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("%s missing: %v", f, err)
		}
	}
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Deps: []*debug.Module{
		{Path: "golang.org/x/net", Version: "v0.61.0"},
		{Path: "example.com/old", Version: "v1.0.0", Replace: &debug.Module{Path: "example.com/new", Version: "v1.0.1"}},
	}}
	_, vulns, err := ScanBinary(out, bi)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vulns {
		got = append(got, v.ID+"@"+v.Fixed)
	}
	if strings.Join(got, " ") != "GO-2026-0001@0.62.0 GO-2026-0004@1.26.9 GO-2026-0005@" {
		t.Errorf("ScanBinary found %v", got)
	}
	if _, _, err := ScanBinary(filepath.Join(t.TempDir(), "none"), bi); err == nil || !strings.Contains(err.Error(), "no vulnerability database") {
		t.Errorf("missing database: %v", err)
	}
}

func TestVulnGate(t *testing.T) {
	// govulncheck -format json: a reachable finding (function in the
	// trace), an imported-only one (package, no function), a module-only one.
	stream := `{"config":{"protocol_version":"v1.0.0"}}
{"finding":{"osv":"GO-2026-0001","fixed_version":"v0.62.0","trace":[{"module":"golang.org/x/net","package":"golang.org/x/net/http2","function":"Read"},{"module":"github.com/talonclaw/talon","package":"github.com/talonclaw/talon/internal/netguard","function":"RoundTrip","receiver":"*Transport"}]}}
{"finding":{"osv":"GO-2026-0002","trace":[{"module":"golang.org/x/net","package":"golang.org/x/net/html"}]}}
{"finding":{"osv":"GO-2026-0003","trace":[{"module":"golang.org/x/net"}]}}
{"finding":{"osv":"GO-2026-0004","fixed_version":"v1.26.9","trace":[{"module":"stdlib","package":"net/http","function":"Serve"}]}}
`
	found, err := ReachableVulns(strings.NewReader(stream))
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 2 || found[0].ID != "GO-2026-0001" || found[0].Where != "github.com/talonclaw/talon/internal/netguard.Transport.RoundTrip" || found[1].ID != "GO-2026-0004" {
		t.Fatalf("reachable: %+v", found)
	}
	acc, err := ParseAcceptances(strings.NewReader("# comment\n\nGO-2026-0004 2027-01-15 stdlib, needs go1.26.9\n"))
	if err != nil {
		t.Fatal(err)
	}
	ok, failing := Gate(found, acc, time.Date(2027, 1, 15, 12, 0, 0, 0, time.UTC))
	if len(ok) != 1 || len(failing) != 1 || failing[0].ID != "GO-2026-0001" {
		t.Errorf("gate before the date: ok %v failing %v", ok, failing)
	}
	ok, failing = Gate(found, acc, time.Date(2027, 1, 16, 0, 0, 1, 0, time.UTC))
	if len(ok) != 0 || len(failing) != 2 {
		t.Errorf("an acceptance past its date still accepted: ok %v failing %v", ok, failing)
	}
	for _, bad := range []string{"GO-2026-1 tomorrow because", "GO-2026-1 2027-01-01", "CVE-1 2027-01-01 x"} {
		if _, err := ParseAcceptances(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted line %q", bad)
		}
	}
}
