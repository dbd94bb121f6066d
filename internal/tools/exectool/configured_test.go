package exectool

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/sandbox"
)

// attackerAllowlist is what a developer typically allows (issue: "git, cp,
// tar, sed, find, cat, ls").
func attackerAllowlist(t testing.TB) []string {
	var out []string
	for _, name := range []string{"git", "cp", "tar", "sed", "find", "cat", "ls", "env"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("no %s", name)
		}
		r, _ := filepath.EvalSymlinks(p)
		out = append(out, r)
	}
	return out
}

type mode struct {
	name string
	spec func(ws string) *sandbox.Spec
	// noGuard runs without the kernel's execute restriction, as on a
	// kernel without Landlock with the owner's opt-in: the profiles alone
	// must then hold.
	noGuard bool
}

// modes are the sandbox settings the invariant must hold under: on (the
// default) and off (sandbox.mode "off", or the owner's main session under
// "non-main").
func modes(t *testing.T) []mode {
	if !sandbox.ExecGuardAvailable() {
		t.Skip("landlock unavailable: the execute restriction cannot be tested here")
	}
	off := func(string) *sandbox.Spec { return nil }
	ms := []mode{{"sandbox off", off, false}, {"no landlock, opted in", off, true}}
	if c := sandbox.Probe(); c.UserNS && c.Seccomp {
		ms = append(ms, mode{"sandbox on", func(ws string) *sandbox.Spec { return &sandbox.Spec{Workspace: ws} }, false})
	}
	return ms
}

// gitSetup is a workspace holding a git repository with one commit, made
// by the test (the owner), and the exec tool with the attacker allowlist.
func gitSetup(t *testing.T, m mode, mut func(*config.Config)) (Options, core.Tool, string) {
	t.Helper()
	o, _ := setup(t, func(c *config.Config) {
		c.Tools.Exec.Allowlist = attackerAllowlist(t)
		c.Tools.Exec.DangerouslyAllowConfigurablePrograms = m.noGuard
		if mut != nil {
			mut(c)
		}
	})
	ws := o.Workspace
	for _, args := range [][]string{{"init", "-q", "-b", "main", "."}, {"-c", "user.name=o", "-c", "user.email=o@x", "commit", "-q", "--allow-empty", "-m", "init"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir = ws
		cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM=1"}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	o.Sandbox = func(string) *sandbox.Spec { return m.spec(ws) }
	o.GitIdentity = func() (string, string) { return "Talon Test", "talon@example.invalid" }
	if m.noGuard {
		o.ExecGuard = func() bool { return false }
	}
	return o, New(o), ws
}

// exitCode returns the command's exit status, or -1 when it did not run.
func exitCode(res core.Result) int {
	if c, ok := res.Detail["exitCode"].(int); ok {
		return c
	}
	return -1
}

// stage writes files as a hijacked model could without approval: into an
// ordinary directory of the workspace, then copies them over the tree with
// the allowlisted cp (operands name no configuration path).
func stage(t *testing.T, o Options, tl core.Tool, ws string, files map[string]string) {
	t.Helper()
	st := filepath.Join(ws, "stage")
	os.RemoveAll(st)
	for name, body := range files {
		p := filepath.Join(st, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	d, res, err := decideAndRun(t, o, tl, "cp -r stage/. .")
	if d.Action != policy.Allow || err != nil || exitCode(res) != 0 {
		t.Fatalf("staging with cp: %+v %q %v", d, res.Content, err)
	}
}

func noMarker(t *testing.T, ws string) {
	t.Helper()
	ms, _ := filepath.Glob(filepath.Join(ws, "PWNED*"))
	if len(ms) > 0 {
		t.Fatalf("an unapproved program ran: %v", ms)
	}
}

const gitConfigHead = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = false\n"

// TestInvariant5_GitConfiguredCodeNeverRuns: with git, cp, tar, sed, find,
// cat and ls allowlisted, a hijacked model in an owner session writes git
// hooks, configuration and attributes into the workspace and runs
// ordinary git commands; no program it named runs, sandbox on or off.
func TestInvariant5_GitConfiguredCodeNeverRuns(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			o, tl, ws := gitSetup(t, m, nil)
			hook := "#!/bin/sh\ntouch " + filepath.Join(ws, "PWNED-hook") + "\n"
			stage(t, o, tl, ws, map[string]string{
				".git/hooks/pre-commit":    hook,
				".git/hooks/post-commit":   hook,
				".git/hooks/post-checkout": hook,
				".git/hooks/pre-auto-gc":   hook,
				".git/config": gitConfigHead +
					"\tfsmonitor = touch " + filepath.Join(ws, "PWNED-fsmonitor") + "\n" +
					"\tpager = touch " + filepath.Join(ws, "PWNED-pager") + "\n" +
					"\teditor = touch " + filepath.Join(ws, "PWNED-editor") + "\n" +
					"\tsshCommand = touch " + filepath.Join(ws, "PWNED-ssh") + "\n" +
					"\thooksPath = .git/hooks\n" +
					"[credential]\n\thelper = !touch " + filepath.Join(ws, "PWNED-cred") + "\n" +
					"[commit]\n\tgpgSign = true\n[gpg]\n\tprogram = " + filepath.Join(ws, "PWNED-gpg") + "\n",
				"a.txt": "hello\n",
			})
			for _, cmd := range []string{"git status", "git add a.txt", "git commit -m work", "git log -p", "git checkout -b feature", "git diff HEAD~1"} {
				d, res, err := decideAndRun(t, o, tl, cmd)
				if d.Action != policy.Allow || err != nil || exitCode(res) != 0 {
					t.Errorf("%q: %+v %q %v", cmd, d, res.Content, err)
				}
				noMarker(t, ws)
			}
		})
	}
}

// TestInvariant5_GitDriversAreRefused: drivers picked by .gitattributes
// (filters, textconv, diff commands) and core.worktree cannot be
// overridden by name; git refuses to run with them, at decision time and
// again at run time (the configuration may change in between).
func TestInvariant5_GitDriversAreRefused(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			o, tl, ws := gitSetup(t, m, nil)
			os.WriteFile(filepath.Join(ws, "a.txt"), []byte("x\n"), 0o644)
			// Decided while the configuration was clean.
			args, _ := json.Marshal(map[string]any{"command": "git add a.txt"})
			early, earlyPlan := decidePlan(o, args)
			if early.Action != policy.Allow {
				t.Fatalf("clean repository: %+v", early)
			}
			for i, cfg := range []string{
				"[filter \"evil\"]\n\tclean = touch " + filepath.Join(ws, "PWNED-clean") + "\n\tsmudge = touch " + filepath.Join(ws, "PWNED-smudge") + "\n",
				"[diff \"evil\"]\n\ttextconv = touch " + filepath.Join(ws, "PWNED-textconv") + "\n",
				"[diff \"evil\"]\n\tcommand = touch " + filepath.Join(ws, "PWNED-diffcmd") + "\n",
				"[core]\n\tworktree = " + t.TempDir() + "\n",
				"[include]\n\tpath = extra.cfg\n",
			} {
				extra := ""
				if strings.Contains(cfg, "extra.cfg") {
					extra = "[filter \"evil\"]\n\tprocess = touch " + filepath.Join(ws, "PWNED-process") + "\n"
				}
				stage(t, o, tl, ws, map[string]string{
					".git/config":    gitConfigHead + cfg,
					".git/extra.cfg": extra,
					".gitattributes": "* filter=evil diff=evil\n",
				})
				d, res, err := decideAndRun(t, o, tl, "git add a.txt")
				if d.Action != policy.Deny || !strings.Contains(d.Reason, "would make git start a program") {
					t.Errorf("config %d: decided %+v (ran %q %v)", i, d, res.Content, err)
				}
				// The decision made before the configuration changed.
				res, err = tl.Run(context.Background(), core.Call{Args: args, Actor: owner}, earlyPlan)
				if err == nil && exitCode(res) == 0 {
					t.Errorf("config %d: ran with a decision made on the clean configuration: %q", i, res.Content)
				}
				for _, c := range []string{"git diff", "git log -p", "git status"} {
					decideAndRun(t, o, tl, c)
				}
				noMarker(t, ws)
			}
		})
	}
}

