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

// SessionCountsByAgent is how many sessions each agent has, by agent id.
func (s *Store) SessionCountsByAgent(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT agent_id, COUNT(*) FROM sessions GROUP BY agent_id ORDER BY agent_id`)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				return err
			}
			out[id] = n
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store.SessionCountsByAgent: %w", err)
	}
	return out, nil
}
