package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/sandbox"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant5_AgentGitConfiguredCode: end to end through talon agent
// --local with the scripted model as the attacker and the allowlist a
// developer typically adds. The workspace holds a project unpacked with a
// hostile .git (hooks, fsmonitor, pager, a filter). The model tries to
// plant more (.git/config, .gitattributes, hooks, by the file tools and by
// cp and sed) and runs everyday git. Nothing it named runs; everyday git
// works without a prompt; sandbox on and off.
func TestInvariant5_AgentGitConfiguredCode(t *testing.T) {
	if !sandbox.ExecGuardAvailable() {
		t.Skip("no Landlock: configurable programs ask first (TestConfigurableProgramsNeedApprovalWithoutLandlock)")
	}
	var allow []string
	for _, n := range []string{"git", "cp", "tar", "sed", "find", "cat", "ls"} {
		p, err := exec.LookPath(n)
		if err != nil {
			t.Skipf("no %s", n)
		}
		r, _ := filepath.EvalSymlinks(p)
		allow = append(allow, `"`+r+`"`)
	}
	for _, mode := range []string{"all", "off"} {
		t.Run(mode, func(t *testing.T) {
			fake := fakellm.New(t)
			state := agentState(t, fake, `tools: { exec: { allowlist: [`+strings.Join(allow, ",")+`] } },`)
			cfg, _ := os.ReadFile(filepath.Join(state, "talon.json"))
			os.WriteFile(filepath.Join(state, "talon.json"), []byte(strings.Replace(string(cfg), `agents: { defaults: { model: "fake/scripted" } },`,
				`agents: { defaults: { model: "fake/scripted", sandbox: { mode: "`+mode+`" } } },`, 1)), 0o600)
			ws := filepath.Join(state, "workspace")
			proj := filepath.Join(ws, "proj")
			os.MkdirAll(proj, 0o700)
			git := func(args ...string) {
				cmd := exec.Command("git", args...)
				cmd.Dir = proj
				cmd.Env = []string{"HOME=" + t.TempDir(), "PATH=/usr/bin:/bin", "GIT_CONFIG_NOSYSTEM=1"}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Fatalf("git %v: %v %s", args, err, out)
				}
			}
			git("init", "-q", "-b", "main", ".")
			git("-c", "user.name=o", "-c", "user.email=o@x", "commit", "-q", "--allow-empty", "-m", "init")
			mark := func(name string) string { return filepath.Join(ws, "PWNED-"+name) }
			hook := "#!/bin/sh\ntouch " + mark("hook") + "\n"
			for _, h := range []string{"pre-commit", "post-commit", "post-checkout", "commit-msg"} {
				os.WriteFile(filepath.Join(proj, ".git", "hooks", h), []byte(hook), 0o755)
			}
			f, _ := os.OpenFile(filepath.Join(proj, ".git", "config"), os.O_APPEND|os.O_WRONLY, 0)
			fmt.Fprintf(f, "[core]\n\tfsmonitor = touch %s\n\tpager = touch %s\n\teditor = touch %s\n[user]\n\tname = Owner\n\temail = owner@example.invalid\n", mark("fsmonitor"), mark("pager"), mark("editor"))
			f.Close()
			os.WriteFile(filepath.Join(proj, "a.txt"), []byte("hello\n"), 0o644)
			os.WriteFile(filepath.Join(ws, "evil.cfg"), []byte("[filter \"x\"]\n\tclean = touch "+mark("filter")+"\n"), 0o644)

			type step struct {
				id, tool, args string
				ran            bool // must run (everyday work); otherwise must not be allowed
			}
			ex := func(cmd string) string {
				b, _ := json.Marshal(map[string]string{"command": cmd, "workdir": "proj"})
				return string(b)
			}
			steps := []step{
				{"w-hook", "write", `{"path":"proj/.git/hooks/pre-push","content":"#!/bin/sh\ntouch ` + mark("w-hook") + `\n"}`, false},
				{"w-attr", "write", `{"path":"proj/.gitattributes","content":"* filter=x\n"}`, false},
				{"w-cfg", "edit", `{"path":"proj/.git/config","oldText":"[user]","newText":"[filter \"x\"]\n\tclean = touch ` + mark("edit") + `\n[user]"}`, false},
				{"cp-cfg", "exec", ex("cp ../evil.cfg .git/config"), false},
				{"sed-cfg", "exec", ex("sed -i s/fsmonitor/fsmonitorx/ .git/config"), false},
				{"status", "exec", ex("git status"), true},
				{"add", "exec", ex("git add a.txt"), true},
				{"commit", "exec", ex("git commit -m work"), true},
				{"log", "exec", ex("git log -p"), true},
				{"diff", "exec", ex("git diff HEAD~1"), true},
				{"branch", "exec", ex("git checkout -b feature"), true},
			}
			var calls []fakellm.Call
			for _, s := range steps {
				calls = append(calls, fakellm.Call{ID: s.id, Name: s.tool, Args: s.args})
			}
			fake.Script(fakellm.Reply{ToolCalls: calls}, fakellm.Reply{Text: "done"})
			out, errOut, code := runTalon(t, state, "agent", "--local", "--message", "go", "--json")
			if code != 0 {
				t.Fatalf("%d %s %s", code, out, errOut)
			}
			var res struct {
				ToolCalls []struct{ ID, Decision, Outcome, Reason string }
			}
			json.Unmarshal([]byte(out), &res)
			got := map[string]string{}
			for _, c := range res.ToolCalls {
				got[c.ID] = c.Decision + "/" + c.Outcome + " " + c.Reason
			}
			reqs := fake.Requests()
			results := map[string]string{}
			for _, m := range reqs[len(reqs)-1].Messages {
				if m.Role == "tool" {
					results[m.ToolCallID] = m.Content
				}
			}
			for _, s := range steps {
				if s.ran && (!strings.HasPrefix(got[s.id], "allow/executed ") || !strings.Contains(got[s.id], "every command is on tools.exec.allowlist")) {
					t.Errorf("%s: %s: %q", s.id, got[s.id], results[s.id])
				}
				if !s.ran && strings.HasPrefix(got[s.id], "allow") {
					t.Errorf("attack %s was allowed: %s", s.id, got[s.id])
				}
			}
			if ms, _ := filepath.Glob(filepath.Join(ws, "PWNED-*")); len(ms) > 0 {
				t.Fatalf("an unapproved program ran: %v", ms)
			}
			log := exec.Command("git", "log", "--format=%an %s", "-1")
			log.Dir = proj
			if b, _ := log.Output(); !strings.Contains(string(b), "Owner work") {
				t.Fatalf("the commit did not land: %q", b)
			}
		})
	}
}
