package redact

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// benignCorpus returns the lines of this repository's own Go sources and
// docs/*.md, which hold no secrets: ordinary code and prose. Test files,
// testdata and test helpers (testutil) are left out, since they carry fake credentials on purpose, and
// so are the redactor's own sources (redact*.go), whose comments spell out
// the formats they recognise.
func benignCorpus(tb testing.TB) (lines []string, files, size int) {
	tb.Helper()
	root := filepath.Join("..", "..")
	add := func(path string) {
		b, err := os.ReadFile(path)
		if err != nil {
			tb.Fatal(err)
		}
		files++
		size += len(b)
		lines = append(lines, strings.Split(string(b), "\n")...)
	}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); path != root && (strings.HasPrefix(n, ".") || n == "testdata" || n == "testutil" || n == "vendor" || n == "node_modules") {
				return filepath.SkipDir
			}
			return nil
		}
		// The redactor's own sources describe credential formats.
		if strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") &&
			!strings.HasPrefix(filepath.Base(path), "redact") {
			add(path)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, p := range docs {
		add(p)
	}
	return lines, files, size
}

// TestRedactionFalsePositives runs Redact over ordinary code and prose, line
// by line, and counts the lines it changes. The figures are printed with -v.
func TestRedactionFalsePositives(t *testing.T) {
	lines, files, size := benignCorpus(t)
	if size < 100_000 {
		t.Fatalf("benign corpus is only %d bytes", size)
	}
	changed, byRule := 0, map[string]int{}
	for _, l := range lines {
		out := Redact(l)
		if out == l {
			continue
		}
		changed++
		// Which rules change the line on their own.
		var names []string
		for _, r := range rules {
			if r.apply(l) != l {
				byRule[r.name]++
				names = append(names, r.name)
			}
		}
		t.Logf("changed (%s): %q\n      -> %q", strings.Join(names, ","), l, out)
	}
	mb := float64(size) / (1 << 20)
	perMB := func(n int) float64 { return float64(n) / mb }
	t.Logf("false positives on %d files (%.2f MB of Go and Markdown, %d lines): %d lines changed, %.1f per MB",
		files, mb, len(lines), changed, perMB(changed))
	format := 0
	for _, r := range rules {
		if n := byRule[r.name]; n > 0 {
			t.Logf("  rule %-12s %4d lines, %5.1f per MB", r.name, n, perMB(n))
		}
		if r.name != "key-value" && r.name != "flag" {
			format += byRule[r.name]
		}
	}
	t.Logf("credential-format rules (all but key-value and flag): %d lines, %.1f per MB", format, perMB(format))

	// Ceilings with room for the corpus to grow. The format rules must
	// stay near zero on code and prose; the key/value rule redacts the
	// value after any sensitive key by design, which in source code is
	// often an expression ("Token: o.Token").
	if perMB(format) > 2 {
		t.Errorf("credential-format rules change %.1f lines per MB of ordinary code and prose, want ≤ 2", perMB(format))
	}
	if perMB(changed) > 100 {
		t.Errorf("Redact changes %.1f lines per MB of ordinary code and prose, want ≤ 100", perMB(changed))
	}
}
