package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Inbound is one row of the inbound journal: a message from an admitted
// sender, stored before its platform was told it was received
// (invariant 14).
type Inbound struct {
	ID          int64
	Channel     string
	Account     string
	MessageID   string // the platform's id; "" when it has none
	SenderID    string
	ChatID      string
	Message     json.RawMessage // the normalised message (channels.Message)
	Trust       string
	ReceivedAt  time.Time
	State       string    // InboundPending or InboundDone
	ReplySentAt time.Time // zero until the reply was delivered
	DoneAt      time.Time
}

// States of an Inbound.
const (
	InboundPending = "pending"
	InboundDone    = "done"
)

// JournalInbound stores in, durably, unless a row with the same channel,
// account and platform message id exists; then it returns that row's id
// and dup true and stores nothing. When it returns a nil error the row is
// on disk (fsynced): the caller may acknowledge the message to its
// platform.
func (s *Store) JournalInbound(ctx context.Context, in Inbound) (id int64, dup bool, err error) {
	ids, dups, err := s.JournalInboundBatch(ctx, []Inbound{in})
	if err != nil {
		return 0, false, err
	}
	return ids[0], dups[0], nil
}

// JournalInboundBatch journals every message of ins in one durable commit,
// as JournalInbound does each: ids[i] and dups[i] are ins[i]'s. Either all
// are stored or none is.
func (s *Store) JournalInboundBatch(ctx context.Context, ins []Inbound) (ids []int64, dups []bool, err error) {
	for _, in := range ins {
		if in.Channel == "" || in.SenderID == "" || len(in.Message) == 0 || in.ReceivedAt.IsZero() {
			return nil, nil, errors.New("store.JournalInbound: channel, sender, message and receivedAt are required")
		}
	}
	err = s.Write(ctx, func(tx *sql.Tx) error {
		// Assign only: a batch may be re-run (see Write).
		ids, dups = make([]int64, len(ins)), make([]bool, len(ins))
		for i, in := range ins {
			var mid any
			if in.MessageID != "" {
				mid = in.MessageID
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO inbound(channel, account, message_id, sender_id, chat_id, message, trust, received_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(channel, account, message_id) DO NOTHING`,
				in.Channel, in.Account, mid, in.SenderID, in.ChatID, string(in.Message), in.Trust, in.ReceivedAt.UnixMilli())
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 1 {
				if ids[i], err = res.LastInsertId(); err != nil {
					return err
				}
				continue
			}
			dups[i] = true
			if err := tx.QueryRowContext(ctx, `SELECT id FROM inbound WHERE channel = ? AND account = ? AND message_id = ?`,
				in.Channel, in.Account, mid).Scan(&ids[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store.JournalInbound: %w", err)
	}
	return ids, dups, nil
}

// MarkInboundReplied records, durably, that the reply to inbound id was
// accepted by its platform. A resumed message with this mark is not
// answered again.
func (s *Store) MarkInboundReplied(ctx context.Context, id int64, at time.Time) error {
	err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE inbound SET reply_sent_at = ? WHERE id = ? AND reply_sent_at = 0`, at.UnixMilli(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store.MarkInboundReplied: %w", err)
	}
	return nil
}

// MarkInboundDone ends inbound id: its turn is over and whatever it had to
// say was sent (or could not be). replied also sets reply_sent_at, in the
// same commit. The message itself is cleared: from now on the transcript
// is its only copy (under its retention), and the row keeps only the ids
// that recognise a redelivery.
//
// It commits without an fsync of its own (writeFast): the mark survives
// kill -9 of the gateway, and reaches the disk with the next durable
// commit. Only a power loss in that window can drop it, and then the
// message is resumed and its reply sent again: one duplicate after a power
// cut, against one fsync saved on every message.
func (s *Store) MarkInboundDone(ctx context.Context, id int64, replied bool, at time.Time) error {
	err := s.writeFast(ctx, func(tx *sql.Tx) error {
		if replied {
			if _, err := tx.ExecContext(ctx, `UPDATE inbound SET reply_sent_at = ? WHERE id = ? AND reply_sent_at = 0`, at.UnixMilli(), id); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `UPDATE inbound SET state = 'done', done_at = ?, message = '{}' WHERE id = ? AND state = 'pending'`, at.UnixMilli(), id)
		return err
	})
	if err != nil {
		return fmt.Errorf("store.MarkInboundDone: %w", err)
	}
	s.sent.done(id)
	return nil
}

// MarkInboundRepliedDone is MarkInboundDone(replied) for many rows in one
// write, at synchronous=NORMAL like it: the router gathers the rows whose
// replies went out in the last few milliseconds (each already in the sent
// log, which a restart folds in, so a crash before this write sends
// nothing twice).
func (s *Store) MarkInboundRepliedDone(ctx context.Context, ids []int64, at time.Time) error {
	if len(ids) == 0 {
		return nil
	}
	err := s.writeFast(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE inbound SET reply_sent_at = CASE WHEN reply_sent_at = 0 THEN ? ELSE reply_sent_at END,
				state = 'done', done_at = ?, message = '{}' WHERE id = ? AND state = 'pending'`, at.UnixMilli(), at.UnixMilli(), id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store.MarkInboundRepliedDone: %w", err)
	}
	for _, id := range ids {
		s.sent.done(id)
	}
	return nil
}

const inboundCols = `SELECT id, channel, account, COALESCE(message_id, ''), sender_id, chat_id, message, trust, received_at, state, reply_sent_at, done_at FROM inbound`

func scanInbound(sc scanner) (Inbound, error) {
	var in Inbound
	var msg string
	var recv, sent, done int64
	if err := sc.Scan(&in.ID, &in.Channel, &in.Account, &in.MessageID, &in.SenderID, &in.ChatID, &msg, &in.Trust, &recv, &in.State, &sent, &done); err != nil {
		return in, err
	}
	in.Message = json.RawMessage(msg)
	in.ReceivedAt = time.UnixMilli(recv)
	if sent != 0 {
		in.ReplySentAt = time.UnixMilli(sent)
	}
	if done != 0 {
		in.DoneAt = time.UnixMilli(done)
	}
	return in, nil
}

// PendingInbound lists the journaled messages not yet done, in the order
// they arrived. It first moves the sent log's marks into the journal (see
// MarkInboundSent), so a reply delivered just before a crash shows as
// sent. The gateway calls it once, at start, before its channels run.
func (s *Store) PendingInbound(ctx context.Context) ([]Inbound, error) {
	if err := s.foldSentLog(ctx); err != nil {
		return nil, fmt.Errorf("store.PendingInbound: sent log: %w", err)
	}
	var out []Inbound
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, inboundCols+` WHERE state = 'pending' ORDER BY id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			in, err := scanInbound(rows)
			if err != nil {
				return err
			}
			out = append(out, in)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store.PendingInbound: %w", err)
	}
	return out, nil
}

// GetInbound returns the journal row id; the error matches sql.ErrNoRows
// when there is none.
func (s *Store) GetInbound(ctx context.Context, id int64) (Inbound, error) {
	var in Inbound
	err := s.Read(ctx, func(tx *sql.Tx) error {
		var err error
		in, err = scanInbound(tx.QueryRowContext(ctx, inboundCols+` WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return in, fmt.Errorf("store.GetInbound: %w", err)
	}
	return in, nil
}

// PruneInbound deletes done rows that ended before olderThan. Rows are kept
// a while after they are done so that a platform redelivering a message
// (an unconfirmed Telegram offset) is still recognised as a duplicate.
func (s *Store) PruneInbound(ctx context.Context, olderThan time.Time) (int64, error) {
	var n int64
	err := s.Write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM inbound WHERE state = 'done' AND done_at < ?`, olderThan.UnixMilli())
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store.PruneInbound: %w", err)
	}
	return n, nil
}

// RunMessages returns the messages run runID stored in the transcript of
// session key, in order: a turn resumed after a crash reads them to not
// store its user message twice, and to send an answer it had already
// stored instead of asking the model again.
func (s *Store) RunMessages(ctx context.Context, key, runID string) ([]Message, error) {
	var out []Message
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+messageCols+` FROM messages WHERE session_key = ? AND run_id = ? ORDER BY session_id, seq`, key, runID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store.RunMessages: %w", err)
	}
	return out, nil
}
