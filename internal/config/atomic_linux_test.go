package config

import (
	"bytes"
	"path/filepath"
	"syscall"
	"testing"
)

// TestWriteFileAtomicWriteFails makes the write itself fail, after the
// temporary file exists, by lowering the file size limit (works as root
// too): the old file must be intact and the temporary file gone.
func TestWriteFileAtomicWriteFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "talon.json")
	if err := WriteFileAtomic(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Skip(err)
	}
	small := lim
	small.Cur = 1024
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &small); err != nil {
		t.Skip(err)
	}
	err := WriteFileAtomic(path, bytes.Repeat([]byte("x"), 4096), 0o600)
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	if err == nil {
		t.Fatal("write beyond the file size limit succeeded")
	}
	if got := string(mustRead(t, path)); got != "old" {
		t.Errorf("content = %q, want old", got)
	}
	if left := tempFiles(t, dir); left != nil {
		t.Errorf("temporary files left: %q", left)
	}
}
