package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

type env struct {
	t     *testing.T
	fake  *fakellm.Server
	store *store.Store
	cfg   *config.Config
	reg   *Registry
	agent *Agent
	ws    string
}

type envOpt func(*config.Config, *Options)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	fake := fakellm.New(t)
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Models.Providers = map[string]config.Provider{"local": {API: "openai-completions", BaseURL: fake.URL,
		Models: []config.ModelDef{{ID: "m", ContextWindow: 128000, MaxTokens: 1024, Cost: config.ModelCost{Input: 1, Output: 2}}}}}
	cfg.Agents.Defaults.Model = "local/m"
	ws := filepath.Join(dir, "workspace")
	if err := EnsureWorkspace(ws); err != nil {
		t.Fatal(err)
	}
	reg := NewRegistry()
	o := Options{Config: func() *config.Config { return cfg }, Store: st, Models: &ConfigModels{}, Tools: reg, Workspace: ws,
		Router: llm.RouterOptions{MaxRetries: 1, BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}}
	for _, f := range opts {
		f(cfg, &o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, fake: fake, store: st, cfg: cfg, reg: reg, agent: a, ws: ws}
}

func (e *env) run(text string) (*TurnResult, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.agent.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: MainSessionKey(""), Text: text})
}

// echoTool returns its "text" argument.
type echoTool struct {
	mu    sync.Mutex
	calls []string
}

func (t *echoTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "echo", Description: "echo text", Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)}
}

func (t *echoTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	return testPlan(t.Spec().Name, c)
}

func (t *echoTool) Run(ctx context.Context, c core.Call, _ *core.Plan) (core.Result, error) {
	var a struct{ Text string }
	_ = json.Unmarshal(c.Args, &a)
	t.mu.Lock()
	t.calls = append(t.calls, a.Text)
	t.mu.Unlock()
	return core.Result{Content: "echo: " + a.Text}, nil
}

func TestTurnReplyUsageAndCost(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(fakellm.Reply{Text: "hello there", Usage: &fakellm.Usage{Prompt: 1000, Completion: 500}})
	res, err := e.run("hi")
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply != "hello there" || res.SessionKey != "agent:main:main" {
		t.Fatalf("result %+v", res)
	}
	want := 1000*1.0/1e6 + 500*2.0/1e6
	if res.Usage.InputTokens != 1000 || res.Usage.OutputTokens != 500 || math.Abs(res.Usage.CostUSD-want) > 1e-12 {
		t.Fatalf("usage %+v, want cost %v", res.Usage, want)
	}
	hist, _ := e.store.History(context.Background(), res.SessionKey, store.HistoryOptions{})
	if len(hist) != 2 || hist[0].Role != "user" || hist[0].Content != "hi" || hist[0].Provenance != "owner" || hist[1].Content != "hello there" || hist[1].Model != "local/m" {
		t.Fatalf("transcript %+v", hist)
	}
	spent, _ := e.store.Spend(context.Background(), store.SpendFilter{})
	if math.Abs(spent-want) > 1e-12 {
		t.Fatalf("recorded spend %v", spent)
	}
	// The system prompt carries the workspace files.
	reqs := e.fake.Requests()
	if len(reqs) != 1 || !strings.Contains(reqs[0].Messages[0].Content, "## AGENTS.md") {
		t.Fatalf("system prompt missing workspace files: %+v", reqs)
	}
}

func TestToolCallRoundTrip(t *testing.T) {
	e := newEnv(t)
	echo := &echoTool{}
	e.reg.Register(echo)
	e.fake.Script(
		fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "echo", Args: `{"text":"ping"}`}}},
		fakellm.Reply{Text: "the tool said ping"},
	)
	res, err := e.run("use the tool")
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply != "the tool said ping" || len(res.ToolCalls) != 1 {
		t.Fatalf("result %+v", res)
	}
	tc := res.ToolCalls[0]
	if tc.ID != "c1" || tc.Name != "echo" || tc.Decision != policy.Allow || tc.Outcome != "executed" || string(tc.Args) != `{"text":"ping"}` {
		t.Fatalf("tool call %+v", tc)
	}
	if len(echo.calls) != 1 || echo.calls[0] != "ping" {
		t.Fatalf("tool ran %v", echo.calls)
	}
	reqs := e.fake.Requests()
	last := reqs[len(reqs)-1].Messages
	m := last[len(last)-1]
	if m.Role != "tool" || m.ToolCallID != "c1" || m.Content != "echo: ping" {
		t.Fatalf("tool result not sent back: %+v", m)
	}
	// The decision is stored with the result.
	hist, _ := e.store.History(context.Background(), res.SessionKey, store.HistoryOptions{})
	var d map[string]string
	for _, h := range hist {
		if h.Role == "tool" {
			json.Unmarshal(h.Decision, &d)
		}
	}
	if d["action"] != "allow" || d["outcome"] != "executed" {
		t.Fatalf("stored decision %v", d)
	}
}

