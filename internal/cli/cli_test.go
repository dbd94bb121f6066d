package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/sandbox"
	"github.com/talonclaw/talon/internal/security"
)

// talonMain is the real main, run inside the test binary as the `talon`
// command of the scripts and of the process tests below.
func talonMain() int {
	home, _ := os.UserHomeDir()
	err := Execute(context.Background(), Env{Lookup: os.LookupEnv, Home: home, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}, os.Args[1:])
	if err != nil && !IsSilent(err) {
		for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
			fmt.Fprintf(os.Stderr, "talon: %s\n", line)
		}
	}
	return ExitCode(err)
}

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"talon": func() {
		if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
			sandbox.Main()
		}
		os.Exit(talonMain())
	}})
}

// TestScripts runs testdata/script/*.txtar: CLI behaviour as a user sees it.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("TALON_STATE_DIR", filepath.Join(e.WorkDir, "state"))
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// exitcode N cmd...: run talon and check its exact exit status.
			"exitcode": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: exitcode N args...")
				}
				cmd := exec.Command("talon", args[1:]...)
				cmd.Env = append(os.Environ(), "TALON_STATE_DIR="+ts.Getenv("TALON_STATE_DIR"), "HOME="+ts.Getenv("HOME"))
				out, _ := cmd.CombinedOutput()
				got := cmd.ProcessState.ExitCode()
				if fmt.Sprint(got) != args[0] {
					ts.Fatalf("exit %d, want %s; output:\n%s", got, args[0], out)
				}
			},
			// perm MODE path: check exact permission bits.
			"perm": func(ts *testscript.TestScript, neg bool, args []string) {
				fi, err := os.Stat(ts.MkAbs(args[1]))
				ts.Check(err)
				if got := fmt.Sprintf("%04o", fi.Mode().Perm()); got != args[0] {
					ts.Fatalf("%s: mode %s, want %s", args[1], got, args[0])
				}
			},
		},
	})
}

func TestExitCodes(t *testing.T) {
	dir := t.TempDir()
	env := func(string) (string, bool) { return "", false }
	run := func(args ...string) (int, string) {
		var out, errb strings.Builder
		e := Env{Lookup: func(k string) (string, bool) {
			if k == "TALON_STATE_DIR" {
				return dir, true
			}
			return env(k)
		}, Home: dir, Stdout: &out, Stderr: &errb}
		err := Execute(context.Background(), e, args)
		msg := errb.String()
		if err != nil {
			msg += err.Error()
		}
		return ExitCode(err), msg
	}
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"version"}, 0, ""},
		{[]string{"nosuch"}, 2, "unknown command"},
		{[]string{"version", "extra"}, 2, "want 0 argument"},
		{[]string{"gateway", "run", "--port", "abc"}, 2, "invalid argument"},
		{[]string{"gateway", "run", "--port", "70000"}, 2, "not a port"},
		{[]string{"gateway", "run", "--bind", "everywhere"}, 2, "loopback|lan"},
		{[]string{"gateway", "run", "--nosuchflag"}, 2, "unknown flag"},
		{[]string{"config", "set", "gateway.port"}, 2, "want 2 argument"},
		{[]string{"config", "set", "gateway.bind", "everywhere"}, 1, "gateway.bind"},
		{[]string{"config", "get", "gateway.nosuch"}, 1, "not set"},
	} {
		code, msg := run(tc.args...)
		if code != tc.code || !strings.Contains(msg, tc.msg) {
			t.Errorf("talon %v: exit %d %q; want %d containing %q", tc.args, code, msg, tc.code, tc.msg)
		}
		if strings.Contains(msg, "\n\n") {
			t.Errorf("talon %v: blank lines in error output", tc.args)
		}
	}
}

// gatewayProc runs `talon gateway run` as a real child process.
type gatewayProc struct {
	cmd    *exec.Cmd
	stdout *bufio.Reader
	stderr *syncBuf
	url    string
}

