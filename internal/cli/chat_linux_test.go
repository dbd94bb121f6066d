package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// chatScript is the conversation both chat tests hold: a streamed reply, an
// exec that needs approval (answered inline), then a slow turn aborted with
// Ctrl-C.
func chatScript(t *testing.T, p *ptyProc, fake *fakellm.Server, hold chan struct{}) {
	t.Helper()
	p.expect("you> ")
	p.typeText("hello there\n")
	p.expect("talon> first streamed reply")
	p.expect("you> ")

	// The owner asks for a command that is not on the allowlist: the
	// approval is asked right here, and the call runs once allowed.
	p.typeText("what day is it\n")
	p.expect("[approval ")
	p.expect("date")
	p.expect("allow? [o]nce / [a]lways / [d]eny: ")
	p.typeText("maybe\n")
	p.expect("please answer")
	p.typeText("o\n")
	p.expect("allow-once")
	p.expect("[tool] exec")
	p.expect("ask -> executed")
	p.expect("talon> it is today")
	p.expect("you> ")

	// /history shows the transcript with the tool decision.
	p.typeText("/history\n")
	p.expect("(owner): hello there")
	p.expect("tool exec [ask -> executed")
	p.expect("you> ")
	p.typeText("/sessions\n")
	p.expect("agent:main:main")
	p.expect("you> ")

	// A slow model: the progress line shows, Ctrl-C aborts the turn and
	// the chat goes on.
	p.typeText("take your time\n")
	p.expect("thinking...")
	p.typeText("\x03")
	p.expect("(turn aborted)")
	p.expect("you> ")
	close(hold)

	p.typeText("/new\n")
	p.expect("started a new session")
	p.expect("you> ")
	p.typeText("/history\n")
	p.expect("(no messages)")
	p.typeText("/quit\n")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d; terminal:\n%s", code, p.output())
	}
}

func chatFake(t *testing.T) (*fakellm.Server, chan struct{}) {
	fake := fakellm.New(t)
	hold := make(chan struct{})
	fake.Script(
		fakellm.Reply{Text: "first streamed reply"},
		fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "d1", Name: "exec", Args: `{"command":"date"}`}}},
		fakellm.Reply{Text: "it is today"},
		fakellm.Reply{Text: "too late", Hold: hold},
	)
	return fake, hold
}

func TestChatLocalOnTerminal(t *testing.T) {
	fake, hold := chatFake(t)
	state := agentState(t, fake, "")
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state, "FAKE_KEY=k"}, "chat", "--local")
	chatScript(t, p, fake, hold)
	// The approval was given on the terminal, recorded as such.
	st, err := store.Open(context.Background(), filepath.Join(state, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	aps, _ := st.ListApprovals(context.Background(), true, 10)
	if len(aps) != 1 || aps[0].Decision != "allow-once" || aps[0].ResolvedBy != "terminal" {
		t.Fatalf("approvals %+v", aps)
	}
}

func TestChatThroughGatewayOnTerminal(t *testing.T) {
	fake, hold := chatFake(t)
	state := agentState(t, fake, "")
	t.Setenv("FAKE_KEY", "k")
	g, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state}, "chat", "--url", g.url)
	chatScript(t, p, fake, hold)
}

// TestChatWithoutTerminal: piped input gets no prompts, no spinner and no
// inline approval (nobody can answer: the fallback denies), and --json
// prints one event per line.
func TestChatWithoutTerminal(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(
		fakellm.Reply{Text: "piped reply", Delay: 200 * time.Millisecond},
		fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "d1", Name: "exec", Args: `{"command":"date"}`}}},
		fakellm.Reply{Text: "could not"},
	)
	state := agentState(t, fake, "")
	cmd := talonCmd(state, "chat", "--local", "--json")
	cmd.Stdin = strings.NewReader("hi\nwhat day is it\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	s := string(out)
	for _, bad := range []string{"you> ", "thinking", "\r", "allow?"} {
		if strings.Contains(s, bad) {
			t.Errorf("non-terminal --json output contains %q:\n%s", bad, s)
		}
	}
	if !strings.Contains(s, `"type":"final","runId":`) || !strings.Contains(s, `"decision":"ask","outcome":"denied"`) {
		t.Fatalf("events:\n%s", s)
	}
}

func talonCmd(state string, args ...string) *execCmd {
	c := newExecCmd("talon", args...)
	c.Env = append(os.Environ(), "TALON_STATE_DIR="+state, "HOME="+state, "FAKE_KEY=k")
	return c
}

type execCmd = exec.Cmd

func newExecCmd(name string, args ...string) *exec.Cmd { return exec.Command(name, args...) }

