package gateway

import (
	"context"
	"maps"
	"sort"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/store"
)

// What health and status report about the channels and sessions: the
// adapters' live states (as channels.status has them) and the sessions the
// store holds, so an operator's check never says "no channels, no
// sessions" while Telegram is connected and sessions exist.

// channelHealth groups the accounts by channel in OpenClaw's health shape:
// {"telegram": {"configured", "running", "state", "accounts": {id: status}}}
// and the channel order.
func (g *Gateway) channelHealth() (map[string]any, []string, []router.AccountStatus) {
	out := map[string]any{}
	list := []router.AccountStatus{}
	if g.opts.Channels != nil {
		list = g.opts.Channels.Status()
	}
	var order []string
	for _, a := range list {
		ch, ok := out[a.Channel].(map[string]any)
		if !ok {
			ch = map[string]any{"configured": true, "running": false, "state": a.State, "accounts": map[string]any{}}
			out[a.Channel] = ch
			order = append(order, a.Channel)
		}
		ch["accounts"].(map[string]any)[a.Account] = a
		if a.State == channels.StateConnected {
			ch["running"] = true
			ch["state"] = channels.StateConnected
		} else if ch["running"] == false {
			ch["state"] = a.State
		}
		if a.LastError != "" {
			ch["lastError"] = a.LastError
		}
	}
	sort.Strings(order)
	if order == nil {
		order = []string{}
	}
	return out, order, list
}

// summaryTTL is how long health and status reuse the sessions summary:
// health is a liveness probe called often, and the summary costs two
// database reads.
const summaryTTL = time.Second

// sessionSummary is {"count": N, "recent": [{key, updatedAt, age}]}, at
// most summaryTTL old.
func (g *Gateway) sessionSummary(ctx context.Context) map[string]any {
	now := g.opts.Now()
	g.summaryMu.Lock()
	if g.summary != nil && now.Sub(g.summaryAt) < summaryTTL {
		out := maps.Clone(g.summary)
		g.summaryMu.Unlock()
		return out
	}
	g.summaryMu.Unlock()
	out := g.readSessionSummary(ctx)
	if _, failed := out["error"]; !failed {
		g.summaryMu.Lock()
		g.summary, g.summaryAt = maps.Clone(out), now
		g.summaryMu.Unlock()
	}
	return out
}

func (g *Gateway) readSessionSummary(ctx context.Context) map[string]any {
	out := map[string]any{"count": 0, "recent": []any{}}
	st := g.opts.Store
	if st == nil {
		return out
	}
	if n, err := st.SessionCount(ctx); err == nil {
		out["count"] = n
	} else {
		out["error"] = err.Error()
	}
	if recent, err := st.ListSessions(ctx, store.ListSessionsOptions{Limit: 5}); err == nil {
		now := g.opts.Now()
		rs := make([]any, 0, len(recent))
		for _, s := range recent {
			rs = append(rs, map[string]any{"key": s.Key, "updatedAt": s.UpdatedAt.UnixMilli(), "age": now.Sub(s.UpdatedAt).Round(time.Second).Milliseconds()})
		}
		out["recent"] = rs
	}
	return out
}

// sessionsByAgent is status's sessions.byAgent in OpenClaw's shape (its
// CLI maps over it): [{agentId, path, count, recent: [{key, updatedAt,
// age}]}], one entry per agent that has sessions, "main" at least.
func (g *Gateway) sessionsByAgent(ctx context.Context) []any {
	st := g.opts.Store
	counts := map[string]int{}
	if st != nil {
		if c, err := st.SessionCountsByAgent(ctx); err == nil {
			counts = c
		}
	}
	if len(counts) == 0 {
		counts["main"] = 0
	}
	ids := make([]string, 0, len(counts))
	for id := range counts {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	now := g.opts.Now()
	out := make([]any, 0, len(ids))
	for _, id := range ids {
		recent := []any{}
		if st != nil {
			if list, err := st.ListSessions(ctx, store.ListSessionsOptions{AgentID: id, Limit: 5}); err == nil {
				for _, s := range list {
					recent = append(recent, map[string]any{"key": s.Key, "updatedAt": s.UpdatedAt.UnixMilli(), "age": now.Sub(s.UpdatedAt).Round(time.Second).Milliseconds()})
				}
			}
		}
		out = append(out, map[string]any{"agentId": id, "path": g.opts.StateDir, "count": counts[id], "recent": recent})
	}
	return out
}

// statusSessions is the sessions summary with byAgent, as status has it.
func (g *Gateway) statusSessions(ctx context.Context) map[string]any {
	out := g.sessionSummary(ctx)
	out["byAgent"] = g.sessionsByAgent(ctx)
	return out
}
