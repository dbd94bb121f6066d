package release

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"sort"
	"strings"
	"time"
)

// The offline vulnerability database is the Go vulnerability database's
// OSV entries (the data/osv directory of the golang.org/x/vulndb module,
// fetched through the module proxy) laid out the way `govulncheck -db
// file://DIR` reads it:
//
//	DIR/index/db.json       {"modified": T}
//	DIR/index/modules.json  [{"path": M, "vulns": [{"id", "modified"}]}]
//	DIR/index/vulns.json    [{"id", "modified", "aliases"}]
//	DIR/ID/<id>.json        the OSV entry
//	DIR/talon-vulndb.json   {"source", "modified", "entries"} (Talon's own)
//
// The index leaves out each vulnerability's "fixed" hint, which only lets
// govulncheck skip fetching entries; without it every entry of a used
// module is read and matched, which is slower, never less complete.

// VulnDBMeta describes a database built by BuildVulnDB.
type VulnDBMeta struct {
	Source   string    `json:"source"`
	Modified time.Time `json:"modified"`
	Entries  int       `json:"entries"`
}

type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
	Summary  string    `json:"summary,omitempty"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges []struct {
			Type   string `json:"type"`
			Events []struct {
				Introduced string `json:"introduced,omitempty"`
				Fixed      string `json:"fixed,omitempty"`
			} `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

var pseudoTime = regexp.MustCompile(`-(\d{14})-[0-9a-f]{12}$`)

// SourceTime is the commit time in a pseudo-version such as
// golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018.
func SourceTime(source string) (time.Time, error) {
	m := pseudoTime.FindStringSubmatch(source)
	if m == nil {
		return time.Time{}, fmt.Errorf("%q has no pseudo-version timestamp", source)
	}
	return time.Parse("20060102150405", m[1])
}

// BuildVulnDB converts the OSV entries in osvDir into a database at outDir
// (written beside it and renamed into place, so a half-built database is
// never used). The vulndb sources carry no modification times, so entries
// without one take the source's commit time, which is also the database's
// date.
func BuildVulnDB(osvDir, outDir, source string) (*VulnDBMeta, error) {
	dbTime, err := SourceTime(source)
	if err != nil {
		return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
	}
	files, err := filepath.Glob(filepath.Join(osvDir, "GO-*.json"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("release.BuildVulnDB: no GO-*.json entries in %s", osvDir)
	}
	tmp := outDir + ".building"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(tmp, "index"), 0o755); err != nil {
		return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
	}
	type modVuln struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
	}
	type vulnMeta struct {
		ID       string    `json:"id"`
		Modified time.Time `json:"modified"`
		Aliases  []string  `json:"aliases,omitempty"`
	}
	mods := map[string][]modVuln{}
	var vulns []vulnMeta
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
		}
		var e osvEntry
		if err := json.Unmarshal(raw, &e); err != nil || e.ID == "" {
			return nil, fmt.Errorf("release.BuildVulnDB: %s: not an OSV entry: %v", filepath.Base(f), err)
		}
		if e.ID+".json" != filepath.Base(f) {
			return nil, fmt.Errorf("release.BuildVulnDB: %s holds entry %s", filepath.Base(f), e.ID)
		}
		mod := e.Modified
		if mod.Year() < 2000 {
			mod = dbTime
		}
		seen := map[string]bool{}
		for _, a := range e.Affected {
			if p := a.Package.Name; p != "" && !seen[p] {
				seen[p] = true
				mods[p] = append(mods[p], modVuln{ID: e.ID, Modified: mod})
			}
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: mod, Aliases: e.Aliases})
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), raw, 0o644); err != nil {
			return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
		}
	}
	type modMeta struct {
		Path  string    `json:"path"`
		Vulns []modVuln `json:"vulns"`
	}
	var index []modMeta
	for p, vs := range mods {
		sort.Slice(vs, func(i, j int) bool { return vs[i].ID < vs[j].ID })
		index = append(index, modMeta{Path: p, Vulns: vs})
	}
	sort.Slice(index, func(i, j int) bool { return index[i].Path < index[j].Path })
	sort.Slice(vulns, func(i, j int) bool { return vulns[i].ID < vulns[j].ID })
	meta := &VulnDBMeta{Source: source, Modified: dbTime, Entries: len(vulns)}
	for name, v := range map[string]any{
		"index/db.json":      map[string]time.Time{"modified": dbTime},
		"index/modules.json": index,
		"index/vulns.json":   vulns,
		"talon-vulndb.json":  meta,
	} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
		}
		if err := os.WriteFile(filepath.Join(tmp, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
		}
	}
	os.RemoveAll(outDir)
	if err := os.Rename(tmp, outDir); err != nil {
		return nil, fmt.Errorf("release.BuildVulnDB: %w", err)
	}
	return meta, nil
}

