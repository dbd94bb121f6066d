package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakediscord"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/fakesignal"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

// TestLogsRedactsAndFilters: `talon logs` never prints a secret Talon
// knows (the gateway token, from the config) or one recognisable by its
// format, even when the file on disk holds it; --level and --json work.
func TestInvariant10_LogsRedactsAndFilters(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(filepath.Join(state, "logs"), 0o700)
	token := "test-token-0123456789-abcdefghij"
	os.WriteFile(filepath.Join(state, "talon.json"), []byte(`{gateway: {auth: {token: "`+token+`"}}}`), 0o600)
	apiKey := "sk-ant-api03-" + strings.Repeat("Ab1", 30)
	log := `time=2026-12-06T07:00:00Z level=INFO msg="gateway started" port=18789
time=2026-12-06T07:00:01Z level=WARN msg="client sent token ` + token + `" conn=3
time=2026-12-06T07:00:02Z level=DEBUG msg=noise
time=2026-12-06T07:00:03Z level=ERROR msg="provider failed" err="401 for key ` + apiKey + `"
`
	os.WriteFile(filepath.Join(state, "logs", "talon.log"), []byte(log), 0o600)
	out, errOut, code := runTalon(t, state, "logs")
	if code != 0 || !strings.Contains(out, "gateway started") || !strings.Contains(out, "noise") {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	if strings.Contains(out, token) || strings.Contains(out, apiKey) || strings.Contains(out, "Ab1Ab1Ab1") {
		t.Fatalf("talon logs printed a secret:\n%s", out)
	}
	out, _, code = runTalon(t, state, "logs", "--level", "warn", "--json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var recs []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		recs = append(recs, m)
	}
	if len(recs) != 2 || recs[0]["level"] != "WARN" || recs[1]["level"] != "ERROR" || recs[0]["conn"] != "3" {
		t.Fatalf("--level warn --json: %s", out)
	}
	if strings.Contains(out, token) || strings.Contains(out, "Ab1Ab1Ab1") {
		t.Fatalf("--json printed a secret:\n%s", out)
	}
	if _, errOut, code := runTalon(t, state, "logs", "--level", "loud"); code != 2 || !strings.Contains(errOut, "debug|info|warn|error") {
		t.Fatalf("bad level: %d %s", code, errOut)
	}

	// -f prints what is appended afterwards, redacted too.
	cmd := exec.Command("talon", "logs", "-f", "-n", "0")
	cmd.Env = append(os.Environ(), "TALON_STATE_DIR="+state, "HOME="+state)
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	lines := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Append until the follower shows it (it starts at the end of the file).
	deadline := time.After(60 * time.Second)
	f, _ := os.OpenFile(filepath.Join(state, "logs", "talon.log"), os.O_APPEND|os.O_WRONLY, 0)
	defer f.Close()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case l := <-lines:
			if strings.Contains(l, token) {
				t.Fatalf("-f printed the token: %s", l)
			}
			if strings.Contains(l, "appended later") {
				return
			}
		case <-tick.C:
			f.WriteString(`time=2026-12-06T07:00:09Z level=INFO msg="appended later ` + token + `"` + "\n")
		case <-deadline:
			t.Fatal("talon logs -f never printed the appended line")
		}
	}
}

func TestCompletion(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	for shell, want := range map[string]string{"bash": "__start_talon", "zsh": "#compdef talon", "fish": "complete -c talon"} {
		out, errOut, code := runTalon(t, state, "completion", shell)
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("completion %s: %d %q %s", shell, code, errOut, out[:min(len(out), 200)])
		}
	}
	if _, errOut, code := runTalon(t, state, "completion", "powershell"); code != 2 || !strings.Contains(errOut, "bash|zsh|fish") {
		t.Errorf("unknown shell: %d %s", code, errOut)
	}
	// Completion knows the commands.
	out, _, _ := runTalon(t, state, "__complete", "gat")
	if !strings.Contains(out, "gateway") {
		t.Errorf("__complete gat: %s", out)
	}
}

