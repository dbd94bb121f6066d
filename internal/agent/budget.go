package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/store"
)

// BudgetError is a turn refused before the model call because a spending
// limit is reached. Its message names the budget and how to raise it.
type BudgetError struct {
	Key     string  // the config key, e.g. "budgets.perDayUsd"
	Limit   float64 // USD or tokens
	Spent   float64
	Message string
}

func (e *BudgetError) Error() string { return e.Message }

// checkBudgets runs before every model call. estInputUSD is the cost of the
// prompt about to be sent, so a call that would certainly cross a limit is
// refused too, not only one made after the limit was crossed.
func (a *Agent) checkBudgets(ctx context.Context, b config.Budgets, sess store.Session, estInputUSD float64) error {
	now := a.o.Now().UTC()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	type usd struct {
		key, what, when string
		limit           float64
		filter          store.SpendFilter
	}
	checks := []usd{
		{"budgets.perSessionUsd", "session budget", "in this session (/new starts a fresh one)", b.PerSessionUSD, store.SpendFilter{SessionKey: sess.Key, SessionID: sess.ID}},
		{"budgets.perDayUsd", "daily budget", "today (resets 00:00 UTC)", b.PerDayUSD, store.SpendFilter{Since: day}},
		{"budgets.perMonthUsd", "monthly budget", "this month (resets on the 1st, UTC)", b.PerMonthUSD, store.SpendFilter{Since: month}},
	}
	for _, c := range checks {
		if c.limit <= 0 {
			continue
		}
		spent, err := a.o.Store.Spend(ctx, c.filter)
		if err != nil {
			return fmt.Errorf("agent: checking %s: %w", c.key, err)
		}
		if spent >= c.limit || spent+estInputUSD > c.limit {
			return &BudgetError{Key: c.key, Limit: c.limit, Spent: spent, Message: fmt.Sprintf(
				"%s reached: $%.4f of $%.2f spent %s; the model was not called. To raise it: talon config set %s <usd>",
				c.what, spent, c.limit, c.when, c.key)}
		}
	}
	if b.PerSessionTokens > 0 {
		used := sess.InputTokens + sess.OutputTokens
		if used >= int64(b.PerSessionTokens) {
			return &BudgetError{Key: "budgets.perSessionTokens", Limit: float64(b.PerSessionTokens), Spent: float64(used), Message: fmt.Sprintf(
				"session token budget reached: %d of %d tokens used in this session (/new starts a fresh one); the model was not called. To raise it: talon config set budgets.perSessionTokens <tokens>",
				used, b.PerSessionTokens)}
		}
	}
	if b.PerDayTokens > 0 {
		rep, err := a.o.Store.UsageReport(ctx, day)
		if err != nil {
			return fmt.Errorf("agent: checking budgets.perDayTokens: %w", err)
		}
		used := rep.Total.InputTokens + rep.Total.OutputTokens
		if used >= int64(b.PerDayTokens) {
			return &BudgetError{Key: "budgets.perDayTokens", Limit: float64(b.PerDayTokens), Spent: float64(used), Message: fmt.Sprintf(
				"daily token budget reached: %d of %d tokens used today (resets 00:00 UTC); the model was not called. To raise it: talon config set budgets.perDayTokens <tokens>",
				used, b.PerDayTokens)}
		}
	}
	return nil
}
