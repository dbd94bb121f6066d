package release

import (
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"
)

// artifactName matches the binaries `make release` writes: talon_<os>_<arch>.
var artifactName = regexp.MustCompile(`^talon_([a-z0-9]+)_([a-z0-9]+)$`)

// AssembleOptions describe the release being assembled.
type AssembleOptions struct {
	Dir            string
	Version        string
	Channel        string
	MinimumVersion string
	IssuedAt       time.Time
	ExpiresAt      time.Time
}

// Assemble writes one CycloneDX SBOM per binary in o.Dir
// (talon_<os>_<arch>.cdx.json, from the binary's own build info) and
// returns the manifest listing every binary and SBOM with its SHA-256 and
// size. (make release empties dist/ first, so no stale binary slips in; a
// -trimpath binary does not record the version stamped into it.)
func Assemble(o AssembleOptions) (*Manifest, error) {
	ents, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("release.Assemble: %w", err)
	}
	m := &Manifest{Product: Product, Version: o.Version, Channel: o.Channel, MinimumVersion: o.MinimumVersion,
		IssuedAt: o.IssuedAt.UTC().Truncate(time.Second), ExpiresAt: o.ExpiresAt.UTC().Truncate(time.Second), Artifacts: map[string]Artifact{}}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && artifactName.MatchString(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("release.Assemble: no talon_<os>_<arch> binaries in %s (hint: make release VERSION=%s)", o.Dir, o.Version)
	}
	for _, name := range names {
		path := filepath.Join(o.Dir, name)
		bi, err := buildinfo.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("release.Assemble: %s: %w", name, err)
		}
		sbom, err := SBOM(bi, o.Version)
		if err != nil {
			return nil, err
		}
		sbomName := name + ".cdx.json"
		if err := WriteFileAtomic(filepath.Join(o.Dir, sbomName), sbom, 0o644); err != nil {
			return nil, err
		}
		sum, size, err := HashFile(path)
		if err != nil {
			return nil, err
		}
		sbomSum := sha256.Sum256(sbom)
		p := artifactName.FindStringSubmatch(name)
		m.Artifacts[p[1]+"/"+p[2]] = Artifact{File: name, SHA256: sum, Size: size, SBOM: sbomName, SBOMSHA256: hex.EncodeToString(sbomSum[:])}
	}
	// The vulnerability database the release was checked against, when
	// make release put it beside the binaries.
	if raw, err := os.ReadFile(filepath.Join(o.Dir, "vulndb.json")); err == nil {
		var meta VulnDBMeta
		if err := json.Unmarshal(raw, &meta); err != nil {
			return nil, fmt.Errorf("release.Assemble: vulndb.json: %w", err)
		}
		sum, _, err := HashFile(filepath.Join(o.Dir, "vulndb.tar.gz"))
		if err != nil {
			return nil, fmt.Errorf("release.Assemble: vulndb.json without its database: %w", err)
		}
		m.VulnDB = &VulnDBInfo{File: "vulndb.tar.gz", SHA256: sum, Source: meta.Source, Modified: meta.Modified}
	}
	return m, m.Validate()
}

// HashFile returns the hex SHA-256 and size of the file at path.
func HashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// CheckArtifacts verifies every artifact and SBOM listed in m against the
// files in dir (size and SHA-256).
func CheckArtifacts(m *Manifest, dir string) error {
	check := func(name, want string, wantSize int64) error {
		sum, size, err := HashFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if sum != want || (wantSize > 0 && size != wantSize) {
			return fmt.Errorf("%w: %s has sha256 %s (%d bytes), the manifest says %s (%d bytes)", ErrArtifactMismatch, name, sum, size, want, wantSize)
		}
		return nil
	}
	if m.VulnDB != nil {
		if err := check(m.VulnDB.File, m.VulnDB.SHA256, 0); err != nil {
			return err
		}
	}
	for _, a := range m.Artifacts {
		if err := check(a.File, a.SHA256, a.Size); err != nil {
			return err
		}
		if a.SBOM != "" {
			if err := check(a.SBOM, a.SBOMSHA256, 0); err != nil {
				return err
			}
		}
	}
	return nil
}

// WriteFileAtomic writes data to path with mode from the first byte: a
// temporary file in the same directory, fsync, rename, fsync of the
// directory.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("release.WriteFileAtomic: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("release.WriteFileAtomic: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("release.WriteFileAtomic: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("release.WriteFileAtomic: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("release.WriteFileAtomic: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("release.WriteFileAtomic: %w", err)
	}
	syncDir(dir)
	return nil
}
