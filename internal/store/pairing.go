package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// PairingRequest is an unknown sender's request to talk to the agent.
type PairingRequest struct {
	Channel    string    `json:"channel"`
	Account    string    `json:"account"`
	SenderID   string    `json:"senderId"`
	ChatID     string    `json:"chatId"`
	Code       string    `json:"code"`
	CreatedAt  time.Time `json:"createdAt"`
	ExpiresAt  time.Time `json:"expiresAt"`
	Status     string    `json:"status"` // pending | approved | rejected | expired
	ResolvedAt time.Time `json:"resolvedAt,omitzero"`
	ResolvedBy string    `json:"resolvedBy,omitempty"`
}

// Outcomes of CreatePairing.
const (
	PairingCreated = "created" // a new request; its code goes to the sender
	PairingExists  = "exists"  // the sender already has a pending request: say nothing
	PairingFull    = "full"    // the account has too many pending requests: drop
)

// Errors of ResolvePairing.
var (
	ErrNoPairing       = errors.New("no pending pairing request with that code")
	ErrPairingExpired  = errors.New("the pairing code has expired")
	ErrPairingResolved = errors.New("the pairing request was already approved or rejected")
)

// CreatePairing records a pairing request for p's sender unless one is
// already pending or maxPending requests of the channel account are. It
// first marks requests past their expiry as expired. newCode makes a
// candidate code; it is called again if the code is in use. The whole
// check-and-insert is one transaction, so concurrent messages from one
// stranger create one request.
func (s *Store) CreatePairing(ctx context.Context, p PairingRequest, maxPending int, newCode func() string) (PairingRequest, string, error) {
	if p.Channel == "" || p.SenderID == "" || p.CreatedAt.IsZero() || p.ExpiresAt.IsZero() {
		return p, "", errors.New("store.CreatePairing: channel, sender, createdAt and expiresAt are required")
	}
	outcome := ""
	err := s.Write(ctx, func(tx *sql.Tx) error {
		now := p.CreatedAt.UnixMilli()
		if _, err := tx.ExecContext(ctx, `UPDATE pairing_requests SET status = 'expired' WHERE status = 'pending' AND expires_at <= ?`, now); err != nil {
			return err
		}
		row := tx.QueryRowContext(ctx, pairingCols+` WHERE channel = ? AND account = ? AND sender_id = ? AND status = 'pending'`, p.Channel, p.Account, p.SenderID)
		if old, err := scanPairing(row); err == nil {
			p, outcome = old, PairingExists
			return nil
		} else if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pairing_requests WHERE channel = ? AND account = ? AND status = 'pending'`, p.Channel, p.Account).Scan(&n); err != nil {
			return err
		}
		if n >= maxPending {
			outcome = PairingFull
			return nil
		}
		for range 20 {
			p.Code = newCode()
			var taken int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pairing_requests WHERE channel = ? AND code = ? AND status = 'pending'`, p.Channel, p.Code).Scan(&taken); err != nil {
				return err
			}
			if taken == 0 {
				p.Status, outcome = "pending", PairingCreated
				_, err := tx.ExecContext(ctx, `INSERT INTO pairing_requests (channel, account, sender_id, chat_id, code, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
					p.Channel, p.Account, p.SenderID, p.ChatID, p.Code, now, p.ExpiresAt.UnixMilli())
				return err
			}
		}
		return errors.New("no free pairing code after 20 tries")
	})
	if err != nil {
		return p, "", fmt.Errorf("store.CreatePairing: %w", err)
	}
	return p, outcome, nil
}

// ResolvePairing approves or rejects the pending request with code on
// channel (codes are matched without regard to case). Approving also adds
// the sender to the account's approved senders. Of two concurrent
// resolutions exactly one wins.
func (s *Store) ResolvePairing(ctx context.Context, channel, code string, approve bool, by string, now time.Time) (PairingRequest, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	var p PairingRequest
	err := s.Write(ctx, func(tx *sql.Tx) error {
		row := tx.QueryRowContext(ctx, pairingCols+` WHERE channel = ? AND code = ? ORDER BY created_at DESC LIMIT 1`, channel, code)
		var err error
		if p, err = scanPairing(row); errors.Is(err, sql.ErrNoRows) {
			return ErrNoPairing
		} else if err != nil {
			return err
		}
		switch {
		case p.Status == "expired" || (p.Status == "pending" && !now.Before(p.ExpiresAt)):
			if p.Status == "pending" {
				if _, err := tx.ExecContext(ctx, `UPDATE pairing_requests SET status = 'expired' WHERE channel = ? AND code = ? AND status = 'pending'`, channel, code); err != nil {
					return err
				}
			}
			// Commit the expiry, report it as the error.
			p.Status = "expired"
			return nil
		case p.Status != "pending":
			return ErrPairingResolved
		}
		p.Status = "rejected"
		if approve {
			p.Status = "approved"
		}
		p.ResolvedAt, p.ResolvedBy = now, by
		if _, err := tx.ExecContext(ctx, `UPDATE pairing_requests SET status = ?, resolved_at = ?, resolved_by = ? WHERE channel = ? AND code = ? AND status = 'pending'`,
			p.Status, now.UnixMilli(), by, channel, code); err != nil {
			return err
		}
		if approve {
			_, err := tx.ExecContext(ctx, `INSERT INTO channel_allow (channel, account, sender_id, approved_at, approved_by) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT DO UPDATE SET approved_at = excluded.approved_at, approved_by = excluded.approved_by`, p.Channel, p.Account, p.SenderID, now.UnixMilli(), by)
			return err
		}
		return nil
	})
	if err != nil {
		return p, fmt.Errorf("store.ResolvePairing: %w", err)
	}
	if p.Status == "expired" {
		return p, fmt.Errorf("store.ResolvePairing: %w", ErrPairingExpired)
	}
	return p, nil
}

// ListPairing returns pending, unexpired requests (every request when all
// is set), newest first; channel "" lists every channel.
func (s *Store) ListPairing(ctx context.Context, channel string, all bool, now time.Time) ([]PairingRequest, error) {
	q := pairingCols + ` WHERE (? = '' OR channel = ?)`
	args := []any{channel, channel}
	if !all {
		q += ` AND status = 'pending' AND expires_at > ?`
		args = append(args, now.UnixMilli())
	}
	out, err := readAll(ctx, s, scanPairing, q+` ORDER BY created_at DESC LIMIT 500`, args...)
	if err != nil {
		return nil, fmt.Errorf("store.ListPairing: %w", err)
	}
	return out, nil
}

// ChannelAllowed reports whether the owner approved sender on the channel
// account through pairing.
func (s *Store) ChannelAllowed(ctx context.Context, channel, account, sender string) (bool, error) {
	var n int
	err := s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT count(*) FROM channel_allow WHERE channel = ? AND account = ? AND sender_id = ?`, channel, account, sender).Scan(&n)
	})
	if err != nil {
		return false, fmt.Errorf("store.ChannelAllowed: %w", err)
	}
	return n > 0, nil
}

