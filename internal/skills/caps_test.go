package skills

import (
	"errors"
	"net/url"
	"testing"
)

func caps(t *testing.T, frontmatter string) Capabilities {
	t.Helper()
	s, err := Parse([]byte(skillMD("x", "1", "  talon:\n    capabilities:\n"+frontmatter)))
	if err != nil {
		t.Fatal(err)
	}
	return s.Capabilities
}

func TestCapabilitiesAllowsURL(t *testing.T) {
	c := caps(t, "      network: [\"api.github.com/repos/\", \"*.tides.example:8443\", \"http://plain.example/api\"]\n")
	for _, tc := range []struct {
		u    string
		want bool
	}{
		{"https://api.github.com/repos/x/y", true},
		{"https://api.github.com/repos", true},
		{"https://api.github.com/user", false},
		{"https://api.github.com/repos/../user", false},
		{"https://api.github.com/repos/%2e%2e/user", false},
		{"https://API.GitHub.com./repos/a", true},
		{"https://api.github.com:8443/repos/a", false},
		{"https://evil-api.github.com/repos/a", false},
		{"https://a.tides.example:8443/x", true},
		{"https://tides.example:8443/x", false},
		{"https://a.tides.example/x", false},
		{"http://plain.example/api/v1", true},
		{"http://plain.example/apix", false},
		{"ftp://api.github.com/repos/a", false},
	} {
		u, _ := url.Parse(tc.u)
		if got := c.AllowsURL(u); got != tc.want {
			t.Errorf("AllowsURL(%s) = %v, want %v", tc.u, got, tc.want)
		}
	}
}

func TestCapabilitiesAllowsFileBinarySecret(t *testing.T) {
	c := caps(t, "      files: {read: [\"notes/**\"], write: [\"out/*.md\"]}\n      bins: [gh, /usr/bin/jq]\n      secrets: [gh-token]\n      tools: [read]\n")
	for _, tc := range []struct {
		p     string
		write bool
		want  bool
	}{
		{"notes/a.md", false, true}, {"notes/x/y/z.md", false, true}, {"notes", false, true},
		{"notes/a.md", true, false}, {"out/r.md", true, true}, {"out/r.md", false, true},
		{"out/sub/r.md", true, false}, {"../notes/a.md", false, false}, {"/etc/passwd", false, false},
		{"notes/../secrets.json", false, false}, {"MEMORY.md", false, false},
	} {
		if got := c.AllowsFile(tc.p, tc.write); got != tc.want {
			t.Errorf("AllowsFile(%q, write=%v) = %v, want %v", tc.p, tc.write, got, tc.want)
		}
	}
	for _, tc := range []struct {
		bin  string
		want bool
	}{{"/usr/bin/gh", true}, {"/opt/x/gh", true}, {"/usr/bin/jq", true}, {"/usr/local/bin/jq", false}, {"/usr/bin/curl", false}} {
		if got := c.AllowsBinary(tc.bin); got != tc.want {
			t.Errorf("AllowsBinary(%s) = %v", tc.bin, got)
		}
	}
	if !c.AllowsSecret("gh-token") || c.AllowsSecret("aws") || !c.AllowsTool("read") || c.AllowsTool("exec") {
		t.Error("secret/tool checks")
	}
}

func TestCapabilitiesExceedsAndGrant(t *testing.T) {
	c := caps(t, "      network: [api.github.com, collector.example]\n      files: {write: [\"out/*\"]}\n      bins: [gh, curl]\n      secrets: [gh-token, aws-key]\n      env: [HOME]\n      tools: [exec, web_fetch, message]\n")
	p := AgentPolicy{Tools: []string{"exec", "web_fetch", "read"}, Bins: []string{"/usr/bin/gh", "jq"}, Hosts: []string{"api.github.com"}, Secrets: []string{"gh-token"}}
	ex := c.Exceeds(p)
	want := map[string]bool{"tools message": true, "bins curl": true, "network collector.example": true, "files.write out/*": true,
		"secrets aws-key": true, "env HOME": true}
	got := map[string]bool{}
	for _, e := range ex {
		got[e.Kind+" "+e.Item] = true
	}
	for k := range want {
		if !got[k] {
			t.Errorf("Exceeds misses %s (got %v)", k, ex)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("Exceeds reports %s, which the policy allows", k)
		}
	}
	g := Grant(c, p, false)
	if len(g.Bins) != 1 || g.Bins[0] != "gh" || len(g.Network) != 1 || len(g.Secrets) != 1 || g.AllowsTool("message") || len(g.FilesWrite) != 0 || len(g.Env) != 0 {
		t.Errorf("Grant widened the policy: %+v", g)
	}
	if len(g.Exceeds(p)) != 0 {
		t.Errorf("a grant exceeds the policy: %v", g.Exceeds(p))
	}
	r := Grant(c, p, true)
	if len(r.Bins)+len(r.Network)+len(r.Secrets)+len(r.Env) != 0 || r.AllowsTool("exec") || r.AllowsTool("web_fetch") {
		t.Errorf("restricted grant: %+v", r)
	}
	// Open web (no allowedHostnames) with web_fetch: any declared host fits.
	if ex := (Capabilities{Network: []NetTarget{{Host: "x.example"}}}).Exceeds(AgentPolicy{Tools: []string{"web_fetch"}}); len(ex) != 0 {
		t.Errorf("%v", ex)
	}
}

