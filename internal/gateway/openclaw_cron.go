package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/adhocore/gronx"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// Cron jobs in OpenClaw's shape. A job added this way is exactly a cron.add
// job (operator.admin, created by "operator:<client>", so it runs with the
// trust cron.add gives and no more); OpenClaw's fields Talon cannot honour
// (time zones, one-shot times, command payloads, delivery routes, tool
// allowlists) are refused with the reason, never silently dropped into a
// job that would do something else.

// ocSchedule is OpenClaw's schedule object.
type ocSchedule struct {
	Kind    string `json:"kind"` // cron | every | at
	Expr    string `json:"expr"`
	TZ      string `json:"tz"`
	EveryMs int64  `json:"everyMs"`
	At      any    `json:"at"`
}

// ocPayload is OpenClaw's payload object.
type ocPayload struct {
	Kind    string `json:"kind"` // agentTurn | systemEvent | ...
	Message string `json:"message"`
	Text    string `json:"text"`
	Model   string `json:"model"`
}

type ocCronAdd struct {
	Name     string          `json:"name"`
	Enabled  *bool           `json:"enabled"`
	AgentID  string          `json:"agentId"`
	Schedule json.RawMessage `json:"schedule"`
	Payload  *ocPayload      `json:"payload"`
	Delivery *struct {
		Mode string `json:"mode"`
	} `json:"delivery"`
	Message string `json:"message"` // Talon's shape
}

// cronExpr maps an OpenClaw schedule onto a cron expression.
func cronExpr(s ocSchedule) (string, error) {
	switch s.Kind {
	case "cron":
		if s.TZ != "" && s.TZ != "UTC" && s.TZ != "Etc/UTC" {
			return "", fmt.Errorf("schedule.tz %q is not supported: Talon runs cron expressions in the gateway's time zone (hint: leave --tz out)", s.TZ)
		}
		return s.Expr, nil
	case "every":
		ms := s.EveryMs
		switch {
		case ms <= 0:
		case ms%(24*3600_000) == 0 && ms/(24*3600_000) == 1:
			return "0 0 * * *", nil
		case ms%3600_000 == 0 && 24%(ms/3600_000) == 0:
			return fmt.Sprintf("0 */%d * * *", ms/3600_000), nil
		case ms%60_000 == 0 && 60%(ms/60_000) == 0:
			return fmt.Sprintf("*/%d * * * *", ms/60_000), nil
		}
		return "", fmt.Errorf("schedule every %dms cannot be a cron expression (hint: use a number of minutes dividing 60, of hours dividing 24, or one day; or --cron)", ms)
	case "at":
		return "", fmt.Errorf("one-shot schedules (--at) are not supported by Talon's cron (hint: use --cron)")
	default:
		return "", fmt.Errorf("unknown schedule kind %q (cron, every)", s.Kind)
	}
}

// mCronAddCompat is cron.add in either shape: Talon's (schedule a string)
// or OpenClaw's (schedule and payload objects). Both end in mCronAdd's
// path: the same scope, intent record, validation and creator.
func (g *Gateway) mCronAddCompat(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p ocCronAdd
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if len(p.Schedule) == 0 || p.Schedule[0] != '{' {
		return g.mCronAdd(ctx, c, params)
	}
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var s ocSchedule
	if err := json.Unmarshal(p.Schedule, &s); err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "invalid schedule: %v", err)
	}
	expr, err := cronExpr(s)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	}
	msg := p.Message
	if p.Payload != nil {
		switch p.Payload.Kind {
		case "agentTurn":
			msg = p.Payload.Message
		case "systemEvent":
			msg = p.Payload.Text
		default:
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "payload kind %q is not supported: Talon's jobs are agent turns (agentTurn, systemEvent)", p.Payload.Kind)
		}
		if p.Payload.Model != "" {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "payload.model is not supported: jobs use the agent's model (hint: leave --model out)")
		}
	}
	if p.Enabled != nil && !*p.Enabled {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "disabled jobs are not supported: a Talon job is enabled while it exists (hint: leave --disabled out)")
	}
	if e := g.begin(ctx, c, core.KindCronAdd, expr, map[string]any{"name": p.Name, "agentId": p.AgentID, "messageLength": len(msg), "shape": "openclaw"}); e != nil {
		return nil, e
	}
	j, err := cron.Add(ctx, g.opts.Store, expr, msg, p.Name, p.AgentID, cron.ByOperator+c.client.ID, time.Now())
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	}
	return ocCronJob(j), nil
}

