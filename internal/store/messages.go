package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// Message is one entry of a session's transcript.
type Message struct {
	ID                    int64           // assigned
	SessionKey, SessionID string          // assigned; SessionID from the session's current id if empty
	Seq                   int64           // assigned: 1, 2, 3, … per session id
	Role                  string          // "user" | "assistant" | "tool" | "system"
	Content               string          //
	ToolCalls             json.RawMessage // assistant: JSON array of {id,name,args}; nil otherwise
	ToolCallID, ToolName  string          // tool results
	IsError               bool            //
	Provenance            string          // "owner" | "trusted" | "untrusted" (or "")
	SenderID              string          //
	Model                 string          //
	InputTokens           int             //
	OutputTokens          int             //
	CostUSD               float64         //
	Decision              json.RawMessage // tool results: the policy decision {action, reason}
	Summary               bool            // a compaction summary
	Compacted             bool            // replaced by a summary; kept for the record, not sent to the model
	RunID                 string          //
	CreatedAt             time.Time       // assigned if zero; stored to the millisecond
}

// HistoryOptions selects what History returns.
type HistoryOptions struct {
	Limit            int    // 0 = all; else the last Limit of what would be returned
	IncludeCompacted bool   // the whole record, in Seq order, summaries in place
	SessionID        string // "" = the current one
}

func checkMessage(key string, m *Message) error {
	switch m.Role {
	case "user", "assistant", "tool", "system":
	default:
		return fmt.Errorf("role %q is not one of user|assistant|tool|system", m.Role)
	}
	switch m.Provenance {
	case "", "owner", "trusted", "untrusted":
	default:
		return fmt.Errorf("provenance %q is not one of owner|trusted|untrusted", m.Provenance)
	}
	if m.SessionKey != "" && m.SessionKey != key {
		return fmt.Errorf("message for session %q appended to %q", m.SessionKey, key)
	}
	if len(m.ToolCalls) > 0 && !json.Valid(m.ToolCalls) {
		return errors.New("tool calls are not valid JSON")
	}
	if len(m.Decision) > 0 && !json.Valid(m.Decision) {
		return errors.New("decision is not valid JSON")
	}
	if m.InputTokens < 0 || m.OutputTokens < 0 {
		return fmt.Errorf("negative token count (%d in, %d out)", m.InputTokens, m.OutputTokens)
	}
	if m.CostUSD < 0 || math.IsNaN(m.CostUSD) || math.IsInf(m.CostUSD, 0) {
		return fmt.Errorf("cost %v is not a finite non-negative number", m.CostUSD)
	}
	return nil
}

