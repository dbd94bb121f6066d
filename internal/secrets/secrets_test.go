package secrets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreAndScrub(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Set("API_KEY", "sk-live-0123456789"); err != nil {
		t.Fatal(err)
	}
	if err := s.Set("bad name", "x"); err == nil {
		t.Fatal("bad name accepted")
	}
	if v, ok, err := s.Get("API_KEY"); err != nil || !ok || v != "sk-live-0123456789" {
		t.Fatalf("%q %v %v", v, ok, err)
	}
	for _, f := range []string{"secrets.json", "secrets.key"} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "secrets.json")); strings.Contains(string(b), "sk-live") {
		t.Fatal("stored in clear")
	}
	// Another key cannot decrypt.
	other, _ := Open(dir, hex.EncodeToString(make([]byte, 32)))
	if _, _, err := other.Get("API_KEY"); err == nil {
		t.Fatal("decrypted with the wrong key")
	}
	// Swapping ciphertexts between names fails (the name is authenticated).
	s.Set("OTHER", "another-secret-value")
	b, _ := os.ReadFile(filepath.Join(dir, "secrets.json"))
	swapped := strings.Replace(strings.Replace(string(b), `"API_KEY"`, `"TMP"`, 1), `"OTHER"`, `"API_KEY"`, 1)
	os.WriteFile(filepath.Join(dir, "secrets.json"), []byte(swapped), 0o600)
	if _, _, err := s.Get("API_KEY"); err == nil {
		t.Fatal("a ciphertext moved to another name decrypted")
	}
	sc := NewScrubber(map[string]string{"A": "sk-live-0123456789", "B": "short", "C": "sk-live-0123456789-extended"})
	got := sc.Scrub("x sk-live-0123456789-extended y sk-live-0123456789 z short")
	if got != "x [REDACTED:C] y [REDACTED:A] z short" {
		t.Fatalf("%q", got)
	}
}

// BenchmarkScrub measures Scrubber throughput (MB/s) with 50 known secrets
// on 64 KB of text that holds a few of them.
func BenchmarkScrub(b *testing.B) {
	values := map[string]string{}
	for i := range 50 {
		values[fmt.Sprintf("SECRET_%02d", i)] = fmt.Sprintf("s3cr3t-%02d-%x", i, sha256.Sum256([]byte{byte(i)}))[:40]
	}
	sc := NewScrubber(values)
	line := "time=2026-06-01T10:30:00Z level=INFO msg=\"calling provider\" url=https://api.example.com/v1 model=qwen3 status=200\n"
	var sb strings.Builder
	for i := 0; sb.Len() < 64<<10; i++ {
		if i%50 == 49 {
			sb.WriteString("leaked " + values[fmt.Sprintf("SECRET_%02d", i%50)] + "\n")
		}
		sb.WriteString(line)
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		sc.Scrub(text)
	}
}
