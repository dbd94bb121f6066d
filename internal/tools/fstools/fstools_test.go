package fstools

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/core"
)

type fixture struct {
	ws, outside string
	tools       map[string]core.Tool
}

func setup(t *testing.T) *fixture {
	t.Helper()
	base := t.TempDir()
	ws := filepath.Join(base, "workspace")
	outside := filepath.Join(base, "outside")
	os.MkdirAll(filepath.Join(ws, "sub"), 0o700)
	os.MkdirAll(outside, 0o700)
	os.WriteFile(filepath.Join(outside, "secret.txt"), []byte("TOP-SECRET"), 0o600)
	os.WriteFile(filepath.Join(ws, "notes.txt"), []byte("line1\nline2\nline3\n"), 0o644)
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(ws, "link-out.txt"))
	os.Symlink(outside, filepath.Join(ws, "dir-out"))
	os.Symlink("notes.txt", filepath.Join(ws, "link-in.txt"))
	os.Symlink("../../outside/secret.txt", filepath.Join(ws, "sub", "rel-out.txt"))
	f := &fixture{ws: ws, outside: outside, tools: map[string]core.Tool{}}
	for _, tl := range Tools(Options{Workspace: ws}) {
		f.tools[tl.Spec().Name] = tl
	}
	return f
}

func (f *fixture) call(name string, args any) (core.Result, error) {
	b, _ := json.Marshal(args)
	return planAndRun(f.tools[name], core.Call{Args: b, Workspace: f.ws})
}

// traversal is a corpus of paths a hijacked model tries to leave the
// workspace with.
var traversal = []string{
	"../outside/secret.txt", "../../etc/passwd", "sub/../../outside/secret.txt", "./../outside/secret.txt",
	"sub/../../../../../../etc/passwd", "/etc/passwd", "/etc/shadow", "/proc/self/environ", "/root/.ssh/id_rsa",
	"link-out.txt", "dir-out/secret.txt", "sub/rel-out.txt", "dir-out/../outside/secret.txt", "sub/../dir-out/secret.txt",
	"..", "../", "/", "notes.txt\x00.png", "....//....//etc/passwd",
}

func TestInvariant6_ReadCannotLeaveWorkspace(t *testing.T) {
	f := setup(t)
	for _, p := range traversal {
		res, err := f.call("read", map[string]any{"path": p})
		if err == nil {
			t.Errorf("read %q succeeded: %q", p, res.Content)
			continue
		}
		if strings.Contains(err.Error(), "TOP-SECRET") || strings.Contains(res.Content, "TOP-SECRET") {
			t.Errorf("read %q leaked", p)
		}
	}
	// An absolute path inside the workspace and a symlink inside it work.
	for _, p := range []string{filepath.Join(f.ws, "notes.txt"), "link-in.txt", "sub/../notes.txt"} {
		if res, err := f.call("read", map[string]any{"path": p}); err != nil || !strings.Contains(res.Content, "line2") {
			t.Errorf("read %q: %v %q", p, err, res.Content)
		}
	}
}

