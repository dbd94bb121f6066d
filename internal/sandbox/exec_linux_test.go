//go:build linux && (amd64 || arm64)

package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvariant5_OnlyPlanBinariesExecute: inside the sandbox only the
// program and the files in Spec.Exec (with their loaders) can be executed.
// A shell started by a hook, a system program nobody decided, and a binary
// written into the workspace all fail with EACCES, confined or not.
func TestInvariant5_OnlyPlanBinariesExecute(t *testing.T) {
	requireLayers(t, true, true)
	for _, unconfined := range []bool{false, true} {
		name := "confined"
		if unconfined {
			name = "unconfined"
		}
		t.Run(name, func(t *testing.T) {
			ws := t.TempDir()
			marker := filepath.Join(ws, "MARKER")
			// A copy of a real binary written into the workspace, as the
			// model could with the write tool or an allowlisted cp.
			tr, err := os.ReadFile("/usr/bin/touch")
			if err != nil {
				t.Skip("no /usr/bin/touch")
			}
			mine := filepath.Join(ws, "mytouch")
			if err := os.WriteFile(mine, tr, 0o755); err != nil {
				t.Fatal(err)
			}
			spec := Spec{Workspace: ws, Unconfined: unconfined}

			// The plan is "sh": builtins work, nothing else starts.
			r := run(t, spec, []string{"/bin/sh", "-c", "echo builtin-ok"}, nil)
			if r.code != 0 || !strings.Contains(r.out, "builtin-ok") {
				t.Fatalf("plan binary itself: %d %q", r.code, r.out)
			}
			for _, cmd := range []string{
				"/usr/bin/touch " + marker,          // a system program not in the plan
				mine + " " + marker,                 // a binary written into the workspace
				"/bin/sh -c 'touch " + marker + "'", // sh is the plan, but a second sh is not a loader of anything
			} {
				r := run(t, spec, []string{"/bin/sh", "-c", cmd}, nil)
				if _, err := os.Stat(marker); err == nil {
					t.Fatalf("%q ran: marker created (%q)", cmd, r.out)
				}
				if !strings.Contains(r.out, "ermission denied") && !strings.Contains(r.out, "not found") {
					t.Fatalf("%q: want a refusal, got %d %q", cmd, r.code, r.out)
				}
			}

			// Granted explicitly, the helper runs.
			spec.Exec = []string{"/usr/bin/touch"}
			r = run(t, spec, []string{"/bin/sh", "-c", "/usr/bin/touch " + marker}, nil)
			if _, err := os.Stat(marker); err != nil {
				t.Fatalf("granted helper did not run: %d %q", r.code, r.out)
			}
		})
	}
}

// TestInvariant5_ScriptLoaders: a script plan binary gets its #!
// interpreter (and env's target) as loaders, not more.
func TestInvariant5_ScriptLoaders(t *testing.T) {
	requireLayers(t, true, true)
	ws := t.TempDir()
	script := filepath.Join(ws, "s.sh")
	os.WriteFile(script, []byte("#!/usr/bin/env sh\necho script-ok\n/usr/bin/id -u >/dev/null && echo id-ran\n"), 0o755)
	r := run(t, Spec{Workspace: ws}, []string{script}, nil)
	if !strings.Contains(r.out, "script-ok") || strings.Contains(r.out, "id-ran") {
		t.Fatalf("script: %d %q", r.code, r.out)
	}
}

// TestUnconfinedLeavesFilesystem: sandbox.mode "off" restricts execution
// only; files outside the workspace stay writable, as documented.
func TestUnconfinedLeavesFilesystem(t *testing.T) {
	requireLayers(t, true, false)
	ws, outside := t.TempDir(), t.TempDir()
	r := run(t, Spec{Workspace: ws, Unconfined: true}, []string{"/bin/sh", "-c", "echo x > " + filepath.Join(outside, "f")}, nil)
	if _, err := os.Stat(filepath.Join(outside, "f")); err != nil {
		t.Fatalf("unconfined write outside the workspace failed: %d %q", r.code, r.out)
	}
}

func TestExecClosure(t *testing.T) {
	got := execClosure([]string{"/usr/bin/git"})
	if _, err := os.Stat("/usr/bin/git"); err != nil {
		t.Skip("no git")
	}
	hasInterp := false
	for _, p := range got {
		if strings.Contains(filepath.Base(p), "ld-linux") || strings.HasPrefix(filepath.Base(p), "ld-") {
			hasInterp = true
		}
	}
	if !hasInterp {
		t.Fatalf("closure of git lacks the ELF interpreter: %q", got)
	}
}
