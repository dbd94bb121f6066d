package skills

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// corpusResult scores the scanner on testdata/corpus: malicious/ holds
// samples written after the public write-ups of the 2026 ClawHub malware
// (defanged: .invalid domains, TEST-NET addresses), benign/ skills written
// after the Agent Skills examples and OpenClaw's bundled skills. A sample
// is flagged when it has a warn or critical finding.
type corpusResult struct {
	tp, fn, fp, tn   int
	missed, falsePos []string
}

func (r corpusResult) precision() float64 { return float64(r.tp) / float64(max(r.tp+r.fp, 1)) }
func (r corpusResult) recall() float64    { return float64(r.tp) / float64(max(r.tp+r.fn, 1)) }
func (r corpusResult) fpRate() float64    { return float64(r.fp) / float64(max(r.fp+r.tn, 1)) }

func scoreCorpus(t testing.TB) (corpusResult, map[string][]Finding) {
	var r corpusResult
	all := map[string][]Finding{}
	for _, label := range []string{"malicious", "benign"} {
		dirs, err := os.ReadDir(filepath.Join("testdata", "corpus", label))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dirs {
			files, _, err := ReadDir(filepath.Join("testdata", "corpus", label, d.Name()), DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			fs := Scan(files)
			all[label+"/"+d.Name()] = fs
			w := Worst(fs)
			flagged := w == SevWarn || w == SevCritical
			switch {
			case label == "malicious" && flagged:
				r.tp++
			case label == "malicious":
				r.fn++
				r.missed = append(r.missed, d.Name())
			case flagged:
				r.fp++
				r.falsePos = append(r.falsePos, d.Name())
			default:
				r.tn++
			}
		}
	}
	return r, all
}

func TestScannerCorpus(t *testing.T) {
	r, all := scoreCorpus(t)
	t.Logf("scanner corpus: %d malicious, %d benign; precision %.3f, recall %.3f, false positives on benign %.1f%%",
		r.tp+r.fn, r.fp+r.tn, r.precision(), r.recall(), 100*r.fpRate())
	if r.fpRate() > 0.05 {
		t.Errorf("false positives on the benign corpus %.1f%% > 5%%: %v", 100*r.fpRate(), r.falsePos)
	}
	if r.recall() < 0.95 {
		t.Errorf("recall %.3f < 0.95; missed %v", r.recall(), r.missed)
	}
	mustHave := map[string][2]string{
		"malicious/fake-prereq-curl":    {"skills.scan.download_exec", SevCritical},
		"malicious/fake-prereq-base64":  {"skills.scan.decode_exec", SevCritical},
		"malicious/download-chmod-run":  {"skills.scan.download_exec", SevCritical},
		"malicious/split-download-run":  {"skills.scan.download_exec", SevCritical},
		"malicious/powershell-iex":      {"skills.scan.download_exec", SevCritical},
		"malicious/ssh-key-theft":       {"skills.scan.credential_path", SevCritical},
		"malicious/env-exfil":           {"skills.scan.credential_path", SevCritical},
		"malicious/browser-stores":      {"skills.scan.credential_path", SevCritical},
		"malicious/agent-state-exfil":   {"skills.scan.exfil_endpoint", SevCritical},
		"malicious/revshell-devtcp":     {"skills.scan.reverse_shell", SevCritical},
		"malicious/revshell-python":     {"skills.scan.reverse_shell", SevCritical},
		"malicious/revshell-nc":         {"skills.scan.reverse_shell", SevCritical},
		"malicious/prompt-injection":    {"skills.scan.prompt_injection", SevWarn},
		"malicious/unicode-tags":        {"skills.scan.invisible_unicode", SevCritical},
		"malicious/homoglyph-invisible": {"skills.scan.homoglyph", SevWarn},
		"malicious/install-no-hash":     {"skills.scan.install_no_hash", SevWarn},
		"malicious/elf-binary":          {"skills.scan.binary", SevCritical},
		"malicious/password-zip":        {"skills.scan.protected_archive", SevCritical},
		"malicious/nested-archive":      {"skills.scan.archive", SevWarn},
		"malicious/js-eval-atob":        {"skills.scan.decode_exec", SevCritical},
		"malicious/env-harvest":         {"skills.scan.credential_path", SevCritical},
	}
	keys := make([]string, 0, len(mustHave))
	for k := range mustHave {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		want := mustHave[k]
		found := false
		for _, f := range all[k] {
			if f.CheckID == want[0] && f.Severity == want[1] {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s %s finding; got %+v", k, want[1], want[0], all[k])
		}
	}
	ids := map[string]bool{}
	for _, c := range ScanChecks() {
		ids[c.ID] = true
	}
	for k, fs := range all {
		for _, f := range fs {
			if !ids[f.CheckID] {
				t.Errorf("%s: check id %q is not in ScanChecks", k, f.CheckID)
			}
		}
	}
}

// BenchmarkScannerCorpus prints the scanner's precision and recall on the
// labelled corpus (and what scanning it costs).
func BenchmarkScannerCorpus(b *testing.B) {
	var r corpusResult
	for b.Loop() {
		r, _ = scoreCorpus(b)
	}
	b.ReportMetric(r.precision(), "precision")
	b.ReportMetric(r.recall(), "recall")
	b.ReportMetric(100*r.fpRate(), "benign-FP-%")
}

// docs/skills.md lists every scanner check.
func TestScanChecksDocumented(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "skills.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range ScanChecks() {
		if !strings.Contains(string(doc), "| `"+c.ID+"` | "+c.Severity+" | "+c.Meaning+" |") {
			t.Errorf("docs/skills.md does not list %s as in ScanChecks", c.ID)
		}
	}
}

// TestScannerOnOpenClawBundledSkills measures false positives on the real
// skills bundled with OpenClaw, when test/interop/openclaw.sh has cached
// its npm package (or TALON_OPENCLAW_SKILLS names a skills folder). The
// skills are read in place, never copied into this repository.
func TestScannerOnOpenClawBundledSkills(t *testing.T) {
	root := os.Getenv("TALON_OPENCLAW_SKILLS")
	if root == "" {
		home, _ := os.UserHomeDir()
		m, _ := filepath.Glob(filepath.Join(home, ".cache", "talon-interop", "openclaw-*", "node_modules", "openclaw", "skills"))
		if len(m) == 0 {
			t.Skip("OpenClaw's bundled skills are not cached (run test/interop/openclaw.sh, or set TALON_OPENCLAW_SKILLS)")
		}
		root = m[len(m)-1]
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n, flagged := 0, 0
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		files, _, err := ReadDir(filepath.Join(root, e.Name()), DefaultLimits)
		if err != nil {
			t.Errorf("%s: %v", e.Name(), err)
			continue
		}
		md, ok := files[SkillFile]
		if !ok {
			continue
		}
		n++
		if _, err := Parse(md); err != nil {
			t.Errorf("%s: SKILL.md does not parse: %v", e.Name(), err)
		}
		fs := Scan(files)
		if w := Worst(fs); w == SevWarn || w == SevCritical {
			flagged++
			for _, f := range fs {
				if f.Severity != SevInfo {
					t.Logf("%s: %s %s %s:%d %s", e.Name(), f.Severity, f.CheckID, f.File, f.Line, f.Detail)
				}
			}
			if w == SevCritical {
				t.Errorf("%s: a critical finding on a bundled OpenClaw skill", e.Name())
			}
		}
	}
	t.Logf("OpenClaw bundled skills: %d, flagged (warn or critical) %d (%.1f%%)", n, flagged, 100*float64(flagged)/float64(max(n, 1)))
	if n > 0 && float64(flagged)/float64(n) > 0.05 {
		t.Errorf("flagged %d of %d bundled OpenClaw skills (> 5%%)", flagged, n)
	}
}