// ApprovedSender is a sender approved through pairing.
type ApprovedSender struct {
	Channel    string    `json:"channel"`
	Account    string    `json:"account"`
	SenderID   string    `json:"senderId"`
	ApprovedAt time.Time `json:"approvedAt"`
	ApprovedBy string    `json:"approvedBy,omitempty"`
}

// ListApprovedSenders returns the senders approved through pairing.
func (s *Store) ListApprovedSenders(ctx context.Context, channel string) ([]ApprovedSender, error) {
	out, err := readAll(ctx, s, func(r scanner) (ApprovedSender, error) {
		var a ApprovedSender
		var at int64
		err := r.Scan(&a.Channel, &a.Account, &a.SenderID, &at, &a.ApprovedBy)
		a.ApprovedAt = time.UnixMilli(at)
		return a, err
	}, `SELECT channel, account, sender_id, approved_at, approved_by FROM channel_allow WHERE (? = '' OR channel = ?) ORDER BY approved_at`, channel, channel)
	if err != nil {
		return nil, fmt.Errorf("store.ListApprovedSenders: %w", err)
	}
	return out, nil
}

// RevokeSender removes an approved sender; it reports whether one was.
func (s *Store) RevokeSender(ctx context.Context, channel, account, sender string) (bool, error) {
	var n int64
	err := s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM channel_allow WHERE channel = ? AND account = ? AND sender_id = ?`, channel, account, sender)
		if err == nil {
			n, err = res.RowsAffected()
		}
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store.RevokeSender: %w", err)
	}
	return n > 0, nil
}

const pairingCols = `SELECT channel, account, sender_id, chat_id, code, created_at, expires_at, status, resolved_at, resolved_by FROM pairing_requests`

func scanPairing(r scanner) (PairingRequest, error) {
	var p PairingRequest
	var created, expires, resolved int64
	err := r.Scan(&p.Channel, &p.Account, &p.SenderID, &p.ChatID, &p.Code, &created, &expires, &p.Status, &resolved, &p.ResolvedBy)
	if err != nil {
		return p, err
	}
	p.CreatedAt, p.ExpiresAt = time.UnixMilli(created), time.UnixMilli(expires)
	if resolved > 0 {
		p.ResolvedAt = time.UnixMilli(resolved)
	}
	return p, nil
}
