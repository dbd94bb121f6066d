package agent

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// askAll asks about every call.
type askAll struct{}

func (askAll) Decide(context.Context, policy.Request) policy.Decision {
	return policy.Decision{Action: policy.Ask, Reason: "not on the allowlist"}
}

func TestApprovalRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		decision string
		runs     bool
	}{{approvals.AllowOnce, true}, {approvals.Deny, false}} {
		t.Run(tc.decision, func(t *testing.T) {
			var m *approvals.Manager
			e := newEnv(t, func(c *config.Config, o *Options) {
				o.Policy = askAll{}
				m = &approvals.Manager{Store: o.Store, HasApprover: func() bool { return true }}
				m.Notify = func(ev string, p any) {
					if ev == approvals.EventRequested {
						a := p.(approvals.Pending)
						go m.Resolve(context.Background(), a.ID, tc.decision, "test-operator")
					}
				}
				o.Approvals = m
			})
			tool := &recordingTool{name: "exec", out: "PASS"}
			e.reg.Register(tool)
			e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c", Name: "exec", Args: `{"command":"go test ./..."}`}}}, fakellm.Reply{Text: "done"})
			res, err := e.run("run the tests")
			if err != nil {
				t.Fatal(err)
			}
			got := tool.calls()
			if tc.runs && (len(got) != 1 || got[0] != `{"command":"go test ./..."}`) {
				t.Fatalf("approved call did not run as approved: %v", got)
			}
			if !tc.runs && len(got) != 0 {
				t.Fatalf("denied call ran: %v", got)
			}
			rec := res.ToolCalls[0]
			if rec.Decision != policy.Ask || !strings.Contains(rec.Reason, "approval") {
				t.Fatalf("%+v", rec)
			}
			all, _ := e.store.ListApprovals(context.Background(), true, 0)
			if len(all) != 1 || all[0].PlanHash != approvals.PlanHash("exec", json.RawMessage(`{"command":"go test ./..."}`)) {
				t.Fatalf("approval record %+v", all)
			}
		})
	}
}

func TestAskFallbackWithoutApprover(t *testing.T) {
	for _, tc := range []struct {
		fallback string
		runs     bool
	}{{"deny", false}, {"full", true}} {
		e := newEnv(t, func(c *config.Config, o *Options) {
			o.Policy = askAll{}
			c.Tools.Exec.AskFallback = tc.fallback
			o.Approvals = &approvals.Manager{Store: o.Store, HasApprover: func() bool { return false }}
		})
		tool := &recordingTool{name: "exec", out: "ok"}
		e.reg.Register(tool)
		e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c", Name: "exec", Args: `{"command":"ls"}`}}}, fakellm.Reply{Text: "done"})
		res, err := e.run("go")
		if err != nil {
			t.Fatal(err)
		}
		if (len(tool.calls()) == 1) != tc.runs || !strings.Contains(res.ToolCalls[0].Reason, "askFallback = "+tc.fallback) {
			t.Fatalf("fallback %s: calls %v, record %+v", tc.fallback, tool.calls(), res.ToolCalls[0])
		}
	}
}

func TestEveryDecisionIsRecorded(t *testing.T) {
	e := newEnv(t, func(c *config.Config, o *Options) { o.Policy = askAll{} })
	e.reg.Register(&recordingTool{name: "exec"})
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"ls"}`}, {ID: "c2", Name: "nosuch", Args: `{}`}}}, fakellm.Reply{Text: "done"})
	if _, err := e.run("go"); err != nil {
		t.Fatal(err)
	}
	ds, err := e.store.Decisions(context.Background(), 0, 0)
	if err != nil || len(ds) != 2 {
		t.Fatalf("%+v %v", ds, err)
	}
	if ds[0].Tool != "exec" || ds[0].Action != "ask" || ds[0].Outcome != "denied" || ds[0].ArgsSHA256 == "" || ds[1].Tool != "nosuch" || ds[1].Action != "deny" {
		t.Fatalf("%+v", ds)
	}
}

// A request nobody answers waits askTimeoutSec, then askFallback decides:
// "deny" keeps the call from running, "full" lets it run.
func TestAskTimeoutAppliesFallback(t *testing.T) {
	for _, tc := range []struct {
		fallback string
		runs     bool
	}{{"deny", false}, {"full", true}} {
		t.Run(tc.fallback, func(t *testing.T) {
			var requested []approvals.Pending
			e := newEnv(t, func(c *config.Config, o *Options) {
				o.Policy = askAll{}
				c.Tools.Exec.AskFallback = tc.fallback
				c.Tools.Exec.AskTimeoutSec = 1
				o.Approvals = &approvals.Manager{Store: o.Store, HasApprover: func() bool { return true },
					Notify: func(ev string, p any) {
						if ev == approvals.EventRequested {
							requested = append(requested, p.(approvals.Pending))
						}
					}}
			})
			tool := &recordingTool{name: "exec", out: "ok"}
			e.reg.Register(tool)
			e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c", Name: "exec", Args: `{"command":"touch x"}`}}}, fakellm.Reply{Text: "done"})
			res, err := e.run("go")
			if err != nil {
				t.Fatal(err)
			}
			if (len(tool.calls()) == 1) != tc.runs || !strings.Contains(res.ToolCalls[0].Reason, "expired unanswered") {
				t.Fatalf("fallback %s: calls %v, record %+v", tc.fallback, tool.calls(), res.ToolCalls[0])
			}
			if len(requested) != 1 || !strings.HasPrefix(requested[0].Plan, "exec: touch x\n  does: ") || requested[0].Fallback != tc.fallback {
				t.Fatalf("requested %+v", requested)
			}
			all, _ := e.store.ListApprovals(context.Background(), true, 0)
			if len(all) != 1 || all[0].Status != "expired" {
				t.Fatalf("approval record %+v", all)
			}
		})
	}
}

// TestInvariant8_ApproveInsideATurnResolvesNothing: "/approve" that reaches
// a turn (a chat.send client holds operator.write, not operator.approvals)
// resolves nothing and never reaches the model.
func TestInvariant8_ApproveInsideATurnResolvesNothing(t *testing.T) {
	var m *approvals.Manager
	e := newEnv(t, func(c *config.Config, o *Options) {
		m = &approvals.Manager{Store: o.Store, HasApprover: func() bool { return true }}
		o.Approvals = m
	})
	ctx := context.Background()
	if err := e.store.CreateApproval(ctx, store.Approval{ID: "abcdefghjk", Tool: "exec", Args: `{}`, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	res, err := e.run("/approve abcdefghjk allow-once")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Reply, "talon approvals resolve") {
		t.Fatalf("reply %q", res.Reply)
	}
	if a, _, _ := e.store.Approval(ctx, "abcdefghjk"); a.Status != "pending" {
		t.Fatalf("a turn resolved an approval: %+v", a)
	}
	if e.fake.Count() != 0 {
		t.Fatal("the command reached the model")
	}
}
