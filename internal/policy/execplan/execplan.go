// Package execplan decides shell commands the agent asks to run.
//
// Invariant 5 (DESIGN.md §3): exec is decided on the canonical argv that will
// actually run, parsed with a real shell parser (mvdan.cc/sh, bash dialect),
// never on the raw string. Chaining is allowed only if every segment is
// allowed; command and process substitution, parameter expansion, globs in
// the command position and file redirections are refused in allowlist mode;
// binaries are matched by their resolved absolute path, never by basename;
// PATH, LD_*, DYLD_* and similar overrides are refused in every mode; and the
// Plan's Hash binds an approval to exactly the plan that was analysed.
//
// Verdicts: "allow" runs; "miss" needs an explicit approval, which binds to
// Plan.Hash; "deny" never runs and no approval overrides it. In "full"
// security mode only the always-denied constructs stay denied: env overrides
// (PATH, LD_*, DYLD_*, BASH_ENV, ENV, IFS, PS4, SHELLOPTS, PROMPT_COMMAND,
// GCONV_PATH …), env -S, function definitions, eval/exec/source and other
// builtins that run code or change command resolution, background jobs and
// coprocesses, NUL bytes and oversized input. "deny" mode denies everything.
//
// Analyze never executes anything and reads the file system only through
// Config.LookPath. The caller must run the command with bash (the dialect
// this package parses; dash and zsh parse some words differently), with
// the cwd and PATH it passed here and a scrubbed environment (no exported
// functions, no BASH_ENV), and must refuse to run it unless the verdict is
// "allow" or an approval bound to the same Hash exists.
package execplan

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Verdicts of a Segment and of a Plan.
const (
	Allow = "allow" // runs without asking
	Miss  = "miss"  // not on the allowlist: the caller asks for approval
	Deny  = "deny"  // structurally forbidden: never runs, approval cannot override
)

// Security modes of Config.Security.
const (
	SecurityDeny      = "deny"
	SecurityAllowlist = "allowlist"
	SecurityFull      = "full"
)

// MaxCommandLen bounds the raw command length; longer commands are denied
// without parsing.
const MaxCommandLen = 64 << 10

// maxDepth bounds the nesting of wrappers (nice nohup timeout …) and of
// substitutions that are analysed as their own segments.
const maxDepth = 16

// Config is the exec policy for one agent.
type Config struct {
	// Security is "deny" (nothing runs), "allowlist" (only allowlisted
	// binaries and stdin-only safe bins) or "full" (everything except the
	// always-denied constructs).
	Security string
	// Allowlist holds case-insensitive globs (path.Match syntax) over
	// resolved absolute paths, such as "/usr/bin/git" or "/usr/local/bin/*".
	// Entries without a "/" are ignored: a basename says nothing about which
	// file runs.
	Allowlist []string
	// SafeBins are basenames (jq grep cut sort uniq head tail tr wc) allowed
	// without an allowlist entry when they only read stdin: no file operands
	// and no options that name files. They must be invoked by bare name and
	// resolve through PATH. Interpreters and command runners are never safe
	// bins, whatever this list says.
	SafeBins []string
	// PATH is the search path for bare command names (the sandbox PATH).
	// The process PATH is never used. Relative entries are ignored.
	PATH string
	// LookPath resolves a command name (bare, or an absolute path) against
	// path. Nil means a real lookup that also resolves symlinks, so an
	// allowlist entry matches the file that actually runs.
	LookPath func(name, path string) (string, error)
}

// Segment is one simple command of the command line.
type Segment struct {
	Argv     []string // canonical argv after quote removal; non-literal words appear as shell source
	Resolved string   // absolute path of argv[0], "" if unresolved or a shell builtin
	Env      []string // leading VAR=val assignments (and env(1) assignments for a wrapped command)
	Verdict  string   // Allow, Miss or Deny
	Reason   string   // first deny (else miss) reason; empty when allowed
}