func TestDiffLines(t *testing.T) {
	a := caps(t, "      network: [a.example]\n      bins: [gh]\n")
	b := caps(t, "      network: [a.example, b.example/up]\n      secrets: [k]\n")
	d := Diff(a, b)
	if !d.Widens() {
		t.Fatal("adding a host and a secret does not widen")
	}
	lines := d.Lines()
	want := []string{"+ network b.example/up", "+ secrets k", "- bins gh"}
	if len(lines) != len(want) {
		t.Fatalf("%v", lines)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Fatalf("%v", lines)
		}
	}
	if Diff(b, a).Widens() != true || Diff(a, a).Widens() {
		t.Fatal("Widens")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"1.0.0", "1.0.0", 0}, {"1.0.0", "1.0.1", -1}, {"1.10.0", "1.9.0", 1}, {"2", "1.9.9", 1},
		{"1.0.0-rc.1", "1.0.0", -1}, {"1.0.0-rc.2", "1.0.0-rc.10", -1}, {"1.0", "1.0.0", -1}, {"1.0.0+b1", "1.0.0", 0},
	} {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%s, %s) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

func TestInvariant13_DowngradeRefused(t *testing.T) {
	m := NewManager(t.TempDir())
	key := mustKey(t)
	v2 := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "2.0.0", ""), nil, key)
	v1 := packed(t, t.TempDir(), "notes-digest", skillMD("notes-digest", "1.0.0", ""), nil, key)
	if _, err := m.Install(v2, InstallOptions{Source: "bundle"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Install(v1, InstallOptions{Source: "bundle"}); !errors.Is(err, ErrDowngrade) {
		t.Fatalf("downgrade: %v", err)
	}
	if _, err := m.Install(v1, InstallOptions{Source: "bundle", AllowDowngrade: true}); err != nil {
		t.Fatal(err)
	}
}

func TestCapabilitiesCheckAction(t *testing.T) {
	c := Grant(caps(t, "      network: [\"api.github.com/repos/\"]\n      files: {read: [\"notes/**\"], write: [\"out/*\"]}\n      bins: [gh]\n      secrets: [gh-token]\n      tools: [exec, web_fetch, read, write]\n"),
		AgentPolicy{Tools: []string{"exec", "web_fetch", "read", "write"}, Bins: []string{"/usr/bin/gh"}, Secrets: []string{"gh-token"}}, false)
	u := func(s string) *url.URL { x, _ := url.Parse(s); return x }
	for _, tc := range []struct {
		name string
		a    Action
		bad  int
	}{
		{"exec gh with its secret", Action{Tool: "exec", Binaries: []string{"/usr/bin/gh"}, Secrets: []string{"gh-token"}}, 0},
		{"exec curl", Action{Tool: "exec", Binaries: []string{"/usr/bin/curl"}}, 1},
		{"exec gh with another secret", Action{Tool: "exec", Binaries: []string{"/usr/bin/gh"}, Secrets: []string{"aws-key"}}, 1},
		{"fetch declared", Action{Tool: "web_fetch", URLs: []*url.URL{u("https://api.github.com/repos/a/b")}}, 0},
		{"fetch elsewhere", Action{Tool: "web_fetch", URLs: []*url.URL{u("https://collector.example/x")}}, 1},
		{"read outside", Action{Tool: "read", Reads: []string{"MEMORY.md"}}, 1},
		{"write declared", Action{Tool: "write", Writes: []string{"out/a.md"}}, 0},
		{"write into notes", Action{Tool: "write", Writes: []string{"notes/a.md"}}, 1},
		{"undeclared tool", Action{Tool: "message"}, 1},
	} {
		if got := c.Check(tc.a); len(got) != tc.bad {
			t.Errorf("%s: %v", tc.name, got)
		}
	}
	if r := Reason("gh", c.Check(Action{Tool: "message", Secrets: []string{"x"}})); r != "skill gh: tools message: the skill did not declare this tool (and 1 more)" {
		t.Errorf("reason %q", r)
	}
}
