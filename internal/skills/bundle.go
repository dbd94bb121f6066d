package skills

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/collate"
	"golang.org/x/text/language"
)

// FileEntry is one file of a skill's manifest.
type FileEntry struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	Mode   string `json:"mode"` // "0644" or "0755"
	SHA256 string `json:"sha256"`
}

// Manifest lists a skill's files, sorted by path (byte order).
type Manifest []FileEntry

// Fingerprint is ClawHub's skill fingerprint: the SHA-256 (hex) of the
// "path:sha256" lines joined by "\n", sorted by path the way ClawHub's
// JavaScript sorts them (String.prototype.localeCompare: the Unicode root
// collation, where "scripts/x" sorts before "SKILL.md"), ties by bytes.
func (m Manifest) Fingerprint() string {
	sorted := slices.Clone(m)
	col := collate.New(language.Und)
	slices.SortStableFunc(sorted, func(a, b FileEntry) int {
		if c := col.CompareString(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Path, b.Path)
	})
	lines := make([]string, len(sorted))
	for i, f := range sorted {
		lines[i] = f.Path + ":" + f.SHA256
	}
	sum := sha256.Sum256([]byte(strings.Join(lines, "\n")))
	return hex.EncodeToString(sum[:])
}

// Digest covers everything the manifest says (paths, sizes, modes,
// hashes); the signatures are over it, so a mode or size change is caught
// even though the fingerprint does not cover them.
func (m Manifest) Digest() string {
	h := sha256.New()
	for _, f := range m {
		fmt.Fprintf(h, "%s\t%d\t%s\t%s\n", f.Path, f.Size, f.Mode, f.SHA256)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Find returns the entry for p.
func (m Manifest) Find(p string) (FileEntry, bool) {
	i := sort.Search(len(m), func(i int) bool { return m[i].Path >= p })
	if i < len(m) && m[i].Path == p {
		return m[i], true
	}
	return FileEntry{}, false
}

// Signature is a signature with the key that made it.
type Signature struct {
	Key       string `json:"key"`
	Signature string `json:"signature"`
}

// Countersignature is the registry's signature over a published bundle,
// with the bundle's index in the registry's publication log.
type Countersignature struct {
	Registry  string `json:"registry,omitempty"`
	Key       string `json:"key"`
	LogIndex  int64  `json:"logIndex"`
	Signature string `json:"signature"`
}

// Meta is a bundle's bundle.json: what the publisher signs.
type Meta struct {
	Format      string     `json:"format"`
	Name        string     `json:"name"`
	Version     string     `json:"version"`
	Files       Manifest   `json:"files"`
	Fingerprint string     `json:"fingerprint"`
	Publisher   *Signature `json:"publisher,omitempty"`
}

// BundleFormat is the format string of bundle.json.
const BundleFormat = "talon.skill.bundle/1"

// Statement is the text the publisher signs.
func (m *Meta) Statement() string {
	return "talon-skill-signature-v1\nname: " + m.Name + "\nversion: " + m.Version + "\nfingerprint: " + m.Fingerprint +
		"\nmanifest: " + m.Files.Digest() + "\n"
}

// CounterStatement is the text a registry signs for a publication.
func (m *Meta) CounterStatement(logIndex int64) string {
	pub := ""
	if m.Publisher != nil {
		pub = m.Publisher.Key
	}
	return "talon-skill-countersignature-v1\n" + m.Statement() + "publisher: " + pub + "\nlog: " + strconv.FormatInt(logIndex, 10) + "\n"
}

// Bundle is a skill bundle held in memory.
type Bundle struct {
	Meta    Meta
	Counter *Countersignature
	Files   map[string][]byte
	Mode    map[string]fs.FileMode
}

// Signed reports whether the publisher signed the bundle.
func (b *Bundle) Signed() bool { return b.Meta.Publisher != nil }

// Limits bound what a bundle or skill folder may hold.
type Limits struct {
	MaxFiles     int   // files in a skill
	MaxFileBytes int64 // one file
	MaxTotal     int64 // all files, uncompressed
	MaxRatio     int64 // uncompressed bytes per compressed byte, past 1 MiB
}

// DefaultLimits are the caps for bundles and skill folders.
var DefaultLimits = Limits{MaxFiles: 512, MaxFileBytes: 8 << 20, MaxTotal: 32 << 20, MaxRatio: 100}

// ErrLimit marks a bundle or folder over a cap.
var ErrLimit = errors.New("over a bundle limit")

// CheckPath accepts a clean, relative, slash-separated path of printable
// characters that stays inside the skill.
func CheckPath(p string) error {
	switch {
	case p == "" || len(p) > 512:
		return fmt.Errorf("path %q is empty or too long", short(p))
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not UTF-8", short(p))
	case strings.HasPrefix(p, "/") || strings.Contains(p, "\\") || (len(p) > 1 && p[1] == ':'):
		return fmt.Errorf("path %q is absolute or uses backslashes", short(p))
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean", short(p))
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("path %q leaves the skill", short(p))
		}
	}
	for _, r := range p {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return fmt.Errorf("path %q has control or invisible characters", short(p))
		}
	}
	return nil
}