// TestSessionsShow: the transcript with provenance and each tool call's
// decision, as text and camelCase JSON.
func TestSessionsShow(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"date"}`}}}, fakellm.Reply{Text: "no approver, sorry"})
	state := agentState(t, fake, "")
	if out, errOut, code := runTalon(t, state, "agent", "--local", "--message", "what day is it"); code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	out, errOut, code := runTalon(t, state, "sessions", "show", "agent:main:main")
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	for _, want := range []string{"owner (owner): what day is it", "calls exec", "tool exec [ask -> denied", "no approver, sorry"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	out, _, code = runTalon(t, state, "sessions", "show", "agent:main:main", "--json")
	var res struct {
		Session struct {
			Key          string `json:"key"`
			MessageCount int    `json:"messageCount"`
		} `json:"session"`
		Messages []struct {
			Role       string `json:"role"`
			Provenance string `json:"provenance"`
			Decision   struct{ Action, Outcome string }
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 {
		t.Fatalf("%v %s", err, out)
	}
	if res.Session.Key != "agent:main:main" || len(res.Messages) != 4 || res.Messages[0].Provenance != "owner" ||
		res.Messages[2].Role != "tool" || res.Messages[2].Decision.Action != "ask" || res.Messages[2].Decision.Outcome != "denied" {
		t.Fatalf("%s", out)
	}
	if _, errOut, code := runTalon(t, state, "sessions", "show", "agent:main:nobody"); code != 1 || !strings.Contains(errOut, "talon sessions list") {
		t.Fatalf("unknown session: %d %s", code, errOut)
	}
}

// TestCronRunsShowOutput: each run with its status, its reply and its
// tool decisions.
func TestCronRunsShowOutput(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	out, errOut, code := runTalon(t, state, "cron", "add", "0 9 * * *", "summarise", "--json")
	if code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	var job struct{ ID string }
	json.Unmarshal([]byte(out), &job)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(state, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	jobs, _ := st.CronJobs(ctx, time.Time{})
	if len(jobs) != 1 {
		t.Fatalf("jobs %+v", jobs)
	}
	row, ok, err := st.ClaimCronRun(ctx, job.ID, jobs[0].NextRunAt, jobs[0].NextRunAt.Add(24*time.Hour), now, 0, "cron_run1")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	key := agent.CronSessionKey(job.ID)
	if _, err := st.EnsureSession(ctx, key, store.SessionInit{AgentID: "main", Channel: "cron", ChatType: "cron"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.AppendMessages(ctx, key,
		store.Message{Role: "user", Content: "summarise", Provenance: "owner", RunID: "cron_run1"},
		store.Message{Role: "tool", ToolCallID: "x", ToolName: "exec", Content: "denied", Decision: json.RawMessage(`{"action":"ask","reason":"not on the allowlist","outcome":"denied"}`), RunID: "cron_run1"},
		store.Message{Role: "assistant", Content: "three new mails, none urgent", RunID: "cron_run1"}); err != nil {
		t.Fatal(err)
	}
	st.FinishCronRun(ctx, row, "ok", "")
	st.Close()
	out, errOut, code = runTalon(t, state, "cron", "runs", job.ID)
	if code != 0 || !strings.Contains(out, "ok") || !strings.Contains(out, "three new mails, none urgent") || !strings.Contains(out, "tool exec: ask -> denied (not on the allowlist)") {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	out, _, _ = runTalon(t, state, "cron", "runs", job.ID, "--json")
	if !strings.Contains(out, `"output": "three new mails, none urgent"`) || !strings.Contains(out, `"status": "ok"`) || !strings.Contains(out, `"decision": "ask"`) {
		t.Fatalf("%s", out)
	}
	if _, errOut, code := runTalon(t, state, "cron", "runs", "nosuchjob"); code != 1 || !strings.Contains(errOut, "talon cron list") {
		t.Fatalf("unknown job: %d %s", code, errOut)
	}
}

// TestMessagesForPeople: issue 12's list of confusing messages, each now
// one line with the cause and a hint, no Go function names.
func TestMessagesForPeople(t *testing.T) {
	root := t.TempDir()
	missing := filepath.Join(root, "nowhere")
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"health"}, 1, []string{"no state directory", "talon onboard"}},
		{[]string{"config", "get", "gateway.port"}, 1, []string{"talon onboard"}},
		{[]string{"gateway", "nosuch"}, 2, []string{`unknown command "nosuch"`, "install", "stop", "status"}},
		{[]string{"config", "nosuch"}, 2, []string{"available: get, schema, set, unset, validate"}},
		{[]string{"nosuch"}, 2, []string{`unknown command "nosuch"`, "chat", "sessions"}},
		{[]string{"sessions"}, 2, []string{"missing subcommand", "list, purge, show"}},
	} {
		_, errOut, code := runTalon(t, missing, tc.args...)
		if code != tc.code {
			t.Errorf("talon %v: exit %d, want %d: %s", tc.args, code, tc.code, errOut)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("talon %v: %q lacks %q", tc.args, errOut, w)
			}
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") > 0 || strings.Contains(errOut, "talon: talon") {
			t.Errorf("talon %v: not one clean line: %q", tc.args, errOut)
		}
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("a read-only command created the state dir")
	}

	// Nothing listening: say so, and how to start it.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	free := ln.Addr().String()
	ln.Close()
	onboarded := filepath.Join(root, "onboarded")
	runTalon(t, onboarded, "onboard")
	_, errOut, code := runTalon(t, onboarded, "health", "--url", "ws://"+free)
	if code != 1 || !strings.Contains(errOut, "no gateway is listening at ws://"+free) || !strings.Contains(errOut, "talon gateway start") || strings.Contains(errOut, "netguard") {
		t.Errorf("health with no gateway: %d %q", code, errOut)
	}

	// Go call chains stay out of the message, and in with --debug.
	bad := filepath.Join(root, "bad")
	os.MkdirAll(bad, 0o700)
	os.WriteFile(filepath.Join(bad, "talon.json"), []byte(`{ gateway: { port: "x" } }`), 0o600)
	_, errOut, _ = runTalon(t, bad, "config", "get", "gateway.port")
	if !strings.Contains(errOut, "gateway.port") || strings.Contains(errOut, "config.Load:") {
		t.Errorf("config error: %q", errOut)
	}
	_, errOut, _ = runTalon(t, bad, "config", "get", "gateway.port", "--debug")
	if !strings.Contains(errOut, "config.Load:") {
		t.Errorf("--debug lost the call chain: %q", errOut)
	}
	if got := stripGoPrefixes("cannot reach the gateway at ws://127.0.0.1:1 (hint: x): gateway.Dial: dial tcp 127.0.0.1:1: connect: refused"); got != "cannot reach the gateway at ws://127.0.0.1:1 (hint: x): dial tcp 127.0.0.1:1: connect: refused" {
		t.Errorf("strip: %q", got)
	}
	if got := stripGoPrefixes("llm.Router.Chat: store.ResolveApproval: open talon.json: denied"); got != "open talon.json: denied" {
		t.Errorf("strip: %q", got)
	}
}

// TestConfigSetKeepsCommentsAndTakesDashValues: `config set x -5` is a
// value, not a flag; the user's comments and layout survive.
func TestConfigSetKeepsCommentsAndTakesDashValues(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(state, 0o700)
	orig := "// mine, do not lose\n{\n  gateway: {\n    port: 18789, // my port\n  },\n  /* money */\n  budgets: { perDayUsd: 5 },\n}\n"
	cfgPath := filepath.Join(state, "talon.json")
	os.WriteFile(cfgPath, []byte(orig), 0o600)
	_, errOut, code := runTalon(t, state, "config", "set", "budgets.perDayUsd", "-5")
	if code != 1 || !strings.Contains(errOut, "budgets.perDayUsd: must be at least 0") || strings.Contains(errOut, "flag") {
		t.Fatalf("negative value: %d %q", code, errOut)
	}
	if b, _ := os.ReadFile(cfgPath); string(b) != orig {
		t.Fatalf("a refused set changed the file:\n%s", b)
	}
	out, errOut, code := runTalon(t, state, "config", "set", "agents.defaults.workspace", "-work", "--json")
	if code != 0 || !strings.Contains(out, `"ok": true`) {
		t.Fatalf("dash string value: %d %s %s", code, out, errOut)
	}
	if _, errOut, code := runTalon(t, state, "config", "set", "gateway.port", "18790"); code != 0 {
		t.Fatalf("%d %s", code, errOut)
	}
	b, _ := os.ReadFile(cfgPath)
	for _, w := range []string{"// mine, do not lose", "port: 18790, // my port", "/* money */", "budgets: { perDayUsd: 5 }", `workspace: "-work"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("lost %q:\n%s", w, b)
		}
	}
	if _, _, code := runTalon(t, state, "config", "unset", "agents.defaults.workspace"); code != 0 {
		t.Fatal("unset failed")
	}
	if b, _ := os.ReadFile(cfgPath); !strings.Contains(string(b), "// my port") || strings.Contains(string(b), "-work") {
		t.Fatalf("after unset:\n%s", b)
	}
	// A cron message may start with a dash too; flags after it still work.
	out, errOut, code = runTalon(t, state, "cron", "add", "0 9 * * *", "-v tell me", "--name", "early", "--json")
	if code != 0 || !strings.Contains(out, `"message": "-v tell me"`) || !strings.Contains(out, `"name": "early"`) {
		t.Fatalf("cron add: %d %s %s", code, out, errOut)
	}
}