// ErrNoVulnDB means there is no database at the given directory.
var ErrNoVulnDB = errors.New("release: no vulnerability database")

// KnownVuln is a vulnerability affecting a module version in a binary.
type KnownVuln struct {
	ID      string   `json:"id"`
	Module  string   `json:"module"`
	Version string   `json:"version"`
	Fixed   string   `json:"fixed,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Aliases []string `json:"aliases,omitempty"`
}

// ScanBinary matches the modules (and the Go standard library) of a
// binary's build info against the database in dir, by version only: this
// is govulncheck's module-level view, which reports a vulnerable module
// whether or not the binary reaches the vulnerable symbol (`govulncheck
// -mode binary` narrows that down with the symbol table).
func ScanBinary(dir string, bi *debug.BuildInfo) (*VulnDBMeta, []KnownVuln, error) {
	var meta VulnDBMeta
	raw, err := os.ReadFile(filepath.Join(dir, "talon-vulndb.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w at %s", ErrNoVulnDB, dir)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", dir, err)
	}
	var index []struct {
		Path  string `json:"path"`
		Vulns []struct {
			ID string `json:"id"`
		} `json:"vulns"`
	}
	raw, err = os.ReadFile(filepath.Join(dir, "index", "modules.json"))
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		return nil, nil, fmt.Errorf("%s: index/modules.json: %w", dir, err)
	}
	used := map[string]string{"stdlib": strings.TrimPrefix(bi.GoVersion, "go")}
	for _, d := range bi.Deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		used[m.Path] = m.Version
	}
	var out []KnownVuln
	for _, mod := range index {
		ver, ok := used[mod.Path]
		if !ok {
			continue
		}
		for _, v := range mod.Vulns {
			raw, err := os.ReadFile(filepath.Join(dir, "ID", filepath.Base(v.ID)+".json"))
			if err != nil {
				return nil, nil, err
			}
			var e osvEntry
			if err := json.Unmarshal(raw, &e); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", v.ID, err)
			}
			if affected, fixed := e.affects(mod.Path, ver); affected {
				out = append(out, KnownVuln{ID: e.ID, Module: mod.Path, Version: ver, Fixed: fixed, Summary: e.Summary, Aliases: e.Aliases})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return &meta, out, nil
}

// affects reports whether version of module lies in one of the entry's
// SEMVER ranges, and the fix for that range. A version that cannot be
// parsed counts as affected (fail closed).
func (e *osvEntry) affects(module, version string) (bool, string) {
	for _, a := range e.Affected {
		if a.Package.Name != module {
			continue
		}
		for _, r := range a.Ranges {
			if r.Type != "SEMVER" {
				continue
			}
			in, fixed := false, ""
			for _, ev := range r.Events {
				switch {
				case ev.Introduced != "":
					if ev.Introduced == "0" || geq(version, ev.Introduced) {
						in, fixed = true, ""
					}
				case ev.Fixed != "":
					if geq(version, ev.Fixed) {
						in = false
					} else if in && fixed == "" {
						fixed = ev.Fixed
					}
				}
			}
			if in {
				return true, fixed
			}
		}
	}
	return false, ""
}

func geq(a, b string) bool {
	c, err := CompareVersions(a, b)
	return err == nil && c >= 0
}
