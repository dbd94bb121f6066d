package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SessionCount is how many sessions exist (health and status report it).
func (s *Store) SessionCount(ctx context.Context) (int, error) {
	var n int
	err := s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n)
	})
	if err != nil {
		return 0, fmt.Errorf("store.SessionCount: %w", err)
	}
	return n, nil
}
