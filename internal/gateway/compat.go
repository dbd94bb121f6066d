package gateway

import (
	"context"
	"encoding/json"
	"path/filepath"
	"time"

	"github.com/talonclaw/talon/internal/protocol"
)

// Methods OpenClaw's CLI calls that Talon answers truthfully from what it
// has (docs/openclaw-compat.md lists each).

// mCronStatus is cron.status in OpenClaw's shape: the scheduler is on
// whenever the gateway runs; jobs and the next wake come from the store.
func (g *Gateway) mCronStatus(ctx context.Context, _ *conn, params json.RawMessage) (any, *protocol.Error) {
	if _, e := g.cronParams(params); e != nil {
		return nil, e
	}
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	jobs, err := g.opts.Store.CronJobs(ctx, time.Time{})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	var next any
	for _, j := range jobs {
		if !j.Enabled || j.NextRunAt.IsZero() {
			continue
		}
		if ms := j.NextRunAt.UnixMilli(); next == nil || ms < next.(int64) {
			next = ms
		}
	}
	db := filepath.Join(g.opts.StateDir, "talon.db")
	return map[string]any{"enabled": true, "triggersEnabled": false, "storePath": db, "storage": "sqlite", "sqlitePath": db,
		"jobs": len(jobs), "nextWakeAtMs": next}, nil
}

// mLastHeartbeat is last-heartbeat: Talon sends no heartbeat runs, so
// there is none (OpenClaw answers null too when it has none).
// The payload is an explicit null: a response without one breaks its CLI.
func (g *Gateway) mLastHeartbeat(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	return json.RawMessage("null"), nil
}

// mPairList is device.pair.list and node.pair.list: Talon pairs chat
// senders (pairing.*), not devices or nodes, so both lists are empty.
func (g *Gateway) mPairList(_ context.Context, _ *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct{}
	if len(params) > 0 && string(params) != "null" {
		if e := protocol.DecodeParams(params, &p); e != nil {
			return nil, e
		}
	}
	return map[string]any{"pending": []any{}, "paired": []any{}}, nil
}
