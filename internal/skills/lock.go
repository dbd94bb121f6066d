package skills

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/talonclaw/talon/internal/config"
)

// LockName is the lockfile's name in the state directory.
const LockName = "skills.lock"

// Lockfile records every installed skill: what was verified at install,
// so every later load can check the files against it.
type Lockfile struct {
	Version int                   `json:"version"`
	Skills  map[string]*LockEntry `json:"skills"`
	// Registries are the publication logs seen, by registry public key:
	// a registry that later shows a log that does not extend this one
	// (a rewritten history) is caught.
	Registries map[string]*RegistryState `json:"registries,omitempty"`
}

// LockEntry is one installed skill.
type LockEntry struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Fingerprint string `json:"fingerprint"`
	Manifest    string `json:"manifestDigest"`
	// Source is "registry", "bundle" or "directory".
	Source       string `json:"source"`
	Signed       bool   `json:"signed"`
	PublisherKey string `json:"publisherKey,omitempty"`
	Registry     string `json:"registry,omitempty"`
	RegistryKey  string `json:"registryKey,omitempty"`
	LogIndex     *int64 `json:"logIndex,omitempty"`
	// TrustedVersion and TrustedFingerprint are what `skills trust`
	// trusted: trust holds only while both still match.
	TrustedVersion     string       `json:"trustedVersion,omitempty"`
	TrustedFingerprint string       `json:"trustedFingerprint,omitempty"`
	Capabilities       Capabilities `json:"capabilities"`
	InstalledAt        time.Time    `json:"installedAt"`
}

// Trusted reports whether the owner trusted this exact version and
// fingerprint.
func (e *LockEntry) Trusted() bool {
	return e.TrustedFingerprint != "" && e.TrustedFingerprint == e.Fingerprint && e.TrustedVersion == e.Version
}

// Restricted reports whether the skill keeps only Restricted
// capabilities: unsigned and not trusted.
func (e *LockEntry) Restricted() bool { return !e.Signed && !e.Trusted() }

// RegistryState is the last publication log a registry showed.
type RegistryState struct {
	URL     string `json:"url"`
	LogSize int64  `json:"logSize"`
	LogHead string `json:"logHead"`
}

func (m *Manager) lockPath() string { return filepath.Join(m.StateDir, LockName) }

// ReadLock reads skills.lock; a missing file is an empty lockfile.
func (m *Manager) ReadLock() (*Lockfile, error) {
	data, err := os.ReadFile(m.lockPath())
	if errors.Is(err, os.ErrNotExist) {
		return &Lockfile{Version: 1, Skills: map[string]*LockEntry{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("skills.ReadLock: %w", err)
	}
	var l Lockfile
	if err := strictJSON(data, &l); err != nil {
		return nil, fmt.Errorf("skills.ReadLock: %s is damaged: %v (hint: restore it, or remove it and reinstall the skills)", m.lockPath(), err)
	}
	if l.Version != 1 {
		return nil, fmt.Errorf("skills.ReadLock: %s has version %d; this Talon reads version 1", m.lockPath(), l.Version)
	}
	if l.Skills == nil {
		l.Skills = map[string]*LockEntry{}
	}
	return &l, nil
}

// WriteLock replaces skills.lock atomically (0600).
func (m *Manager) WriteLock(l *Lockfile) error {
	data, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.StateDir, 0o700); err != nil {
		return fmt.Errorf("skills.WriteLock: %w", err)
	}
	if err := config.WriteFileAtomic(m.lockPath(), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("skills.WriteLock: %w", err)
	}
	return nil
}