func TestBadToolCallsGoBackAsErrors(t *testing.T) {
	e := newEnv(t)
	e.reg.Register(&echoTool{})
	e.fake.Script(
		fakellm.Reply{ToolCalls: []fakellm.Call{
			{ID: "a", Name: "nosuch", Args: `{}`},
			{ID: "b", Name: "echo", Args: `{"text": "unterminated`},
			{ID: "c", Name: "echo", Args: `[1,2]`},
		}},
		fakellm.Reply{Text: "sorry"},
	)
	res, err := e.run("go")
	if err != nil {
		t.Fatal(err)
	}
	if res.Reply != "sorry" || len(res.ToolCalls) != 3 {
		t.Fatalf("result %+v", res)
	}
	for _, tc := range res.ToolCalls {
		if tc.Outcome != "error" || tc.Decision != policy.Deny || tc.Reason == "" {
			t.Fatalf("bad call handled as %+v", tc)
		}
	}
	reqs := e.fake.Requests()
	sent := reqs[1].Messages
	n := 0
	for _, m := range sent {
		if m.Role == "tool" {
			n++
			if !strings.HasPrefix(m.Content, "error: ") {
				t.Fatalf("tool error content %q", m.Content)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d tool results sent back, want 3", n)
	}
}

type denyEcho struct{}

func (denyEcho) Decide(_ context.Context, req policy.Request) policy.Decision {
	if req.Tool.Name == "echo" {
		return policy.Decision{Action: policy.Deny, Reason: "echo is not allowed here"}
	}
	return policy.Decision{Action: policy.Allow}
}

func TestPolicyDenyIsEnforcedAndRecorded(t *testing.T) {
	e := newEnv(t, func(c *config.Config, o *Options) { o.Policy = denyEcho{} })
	echo := &echoTool{}
	e.reg.Register(echo)
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "echo", Args: `{"text":"x"}`}}}, fakellm.Reply{Text: "ok"})
	res, err := e.run("go")
	if err != nil {
		t.Fatal(err)
	}
	if len(echo.calls) != 0 {
		t.Fatal("a denied tool ran")
	}
	tc := res.ToolCalls[0]
	if tc.Decision != policy.Deny || tc.Outcome != "denied" || tc.Reason != "echo is not allowed here" {
		t.Fatalf("%+v", tc)
	}
}

func TestPerTurnToolCallLimit(t *testing.T) {
	e := newEnv(t, func(c *config.Config, o *Options) { c.Budgets.PerTurnToolCalls = 2 })
	echo := &echoTool{}
	e.reg.Register(echo)
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "1", Name: "echo", Args: `{"text":"a"}`}, {ID: "2", Name: "echo", Args: `{"text":"b"}`}, {ID: "3", Name: "echo", Args: `{"text":"c"}`}}},
		fakellm.Reply{Text: "done"})
	res, err := e.run("go")
	if err != nil {
		t.Fatal(err)
	}
	if len(echo.calls) != 2 || res.ToolCalls[2].Outcome != "denied" || !strings.Contains(res.ToolCalls[2].Reason, "budgets.perTurnToolCalls") {
		t.Fatalf("calls %v, records %+v", echo.calls, res.ToolCalls)
	}
}

func TestMaxIterations(t *testing.T) {
	e := newEnv(t, func(c *config.Config, o *Options) { c.Agents.Defaults.MaxIterations = 3 })
	e.reg.Register(&echoTool{})
	loop := fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "x", Name: "echo", Args: `{"text":"again"}`}}}
	e.fake.Script(loop, loop, loop, loop, loop)
	res, err := e.run("loop forever")
	if err != nil {
		t.Fatal(err)
	}
	if e.fake.Count() != 3 || res.StopReason != "max_iterations" || !strings.Contains(res.Reply, "agents.defaults.maxIterations") {
		t.Fatalf("%d model calls, result %+v", e.fake.Count(), res)
	}
}