// fakeTool writes an executable named name into dir that appends its
// arguments to log and prints out.
func fakeTool(t *testing.T, dir, name, log, out string) {
	t.Helper()
	script := "#!/bin/sh\necho \"$*\" >> '" + log + "'\ncat <<'EOF'\n" + out + "\nEOF\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runTalonEnv runs talon with extra environment (later entries win).
func runTalonEnv(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command("talon", args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestGatewayServiceSystemd: install writes the user unit and enables it
// through systemctl --user; start, stop (which used to be a usage error),
// restart, status and uninstall call it as documented.
func TestGatewayServiceSystemd(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, "state")
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "systemctl.log")
	fakeTool(t, bin, "systemctl", log, "ActiveState=active\nSubState=running\nMainPID=4242")
	env := []string{"HOME=" + home, "TALON_STATE_DIR=" + state, "XDG_CONFIG_HOME=", "PATH=" + bin + ":/usr/bin:/bin",
		"TALON_GATEWAY_TOKEN=never-in-the-unit-0123456789"}
	for _, args := range [][]string{{"status"}, {"start"}} {
		out, errOut, code := runTalonEnv(t, env, append([]string{"gateway"}, args...)...)
		if args[0] == "status" && (code != 0 || !strings.Contains(out, "not installed")) {
			t.Fatalf("status before install: %d %s %s", code, out, errOut)
		}
		if args[0] == "start" && (code != 1 || !strings.Contains(errOut, "talon gateway install")) {
			t.Fatalf("start before install: %d %s", code, errOut)
		}
	}
	if out, errOut, code := runTalonEnv(t, env, "gateway", "install"); code != 0 || !strings.Contains(out, "installed") {
		t.Fatalf("install: %d %s %s", code, out, errOut)
	}
	unitPath := filepath.Join(home, ".config", "systemd", "user", "talon-gateway.service")
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`" gateway run`, `Environment="TALON_STATE_DIR=` + state + `"`, "WantedBy=default.target", "Restart=on-failure", "EnvironmentFile=-" + state + "/service.env"} {
		if !strings.Contains(string(unit), w) {
			t.Errorf("unit lacks %q:\n%s", w, unit)
		}
	}
	if strings.Contains(string(unit), "never-in-the-unit") {
		t.Fatal("the unit file holds the gateway token")
	}
	for _, action := range []string{"stop", "start", "restart"} {
		if out, errOut, code := runTalonEnv(t, env, "gateway", action); code != 0 {
			t.Fatalf("%s: %d %s %s", action, code, out, errOut)
		}
	}
	out, _, code := runTalonEnv(t, env, "gateway", "status", "--json")
	if code != 0 || !strings.Contains(out, `"active": true`) || !strings.Contains(out, `"pid": 4242`) {
		t.Fatalf("status: %s", out)
	}
	if _, errOut, code := runTalonEnv(t, env, "gateway", "uninstall"); code != 0 {
		t.Fatalf("uninstall: %s", errOut)
	}
	if _, err := os.Stat(unitPath); err == nil {
		t.Fatal("unit still there after uninstall")
	}
	calls, _ := os.ReadFile(log)
	want := "--user daemon-reload\n--user enable --now talon-gateway.service\n--user stop talon-gateway.service\n--user start talon-gateway.service\n" +
		"--user restart talon-gateway.service\n--user show talon-gateway.service --property=ActiveState,SubState,MainPID --no-pager\n" +
		"--user disable --now talon-gateway.service\n--user daemon-reload\n"
	if string(calls) != want {
		t.Fatalf("systemctl calls:\n%s\nwant:\n%s", calls, want)
	}
	// Neither systemd nor launchd: one clear line.
	empty := t.TempDir()
	_, errOut, code := runTalonEnv(t, append(env, "PATH="+empty), "gateway", "install")
	if code != 1 || !strings.Contains(errOut, "neither systemd (systemctl) nor launchd (launchctl)") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("no manager: %d %q", code, errOut)
	}
}

