package skills

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Capabilities are what a skill declares it may do, under
// metadata.talon.capabilities:
//
//	metadata:
//	  talon:
//	    capabilities:
//	      network: ["api.github.com/repos/", "*.example.com:8443"]
//	      files: { read: ["notes/**"], write: ["notes/*.md"] }
//	      env: ["GH_HOST"]
//	      secrets: ["github-token"]
//	      bins: ["gh"]
//	      tools: ["exec", "web_fetch"]
//
// What a skill does not declare it does not get. The values are data: the
// policy asks the Allows* methods, and Grant and Exceeds compare them with
// what the agent's configuration allows.
type Capabilities struct {
	Network    []NetTarget `json:"network,omitempty"`
	FilesRead  []string    `json:"filesRead,omitempty"`
	FilesWrite []string    `json:"filesWrite,omitempty"`
	Env        []string    `json:"env,omitempty"`
	Secrets    []string    `json:"secrets,omitempty"`
	Bins       []string    `json:"bins,omitempty"`
	Tools      []string    `json:"tools,omitempty"`
}

// NetTarget is one network destination: a host (exact, or "*.suffix" for
// the names below it), an optional port (0: 443 and 80) and an optional
// path prefix ("" or "/": any path).
type NetTarget struct {
	Host       string `json:"host"`
	Port       int    `json:"port,omitempty"`
	PathPrefix string `json:"pathPrefix,omitempty"`
}

func (t NetTarget) String() string {
	s := t.Host
	if t.Port != 0 {
		s += ":" + strconv.Itoa(t.Port)
	}
	return s + t.PathPrefix
}

// capJSON is the frontmatter form of Capabilities.
type capJSON struct {
	Network []string `json:"network"`
	Files   struct {
		Read  []string `json:"read"`
		Write []string `json:"write"`
	} `json:"files"`
	Env     []string `json:"env"`
	Secrets []string `json:"secrets"`
	Bins    []string `json:"bins"`
	Tools   []string `json:"tools"`
}