// TestInvariant11_BudgetRefusedBeforeModelCall: with the daily budget spent,
// the turn is refused with a message naming the budget, and the provider
// never sees a request.
func TestInvariant11_BudgetRefusedBeforeModelCall(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*config.Budgets)
		key  string
	}{
		{"day", func(b *config.Budgets) { b.PerDayUSD = 0.5 }, "budgets.perDayUsd"},
		{"month", func(b *config.Budgets) { b.PerMonthUSD = 0.5 }, "budgets.perMonthUsd"},
		{"session", func(b *config.Budgets) { b.PerSessionUSD = 0.5 }, "budgets.perSessionUsd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *config.Config, o *Options) { tc.set(&c.Budgets) })
			ctx := context.Background()
			sess, err := e.store.EnsureSession(ctx, "agent:main:main", store.SessionInit{AgentID: "main"})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.store.RecordUsage(ctx, store.UsageRecord{TS: time.Now(), SessionKey: sess.Key, SessionID: sess.ID, Provider: "local", Model: "m", CostUSD: 0.6}); err != nil {
				t.Fatal(err)
			}
			e.fake.ForbidRequests()
			var events []Event
			res, err := e.agent.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "spend more", OnEvent: func(ev Event) { events = append(events, ev) }})
			var be *BudgetError
			if !errors.As(err, &be) || be.Key != tc.key {
				t.Fatalf("err %v, want BudgetError for %s", err, tc.key)
			}
			if !strings.Contains(res.Reply, tc.key) || !strings.Contains(res.Reply, "not called") {
				t.Fatalf("message does not say which budget or how to raise it: %q", res.Reply)
			}
			if e.fake.Count() != 0 {
				t.Fatal("the model was called over budget")
			}
			if len(events) != 1 || events[0].Type != "refused" {
				t.Fatalf("events %+v", events)
			}
		})
	}
}

func TestInvariant11_PromptThatWouldCrossBudgetIsRefused(t *testing.T) {
	// $1 per million input tokens, limit $0.001: a 20,000-character prompt
	// (~5,000 tokens, $0.005) would cross it even though nothing is spent.
	e := newEnv(t, func(c *config.Config, o *Options) { c.Budgets.PerDayUSD = 0.001 })
	e.fake.ForbidRequests()
	_, err := e.run(strings.Repeat("x", 20000))
	var be *BudgetError
	if !errors.As(err, &be) || e.fake.Count() != 0 {
		t.Fatalf("err %v, model calls %d", err, e.fake.Count())
	}
}

func TestTokenBudget(t *testing.T) {
	e := newEnv(t, func(c *config.Config, o *Options) { c.Budgets.PerSessionTokens = 100 })
	e.fake.Script(fakellm.Reply{Text: "a", Usage: &fakellm.Usage{Prompt: 90, Completion: 20}})
	if _, err := e.run("one"); err != nil {
		t.Fatal(err)
	}
	_, err := e.run("two")
	var be *BudgetError
	if !errors.As(err, &be) || be.Key != "budgets.perSessionTokens" || e.fake.Count() != 1 {
		t.Fatalf("err %v, calls %d", err, e.fake.Count())
	}
}

func TestProviderDownKeepsMessage(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500}, fakellm.Reply{Status: 500})
	_, err := e.run("remember this")
	if err == nil || !strings.Contains(err.Error(), "saved") {
		t.Fatalf("err %v", err)
	}
	hist, _ := e.store.History(context.Background(), "agent:main:main", store.HistoryOptions{})
	if len(hist) != 1 || hist[0].Content != "remember this" {
		t.Fatalf("inbound message lost: %+v", hist)
	}
	// Garbage from the provider is an error too, not a crash.
	e.fake.Script(fakellm.Reply{Status: 200, Body: "not json at all"}, fakellm.Reply{Status: 200, Body: "{"})
	if _, err := e.run("again"); err == nil {
		t.Fatal("garbage reply accepted")
	}
	// Once the provider is back, the saved messages are in context.
	e.fake.Script(fakellm.Reply{Text: "back"})
	if _, err := e.run("and now?"); err != nil {
		t.Fatal(err)
	}
	reqs := e.fake.Requests()
	var all []string
	for _, m := range reqs[len(reqs)-1].Messages {
		all = append(all, m.Content)
	}
	joined := strings.Join(all, "|")
	if !strings.Contains(joined, "remember this") || !strings.Contains(joined, "and now?") {
		t.Fatalf("saved message not in context: %s", joined)
	}
}