// TestInvariant5_OnlyPlanBinariesRunThroughExec: an allowlisted script
// runs, but nothing it starts does, unless its entry in tools.exec.helpers
// grants it; a binary copied into the workspace never runs.
func TestInvariant5_OnlyPlanBinariesRunThroughExec(t *testing.T) {
	for _, m := range modes(t) {
		if m.noGuard {
			continue // this is the kernel's part
		}
		t.Run(m.name, func(t *testing.T) {
			var cfg *config.Config
			o, tl, ws := gitSetup(t, m, func(c *config.Config) { cfg = c })
			script := filepath.Join(ws, "build.sh")
			os.WriteFile(script, []byte("#!/bin/sh\necho script-ran\n/usr/bin/touch "+filepath.Join(ws, "PWNED-child")+"\n./mytouch "+filepath.Join(ws, "PWNED-copy")+"\n"), 0o755)
			cfg.Tools.Exec.Allowlist = append(cfg.Tools.Exec.Allowlist, script)
			if d, res, err := decideAndRun(t, o, tl, "cp /usr/bin/touch mytouch"); d.Action != policy.Allow || err != nil || exitCode(res) != 0 {
				t.Fatalf("cp: %+v %q %v", d, res.Content, err)
			}
			d, res, err := decideAndRun(t, o, tl, "./build.sh")
			if d.Action != policy.Allow || err != nil || !strings.Contains(res.Content, "script-ran") {
				t.Fatalf("script: %+v %q %v", d, res.Content, err)
			}
			noMarker(t, ws)
			if d, _, _ := decideAndRun(t, o, tl, "./mytouch PWNED-direct"); d.Action == policy.Allow {
				t.Fatalf("a binary written into the workspace was allowed: %+v", d)
			}
			// Granted by the owner, the helper runs.
			cfg.Tools.Exec.Helpers = map[string][]string{script: {"/usr/bin/touch"}}
			decideAndRun(t, o, tl, "./build.sh")
			if _, err := os.Stat(filepath.Join(ws, "PWNED-child")); err != nil {
				t.Fatalf("helper granted in tools.exec.helpers did not run: %v", err)
			}
			if _, err := os.Stat(filepath.Join(ws, "PWNED-copy")); err == nil {
				t.Fatal("the workspace binary ran")
			}
		})
	}
}