var (
	envNameRe    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	secretNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	binRe        = regexp.MustCompile(`^(/[A-Za-z0-9._+-]+)*/?[A-Za-z0-9._+-]+$`)
	toolRe       = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

func (j capJSON) compile() (Capabilities, error) {
	var c Capabilities
	var errs []error
	for _, s := range j.Network {
		t, err := ParseNetTarget(s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.Network = append(c.Network, t)
	}
	for _, g := range append(slices.Clone(j.Files.Read), j.Files.Write...) {
		if err := checkGlob(g); err != nil {
			errs = append(errs, err)
		}
	}
	c.FilesRead, c.FilesWrite = j.Files.Read, j.Files.Write
	check := func(kind string, re *regexp.Regexp, list []string) []string {
		for _, v := range list {
			if !re.MatchString(v) {
				errs = append(errs, fmt.Errorf("%s: %q is not a valid name", kind, v))
			}
		}
		return list
	}
	c.Env = check("env", envNameRe, j.Env)
	c.Secrets = check("secrets", secretNameRe, j.Secrets)
	c.Bins = check("bins", binRe, j.Bins)
	c.Tools = check("tools", toolRe, j.Tools)
	return c.normalized(), errors.Join(errs...)
}

// ParseNetTarget reads "host[:port][/path-prefix]" (an http:// or https://
// prefix is allowed and ignored).
func ParseNetTarget(s string) (NetTarget, error) {
	orig := s
	for _, p := range []string{"https://", "http://"} {
		s = strings.TrimPrefix(s, p)
	}
	var t NetTarget
	if i := strings.IndexByte(s, '/'); i >= 0 {
		t.PathPrefix = s[i:]
		s = s[:i]
	}
	host := s
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return t, fmt.Errorf("network: %q has a bad port", orig)
		}
		host, t.Port = h, n
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	name := strings.TrimPrefix(host, "*.")
	if name == "" || strings.ContainsAny(name, "*@?#% \t") || strings.Contains(name, "..") {
		return t, fmt.Errorf("network: %q is not host[:port][/path] (wildcards only as a leading \"*.\")", orig)
	}
	if strings.HasPrefix(host, "*.") && !strings.Contains(name, ".") {
		return t, fmt.Errorf("network: %q is too broad (a wildcard needs a domain with a dot)", orig)
	}
	if strings.Contains(t.PathPrefix, "..") || strings.ContainsAny(t.PathPrefix, "?#") {
		return t, fmt.Errorf("network: %q has a path prefix with \"..\", \"?\" or \"#\"", orig)
	}
	t.Host = host
	return t, nil
}

func checkGlob(g string) error {
	if g == "" || strings.HasPrefix(g, "/") || strings.HasPrefix(g, "~") || strings.Contains(g, "\\") {
		return fmt.Errorf("files: %q must be a workspace-relative glob", g)
	}
	for _, seg := range strings.Split(g, "/") {
		if seg == ".." {
			return fmt.Errorf("files: %q leaves the workspace", g)
		}
		if seg != "**" {
			if _, err := path.Match(seg, ""); err != nil {
				return fmt.Errorf("files: %q: %v", g, err)
			}
		}
	}
	return nil
}

func (c Capabilities) normalized() Capabilities {
	sortU := func(l []string) []string {
		if len(l) == 0 {
			return nil
		}
		l = slices.Clone(l)
		sort.Strings(l)
		return slices.Compact(l)
	}
	c.FilesRead, c.FilesWrite = sortU(c.FilesRead), sortU(c.FilesWrite)
	c.Env, c.Secrets, c.Bins, c.Tools = sortU(c.Env), sortU(c.Secrets), sortU(c.Bins), sortU(c.Tools)
	if len(c.Network) == 0 {
		c.Network = nil
	} else {
		c.Network = slices.Clone(c.Network)
		sort.Slice(c.Network, func(i, j int) bool { return c.Network[i].String() < c.Network[j].String() })
		c.Network = slices.Compact(c.Network)
	}
	return c
}

// Empty reports whether c declares nothing.
func (c Capabilities) Empty() bool {
	return len(c.Network)+len(c.FilesRead)+len(c.FilesWrite)+len(c.Env)+len(c.Secrets)+len(c.Bins)+len(c.Tools) == 0
}

// Restricted is what a skill without a trusted signature keeps: no exec
// (no binaries, no exec or process tool), no network, no environment and
// no secrets. File globs and harmless tools stay.
func (c Capabilities) Restricted() Capabilities {
	r := Capabilities{FilesRead: c.FilesRead, FilesWrite: c.FilesWrite}
	for _, t := range c.Tools {
		if !slices.Contains(restrictedTools, t) {
			r.Tools = append(r.Tools, t)
		}
	}
	return r.normalized()
}

// restrictedTools are the tools that execute, reach the network or carry
// data out; an untrusted unsigned skill loses them.
var restrictedTools = []string{"exec", "process", "web_fetch", "web_search", "message", "sessions_send", "cron"}

// AllowsURL reports whether a request to u is within the declared network
// targets. It does not replace netguard: the request still goes through it.
func (c Capabilities) AllowsURL(u *url.URL) bool {
	if u == nil || (u.Scheme != "https" && u.Scheme != "http") {
		return false
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	port := u.Port()
	p := 443
	if u.Scheme == "http" {
		p = 80
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil {
			return false
		}
		p = n
	}
	reqPath := u.EscapedPath()
	if reqPath == "" {
		reqPath = "/"
	}
	if strings.Contains(reqPath, "..") || strings.Contains(strings.ToLower(reqPath), "%2e") {
		return false
	}
	for _, t := range c.Network {
		if !hostMatches(t.Host, host) {
			continue
		}
		if t.Port == 0 && p != 443 && p != 80 || t.Port != 0 && t.Port != p {
			continue
		}
		if prefixMatches(t.PathPrefix, reqPath) {
			return true
		}
	}
	return false
}

func hostMatches(pattern, host string) bool {
	if suf, ok := strings.CutPrefix(pattern, "*."); ok {
		return strings.HasSuffix(host, "."+suf)
	}
	return pattern == host
}

// prefixMatches: "/api" matches "/api", "/api/..." but not "/apix".
func prefixMatches(prefix, p string) bool {
	if prefix == "" || prefix == "/" {
		return true
	}
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix) || p == strings.TrimSuffix(prefix, "/")
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

// AllowsBinary reports whether the skill declared the program: resolved
// is the absolute path the exec plan resolved. A declared name matches a
// program of that base name; a declared absolute path matches exactly.
func (c Capabilities) AllowsBinary(resolved string) bool {
	for _, b := range c.Bins {
		if strings.HasPrefix(b, "/") {
			if b == resolved {
				return true
			}
		} else if path.Base(resolved) == b {
			return true
		}
	}
	return false
}

// AllowsFile reports whether the workspace-relative path rel matches the
// declared read (or, with write, write) globs. Write globs also allow
// reading. "**" matches any number of segments.
func (c Capabilities) AllowsFile(rel string, write bool) bool {
	rel = path.Clean(strings.TrimPrefix(rel, "./"))
	if rel == "." || strings.HasPrefix(rel, "../") || rel == ".." || path.IsAbs(rel) {
		return false
	}
	globs := c.FilesWrite
	if !write {
		globs = append(slices.Clone(c.FilesRead), c.FilesWrite...)
	}
	for _, g := range globs {
		if MatchGlob(g, rel) {
			return true
		}
	}
	return false
}

// MatchGlob matches a slash-separated path against a glob where "**" is
// any number (zero included) of segments and other segments follow
// path.Match.
func MatchGlob(glob, p string) bool {
	return matchSegs(strings.Split(glob, "/"), strings.Split(p, "/"))
}

func matchSegs(g, p []string) bool {
	for len(g) > 0 {
		if g[0] == "**" {
			for i := 0; i <= len(p); i++ {
				if matchSegs(g[1:], p[i:]) {
					return true
				}
			}
			return false
		}
		if len(p) == 0 {
			return false
		}
		if ok, _ := path.Match(g[0], p[0]); !ok {
			return false
		}
		g, p = g[1:], p[1:]
	}
	return len(p) == 0
}

// AllowsSecret reports whether the skill declared the secret name.
func (c Capabilities) AllowsSecret(name string) bool { return slices.Contains(c.Secrets, name) }

// AllowsEnv reports whether the skill declared the environment variable.
func (c Capabilities) AllowsEnv(name string) bool { return slices.Contains(c.Env, name) }

// AllowsTool reports whether the skill declared the tool.
func (c Capabilities) AllowsTool(name string) bool { return slices.Contains(c.Tools, name) }

// CapDiff is how one set of capabilities differs from another.
type CapDiff struct {
	Added   Capabilities `json:"added"`
	Removed Capabilities `json:"removed"`
}

// Diff returns what next adds to and removes from prev.
func Diff(prev, next Capabilities) CapDiff {
	sub := func(a, b []string) []string {
		var out []string
		for _, x := range a {
			if !slices.Contains(b, x) {
				out = append(out, x)
			}
		}
		return out
	}
	subN := func(a, b []NetTarget) []NetTarget {
		var out []NetTarget
		for _, x := range a {
			if !slices.Contains(b, x) {
				out = append(out, x)
			}
		}
		return out
	}
	return CapDiff{
		Added: Capabilities{Network: subN(next.Network, prev.Network), FilesRead: sub(next.FilesRead, prev.FilesRead),
			FilesWrite: sub(next.FilesWrite, prev.FilesWrite), Env: sub(next.Env, prev.Env), Secrets: sub(next.Secrets, prev.Secrets),
			Bins: sub(next.Bins, prev.Bins), Tools: sub(next.Tools, prev.Tools)},
		Removed: Capabilities{Network: subN(prev.Network, next.Network), FilesRead: sub(prev.FilesRead, next.FilesRead),
			FilesWrite: sub(prev.FilesWrite, next.FilesWrite), Env: sub(prev.Env, next.Env), Secrets: sub(prev.Secrets, next.Secrets),
			Bins: sub(prev.Bins, next.Bins), Tools: sub(prev.Tools, next.Tools)},
	}
}

// Widens reports whether the diff adds anything.
func (d CapDiff) Widens() bool { return !d.Added.Empty() }

// Lines renders the diff for a person: "+ network api.example.com/v1".
func (d CapDiff) Lines() []string {
	var out []string
	emit := func(sign string, c Capabilities) {
		for _, t := range c.Network {
			out = append(out, sign+" network "+t.String())
		}
		for _, kv := range []struct {
			k string
			v []string
		}{{"files.read", c.FilesRead}, {"files.write", c.FilesWrite}, {"env", c.Env}, {"secrets", c.Secrets}, {"bins", c.Bins}, {"tools", c.Tools}} {
			for _, x := range kv.v {
				out = append(out, sign+" "+kv.k+" "+x)
			}
		}
	}
	emit("+", d.Added)
	emit("-", d.Removed)
	return out
}

// AgentPolicy is what the owner's configuration lets one agent do, in the
// terms capabilities are compared in. The policy builds it from the config
// (tools.*, agents.list[], tools.exec allowlist and safeBins, tools.web
// allowedHostnames, the secrets store's names).
type AgentPolicy struct {
	// Tools are the tools enabled for the agent.
	Tools []string
	// Bins are the exec allowlist's resolved-path globs and safe bins'
	// names: what exec may run without asking.
	Bins []string
	// Hosts are tools.web.fetch.allowedHostnames; empty with web_fetch
	// enabled means any public host.
	Hosts []string
	// Secrets are the secret names the owner has stored.
	Secrets []string
	// WorkspaceOnly is tools.fs.workspaceOnly.
	WorkspaceOnly bool
}

// Excess is one declared capability the agent's policy does not allow.
type Excess struct {
	Kind   string `json:"kind"`
	Item   string `json:"item"`
	Reason string `json:"reason"`
}

func (e Excess) String() string { return e.Kind + " " + e.Item + ": " + e.Reason }

// Exceeds lists the declared capabilities the agent's policy does not
// allow. Activating a skill reports them; it never grants them.
func (c Capabilities) Exceeds(p AgentPolicy) []Excess {
	var out []Excess
	has := func(t string) bool { return slices.Contains(p.Tools, t) }
	for _, t := range c.Tools {
		if !has(t) {
			out = append(out, Excess{"tools", t, "the tool is not enabled for this agent (tools.profile, tools.allow/deny, agents.list[].tools)"})
		}
	}
	for _, b := range c.Bins {
		if !has("exec") {
			out = append(out, Excess{"bins", b, "exec is not enabled for this agent"})
			continue
		}
		if !binCovered(b, p.Bins) {
			out = append(out, Excess{"bins", b, "not in tools.exec.allowlist or safeBins (it would need an approval each time)"})
		}
	}
	for _, t := range c.Network {
		if !has("web_fetch") {
			out = append(out, Excess{"network", t.String(), "web_fetch is not enabled for this agent"})
			continue
		}
		if len(p.Hosts) > 0 && !hostCovered(t, p.Hosts) {
			out = append(out, Excess{"network", t.String(), "not in tools.web.fetch.allowedHostnames"})
		}
	}
	if len(c.FilesWrite) > 0 && !has("write") && !has("edit") && !has("apply_patch") {
		for _, g := range c.FilesWrite {
			out = append(out, Excess{"files.write", g, "no file-writing tool is enabled for this agent"})
		}
	}
	for _, s := range c.Secrets {
		if !slices.Contains(p.Secrets, s) {
			out = append(out, Excess{"secrets", s, "no such secret is stored (talon secrets set)"})
		}
	}
	for _, e := range c.Env {
		out = append(out, Excess{"env", e, "Talon passes no environment to commands; store the value as a secret"})
	}
	return out
}

func binCovered(b string, allowed []string) bool {
	for _, a := range allowed {
		if strings.HasPrefix(b, "/") {
			if ok, _ := path.Match(a, b); ok || a == b {
				return true
			}
			continue
		}
		if a == b || path.Base(a) == b {
			return true
		}
		if strings.HasPrefix(a, "/") {
			if ok, _ := path.Match(a, path.Join(path.Dir(a), b)); ok {
				return true
			}
		}
	}
	return false
}

func hostCovered(t NetTarget, hosts []string) bool {
	for _, h := range hosts {
		hp, port := h, 0
		if hh, ps, err := net.SplitHostPort(h); err == nil {
			hp = hh
			port, _ = strconv.Atoi(ps)
		}
		hp = strings.ToLower(hp)
		if port != 0 && port != t.Port {
			continue
		}
		if strings.HasPrefix(t.Host, "*.") {
			if hp == t.Host {
				return true
			}
			continue
		}
		if hostMatches(hp, t.Host) {
			return true
		}
	}
	return false
}

// Grant is what a skill's actions may use: its declared capabilities
// (restricted when the skill is neither signed-and-verified nor trusted)
// minus everything in Exceeds. It never holds anything the policy does not
// already allow.
func Grant(c Capabilities, p AgentPolicy, restricted bool) Capabilities {
	if restricted {
		c = c.Restricted()
	}
	ex := c.Exceeds(p)
	drop := map[string]bool{}
	for _, e := range ex {
		drop[e.Kind+"\x00"+e.Item] = true
	}
	keep := func(kind string, l []string) []string {
		var out []string
		for _, x := range l {
			if !drop[kind+"\x00"+x] {
				out = append(out, x)
			}
		}
		return out
	}
	g := Capabilities{FilesRead: c.FilesRead, FilesWrite: keep("files.write", c.FilesWrite), Env: keep("env", c.Env),
		Secrets: keep("secrets", c.Secrets), Bins: keep("bins", c.Bins), Tools: keep("tools", c.Tools)}
	for _, t := range c.Network {
		if !drop["network\x00"+t.String()] {
			g.Network = append(g.Network, t)
		}
	}
	return g.normalized()
}
