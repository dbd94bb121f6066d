package agent

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// instant is a provider that answers at once, so benchmarks measure the
// turn's own overhead (store writes, prompt assembly, budgets), not a model.
type instant struct{}

func (instant) Chat(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	if onDelta != nil {
		onDelta(llm.Delta{Text: "ok"})
	}
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "ok"}, Usage: llm.Usage{InputTokens: 100, OutputTokens: 10}, StopReason: llm.StopEndTurn}, nil
}

type instantModels struct{}

func (instantModels) Models(*config.Config) ([]llm.Model, error) {
	return []llm.Model{{Ref: "fast/instant", Provider: instant{}, ProviderID: "fast", ModelID: "instant", ContextWindow: 1 << 20, CostInput: 1, CostOutput: 1}}, nil
}

func benchAgent(b *testing.B, budgets bool) (*Agent, *store.Store) {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "talon.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Agents.Defaults.MaxConcurrent = 8
	if budgets {
		cfg.Budgets.PerDayUSD, cfg.Budgets.PerMonthUSD, cfg.Budgets.PerSessionUSD = 1e9, 1e9, 1e9
	}
	ws := filepath.Join(b.TempDir(), "ws")
	EnsureWorkspace(ws)
	a, err := New(Options{Config: func() *config.Config { return cfg }, Store: st, Models: instantModels{}, Workspace: ws})
	if err != nil {
		b.Fatal(err)
	}
	return a, st
}

// BenchmarkTurnOverhead is one whole turn with an instant model, budgets on,
// in sessions of up to 20 turns (40 messages of history): "direct" as the
// gateway's agent method and the CLI run it (the user message stored
// before the model call), "journaled" as a channel message runs it (already
// durable in the inbound journal, whose commit a whole getUpdates batch
// shares: the user message is stored with the response).
func BenchmarkTurnOverhead(b *testing.B) {
	for _, journaled := range []bool{false, true} {
		name := "direct"
		if journaled {
			name = "journaled"
		}
		b.Run(name, func(b *testing.B) {
			a, _ := benchAgent(b, true)
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				key := fmt.Sprintf("agent:main:cli:direct:u%d", i/20)
				i++
				req := TurnRequest{Trust: policy.TrustOwner, SessionKey: key, Text: "hello"}
				if journaled {
					req.Journaled, req.RunID = true, fmt.Sprintf("run_in%d", i)
				}
				if _, err := a.Run(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkTurns100Sessions spreads turns over 100 concurrent sessions and
// reports turns per second.
func BenchmarkTurns100Sessions(b *testing.B) {
	a, _ := benchAgent(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var wg sync.WaitGroup
	per := b.N/100 + 1
	for s := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				if _, err := a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: fmt.Sprintf("agent:main:cli:direct:u%d", s), Text: "hi"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(per*100)/b.Elapsed().Seconds(), "turns/s")
}

// BenchmarkIdleSessionMemory reports heap bytes held per session after 1,000
// sessions have each had one turn and gone idle.
func BenchmarkIdleSessionMemory(b *testing.B) {
	for b.Loop() {
		a, _ := benchAgent(b, false)
		ctx := context.Background()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for s := range 1000 {
			if _, err := a.Run(ctx, TurnRequest{Trust: policy.TrustOwner, SessionKey: fmt.Sprintf("agent:main:cli:direct:u%d", s), Text: "hi"}); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/1000, "heapB/idle-session")
		runtime.KeepAlive(a)
	}
}
