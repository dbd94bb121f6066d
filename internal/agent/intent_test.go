package agent

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant12_ToolRunsOnlyAfterItsIntentIsRecorded: the audit record
// of a tool call's intent (the decision and what will run) is written
// before the tool runs, and a call whose intent cannot be written does
// not run at all: the model gets an error result.
func TestInvariant12_ToolRunsOnlyAfterItsIntentIsRecorded(t *testing.T) {
	var mu sync.Mutex
	var kinds []string
	failIntent := false
	tool := &recordingTool{name: "echo_tool", out: "ran"}
	e := newEnv(t, func(c *config.Config, o *Options) {
		o.Policy = allowAll{}
		o.Audit = func(_ context.Context, kind, _, _ string, _ any) error {
			mu.Lock()
			defer mu.Unlock()
			if kind == core.KindToolIntent {
				if failIntent {
					return errors.New("disk full")
				}
				// The tool must not have run yet.
				if len(tool.calls()) != 0 {
					t.Errorf("intent recorded after the tool ran")
				}
			}
			kinds = append(kinds, kind)
			return nil
		}
	})
	e.reg.Register(tool)
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "echo_tool", Args: `{"x":1}`}}}, fakellm.Reply{Text: "ok"})
	if _, err := e.run("go"); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	got := strings.Join(kinds, " ")
	mu.Unlock()
	if len(tool.calls()) != 1 || !strings.HasPrefix(got, core.KindToolIntent+" "+core.KindToolExec) {
		t.Fatalf("ran %d times; audit records %q", len(tool.calls()), got)
	}

	// Now the intent cannot be written: the tool does not run.
	mu.Lock()
	failIntent = true
	mu.Unlock()
	e.fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c2", Name: "echo_tool", Args: `{"x":2}`}}}, fakellm.Reply{Text: "ok"})
	res, err := e.run("again")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(tool.calls()); n != 1 {
		t.Fatalf("the tool ran without its intent recorded (%d runs)", n)
	}
	if len(res.ToolCalls) != 1 || res.ToolCalls[0].Outcome != "error" || !strings.Contains(res.ToolCalls[0].Reason, "audit log") {
		t.Fatalf("tool call record %+v", res.ToolCalls)
	}
}