// TestGatewayServiceLaunchd renders the macOS agent and drives a fake
// launchctl, in process with GOOS darwin.
func TestGatewayServiceLaunchd(t *testing.T) {
	home := t.TempDir()
	bin := t.TempDir()
	log := filepath.Join(t.TempDir(), "launchctl.log")
	fakeTool(t, bin, "launchctl", log, "gui/501/com.talonclaw.talon.gateway = {\n\tstate = running\n\tpid = 777\n}")
	vars := map[string]string{"PATH": bin, "TALON_STATE_DIR": filepath.Join(home, "st")}
	run := func(args ...string) (string, error) {
		var out, errb strings.Builder
		err := Execute(context.Background(), Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok },
			Home: home, Stdout: &out, Stderr: &errb, GOOS: "darwin"}, args)
		return out.String() + errb.String(), err
	}
	if out, err := run("gateway", "install"); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	plist, err := os.ReadFile(filepath.Join(home, "Library", "LaunchAgents", "com.talonclaw.talon.gateway.plist"))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"<string>gateway</string>", "<key>TALON_STATE_DIR</key><string>" + vars["TALON_STATE_DIR"] + "</string>", "<key>RunAtLoad</key><true/>"} {
		if !strings.Contains(string(plist), w) {
			t.Errorf("plist lacks %q:\n%s", w, plist)
		}
	}
	out, err := run("gateway", "status", "--json")
	if err != nil || !strings.Contains(out, `"state": "running"`) || !strings.Contains(out, `"pid": 777`) {
		t.Fatalf("%v %s", err, out)
	}
	for _, a := range []string{"stop", "restart", "uninstall"} {
		if out, err := run("gateway", a); err != nil {
			t.Fatalf("%s: %v %s", a, err, out)
		}
	}
	calls, _ := os.ReadFile(log)
	for _, w := range []string{"bootstrap gui/", "print gui/", "kill SIGTERM gui/", "kickstart -k gui/", "bootout gui/"} {
		if !strings.Contains(string(calls), w) {
			t.Errorf("launchctl never called with %q:\n%s", w, calls)
		}
	}
}