func modeString(m fs.FileMode) string {
	if m&0o111 != 0 {
		return "0755"
	}
	return "0644"
}

func hashFile(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// ReadDir reads a skill folder into memory, refusing symlinks, devices and
// anything over lim. Dot-directories named .git, .clawhub and .clawdhub
// are left out (they are not part of a skill).
func ReadDir(dir string, lim Limits) (map[string][]byte, map[string]fs.FileMode, error) {
	return readDir(dir, lim, true)
}

// readInstalled reads an installed skill's folder: everything in it, so a
// file added anywhere (a .git or .clawhub folder too) is a modification.
func readInstalled(dir string, lim Limits) (map[string][]byte, map[string]fs.FileMode, error) {
	return readDir(dir, lim, false)
}

func readDir(dir string, lim Limits, skipMeta bool) (map[string][]byte, map[string]fs.FileMode, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("skills.ReadDir: %w", err)
	}
	defer root.Close()
	files := map[string][]byte{}
	modes := map[string]fs.FileMode{}
	var total int64
	err = fs.WalkDir(root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if skipMeta && p != "." && (d.Name() == ".git" || d.Name() == ".clawhub" || d.Name() == ".clawdhub") {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s is a %s; skills hold regular files only", p, typeName(d.Type()))
		}
		if err := CheckPath(p); err != nil {
			return err
		}
		if len(files) >= lim.MaxFiles {
			return fmt.Errorf("%w: more than %d files", ErrLimit, lim.MaxFiles)
		}
		f, err := root.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", p)
		}
		if st.Size() > lim.MaxFileBytes {
			return fmt.Errorf("%w: %s is %d bytes (limit %d)", ErrLimit, p, st.Size(), lim.MaxFileBytes)
		}
		b, err := io.ReadAll(io.LimitReader(f, lim.MaxFileBytes+1))
		if err != nil {
			return err
		}
		if int64(len(b)) > lim.MaxFileBytes {
			return fmt.Errorf("%w: %s grew past %d bytes", ErrLimit, p, lim.MaxFileBytes)
		}
		total += int64(len(b))
		if total > lim.MaxTotal {
			return fmt.Errorf("%w: more than %d bytes in all", ErrLimit, lim.MaxTotal)
		}
		files[p] = b
		modes[p] = st.Mode().Perm()
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("skills.ReadDir: %w", err)
	}
	return files, modes, nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m&fs.ModeDevice != 0 || m&fs.ModeCharDevice != 0:
		return "device file"
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeSocket != 0:
		return "socket"
	}
	return "special file"
}

// ManifestOf computes the manifest of files.
func ManifestOf(files map[string][]byte, modes map[string]fs.FileMode) Manifest {
	m := make(Manifest, 0, len(files))
	for p, b := range files {
		m = append(m, FileEntry{Path: p, Size: int64(len(b)), Mode: modeString(modes[p]), SHA256: hashFile(b)})
	}
	sort.Slice(m, func(i, j int) bool { return m[i].Path < m[j].Path })
	return m
}