func startGatewayProc(t *testing.T, stateDir string, args ...string) (*gatewayProc, error) {
	t.Helper()
	// "talon" is this test binary, put on PATH by testscript.Main.
	cmd := exec.Command("talon", append([]string{"gateway", "run"}, args...)...)
	cmd.Env = append(os.Environ(), "TALON_STATE_DIR="+stateDir, "HOME="+stateDir)
	out, _ := cmd.StdoutPipe()
	errb := &syncBuf{}
	cmd.Stderr = errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &gatewayProc{cmd: cmd, stdout: bufio.NewReader(out), stderr: errb}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line := make(chan string, 1)
	go func() {
		l, _ := p.stdout.ReadString('\n')
		line <- l
		io.Copy(io.Discard, p.stdout)
	}()
	select {
	case l := <-line:
		m := regexp.MustCompile(`^gateway listening on (ws://127\.0\.0\.1:\d+)\n$`).FindStringSubmatch(l)
		if m == nil {
			cmd.Wait()
			return p, fmt.Errorf("no listening line (got %q); stderr: %s", l, errb.String())
		}
		p.url = m[1]
		return p, nil
	case <-time.After(30 * time.Second):
		return p, errors.New("gateway did not become ready in 30s")
	}
}

// syncBuf collects a child's stderr while the test reads it.
type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// waitFor polls cond for up to 10 s.
func waitFor(cond func() bool) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

func TestGatewayRunFirstRun(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	p, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(state)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode %v (%v)", fi.Mode(), err)
	}
	for _, f := range []string{"talon.json", "talon.db", "logs/talon.log"} {
		fi, err := os.Stat(filepath.Join(state, f))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, fi, err)
		}
	}
	cfg, _, err := config.Load(filepath.Join(state, "talon.json"), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	tok := cfg.Gateway.Auth.Token.Reveal()
	if len(tok) < 43 || cfg.Gateway.Bind != "loopback" || cfg.Gateway.Auth.Mode != "token" {
		t.Fatalf("generated config: bind %s mode %s token length %d", cfg.Gateway.Bind, cfg.Gateway.Auth.Mode, len(tok))
	}
	// The connect hint carries the token only in the fragment.
	waitFor(func() bool { return strings.Contains(p.stderr.String(), "control ui") })
	if !strings.Contains(p.stderr.String(), "/#token="+tok) || strings.Contains(p.stderr.String(), "?token=") {
		t.Fatalf("connect hint: %s", p.stderr.String())
	}
	// talon health against it, with the configured token.
	h := exec.Command("talon", "health", "--url", p.url, "--json")
	h.Env = append(os.Environ(), "TALON_STATE_DIR="+state)
	out, err := h.CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"ok": true`) {
		t.Fatalf("talon health: %v %s", err, out)
	}
	// SIGTERM stops it cleanly.
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; stderr %s", err, p.stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not stop on SIGTERM")
	}
}

func TestGatewayRunRefusesLanWithoutAuth(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	os.MkdirAll(state, 0o700)
	os.WriteFile(filepath.Join(state, "talon.json"), []byte(`{gateway:{bind:"loopback",auth:{mode:"none"}}}`), 0o600)
	_, err := startGatewayProc(t, state, "--bind", "lan", "--port", "0")
	if err == nil {
		t.Fatal("gateway started on lan without auth")
	}
	if !strings.Contains(err.Error(), "refusing to listen beyond loopback without authentication") || !strings.Contains(err.Error(), "hint") {
		t.Fatalf("unhelpful refusal: %v", err)
	}
}

func TestSecurityAuditDeep(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	p, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	port := p.url[strings.LastIndex(p.url, ":")+1:]
	set := exec.Command("talon", "config", "set", "gateway.port", port)
	set.Env = append(os.Environ(), "TALON_STATE_DIR="+state, "HOME="+state)
	if out, err := set.CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	cmd := exec.Command("talon", "security", "audit", "--deep", "--json")
	cmd.Env = append(os.Environ(), "TALON_STATE_DIR="+state, "HOME="+state)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%v %s", err, out)
	}
	var res struct {
		Findings []struct {
			CheckID string `json:"checkId"`
		} `json:"findings"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatal(err)
	}
	for _, f := range res.Findings {
		if !security.KnownCheck(f.CheckID) {
			t.Errorf("%s is not in the check table (internal/security/checks.go, docs/security-audit.md)", f.CheckID)
		}
	}
	for _, id := range []string{"deep.no_auth_refused", "deep.wrong_token_refused", "deep.cross_site_refused"} {
		if !strings.Contains(string(out), `"checkId": "`+id+`"`) {
			t.Errorf("missing %s in:\n%s", id, out)
		}
	}
	for _, bad := range []string{"deep.no_auth_accepted", "deep.wrong_token_accepted", "deep.cross_site_accepted", "deep.reachable_beyond_loopback"} {
		if strings.Contains(string(out), bad) {
			t.Errorf("unexpected %s:\n%s", bad, out)
		}
	}
}
