package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"time"
	"testing"

	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// A journaled turn stores its user message with the first response: the
// model sees it, and the transcript holds it, before the reply, under the
// turn's run id.
func TestJournaledTurnStoresUserMessageWithResponse(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(
		fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "echo", Args: `{"text":"ping"}`}}},
		fakellm.Reply{Text: "done"})
	e.reg.Register(&echoTool{})
	const key = "agent:main:telegram:direct:7"
	req := TurnRequest{SessionKey: key, Text: "hello from the journal", SenderID: "telegram:7", Trust: policy.TrustOwner,
		RunID: "run_in42", Journaled: true}
	if _, err := e.agent.Run(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d model calls", len(reqs))
	}
	first := reqs[0].Messages
	if last := first[len(first)-1]; last.Role != "user" || last.Content != "hello from the journal" {
		t.Fatalf("the first call did not end with the user message: %+v", last)
	}
	h, err := e.store.History(context.Background(), key, store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var roles []string
	for _, m := range h {
		roles = append(roles, m.Role)
		if m.RunID != "run_in42" {
			t.Errorf("message %d has run id %q", m.Seq, m.RunID)
		}
	}
	if got := strings.Join(roles, " "); got != "user assistant tool assistant" {
		t.Fatalf("transcript %s", got)
	}
	if h[0].Content != "hello from the journal" || h[0].SenderID != "telegram:7" {
		t.Errorf("stored user message %+v", h[0])
	}
}

// A journaled turn that ends before any response — here the model fails —
// still leaves its user message in the transcript for the next try, as an
// unjournaled turn does (invariant 14: nothing acknowledged is lost).
func TestInvariant14_JournaledTurnKeepsMessageWhenModelFails(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(fakellm.Reply{Status: 400, Text: "bad request"})
	const key = "agent:main:telegram:direct:8"
	req := TurnRequest{SessionKey: key, Text: "please keep me", SenderID: "telegram:8", Trust: policy.TrustOwner,
		RunID: "run_in43", Journaled: true}
	if _, err := e.agent.Run(context.Background(), req); err == nil {
		t.Fatal("the turn succeeded against a failing model")
	}
	h, err := e.store.History(context.Background(), key, store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Content != "please keep me" || h[0].RunID != "run_in43" {
		t.Fatalf("transcript after the failed turn: %+v", h)
	}
}

// A turn reuses the context it read only when its own message follows it
// directly: a message someone else appended in between (another
// session's sessions_send, a CLI) must not be missing from the model's
// context.
func TestExtendHistoryOnlyWhenContiguous(t *testing.T) {
	hist := []store.Message{{SessionID: "s", Seq: 1}, {SessionID: "s", Seq: 2}}
	if got := extendHistory(hist, []store.Message{{SessionID: "s", Seq: 3}}); len(got) != 3 {
		t.Errorf("contiguous append not reused: %d messages", len(got))
	}
	if got := extendHistory(hist, []store.Message{{SessionID: "s", Seq: 4}}); got != nil {
		t.Errorf("a gap (someone else's message at seq 3) was papered over: %+v", got)
	}
	if got := extendHistory(hist, []store.Message{{SessionID: "other", Seq: 3}}); got != nil {
		t.Errorf("a message of another session id (a reset meanwhile) was appended: %+v", got)
	}
	if got := extendHistory(nil, []store.Message{{SessionID: "s", Seq: 1}}); len(got) != 1 {
		t.Errorf("a new session's first message not reused: %+v", got)
	}
}

// The bootstrap cache serves a file only while it is the same file: an
// edit in place that keeps the size, and a replacement by rename, are
// both read again on the next call (the prompt carries the owner's
// current SOUL.md, never a stale one).
func TestBootstrapCacheSeesEdits(t *testing.T) {
	ws := t.TempDir()
	if err := EnsureWorkspace(ws); err != nil {
		t.Fatal(err)
	}
	var c bootstrapCache
	now := time.Now()
	write := func(text string) {
		if err := os.WriteFile(filepath.Join(ws, "SOUL.md"), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("Be brief. Version AAAA.")
	os.Chtimes(filepath.Join(ws, "SOUL.md"), now, now)
	if p := systemPrompt(&c, ws, 20000, true, "telegram", now); !strings.Contains(p, "AAAA") {
		t.Fatalf("first prompt: %q", p)
	}
	// Same size and modification time: the change time still differs
	// (the kernel's clock for it ticks every few milliseconds; an in-place
	// rewrite within one tick of the read is the cache's one blind spot).
	time.Sleep(20 * time.Millisecond)
	write("Be brief. Version BBBB.")
	os.Chtimes(filepath.Join(ws, "SOUL.md"), now, now)
	if p := systemPrompt(&c, ws, 20000, true, "telegram", now); !strings.Contains(p, "BBBB") || strings.Contains(p, "AAAA") {
		t.Fatalf("an in-place edit of the same size was not seen: %q", p)
	}
	tmp := filepath.Join(ws, "SOUL.md.tmp")
	os.WriteFile(tmp, []byte("Be brief. Version CCCC."), 0o600)
	if err := os.Rename(tmp, filepath.Join(ws, "SOUL.md")); err != nil {
		t.Fatal(err)
	}
	if p := systemPrompt(&c, ws, 20000, true, "telegram", now); !strings.Contains(p, "CCCC") {
		t.Fatalf("a replacement by rename was not seen: %q", p)
	}
	if got, want := systemPrompt(&c, ws, 20000, false, "telegram", now), SystemPrompt(ws, 20000, false, "telegram", now); got != want {
		t.Fatalf("cached and uncached prompts differ:\n%s\n---\n%s", got, want)
	}
}
