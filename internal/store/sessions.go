package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Session is a conversation, named by its key ("agent:main:telegram:direct:123",
// "agent:main:main", "cron:job1"). A key has a current session id (a UUID)
// that ResetSession replaces: the old transcript stays, under the old id,
// until retention prunes it, but it is no longer the context.
type Session struct {
	Key, ID                            string // key and current session id
	AgentID, Channel, PeerID, ChatType string // ChatType: "direct" | "group" | "channel" | "cron" | ""
	Title                              string
	CreatedAt, UpdatedAt               time.Time // CreatedAt: when the current id began
	InputTokens, OutputTokens          int64     // current session id's totals
	CostUSD                            float64   // current session id's total
	MessageCount                       int       // current session id, excluding compacted
	LastModel                          string
}

// SessionInit describes a session when EnsureSession creates it.
type SessionInit struct{ AgentID, Channel, PeerID, ChatType string }

// ListSessionsOptions selects sessions for ListSessions.
type ListSessionsOptions struct {
	Limit       int       // 0 = 100
	AgentID     string    // "" = any
	ActiveSince time.Time // zero = any; else updated at or after it
}

// ErrNoSession is matched (errors.Is) by the error of a call that needs an
// existing session (AppendMessages, History, Compact, ResetSession) when
// the key has none. EnsureSession creates one.
var ErrNoSession = errors.New("no such session")

// maxKeyLen bounds a session key; keys are built by Talon from channel ids,
// and a longer one is a bug upstream, not a conversation.
const maxKeyLen = 1024

func checkKey(key string) error {
	switch {
	case key == "":
		return errors.New("empty session key")
	case len(key) > maxKeyLen:
		return fmt.Errorf("session key of %d bytes (at most %d)", len(key), maxKeyLen)
	}
	return nil
}

func checkChatType(t string) error {
	switch t {
	case "", "direct", "group", "channel", "cron":
		return nil
	}
	return fmt.Errorf("chat type %q is not one of direct|group|channel|cron", t)
}

const sessionCols = `key, id, agent_id, channel, peer_id, chat_type, title, created_at, updated_at,
	input_tokens, output_tokens, cost_usd, message_count, last_model`

// querier is what a *sql.Tx of Read or Write offers for single-row queries.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// scanSession reads a row of sessionCols.
func scanSession(sc scanner) (Session, error) {
	var ss Session
	var created, updated int64
	err := sc.Scan(&ss.Key, &ss.ID, &ss.AgentID, &ss.Channel, &ss.PeerID, &ss.ChatType, &ss.Title, &created, &updated,
		&ss.InputTokens, &ss.OutputTokens, &ss.CostUSD, &ss.MessageCount, &ss.LastModel)
	ss.CreatedAt, ss.UpdatedAt = time.UnixMilli(created), time.UnixMilli(updated)
	return ss, err
}

// getSession reads the session row of key; sql.ErrNoRows if there is none.
func getSession(ctx context.Context, q querier, key string) (Session, error) {
	return scanSession(q.QueryRowContext(ctx, "SELECT "+sessionCols+" FROM sessions WHERE key = ?", key))
}

// currentID is the current session id of key, or an error matching
// ErrNoSession.
func currentID(ctx context.Context, q querier, key string) (string, error) {
	var id string
	err := q.QueryRowContext(ctx, "SELECT id FROM sessions WHERE key = ?", key).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("%q: %w (EnsureSession creates it)", key, ErrNoSession)
	}
	return id, err
}

