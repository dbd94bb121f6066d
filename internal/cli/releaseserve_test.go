package cli

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReleaseServeServesOnlyPlainFiles: talon release serve answers the
// files beside manifest.json and nothing else (no listing, no dotfiles, no
// subdirectories), and stops when its context ends.
func TestReleaseServeServesOnlyPlainFiles(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"manifest.json": "{}", "talon_linux_amd64": "bin", ".secret": "key", "sub/x": "x"} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Execute(ctx, Env{Stdout: pw, Stderr: io.Discard}, []string{"release", "serve", "--dir", dir, "--listen", "127.0.0.1:0"})
		pw.Close()
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	base, ok := strings.CutPrefix(strings.TrimSpace(line), "release server listening on ")
	if !ok {
		t.Fatalf("first line %q", line)
	}
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/talon_linux_amd64"); code != 200 || body != "bin" {
		t.Errorf("artifact: %d %q", code, body)
	}
	for _, p := range []string{"/", "/.secret", "/sub/x", "/sub/", "/../manifest.json"} {
		if code, body := get(p); code != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", p, code, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}
