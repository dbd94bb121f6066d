package skills

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/config"
)

// Manager owns the managed skills in $TALON_STATE_DIR/skills and the
// lockfile. Install verifies in memory before it writes; Verify re-checks
// the files on disk against the lockfile.
type Manager struct {
	StateDir string
	Now      func() time.Time
	Limits   Limits
}

// NewManager returns the manager for a state directory.
func NewManager(stateDir string) *Manager {
	return &Manager{StateDir: stateDir, Now: time.Now, Limits: DefaultLimits}
}

// Dir is where managed skills live.
func (m *Manager) Dir() string { return filepath.Join(m.StateDir, "skills") }

func (m *Manager) metaDir() string { return filepath.Join(m.Dir(), ".meta") }

func (m *Manager) metaPath(e *LockEntry) string {
	return filepath.Join(m.metaDir(), e.Name+"@"+e.Fingerprint[:16]+".json")
}

// installed is what Install keeps beside the skill's files: the signed
// bundle.json and the countersignature.
type installed struct {
	Meta    Meta              `json:"meta"`
	Counter *Countersignature `json:"countersignature,omitempty"`
}

// InstallOptions say where a bundle came from and what the owner allowed.
type InstallOptions struct {
	// Source is "registry", "bundle" or "directory".
	Source string
	// AllowUnsigned admits a bundle without a publisher signature; it is
	// installed restricted (no exec, no network, no secrets) until trusted.
	AllowUnsigned bool
	// AcceptCapabilities is the owner's consent to an update that adds
	// capabilities (shown to them as a diff first).
	AcceptCapabilities bool
	// AllowDowngrade admits a version older than the one installed (a
	// registry showing an old "latest" is a rollback attack).
	AllowDowngrade bool
	// Registry and RegistryKey are set for bundles from a registry: the
	// countersignature must verify with RegistryKey.
	Registry    string
	RegistryKey string
	// Log, when set, updates the lockfile's record of the registry's
	// publication log (checked by the caller against the bundle).
	Log *RegistryState
}

// Errors Install returns that callers branch on.
var (
	ErrEquivocation = errors.New("a different bundle for a version already installed")
	ErrKeyChanged   = errors.New("the publisher key changed")
	ErrDowngrade    = errors.New("older than the installed version")
)

// ConsentError is returned when an update adds capabilities the owner has
// not accepted.
type ConsentError struct {
	Name string
	Diff CapDiff
}

func (e *ConsentError) Error() string {
	return fmt.Sprintf("%s: the update adds capabilities (%s); review them and rerun with --accept-capabilities", e.Name, strings.Join(e.Diff.Lines(), ", "))
}

// InstallResult says what Install did.
type InstallResult struct {
	Entry    LockEntry
	Skill    *Skill
	Previous string // the version replaced, if any
	Diff     *CapDiff
	Findings []Finding
}

