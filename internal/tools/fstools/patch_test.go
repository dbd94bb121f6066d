package fstools

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyPatch(t *testing.T) {
	f := setup(t)
	f.tools["apply_patch"] = PatchTool(Options{Workspace: f.ws})
	os.WriteFile(filepath.Join(f.ws, "main.go"), []byte("package main\n\nfunc main() {\n\tprintln(\"hi\")\n}\n"), 0o644)
	patch := `*** Begin Patch
*** Update File: main.go
@@ func main() {
-	println("hi")
+	println("hello")
+	println("world")
 }
*** Add File: docs/README.md
+# Title
+text
*** Delete File: notes.txt
*** End Patch`
	res, err := f.call("apply_patch", map[string]any{"patch": patch})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(f.ws, "main.go"))
	if !strings.Contains(string(b), "println(\"hello\")\n\tprintln(\"world\")\n}") || strings.Contains(string(b), "\"hi\"") {
		t.Fatalf("main.go:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(f.ws, "docs/README.md")); string(b) != "# Title\ntext\n" {
		t.Fatalf("README: %q", b)
	}
	if _, err := os.Stat(filepath.Join(f.ws, "notes.txt")); err == nil {
		t.Fatal("notes.txt not deleted")
	}
	if !strings.Contains(res.Content, "main.go") {
		t.Fatalf("%q", res.Content)
	}
}

func TestApplyPatchAllOrNothing(t *testing.T) {
	f := setup(t)
	f.tools["apply_patch"] = PatchTool(Options{Workspace: f.ws})
	before, _ := os.ReadFile(filepath.Join(f.ws, "notes.txt"))
	for _, p := range []string{
		// second file's hunk does not match: the first change must not land
		"*** Begin Patch\n*** Update File: notes.txt\n-line1\n+LINE1\n*** Update File: notes.txt\n-nope\n+x\n*** End Patch",
		"*** Begin Patch\n*** Update File: notes.txt\n-line1\n+LINE1\n*** Add File: ../outside/evil.txt\n+x\n*** End Patch",
		"*** Begin Patch\n*** Update File: notes.txt\n-line1\n+LINE1\n*** Add File: dir-out/evil.txt\n+x\n*** End Patch",
		"*** Begin Patch\n*** Update File: link-out.txt\n-TOP-SECRET\n+x\n*** End Patch",
		"*** Begin Patch\n*** Delete File: /etc/hostname\n*** End Patch",
		"*** Begin Patch\n*** Update File: notes.txt\n*** Move to: ../outside/moved.txt\n-line1\n+x\n*** End Patch",
		"not a patch",
		"*** Begin Patch\n*** Add File: notes.txt\n+x\n*** End Patch",
	} {
		if _, err := f.call("apply_patch", map[string]any{"patch": p}); err == nil {
			t.Errorf("applied: %q", p)
		}
		if now, _ := os.ReadFile(filepath.Join(f.ws, "notes.txt")); string(now) != string(before) {
			t.Fatalf("partial application of %q", p)
		}
	}
	entries, _ := os.ReadDir(f.outside)
	if len(entries) != 1 {
		t.Fatalf("patch wrote outside the workspace: %v", entries)
	}
	if b, _ := os.ReadFile(filepath.Join(f.outside, "secret.txt")); string(b) != "TOP-SECRET" {
		t.Fatal("patched through a symlink")
	}
}