// ocCronJob is a Talon job in OpenClaw's shape, with Talon's fields kept.
func ocCronJob(j store.CronJob) map[string]any {
	out := map[string]any{
		"id": j.ID, "name": j.Name, "agentId": orMain(j.AgentID), "enabled": j.Enabled,
		"createdAtMs": j.CreatedAt.UnixMilli(), "updatedAtMs": j.CreatedAt.UnixMilli(),
		"schedule":      map[string]any{"kind": "cron", "expr": j.Schedule},
		"sessionTarget": "isolated", "wakeMode": "now",
		"payload":   map[string]any{"kind": "agentTurn", "message": j.Message},
		"state":     map[string]any{},
		"createdBy": j.CreatedBy, "trust": cron.JobTrust(j.CreatedBy),
		"message": j.Message, "createdAt": j.CreatedAt, "nextRunAt": j.NextRunAt,
	}
	st := out["state"].(map[string]any)
	if !j.NextRunAt.IsZero() {
		out["nextRunAtMs"] = j.NextRunAt.UnixMilli()
		st["nextRunAtMs"] = j.NextRunAt.UnixMilli()
	}
	if !j.LastRunAt.IsZero() {
		st["lastRunAtMs"] = j.LastRunAt.UnixMilli()
	}
	return out
}

func (g *Gateway) mCronGet(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	p, e := g.cronParams(params)
	if e != nil {
		return nil, e
	}
	jobs, err := g.opts.Store.CronJobs(ctx, time.Time{})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	for _, j := range jobs {
		if j.ID == p.ID || (p.ID == "" && strings.EqualFold(j.Name, p.Name)) {
			return ocCronJob(j), nil
		}
	}
	return nil, protocol.Errorf(protocol.CodeInvalidRequest, "cron job not found: %s", p.ID)
}

// cronPage cuts one page out of items with OpenClaw's page metadata; limit
// 0 means all.
func cronPage[T any](items []T, offset, limit int, revision string) ([]T, map[string]any) {
	total := len(items)
	offset = max(0, min(offset, total))
	if limit <= 0 {
		limit = max(1, total-offset)
	}
	end := min(total, offset+limit)
	page := items[offset:end]
	var next any
	if end < total {
		next = end
	}
	meta := map[string]any{"total": total, "offset": offset, "limit": limit, "hasMore": end < total, "nextOffset": next}
	if revision != "" {
		meta["snapshotRevision"] = revision
	}
	return page, meta
}

