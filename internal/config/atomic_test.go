//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// tempFiles lists leftover temporary files in dir.
func tempFiles(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestWriteFileAtomic(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)

	dir := t.TempDir()
	path := filepath.Join(dir, "talon.json")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{
		{"{a: 1}", 0o600}, // new file
		{"{a: 2}", 0o600}, // replace
		{"{a: 3}", 0o640}, // umask would clear nothing here, but the mode must be exact
		{"{a: 4}", 0o666}, // wider than the umask allows: still exact
		{"{}", 0o600},     // and back
	} {
		if err := WriteFileAtomic(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.perm {
			t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tc.perm)
		}
		if got := string(mustRead(t, path)); got != tc.data {
			t.Errorf("content = %q, want %q", got, tc.data)
		}
	}
	if left := tempFiles(t, dir); left != nil {
		t.Errorf("temporary files left: %q", left)
	}

	// Not a regular file: refused, nothing replaced.
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(sub, []byte("x"), 0o600); err == nil {
		t.Error("replaced a directory")
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFileAtomic(link, []byte("x"), 0o600); err == nil {
		t.Error("replaced a symlink")
	}
	// Missing directory.
	if err := WriteFileAtomic(filepath.Join(dir, "nope", "f"), []byte("x"), 0o600); err == nil ||
		!strings.HasPrefix(err.Error(), "config.WriteFileAtomic: ") {
		t.Errorf("err = %v", err)
	}
	if got := string(mustRead(t, path)); got != "{}" {
		t.Errorf("content = %q after failures", got)
	}
}

func TestWriteFileAtomicUnwritableDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root ignores directory permissions; see TestWriteFileAtomicWriteFails")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "talon.json")
	if err := WriteFileAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(dir, 0o700)
	if err := WriteFileAtomic(path, []byte("new"), 0o600); err == nil {
		t.Fatal("write into a read-only directory succeeded")
	}
	if got := string(mustRead(t, path)); got != "old" {
		t.Errorf("content = %q, want old", got)
	}
	if left := tempFiles(t, dir); left != nil {
		t.Errorf("temporary files left: %q", left)
	}
}
