package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

type cronParams struct {
	ID       string `json:"id"`
	Schedule string `json:"schedule"`
	Message  string `json:"message"`
	Name     string `json:"name"`
	AgentID  string `json:"agentId"`
	Limit    int    `json:"limit"`
	Offset   int    `json:"offset"`
}

func (g *Gateway) cronParams(params json.RawMessage) (cronParams, *protocol.Error) {
	var p cronParams
	if g.opts.Store == nil {
		return p, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	return p, protocol.DecodeParams(params, &p)
}

func (g *Gateway) mCronList(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	p, e := g.cronParams(params)
	if e != nil {
		return nil, e
	}
	jobs, err := g.opts.Store.CronJobs(ctx, time.Time{})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if jobs == nil {
		jobs = []store.CronJob{}
	}
	out := map[string]any{"jobs": jobs}
	// OpenClaw's page metadata (its CLI pages with offset and limit).
	page, meta := cronPage(jobs, p.Offset, p.Limit, cronRevision(jobs))
	out["jobs"] = page
	if isOpenClawClient(c) {
		oc := make([]map[string]any, 0, len(page))
		for _, j := range page {
			oc = append(oc, ocCronJob(j))
		}
		out["jobs"] = oc
	}
	for k, v := range meta {
		out[k] = v
	}
	return out, nil
}

func (g *Gateway) mCronAdd(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	p, e := g.cronParams(params)
	if e != nil {
		return nil, e
	}
	if e := g.begin(ctx, c, core.KindCronAdd, p.Schedule, map[string]any{"name": p.Name, "agentId": p.AgentID, "messageLength": len(p.Message)}); e != nil {
		return nil, e
	}
	j, err := cron.Add(ctx, g.opts.Store, p.Schedule, p.Message, p.Name, p.AgentID, cron.ByOperator+c.client.ID, time.Now())
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	}
	return map[string]any{"ok": true, "job": j}, nil
}

func (g *Gateway) mCronRemove(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	p, e := g.cronParams(params)
	if e != nil {
		return nil, e
	}
	if e := g.begin(ctx, c, core.KindCronRemove, p.ID, nil); e != nil {
		return nil, e
	}
	if err := g.opts.Store.RemoveCronJob(ctx, p.ID); errors.Is(err, store.ErrNoCronJob) {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "no cron job %q", p.ID)
	} else if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return map[string]any{"ok": true, "removed": p.ID}, nil
}

func (g *Gateway) mCronRuns(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	p, e := g.cronParams(params)
	if e != nil {
		return nil, e
	}
	runs, err := g.opts.Store.CronRuns(ctx, p.ID, p.Limit)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if runs == nil {
		runs = []store.CronRun{}
	}
	out := map[string]any{"runs": runs}
	entries, meta := cronPage(ocCronRuns(runs), 0, 0, "")
	out["entries"] = entries
	for k, v := range meta {
		if k != "snapshotRevision" {
			out[k] = v
		}
	}
	return out, nil
}
