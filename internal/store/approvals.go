package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Approval is one tool call waiting for, or having had, the owner's decision.
type Approval struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	SessionKey string    `json:"sessionKey"`
	RunID      string    `json:"runId,omitempty"`
	AgentID    string    `json:"agentId,omitempty"`
	Tool       string    `json:"tool"`
	Args       string    `json:"args"`
	PlanHash   string    `json:"planHash"`
	Reason     string    `json:"reason"`
	// Plan is the request as approvers were shown it (approvals.RenderPlan).
	Plan       string    `json:"plan,omitempty"`
	Status     string    `json:"status"`             // pending | allowed | denied | expired
	Decision   string    `json:"decision,omitempty"` // allow-once | allow-always | deny
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	ResolvedBy string    `json:"resolvedBy,omitempty"`
}

// Errors of ResolveApproval.
var (
	ErrNoApproval       = errors.New("no such approval")
	ErrApprovalResolved = errors.New("approval already resolved or expired")
)

// CreateApproval stores a pending approval. ID, CreatedAt and ExpiresAt must
// be set.
func (s *Store) CreateApproval(ctx context.Context, a Approval) error {
	if a.ID == "" || a.Tool == "" || a.CreatedAt.IsZero() || a.ExpiresAt.IsZero() {
		return errors.New("store.CreateApproval: id, tool, createdAt and expiresAt are required")
	}
	err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO approvals (id, created_at, expires_at, session_key, run_id, agent_id, tool, args, plan_hash, reason, plan)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.ID, a.CreatedAt.UnixMilli(), a.ExpiresAt.UnixMilli(), a.SessionKey, a.RunID, a.AgentID,
			a.Tool, a.Args, a.PlanHash, a.Reason, a.Plan)
		return err
	})
	if err != nil {
		return fmt.Errorf("store.CreateApproval: %w", err)
	}
	return nil
}

// ResolveApproval records a decision on a pending approval that has not
// expired. It is atomic: of two concurrent resolutions exactly one wins; the
// other gets ErrApprovalResolved.
func (s *Store) ResolveApproval(ctx context.Context, id, decision, by string, now time.Time) (Approval, error) {
	status := "allowed"
	switch decision {
	case "allow-once", "allow-always":
	case "deny":
		status = "denied"
	default:
		return Approval{}, fmt.Errorf("store.ResolveApproval: decision %q is not one of allow-once|allow-always|deny", decision)
	}
	var out Approval
	err := s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE approvals SET status = ?, decision = ?, resolved_at = ?, resolved_by = ?
			WHERE id = ? AND status = 'pending' AND expires_at > ?`, status, decision, now.UnixMilli(), by, id, now.UnixMilli())
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var st string
			if err := tx.QueryRowContext(ctx, `SELECT status FROM approvals WHERE id = ?`, id).Scan(&st); errors.Is(err, sql.ErrNoRows) {
				return ErrNoApproval
			}
			return ErrApprovalResolved
		}
		out, err = scanApproval(tx.QueryRowContext(ctx, approvalCols+` WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return Approval{}, fmt.Errorf("store.ResolveApproval: %w", err)
	}
	return out, nil
}

// ExpireApprovals marks pending approvals past their expiry as expired and
// returns them.
func (s *Store) ExpireApprovals(ctx context.Context, now time.Time) ([]Approval, error) {
	out, err := s.expirePending(ctx, now, "expires_at <= ?", now.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store.ExpireApprovals: %w", err)
	}
	return out, nil
}

// ExpireOrphanedApprovals marks every approval still pending that was
// created before since as expired, and returns them. The gateway calls it
// as it starts: the turn that asked (in an earlier process, killed or
// crashed) is gone, so the request can no longer run anything and must not
// stay on the approvers' list looking as if it could.
func (s *Store) ExpireOrphanedApprovals(ctx context.Context, since time.Time) ([]Approval, error) {
	out, err := s.expirePending(ctx, since, "created_at < ?", since.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("store.ExpireOrphanedApprovals: %w", err)
	}
	return out, nil
}

// ExpireApproval marks one approval expired at now if it is still
// pending, and returns it (zero when it was not pending: answered, expired
// or unknown).
func (s *Store) ExpireApproval(ctx context.Context, id string, now time.Time) (Approval, error) {
	out, err := s.expirePending(ctx, now, "id = ?", id)
	if err != nil {
		return Approval{}, fmt.Errorf("store.ExpireApproval: %w", err)
	}
	if len(out) == 0 {
		return Approval{}, nil
	}
	return out[0], nil
}

// expirePending marks the pending approvals matching cond (a fixed SQL
// condition with one argument) expired at now and returns them.
func (s *Store) expirePending(ctx context.Context, now time.Time, cond string, arg any) ([]Approval, error) {
	var out []Approval
	err := s.Write(ctx, func(tx *sql.Tx) error {
		out = nil // assign only: a batch may be re-run
		rows, err := tx.QueryContext(ctx, approvalCols+` WHERE status = 'pending' AND `+cond, arg)
		if err != nil {
			return err
		}
		for rows.Next() {
			a, err := scanApproval(rows)
			if err != nil {
				rows.Close()
				return err
			}
			a.Status = "expired"
			out = append(out, a)
		}
		rows.Close()
		_, err = tx.ExecContext(ctx, `UPDATE approvals SET status = 'expired', resolved_at = ? WHERE status = 'pending' AND `+cond, now.UnixMilli(), arg)
		return err
	})
	return out, err
}

// Approval returns one approval.
func (s *Store) Approval(ctx context.Context, id string) (Approval, bool, error) {
	var a Approval
	err := s.Read(ctx, func(tx *sql.Tx) error {
		var err error
		a, err = scanApproval(tx.QueryRowContext(ctx, approvalCols+` WHERE id = ?`, id))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Approval{}, false, nil
	}
	if err != nil {
		return Approval{}, false, fmt.Errorf("store.Approval: %w", err)
	}
	return a, true, nil
}

// ListApprovals returns pending approvals (all statuses when all is true),
// newest first, at most limit (0 = 100).
func (s *Store) ListApprovals(ctx context.Context, all bool, limit int) ([]Approval, error) {
	if limit <= 0 {
		limit = 100
	}
	q := approvalCols + ` WHERE status = 'pending' ORDER BY created_at DESC LIMIT ?`
	if all {
		q = approvalCols + ` ORDER BY created_at DESC LIMIT ?`
	}
	out, err := readAll(ctx, s, scanApproval, q, limit)
	if err != nil {
		return nil, fmt.Errorf("store.ListApprovals: %w", err)
	}
	return out, nil
}

const approvalCols = `SELECT id, created_at, expires_at, session_key, run_id, agent_id, tool, args, plan_hash, reason, plan, status, decision, resolved_at, resolved_by FROM approvals`

func scanApproval(r scanner) (Approval, error) {
	var a Approval
	var created, expires, resolved int64
	err := r.Scan(&a.ID, &created, &expires, &a.SessionKey, &a.RunID, &a.AgentID, &a.Tool, &a.Args, &a.PlanHash, &a.Reason, &a.Plan, &a.Status, &a.Decision, &resolved, &a.ResolvedBy)
	if err != nil {
		return a, err
	}
	a.CreatedAt, a.ExpiresAt = time.UnixMilli(created), time.UnixMilli(expires)
	if resolved > 0 {
		a.ResolvedAt = time.UnixMilli(resolved)
	}
	return a, nil
}