// Install verifies b and installs it. Every check runs on the bundle in
// memory first (signature, manifest, countersignature, lockfile rules,
// consent); nothing is written unless all pass. The files are written to
// a temporary folder, synced, and swapped into place; the lockfile is
// written last, atomically.
func (m *Manager) Install(b *Bundle, o InstallOptions) (*InstallResult, error) {
	s, err := b.Verify()
	if err != nil {
		return nil, fmt.Errorf("skills.Install: %w", err)
	}
	if !b.Signed() && !o.AllowUnsigned {
		return nil, fmt.Errorf("skills.Install: %s@%s: %w (hint: --allow-unsigned installs it restricted: no exec, no network, no secrets until trusted)", b.Meta.Name, b.Meta.Version, ErrUnsigned)
	}
	if o.Source == "registry" || o.RegistryKey != "" {
		if err := b.Meta.VerifyCounter(b.Counter, o.RegistryKey); err != nil {
			return nil, fmt.Errorf("skills.Install: %w", err)
		}
	}
	unlock, err := m.exclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	lock, err := m.ReadLock()
	if err != nil {
		return nil, err
	}
	name := b.Meta.Name
	res := &InstallResult{Skill: s, Findings: Scan(b.Files)}
	prev := lock.Skills[name]
	if prev != nil {
		res.Previous = prev.Version
		if prev.Version == b.Meta.Version && prev.Fingerprint != b.Meta.Fingerprint {
			return nil, fmt.Errorf("skills.Install: %s@%s: %w (installed %s, offered %s); a registry must never serve two bundles for one version",
				name, prev.Version, ErrEquivocation, prev.Fingerprint[:16], b.Meta.Fingerprint[:16])
		}
		if prev.Signed && b.Signed() && prev.PublisherKey != b.Meta.Publisher.Key {
			return nil, fmt.Errorf("skills.Install: %s: %w from %s to %s (hint: if you expect the new publisher, talon skills remove %s first)",
				name, ErrKeyChanged, short(prev.PublisherKey), short(b.Meta.Publisher.Key), name)
		}
		if CompareVersions(b.Meta.Version, prev.Version) < 0 && !o.AllowDowngrade {
			return nil, fmt.Errorf("skills.Install: %s@%s is %w %s (hint: --allow-downgrade if you mean it)", name, b.Meta.Version, ErrDowngrade, prev.Version)
		}
		d := Diff(prev.Capabilities, s.Capabilities)
		res.Diff = &d
		if d.Widens() && !o.AcceptCapabilities {
			return nil, &ConsentError{Name: name, Diff: d}
		}
	}
	e := LockEntry{Name: name, Version: b.Meta.Version, Fingerprint: b.Meta.Fingerprint, Manifest: b.Meta.Files.Digest(),
		Source: o.Source, Signed: b.Signed(), Registry: o.Registry, Capabilities: s.Capabilities, InstalledAt: m.Now().UTC()}
	if b.Signed() {
		e.PublisherKey = b.Meta.Publisher.Key
	}
	if b.Counter != nil && o.RegistryKey != "" {
		e.RegistryKey = b.Counter.Key
		idx := b.Counter.LogIndex
		e.LogIndex = &idx
	}
	if prev != nil && prev.Fingerprint == e.Fingerprint && prev.Version == e.Version {
		e.TrustedVersion, e.TrustedFingerprint = prev.TrustedVersion, prev.TrustedFingerprint
	}
	// Write: the signed metadata (immutable name), the files, the lock.
	if err := os.MkdirAll(m.metaDir(), 0o700); err != nil {
		return nil, fmt.Errorf("skills.Install: %w", err)
	}
	os.Chmod(m.Dir(), 0o700)
	meta, _ := json.MarshalIndent(installed{Meta: b.Meta, Counter: b.Counter}, "", "  ")
	if err := config.WriteFileAtomic(m.metaPath(&e), meta, 0o600); err != nil {
		return nil, fmt.Errorf("skills.Install: %w", err)
	}
	if err := m.writeFiles(name, b); err != nil {
		return nil, fmt.Errorf("skills.Install: %w", err)
	}
	lock.Skills[name] = &e
	if o.Log != nil && o.RegistryKey != "" {
		if lock.Registries == nil {
			lock.Registries = map[string]*RegistryState{}
		}
		st := *o.Log
		lock.Registries[o.RegistryKey] = &st
	}
	if err := m.WriteLock(lock); err != nil {
		return nil, err
	}
	if prev != nil && prev.Fingerprint != e.Fingerprint {
		os.Remove(m.metaPath(prev))
	}
	res.Entry = e
	return res, nil
}

