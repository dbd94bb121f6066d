package telegram_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/channels/telegram"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

// instant is a model that answers at once, so the figures are the
// pipeline's own cost: long poll, decode, dedupe, rate limits, access,
// session routing, the agent turn with its durable store writes, and
// sendMessage.
type instant struct{}

func (instant) Chat(ctx context.Context, req llm.Request, onDelta func(llm.Delta)) (*llm.Response, error) {
	return &llm.Response{Message: llm.Message{Role: llm.RoleAssistant, Content: "ok"}, Usage: llm.Usage{InputTokens: 100, OutputTokens: 2}, StopReason: llm.StopEndTurn}, nil
}

type instantModels struct{}

func (instantModels) Models(*config.Config) ([]llm.Model, error) {
	return []llm.Model{{Ref: "fast/instant", Provider: instant{}, ProviderID: "fast", ModelID: "instant", ContextWindow: 1 << 20}}, nil
}

// pipeline is the Telegram fake, the real adapter, the Router with real
// access control, and a real agent on a real store.
func pipeline(b *testing.B, maxConcurrent int) (*faketelegram.Server, *store.Store) {
	tg := faketelegram.New(b)
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "talon.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Agents.Defaults.MaxConcurrent = maxConcurrent
	cfg.Channels.Telegram = &config.Telegram{Enabled: true}
	cfg.Channels.Telegram.DMPolicy, cfg.Channels.Telegram.AllowFrom = "allowlist", []string{"*"}
	cfg.Commands.OwnerAllowFrom = []string{"telegram:1"}
	conf := func() *config.Config { return cfg }
	ws := filepath.Join(b.TempDir(), "ws")
	if err := agent.EnsureWorkspace(ws); err != nil {
		b.Fatal(err)
	}
	ag, err := agent.New(agent.Options{Config: conf, Store: st, Models: instantModels{}, Workspace: ws})
	if err != nil {
		b.Fatal(err)
	}
	r := &router.Router{Config: conf, Access: &access.Checker{Store: st, Config: conf}, Agent: ag, Journal: st}
	ad, err := telegram.New(telegram.Options{Account: "default", Handler: r.Handle, BatchHandler: r.HandleBatch,
		Config: config.TelegramAccount{BotToken: secret.New(tg.Token), APIBaseURL: tg.URL}})
	if err != nil {
		b.Fatal(err)
	}
	r.Add(ad)
	ctx, cancel := context.WithCancel(context.Background())
	if err := r.Start(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cancel()
		_ = r.Stop(context.Background())
	})
	return tg, st
}

// BenchmarkPipelineLatency sends one owner DM at a time and reports the
// time from the update being available to getUpdates until the reply's
// sendMessage arrives: the latency Talon adds to a message with an
// instant model.
func BenchmarkPipelineLatency(b *testing.B) {
	tg, _ := pipeline(b, 8)
	owner := faketelegram.User{ID: 1, FirstName: "Owner"}
	var lat []time.Duration
	n := 0
	for b.Loop() {
		n++
		start := time.Now()
		tg.Push(tg.DM(owner, fmt.Sprint("message ", n)))
		sent := tg.WaitSent(n, 30*time.Second)
		lat = append(lat, sent[n-1].At.Sub(start))
	}
	report(b, lat)
}

// BenchmarkPipelineThroughput pushes 200 DMs from 50 senders at once and
// reports messages per second until every reply has been sent, with 8 and
// with 32 turns at a time (agents.defaults.maxConcurrent; with an instant
// model more turns at once overlap more commits and round trips).
func BenchmarkPipelineThroughput(b *testing.B) {
	for _, n := range []int{8, 32} {
		b.Run(fmt.Sprintf("maxConcurrent=%d", n), func(b *testing.B) { pipelineThroughput(b, n) })
	}
}

func pipelineThroughput(b *testing.B, maxConcurrent int) {
	tg, st := pipeline(b, maxConcurrent)
	const batch, senders = 200, 50
	c0, w0 := st.WriteStats()
	total := 0
	var elapsed, cpu time.Duration
	for b.Loop() {
		ups := make([]faketelegram.Update, batch)
		for i := range ups {
			ups[i] = tg.DM(faketelegram.User{ID: int64(1000 + i%senders), FirstName: "U"}, fmt.Sprint("hi ", i))
		}
		start, startCPU := time.Now(), cpuTime()
		tg.Push(ups...)
		total += batch
		tg.WaitSent(total, 120*time.Second)
		elapsed += time.Since(start)
		cpu += cpuTime() - startCPU
	}
	b.ReportMetric(float64(total)/elapsed.Seconds(), "msgs/s")
	// CPU per message, the fake's included: the figure that bounds
	// throughput on a busy machine, where msgs/s is noisy.
	b.ReportMetric(float64(cpu.Microseconds())/float64(total), "cpu-µs/msg")
	c1, w1 := st.WriteStats()
	b.ReportMetric(float64(c1-c0)/float64(total), "commits/msg")
	b.ReportMetric(float64(w1-w0)/float64(max(c1-c0, 1)), "writes/commit")
}

func report(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}
