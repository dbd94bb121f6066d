package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Decision is one tool-call decision and its outcome.
type Decision struct {
	ID                                   int64
	TS                                   time.Time
	SessionKey, RunID, AgentID, SenderID string
	Tool, CallID, ArgsSHA256, PlanHash   string
	Action, Outcome, Reason              string
}

// RecordDecision appends a decision.
func (s *Store) RecordDecision(ctx context.Context, d Decision) error {
	err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO decisions (ts, session_key, run_id, agent_id, sender_id, tool, call_id, args_sha256, plan_hash, action, outcome, reason)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.TS.UnixMilli(), d.SessionKey, d.RunID, d.AgentID, d.SenderID, d.Tool, d.CallID,
			d.ArgsSHA256, d.PlanHash, d.Action, d.Outcome, d.Reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("store.RecordDecision: %w", err)
	}
	return nil
}

// Decisions returns the decisions with id greater than after, oldest
// first, at most limit (0 = 1000).
func (s *Store) Decisions(ctx context.Context, after int64, limit int) ([]Decision, error) {
	if limit <= 0 {
		limit = 1000
	}
	out, err := readAll(ctx, s, func(r scanner) (Decision, error) {
		var d Decision
		var ts int64
		err := r.Scan(&d.ID, &ts, &d.SessionKey, &d.RunID, &d.AgentID, &d.SenderID, &d.Tool, &d.CallID, &d.ArgsSHA256, &d.PlanHash, &d.Action, &d.Outcome, &d.Reason)
		d.TS = time.UnixMilli(ts)
		return d, err
	}, `SELECT id, ts, session_key, run_id, agent_id, sender_id, tool, call_id, args_sha256, plan_hash, action, outcome, reason
		FROM decisions WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("store.Decisions: %w", err)
	}
	return out, nil
}
