package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunRewritesOnlyBetweenTheMarkers(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	before := "# Talon\n\n## Performance\n\n" + startMarker + "\nstale table\n" + endMarker + "\n\nAgent runtime table.\n"
	if err := os.WriteFile(readme, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open("testdata/gateway.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := run(readme, in); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(got)
	for _, want := range []string{
		"# Talon\n\n## Performance\n\n" + startMarker + "\nMeasured with",
		"| resident memory, idle after 10 s (anonymous: heap and stacks) | 10.2 MB (5.9 MB) | < 20 MB | ~825 MB |",
		"| `health` calls per second, one connection | ~5,500 | | |",
		"| 300 idle keep-alive sockets: kept by the gateway / file descriptors / extra resident memory (anonymous) | 256 / +256 / -10.8 MB (+1.5 MB); all closed by the idle timeout | | |",
		"62.2 MB | | |\n" + endMarker + "\n\nAgent runtime table.\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("README lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "stale table") {
		t.Error("the old table is still there")
	}
	// Regenerating from the same figures changes nothing.
	in2, _ := os.Open("testdata/gateway.txt")
	defer in2.Close()
	if err := run(readme, in2); err != nil {
		t.Fatal(err)
	}
	again, _ := os.ReadFile(readme)
	if string(again) != s {
		t.Error("a second run with the same figures changed the README")
	}
}

func TestRunReportsEveryMissingFigureAndLeavesTheREADME(t *testing.T) {
	readme := filepath.Join(t.TempDir(), "README.md")
	before := startMarker + "\nold\n" + endMarker + "\n"
	if err := os.WriteFile(readme, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(readme, strings.NewReader("bench_date 2026-12-06\nstartup_to_listening_median_ms 5.0\n"))
	if err == nil {
		t.Fatal("no error for a partial bench output")
	}
	for _, key := range []string{"idle_rss_after_10s_mb", "binary_size_mb", "startup_to_listening_max_ms"} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error %q does not name %s", err, key)
		}
	}
	got, _ := os.ReadFile(readme)
	if string(got) != before {
		t.Errorf("README changed despite the error:\n%s", got)
	}
}

func TestTheRepositoryREADMEHasTheMarkers(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := splice(b, "x\n"); err != nil {
		t.Fatal(err)
	}
}
