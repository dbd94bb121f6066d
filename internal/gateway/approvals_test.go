package gateway

import (
	"context"
	"encoding/json"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

type askPolicy struct{}

func (askPolicy) Decide(context.Context, policy.Request) policy.Decision {
	return policy.Decision{Action: policy.Ask, Reason: "not on the allowlist"}
}

type countTool struct {
	mu  sync.Mutex
	ran []string
}

func (c *countTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "exec", Parameters: json.RawMessage(`{"type":"object"}`)}
}

func (*countTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	return (&core.Plan{Tool: "exec", Effects: core.Executes | core.WritesHost | core.Egress | core.ReadsPrivate, Args: c.Args, Summary: "test exec"}).Seal(), nil
}

func (c *countTool) Run(_ context.Context, call core.Call, _ *core.Plan) (core.Result, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ran = append(c.ran, string(call.Args))
	return core.Result{Content: "ok"}, nil
}

func TestApprovalOverGateway(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c", Name: "exec", Args: `{"command":"make"}`}}}, fakellm.Reply{Text: "built"})
	tool := &countTool{}
	var mgr *approvals.Manager
	tg := startGW(t, func(c *config.Config, o *Options) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "talon.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c.Models.Providers = map[string]config.Provider{"fake": {API: "openai-completions", BaseURL: fake.URL, Models: []config.ModelDef{{ID: "m", ContextWindow: 32000, MaxTokens: 512}}}}
		c.Agents.Defaults.Model = "fake/m"
		reg := agent.NewRegistry()
		reg.Register(tool)
		mgr = &approvals.Manager{Store: st}
		a, err := agent.New(agent.Options{Config: func() *config.Config { return c }, Store: st, Models: &agent.ConfigModels{}, Tools: reg,
			Policy: askPolicy{}, Approvals: mgr, Workspace: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		o.Store, o.Agent, o.Approvals = st, a, mgr
	})
	mgr.HasApprover, mgr.Notify = tg.g.HasApprover, tg.g.NotifyApprovals

	approver, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.approvals", "operator.write"}})
	if err != nil {
		t.Fatal(err)
	}
	defer approver.Close()
	var started struct{ RunID string }
	if err := approver.Call(ctxT(t), "chat.send", map[string]any{"message": "build it"}, &started); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(15 * time.Second)
	var final bool
	for !final {
		select {
		case ev := <-approver.Events():
			p, _ := ev.Payload.(map[string]any)
			switch ev.Event {
			case approvals.EventRequested:
				if p["tool"] != "exec" || p["args"] != `{"command":"make"}` || p["planHash"] == "" {
					t.Fatalf("request %v", p)
				}
				// A read-only operator may not resolve it.
				ro, _ := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
				if err := ro.Call(ctxT(t), "exec.approval.resolve", map[string]any{"id": p["id"], "decision": "allow-once"}, nil); err == nil {
					t.Fatal("resolved without operator.approvals")
				}
				ro.Close()
				var list struct{ Approvals []store.Approval }
				approver.Call(ctxT(t), "exec.approval.list", nil, &list)
				if len(list.Approvals) != 1 {
					t.Fatalf("list %+v", list)
				}
				if err := approver.Call(ctxT(t), "exec.approval.resolve", map[string]any{"id": p["id"], "decision": "allow-once"}, nil); err != nil {
					t.Fatal(err)
				}
			case "chat":
				if p["runId"] == started.RunID && p["state"] == "final" {
					final = true
				}
			}
		case <-deadline:
			t.Fatal("run did not finish")
		}
	}
	tool.mu.Lock()
	defer tool.mu.Unlock()
	if len(tool.ran) != 1 || tool.ran[0] != `{"command":"make"}` {
		t.Fatalf("tool ran %v", tool.ran)
	}
}