// newSessionID returns a random (version 4) UUID.
func newSessionID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// EnsureSession returns the session of key, creating it with a new id and
// init if there is none. An existing session is returned as it is: init
// does not change it.
func (s *Store) EnsureSession(ctx context.Context, key string, init SessionInit) (Session, error) {
	if err := checkKey(key); err != nil {
		return Session{}, fmt.Errorf("store.EnsureSession: %w", err)
	}
	if err := checkChatType(init.ChatType); err != nil {
		return Session{}, fmt.Errorf("store.EnsureSession: %q: %w", key, err)
	}
	// It runs on every inbound message and almost always finds the
	// session: look first on the read pool, which neither waits for the
	// writer nor costs an fsync.
	ss, ok, err := s.Session(ctx, key)
	if err != nil {
		return Session{}, fmt.Errorf("store.EnsureSession: %w", err)
	}
	if ok {
		return ss, nil
	}
	err = s.Write(ctx, func(tx *sql.Tx) error {
		now := time.Now().UnixMilli()
		// DO NOTHING: another writer (or process) may have created it
		// since the look above; then that one stands.
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions(key, id, agent_id, channel, peer_id, chat_type, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
			key, newSessionID(), init.AgentID, init.Channel, init.PeerID, init.ChatType, now, now)
		if err != nil {
			return err
		}
		ss, err = getSession(ctx, tx, key)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("store.EnsureSession: %w", err)
	}
	return ss, nil
}

// Session returns the session of key; ok is false if there is none.
func (s *Store) Session(ctx context.Context, key string) (ss Session, ok bool, err error) {
	err = s.Read(ctx, func(tx *sql.Tx) error {
		ss, err = getSession(ctx, tx, key)
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return Session{}, false, nil
	}
	if err != nil {
		return Session{}, false, fmt.Errorf("store.Session: %w", err)
	}
	return ss, true, nil
}

// ListSessions returns sessions, most recently updated first.
func (s *Store) ListSessions(ctx context.Context, o ListSessionsOptions) ([]Session, error) {
	if o.Limit < 0 {
		return nil, fmt.Errorf("store.ListSessions: negative limit %d", o.Limit)
	}
	limit := o.Limit
	if limit == 0 {
		limit = 100
	}
	var where []string
	var args []any
	if o.AgentID != "" {
		where, args = append(where, "agent_id = ?"), append(args, o.AgentID)
	}
	if !o.ActiveSince.IsZero() {
		where, args = append(where, "updated_at >= ?"), append(args, o.ActiveSince.UnixMilli())
	}
	q := "SELECT " + sessionCols + " FROM sessions"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY updated_at DESC, key LIMIT ?"
	args = append(args, limit)

	list, err := readAll(ctx, s, scanSession, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store.ListSessions: %w", err)
	}
	return list, nil
}

// ResetSession gives key a new session id (/new, /reset) and returns the
// session. The messages of the old id are kept under it, out of the
// context; the totals and message count start again at zero.
func (s *Store) ResetSession(ctx context.Context, key string) (Session, error) {
	var ss Session
	err := s.Write(ctx, func(tx *sql.Tx) error {
		if _, err := currentID(ctx, tx, key); err != nil {
			return err
		}
		now := time.Now().UnixMilli()
		_, err := tx.ExecContext(ctx, `UPDATE sessions SET id = ?, created_at = ?, updated_at = ?,
			input_tokens = 0, output_tokens = 0, cost_usd = 0, message_count = 0, last_model = ''
			WHERE key = ?`, newSessionID(), now, now, key)
		if err != nil {
			return err
		}
		ss, err = getSession(ctx, tx, key)
		return err
	})
	if err != nil {
		return Session{}, fmt.Errorf("store.ResetSession: %w", err)
	}
	return ss, nil
}

// DeleteSession deletes the session of key and all its messages, of every
// session id it has had. Usage rows stay, session key and id included:
// spend history does not shrink when a conversation is deleted. Deleting a
// key that has no session is not an error.
func (s *Store) DeleteSession(ctx context.Context, key string) error {
	err := s.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM messages WHERE session_key = ?", key); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM sessions WHERE key = ?", key)
		return err
	})
	if err != nil {
		return fmt.Errorf("store.DeleteSession: %w", err)
	}
	return nil
}
