package agent

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// cancelling answers at once but cancels the turn first, as an abort or a
// shutdown landing while the response arrives would.
type cancelling struct{ cancel context.CancelFunc }

func (c cancelling) Chat(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	c.cancel()
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "late reply"}, Usage: llm.Usage{InputTokens: 100, OutputTokens: 10}, StopReason: llm.StopEndTurn}, nil
}

type cancellingModels struct{ p llm.Provider }

func (m cancellingModels) Models(*config.Config) ([]llm.Model, error) {
	return []llm.Model{{Ref: "fast/cancel", Provider: m.p, ProviderID: "fast", ModelID: "cancel", ContextWindow: 1 << 20, CostInput: 1, CostOutput: 1}}, nil
}

// TestInvariant11_CancelledTurnRecordsUsageNotReply: a model call that was
// made is recorded even when the turn is cancelled as it answers, and the
// cancelled turn stores no reply (the usage and the reply share a commit
// only while the turn is live).
func TestInvariant11_CancelledTurnRecordsUsageNotReply(t *testing.T) {
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := config.Default()
	cfg.Budgets.PerDayUSD = 1e9
	ws := filepath.Join(t.TempDir(), "ws")
	if err := EnsureWorkspace(ws); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	a, err := New(Options{Config: func() *config.Config { return cfg }, Store: st, Models: cancellingModels{cancelling{cancel}}, Workspace: ws})
	if err != nil {
		t.Fatal(err)
	}
	const key = "agent:main:cli:direct:u1"
	if _, err := a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: key, Text: "hello"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	spent, err := st.Spend(t.Context(), store.SpendFilter{SessionKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if want := (100.0 + 10*1) / 1e6; spent < want*0.999 || spent > want*1.001 {
		t.Errorf("spent $%v, want $%v: the call made must be recorded", spent, want)
	}
	hist, err := st.History(t.Context(), key, store.HistoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 1 || hist[0].Role != "user" {
		t.Errorf("transcript %+v, want the user message alone", hist)
	}
}