// NewBundle makes a bundle of a skill's files, signed with key when key
// is not nil. The SKILL.md must parse and validate (its folder name is not
// checked: a bundle is named by its SKILL.md) and carry a version.
func NewBundle(files map[string][]byte, modes map[string]fs.FileMode, key ed25519.PrivateKey) (*Bundle, *Skill, error) {
	md, ok := files[SkillFile]
	if !ok {
		return nil, nil, errors.New("the folder has no SKILL.md at its top")
	}
	s, err := Parse(md)
	if err != nil {
		return nil, nil, err
	}
	if ps := s.Validate(""); len(ps) > 0 {
		return nil, nil, fmt.Errorf("SKILL.md: %s", ps[0])
	}
	if s.Version == "" {
		return nil, nil, errors.New("SKILL.md has no version (add metadata: {version: \"1.0.0\"} to its frontmatter)")
	}
	b := &Bundle{Files: files, Mode: map[string]fs.FileMode{}}
	for p := range files {
		if modes[p]&0o111 != 0 {
			b.Mode[p] = 0o755
		} else {
			b.Mode[p] = 0o644
		}
	}
	b.Meta = Meta{Format: BundleFormat, Name: s.Name, Version: s.Version, Files: ManifestOf(files, b.Mode)}
	b.Meta.Fingerprint = b.Meta.Files.Fingerprint()
	if key != nil {
		b.Meta.Publisher = &Signature{Key: PublicKeyOf(key), Signature: sign(key, b.Meta.Statement())}
	}
	return b, s, nil
}

// Countersign adds a registry's countersignature for log entry logIndex.
func (b *Bundle) Countersign(key ed25519.PrivateKey, registry string, logIndex int64) {
	b.Counter = &Countersignature{Registry: registry, Key: PublicKeyOf(key), LogIndex: logIndex,
		Signature: sign(key, b.Meta.CounterStatement(logIndex))}
}

// VerifyPublisher checks the publisher's signature (ErrUnsigned when
// there is none).
func (m *Meta) VerifyPublisher() error {
	if m.Publisher == nil {
		return ErrUnsigned
	}
	if err := verifySig(m.Publisher.Key, m.Statement(), m.Publisher.Signature); err != nil {
		return fmt.Errorf("publisher %w", err)
	}
	return nil
}

// VerifyCounter checks a countersignature against the pinned registry key.
func (m *Meta) VerifyCounter(c *Countersignature, registryKey string) error {
	if c == nil {
		return errors.New("the bundle has no registry countersignature")
	}
	if registryKey != "" && c.Key != registryKey {
		return fmt.Errorf("countersigned by %s, not by the configured registry key %s", short(c.Key), short(registryKey))
	}
	if err := verifySig(c.Key, m.CounterStatement(c.LogIndex), c.Signature); err != nil {
		return fmt.Errorf("registry countersignature: %w", err)
	}
	return nil
}

// ErrUnsigned marks a bundle without a publisher signature.
var ErrUnsigned = errors.New("the bundle is unsigned")

// ErrModified marks files that do not match their manifest.
var ErrModified = errors.New("files do not match the signed manifest")

// CheckFiles compares files against the manifest: the same set of paths,
// and each file's size, mode and SHA-256.
func (m Manifest) CheckFiles(files map[string][]byte, modes map[string]fs.FileMode) error {
	if len(files) != len(m) {
		for p := range files {
			if _, ok := m.Find(p); !ok {
				return fmt.Errorf("%w: %s is not in the manifest", ErrModified, p)
			}
		}
		for _, f := range m {
			if _, ok := files[f.Path]; !ok {
				return fmt.Errorf("%w: %s is missing", ErrModified, f.Path)
			}
		}
	}
	for _, f := range m {
		b, ok := files[f.Path]
		if !ok {
			return fmt.Errorf("%w: %s is missing", ErrModified, f.Path)
		}
		if int64(len(b)) != f.Size || hashFile(b) != f.SHA256 {
			return fmt.Errorf("%w: %s changed", ErrModified, f.Path)
		}
		if modes != nil && modeString(modes[f.Path]) != f.Mode {
			return fmt.Errorf("%w: %s changed mode", ErrModified, f.Path)
		}
	}
	return nil
}

