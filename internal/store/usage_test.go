package store

import (
	"database/sql"
	"errors"
	"fmt"
	"math"
	"path/filepath"
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

// reserveOK reserves r as of now with a check that allows everything, and
// returns the totals the check saw.
func reserveOK(t testing.TB, s *Store, now time.Time, r Reservation, scope BudgetScope) (ReservationID, BudgetTotals) {
	t.Helper()
	var seen BudgetTotals
	id, err := s.Reserve(t.Context(), now, r, scope, func(tot BudgetTotals) error { seen = tot; return nil })
	if err != nil {
		t.Fatal(err)
	}
	return id, seen
}

func reservedNow(t testing.TB, s *Store, now time.Time) (float64, int64, int) {
	t.Helper()
	usd, tokens, n, err := s.Reserved(t.Context(), now)
	if err != nil {
		t.Fatal(err)
	}
	return usd, tokens, n
}

// TestInvariant11_ReserveCountsCallsInFlight: the totals a budget check
// sees include every unexpired reservation (in its session's window, and in
// the day and month whenever it was made), next to recorded spend; a
// refused check reserves nothing.
func TestInvariant11_ReserveCountsCallsInFlight(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	day := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	month := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	record(t, s, UsageRecord{TS: now.Add(-time.Hour), SessionKey: "a", SessionID: "a1", InputTokens: 3, OutputTokens: 1, CostUSD: 0.5})
	record(t, s, UsageRecord{TS: now.AddDate(0, 0, -3), SessionKey: "b", SessionID: "b1", InputTokens: 30, CostUSD: 2})
	exp := now.Add(time.Hour)
	reserveOK(t, s, now, Reservation{SessionKey: "a", SessionID: "a1", CostUSD: 1, Tokens: 100, ExpiresAt: exp}, BudgetScope{})
	reserveOK(t, s, now, Reservation{SessionKey: "b", SessionID: "b1", CostUSD: 4, Tokens: 200, ExpiresAt: exp}, BudgetScope{})

	_, tot := reserveOK(t, s, now, Reservation{SessionKey: "a", SessionID: "a1", ExpiresAt: exp},
		BudgetScope{SessionKey: "a", SessionID: "a1", Day: day, Month: month, Tokens: true})
	want := BudgetTotals{
		Session: Amount{SpentUSD: 0.5, ReservedUSD: 1, SpentTokens: 4, ReservedTokens: 100},
		Day:     Amount{SpentUSD: 0.5, ReservedUSD: 5, SpentTokens: 4, ReservedTokens: 300},
		Month:   Amount{SpentUSD: 2.5, ReservedUSD: 5, SpentTokens: 34, ReservedTokens: 300},
	}
	if tot != want {
		t.Errorf("totals\n got %+v\nwant %+v", tot, want)
	}
	// Without Tokens the session's tokens are not summed; an unnamed window
	// is zero.
	_, tot = reserveOK(t, s, now, Reservation{ExpiresAt: exp}, BudgetScope{SessionKey: "a", SessionID: "a1", Day: day})
	if want := (BudgetTotals{Session: Amount{SpentUSD: 0.5, ReservedUSD: 1, ReservedTokens: 100},
		Day: Amount{SpentUSD: 0.5, ReservedUSD: 5, SpentTokens: 4, ReservedTokens: 300}}); tot != want {
		t.Errorf("USD-only day totals %+v, want %+v", tot, want)
	}
	if _, _, n := reservedNow(t, s, now); n != 2 {
		t.Errorf("%d reservations; a reservation of nothing must not be stored", n)
	}

	// A refused check returns its own error and reserves nothing.
	over := errors.New("over budget")
	id, err := s.Reserve(ctx, now, Reservation{SessionKey: "a", SessionID: "a1", CostUSD: 8, Tokens: 1, ExpiresAt: exp}, BudgetScope{Day: day},
		func(BudgetTotals) error { return over })
	if err != over || id != 0 {
		t.Fatalf("Reserve refused: id %d, err %v; want the check's error as is", id, err)
	}
	if usd, tokens, n := reservedNow(t, s, now); usd != 5 || tokens != 300 || n != 2 {
		t.Errorf("after a refusal: $%v, %d tokens, %d calls reserved; want 5, 300, 2", usd, tokens, n)
	}
	if spent, _ := s.Spend(ctx, SpendFilter{}); spent != 2.5 {
		t.Errorf("reservations show as spend: %v", spent)
	}
}

// TestInvariant11_SettleAndRelease: settling removes the
// reservation and records the real usage in one step; settling one that
// expired and was deleted still records the usage; Release removes one.
func TestInvariant11_SettleAndRelease(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	a, _ := reserveOK(t, s, now, Reservation{SessionKey: "a", SessionID: "a1", CostUSD: 1, Tokens: 10, ExpiresAt: exp}, BudgetScope{})
	b, _ := reserveOK(t, s, now, Reservation{SessionKey: "a", SessionID: "a1", CostUSD: 2, Tokens: 20, ExpiresAt: exp}, BudgetScope{})
	if err := s.Settle(ctx, a, UsageRecord{TS: now, SessionKey: "a", SessionID: "a1", InputTokens: 5, OutputTokens: 1, CostUSD: 0.25}); err != nil {
		t.Fatal(err)
	}
	if usd, _, n := reservedNow(t, s, now); usd != 2 || n != 1 {
		t.Errorf("after Settle: $%v in %d reservations, want 2 in 1", usd, n)
	}
	if spent, _ := s.Spend(ctx, SpendFilter{}); spent != 0.25 {
		t.Errorf("after Settle: spent %v, want the real 0.25", spent)
	}
	if err := s.Release(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, _, n := reservedNow(t, s, now); n != 0 {
		t.Errorf("after Release: %d reservations", n)
	}
	// Settling a reservation that is gone (expired, deleted) or was never
	// made (0) records the usage all the same; releasing 0 does nothing.
	if err := s.Settle(ctx, b, UsageRecord{TS: now, CostUSD: 0.5}); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, 0, UsageRecord{TS: now, CostUSD: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if spent, _ := s.Spend(ctx, SpendFilter{}); spent != 1.75 {
		t.Errorf("spent %v, want 1.75", spent)
	}
	if err := s.Settle(ctx, 0, UsageRecord{CostUSD: -1}); err == nil {
		t.Error("Settle of a negative cost: no error")
	}
}

// TestInvariant11_ExpiredReservationStopsCounting: a reservation whose
// process died is not counted after its expiry, and the next Reserve
// deletes it.
func TestInvariant11_ExpiredReservationStopsCounting(t *testing.T) {
	s := openTemp(t)
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	reserveOK(t, s, now, Reservation{CostUSD: 1, Tokens: 10, ExpiresAt: now.Add(time.Minute)}, BudgetScope{})
	_, tot := reserveOK(t, s, now.Add(time.Minute-time.Millisecond), Reservation{ExpiresAt: now.Add(time.Hour)}, BudgetScope{Month: now.AddDate(0, -1, 0)})
	if tot.Month.ReservedUSD != 1 {
		t.Errorf("before expiry: reserved %v, want 1", tot.Month.ReservedUSD)
	}
	later := now.Add(time.Minute)
	if usd, _, n := reservedNow(t, s, later); usd != 0 || n != 0 {
		t.Errorf("at expiry: $%v in %d reservations still counted", usd, n)
	}
	_, tot = reserveOK(t, s, later, Reservation{ExpiresAt: later.Add(time.Hour)}, BudgetScope{Month: now.AddDate(0, -1, 0)})
	if tot.Month.ReservedUSD != 0 {
		t.Errorf("at expiry: a check saw $%v reserved", tot.Month.ReservedUSD)
	}
	if _, _, n := reservedNow(t, s, time.UnixMilli(0)); n != 0 {
		t.Errorf("%d expired reservation rows not deleted", n)
	}
}

func TestReserveBadInput(t *testing.T) {
	s := openTemp(t)
	now := time.Now()
	exp := now.Add(time.Hour)
	for _, r := range []Reservation{
		{CostUSD: -1, ExpiresAt: exp}, {CostUSD: math.NaN(), ExpiresAt: exp}, {CostUSD: math.Inf(1), ExpiresAt: exp},
		{Tokens: -1, ExpiresAt: exp}, {CostUSD: 1}, {CostUSD: 1, ExpiresAt: now},
	} {
		called := false
		if _, err := s.Reserve(t.Context(), now, r, BudgetScope{}, func(BudgetTotals) error { called = true; return nil }); err == nil || called {
			t.Errorf("Reserve(%+v): err %v, check called %v", r, err, called)
		}
	}
	if _, _, n := reservedNow(t, s, time.UnixMilli(0)); n != 0 {
		t.Errorf("bad input reserved %d", n)
	}
}

// TestWriteFastRestoresFull: the writer connection is back at
// synchronous=FULL after a reservation, so every Write stays durable.
func TestWriteFastRestoresFull(t *testing.T) {
	s := openTemp(t)
	now := time.Now()
	id, _ := reserveOK(t, s, now, Reservation{CostUSD: 1, ExpiresAt: now.Add(time.Hour)}, BudgetScope{})
	if err := s.Release(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	var mode int
	if err := s.w.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != 2 {
		t.Errorf("writer connection at synchronous=%d after writeFast, want 2 (FULL)", mode)
	}
}

// BenchmarkReserveSettle: the store work around one model call under
// budgets, over 100,000 usage rows: reserve (check session, day and month
// against spend and calls in flight, insert) and then settle (delete, insert
// the usage row, fsync). "record" is the no-budget path (the usage row
// alone); "reserve-fsync" is what the reservation would cost durable.
func BenchmarkReserveSettle(b *testing.B) {
	s := openTemp(b)
	now := time.Now().UTC()
	loadUsage(b, s, 100_000, now)
	scope := BudgetScope{SessionKey: "agent:main:telegram:direct:7", SessionID: "id-7",
		Day: time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC), Month: time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)}
	r := Reservation{SessionKey: scope.SessionKey, SessionID: scope.SessionID, AgentID: "main", Provider: "anthropic", Model: "claude",
		RunID: "run", CostUSD: 0.2, Tokens: 9000, ExpiresAt: now.Add(time.Hour)}
	// The calls settle into another session, so that the checked session
	// keeps its 500 rows however many iterations run.
	u := UsageRecord{TS: now, SessionKey: "agent:main:bench", SessionID: "id-bench", AgentID: "main", Provider: "anthropic", Model: "claude",
		RunID: "run", InputTokens: 1000, OutputTokens: 100, CostUSD: 0.001}
	allow := func(BudgetTotals) error { return nil }
	for _, bc := range []struct {
		name string
		call func(b *testing.B)
	}{
		{"record", func(b *testing.B) {
			if err := s.RecordUsage(b.Context(), u); err != nil {
				b.Fatal(err)
			}
		}},
		{"reserve+settle", func(b *testing.B) {
			id, err := s.Reserve(b.Context(), now, r, scope, allow)
			if err == nil {
				err = s.Settle(b.Context(), id, u)
			}
			if err != nil {
				b.Fatal(err)
			}
		}},
		{"reserve+release", func(b *testing.B) {
			id, err := s.Reserve(b.Context(), now, r, scope, allow)
			if err == nil {
				err = s.Release(b.Context(), id)
			}
			if err != nil {
				b.Fatal(err)
			}
		}},
		{"reserve-fsync+settle", func(b *testing.B) {
			id, err := s.reserve(b.Context(), s.Write, now, r, scope, allow)
			if err == nil {
				err = s.Settle(b.Context(), id, u)
			}
			if err != nil {
				b.Fatal(err)
			}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				bc.call(b)
			}
		})
	}
}

// TestUsageDaily: the per-day sums the budget check reads agree with the
// usage rows: filled from existing rows by the migration, kept by the
// triggers on insert and delete; a window not starting at a UTC midnight is
// summed from the rows.
func TestUsageDaily(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	old, err := open(ctx, path, ms[:7]) // the schema before usage_daily
	if err != nil {
		t.Fatal(err)
	}
	d := time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC)
	record(t, old, UsageRecord{TS: d.Add(-time.Millisecond), InputTokens: 1, OutputTokens: 1, CostUSD: 1})
	record(t, old, UsageRecord{TS: d, InputTokens: 2, CostUSD: 2})
	old.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	record(t, s, UsageRecord{TS: d.Add(23 * time.Hour), OutputTokens: 4, CostUSD: 4})
	record(t, s, UsageRecord{TS: d.Add(24 * time.Hour), InputTokens: 8, CostUSD: 8})
	if err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM usage WHERE cost_usd = 8")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from   time.Time
		usd    float64
		tokens int64
	}{
		{d.AddDate(0, 0, -1), 7, 8},
		{d, 6, 6},
		{d.Add(time.Hour), 4, 4}, // not a midnight: from the rows
		{d.AddDate(0, 0, 1), 0, 0},
	} {
		_, tot := reserveOK(t, s, d, Reservation{ExpiresAt: d.Add(time.Hour)}, BudgetScope{Day: tc.from, Tokens: true})
		if tot.Day.SpentUSD != tc.usd || tot.Day.SpentTokens != tc.tokens {
			t.Errorf("since %v: $%v, %d tokens; want $%v, %d", tc.from, tot.Day.SpentUSD, tot.Day.SpentTokens, tc.usd, tc.tokens)
		}
		if rows, _ := s.Spend(ctx, SpendFilter{Since: tc.from}); rows != tc.usd {
			t.Errorf("since %v: the rows say $%v, want $%v", tc.from, rows, tc.usd)
		}
	}
}

