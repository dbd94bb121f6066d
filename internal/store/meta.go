package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// SetMeta stores value under key in the meta table, replacing any earlier
// value. It returns once the write is durable.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	if key == "" {
		return errors.New("store.SetMeta: empty key")
	}
	err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO meta(key, value, updated_at) VALUES (?, ?, ?)
			ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
			key, value, time.Now().UnixMilli())
		return err
	})
	if err != nil {
		return fmt.Errorf("store.SetMeta: %w", err)
	}
	return nil
}

// Meta returns the value stored under key; ok is false if there is none.
func (s *Store) Meta(ctx context.Context, key string) (value string, ok bool, err error) {
	err = s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT value FROM meta WHERE key = ?", key).Scan(&value)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store.Meta: %w", err)
	}
	return value, true, nil
}
