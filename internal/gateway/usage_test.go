package gateway

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/store"
)

// TestUsageStatusShowsReservationsApart: the worst case held by a model
// call in flight is reported as "reserved", never as spend.
func TestUsageStatusShowsReservationsApart(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	if err := st.RecordUsage(ctx, store.UsageRecord{TS: now, SessionKey: "a", Provider: "p", Model: "m", CostUSD: 0.25}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Reserve(ctx, now, store.Reservation{SessionKey: "a", CostUSD: 0.5, Tokens: 9000, ExpiresAt: now.Add(time.Hour)},
		store.BudgetScope{}, func(store.BudgetTotals) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rep, perr := UsageStatus(ctx, st, config.Budgets{PerDayUSD: 1}, 7, now)
	if perr != nil {
		t.Fatal(perr)
	}
	if got := rep["today"].(map[string]any)["costUsd"]; got != 0.25 {
		t.Errorf("today's spend %v, want 0.25 (the reservation is not spend)", got)
	}
	if got := rep["total"].(map[string]any)["costUsd"]; got != 0.25 {
		t.Errorf("total spend %v, want 0.25", got)
	}
	r := rep["reserved"].(map[string]any)
	if r["costUsd"] != 0.5 || r["tokens"] != int64(9000) || r["calls"] != 1 {
		t.Errorf("reserved %v, want $0.5, 9000 tokens, 1 call", r)
	}
}
