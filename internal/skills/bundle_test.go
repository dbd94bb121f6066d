package skills

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func skillMD(name, version, extra string) string {
	return "---\nname: " + name + "\ndescription: Summarise notes in the workspace when the user asks for a digest.\nmetadata:\n  version: \"" + version + "\"\n" + extra + "---\n# " + name + "\n\nRead notes/ and write a digest.\n"
}

// writeSkill makes a skill folder dir/name with SKILL.md and extra files.
func writeSkill(t testing.TB, dir, name, md string, files map[string]string) string {
	t.Helper()
	d := filepath.Join(dir, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, SkillFile), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	for p, c := range files {
		fp := filepath.Join(d, filepath.FromSlash(p))
		os.MkdirAll(filepath.Dir(fp), 0o755)
		if err := os.WriteFile(fp, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func mustKey(t testing.TB) []byte {
	k, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPackDeterministicAndRoundTrip(t *testing.T) {
	dir := t.TempDir()
	d := writeSkill(t, dir, "notes-digest", skillMD("notes-digest", "1.0.0", ""), map[string]string{"scripts/run.sh": "echo hi\n", "ref/a.md": "A"})
	os.Chmod(filepath.Join(d, "scripts/run.sh"), 0o755)
	key := mustKey(t)
	b1, _, err := PackDir(d, key)
	if err != nil {
		t.Fatal(err)
	}
	enc1, err := b1.Encode()
	if err != nil {
		t.Fatal(err)
	}
	// Touch the files (mtime) and pack again: the bytes are the same.
	os.Chtimes(filepath.Join(d, "ref/a.md"), fixedTime, fixedTime)
	b2, _, _ := PackDir(d, key)
	enc2, _ := b2.Encode()
	if !bytes.Equal(enc1, enc2) {
		t.Fatal("packing twice gave different bundles")
	}
	got, err := DecodeBundle(enc1, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	s, err := got.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "notes-digest" || got.Meta.Version != "1.0.0" || got.Mode["scripts/run.sh"] != 0o755 {
		t.Fatalf("round trip lost data: %+v %v", got.Meta, got.Mode)
	}
	// The fingerprint is ClawHub's: sha256 over "path:sha256" lines in
	// localeCompare order (ref/ and scripts/ before SKILL.md).
	want := hashFile([]byte("ref/a.md:" + hashFile([]byte("A")) + "\nscripts/run.sh:" + hashFile([]byte("echo hi\n")) + "\nSKILL.md:" + hashFile(got.Files["SKILL.md"])))
	if got.Meta.Fingerprint != want {
		t.Fatalf("fingerprint %s, want %s", got.Meta.Fingerprint, want)
	}
}

// A ClawHub-computed fingerprint for a known file set (the algorithm in
// the clawhub CLI: sha256 of "path:sha256" lines sorted, joined by "\n").
func TestFingerprintKnownAnswer(t *testing.T) {
	m := Manifest{{Path: "b.txt", SHA256: strings.Repeat("b", 64)}, {Path: "SKILL.md", SHA256: strings.Repeat("a", 64)}}
	// printf 'SKILL.md:aaaa…\nb.txt:bbbb…' | sha256sum
	lines := "b.txt:" + strings.Repeat("b", 64) + "\nSKILL.md:" + strings.Repeat("a", 64)
	if got, want := m.Fingerprint(), hashFile([]byte(lines)); got != want {
		t.Fatalf("fingerprint %s, want %s", got, want)
	}
}

func TestInvariant13_TamperedBundleRefused(t *testing.T) {
	dir := t.TempDir()
	d := writeSkill(t, dir, "notes-digest", skillMD("notes-digest", "1.0.0", ""), map[string]string{"ref/a.md": "original"})
	key := mustKey(t)
	b, _, err := PackDir(d, key)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(b *Bundle){
		"file changed": func(b *Bundle) { b.Files["ref/a.md"] = []byte("evil") },
		"file added":   func(b *Bundle) { b.Files["x.sh"] = []byte("x") },
		"mode changed": func(b *Bundle) { b.Mode["ref/a.md"] = 0o755 },
		"manifest rewritten to match": func(b *Bundle) {
			b.Files["ref/a.md"] = []byte("evil")
			b.Meta.Files = ManifestOf(b.Files, b.Mode)
			b.Meta.Fingerprint = b.Meta.Files.Fingerprint()
		},
		"version changed": func(b *Bundle) { b.Meta.Version = "1.0.1" },
	}
	for name, mut := range cases {
		t.Run(name, func(t *testing.T) {
			enc, _ := b.Encode()
			c, err := DecodeBundle(enc, DefaultLimits)
			if err != nil {
				t.Fatal(err)
			}
			mut(c)
			if _, err := c.Verify(); err == nil {
				t.Fatal("a tampered bundle verified")
			}
		})
	}
}

func TestDecodeBundleCaps(t *testing.T) {
	dir := t.TempDir()
	d := writeSkill(t, dir, "big-skill", skillMD("big-skill", "1.0.0", ""), map[string]string{"zeros.txt": strings.Repeat("0", 4<<20)})
	b, _, err := PackDir(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := b.Encode()
	lim := DefaultLimits
	lim.MaxRatio = 10
	if _, err := DecodeBundle(enc, lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("a 4 MiB file of zeros passed a 10:1 ratio cap: %v", err)
	}
	lim = DefaultLimits
	lim.MaxFiles = 1
	if _, err := DecodeBundle(enc, lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("file count cap: %v", err)
	}
	lim = DefaultLimits
	lim.MaxTotal = 1 << 20
	if _, err := DecodeBundle(enc, lim); !errors.Is(err, ErrLimit) {
		t.Fatalf("total size cap: %v", err)
	}
	// Incompressible content of the same size is within the defaults.
	rnd := make([]byte, 3<<20)
	rand.Read(rnd)
	d2 := writeSkill(t, dir, "random-skill", skillMD("random-skill", "1.0.0", ""), map[string]string{"noise.txt": base64.StdEncoding.EncodeToString(rnd)})
	b2, _, _ := PackDir(d2, nil)
	enc2, _ := b2.Encode()
	if _, err := DecodeBundle(enc2, DefaultLimits); err != nil {
		t.Fatalf("within the default caps: %v", err)
	}
}

func TestReadDirRefusesSymlinksAndDevices(t *testing.T) {
	dir := t.TempDir()
	d := writeSkill(t, dir, "linky", skillMD("linky", "1.0.0", ""), nil)
	os.WriteFile(filepath.Join(dir, "secret"), []byte("s"), 0o600)
	if err := os.Symlink(filepath.Join(dir, "secret"), filepath.Join(d, "ref.md")); err != nil {
		t.Skip(err)
	}
	if _, _, err := ReadDir(d, DefaultLimits); err == nil || !strings.Contains(err.Error(), "symlink") {
		t.Fatalf("a symlink was read: %v", err)
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"../x", "/etc/passwd", "a/../../b", "a\\b", "a//b", "./a", "C:x", "a/\u202egpj.exe", "a\x00b", "", "a/."} {
		if CheckPath(p) == nil {
			t.Errorf("CheckPath(%q) accepted", p)
		}
	}
	for _, p := range []string{"SKILL.md", "scripts/run.sh", "ref/notes v2.md"} {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q): %v", p, err)
		}
	}
}

var fixedTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// A fingerprint computed by the clawhub CLI's own buildSkillFingerprint
// (0.23.3, Node 26) for paths whose localeCompare order differs from byte
// order.
func TestFingerprintMatchesClawHub(t *testing.T) {
	paths := []string{"SKILL.md", "scripts/run.sh", "a-b.md", "ab.md", "B.md", "a.md", "_x.md", "Z/1.txt", "z/2.txt", "ref/ä.md", "10.md", "9.md"}
	var m Manifest
	for i, p := range paths {
		m = append(m, FileEntry{Path: p, SHA256: strings.Repeat(fmt.Sprintf("%02d", i), 32)})
	}
	if got, want := m.Fingerprint(), "c8145b8d30d25551f3590564d75c682bedc7372bdb224ab034fc8bd9b4ab7934"; got != want {
		t.Fatalf("fingerprint %s, clawhub computes %s", got, want)
	}
}

// An OpenClaw-style SKILL.md (metadata as one JSON object, fields Talon
// does not use) parses; a typo in Talon's own capabilities is an error.
func TestParseOpenClawStyle(t *testing.T) {
	md := "---\nname: gh-issues\ndescription: \"Work with GitHub issues via gh.\"\nhomepage: https://example.com\nuser-invocable: true\nversion: 2.1.0\n" +
		"metadata: {\"openclaw\": {\"emoji\": \"x\", \"user-invocable\": true, \"requires\": {\"bins\": [\"gh\"], \"config\": [\"skills.entries.gh\"]}, \"os\": [\"linux\"]," +
		" \"install\": [{\"id\": \"dl\", \"kind\": \"download\", \"url\": \"https://x.invalid/gh.tgz\", \"targetDir\": \"/tmp\", \"extract\": true}]}}\n---\nBody\n"
	s, err := Parse([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if s.Version != "2.1.0" || s.OpenClaw == nil || s.OpenClaw.Requires.Bins[0] != "gh" || s.OpenClaw.Install[0].Kind != "download" {
		t.Fatalf("%+v %+v", s, s.OpenClaw)
	}
	if ps := s.Validate("gh-issues"); len(ps) != 0 {
		t.Fatal(ps)
	}
	if _, err := Parse([]byte(skillMD("x", "1", "  talon:\n    capabilities:\n      netwrok: [a.example]\n"))); err == nil {
		t.Fatal("a misspelt capability key was accepted")
	}
	if _, err := Parse([]byte(skillMD("x", "1", "  talon:\n    capabilities:\n      network: [\"*.com\"]\n"))); err == nil {
		t.Fatal("a wildcard over a TLD was accepted")
	}
	if _, err := Parse([]byte(skillMD("x", "1", "  talon:\n    capabilities:\n      files: {write: [\"../outside/*\"]}\n"))); err == nil {
		t.Fatal("a glob leaving the workspace was accepted")
	}
}
