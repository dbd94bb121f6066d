package security

import (
	"bytes"
	"flag"
	"os"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/security-audit.md")

// TestAuditDocs keeps docs/security-audit.md equal to AuditMarkdown().
// Regenerate with go test ./internal/security -run TestAuditDocs -update
func TestAuditDocs(t *testing.T) {
	const path = "../../docs/security-audit.md"
	want := AuditMarkdown()
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (generate it with: go test ./internal/security -run TestAuditDocs -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date with the checks or the config's widens tags; regenerate it with: go test ./internal/security -run TestAuditDocs -update", path)
	}
	for _, c := range Checks() {
		if !bytes.Contains(want, []byte("`"+c.ID+"`")) {
			t.Errorf("docs lack %s", c.ID)
		}
	}
	for _, s := range []string{"`tools.exec.safeBins`", "`channels.<channel>.dmPolicy`", "`tools.web.search.apiKey`", "`gateway.auth.password`"} {
		if !bytes.Contains(want, []byte(s)) {
			t.Errorf("docs lack %s", s)
		}
	}
}
