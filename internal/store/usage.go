package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
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
	if err := checkUsage(&u); err != nil {
		return fmt.Errorf("store.RecordUsage: %w", err)
	}
	err := s.Write(ctx, func(tx *sql.Tx) error { return insertUsage(ctx, tx, u) })
	if err != nil {
		return fmt.Errorf("store.RecordUsage: %w", err)
	}
	return nil
}

// checkUsage refuses impossible counts and sets a zero TS to now.
func checkUsage(u *UsageRecord) error {
	if u.InputTokens < 0 || u.OutputTokens < 0 {
		return fmt.Errorf("negative token count (%d in, %d out)", u.InputTokens, u.OutputTokens)
	}
	if u.CostUSD < 0 || math.IsNaN(u.CostUSD) || math.IsInf(u.CostUSD, 0) {
		return fmt.Errorf("cost %v is not a finite non-negative number", u.CostUSD)
	}
	if u.TS.IsZero() {
		u.TS = time.Now()
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
	return spendWhere("SELECT COALESCE(SUM(cost_usd), 0) FROM usage ", f)
}

// spendWhere appends to query (a SELECT … FROM usage) the WHERE clause
// that selects f, and returns it with its arguments.
func spendWhere(query string, f SpendFilter) (string, []any) {
	since := int64(math.MinInt64)
	if !f.Since.IsZero() {
		since = f.Since.UnixMilli()
	}
	switch {
	case f.SessionID != "" && f.SessionKey != "":
		return query + "WHERE session_id = ? AND session_key = ? AND ts >= ?", []any{f.SessionID, f.SessionKey, since}
	case f.SessionID != "":
		return query + "WHERE session_id = ? AND ts >= ?", []any{f.SessionID, since}
	case f.SessionKey != "":
		return query + "WHERE session_key = ? AND ts >= ?", []any{f.SessionKey, since}
	}
	return query + "WHERE ts >= ?", []any{since}
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

// Budget reservations (invariant 11: spending has hard limits).
//
// A check of spend against a limit, followed later by the call that spends,
// lets every turn that starts in between pass the same check: six turns
// started together each see the day's budget unspent. So the check and the
// claim are one write transaction: Reserve sums recorded spend and the
// worst case of every call still in flight, lets the caller's check decide,
// and inserts this call's worst case before any other writer, in this
// process or another on the same file, can run its own check (BEGIN
// IMMEDIATE takes the database's write lock at the start; other processes
// wait up to busy_timeout). Settle swaps the reservation for the real usage
// row in one transaction, so the call is never counted twice nor not at
// all; Release drops it when the call failed.
//
// A process that dies mid-call cannot settle. Its reservation carries an
// expiry (ExpiresAt: the reserving turn's timeout plus a grace period), is
// ignored after it, and deleted by the next Reserve. Expiry, not a process
// check, because a pid says nothing across PID namespaces or after reuse;
// the cost is that a crashed call's worst case blocks its budgets until
// its turn could have ended anyway.

// ReservationID names a reservation. Zero is "nothing was reserved": Settle
// then only records usage, and Release does nothing.
type ReservationID int64

// Reservation is the worst case of one model call about to be made.
type Reservation struct {
	SessionKey, SessionID, AgentID, Provider, Model, RunID string
	CostUSD                                                float64 // worst-case cost
	Tokens                                                 int64   // worst-case input plus output tokens
	ExpiresAt                                              time.Time
}

// BudgetScope says which totals Reserve sums for its check.
type BudgetScope struct {
	SessionKey, SessionID string    // the session's totals; "" = none
	Day, Month            time.Time // the start of the day and of the month; zero = not summed
	Tokens                bool      // sum the session's tokens too (day and month windows always have them)
}

// Amount is usage recorded and reserved in one window.
type Amount struct {
	SpentUSD, ReservedUSD       float64
	SpentTokens, ReservedTokens int64
}

// BudgetTotals are the sums a budget check needs. Reservations count in
// the day and month windows whenever they were made (a call in flight at
// midnight is charged to the day it ends in), and in the session window of
// their own session.
type BudgetTotals struct {
	Session, Day, Month Amount
}

// Reserve checks and reserves in one write transaction: it sums the totals
// scope names (recorded usage plus unexpired reservations, as of now),
// calls check with them, and, if check returns nil, inserts r. check's
// error is returned as is and nothing is reserved; check must be quick
// and do no I/O, as every writer waits for it. A reservation of nothing
// (zero cost and tokens) is checked but not stored: the ID is 0.
func (s *Store) Reserve(ctx context.Context, now time.Time, r Reservation, scope BudgetScope, check func(BudgetTotals) error) (ReservationID, error) {
	return s.reserve(ctx, s.writeFast, now, r, scope, check)
}

// reserve is Reserve with the write transaction write (the benchmark
// compares writeFast with the durable Write).
func (s *Store) reserve(ctx context.Context, write func(context.Context, func(*sql.Tx) error) error,
	now time.Time, r Reservation, scope BudgetScope, check func(BudgetTotals) error) (ReservationID, error) {
	if r.Tokens < 0 || r.CostUSD < 0 || math.IsNaN(r.CostUSD) || math.IsInf(r.CostUSD, 0) {
		return 0, fmt.Errorf("store.Reserve: worst case $%v, %d tokens is not finite and non-negative", r.CostUSD, r.Tokens)
	}
	if !r.ExpiresAt.After(now) {
		return 0, fmt.Errorf("store.Reserve: expiry %v is not after now (%v)", r.ExpiresAt, now)
	}
	var id ReservationID
	checkErr := errors.New("check refused") // marks check's error apart from the store's
	var refused error
	err := write(ctx, func(tx *sql.Tx) error {
		ms := now.UnixMilli()
		if _, err := tx.ExecContext(ctx, "DELETE FROM usage_reservations WHERE expires_at <= ?", ms); err != nil {
			return err
		}
		tot, err := budgetTotals(ctx, tx, ms, scope)
		if err != nil {
			return err
		}
		if err := check(tot); err != nil {
			refused = err
			return checkErr
		}
		if r.CostUSD == 0 && r.Tokens == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO usage_reservations(created_at, expires_at, session_key, session_id, agent_id,
			provider, model, run_id, cost_usd, tokens) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			ms, r.ExpiresAt.UnixMilli(), r.SessionKey, r.SessionID, r.AgentID, r.Provider, r.Model, r.RunID, r.CostUSD, r.Tokens)
		if err != nil {
			return err
		}
		n, err := res.LastInsertId()
		id = ReservationID(n)
		return err
	})
	if refused != nil {
		return 0, refused
	}
	if err != nil {
		return 0, fmt.Errorf("store.Reserve: %w", err)
	}
	return id, nil
}

// budgetTotals sums what scope names, as of ms, inside tx.
func budgetTotals(ctx context.Context, tx *sql.Tx, ms int64, scope BudgetScope) (BudgetTotals, error) {
	var tot BudgetTotals
	// Reservations in flight are few (one per running model call): one pass.
	var all, sess Amount
	err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(tokens), 0),
		COALESCE(SUM(CASE WHEN session_key = ?1 AND session_id = ?2 THEN cost_usd END), 0),
		COALESCE(SUM(CASE WHEN session_key = ?1 AND session_id = ?2 THEN tokens END), 0)
		FROM usage_reservations WHERE expires_at > ?3`, scope.SessionKey, scope.SessionID, ms).
		Scan(&all.ReservedUSD, &all.ReservedTokens, &sess.ReservedUSD, &sess.ReservedTokens)
	if err != nil {
		return tot, err
	}
	spent := func(a *Amount, f SpendFilter) error {
		if !scope.Tokens {
			q, args := spendQuery(f) // from a covering index
			return tx.QueryRowContext(ctx, q, args...).Scan(&a.SpentUSD)
		}
		q, args := spendWhere("SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(input_tokens + output_tokens), 0) FROM usage ", f)
		return tx.QueryRowContext(ctx, q, args...).Scan(&a.SpentUSD, &a.SpentTokens)
	}
	if scope.SessionKey != "" {
		tot.Session = sess
		if err := spent(&tot.Session, SpendFilter{SessionKey: scope.SessionKey, SessionID: scope.SessionID}); err != nil {
			return tot, err
		}
	}
	// A window that starts at a UTC midnight is summed from usage_daily (a
	// row a day); any other from the usage rows.
	since := func(a *Amount, from time.Time) error {
		ms := from.UnixMilli()
		if ms%msPerDay != 0 || ms < 0 {
			return spent(a, SpendFilter{Since: from})
		}
		return tx.QueryRowContext(ctx, "SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(tokens), 0) FROM usage_daily WHERE day >= ?",
			ms/msPerDay).Scan(&a.SpentUSD, &a.SpentTokens)
	}
	if !scope.Day.IsZero() {
		tot.Day = all
		if err := since(&tot.Day, scope.Day); err != nil {
			return tot, err
		}
	}
	if !scope.Month.IsZero() {
		tot.Month = all
		if err := since(&tot.Month, scope.Month); err != nil {
			return tot, err
		}
	}
	return tot, nil
}

// Settle records a model call's usage in place of its reservation, in one
// durable transaction. A reservation that has expired and been deleted
// meanwhile is no obstacle: the usage is recorded all the same.
func (s *Store) Settle(ctx context.Context, id ReservationID, u UsageRecord) error {
	if err := checkUsage(&u); err != nil {
		return fmt.Errorf("store.Settle: %w", err)
	}
	err := s.Write(ctx, func(tx *sql.Tx) error {
		if id != 0 {
			if _, err := tx.ExecContext(ctx, "DELETE FROM usage_reservations WHERE id = ?", int64(id)); err != nil {
				return err
			}
		}
		return insertUsage(ctx, tx, u)
	})
	if err != nil {
		return fmt.Errorf("store.Settle: %w", err)
	}
	return nil
}

// ErrNotAppended is matched (errors.Is) by the error SettleAndAppend
// returns when the usage was recorded but the messages were not.
var ErrNotAppended = errors.New("usage recorded, messages not appended")

// SettleAndAppend is Settle followed by AppendMessages(key, msgs...) in one
// durable transaction (one fsync instead of two): the usage of a model call
// and the assistant message it produced are stored together. The usage
// comes first and does not depend on the messages: if they cannot be
// appended (invalid, or the session is gone), the usage is still recorded
// and the error matches ErrNotAppended. Any other error means neither was
// stored, as with Settle.
func (s *Store) SettleAndAppend(ctx context.Context, id ReservationID, u UsageRecord, key string, msgs ...Message) ([]Message, error) {
	if err := checkUsage(&u); err != nil {
		return nil, fmt.Errorf("store.SettleAndAppend: %w", err)
	}
	out := slices.Clone(msgs)
	var invalid error
	for i := range out {
		if err := checkMessage(key, &out[i]); err != nil {
			invalid = fmt.Errorf("%q: message %d: %w", key, i, err)
			break
		}
	}
	var appendErr error
	err := s.Write(ctx, func(tx *sql.Tx) error {
		appendErr = invalid
		if id != 0 {
			if _, err := tx.ExecContext(ctx, "DELETE FROM usage_reservations WHERE id = ?", int64(id)); err != nil {
				return err
			}
		}
		if err := insertUsage(ctx, tx, u); err != nil {
			return err
		}
		if appendErr != nil || len(out) == 0 {
			return nil
		}
		// The messages in a savepoint of their own: their failure must
		// not take the usage record with it.
		if _, err := tx.ExecContext(ctx, "SAVEPOINT talon_append"); err != nil {
			return err
		}
		cur, err := currentID(ctx, tx, key)
		if err == nil {
			err = appendTx(ctx, tx, key, cur, out)
		}
		if err != nil {
			appendErr = err
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO talon_append"); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, "RELEASE talon_append")
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store.SettleAndAppend: %w", err)
	}
	if appendErr != nil {
		return nil, fmt.Errorf("store.SettleAndAppend: %w: %w", ErrNotAppended, appendErr)
	}
	return out, nil
}

// Release drops a reservation whose call failed or was never made. Like
// Reserve it does not wait for fsync: a release lost to a power failure
// only holds the budget until the reservation expires.
func (s *Store) Release(ctx context.Context, id ReservationID) error {
	if id == 0 {
		return nil
	}
	err := s.writeFast(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM usage_reservations WHERE id = ?", int64(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("store.Release: %w", err)
	}
	return nil
}

// Reserved is what the model calls in flight hold as of now: their
// worst-case cost and tokens and how many they are (expired reservations
// not counted). It is not spend, and usage reports show it apart.
func (s *Store) Reserved(ctx context.Context, now time.Time) (usd float64, tokens int64, calls int, err error) {
	err = s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(cost_usd), 0), COALESCE(SUM(tokens), 0), COUNT(*)
			FROM usage_reservations WHERE expires_at > ?`, now.UnixMilli()).Scan(&usd, &tokens, &calls)
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("store.Reserved: %w", err)
	}
	return usd, tokens, calls, nil
}