// nullJSON stores an empty JSON value as NULL, which reads back as nil.
func nullJSON(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

const messageCols = `id, session_key, session_id, seq, role, content, tool_calls, tool_call_id, tool_name, is_error,
	provenance, sender_id, model, input_tokens, output_tokens, cost_usd, decision, summary, compacted, run_id, created_at`

func scanMessage(sc scanner) (Message, error) {
	var m Message
	var calls, decision []byte
	var created int64
	err := sc.Scan(&m.ID, &m.SessionKey, &m.SessionID, &m.Seq, &m.Role, &m.Content, &calls, &m.ToolCallID, &m.ToolName, &m.IsError,
		&m.Provenance, &m.SenderID, &m.Model, &m.InputTokens, &m.OutputTokens, &m.CostUSD, &decision, &m.Summary, &m.Compacted, &m.RunID, &created)
	if len(calls) > 0 {
		m.ToolCalls = calls
	}
	if len(decision) > 0 {
		m.Decision = decision
	}
	m.CreatedAt = time.UnixMilli(created)
	return m, err
}

// AppendMessages appends msgs to the transcript of key, in one transaction,
// and returns them as stored: ID, SessionKey, SessionID, Seq and (if zero)
// CreatedAt assigned; ID and Seq given by the caller are ignored. The
// session must exist (EnsureSession); otherwise the error matches
// ErrNoSession.
//
// A message goes to the session's current id unless it names another id of
// the same key (a turn that began before a reset finishing in its own
// transcript). The session's UpdatedAt is set to now; its totals (tokens,
// cost, message count of what is not compacted) and LastModel follow the
// messages that went to the current id.
// With no messages it does nothing.
func (s *Store) AppendMessages(ctx context.Context, key string, msgs ...Message) ([]Message, error) {
	if len(msgs) == 0 {
		return nil, nil
	}
	out := slices.Clone(msgs)
	for i := range out {
		if err := checkMessage(key, &out[i]); err != nil {
			return nil, fmt.Errorf("store.AppendMessages: %q: message %d: %w", key, i, err)
		}
	}
	err := s.Write(ctx, func(tx *sql.Tx) error {
		cur, err := currentID(ctx, tx, key)
		if err != nil {
			return err
		}
		return appendTx(ctx, tx, key, cur, out)
	})
	if err != nil {
		return nil, fmt.Errorf("store.AppendMessages: %w", err)
	}
	return out, nil
}

const insertMessage = `INSERT INTO messages(session_key, session_id, seq, role, content, tool_calls,
		tool_call_id, tool_name, is_error, provenance, sender_id, model, input_tokens, output_tokens, cost_usd, decision,
		summary, compacted, run_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// appendTx inserts msgs (checked) into the transcript of key, whose current
// id is cur, filling in what is assigned, and updates the session row.
func appendTx(ctx context.Context, tx *sql.Tx, key, cur string, msgs []Message) error {
	now := time.Now()
	next := map[string]int64{} // session id → next seq
	var in, outTok, count int64
	var cost float64
	var model string
	for i := range msgs {
		m := &msgs[i]
		m.SessionKey = key
		if m.SessionID == "" {
			m.SessionID = cur
		}
		seq, ok := next[m.SessionID]
		if !ok {
			if m.SessionID != cur {
				if err := checkOldID(ctx, tx, key, m.SessionID); err != nil {
					return err
				}
			}
			// The unique (session_id, seq) index answers this at once.
			if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?", m.SessionID).Scan(&seq); err != nil {
				return err
			}
		}
		m.Seq, next[m.SessionID] = seq, seq+1
		if m.CreatedAt.IsZero() {
			m.CreatedAt = now
		}
		m.CreatedAt = time.UnixMilli(m.CreatedAt.UnixMilli()) // what reads will return
		if len(m.ToolCalls) == 0 {
			m.ToolCalls = nil
		}
		if len(m.Decision) == 0 {
			m.Decision = nil
		}
		// The store's statement cache keeps this prepared.
		res, err := tx.ExecContext(ctx, insertMessage, m.SessionKey, m.SessionID, m.Seq, m.Role, m.Content, nullJSON(m.ToolCalls),
			m.ToolCallID, m.ToolName, m.IsError, m.Provenance, m.SenderID, m.Model, m.InputTokens, m.OutputTokens, m.CostUSD,
			nullJSON(m.Decision), m.Summary, m.Compacted, m.RunID, m.CreatedAt.UnixMilli())
		if err != nil {
			return err
		}
		if m.ID, err = res.LastInsertId(); err != nil {
			return err
		}
		if m.SessionID != cur {
			continue
		}
		in += int64(m.InputTokens)
		outTok += int64(m.OutputTokens)
		cost += m.CostUSD
		if !m.Compacted {
			count++
		}
		if m.Model != "" {
			model = m.Model
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE sessions SET updated_at = MAX(updated_at, ?),
		input_tokens = input_tokens + ?, output_tokens = output_tokens + ?, cost_usd = cost_usd + ?,
		message_count = message_count + ?, last_model = CASE WHEN ? = '' THEN last_model ELSE ? END
		WHERE key = ?`, now.UnixMilli(), in, outTok, cost, count, model, model, key)
	return err
}

// checkOldID makes sure id, not the current id of key, is an earlier one of
// it: one that has messages, all under key.
func checkOldID(ctx context.Context, tx *sql.Tx, key, id string) error {
	var owner string
	err := tx.QueryRowContext(ctx, "SELECT session_key FROM messages WHERE session_id = ? LIMIT 1", id).Scan(&owner)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && owner != key) {
		return fmt.Errorf("%q: session id %q is neither its current id nor an earlier one with messages", key, id)
	}
	return err
}

