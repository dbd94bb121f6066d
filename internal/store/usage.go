package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// UsageRecord is one model call's token use and cost.
type UsageRecord struct {
	TS                                                     time.Time // now if zero; stored to the millisecond
	SessionKey, SessionID, AgentID, Provider, Model, RunID string
	InputTokens, OutputTokens                              int
	CostUSD                                                float64
}

// SpendFilter selects the usage that Spend sums.
type SpendFilter struct {
	Since                 time.Time // zero = all time; else at or after it
	SessionKey, SessionID string    // "" = any
}

// UsageRow is one group of a UsageReport.
type UsageRow struct {
	Key                       string // day "2026-11-25" (UTC), session key, or "provider/model"
	InputTokens, OutputTokens int64
	CostUSD                   float64
	Calls                     int
}

// UsageReport is the usage since a time, grouped three ways. ByDay runs from
// the oldest day to the newest; BySession and ByModel run from the most
// expensive to the cheapest (then by key).
type UsageReport struct {
	ByDay, BySession, ByModel []UsageRow
	Total                     UsageRow // Key is ""
}

// RecordUsage records one model call for spend accounting. It returns once
// the record is durable.
func (s *Store) RecordUsage(ctx context.Context, u UsageRecord) error {
	if u.InputTokens < 0 || u.OutputTokens < 0 {
		return fmt.Errorf("store.RecordUsage: negative token count (%d in, %d out)", u.InputTokens, u.OutputTokens)
	}
	if u.CostUSD < 0 || math.IsNaN(u.CostUSD) || math.IsInf(u.CostUSD, 0) {
		return fmt.Errorf("store.RecordUsage: cost %v is not a finite non-negative number", u.CostUSD)
	}
	if u.TS.IsZero() {
		u.TS = time.Now()
	}
	err := s.Write(ctx, func(tx *sql.Tx) error { return insertUsage(ctx, tx, u) })
	if err != nil {
		return fmt.Errorf("store.RecordUsage: %w", err)
	}
	return nil
}

func insertUsage(ctx context.Context, tx *sql.Tx, u UsageRecord) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO usage(ts, session_key, session_id, agent_id, provider, model, run_id,
		input_tokens, output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.TS.UnixMilli(), u.SessionKey, u.SessionID, u.AgentID, u.Provider, u.Model, u.RunID,
		u.InputTokens, u.OutputTokens, u.CostUSD)
	return err
}

// spendQuery is the query Spend runs for f. Each form is answered from one
// covering index (see 0002_sessions.sql): a seek, then the entries in range.
func spendQuery(f SpendFilter) (string, []any) {
	since := int64(math.MinInt64)
	if !f.Since.IsZero() {
		since = f.Since.UnixMilli()
	}
	const sum = "SELECT COALESCE(SUM(cost_usd), 0) FROM usage "
	switch {
	case f.SessionID != "" && f.SessionKey != "":
		return sum + "WHERE session_id = ? AND session_key = ? AND ts >= ?", []any{f.SessionID, f.SessionKey, since}
	case f.SessionID != "":
		return sum + "WHERE session_id = ? AND ts >= ?", []any{f.SessionID, since}
	case f.SessionKey != "":
		return sum + "WHERE session_key = ? AND ts >= ?", []any{f.SessionKey, since}
	}
	return sum + "WHERE ts >= ?", []any{since}
}

// Spend is the cost in US dollars of the usage f selects. It runs before
// every model call, and costs a seek plus the rows in range.
func (s *Store) Spend(ctx context.Context, f SpendFilter) (float64, error) {
	q, args := spendQuery(f)
	var usd float64
	err := s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, q, args...).Scan(&usd)
	})
	if err != nil {
		return 0, fmt.Errorf("store.Spend: %w", err)
	}
	return usd, nil
}

// UsageReport sums the usage at or after since (zero = all time) by UTC day,
// by session key and by provider/model. The budget check runs it before
// model calls (for a day), so it reads the range once, and groups in Go
// what SQLite has already summed by (day, session, model).
func (s *Store) UsageReport(ctx context.Context, since time.Time) (UsageReport, error) {
	from := int64(math.MinInt64)
	if !since.IsZero() {
		from = since.UnixMilli()
	}
	days := map[string]*UsageRow{}
	sessions := map[string]*UsageRow{}
	models := map[string]*UsageRow{}
	var total UsageRow
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, reportQuery, from)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var day int64
			var key, model string
			var r UsageRow
			if err := rows.Scan(&day, &key, &model, &r.InputTokens, &r.OutputTokens, &r.CostUSD, &r.Calls); err != nil {
				return err
			}
			dayKey := time.UnixMilli(day * msPerDay).UTC().Format(time.DateOnly)
			for _, acc := range []*UsageRow{get(days, dayKey), get(sessions, key), get(models, model), &total} {
				acc.InputTokens += r.InputTokens
				acc.OutputTokens += r.OutputTokens
				acc.CostUSD += r.CostUSD
				acc.Calls += r.Calls
			}
		}
		return rows.Err()
	})
	if err != nil {
		return UsageReport{}, fmt.Errorf("store.UsageReport: %w", err)
	}
	rep := UsageReport{BySession: byCost(sessions), ByModel: byCost(models), Total: total}
	for _, r := range days {
		rep.ByDay = append(rep.ByDay, *r)
	}
	slices.SortFunc(rep.ByDay, func(a, b UsageRow) int { return strings.Compare(a.Key, b.Key) })
	return rep, nil
}

const msPerDay = 24 * 60 * 60 * 1000

// reportQuery sums usage from a time on by UTC day (days since the epoch;
// integer division floors for times after 1970), session key and
// provider/model. It searches the usage_ts index for the rows in range.
const reportQuery = `SELECT ts / 86400000 AS day, session_key, provider || '/' || model AS pm,
	SUM(input_tokens), SUM(output_tokens), SUM(cost_usd), COUNT(*)
	FROM usage WHERE ts >= ? GROUP BY day, session_key, pm`

// get returns the row of key in m, adding an empty one if there is none.
func get(m map[string]*UsageRow, key string) *UsageRow {
	r := m[key]
	if r == nil {
		r = &UsageRow{Key: key}
		m[key] = r
	}
	return r
}

// byCost lists m's rows, most expensive first, then by key.
func byCost(m map[string]*UsageRow) []UsageRow {
	var out []UsageRow
	for _, r := range m {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(a, b UsageRow) int {
		if c := cmp.Compare(b.CostUSD, a.CostUSD); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	return out
}
