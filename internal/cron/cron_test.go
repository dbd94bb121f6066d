package cron

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

func TestSchedulerRunsOncePerSlotAndCoalesces(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	fake := fakellm.New(t)
	fake.Default = fakellm.Reply{Text: "report done"}
	cfg := config.Default()
	cfg.Models.Providers = map[string]config.Provider{"f": {API: "openai-completions", BaseURL: fake.URL, Models: []config.ModelDef{{ID: "m"}}}}
	cfg.Agents.Defaults.Model = "f/m"
	ag, err := agent.New(agent.Options{Config: func() *config.Config { return cfg }, Store: st, Models: &agent.ConfigModels{}, Workspace: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	now := t0
	s := &Scheduler{Store: st, Agent: ag, Now: func() time.Time { return now }}
	j, err := Add(ctx, st, "*/5 * * * *", "write the status report", "status", "", "cli", t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Add(ctx, st, "every tuesday", "x", "", "", "cli", t0); err == nil {
		t.Fatal("bad schedule accepted")
	}
	wait := func(n int) {
		for range 500 {
			runs, _ := st.CronRuns(ctx, j.ID, 0)
			done := 0
			for _, r := range runs {
				if r.Status != "started" {
					done++
				}
			}
			if done >= n {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("runs did not finish")
	}
	s.Tick(ctx) // 08:00: not due yet (next is 08:05)
	now = t0.Add(6 * time.Minute)
	s.Tick(ctx)
	s.Tick(ctx) // same slot: no second run
	wait(1)
	runs, _ := st.CronRuns(ctx, j.ID, 0)
	if len(runs) != 1 || runs[0].Status != "ok" || fake.Count() != 1 {
		t.Fatalf("runs %+v, model calls %d", runs, fake.Count())
	}
	hist, _ := st.History(ctx, agent.CronSessionKey(j.ID), store.HistoryOptions{})
	if len(hist) != 2 || hist[0].Content != "write the status report" || hist[0].Provenance != "owner" {
		t.Fatalf("cron session transcript %+v", hist)
	}
	// The gateway was down for an hour: one coalesced run, missed counted.
	now = t0.Add(66 * time.Minute)
	s.Tick(ctx)
	wait(2)
	runs, _ = st.CronRuns(ctx, j.ID, 0)
	if len(runs) != 2 || runs[0].Missed < 10 || fake.Count() != 2 {
		t.Fatalf("after downtime: %+v, model calls %d", runs, fake.Count())
	}
	jobs, _ := st.CronJobs(ctx, time.Time{})
	if !jobs[0].NextRunAt.After(now) {
		t.Fatalf("next run %v not after now %v", jobs[0].NextRunAt, now)
	}
}

func TestCronTool(t *testing.T) {
	ctx := context.Background()
	st, _ := store.Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	defer st.Close()
	tool := Tool(st, func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
	call := func(args string) (string, error) {
		r, err := tool.Run(ctx, agent.ToolCall{Args: json.RawMessage(args), SessionKey: "agent:main:main", AgentID: "main"})
		return r.Content, err
	}
	out, err := call(`{"action":"add","schedule":"@daily","message":"water the plants"}`)
	if err != nil || !strings.Contains(out, "added job") {
		t.Fatalf("%q %v", out, err)
	}
	out, _ = call(`{"action":"list"}`)
	if !strings.Contains(out, "water the plants") {
		t.Fatalf("%q", out)
	}
	jobs, _ := st.CronJobs(ctx, time.Time{})
	if jobs[0].CreatedBy != "session:agent:main:main" {
		t.Fatalf("created by %q", jobs[0].CreatedBy)
	}
	if _, err := call(`{"action":"remove","id":"` + jobs[0].ID + `"}`); err != nil {
		t.Fatal(err)
	}
	if _, err := call(`{"action":"remove","id":"nope"}`); err == nil {
		t.Fatal("removed a missing job")
	}
	if _, err := call(`{"action":"explode"}`); err == nil {
		t.Fatal("bad action accepted")
	}
}