// Verify checks a bundle's internal consistency: format, name and version,
// the manifest against the files, the fingerprint, and the publisher
// signature when present. It returns the parsed SKILL.md.
func (b *Bundle) Verify() (*Skill, error) {
	m := &b.Meta
	if m.Format != BundleFormat {
		return nil, fmt.Errorf("bundle format %q is not %q", m.Format, BundleFormat)
	}
	if !ValidName(m.Name) || !ValidVersion(m.Version) {
		return nil, fmt.Errorf("bundle names %q@%q, which is not a valid name and version", m.Name, m.Version)
	}
	if !sort.SliceIsSorted(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path }) {
		return nil, errors.New("bundle manifest is not sorted")
	}
	for i, f := range m.Files {
		if err := CheckPath(f.Path); err != nil {
			return nil, err
		}
		if i > 0 && m.Files[i-1].Path == f.Path {
			return nil, fmt.Errorf("bundle manifest lists %s twice", f.Path)
		}
		if f.Mode != "0644" && f.Mode != "0755" {
			return nil, fmt.Errorf("bundle manifest gives %s mode %q", f.Path, f.Mode)
		}
	}
	if err := m.Files.CheckFiles(b.Files, b.Mode); err != nil {
		return nil, err
	}
	if m.Fingerprint != m.Files.Fingerprint() {
		return nil, errors.New("bundle fingerprint does not match its manifest")
	}
	s, err := Parse(b.Files[SkillFile])
	if err != nil {
		return nil, err
	}
	// A SKILL.md without a version takes the bundle's (ClawHub versions
	// skills outside the file); one with a version must agree.
	if s.Name != m.Name || (s.Version != "" && s.Version != m.Version) {
		return nil, fmt.Errorf("bundle says %s@%s but its SKILL.md says %s@%s", m.Name, m.Version, s.Name, s.Version)
	}
	if ps := s.Validate(""); len(ps) > 0 {
		return nil, fmt.Errorf("SKILL.md: %s", ps[0])
	}
	if m.Publisher != nil {
		if err := m.VerifyPublisher(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Archive names.
const (
	metaName    = "bundle.json"
	counterName = "countersignature.json"
	filesPrefix = "files/"
)

// Encode writes the bundle as a deterministic gzip'd tar: bundle.json,
// countersignature.json when present, then files/<path> in manifest
// order, with zero times, owner 0 and modes 0644/0755.
func (b *Bundle) Encode() ([]byte, error) {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	add := func(name string, data []byte, mode int64) error {
		h := &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: mode, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	meta, err := json.MarshalIndent(b.Meta, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := add(metaName, meta, 0o644); err != nil {
		return nil, fmt.Errorf("skills.Encode: %w", err)
	}
	if b.Counter != nil {
		c, _ := json.MarshalIndent(b.Counter, "", "  ")
		if err := add(counterName, c, 0o644); err != nil {
			return nil, fmt.Errorf("skills.Encode: %w", err)
		}
	}
	for _, f := range b.Meta.Files {
		mode := int64(0o644)
		if f.Mode == "0755" {
			mode = 0o755
		}
		if err := add(filesPrefix+f.Path, b.Files[f.Path], mode); err != nil {
			return nil, fmt.Errorf("skills.Encode: %w", err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// countingReader counts the compressed bytes read.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// DecodeBundle reads a bundle archive with the caps of lim: only regular
// files, at clean paths under files/, each once, within the file count,
// size and compression-ratio limits. It does not verify signatures (see
// Bundle.Verify); it writes nothing.
func DecodeBundle(data []byte, lim Limits) (*Bundle, error) {
	cr := &countingReader{r: bytes.NewReader(data)}
	gz, err := gzip.NewReader(cr)
	if err != nil {
		return nil, fmt.Errorf("skills.DecodeBundle: not a gzip'd bundle: %w", err)
	}
	gz.Multistream(false)
	tr := tar.NewReader(gz)
	b := &Bundle{Files: map[string][]byte{}, Mode: map[string]fs.FileMode{}}
	var total int64
	var sawMeta bool
	lower := map[string]string{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("skills.DecodeBundle: %w", err)
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("skills.DecodeBundle: %s is not a regular file (type %q); bundles hold no links, devices or directories", short(h.Name), h.Typeflag)
		}
		if h.Size < 0 || h.Size > lim.MaxFileBytes {
			return nil, fmt.Errorf("skills.DecodeBundle: %w: %s is %d bytes", ErrLimit, short(h.Name), h.Size)
		}
		total += h.Size
		if total > lim.MaxTotal {
			return nil, fmt.Errorf("skills.DecodeBundle: %w: more than %d bytes in all", ErrLimit, lim.MaxTotal)
		}
		data, err := io.ReadAll(io.LimitReader(tr, h.Size+1))
		if err != nil {
			return nil, fmt.Errorf("skills.DecodeBundle: %w", err)
		}
		if total > 1<<20 && total > lim.MaxRatio*max(cr.n, 1) {
			return nil, fmt.Errorf("skills.DecodeBundle: %w: compression ratio over %d:1", ErrLimit, lim.MaxRatio)
		}
		switch {
		case h.Name == metaName && !sawMeta && len(b.Files) == 0:
			sawMeta = true
			if err := strictJSON(data, &b.Meta); err != nil {
				return nil, fmt.Errorf("skills.DecodeBundle: bundle.json: %w", err)
			}
		case h.Name == counterName && sawMeta && b.Counter == nil && len(b.Files) == 0:
			b.Counter = &Countersignature{}
			if err := strictJSON(data, b.Counter); err != nil {
				return nil, fmt.Errorf("skills.DecodeBundle: countersignature.json: %w", err)
			}
		case strings.HasPrefix(h.Name, filesPrefix) && sawMeta:
			p := strings.TrimPrefix(h.Name, filesPrefix)
			if err := CheckPath(p); err != nil {
				return nil, fmt.Errorf("skills.DecodeBundle: %w", err)
			}
			if _, dup := b.Files[p]; dup {
				return nil, fmt.Errorf("skills.DecodeBundle: %s appears twice", p)
			}
			if other, dup := lower[strings.ToLower(p)]; dup {
				return nil, fmt.Errorf("skills.DecodeBundle: %s and %s differ only in case", p, other)
			}
			lower[strings.ToLower(p)] = p
			if len(b.Files) >= lim.MaxFiles {
				return nil, fmt.Errorf("skills.DecodeBundle: %w: more than %d files", ErrLimit, lim.MaxFiles)
			}
			b.Files[p] = data
			b.Mode[p] = fs.FileMode(h.Mode).Perm()
		default:
			return nil, fmt.Errorf("skills.DecodeBundle: unexpected entry %q", short(h.Name))
		}
	}
	if !sawMeta {
		return nil, errors.New("skills.DecodeBundle: no bundle.json")
	}
	return b, nil
}

func strictJSON(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data")
	}
	return nil
}

// PackDir reads a skill folder and makes a bundle signed with key.
func PackDir(dir string, key ed25519.PrivateKey) (*Bundle, *Skill, error) {
	files, modes, err := ReadDir(dir, DefaultLimits)
	if err != nil {
		return nil, nil, err
	}
	b, s, err := NewBundle(files, modes, key)
	if err != nil {
		return nil, nil, err
	}
	if base := filepath.Base(filepath.Clean(dir)); base != s.Name && ValidName(base) {
		return nil, nil, fmt.Errorf("SKILL.md name %q does not match its folder %q (rename one)", s.Name, base)
	}
	return b, s, nil
}
