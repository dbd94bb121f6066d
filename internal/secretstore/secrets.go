// Package secretstore keeps named secrets encrypted at rest.
//
// Invariant 10: secret values are stored only as AES-256-GCM ciphertext in
// $TALON_STATE_DIR/secrets.json (0600), under a key in secrets.key (0600,
// 32 random bytes, created on first use) or TALON_SECRETS_KEY (64 hex or
// base64 characters); config refers to them by name as ${secret:NAME}; and
// All hands every value to the process's one scrubber (redact.Scrubber,
// built by the cli), which removes them from text that goes to the model,
// the transcript, logs or an outbound message.
package secretstore

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"

	"github.com/talonclaw/talon/internal/config"
)

// NamePattern is what a secret name may be.
var NamePattern = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,63}$`)

// Store is the encrypted secrets file.
type Store struct {
	path string
	aead cipher.AEAD
}

// Open opens (or prepares) the secrets of a state directory. envKey is
// TALON_SECRETS_KEY ("" to use the key file).
func Open(stateDir, envKey string) (*Store, error) {
	key, err := loadKey(stateDir, envKey)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("secrets.Open: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("secrets.Open: %w", err)
	}
	return &Store{path: FilePath(stateDir), aead: aead}, nil
}

// FilePath is the secrets file of a state directory.
func FilePath(stateDir string) string { return filepath.Join(stateDir, "secrets.json") }

func loadKey(stateDir, envKey string) ([]byte, error) {
	if envKey != "" {
		if k, err := hex.DecodeString(envKey); err == nil && len(k) == 32 {
			return k, nil
		}
		if k, err := base64.StdEncoding.DecodeString(envKey); err == nil && len(k) == 32 {
			return k, nil
		}
		return nil, errors.New("TALON_SECRETS_KEY must be 32 bytes as 64 hex or 44 base64 characters")
	}
	p := filepath.Join(stateDir, "secrets.key")
	k, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		k = make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, err
		}
		if err := config.WriteFileAtomic(p, k, 0o600); err != nil {
			return nil, fmt.Errorf("secrets: writing key: %w", err)
		}
		return k, nil
	}
	if err != nil {
		return nil, fmt.Errorf("secrets: reading key: %w", err)
	}
	if len(k) != 32 {
		return nil, fmt.Errorf("secrets: %s is not a 32-byte key", p)
	}
	return k, nil
}

func (s *Store) load() (map[string]string, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	m := map[string]string{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("secrets: %s is damaged: %w", s.path, err)
	}
	return m, nil
}

func (s *Store) save(m map[string]string) error {
	b, _ := json.MarshalIndent(m, "", "  ")
	return config.WriteFileAtomic(s.path, b, 0o600)
}

// Set stores value under name.
func (s *Store) Set(name, value string) error {
	if !NamePattern.MatchString(name) {
		return fmt.Errorf("secret name %q: use A-Z, 0-9 and _ (e.g. GITHUB_TOKEN)", name)
	}
	if value == "" {
		return errors.New("secret value is empty")
	}
	m, err := s.load()
	if err != nil {
		return err
	}
	nonce := make([]byte, s.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	ct := s.aead.Seal(nonce, nonce, []byte(value), []byte(name))
	m[name] = base64.StdEncoding.EncodeToString(ct)
	return s.save(m)
}

// Get returns the value of name.
func (s *Store) Get(name string) (string, bool, error) {
	m, err := s.load()
	if err != nil {
		return "", false, err
	}
	enc, ok := m[name]
	if !ok {
		return "", false, nil
	}
	ct, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(ct) < s.aead.NonceSize() {
		return "", false, fmt.Errorf("secrets: %s is damaged", name)
	}
	pt, err := s.aead.Open(nil, ct[:s.aead.NonceSize()], ct[s.aead.NonceSize():], []byte(name))
	if err != nil {
		return "", false, fmt.Errorf("secrets: %s cannot be decrypted (wrong key?)", name)
	}
	return string(pt), true, nil
}

// List returns the names, sorted.
func (s *Store) List() ([]string, error) {
	m, err := s.load()
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Remove deletes name.
func (s *Store) Remove(name string) error {
	m, err := s.load()
	if err != nil {
		return err
	}
	if _, ok := m[name]; !ok {
		return fmt.Errorf("no secret %s", name)
	}
	delete(m, name)
	return s.save(m)
}

// All returns every name and value (for the scrubber and ${secret:} lookups).
func (s *Store) All() (map[string]string, error) {
	names, err := s.List()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		v, _, err := s.Get(n)
		if err != nil {
			return nil, err
		}
		out[n] = v
	}
	return out, nil
}