// Plan is the analysis of one command line.
type Plan struct {
	Raw      string
	Segments []Segment // every simple command, in order, across && || ; | subshells, groups, loops and wrappers
	Verdict  string    // Allow if every segment is allowed; Deny if anything is forbidden; else Miss
	Reason   string    // first deny reason, else first miss reason
	Hash     string    // sha256 hex of the canonical plan: structure, cwd, and every segment's resolved path, argv and env
}

// severity of a finding. In full mode only sevAlways survives.
type severity int

const (
	sevMiss   severity = iota // needs approval in allowlist mode
	sevDeny                   // forbidden in allowlist mode
	sevAlways                 // forbidden in every mode
)

type finding struct {
	sev    severity
	reason string
}

// Analyze parses command as bash and decides it under c, with cwd as the
// working directory it will run in. The error is non-nil only when the
// command cannot be parsed; the caller treats that as deny.
func Analyze(command, cwd string, c Config) (*Plan, error) {
	p := &Plan{Raw: command}
	a := &analyzer{cfg: c, cwd: cwd, plan: p, full: c.Security == SecurityFull, cur: -1}
	if a.cfg.LookPath == nil {
		a.cfg.LookPath = realLookPath
	}

	switch {
	case len(command) > MaxCommandLen:
		a.planFinding(sevAlways, fmt.Sprintf("command is longer than %d bytes", MaxCommandLen))
		return a.finish(command), nil
	case strings.IndexByte(command, 0) >= 0:
		a.planFinding(sevAlways, "command contains a NUL byte")
		return a.finish(command), nil
	}

	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(command), "")
	if err != nil {
		return nil, fmt.Errorf("exec: cannot parse command: %w", err)
	}
	if len(f.Stmts) == 0 {
		// Nothing to run, nothing to approve.
		a.planFinding(sevAlways, "empty command")
	}
	a.hasCd = containsCd(f)
	a.stmts(f.Stmts, 0)
	if len(f.Stmts) > 0 && len(a.plan.Segments) == 0 {
		a.planFinding(sevDeny, "command runs no program")
	}

	var canon strings.Builder
	if err := syntax.NewPrinter().Print(&canon, f); err != nil {
		// Printing a tree the parser produced does not fail; if it ever
		// does, bind the hash to the raw text instead.
		canon.Reset()
		canon.WriteString(command)
	}
	return a.finish(canon.String()), nil
}

type analyzer struct {
	cfg   Config
	cwd   string
	full  bool
	hasCd bool // a cd/pushd/popd anywhere: relative command paths cannot be resolved
	plan  *Plan

	planFindings []finding // structural findings outside any simple command
	segFindings  [][]finding
	cur          int // index of the segment being analysed, -1 outside one
}

func (a *analyzer) planFinding(sev severity, reason string) {
	a.planFindings = append(a.planFindings, finding{sev, reason})
}

// add records a finding on the current simple command, or on the plan.
func (a *analyzer) add(sev severity, reason string) {
	if a.cur >= 0 {
		a.segFindings[a.cur] = append(a.segFindings[a.cur], finding{sev, reason})
		return
	}
	a.planFinding(sev, reason)
}

// finish computes verdicts and the hash.
func (a *analyzer) finish(canon string) *Plan {
	p := a.plan
	verdictOf := func(fs []finding) (string, string) {
		if a.cfg.Security == SecurityDeny {
			return Deny, "exec is disabled (security=deny)"
		}
		if a.cfg.Security != SecurityAllowlist && a.cfg.Security != SecurityFull {
			return Deny, fmt.Sprintf("unknown exec security mode %q", a.cfg.Security)
		}
		best, reason := Allow, ""
		for _, f := range fs {
			if a.full && f.sev != sevAlways {
				continue
			}
			if f.sev >= sevDeny {
				if best != Deny {
					best, reason = Deny, f.reason
				}
			} else if best == Allow {
				best, reason = Miss, f.reason
			}
		}
		return best, reason
	}
	rank := map[string]int{Allow: 0, Miss: 1, Deny: 2}
	p.Verdict, p.Reason = verdictOf(a.planFindings)
	for i := range p.Segments {
		s := &p.Segments[i]
		s.Verdict, s.Reason = verdictOf(a.segFindings[i])
		if rank[s.Verdict] > rank[p.Verdict] {
			p.Verdict, p.Reason = s.Verdict, s.Reason
		}
	}
	p.Hash = hashPlan(canon, a.cwd, p.Segments)
	return p
}

