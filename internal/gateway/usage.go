package gateway

import (
	"context"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// UsageStatus reports spend and token use against the budgets: today,
// this month, and the last `days` days by day, session and model; and,
// apart from spend, the worst case that model calls in flight hold against
// the budgets ("reserved"). It is the payload of usage.status and of
// `talon usage --json`.
func UsageStatus(ctx context.Context, st *store.Store, b config.Budgets, days int, now time.Time) (map[string]any, *protocol.Error) {
	if days <= 0 || days > 366 {
		days = 30
	}
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	daySpend, err := st.Spend(ctx, store.SpendFilter{Since: today})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	monthSpend, err := st.Spend(ctx, store.SpendFilter{Since: month})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	rep, err := st.UsageReport(ctx, today.AddDate(0, 0, -(days-1)))
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	// Model calls in flight hold their worst case against the budgets; it
	// is not spend, so it is reported apart from it.
	resUSD, resTokens, resCalls, err := st.Reserved(ctx, now)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	rows := func(rs []store.UsageRow) []map[string]any {
		out := make([]map[string]any, 0, len(rs))
		for _, r := range rs {
			out = append(out, map[string]any{"key": r.Key, "inputTokens": r.InputTokens, "outputTokens": r.OutputTokens, "costUsd": r.CostUSD, "calls": r.Calls})
		}
		return out
	}
	return map[string]any{
		"ts":    now.UnixMilli(),
		"days":  days,
		"today": map[string]any{"costUsd": daySpend, "limitUsd": b.PerDayUSD},
		"month": map[string]any{"costUsd": monthSpend, "limitUsd": b.PerMonthUSD},
		"budgets": map[string]any{"perSessionUsd": b.PerSessionUSD, "perDayUsd": b.PerDayUSD, "perMonthUsd": b.PerMonthUSD,
			"perSessionTokens": b.PerSessionTokens, "perDayTokens": b.PerDayTokens, "perTurnToolCalls": b.PerTurnToolCalls},
		"reserved":  map[string]any{"costUsd": resUSD, "tokens": resTokens, "calls": resCalls},
		"total":     map[string]any{"inputTokens": rep.Total.InputTokens, "outputTokens": rep.Total.OutputTokens, "costUsd": rep.Total.CostUSD, "calls": rep.Total.Calls},
		"byDay":     rows(rep.ByDay),
		"bySession": rows(rep.BySession),
		"byModel":   rows(rep.ByModel),
	}, nil
}
