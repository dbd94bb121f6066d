package security

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

// corpusCase is one config of testdata/audit with what it must report.
type corpusCase struct {
	name string
	tree map[string]any
	want map[string]string // check id -> severity
	not  []string
}

func loadCorpus(t *testing.T, dir string) []corpusCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "audit", dir, "*.json5"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus in %s: %v", dir, err)
	}
	var out []corpusCase
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		c := corpusCase{name: filepath.Base(f), tree: parseTree(t, string(raw)), want: map[string]string{}}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if w, ok := strings.CutPrefix(line, "// want: "); ok {
				id, sev, _ := strings.Cut(w, " ")
				c.want[id] = sev
			}
			if n, ok := strings.CutPrefix(line, "// not: "); ok {
				c.not = append(c.not, n)
			}
		}
		if dir == "insecure" && len(c.want) == 0 {
			t.Fatalf("%s: no \"// want: ID SEVERITY\" line", f)
		}
		out = append(out, c)
	}
	return out
}

func bySeverity(fs []Finding) map[string]string {
	out := map[string]string{}
	rank := map[string]int{"": 3, Info: 2, Warn: 1, Critical: 0}
	for _, f := range fs {
		if rank[f.Severity] < rank[out[f.CheckID]] {
			out[f.CheckID] = f.Severity
		}
	}
	return out
}

// TestAuditInsecureCorpus: each insecure setup an owner could write is
// reported with its check id at its severity, with a fix, and the checks it
// must not be confused with are absent (a short token is not "missing").
func TestAuditInsecureCorpus(t *testing.T) {
	e := newAuditEnv(t)
	for _, c := range loadCorpus(t, "insecure") {
		fs := e.auditTree(t, c.tree)
		got := bySeverity(fs)
		for id, sev := range c.want {
			if got[id] != sev {
				t.Errorf("%s: %s is %q, want %q", c.name, id, got[id], sev)
			}
		}
		for _, id := range c.not {
			if got[id] != "" {
				t.Errorf("%s: reports %s", c.name, id)
			}
		}
		for _, f := range fs {
			if f.Severity != Info && f.Fix == "" {
				t.Errorf("%s: %s (%s) has no fix", c.name, f.CheckID, f.Severity)
			}
		}
	}
}

// TestAuditSecureBaselines: the default setup as first run writes it and
// typical secure setups (loopback with a token, Telegram with an allowlist,
// pairing with budgets, the sandbox on, a LAN bind with a long token)
// report nothing at warn or critical: no false positives.
func TestAuditSecureBaselines(t *testing.T) {
	e := newAuditEnv(t)
	cases := loadCorpus(t, "secure")
	cases = append(cases, corpusCase{name: "first-run default file", tree: parseTree(t, string(config.DefaultFile(e.env["TALON_GATEWAY_TOKEN"])))})
	for _, c := range cases {
		for _, f := range e.auditTree(t, c.tree) {
			if f.Severity != Info {
				t.Errorf("%s: %s %s: %s (%s)", c.name, f.Severity, f.CheckID, f.Title, f.Detail)
			}
		}
	}
}

// fakeSecrets is a secrets store in memory.
type fakeSecrets map[string]string

func (s fakeSecrets) deps() FixDeps {
	return FixDeps{
		NewToken: func() (string, error) { return "fixed-token-0123456789abcdefghijklmnopqrstuvw", nil },
		StoreSecret: func(name, value string) (string, error) {
			s[name] = value
			return name, nil
		},
	}
}

// TestAuditFixRemovesFindingsAndNeverWidens: --fix's config changes make
// each fixable finding of the insecure corpus disappear on the next audit,
// add no warn or critical finding that was not there, move literal secrets
// into the store (the file keeps none of them), and leave every secure
// baseline byte for byte unchanged.
func TestAuditFixRemovesFindingsAndNeverWidens(t *testing.T) {
	e := newAuditEnv(t)
	store := fakeSecrets{}
	fixedAny := 0
	for _, c := range loadCorpus(t, "insecure") {
		before := e.auditTree(t, c.tree)
		done, err := FixConfig(c.tree, before, store.deps())
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for k, v := range store {
			e.env["secret:"+k] = v
		}
		after := bySeverity(e.auditTree(t, c.tree))
		for _, f := range before {
			if f.Fixable && !strings.HasSuffix(f.CheckID, ".perms") {
				fixedAny++
				if after[f.CheckID] == f.Severity {
					t.Errorf("%s: %s still %s after fix (%v)", c.name, f.CheckID, f.Severity, done)
				}
			}
		}
		b := bySeverity(before)
		for id, sev := range after {
			if sev != Info && b[id] == "" {
				t.Errorf("%s: the fix added %s (%s)", c.name, id, sev)
			}
		}
		for _, s := range literalSecrets(c.tree) {
			if s.key != "gateway.auth.token" {
				t.Errorf("%s: %s still literal after fix", c.name, s.key)
			}
		}
	}
	if fixedAny < 8 {
		t.Errorf("only %d fixable findings in the corpus", fixedAny)
	}
	if store["TOOLS_WEB_SEARCH_API_KEY"] != "BSAk3yL1t3ralValue0123" {
		t.Errorf("search key not moved to the store: %v", store)
	}
	for _, c := range loadCorpus(t, "secure") {
		orig := config.MergePatch(c.tree, map[string]any{})
		done, err := FixConfig(c.tree, e.auditTree(t, c.tree), store.deps())
		if err != nil || len(done) > 0 || !reflect.DeepEqual(orig, c.tree) {
			t.Errorf("%s: fix changed a secure config: %v %v", c.name, done, err)
		}
	}
}