// TestAgentLocalAsksOnTerminal: `talon agent --local` on a terminal asks
// inline instead of falling back; the owner's deny is what happens.
func TestAgentLocalAsksOnTerminal(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "t1", Name: "exec", Args: `{"command":"touch /tmp/talon-should-not-exist"}`}}},
		fakellm.Reply{Text: "as you wish"})
	state := agentState(t, fake, "")
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state, "FAKE_KEY=k"}, "agent", "--local", "--message", "make a file")
	p.expect("thinking...") // the progress line, on a terminal
	p.expect("wants to run")
	p.expect("touch")
	p.expect("allow? [o]nce / [a]lways / [d]eny: ")
	p.typeText("d\n")
	p.expect("exec ask: denied")
	p.expect("as you wish")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	st, err := store.Open(context.Background(), filepath.Join(state, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	aps, _ := st.ListApprovals(context.Background(), true, 10)
	if len(aps) != 1 || aps[0].Decision != "deny" || aps[0].ResolvedBy != "terminal" {
		t.Fatalf("approvals %+v", aps)
	}
}

// TestAgentThroughGatewayAsksOnTerminal: `talon agent` through the gateway
// on a terminal answers its own turn's approval inline; the allowed call
// runs.
func TestAgentThroughGatewayAsksOnTerminal(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "t1", Name: "exec", Args: `{"command":"date"}`}}},
		fakellm.Reply{Text: "it ran"})
	state := agentState(t, fake, "")
	t.Setenv("FAKE_KEY", "k")
	g, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state}, "agent", "--url", g.url, "--message", "what day", "--json")
	p.expect("wants to run")
	p.expect("allow? [o]nce / [a]lways / [d]eny: ")
	p.typeText("o\n")
	p.expect(`"outcome": "executed"`)
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
}

// TestChatJSONOnTerminal: --json on a terminal draws no prompt and no
// progress line even while the model is slow; Ctrl-C twice at the idle
// prompt exits cleanly.
func TestChatJSONOnTerminal(t *testing.T) {
	fake := fakellm.New(t)
	hold := make(chan struct{})
	fake.Script(fakellm.Reply{Text: "slow answer", Hold: hold})
	state := agentState(t, fake, "")
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state, "FAKE_KEY=k"}, "chat", "--local", "--json")
	p.typeText("hi\n")
	if !waitFor(func() bool { return fake.Count() == 1 }) {
		t.Fatal("model never called")
	}
	time.Sleep(300 * time.Millisecond) // several spinner ticks, were there a spinner
	close(hold)
	p.expect(`"type":"final"`)
	p.typeText("\x03")
	p.expect("Ctrl-C again")
	p.typeText("\x03")
	if code := p.wait(); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	if out := p.output(); strings.Contains(out, "thinking") || strings.Contains(out, "you> ") {
		t.Fatalf("--json drew terminal decorations:\n%s", out)
	}
}

// TestInvariant5_TerminalApprovalShowsTheRealPlan: the hijacked model
// dresses a command up with a right-to-left override, so that a terminal
// would show it reversed; the approval question shows the override as
// \u{202E} instead, the whole command, and the person's deny is what
// happens.
func TestInvariant5_TerminalApprovalShowsTheRealPlan(t *testing.T) {
	fake := fakellm.New(t)
	target := filepath.Join(t.TempDir(), "victim")
	os.WriteFile(target, []byte("keep"), 0o600)
	cmdText := "echo \u202e" + strings.Repeat(" ", 200) + "; rm " + target
	args, _ := json.Marshal(map[string]string{"command": cmdText})
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "x", Name: "exec", Args: string(args)}}}, fakellm.Reply{Text: "ok"})
	state := agentState(t, fake, "")
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state, "FAKE_KEY=k"}, "chat", "--local")
	p.expect("you> ")
	p.typeText("tidy up\n")
	shown := p.expect("allow? [o]nce / [a]lways / [d]eny: ")
	// Shown escaped: \u{202E} here, or \u202e in the approvals manager's
	// own rendering of the plan.
	if strings.Contains(shown, "\u202e") || !(strings.Contains(shown, `\u{202E}`) || strings.Contains(shown, `\u202e`)) {
		t.Fatalf("the override reached the terminal as is:\n%q", shown)
	}
	if !strings.Contains(shown, "rm "+target) {
		t.Fatalf("the question does not show the whole command:\n%s", shown)
	}
	p.typeText("d\n")
	p.expect("ask -> denied")
	p.typeText("/quit\n")
	p.wait()
	if b, err := os.ReadFile(target); err != nil || string(b) != "keep" {
		t.Fatalf("denied command ran: %v %q", err, b)
	}
}

// TestHostileTextCannotDriveTheTerminal: escape sequences in the model's
// reply (an OSC 52 clipboard write, clear screen, a carriage return that
// overprints) are shown, not obeyed, in chat, in talon agent and in
// sessions show.
func TestHostileTextCannotDriveTheTerminal(t *testing.T) {
	evil := "fine\x1b]52;c;ZXZpbA==\x07\x1b[2J\rall good"
	fake := fakellm.New(t)
	fake.Default = fakellm.Reply{Text: evil}
	state := agentState(t, fake, "")
	p := startPTY(t, []string{"TALON_STATE_DIR=" + state, "HOME=" + state, "FAKE_KEY=k"}, "chat", "--local")
	p.expect("you> ")
	p.typeText("hi\n")
	got := p.expect("you> ")
	p.typeText("/quit\n")
	p.wait()
	for _, bad := range []string{"\x1b]52", "\x1b[2J", "\x07", "\rall good"} {
		if strings.Contains(got, bad) {
			t.Fatalf("chat passed %q to the terminal:\n%q", bad, got)
		}
	}
	if !strings.Contains(got, `fine\u{001B}]52;c;ZXZpbA==\u{0007}\u{001B}[2J\u{000D}all good`) {
		t.Fatalf("chat output:\n%q", got)
	}
	for _, args := range [][]string{{"agent", "--local", "--message", "again"}, {"sessions", "show", "agent:main:main"}} {
		out, errOut, code := runTalon(t, state, args...)
		if code != 0 || strings.Contains(out, "\x1b") || strings.Contains(out, "\x07") || !strings.Contains(out, `\u{001B}]52`) {
			t.Fatalf("talon %v: %d %q %s", args, code, out, errOut)
		}
	}
}
