package store

import (
	"database/sql"
	"fmt"
	"math"
	"reflect"
	"testing"
	"time"
)

func record(t testing.TB, s *Store, u UsageRecord) {
	t.Helper()
	if err := s.RecordUsage(t.Context(), u); err != nil {
		t.Fatal(err)
	}
}

func TestSpend(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	spend := func(f SpendFilter) float64 {
		t.Helper()
		v, err := s.Spend(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := spend(SpendFilter{}); v != 0 {
		t.Errorf("Spend of nothing = %v", v)
	}
	day1 := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	day2 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	// Costs are powers of two, so every sum is exact.
	record(t, s, UsageRecord{TS: day1, SessionKey: "a", SessionID: "a1", Provider: "p", Model: "m", CostUSD: 1})
	record(t, s, UsageRecord{TS: day2.Add(30 * time.Minute), SessionKey: "a", SessionID: "a2", CostUSD: 2})
	record(t, s, UsageRecord{TS: day2.Add(5 * time.Hour), SessionKey: "b", SessionID: "b1", CostUSD: 4})
	record(t, s, UsageRecord{TS: day2.Add(6 * time.Hour), CostUSD: 8}) // no session (a probe, a cron job)
	for _, tc := range []struct {
		f    SpendFilter
		want float64
	}{
		{SpendFilter{}, 15},
		{SpendFilter{Since: day2}, 14},
		{SpendFilter{Since: day2.Add(5 * time.Hour)}, 12}, // at or after
		{SpendFilter{Since: day2.Add(5*time.Hour + time.Millisecond)}, 8},
		{SpendFilter{Since: day2.Add(24 * time.Hour)}, 0},
		{SpendFilter{SessionKey: "a"}, 3},
		{SpendFilter{SessionKey: "a", Since: day2}, 2},
		{SpendFilter{SessionID: "a1"}, 1},
		{SpendFilter{SessionID: "a1", Since: day2}, 0},
		{SpendFilter{SessionKey: "a", SessionID: "a2"}, 2},
		{SpendFilter{SessionKey: "b", SessionID: "a2"}, 0},
		{SpendFilter{SessionKey: "nobody"}, 0},
	} {
		if got := spend(tc.f); got != tc.want {
			t.Errorf("Spend(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}

	// A zero TS is now.
	before := time.Now().Add(-time.Second)
	record(t, s, UsageRecord{SessionKey: "c", CostUSD: 0.5})
	if got := spend(SpendFilter{Since: before}); got != 0.5 {
		t.Errorf("Spend since just now = %v, want 0.5", got)
	}
	for _, u := range []UsageRecord{{InputTokens: -1}, {OutputTokens: -1}, {CostUSD: -0.1}, {CostUSD: math.NaN()}, {CostUSD: math.Inf(1)}} {
		if err := s.RecordUsage(ctx, u); err == nil {
			t.Errorf("RecordUsage(%+v): no error", u)
		}
	}
	if got := spend(SpendFilter{}); got != 15.5 {
		t.Errorf("refused records counted: %v", got)
	}
}

func TestUsageReport(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	rep, err := s.UsageReport(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rep, UsageReport{}) {
		t.Errorf("report of nothing: %+v", rep)
	}

	// Days are UTC days whatever the zone of the times given.
	east := time.FixedZone("UTC+10", 10*3600)
	d25 := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	record(t, s, UsageRecord{TS: d25.Add(-time.Millisecond).In(east), SessionKey: "a", Provider: "anthropic", Model: "claude", InputTokens: 10, OutputTokens: 1, CostUSD: 1})
	record(t, s, UsageRecord{TS: d25, SessionKey: "b", Provider: "anthropic", Model: "claude", InputTokens: 20, OutputTokens: 2, CostUSD: 2})
	record(t, s, UsageRecord{TS: d25.Add(13 * time.Hour), SessionKey: "a", Provider: "openai", Model: "gpt", InputTokens: 40, OutputTokens: 4, CostUSD: 4})
	record(t, s, UsageRecord{TS: d25.Add(25 * time.Hour), SessionKey: "a", Provider: "openai", Model: "gpt", InputTokens: 5, CostUSD: 0.5})

	row := func(k string, in, out int64, usd float64, calls int) UsageRow {
		return UsageRow{Key: k, InputTokens: in, OutputTokens: out, CostUSD: usd, Calls: calls}
	}
	for _, tc := range []struct {
		since time.Time
		want  UsageReport
	}{
		{time.Time{}, UsageReport{
			ByDay:     []UsageRow{row("2026-11-24", 10, 1, 1, 1), row("2026-11-25", 60, 6, 6, 2), row("2026-11-26", 5, 0, 0.5, 1)},
			BySession: []UsageRow{row("a", 55, 5, 5.5, 3), row("b", 20, 2, 2, 1)},
			ByModel:   []UsageRow{row("openai/gpt", 45, 4, 4.5, 2), row("anthropic/claude", 30, 3, 3, 2)},
			Total:     row("", 75, 7, 7.5, 4),
		}},
		{d25, UsageReport{
			ByDay:     []UsageRow{row("2026-11-25", 60, 6, 6, 2), row("2026-11-26", 5, 0, 0.5, 1)},
			BySession: []UsageRow{row("a", 45, 4, 4.5, 2), row("b", 20, 2, 2, 1)},
			ByModel:   []UsageRow{row("openai/gpt", 45, 4, 4.5, 2), row("anthropic/claude", 20, 2, 2, 1)},
			Total:     row("", 65, 6, 6.5, 3),
		}},
		{d25.Add(48 * time.Hour), UsageReport{}},
	} {
		got, err := s.UsageReport(ctx, tc.since)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("UsageReport(%v):\n got %+v\nwant %+v", tc.since, got, tc.want)
		}
	}
}

// loadUsage inserts n usage rows over the 90 days before now, spread over
// 200 sessions, in one transaction.
func loadUsage(b *testing.B, s *Store, n int, now time.Time) {
	b.Helper()
	err := s.Write(b.Context(), func(tx *sql.Tx) error {
		span := 90 * 24 * time.Hour
		for i := range n {
			sess := i % 200
			err := insertUsage(b.Context(), tx, UsageRecord{
				TS:         now.Add(-span + time.Duration(i)*(span/time.Duration(n))),
				SessionKey: fmt.Sprintf("agent:main:telegram:direct:%d", sess), SessionID: fmt.Sprintf("id-%d", sess),
				AgentID: "main", Provider: "anthropic", Model: "claude", RunID: fmt.Sprintf("run-%d", i),
				InputTokens: 1000, OutputTokens: 100, CostUSD: 0.001})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSpend: the queries the budget check runs before every model call,
// over 100,000 usage rows (90 days; ~1,100 a day; 500 per session).
func BenchmarkSpend(b *testing.B) {
	s := openTemp(b)
	now := time.Now().UTC()
	loadUsage(b, s, 100_000, now)
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	// The data is what it says: 100,000 rows, ~1,100 of them a day.
	if usd, err := s.Spend(b.Context(), SpendFilter{}); err != nil || math.Abs(usd-100) > 1e-6 {
		b.Fatalf("all-time spend %v, %v; want 100", usd, err)
	}
	if usd, err := s.Spend(b.Context(), SpendFilter{Since: now.Add(-24 * time.Hour)}); err != nil || math.Abs(usd-1.111) > 0.002 {
		b.Fatalf("spend in the last 24h %v, %v; want ~1.111", usd, err)
	}
	for _, bc := range []struct {
		name string
		f    SpendFilter
	}{
		{"day", SpendFilter{Since: day}},
		{"month30d", SpendFilter{Since: now.AddDate(0, 0, -30)}},
		{"session", SpendFilter{SessionKey: "agent:main:telegram:direct:7", SessionID: "id-7"}},
		{"all", SpendFilter{}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Spend(b.Context(), bc.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("report-day", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.UsageReport(b.Context(), day); err != nil {
				b.Fatal(err)
			}
		}
	})
}