func TestFailoverToFallbackModel(t *testing.T) {
	e := newEnv(t)
	p := e.cfg.Models.Providers["local"]
	p.Models = append(p.Models, config.ModelDef{ID: "backup", ContextWindow: 1000, MaxTokens: 100})
	e.cfg.Models.Providers["local"] = p
	e.cfg.Agents.Defaults.Fallbacks = []string{"local/backup"}
	e.fake.Script(fakellm.Reply{Status: 401}, fakellm.Reply{Text: "from backup"})
	res, err := e.run("hi")
	if err != nil || res.Reply != "from backup" || res.Model != "local/backup" {
		t.Fatalf("res %+v err %v", res, err)
	}
}

func TestSessionTurnsRunInArrivalOrder(t *testing.T) {
	e := newEnv(t)
	e.fake.Default = fakellm.Reply{Text: "ack", Delay: 5 * time.Millisecond}
	const n = 12
	done := make(chan struct{}, n)
	ctx := context.Background()
	for i := range n {
		_, err := e.agent.Start(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: fmt.Sprintf("msg %02d", i), OnEvent: func(ev Event) {
			if ev.Type == "final" || ev.Type == "error" {
				done <- struct{}{}
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("turns did not finish")
		}
	}
	hist, _ := e.store.History(ctx, "agent:main:main", store.HistoryOptions{})
	if len(hist) != 2*n {
		t.Fatalf("%d messages, want %d", len(hist), 2*n)
	}
	for i := range n {
		u, a := hist[2*i], hist[2*i+1]
		if u.Role != "user" || u.Content != fmt.Sprintf("msg %02d", i) || a.Role != "assistant" {
			t.Fatalf("position %d: %s %q then %s — turns interleaved or reordered", i, u.Role, u.Content, a.Role)
		}
	}
}

func TestSessionsRunInParallel(t *testing.T) {
	e := newEnv(t, func(c *config.Config, o *Options) { c.Agents.Defaults.MaxConcurrent = 4 })
	e.fake.Default = fakellm.Reply{Text: "ok", Delay: 300 * time.Millisecond}
	var wg sync.WaitGroup
	start := time.Now()
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.agent.Run(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: fmt.Sprintf("agent:main:cli:direct:u%d", i), Text: "hi"})
		}()
	}
	wg.Wait()
	// Four 300 ms turns on four sessions with 4 slots overlap; serially
	// they would take 1.2 s. Generous bound: this checks concurrency exists,
	// not speed.
	if el := time.Since(start); el > 1100*time.Millisecond {
		t.Fatalf("4 sessions took %v; they did not run in parallel", el)
	}
}

func TestNewCommandResetsWithoutModelCall(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(fakellm.Reply{Text: "one"})
	if _, err := e.run("first"); err != nil {
		t.Fatal(err)
	}
	before := e.fake.Count()
	res, err := e.run("/new")
	if err != nil || !strings.Contains(res.Reply, "new session") || e.fake.Count() != before {
		t.Fatalf("res %+v err %v", res, err)
	}
	hist, _ := e.store.History(context.Background(), "agent:main:main", store.HistoryOptions{})
	if len(hist) != 0 {
		t.Fatalf("history after /new: %+v", hist)
	}
}

