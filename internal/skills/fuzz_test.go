package skills

import (
	"testing"
)

// FuzzParse: any SKILL.md either parses or is refused with an error; a
// parsed one validates without panicking and its capabilities are well
// formed.
func FuzzParse(f *testing.F) {
	f.Add([]byte(skillMD("notes-digest", "1.0.0", "")))
	f.Add([]byte(skillMD("gh", "2.0.0", "  openclaw:\n    requires: {bins: [gh], env: [GH_TOKEN]}\n    install: [{kind: download, url: \"https://x.invalid/a\"}]\n  talon:\n    capabilities:\n      network: [\"api.github.com:443/repos/\"]\n      files: {read: [\"**/*.md\"], write: [\"out/*\"]}\n      bins: [gh]\n")))
	f.Add([]byte("---\nname: x\ndescription: y\nmetadata: '{\"openclaw\":{\"os\":[\"linux\"]}}'\n---\n"))
	f.Add([]byte("---\na: &a [1,2]\nb: *a\n---\n"))
	f.Add([]byte("---\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		s.Validate("x")
		for _, n := range s.Capabilities.Network {
			if n.Host == "" {
				t.Fatalf("empty host in %+v", s.Capabilities.Network)
			}
		}
		for _, g := range append(s.Capabilities.FilesRead, s.Capabilities.FilesWrite...) {
			if checkGlob(g) != nil {
				t.Fatalf("bad glob %q accepted", g)
			}
		}
		Scan(map[string][]byte{SkillFile: data})
	})
}

// FuzzDecodeBundle: the archive reader never panics, and whatever it
// accepts holds only clean paths within the caps.
func FuzzDecodeBundle(f *testing.F) {
	dir := f.TempDir()
	d := writeSkill(f, dir, "notes-digest", skillMD("notes-digest", "1.0.0", ""), map[string]string{"ref/a.md": "A", "scripts/x.sh": "echo"})
	b, _, err := PackDir(d, mustKey(f))
	if err != nil {
		f.Fatal(err)
	}
	enc, _ := b.Encode()
	f.Add(enc)
	f.Add([]byte{0x1f, 0x8b})
	f.Add([]byte("not a bundle"))
	lim := Limits{MaxFiles: 16, MaxFileBytes: 1 << 16, MaxTotal: 1 << 18, MaxRatio: 100}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := DecodeBundle(data, lim)
		if err != nil {
			return
		}
		var total int64
		for p, c := range b.Files {
			if CheckPath(p) != nil {
				t.Fatalf("accepted path %q", p)
			}
			total += int64(len(c))
		}
		if len(b.Files) > lim.MaxFiles || total > lim.MaxTotal {
			t.Fatalf("caps exceeded: %d files, %d bytes", len(b.Files), total)
		}
		b.Verify()
	})
}

// FuzzParseNetTarget: targets that parse match only their own host.
func FuzzParseNetTarget(f *testing.F) {
	for _, s := range []string{"api.github.com", "*.example.com:8443/v1/", "https://h.example/p", "[::1]:80", "a..b", "*.com"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseNetTarget(s)
		if err != nil {
			return
		}
		if n.Host == "" || n.Host == "*." {
			t.Fatalf("%q parsed to an empty host", s)
		}
	})
}