// TestInvariant5_HomeIsEmptyAndPerRun: programs never get the workspace
// (which the model writes) as HOME.
func TestInvariant5_HomeIsEmptyAndPerRun(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			o, tl, ws := gitSetup(t, m, nil)
			os.WriteFile(filepath.Join(ws, ".gitconfig"), []byte("[alias]\n\tst = !touch "+filepath.Join(ws, "PWNED-alias")+"\n"), 0o644)
			_, res, err := decideAndRun(t, o, tl, "env")
			if err != nil || strings.Contains(res.Content, "HOME="+ws+"\n") || !strings.Contains(res.Content, "HOME=") {
				t.Fatalf("env: %q %v", res.Content, err)
			}
			noMarker(t, ws)
		})
	}
}

// TestInvariant5_TarNeverExtractsProgramConfig: an archive's .git and rc
// files are not extracted, whatever else it holds.
func TestInvariant5_TarNeverExtractsProgramConfig(t *testing.T) {
	for _, m := range modes(t) {
		t.Run(m.name, func(t *testing.T) {
			o, tl, ws := gitSetup(t, m, nil)
			src := t.TempDir()
			os.MkdirAll(filepath.Join(src, "p", ".git", "hooks"), 0o755)
			os.WriteFile(filepath.Join(src, "p", ".git", "hooks", "pre-commit"), []byte("#!/bin/sh\n"), 0o755)
			os.WriteFile(filepath.Join(src, "p", ".npmrc"), []byte("x"), 0o644)
			os.WriteFile(filepath.Join(src, "p", "ok.txt"), []byte("x"), 0o644)
			out, err := exec.Command("tar", "-C", src, "-cf", filepath.Join(ws, "a.tar"), "p").CombinedOutput()
			if err != nil {
				t.Fatalf("tar: %v %s", err, out)
			}
			for _, cmd := range []string{"tar xf a.tar", "tar -x -f a.tar --anchored", "tar --extract --file=a.tar --anchored -- p"} {
				os.RemoveAll(filepath.Join(ws, "p"))
				d, res, err := decideAndRun(t, o, tl, cmd)
				if d.Action != policy.Allow || err != nil {
					t.Fatalf("%q: %+v %q %v", cmd, d, res.Content, err)
				}
				if _, err := os.Stat(filepath.Join(ws, "p", "ok.txt")); err != nil {
					t.Errorf("%q: ordinary file not extracted: %q", cmd, res.Content)
				}
				for _, bad := range []string{"p/.git", "p/.npmrc"} {
					if _, err := os.Stat(filepath.Join(ws, bad)); err == nil {
						t.Errorf("%q extracted %s", cmd, bad)
					}
				}
			}
			// Naming such a member asks first.
			if d, _, _ := decideAndRun(t, o, tl, "tar -xf a.tar p/.git/hooks/pre-commit"); d.Action != policy.Ask {
				t.Errorf("extracting a named .git member: %+v", d)
			}
		})
	}
}

// TestConfigurableProgramsNeedApprovalWithoutLandlock: where the kernel
// cannot limit what runs, git is not run without approval unless the owner
// opted in.
func TestConfigurableProgramsNeedApprovalWithoutLandlock(t *testing.T) {
	o, _ := setup(t, func(c *config.Config) { c.Tools.Exec.Allowlist = attackerAllowlist(t) })
	o.ExecGuard = func() bool { return false }
	args, _ := json.Marshal(map[string]any{"command": "git status"})
	if d := decide(o, args); d.Action != policy.Ask || !strings.Contains(d.Reason, "no Landlock") {
		t.Fatalf("git without the execute restriction: %+v", d)
	}
	args, _ = json.Marshal(map[string]any{"command": "ls"})
	if d := decide(o, args); d.Action != policy.Allow {
		t.Fatalf("ls without the execute restriction: %+v", d)
	}
	o.Config().Tools.Exec.DangerouslyAllowConfigurablePrograms = true
	args, _ = json.Marshal(map[string]any{"command": "git status"})
	if d := decide(o, args); d.Action != policy.Allow {
		t.Fatalf("opted in: %+v", d)
	}
}