func TestAbort(t *testing.T) {
	e := newEnv(t)
	e.fake.Script(fakellm.Reply{Text: "slow", Delay: 10 * time.Second})
	got := make(chan Event, 8)
	id, err := e.agent.Start(context.Background(), TurnRequest{Trust: policy.TrustOwner, SessionKey: "agent:main:main", Text: "hi", OnEvent: func(ev Event) { got <- ev }})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !e.agent.Abort("agent:main:main", id) {
		t.Fatal("nothing to abort")
	}
	select {
	case ev := <-got:
		if ev.Type != "aborted" {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("abort did not end the turn")
	}
}

// TestCompactionKeepsToolPairsValid: with a small context window, long
// sessions with tool calls get compacted, and every request the model sees
// has each tool result right after the assistant call it answers.
func TestCompactionKeepsToolPairsValid(t *testing.T) {
	e := newEnv(t)
	p := e.cfg.Models.Providers["local"]
	p.Models[0].ContextWindow = 1500
	e.cfg.Models.Providers["local"] = p
	e.reg.Register(&echoTool{})
	big := strings.Repeat("lorem ipsum ", 40)
	for i := range 8 {
		e.fake.Script(
			fakellm.Reply{Text: "calling", ToolCalls: []fakellm.Call{{ID: fmt.Sprintf("t%d", i), Name: "echo", Args: fmt.Sprintf(`{"text":%q}`, big)}}},
			fakellm.Reply{Text: "answer " + big},
		)
		e.fake.Default = fakellm.Reply{Text: "summary of things so far"}
		if _, err := e.run(fmt.Sprintf("question %d %s", i, big)); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := e.store.History(context.Background(), "agent:main:main", store.HistoryOptions{IncludeCompacted: true})
	summaries := 0
	for _, m := range all {
		if m.Summary {
			summaries++
		}
	}
	if summaries == 0 {
		t.Fatal("no compaction happened")
	}
	for ri, r := range e.fake.Requests() {
		open := map[string]bool{}
		for i, m := range r.Messages {
			switch m.Role {
			case "assistant":
				open = map[string]bool{}
				for _, c := range m.ToolCalls {
					open[c.ID] = true
				}
			case "tool":
				if !open[m.ToolCallID] {
					t.Fatalf("request %d message %d: tool result %q without its call", ri, i, m.ToolCallID)
				}
				delete(open, m.ToolCallID)
			default:
				if len(open) > 0 {
					t.Fatalf("request %d message %d: calls %v left unanswered", ri, i, open)
				}
			}
		}
	}
	hist, _ := e.store.History(context.Background(), "agent:main:main", store.HistoryOptions{})
	if !hist[0].Summary {
		t.Fatal("active history does not start with the summary")
	}
}

func TestCrashLeftoverToolCallIsRepaired(t *testing.T) {
	// A turn killed between storing a tool call and its result leaves an
	// unanswered call; the next request must still be valid.
	e := newEnv(t)
	ctx := context.Background()
	e.store.EnsureSession(ctx, "agent:main:main", store.SessionInit{AgentID: "main"})
	e.store.AppendMessages(ctx, "agent:main:main",
		store.Message{Role: "user", Content: "do it", Provenance: "owner"},
		store.Message{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"lost","name":"echo","args":{}}]`)})
	e.fake.Script(fakellm.Reply{Text: "recovered"})
	if _, err := e.run("still there?"); err != nil {
		t.Fatal(err)
	}
	msgs := e.fake.Requests()[0].Messages
	found := false
	for _, m := range msgs {
		if m.Role == "tool" && m.ToolCallID == "lost" && strings.Contains(m.Content, "interrupted") {
			found = true
		}
	}
	if !found {
		t.Fatalf("interrupted call not answered: %+v", msgs)
	}
}

func TestSystemPromptWorkspaceFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "workspace")
	if err := EnsureWorkspace(dir); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Fatalf("workspace mode %v", fi.Mode())
	}
	os.WriteFile(filepath.Join(dir, "MEMORY.md"), []byte("owner's secret plans"), 0o600)
	outside := filepath.Join(t.TempDir(), "secret.txt")
	os.WriteFile(outside, []byte("OUTSIDE-FILE"), 0o600)
	os.Remove(filepath.Join(dir, "TOOLS.md"))
	os.Symlink(outside, filepath.Join(dir, "TOOLS.md"))
	now := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)

	owner := SystemPrompt(dir, 20000, true, "cli", now)
	other := SystemPrompt(dir, 20000, false, "telegram", now)
	if !strings.Contains(owner, "owner's secret plans") || strings.Contains(other, "owner's secret plans") {
		t.Fatal("MEMORY.md must be in the owner's prompt only")
	}
	if strings.Contains(owner, "OUTSIDE-FILE") {
		t.Fatal("a symlink pulled a file from outside the workspace into the prompt")
	}
	capped := SystemPrompt(dir, 50, true, "cli", now)
	if !strings.Contains(capped, "bootstrapMaxChars") || strings.Contains(capped, "IDENTITY.md") {
		t.Fatalf("cap not applied:\n%s", capped)
	}
	if strings.Contains(SystemPrompt(dir, 0, true, "cli", now), "AGENTS.md") {
		t.Fatal("bootstrapMaxChars 0 must include no files")
	}
	// Existing files are never overwritten.
	os.WriteFile(filepath.Join(dir, "AGENTS.md"), []byte("mine"), 0o600)
	EnsureWorkspace(dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "AGENTS.md")); string(b) != "mine" {
		t.Fatal("EnsureWorkspace overwrote a user file")
	}
}
