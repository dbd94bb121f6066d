// Package cron runs scheduled agent turns.
//
// Guarantees: every run of a job is claimed in one transaction that also
// moves the job to its next time, so a run happens at most once per
// schedule slot, across restarts and even with two schedulers on one
// database; runs missed while the gateway was down are coalesced into one
// run (the count is recorded); each run is a turn in its own session
// cron:<jobId>.
//
// Trust: a job runs with the trust of whoever created it, decided in one
// place (JobTrust) from the job's creator alone — never from its name,
// schedule or message. Jobs the owner created (talon cron add: "cli"; an
// operator of the gateway: "operator:<client>") run with owner trust.
// Everything else — above all a job a model created with the cron tool
// ("session:<key>"), whatever that session had read — runs untrusted: its
// message was written by a model, so it is marked and taints the job's
// session, and everything the run does that changes the host, sends data
// or reads private data needs approval.
package cron

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/adhocore/gronx"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// Scheduler starts due jobs.
type Scheduler struct {
	Store    *store.Store
	Agent    *agent.Agent
	Logger   *slog.Logger
	Now      func() time.Time
	Interval time.Duration // how often to look for due jobs; default 15 s
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Run checks for due jobs until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	iv := s.Interval
	if iv <= 0 {
		iv = 15 * time.Second
	}
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		if err := s.Tick(ctx); err != nil && ctx.Err() == nil && s.Logger != nil {
			s.Logger.Warn("cron: checking due jobs failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Tick starts every job that is due now.
func (s *Scheduler) Tick(ctx context.Context) error {
	now := s.now()
	due, err := s.Store.CronJobs(ctx, now)
	if err != nil {
		return err
	}
	for _, j := range due {
		next, err := gronx.NextTickAfter(j.Schedule, now, false)
		if err != nil {
			continue
		}
		missed := 0
		for t := j.NextRunAt; missed < 1000; missed++ {
			t, err = gronx.NextTickAfter(j.Schedule, t, false)
			if err != nil || t.After(now) {
				break
			}
		}
		runID := "cron_" + randID(8)
		row, claimed, err := s.Store.ClaimCronRun(ctx, j.ID, j.NextRunAt, next, now, missed, runID)
		if err != nil || !claimed {
			continue
		}
		_, err = s.Agent.Start(context.WithoutCancel(ctx), agent.TurnRequest{
			SessionKey: agent.CronSessionKey(j.ID), Text: j.Message, SenderID: "cron:" + j.ID, Trust: JobTrust(j.CreatedBy), RunID: runID,
			Inbound: agent.Inbound{AgentID: j.AgentID, Channel: "cron", ChatType: "cron"},
			OnEvent: func(ev agent.Event) {
				switch ev.Type {
				case "final", "error", "aborted", "refused":
					status := map[string]string{"final": "ok"}[ev.Type]
					if status == "" {
						status = ev.Type
					}
					errText := ""
					if ev.Type != "final" {
						errText = ev.Text
					}
					_ = s.Store.FinishCronRun(context.WithoutCancel(ctx), row, status, errText)
				}
			},
		})
		if err != nil {
			_ = s.Store.FinishCronRun(ctx, row, "error", err.Error())
		}
	}
	return nil
}

// Creators of jobs, as stored in CronJob.CreatedBy.
const (
	// ByCLI is a job added with talon cron add on the host.
	ByCLI = "cli"
	// ByOperator prefixes the client id of a gateway operator (cron.add,
	// which needs the admin scope).
	ByOperator = "operator:"
	// BySession prefixes the session key whose model added the job with
	// the cron tool.
	BySession = "session:"
)

// JobTrust is the trust a job runs with, from its creator: owner for ByCLI
// exactly and for ByOperator with its colon; untrusted for anything else
// (a model's job, an unknown or malformed creator such as "client:x").
func JobTrust(createdBy string) string {
	if createdBy == ByCLI || strings.HasPrefix(createdBy, ByOperator) {
		return policy.TrustOwner
	}
	return policy.TrustUntrusted
}

func randID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Add validates and stores a new job.
func Add(ctx context.Context, st *store.Store, schedule, message, name, agentID, createdBy string, now time.Time) (store.CronJob, error) {
	schedule = strings.TrimSpace(schedule)
	if !gronx.IsValid(schedule) {
		return store.CronJob{}, fmt.Errorf("schedule %q is not a cron expression (e.g. \"0 9 * * 1-5\" or \"@daily\")", schedule)
	}
	if strings.TrimSpace(message) == "" || len(message) > 8000 {
		return store.CronJob{}, errors.New("message must be 1 to 8000 characters")
	}
	next, err := gronx.NextTickAfter(schedule, now, false)
	if err != nil {
		return store.CronJob{}, fmt.Errorf("schedule %q: %v", schedule, err)
	}
	if agentID == "" {
		agentID = "main"
	}
	j := store.CronJob{ID: randID(6), Name: name, Schedule: schedule, Message: message, AgentID: agentID, CreatedBy: createdBy,
		CreatedAt: now, Enabled: true, NextRunAt: next}
	return j, st.AddCronJob(ctx, j)
}

// Tool returns the cron tool: add, list, remove.
func Tool(st *store.Store, now func() time.Time) core.Tool { return cronTool{st, now} }

type cronTool struct {
	st  *store.Store
	now func() time.Time
}

func (cronTool) Spec() core.Spec {
	return core.Spec{Name: "cron", Group: "group:automation", Description: "Schedule agent turns: add {schedule (cron expression), message, name?}, list, remove {id}.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"action":{"type":"string","enum":["add","list","remove"]},"schedule":{"type":"string"},"message":{"type":"string"},"name":{"type":"string"},"id":{"type":"string"}},"required":["action"],"additionalProperties":false}`)}
}

type toolArgs struct{ Action, Schedule, Message, Name, ID string }

// Plan: adding a job leaves something that acts after the turn (it
// persists); removing one changes the host; listing reads the owner's
// jobs.
func (cronTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a toolArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return nil, fmt.Errorf("invalid arguments: %v", err)
	}
	p := &core.Plan{Tool: "cron", Args: c.Args, Canon: a}
	switch a.Action {
	case "add":
		a.Schedule = strings.TrimSpace(a.Schedule)
		if !gronx.IsValid(a.Schedule) {
			return nil, fmt.Errorf("schedule %q is not a cron expression (e.g. \"0 9 * * 1-5\" or \"@daily\")", a.Schedule)
		}
		if strings.TrimSpace(a.Message) == "" || len(a.Message) > 8000 {
			return nil, errors.New("message must be 1 to 8000 characters")
		}
		p.Canon = a
		p.Effects = core.WritesHost | core.Persists
		p.Summary = fmt.Sprintf("schedule %q at %s", a.Message, a.Schedule)
		p.Targets = []core.Target{{Kind: core.TargetSchedule, Value: a.Schedule}}
	case "list":
		p.Effects = core.ReadsPrivate
		p.Summary = "list scheduled jobs"
	case "remove":
		if a.ID == "" {
			return nil, errors.New("invalid arguments: remove needs id")
		}
		p.Effects = core.WritesHost
		p.Summary = "remove job " + a.ID
		p.Targets = []core.Target{{Kind: core.TargetSchedule, Value: a.ID}}
	default:
		return nil, fmt.Errorf("action must be add, list or remove")
	}
	return p.Seal(), nil
}

func (t cronTool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(toolArgs)
	now := time.Now
	if t.now != nil {
		now = t.now
	}
	switch a.Action {
	case "add":
		j, err := Add(ctx, t.st, a.Schedule, a.Message, a.Name, c.Actor.AgentID, BySession+c.Actor.SessionKey, now())
		if err != nil {
			return core.Result{}, err
		}
		return core.Result{Content: fmt.Sprintf("added job %s (%s), next run %s", j.ID, j.Schedule, j.NextRunAt.UTC().Format(time.RFC3339))}, nil
	case "list":
		jobs, err := t.st.CronJobs(ctx, time.Time{})
		if err != nil {
			return core.Result{}, err
		}
		var b strings.Builder
		for _, j := range jobs {
			fmt.Fprintf(&b, "%s  %-15s next %s  %s\n", j.ID, j.Schedule, j.NextRunAt.UTC().Format(time.RFC3339), j.Message)
		}
		if b.Len() == 0 {
			return core.Result{Content: "no jobs"}, nil
		}
		return core.Result{Content: b.String()}, nil
	case "remove":
		if err := t.st.RemoveCronJob(ctx, a.ID); err != nil {
			return core.Result{}, err
		}
		return core.Result{Content: "removed job " + a.ID}, nil
	}
	return core.Result{}, fmt.Errorf("action must be add, list or remove")
}