// hashPlan is sha256 over length-prefixed fields, so no two different plans
// share an encoding.
func hashPlan(canon, cwd string, segs []Segment) string {
	h := sha256.New()
	var n [8]byte
	put := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	put("talon-execplan-v1")
	put(cwd)
	put(canon)
	for _, s := range segs {
		put("seg")
		put(s.Resolved)
		put(fmt.Sprint(len(s.Argv)))
		for _, w := range s.Argv {
			put(w)
		}
		put(fmt.Sprint(len(s.Env)))
		for _, e := range s.Env {
			put(e)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// stmts walks a statement list.
func (a *analyzer) stmts(list []*syntax.Stmt, depth int) {
	for _, s := range list {
		a.stmt(s, depth)
	}
}

func (a *analyzer) stmt(s *syntax.Stmt, depth int) {
	if s == nil {
		return
	}
	if depth > maxDepth {
		a.add(sevAlways, "command is nested too deeply")
		return
	}
	if s.Background || s.Disown {
		a.planFinding(sevAlways, "background jobs (&) are not allowed")
	}
	if s.Coprocess {
		a.planFinding(sevAlways, "coprocesses are not allowed")
	}
	// Redirections of a compound command (or a bare "> file") belong to
	// the plan; those of a simple command to its segment (see callExpr).
	if _, simple := s.Cmd.(*syntax.CallExpr); !simple {
		saved := a.cur
		a.cur = -1
		a.redirs(s.Redirs, depth)
		a.cur = saved
	}

	switch c := s.Cmd.(type) {
	case nil:
		// Redirections only, such as "> file".
		if len(s.Redirs) == 0 {
			a.planFinding(sevAlways, "empty statement")
		}
	case *syntax.CallExpr:
		a.callExpr(c, s.Redirs, depth)
	case *syntax.BinaryCmd:
		// Not a nesting level: long pipelines and && chains are fine.
		a.stmt(c.X, depth)
		a.stmt(c.Y, depth)
	case *syntax.Subshell:
		a.stmts(c.Stmts, depth+1)
	case *syntax.Block:
		a.stmts(c.Stmts, depth+1)
	case *syntax.IfClause:
		for ic := c; ic != nil; ic = ic.Else {
			a.stmts(ic.Cond, depth+1)
			a.stmts(ic.Then, depth+1)
		}
	case *syntax.WhileClause:
		a.stmts(c.Cond, depth+1)
		a.stmts(c.Do, depth+1)
	case *syntax.ForClause:
		switch l := c.Loop.(type) {
		case *syntax.WordIter:
			if isDangerousVar(l.Name.Value) {
				a.planFinding(sevAlways, fmt.Sprintf("setting %s is not allowed", l.Name.Value))
			}
			for _, w := range l.Items {
				a.word(w, depth, wordArg)
			}
		case *syntax.CStyleLoop:
			a.planFinding(sevDeny, "arithmetic for loops are not allowed")
			a.walkNested(l, depth)
		}
		a.stmts(c.Do, depth+1)
	case *syntax.CaseClause:
		a.word(c.Word, depth, wordArg)
		for _, it := range c.Items {
			for _, p := range it.Patterns {
				a.word(p, depth, wordPattern)
			}
			a.stmts(it.Stmts, depth+1)
		}
	case *syntax.FuncDecl:
		a.planFinding(sevAlways, "function definitions are not allowed")
		a.stmt(c.Body, depth+1)
	case *syntax.ArithmCmd:
		a.planFinding(sevDeny, "arithmetic commands ((…)) are not allowed")
		a.walkNested(c, depth)
	case *syntax.TestClause:
		// [[ a -eq b ]] evaluates variable contents as arithmetic, which
		// can run command substitutions hidden in variable values.
		a.planFinding(sevDeny, "[[ … ]] test commands are not allowed")
		a.walkNested(c, depth)
	case *syntax.DeclClause:
		a.planFinding(sevDeny, fmt.Sprintf("%s changes shell state and is not allowed", c.Variant.Value))
		for _, as := range c.Args {
			a.assign(as, depth, false)
		}
	case *syntax.LetClause:
		a.planFinding(sevDeny, "let is not allowed")
		a.walkNested(c, depth)
	case *syntax.TimeClause:
		a.stmt(c.Stmt, depth+1)
	case *syntax.CoprocClause:
		a.planFinding(sevAlways, "coprocesses are not allowed")
		a.stmt(c.Stmt, depth+1)
	default:
		a.planFinding(sevAlways, fmt.Sprintf("unsupported shell construct %T", c))
	}
}

// walkNested finds substitutions anywhere under n and analyses their
// statements, so that always-denied constructs inside them are found in
// full mode too.
func (a *analyzer) walkNested(n syntax.Node, depth int) {
	syntax.Walk(n, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst:
			a.add(sevDeny, "command substitution $(…) is not allowed")
			a.nested(n.Stmts, depth)
			return false
		case *syntax.ProcSubst:
			a.add(sevDeny, "process substitution <(…) >(…) is not allowed")
			a.nested(n.Stmts, depth)
			return false
		}
		return true
	})
}

// nested analyses statements inside a substitution as segments of their own.
func (a *analyzer) nested(list []*syntax.Stmt, depth int) {
	saved := a.cur
	a.cur = -1
	a.stmts(list, depth+1)
	a.cur = saved
}

// redirs checks redirections: only duplication of one numeric fd onto
// another (2>&1, >&2, 2>&-) is allowed in allowlist mode.
func (a *analyzer) redirs(rs []*syntax.Redirect, depth int) {
	for _, r := range rs {
		if r.N != nil && !isDigits(r.N.Value) {
			a.add(sevDeny, "redirections to named file descriptors are not allowed")
		}
		switch r.Op {
		case syntax.DplOut, syntax.DplIn:
			if lit, ok := a.word(r.Word, depth, wordRedir); !ok || !(isDigits(lit) || lit == "-") {
				a.add(sevDeny, "redirection "+r.Op.String()+" to a file is not allowed")
			}
		case syntax.Hdoc, syntax.DashHdoc, syntax.WordHdoc:
			a.add(sevDeny, "here-documents and here-strings are not allowed")
			if r.Word != nil {
				a.word(r.Word, depth, wordRedir)
			}
			if r.Hdoc != nil {
				a.walkNested(r.Hdoc, depth)
			}
		default:
			a.add(sevDeny, "file redirection "+r.Op.String()+" is not allowed")
			if r.Word != nil {
				a.word(r.Word, depth, wordRedir)
			}
		}
	}
}

// callExpr analyses one simple command.
func (a *analyzer) callExpr(c *syntax.CallExpr, redirs []*syntax.Redirect, depth int) {
	idx := a.newSegment()
	saved := a.cur
	a.cur = idx
	defer func() { a.cur = saved }()

	a.redirs(redirs, depth)
	var env []string
	for _, as := range c.Assigns {
		env = append(env, a.assign(as, depth, true))
	}
	var argv []string
	cmdLiteral := true
	for i, w := range c.Args {
		kind := wordArg
		if i == 0 {
			kind = wordCmd
		}
		lit, ok := a.word(w, depth, kind)
		if !ok {
			lit = printNode(w)
			if i == 0 {
				cmdLiteral = false
			}
		}
		argv = append(argv, lit)
	}
	a.plan.Segments[idx].Argv = argv
	a.plan.Segments[idx].Env = env
	if len(argv) == 0 {
		if len(env) == 0 && len(redirs) == 0 {
			a.add(sevAlways, "empty command")
		}
		return
	}
	if !cmdLiteral {
		return // already denied by word()
	}
	a.command(idx, a.cwd, "", depth, false, false)
}

func (a *analyzer) newSegment() int {
	a.plan.Segments = append(a.plan.Segments, Segment{})
	a.segFindings = append(a.segFindings, nil)
	return len(a.plan.Segments) - 1
}

// assign checks one VAR=val assignment and returns it as "NAME=value".
// prefix is true for assignments in front of a command (or alone).
func (a *analyzer) assign(as *syntax.Assign, depth int, prefix bool) string {
	name := ""
	if as.Name != nil {
		name = as.Name.Value
	}
	if isDangerousVar(name) {
		a.add(sevAlways, fmt.Sprintf("setting %s is not allowed", name))
	}
	if as.Index != nil {
		a.add(sevDeny, "array subscript assignments are not allowed")
		a.walkNested(as.Index, depth)
	}
	val := ""
	switch {
	case as.Array != nil:
		a.add(sevDeny, "array assignments are not allowed")
		a.walkNested(as.Array, depth)
		val = printNode(as.Array)
	case as.Value != nil:
		lit, ok := a.word(as.Value, depth, wordAssign)
		if !ok {
			lit = printNode(as.Value)
		}
		val = lit
	}
	if prefix {
		a.add(sevMiss, fmt.Sprintf("environment assignment %s= needs approval", name))
	}
	op := "="
	if as.Append {
		op = "+="
	}
	if as.Naked {
		return name
	}
	return name + op + val
}

// command classifies the segment at idx, whose Argv and Env are set and
// literal. root, when not empty, is a chroot directory for resolution.
func (a *analyzer) command(idx int, cwd, root string, depth int, wrapped bool, openArgs bool) {
	if depth > maxDepth {
		a.add(sevAlways, "command is nested too deeply")
		return
	}
	seg := &a.plan.Segments[idx]
	argv := seg.Argv
	name := argv[0]
	if name == "" {
		a.add(sevMiss, "empty command name: not found")
		return
	}

	if !strings.Contains(name, "/") && !wrapped {
		if r, sev, ok := builtinRule(argv); ok {
			if r != "" {
				a.add(sev, r)
			}
			return
		}
	}

	resolved, err := a.resolve(name, cwd, root)
	if err != nil {
		a.add(sevMiss, err.Error())
	}
	seg.Resolved = resolved

	rule := a.special(argv, resolved, depth)
	for _, f := range rule.findings {
		a.add(f.sev, f.reason)
	}
	if openArgs && rule.runner {
		// xargs appends arguments read from stdin, and this command's
		// arguments decide what it runs (git -c, find -exec, env …).
		a.add(sevMiss, fmt.Sprintf("%s gets arguments from xargs that cannot be checked; needs approval", name))
	}
	for _, w := range rule.wrapped {
		a.addWrapped(w, cwd, depth)
	}
	if resolved == "" || rule.decided {
		return
	}
	if a.allowlisted(resolved) {
		return
	}
	if !rule.runner && !strings.Contains(name, "/") && !wrapped {
		if bin, ok := a.safeBin(name); ok {
			if r := safeBinMisuse(bin, argv[1:]); r != "" {
				a.add(sevMiss, r)
			}
			return
		}
	}
	a.add(sevMiss, fmt.Sprintf("%s is not on the allowlist", resolved))
}

// addWrapped appends the command a wrapper runs as a segment of its own.
func (a *analyzer) addWrapped(w *wrappedCmd, cwd string, depth int) {
	saved := a.cur
	idx := a.newSegment()
	a.plan.Segments[idx].Argv = w.argv
	a.plan.Segments[idx].Env = w.env
	a.cur = idx
	for _, f := range w.findings {
		a.add(f.sev, f.reason)
	}
	if w.cwd != "" {
		cwd = w.cwd
	}
	if len(w.argv) > 0 {
		a.command(idx, cwd, w.root, depth+1, true, w.openArgs)
	}
	a.cur = saved
}

// resolve turns argv[0] into an absolute path.
func (a *analyzer) resolve(name, cwd, root string) (string, error) {
	if strings.Contains(name, "/") {
		p := name
		if root != "" && !filepath.IsAbs(p) {
			p = "/" + p // chroot changes into the new root
		}
		if !filepath.IsAbs(p) {
			if a.hasCd {
				return "", fmt.Errorf("%s: relative command path after cd: not found", name)
			}
			if !filepath.IsAbs(cwd) {
				return "", fmt.Errorf("%s: relative command path without an absolute cwd: not found", name)
			}
			p = filepath.Join(cwd, p)
		}
		p = filepath.Clean(p)
		if root != "" {
			p = filepath.Join(root, p)
		}
		r, err := a.cfg.LookPath(p, "")
		if err != nil || !filepath.IsAbs(r) {
			return "", fmt.Errorf("%s: not found", name)
		}
		return filepath.Clean(r), nil
	}
	// Search entry by entry, as the shell does: the first hit wins, so a
	// relative entry matters only if it comes before the hit.
	entries := filepath.SplitList(a.cfg.PATH)
	if len(entries) == 0 {
		return "", fmt.Errorf("%s: not found (empty PATH)", name)
	}
	for _, d := range entries {
		if !filepath.IsAbs(d) {
			// The shell searches a relative entry ("" means ".") from the
			// current directory, so we must too, unless we cannot know it.
			if root != "" || a.hasCd || !filepath.IsAbs(cwd) {
				return "", fmt.Errorf("%s: PATH entry %q is relative and cannot be resolved here: not found", name, d)
			}
			d = filepath.Join(cwd, d)
		}
		r, err := a.cfg.LookPath(name, filepath.Join(root, d))
		if err == nil && filepath.IsAbs(r) {
			return filepath.Clean(r), nil
		}
	}
	return "", fmt.Errorf("%s: not found", name)
}

// realLookPath looks name up in dirs (or checks it, if it is a path) and
// resolves symlinks, so the allowlist matches the file that will run.
func realLookPath(name, dirs string) (string, error) {
	if strings.Contains(name, "/") {
		if _, err := exec.LookPath(name); err != nil {
			return "", err
		}
		return filepath.EvalSymlinks(name)
	}
	for _, d := range filepath.SplitList(dirs) {
		p := filepath.Join(d, name)
		if _, err := exec.LookPath(p); err == nil {
			return filepath.EvalSymlinks(p)
		}
	}
	return "", exec.ErrNotFound
}

func (a *analyzer) allowlisted(resolved string) bool {
	lp := strings.ToLower(resolved)
	for _, g := range a.cfg.Allowlist {
		if !strings.Contains(g, "/") {
			continue
		}
		if ok, err := path.Match(strings.ToLower(g), lp); err == nil && ok {
			return true
		}
	}
	return false
}

func (a *analyzer) safeBin(name string) (string, bool) {
	for _, b := range a.cfg.SafeBins {
		if b == name {
			if _, known := safeBinSpecs[name]; known {
				return name, true
			}
		}
	}
	return "", false
}

// containsCd reports whether the program changes directory anywhere.
func containsCd(f *syntax.File) bool {
	found := false
	syntax.Walk(f, func(n syntax.Node) bool {
		if c, ok := n.(*syntax.CallExpr); ok && len(c.Args) > 0 {
			if v, ok := literal(c.Args[0]); ok {
				switch path.Base(v) {
				case "cd", "pushd", "popd":
					found = true
				}
			}
		}
		return !found
	})
	return found
}

func printNode(n syntax.Node) string {
	var b strings.Builder
	if err := syntax.NewPrinter().Print(&b, n); err != nil {
		return "<unprintable>"
	}
	return b.String()
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
