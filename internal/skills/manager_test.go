package skills

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func packed(t testing.TB, dir, name, md string, files map[string]string, key []byte) *Bundle {
	t.Helper()
	d := writeSkill(t, dir, name, md, files)
	b, _, err := PackDir(d, key)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := b.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeBundle(enc, DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestInvariant13_ModifiedSkillNotLoaded(t *testing.T) {
	state := t.TempDir()
	m := NewManager(state)
	b := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", ""), map[string]string{"ref/a.md": "original"}, mustKey(t))
	if _, err := m.Install(b, InstallOptions{Source: "bundle"}); err != nil {
		t.Fatal(err)
	}
	c := Load(LoadOptions{Manager: m})
	if _, ok := c.Get("notes-digest"); !ok {
		t.Fatalf("the installed skill did not load: %+v", c.Refused)
	}
	for name, mut := range map[string]func(dir string){
		"one byte":   func(d string) { flipByte(t, filepath.Join(d, "ref/a.md")) },
		"SKILL.md":   func(d string) { flipByte(t, filepath.Join(d, SkillFile)) },
		"added file": func(d string) { os.WriteFile(filepath.Join(d, "extra.sh"), []byte("x"), 0o600) },
		"added in .git": func(d string) {
			os.Mkdir(filepath.Join(d, ".git"), 0o700)
			os.WriteFile(filepath.Join(d, ".git", "hooks"), []byte("x"), 0o600)
		},
		"chmod +x": func(d string) { os.Chmod(filepath.Join(d, "ref/a.md"), 0o700) },
		"removed":  func(d string) { os.Remove(filepath.Join(d, "ref/a.md")) },
	} {
		t.Run(name, func(t *testing.T) {
			st := t.TempDir()
			m := NewManager(st)
			if _, err := m.Install(b, InstallOptions{Source: "bundle"}); err != nil {
				t.Fatal(err)
			}
			mut(filepath.Join(m.Dir(), "notes-digest"))
			lock, _ := m.ReadLock()
			if _, err := m.Verify(lock.Skills["notes-digest"]); err == nil {
				t.Fatal("verify passed a modified skill")
			}
			c := Load(LoadOptions{Manager: m})
			if _, ok := c.Get("notes-digest"); ok {
				t.Fatal("a modified skill was loaded")
			}
			if len(c.Refused) != 1 {
				t.Fatalf("refusal not reported: %+v", c.Refused)
			}
		})
	}
}

func flipByte(t *testing.T, p string) {
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-1] ^= 1
	os.WriteFile(p, data, 0o600)
}

func TestInvariant13_UnsignedRefusedWithoutFlag(t *testing.T) {
	m := NewManager(t.TempDir())
	b := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", "  talon:\n    capabilities:\n      bins: [gh]\n      tools: [exec, read]\n      network: [api.github.com]\n      secrets: [gh-token]\n"), nil, nil)
	_, err := m.Install(b, InstallOptions{Source: "bundle"})
	if !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned bundle: %v", err)
	}
	if _, err := os.Stat(filepath.Join(m.Dir(), "notes-digest")); !os.IsNotExist(err) {
		t.Fatal("a refused install wrote files")
	}
	if _, err := os.Stat(filepath.Join(m.StateDir, LockName)); !os.IsNotExist(err) {
		t.Fatal("a refused install wrote the lockfile")
	}
	res, err := m.Install(b, InstallOptions{Source: "bundle", AllowUnsigned: true})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Entry.Restricted() {
		t.Fatal("an unsigned skill is not restricted")
	}
	l, _ := Load(LoadOptions{Manager: m}).Get("notes-digest")
	g := Grant(l.Capabilities, AgentPolicy{Tools: []string{"exec", "read", "web_fetch"}, Bins: []string{"gh"}, Secrets: []string{"gh-token"}}, l.Restricted)
	if len(g.Bins) != 0 || len(g.Network) != 0 || len(g.Secrets) != 0 || g.AllowsTool("exec") || !g.AllowsTool("read") {
		t.Fatalf("restricted grant kept exec/network/secrets: %+v", g)
	}
	if _, err := m.Trust("notes-digest", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	l, _ = Load(LoadOptions{Manager: m}).Get("notes-digest")
	g = Grant(l.Capabilities, AgentPolicy{Tools: []string{"exec", "read", "web_fetch"}, Bins: []string{"gh"}, Secrets: []string{"gh-token"}}, l.Restricted)
	if !l.Trusted || len(g.Bins) != 1 || len(g.Network) != 1 {
		t.Fatalf("trusting did not lift the restriction: %+v", g)
	}
}

func TestInvariant13_SameVersionDifferentBundleRefused(t *testing.T) {
	m := NewManager(t.TempDir())
	key := mustKey(t)
	a := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", ""), map[string]string{"a.md": "A"}, key)
	b := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", ""), map[string]string{"a.md": "B"}, key)
	if _, err := m.Install(a, InstallOptions{Source: "bundle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(b, InstallOptions{Source: "bundle"}); !errors.Is(err, ErrEquivocation) {
		t.Fatalf("second bundle for 1.0.0: %v", err)
	}
	got, _ := os.ReadFile(filepath.Join(m.Dir(), "notes-digest", "a.md"))
	if string(got) != "A" {
		t.Fatal("the refused bundle replaced files")
	}
	other := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.1", ""), nil, mustKey(t))
	if _, err := m.Install(other, InstallOptions{Source: "bundle"}); !errors.Is(err, ErrKeyChanged) {
		t.Fatalf("a bundle from another publisher: %v", err)
	}
}

func TestInvariant13_UpdateAddingCapabilitiesNeedsConsent(t *testing.T) {
	m := NewManager(t.TempDir())
	key := mustKey(t)
	v1 := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", "  talon:\n    capabilities:\n      files: {read: [\"notes/**\"]}\n"), nil, key)
	v2 := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.1.0", "  talon:\n    capabilities:\n      files: {read: [\"notes/**\"]}\n      network: [\"collector.example:8443/upload\"]\n"), nil, key)
	if _, err := m.Install(v1, InstallOptions{Source: "bundle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Trust("notes-digest", "1.0.0"); err != nil {
		t.Fatal(err)
	}
	_, err := m.Install(v2, InstallOptions{Source: "bundle"})
	var ce *ConsentError
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "+ network collector.example:8443/upload") {
		t.Fatalf("update without consent: %v", err)
	}
	lock, _ := m.ReadLock()
	if lock.Skills["notes-digest"].Version != "1.0.0" {
		t.Fatal("the refused update changed the lockfile")
	}
	res, err := m.Install(v2, InstallOptions{Source: "bundle", AcceptCapabilities: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.Entry.Trusted() {
		t.Fatal("trust carried over to a new version")
	}
}

func TestLoadPrecedenceAndPrompt(t *testing.T) {
	ws := t.TempDir()
	m := NewManager(t.TempDir())
	b := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", ""), nil, mustKey(t))
	if _, err := m.Install(b, InstallOptions{Source: "bundle"}); err != nil {
		t.Fatal(err)
	}
	other := packed(t, t.TempDir(), "weather", strings.Replace(skillMD("weather", "2.0.0", ""), "Summarise notes", "Get the weather", 1), nil, mustKey(t))
	if _, err := m.Install(other, InstallOptions{Source: "bundle"}); err != nil {
		t.Fatal(err)
	}
	writeSkill(t, filepath.Join(ws, "skills"), "weather", "---\nname: weather\ndescription: The workspace's own weather skill.\n---\nbody\n", nil)
	c := Load(LoadOptions{Workspace: ws, Manager: m})
	w, _ := c.Get("weather")
	if w.Source != SourceWorkspace || !w.Restricted || w.Trusted {
		t.Fatalf("workspace skill should win and stay restricted: %+v", w)
	}
	p := PromptSection(c.Allowed(nil))
	if !strings.Contains(p, "notes-digest (managed, untrusted): Summarise notes") || !strings.Contains(p, "workspace's own weather") || strings.Contains(p, "Read notes/ and write") {
		t.Fatalf("prompt section:\n%s", p)
	}
	if got := c.Allowed([]string{"weather"}); len(got) != 1 {
		t.Fatalf("allowlist: %+v", got)
	}
	nd, _ := c.Get("notes-digest")
	if body, err := nd.ReadFile(""); err != nil || !strings.Contains(string(body), "write a digest") {
		t.Fatalf("ReadFile: %v", err)
	}
	flipByte(t, filepath.Join(m.Dir(), "notes-digest", SkillFile))
	if _, err := nd.ReadFile(""); !errors.Is(err, ErrModified) {
		t.Fatalf("a file changed after load was read: %v", err)
	}
	if _, err := nd.ReadFile("../../skills.lock"); err == nil {
		t.Fatal("read outside the skill")
	}
}

// Concurrent installs of different skills keep every entry.
func TestConcurrentInstallsKeepEveryEntry(t *testing.T) {
	m := NewManager(t.TempDir())
	key := mustKey(t)
	names := []string{"a-one", "b-two", "c-three", "d-four", "e-five", "f-six"}
	bs := make([]*Bundle, len(names))
	for i, n := range names {
		bs[i] = packed(t, t.TempDir(), n, skillMD(n, "1.0.0", ""), nil, key)
	}
	errs := make(chan error, len(names))
	for _, b := range bs {
		go func() { _, err := m.Install(b, InstallOptions{Source: "bundle"}); errs <- err }()
	}
	for range names {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	lock, _ := m.ReadLock()
	if len(lock.Skills) != len(names) {
		t.Fatalf("%d entries after %d concurrent installs", len(lock.Skills), len(names))
	}
}