// TestConfigValidateReferences: a config whose every key is valid but
// which names a provider, a model, a channel or an access group that does
// not exist is not "ok"; a missing ${secret:NAME} names the fix.
func TestConfigValidateReferences(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(state, 0o700)
	cfg := filepath.Join(state, "talon.json")
	os.WriteFile(cfg, []byte(`{
  agents: { defaults: { model: "nosuch/qwen3", fallbacks: ["local/nope"] } },
  models: { providers: { local: { api: "openai-completions", baseUrl: "http://127.0.0.1:9/v1", models: [{ id: "qwen3" }] } } },
  channels: { telegram: { botToken: "123:abc", allowFrom: ["@friends"] } },
  commands: { ownerAllowFrom: ["telegarm:1", "slack:U1"] },
}`), 0o600)
	_, errOut, code := runTalon(t, state, "config", "validate")
	if code != 1 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, w := range []string{
		`agents.defaults.model: provider "nosuch" does not exist (models.providers has: local)`,
		`agents.defaults.fallbacks.0: model "nope" is not listed in models.providers.local.models`,
		`commands.ownerAllowFrom.0: channel "telegarm" does not exist`,
		`commands.ownerAllowFrom.1: channel slack is not configured`,
		`channels.telegram.allowFrom.0: access group "friends" does not exist`,
	} {
		if !strings.Contains(errOut, w) {
			t.Errorf("missing %q in:\n%s", w, errOut)
		}
	}
	out, _, code := runTalon(t, state, "config", "validate", "--json")
	if code != 1 || !strings.Contains(out, `"valid": false`) || !strings.Contains(out, `"path": "agents.defaults.model"`) {
		t.Fatalf("%d %s", code, out)
	}
	// The doctor agrees (offline: nothing is contacted).
	out, _, code = runTalon(t, state, "doctor", "--offline")
	if code != 1 || !strings.Contains(out, "fail config.refs") {
		t.Fatalf("doctor: %d %s", code, out)
	}
	os.WriteFile(cfg, []byte(`{ channels: { telegram: { botToken: "${secret:TG_TOKEN}" } } }`), 0o600)
	_, errOut, _ = runTalon(t, state, "config", "validate")
	if !strings.Contains(errOut, "secret TG_TOKEN is not in the secret store (hint: talon secrets set TG_TOKEN") {
		t.Fatalf("secret ref: %s", errOut)
	}
}