// TestInvariant11_SettleAndAppend: the usage of a call and its assistant
// message are stored in one commit; when the message cannot be appended
// (invalid, or its session gone), the usage is recorded all the same and
// the reservation is gone: a billed call is never left uncounted.
func TestInvariant11_SettleAndAppend(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	sess, err := s.EnsureSession(ctx, "k", SessionInit{AgentID: "main"})
	if err != nil {
		t.Fatal(err)
	}
	u := UsageRecord{TS: now, SessionKey: "k", SessionID: sess.ID, InputTokens: 5, OutputTokens: 1, CostUSD: 0.25}
	spent := func() float64 {
		t.Helper()
		v, err := s.Spend(ctx, SpendFilter{SessionKey: "k"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	id, _ := reserveOK(t, s, now, Reservation{SessionKey: "k", SessionID: sess.ID, CostUSD: 1, ExpiresAt: exp}, BudgetScope{})
	c0 := s.wr.commits.Load()
	out, err := s.SettleAndAppend(ctx, id, u, "k", Message{Role: "assistant", Content: "hi", Provenance: "trusted", CostUSD: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if n := s.wr.commits.Load() - c0; n != 1 {
		t.Errorf("%d commits, want 1", n)
	}
	if len(out) != 1 || out[0].Seq != 1 {
		t.Errorf("appended %+v", out)
	}
	if v := spent(); v != 0.25 {
		t.Errorf("spent $%v, want 0.25", v)
	}
	if _, _, n := reservedNow(t, s, now); n != 0 {
		t.Errorf("%d reservations left", n)
	}

	// An invalid message: usage still recorded.
	id, _ = reserveOK(t, s, now, Reservation{SessionKey: "k", SessionID: sess.ID, CostUSD: 1, ExpiresAt: exp}, BudgetScope{})
	if _, err := s.SettleAndAppend(ctx, id, u, "k", Message{Role: "nobody"}); !errors.Is(err, ErrNotAppended) {
		t.Fatalf("invalid message: %v, want ErrNotAppended", err)
	}
	if v := spent(); v != 0.5 {
		t.Errorf("spent $%v after an invalid message, want 0.5", v)
	}

	// The session deleted under the turn: usage still recorded, no message.
	if err := s.DeleteSession(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	id, _ = reserveOK(t, s, now, Reservation{SessionKey: "k", SessionID: sess.ID, CostUSD: 1, ExpiresAt: exp}, BudgetScope{})
	if _, err := s.SettleAndAppend(ctx, id, u, "k", Message{Role: "assistant", Content: "late", Provenance: "trusted"}); !errors.Is(err, ErrNotAppended) {
		t.Fatalf("deleted session: %v, want ErrNotAppended", err)
	}
	if v := spent(); v != 0.75 {
		t.Errorf("spent $%v after a deleted session, want 0.75", v)
	}
	if _, _, n := reservedNow(t, s, now); n != 0 {
		t.Errorf("%d reservations left", n)
	}
	var msgs int
	if err := s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE content = 'late'").Scan(&msgs)
	}); err != nil || msgs != 0 {
		t.Errorf("message for a deleted session stored (%d, %v)", msgs, err)
	}
}
