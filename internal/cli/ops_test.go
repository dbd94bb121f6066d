package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
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

	// Go call chains stay out of the message, and in with --debug.
	bad := filepath.Join(root, "bad")
	os.MkdirAll(bad, 0o700)
	os.WriteFile(filepath.Join(bad, "talon.json"), []byte(`{ gateway: { port: "x" } }`), 0o600)
	_, errOut, _ := runTalon(t, bad, "config", "get", "gateway.port")
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
}