func TestInvariant6_WriteAndEditCannotLeaveWorkspace(t *testing.T) {
	f := setup(t)
	for _, p := range append(traversal, "dir-out/new.txt", "../outside/new.txt", "/tmp/talon-escape-test.txt") {
		if _, err := f.call("write", map[string]any{"path": p, "content": "pwned"}); err == nil {
			// Only a path that is really inside may be written ("....//x"
			// names a directory called "....").
			if b, rerr := os.ReadFile(filepath.Join(f.ws, p)); rerr != nil || string(b) != "pwned" || filepath.Clean(p) == ".." || strings.HasPrefix(filepath.Clean(p), "../") {
				t.Errorf("write %q succeeded outside the workspace", p)
			}
		}
		if _, err := f.call("edit", map[string]any{"path": p, "oldText": "TOP", "newText": "pwned"}); err == nil {
			t.Errorf("edit %q succeeded", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(f.outside, "secret.txt")); string(b) != "TOP-SECRET" {
		t.Fatal("a file outside the workspace changed")
	}
	entries, _ := os.ReadDir(f.outside)
	if len(entries) != 1 {
		t.Fatalf("files created outside the workspace: %v", entries)
	}
	if _, err := os.Stat("/tmp/talon-escape-test.txt"); err == nil {
		t.Fatal("wrote /tmp/talon-escape-test.txt")
	}
}

func TestInvariant6_SymlinkSwappedInIsNotFollowed(t *testing.T) {
	// The model makes a directory, then something swaps it for a symlink to
	// the outside: later writes through it must fail, not land outside.
	f := setup(t)
	if _, err := f.call("write", map[string]any{"path": "d/a.txt", "content": "x"}); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(f.ws, "d"))
	os.Symlink(f.outside, filepath.Join(f.ws, "d"))
	if _, err := f.call("write", map[string]any{"path": "d/b.txt", "content": "x"}); err == nil || !errors.Is(err, ErrOutside) && !strings.Contains(err.Error(), "outside") {
		t.Fatalf("write through swapped symlink: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.outside, "b.txt")); err == nil {
		t.Fatal("file created outside through a swapped symlink")
	}
}

func TestReadRanges(t *testing.T) {
	f := setup(t)
	res, err := f.call("read", map[string]any{"path": "notes.txt", "offset": 2, "limit": 1})
	if err != nil || !strings.HasPrefix(res.Content, "line2\n") || !strings.Contains(res.Content, "offset 3") {
		t.Fatalf("%v %q", err, res.Content)
	}
	if _, err := f.call("read", map[string]any{"path": "notes.txt", "offset": 99}); err == nil {
		t.Fatal("offset past end accepted")
	}
	os.WriteFile(filepath.Join(f.ws, "bin.dat"), []byte{0x7f, 'E', 'L', 'F', 0, 1, 2}, 0o644)
	if _, err := f.call("read", map[string]any{"path": "bin.dat"}); err == nil || !strings.Contains(err.Error(), "binary") {
		t.Fatalf("binary: %v", err)
	}
	big := Tools(Options{Workspace: f.ws, MaxReadBytes: 10})[0]
	b, _ := json.Marshal(map[string]any{"path": "notes.txt"})
	if _, err := planAndRun(big, core.Call{Args: b}); err == nil || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("size cap: %v", err)
	}
	for _, bad := range []any{map[string]any{}, map[string]any{"path": 5}, map[string]any{"path": "x", "extra": 1}, map[string]any{"path": "notes.txt", "offset": -1}} {
		if _, err := f.call("read", bad); err == nil {
			t.Errorf("bad args %v accepted", bad)
		}
	}
}

func TestWriteAtomicAndModes(t *testing.T) {
	f := setup(t)
	if _, err := f.call("write", map[string]any{"path": "new/dir/file.go", "content": "package x\n"}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(f.ws, "new/dir/file.go"))
	if string(b) != "package x\n" {
		t.Fatalf("%q", b)
	}
	os.Chmod(filepath.Join(f.ws, "notes.txt"), 0o600)
	if _, err := f.call("write", map[string]any{"path": "notes.txt", "content": ""}); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(filepath.Join(f.ws, "notes.txt"))
	if fi.Mode().Perm() != 0o600 || fi.Size() != 0 {
		t.Fatalf("mode %v size %d", fi.Mode(), fi.Size())
	}
	// No temporary files are left behind.
	filepath.Walk(f.ws, func(p string, _ os.FileInfo, _ error) error {
		if strings.Contains(p, "talon-tmp") {
			t.Errorf("leftover %s", p)
		}
		return nil
	})
	// Symlinks are not replaced (not even ones pointing inside).
	if _, err := f.call("write", map[string]any{"path": "link-in.txt", "content": "x"}); err == nil {
		t.Fatal("replaced a symlink")
	}
	small := Tools(Options{Workspace: f.ws, MaxWriteBytes: 4})[1]
	b2, _ := json.Marshal(map[string]any{"path": "a", "content": "12345"})
	if _, err := planAndRun(small, core.Call{Args: b2}); err == nil {
		t.Fatal("write size cap not applied")
	}
	if _, err := f.call("write", map[string]any{"path": "x"}); err == nil {
		t.Fatal("write without content accepted")
	}
}

func TestEdit(t *testing.T) {
	f := setup(t)
	os.WriteFile(filepath.Join(f.ws, "e.txt"), []byte("alpha beta alpha gamma"), 0o644)
	if _, err := f.call("edit", map[string]any{"path": "e.txt", "oldText": "alpha", "newText": "A"}); err == nil || !strings.Contains(err.Error(), "2 times") {
		t.Fatalf("ambiguous: %v", err)
	}
	if _, err := f.call("edit", map[string]any{"path": "e.txt", "oldText": "delta", "newText": "D"}); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("missing: %v", err)
	}
	if _, err := f.call("edit", map[string]any{"path": "e.txt", "oldText": "beta", "newText": "B"}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(f.ws, "e.txt")); string(b) != "alpha B alpha gamma" {
		t.Fatalf("%q", b)
	}
	if _, err := f.call("edit", map[string]any{"path": "e.txt", "oldText": "", "newText": "x"}); err == nil {
		t.Fatal("empty oldText accepted")
	}
}

func TestWorkspaceOnlyOff(t *testing.T) {
	f := setup(t)
	off := Tools(Options{Workspace: f.ws, WorkspaceOnly: func() bool { return false }})[0]
	b, _ := json.Marshal(map[string]any{"path": filepath.Join(f.outside, "secret.txt")})
	res, err := planAndRun(off, core.Call{Args: b})
	if err != nil || res.Content != "TOP-SECRET" {
		t.Fatalf("workspaceOnly off should read anywhere: %v %q", err, res.Content)
	}
}

func FuzzReadPath(f *testing.F) {
	for _, p := range traversal {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		fx := setup(t)
		res, err := fx.call("read", map[string]any{"path": p})
		if err == nil && strings.Contains(res.Content, "TOP-SECRET") {
			t.Fatalf("read %q escaped the workspace", p)
		}
		if _, err := fx.call("write", map[string]any{"path": p, "content": "pwned"}); err == nil {
			if b, _ := os.ReadFile(filepath.Join(fx.outside, "secret.txt")); string(b) != "TOP-SECRET" {
				t.Fatalf("write %q escaped the workspace", p)
			}
		}
		entries, _ := os.ReadDir(fx.outside)
		if len(entries) != 1 {
			t.Fatalf("%q created files outside the workspace", p)
		}
	})
}

// planAndRun plans the call and runs the plan, as the agent does once the
// policy allowed it; a planning error is returned as is.
func planAndRun(t core.Tool, c core.Call) (core.Result, error) {
	p, err := t.Plan(context.Background(), c)
	if err != nil {
		return core.Result{}, err
	}
	return t.Run(context.Background(), c, p)
}