// TestInvariant10_DoctorProbesModelAndChannels: the doctor calls the model
// and each channel's "who am I" with the configured credentials, against
// the fakes on loopback; a refused or unreachable credential fails the
// check without the credential appearing in the output; --offline
// contacts nothing.
func TestInvariant10_DoctorProbesModelAndChannels(t *testing.T) {
	fake := fakellm.New(t)
	fake.Default = fakellm.Reply{Text: "p"}
	tg := faketelegram.New(t)
	sl := fakeslack.New(t)
	dc := fakediscord.New(t)
	sg := fakesignal.New(t)
	wrongSlack := "xoxb-wrong-0000000000-notthetoken"
	deadTG := "987654321:AAThisTokenMustNeverBePrinted_000000"
	state := agentState(t, fake, `channels: {
    telegram: { botToken: "`+tg.Token+`", apiBaseUrl: "`+tg.URL+`",
                accounts: { dead: { botToken: "`+deadTG+`", apiBaseUrl: "http://127.0.0.1:1" } } },
    slack: { botToken: "`+wrongSlack+`", appToken: "`+sl.AppToken+`", apiBaseUrl: "`+sl.URL+`" },
    discord: { token: "`+dc.Token+`", apiBaseUrl: "`+dc.URL+`" },
    signal: { httpUrl: "`+sg.URL+`", account: "`+fakesignal.DefaultAccount+`" },
  },`)
	out, errOut, code := runTalon(t, state, "doctor", "--json")
	var res struct {
		OK     bool
		Checks []struct{ ID, Status, Message, Hint string }
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("%v: %s %s", err, out, errOut)
	}
	got := map[string]string{}
	for _, c := range res.Checks {
		got[c.ID] = c.Status + ": " + c.Message
	}
	want := map[string]string{
		"model.probe":                    "ok: fake/scripted answered",
		"channel.telegram":               "ok: credentials accepted: bot @" + faketelegram.DefaultUsername,
		"channel.telegram.accounts.dead": "fail: GET http://127.0.0.1:1",
		"channel.slack":                  "fail: auth.test refused: invalid_auth",
		"channel.discord":                "ok: credentials accepted",
		"channel.signal":                 "ok: credentials accepted: signal-cli",
	}
	for id, w := range want {
		if !strings.HasPrefix(got[id], w) {
			t.Errorf("%s: %q, want %q…", id, got[id], w)
		}
	}
	if code != 1 || res.OK {
		t.Errorf("failed credentials must fail the doctor: exit %d", code)
	}
	for _, secret := range []string{wrongSlack, deadTG, tg.Token, dc.Token, "sk-fake-key-for-tests-0123456789"} {
		if strings.Contains(out+errOut, secret) {
			t.Fatalf("doctor printed a credential %q:\n%s", secret, out)
		}
	}
	if fake.Count() != 1 {
		t.Errorf("model probe made %d requests, want 1", fake.Count())
	}
	if r := fake.Requests()[0]; r.MaxTokens != 1 {
		t.Errorf("model probe asked for %d tokens, want 1", r.MaxTokens)
	}

	// A refused key: the hint names the key to check.
	fake.Script(fakellm.Reply{Status: 401, Text: "invalid api key"})
	out, _, _ = runTalon(t, state, "doctor")
	if !strings.Contains(out, "fail model.probe") || !strings.Contains(out, "models.providers.fake.apiKey") {
		t.Fatalf("401: %s", out)
	}
	// --offline contacts nothing.
	fake.ForbidRequests()
	before := len(tg.Requests())
	out, _, _ = runTalon(t, state, "doctor", "--offline")
	if strings.Contains(out, "model.probe") || strings.Contains(out, "channel.") || len(tg.Requests()) != before {
		t.Fatalf("--offline probed: %s", out)
	}
}