// writeFiles puts the bundle's files in a temporary folder beside the
// destination, syncs them, and swaps the folder into place.
func (m *Manager) writeFiles(name string, b *Bundle) error {
	rnd := make([]byte, 6)
	rand.Read(rnd)
	tmp := filepath.Join(m.Dir(), ".tmp-"+name+"-"+hex.EncodeToString(rnd))
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	defer root.Close()
	for _, f := range b.Meta.Files {
		if dir := filepath.Dir(filepath.FromSlash(f.Path)); dir != "." {
			if err := root.MkdirAll(dir, 0o700); err != nil {
				return err
			}
		}
		perm := fs.FileMode(0o600)
		if f.Mode == "0755" {
			perm = 0o700
		}
		fh, err := root.OpenFile(filepath.FromSlash(f.Path), os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err != nil {
			return err
		}
		_, err = fh.Write(b.Files[f.Path])
		if err == nil {
			err = fh.Sync()
		}
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	dst := filepath.Join(m.Dir(), name)
	old := ""
	if _, err := os.Lstat(dst); err == nil {
		old = filepath.Join(m.Dir(), ".old-"+name+"-"+hex.EncodeToString(rnd))
		if err := os.Rename(dst, old); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		if old != "" {
			os.Rename(old, dst)
		}
		return err
	}
	ok = true
	if d, err := os.Open(m.Dir()); err == nil {
		d.Sync()
		d.Close()
	}
	if old != "" {
		os.RemoveAll(old)
	}
	return nil
}

// Verified is a managed skill that passed Verify.
type Verified struct {
	Entry *LockEntry
	Skill *Skill
	Meta  Meta
	Dir   string
}

// Verify re-checks an installed skill: its signed metadata against the
// lockfile (fingerprint, manifest digest, publisher key and signature,
// registry countersignature), and every file on disk against the
// manifest. A skill that fails is not loaded.
func (m *Manager) Verify(e *LockEntry) (*Verified, error) {
	data, err := os.ReadFile(m.metaPath(e))
	if err != nil {
		return nil, fmt.Errorf("%s: its signed manifest is missing (%v); reinstall it", e.Name, err)
	}
	var in installed
	if err := strictJSON(data, &in); err != nil {
		return nil, fmt.Errorf("%s: its signed manifest is damaged: %v", e.Name, err)
	}
	meta := &in.Meta
	// The fingerprint's agreement with the manifest was checked at install
	// (Bundle.Verify); here the signed statement binds both, and the
	// manifest must be the one the lockfile recorded.
	if meta.Name != e.Name || meta.Version != e.Version || meta.Fingerprint != e.Fingerprint || meta.Files.Digest() != e.Manifest {
		return nil, fmt.Errorf("%s: its manifest does not match skills.lock", e.Name)
	}
	if e.Signed {
		if meta.Publisher == nil || meta.Publisher.Key != e.PublisherKey {
			return nil, fmt.Errorf("%s: the publisher key does not match skills.lock", e.Name)
		}
		if err := meta.VerifyPublisher(); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	if e.RegistryKey != "" {
		if err := meta.VerifyCounter(in.Counter, e.RegistryKey); err != nil {
			return nil, fmt.Errorf("%s: %w", e.Name, err)
		}
	}
	dir := filepath.Join(m.Dir(), e.Name)
	files, modes, err := readInstalled(dir, m.Limits)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	if err := meta.Files.CheckFiles(files, modes); err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	s, err := Parse(files[SkillFile])
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Name, err)
	}
	return &Verified{Entry: e, Skill: s, Meta: *meta, Dir: dir}, nil
}

// Trust records the owner's trust in name at exactly version (and the
// fingerprint installed now).
func (m *Manager) Trust(name, version string) (*LockEntry, error) {
	unlock, err := m.exclusive()
	if err != nil {
		return nil, err
	}
	defer unlock()
	lock, err := m.ReadLock()
	if err != nil {
		return nil, err
	}
	e := lock.Skills[name]
	if e == nil {
		return nil, fmt.Errorf("no skill %q is installed (hint: talon skills list)", name)
	}
	if e.Version != version {
		return nil, fmt.Errorf("%s is installed at version %s, not %s (hint: talon skills trust %s@%s)", name, e.Version, version, name, e.Version)
	}
	if _, err := m.Verify(e); err != nil {
		return nil, fmt.Errorf("refusing to trust a skill that fails verification: %w", err)
	}
	e.TrustedVersion, e.TrustedFingerprint = e.Version, e.Fingerprint
	if err := m.WriteLock(lock); err != nil {
		return nil, err
	}
	return e, nil
}

// Remove uninstalls a managed skill: lockfile entry first, then files.
func (m *Manager) Remove(name string) error {
	unlock, err := m.exclusive()
	if err != nil {
		return err
	}
	defer unlock()
	lock, err := m.ReadLock()
	if err != nil {
		return err
	}
	e := lock.Skills[name]
	if e == nil {
		return fmt.Errorf("no skill %q is installed (hint: talon skills list)", name)
	}
	delete(lock.Skills, name)
	if err := m.WriteLock(lock); err != nil {
		return err
	}
	os.Remove(m.metaPath(e))
	return os.RemoveAll(filepath.Join(m.Dir(), name))
}

// Entries returns the lockfile's skills sorted by name.
func (l *Lockfile) Entries() []*LockEntry {
	out := make([]*LockEntry, 0, len(l.Skills))
	for _, e := range l.Skills {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