// cronRevision names one state of the job list, so a client paging
// through it notices a change between pages.
func cronRevision(jobs []store.CronJob) string {
	h := sha256.New()
	for _, j := range jobs {
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%t\x00%d\n", j.ID, j.Schedule, j.Message, j.Enabled, j.NextRunAt.UnixNano())
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// ocCronRuns is cron.runs' entries in OpenClaw's run-log shape.
func ocCronRuns(runs []store.CronRun) []map[string]any {
	out := make([]map[string]any, 0, len(runs))
	for _, r := range runs {
		status := r.Status
		if status == "done" || status == "finished" {
			status = "ok"
		}
		e := map[string]any{"ts": r.StartedAt.UnixMilli(), "runAtMs": r.StartedAt.UnixMilli(), "jobId": r.JobID, "status": status, "action": "finished"}
		if r.RunID != "" {
			e["runId"] = r.RunID
		}
		if r.Error != "" {
			e["error"] = r.Error
		}
		out = append(out, e)
	}
	return out
}

// findCronJob returns the job with id.
func (g *Gateway) findCronJob(ctx context.Context, id string) (store.CronJob, *protocol.Error) {
	jobs, err := g.opts.Store.CronJobs(ctx, time.Time{})
	if err != nil {
		return store.CronJob{}, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	for _, j := range jobs {
		if j.ID == id {
			return j, nil
		}
	}
	return store.CronJob{}, protocol.Errorf(protocol.CodeInvalidRequest, "cron job not found: %s", id)
}

// mCronUpdate is cron.update (enable, disable, edit): name, schedule,
// message and enabled may change; the job's id, agent and creator — so
// its trust — never do. Other patch fields are refused with the reason.
func (g *Gateway) mCronUpdate(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		ID    string                     `json:"id"`
		Patch map[string]json.RawMessage `json:"patch"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	j, e := g.findCronJob(ctx, p.ID)
	if e != nil {
		return nil, e
	}
	keys := make([]string, 0, len(p.Patch))
	for k, raw := range p.Patch {
		keys = append(keys, k)
		var err error
		switch k {
		case "enabled":
			err = json.Unmarshal(raw, &j.Enabled)
		case "name":
			err = json.Unmarshal(raw, &j.Name)
		case "schedule":
			var s ocSchedule
			if err = json.Unmarshal(raw, &s); err == nil {
				j.Schedule, err = cronExpr(s)
			}
		case "payload":
			var pl ocPayload
			if err = json.Unmarshal(raw, &pl); err == nil {
				switch {
				case pl.Model != "":
					err = fmt.Errorf("payload.model is not supported: jobs use the agent's model")
				case pl.Kind != "" && pl.Kind != "agentTurn" && pl.Kind != "systemEvent":
					err = fmt.Errorf("payload kind %q is not supported: Talon's jobs are agent turns", pl.Kind)
				case pl.Message != "":
					j.Message = pl.Message
				case pl.Text != "":
					j.Message = pl.Text
				}
			}
		default:
			err = fmt.Errorf("cannot be changed in Talon (name, schedule, payload.message and enabled can)")
		}
		if err != nil {
			return nil, protocol.Errorf(protocol.CodeInvalidRequest, "patch.%s: %v", k, err)
		}
	}
	now := time.Now()
	if !gronx.IsValid(j.Schedule) {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "schedule %q is not a cron expression", j.Schedule)
	}
	if strings.TrimSpace(j.Message) == "" || len(j.Message) > 8000 {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message must be 1 to 8000 characters")
	}
	next, err := gronx.NextTickAfter(j.Schedule, now, false)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "schedule %q: %v", j.Schedule, err)
	}
	j.NextRunAt = next
	sort.Strings(keys)
	if e := g.begin(ctx, c, core.KindCronUpdate, j.ID, map[string]any{"fields": keys, "enabled": j.Enabled, "schedule": j.Schedule, "messageLength": len(j.Message)}); e != nil {
		return nil, e
	}
	if err := g.opts.Store.UpdateCronJob(ctx, j); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return ocCronJob(j), nil
}

// mCronRun is cron.run: the job becomes due now, and the scheduler runs it
// at its next tick exactly as a scheduled run (its claim, its trust).
func (g *Gateway) mCronRun(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		ID string `json:"id"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	j, e := g.findCronJob(ctx, p.ID)
	if e != nil {
		return nil, e
	}
	if !j.Enabled {
		return map[string]any{"ok": true, "enqueued": false, "reason": "disabled"}, nil
	}
	j.NextRunAt = time.Now()
	if e := g.begin(ctx, c, core.KindCronUpdate, j.ID, map[string]any{"runNow": true}); e != nil {
		return nil, e
	}
	if err := g.opts.Store.UpdateCronJob(ctx, j); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return map[string]any{"ok": true, "enqueued": true, "jobId": j.ID}, nil
}