// TestHealthAndStatusReportChannelsAndSessions: with Telegram connected and
// three sessions stored, health and status say so (they used to report
// channels: {} and 0 sessions).
func TestHealthAndStatusReportChannelsAndSessions(t *testing.T) {
	fake := fakellm.New(t)
	fake.Default = fakellm.Reply{Text: "ok"}
	tg := faketelegram.New(t)
	state := agentState(t, fake, `channels: { telegram: { botToken: "`+tg.Token+`", apiBaseUrl: "`+tg.URL+`" } },`)
	for _, k := range []string{"agent:main:main", "agent:main:one", "agent:main:two"} {
		if _, errOut, code := runTalon(t, state, "agent", "--local", "--session-key", k, "--message", "hi"); code != 0 {
			t.Fatalf("%d %s", code, errOut)
		}
	}
	t.Setenv("FAKE_KEY", "k")
	g, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Channels map[string]struct {
			Running bool   `json:"running"`
			State   string `json:"state"`
		} `json:"channels"`
		ChannelOrder []string `json:"channelOrder"`
		Sessions     struct {
			Count  int              `json:"count"`
			Recent []map[string]any `json:"recent"`
		} `json:"sessions"`
	}
	if !waitForLong(func() bool {
		out, _, _ := runTalon(t, state, "health", "--url", g.url, "--json")
		return json.Unmarshal([]byte(out), &h) == nil && h.Channels["telegram"].Running
	}) {
		t.Fatalf("telegram never reported connected: %+v", h)
	}
	if h.Sessions.Count != 3 || len(h.Sessions.Recent) != 3 || h.Channels["telegram"].State != "connected" || len(h.ChannelOrder) != 1 {
		t.Fatalf("health: %+v", h)
	}
	out, _, code := runTalon(t, state, "status", "--url", g.url)
	if code != 0 || !strings.Contains(out, "telegram default: connected") || !strings.Contains(out, "sessions  3") {
		t.Fatalf("status:\n%s", out)
	}
	out, _, _ = runTalon(t, state, "health", "--url", g.url)
	if !strings.Contains(out, "channel telegram: connected") || !strings.Contains(out, "sessions: 3") {
		t.Fatalf("health text:\n%s", out)
	}
	// status --json in OpenClaw's shape: its CLI maps over
	// sessions.byAgent ({agentId, path, count, recent}).
	out, _, _ = runTalon(t, state, "status", "--url", g.url, "--json")
	var st struct {
		Sessions struct {
			ByAgent []struct {
				AgentID string           `json:"agentId"`
				Path    string           `json:"path"`
				Count   int              `json:"count"`
				Recent  []map[string]any `json:"recent"`
			} `json:"byAgent"`
		} `json:"sessions"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Sessions.ByAgent) != 1 || st.Sessions.ByAgent[0].AgentID != "main" ||
		st.Sessions.ByAgent[0].Count != 3 || len(st.Sessions.ByAgent[0].Recent) != 3 || st.Sessions.ByAgent[0].Path == "" {
		t.Fatalf("status --json sessions.byAgent: %+v (%v)\n%s", st.Sessions, err, out)
	}
}

// TestJSONOutputIsCamelCase: every --json output of the commands that
// print stored data uses camelCase keys (sessions list printed Go field
// names such as Key and CostUSD).
func TestJSONOutputIsCamelCase(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"date"}`}}}, fakellm.Reply{Text: "done"})
	state := agentState(t, fake, "")
	if _, errOut, code := runTalon(t, state, "agent", "--local", "--message", "hi"); code != 0 {
		t.Fatal(errOut)
	}
	out, _, _ := runTalon(t, state, "cron", "add", "0 9 * * *", "report", "--json")
	var job struct{ ID string }
	json.Unmarshal([]byte(out), &job)
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	var walk func(cmd, path string, v any)
	walk = func(cmd, path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if !camel.MatchString(k) {
					t.Errorf("talon %s --json: key %q at %s is not camelCase", cmd, k, path)
				}
				walk(cmd, path+"."+k, e)
			}
		case []any:
			for _, e := range x {
				walk(cmd, path+"[]", e)
			}
		}
	}
	for _, args := range [][]string{
		{"version"}, {"sessions", "list"}, {"sessions", "show", "agent:main:main"}, {"cron", "list"}, {"cron", "runs", job.ID},
		{"usage"}, {"config", "validate"}, {"doctor", "--offline"}, {"audit", "tail"},
		{"pairing", "list"}, {"secrets", "list"}, {"onboard"}, {"gateway", "status"},
	} {
		out, errOut, _ := runTalon(t, state, append(args, "--json")...)
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Errorf("talon %v --json: not JSON (%v): %s %s", args, err, out, errOut)
			continue
		}
		walk(strings.Join(args, " "), "", v)
	}
}

