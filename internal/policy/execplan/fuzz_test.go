package execplan

import (
	"fmt"
	"path"
	"strings"
	"testing"
	"time"

	"mvdan.cc/sh/v3/syntax"
)

// checkAllowedPlan verifies, independently of the analyser's own logic,
// what an allowed plan in allowlist mode must satisfy:
//   - the raw command parses, and its syntax tree has no expansion
//     ($…, `…`, $((…)), <(…), >(…), extended globs) and no redirection
//     other than fd duplication. A '$', '`', '<' or '>' that survives in an
//     argv word was therefore quoted: a literal byte, not shell syntax (the
//     parser rejects unbalanced quotes, so an allowed plan has none);
//   - no background job, function definition or coprocess;
//   - every segment either resolved to a path the allowlist matches, or is a
//     safe bin invoked by bare name, or is a no-op builtin.
func checkAllowedPlan(t testing.TB, p *Plan, c Config) {
	t.Helper()
	f, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(p.Raw), "")
	if err != nil {
		t.Fatalf("allowed plan %q does not parse: %v", p.Raw, err)
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.CmdSubst, *syntax.ProcSubst, *syntax.ParamExp, *syntax.ArithmExp, *syntax.ExtGlob,
			*syntax.FuncDecl, *syntax.CoprocClause, *syntax.ArithmCmd, *syntax.TestClause, *syntax.DeclClause:
			t.Fatalf("allowed plan %q contains %T", p.Raw, n)
		case *syntax.SglQuoted:
			if n.Dollar {
				t.Fatalf("allowed plan %q contains $'…'", p.Raw)
			}
		case *syntax.Redirect:
			if n.Op != syntax.DplOut && n.Op != syntax.DplIn {
				t.Fatalf("allowed plan %q has redirection %s", p.Raw, n.Op)
			}
		case *syntax.Stmt:
			if n.Background || n.Coprocess || n.Disown {
				t.Fatalf("allowed plan %q runs in the background", p.Raw)
			}
		case *syntax.CallExpr:
			if len(n.Assigns) > 0 {
				t.Fatalf("allowed plan %q has an environment assignment", p.Raw)
			}
		}
		return true
	})
	if len(p.Segments) == 0 {
		t.Fatalf("allowed plan %q has no segments", p.Raw)
	}
	for _, s := range p.Segments {
		if s.Verdict != Allow {
			t.Fatalf("allowed plan %q has a %s segment %+v", p.Raw, s.Verdict, s)
		}
		if len(s.Argv) == 0 {
			t.Fatalf("allowed plan %q has an empty segment", p.Raw)
		}
		if len(s.Env) > 0 {
			t.Fatalf("allowed plan %q has env %q", p.Raw, s.Env)
		}
		switch s.Argv[0] {
		case "cd", "pushd", "popd", ":", "true", "false":
			if s.Resolved == "" {
				continue
			}
		}
		if s.Resolved == "" || !path.IsAbs(s.Resolved) {
			t.Fatalf("allowed plan %q has unresolved segment %+v", p.Raw, s)
		}
		if matchAllowlist(c.Allowlist, s.Resolved) {
			continue
		}
		safe := false
		for _, b := range c.SafeBins {
			if b == s.Argv[0] && !strings.Contains(s.Argv[0], "/") {
				safe = true
			}
		}
		if !safe {
			t.Fatalf("allowed plan %q: %q (%s) is neither allowlisted nor a safe bin", p.Raw, s.Argv[0], s.Resolved)
		}
	}
}

// matchAllowlist is an independent restatement of the allowlist rule.
func matchAllowlist(globs []string, resolved string) bool {
	for _, g := range globs {
		if !strings.HasPrefix(g, "/") {
			continue
		}
		if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(resolved)); ok {
			return true
		}
	}
	return false
}

func FuzzAnalyze(f *testing.F) {
	for _, tc := range injectionCorpus {
		if len(tc.cmd) < 4096 {
			f.Add(tc.cmd)
		}
	}
	allow := testConfig(SecurityAllowlist)
	full := testConfig(SecurityFull)
	f.Fuzz(func(t *testing.T, cmd string) {
		// Analyze is on the hot path of every exec call: it must not hang.
		var p *Plan
		var err error
		done := make(chan struct{})
		go func() {
			defer close(done)
			p, err = Analyze(cmd, testCwd, allow)
		}()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			panic(fmt.Sprintf("Analyze did not return within 3s for %q", cmd))
		}
		if err != nil {
			if !strings.HasPrefix(err.Error(), "exec: cannot parse command: ") {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		switch p.Verdict {
		case Allow:
			checkAllowedPlan(t, p, allow)
		case Miss, Deny:
			if p.Reason == "" {
				t.Fatalf("%s without a reason for %q", p.Verdict, cmd)
			}
		default:
			t.Fatalf("verdict %q", p.Verdict)
		}
		if len(p.Hash) != 64 {
			t.Fatalf("hash %q", p.Hash)
		}
		pf, err := Analyze(cmd, testCwd, full)
		if err != nil {
			t.Fatalf("full mode failed to parse what allowlist mode parsed: %v", err)
		}
		if pf.Hash != p.Hash {
			t.Fatalf("hash depends on the security mode")
		}
		// Full mode only ever relaxes: what allowlist mode allows, full
		// mode allows; what full mode denies, allowlist mode denies.
		if p.Verdict == Allow && pf.Verdict != Allow {
			t.Fatalf("full mode %s (%s) what allowlist mode allows: %q", pf.Verdict, pf.Reason, cmd)
		}
		if pf.Verdict == Deny && p.Verdict != Deny {
			t.Fatalf("full mode denies (%s) what allowlist mode does not: %q", pf.Reason, cmd)
		}
	})
}

// FuzzConfiguresPrograms: any path that passes through a .git directory,
// however it is spelled (slashes, backslashes, dots, case), is a path
// that configures programs.
func FuzzConfiguresPrograms(f *testing.F) {
	for _, s := range []string{".git/config", "a/.GIT/hooks/x", `a\.git\config`, "x/.git./y", "src/main.go", "", "/", "..", ".gitattributes"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		_, got := ConfiguresPrograms(p)
		if _, again := ConfiguresPrograms("x/" + p); got && !again {
			t.Fatalf("%q configures programs but x/%q does not", p, p)
		}
		if strings.Contains(p, "..") {
			return // may climb out of .git: no claim
		}
		if _, inGit := ConfiguresPrograms(".git/" + p); !inGit {
			t.Fatalf(".git/%q is not a program configuration path", p)
		}
	})
}
