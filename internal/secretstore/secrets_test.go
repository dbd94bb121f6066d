package secretstore

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStore(t *testing.T) {
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
}