// History returns the transcript of key's session id (the current one
// unless o.SessionID names another) ordered for the model: the active
// summary (the latest one not compacted) first, then what is not compacted,
// by Seq. With o.IncludeCompacted it returns the whole record instead, by
// Seq, summaries where they were appended. With o.Limit > 0 it returns the
// last o.Limit messages of that list (so the summary is the first to go).
func (s *Store) History(ctx context.Context, key string, o HistoryOptions) ([]Message, error) {
	if o.Limit < 0 {
		return nil, fmt.Errorf("store.History: negative limit %d", o.Limit)
	}
	var msgs []Message
	err := s.Read(ctx, func(tx *sql.Tx) error {
		id := o.SessionID
		current := id == ""
		if current {
			var err error
			if id, err = currentID(ctx, tx, key); err != nil {
				return err
			}
		}
		var err error
		msgs, err = s.historyTx(ctx, tx, key, id, current, o)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("store.History: %w", err)
	}
	return msgs, nil
}

// EnsureHistory is EnsureSession and History (of the current id, no
// options) in one read transaction when the session exists: what a turn
// reads first.
func (s *Store) EnsureHistory(ctx context.Context, key string, init SessionInit) (Session, []Message, error) {
	var ss Session
	var msgs []Message
	err := s.Read(ctx, func(tx *sql.Tx) error {
		var err error
		if ss, err = getSession(ctx, tx, key); err != nil {
			return err
		}
		msgs, err = s.historyTx(ctx, tx, key, ss.ID, true, HistoryOptions{})
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		if ss, err = s.EnsureSession(ctx, key, init); err != nil {
			return Session{}, nil, err
		}
		msgs, err = s.History(ctx, key, HistoryOptions{})
		return ss, msgs, err
	}
	if err != nil {
		return Session{}, nil, fmt.Errorf("store.EnsureHistory: %w", err)
	}
	return ss, msgs, nil
}

// historyTx is History's read of session id id of key inside tx (current:
// id is key's current id).
func (s *Store) historyTx(ctx context.Context, tx *sql.Tx, key, id string, current bool, o HistoryOptions) ([]Message, error) {
	var msgs []Message
	err := func() error {
		cacheable := current && o.Limit == 0 && !o.IncludeCompacted
		if cacheable {
			ms, ok, err := s.cachedHistory(ctx, tx, key, id)
			if err != nil || ok {
				msgs = ms
				return err
			}
		}
		query := func(q string, args ...any) ([]Message, error) {
			rows, err := tx.QueryContext(ctx, q, args...)
			if err != nil {
				return nil, err
			}
			defer rows.Close()
			var ms []Message
			for rows.Next() {
				m, err := scanMessage(rows)
				if err != nil {
					return nil, err
				}
				ms = append(ms, m)
			}
			return ms, rows.Err()
		}
		// tail runs q (which ends in "ORDER BY seq") for all rows, or
		// for the last n in Seq order.
		tail := func(q string, n int, args ...any) ([]Message, error) {
			if n == 0 {
				return query(q, args...)
			}
			ms, err := query(q+" DESC LIMIT ?", append(args, n)...)
			slices.Reverse(ms)
			return ms, err
		}

		if o.IncludeCompacted {
			var err error
			msgs, err = tail("SELECT "+messageCols+" FROM messages WHERE session_id = ? AND session_key = ? ORDER BY seq", o.Limit, id, key)
			return err
		}
		// "compacted = 0" in each query lets SQLite use the partial
		// index messages_live and skip the compacted past.
		sum, err := query("SELECT "+messageCols+` FROM messages
			WHERE session_id = ? AND session_key = ? AND compacted = 0 AND summary = 1 ORDER BY seq DESC LIMIT 1`, id, key)
		if err != nil {
			return err
		}
		sumSeq := int64(0) // seqs start at 1
		if len(sum) > 0 {
			sumSeq = sum[0].Seq
		}
		msgs, err = tail("SELECT "+messageCols+` FROM messages
			WHERE session_id = ? AND session_key = ? AND compacted = 0 AND seq != ? ORDER BY seq`, o.Limit, id, key, sumSeq)
		if err != nil {
			return err
		}
		if len(sum) > 0 && (o.Limit == 0 || len(msgs) < o.Limit) {
			msgs = append(sum, msgs...)
		}
		if cacheable {
			last := sumSeq
			if n := len(msgs); n > 0 {
				last = max(last, msgs[n-1].Seq)
			}
			s.hist.put(key, id, last, msgs)
		}
		return nil
	}()
	return msgs, err
}

// Compact replaces the start of key's current context with summary, in one
// transaction: every message of the current id with Seq <= throughSeq that
// is not a summary, and every earlier summary, is marked compacted (kept
// for the record, no longer in History), and summary is appended (Summary
// set; Role "user" or "system") as AppendMessages would, so History returns
// it first. The caller picks throughSeq at a boundary the model can start
// from (not between a tool call and its result): Compact does exactly what
// it is told. It returns the stored summary.
func (s *Store) Compact(ctx context.Context, key string, throughSeq int64, summary Message) (Message, error) {
	if throughSeq < 0 {
		return Message{}, fmt.Errorf("store.Compact: %q: negative seq %d", key, throughSeq)
	}
	if summary.Role != "user" && summary.Role != "system" {
		return Message{}, fmt.Errorf("store.Compact: %q: summary role %q is not user or system", key, summary.Role)
	}
	summary.Summary, summary.Compacted = true, false
	if err := checkMessage(key, &summary); err != nil {
		return Message{}, fmt.Errorf("store.Compact: %q: summary: %w", key, err)
	}
	msgs := []Message{summary}
	err := s.Write(ctx, func(tx *sql.Tx) error {
		cur, err := currentID(ctx, tx, key)
		if err != nil {
			return err
		}
		if summary.SessionID != "" && summary.SessionID != cur {
			return fmt.Errorf("%q: summary for session id %q, not the current one %q", key, summary.SessionID, cur)
		}
		res, err := tx.ExecContext(ctx, `UPDATE messages SET compacted = 1
			WHERE session_id = ? AND compacted = 0 AND (summary = 1 OR seq <= ?)`, cur, throughSeq)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE sessions SET message_count = message_count - ? WHERE key = ?", n, key); err != nil {
			return err
		}
		return appendTx(ctx, tx, key, cur, msgs)
	})
	if err != nil {
		return Message{}, fmt.Errorf("store.Compact: %w", err)
	}
	return msgs[0], nil
}

// pruneBatch is how many messages PruneMessages deletes per transaction, so
// that appends are not held up behind one long delete.
const pruneBatch = 500

// PruneMessages deletes, for retention, the messages created before
// olderThan that are out of every context: those of session ids that are
// no longer current, and compacted ones. What History returns is never
// deleted. It returns how many it deleted. It works in batches, each its
// own transaction; on error the batches already done stay done.
func (s *Store) PruneMessages(ctx context.Context, olderThan time.Time) (int64, error) {
	cutoff := olderThan.UnixMilli()
	var total, after int64
	for {
		var n int64
		err := s.Write(ctx, func(tx *sql.Tx) error {
			// Walk by id, from where the last batch stopped, so the
			// whole table is read once across all batches.
			rows, err := tx.QueryContext(ctx, `DELETE FROM messages WHERE id IN (
				SELECT m.id FROM messages m JOIN sessions s ON s.key = m.session_key
				WHERE m.id > ? AND m.created_at < ? AND (m.compacted = 1 OR m.session_id != s.id)
				ORDER BY m.id LIMIT ?) RETURNING id`, after, cutoff, pruneBatch)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var id int64
				if err := rows.Scan(&id); err != nil {
					return err
				}
				after = max(after, id)
				n++
			}
			return rows.Err()
		})
		if err != nil {
			return total, fmt.Errorf("store.PruneMessages: %w", err)
		}
		total += n
		if n < pruneBatch {
			return total, nil
		}
	}
}