// TestAgentThroughGatewayShowsToolDecisions: talon agent through the
// gateway shows each tool call's decision as --local does.
func TestAgentThroughGatewayShowsToolDecisions(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"date"}`}}}, fakellm.Reply{Text: "could not"})
	state := agentState(t, fake, "")
	t.Setenv("FAKE_KEY", "k")
	g, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runTalon(t, state, "agent", "--url", g.url, "--message", "what day")
	if code != 0 || out != "could not\n" || !strings.Contains(errOut, "talon: tool exec ask: denied (") {
		t.Fatalf("%d %q %q", code, out, errOut)
	}
}

func TestGoRunBuildIsNotInstalled(t *testing.T) {
	for bin, want := range map[string]bool{
		"/tmp/go-build3012/b001/exe/talon":      true,
		"/home/me/go/bin/talon":                 false,
		"/tmp/go-build3012/b001/cli.test":       false, // a test binary, which the tests install
		"/usr/local/bin/talon":                  false,
		"/var/tmp/go-build1/b001/exe/talon.exe": true,
	} {
		if got := goRunBuild(bin); got != want {
			t.Errorf("goRunBuild(%s) = %v", bin, got)
		}
	}
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]string{
		"plain\ttext\n":   "plain\ttext\n",
		"a\x1b[31mb":      `a\u{001B}[31mb`,
		"x\u202ey\u2066z": `x\u{202E}y\u{2066}z`,
		"cr\rlf":          `cr\u{000D}lf`,
		"c1\u009b":        `c1\u{009B}`,
		"zero\u200bwidth": `zero\u{200B}width`,
		"half\xe2\x80":    "half\xe2\x80", // a rune cut between deltas passes through
		"émoji 😀 and 中文":  "émoji 😀 and 中文",
	} {
		if got := visible(in); got != want {
			t.Errorf("visible(%q) = %q, want %q", in, got, want)
		}
	}
}
