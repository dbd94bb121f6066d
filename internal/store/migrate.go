package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strconv"
	"time"
)

// migrationFiles holds the schema, one file per step. Rules for a new file:
// the next free number (no gaps), never edit a file that has shipped, no
// BEGIN/COMMIT (each file already runs in its own transaction), and no
// PRAGMA that cannot run inside a transaction (foreign_keys, journal_mode).
//
//go:embed migrations/*.sql
var migrationFiles embed.FS

// migration is one schema step.
type migration struct {
	version int
	name    string // the file name, as recorded in schema_migrations
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// loadMigrations reads migrations/*.sql from fsys and checks that their
// versions run 1, 2, 3, … without gaps or duplicates.
func loadMigrations(fsys fs.FS) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, "migrations")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	var ms []migration
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations: %s: name is not NNNN_lower_snake.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		b, err := fs.ReadFile(fsys, path.Join("migrations", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("migrations: %w", err)
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: %s: want version %04d (versions must run 1, 2, 3, … with no gaps or duplicates)", m.name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("migrations: none found")
	}
	return ms, nil
}

// ErrSchemaTooNew is matched (errors.Is) by the error Open returns for a
// database written by a newer Talon.
var ErrSchemaTooNew = errors.New("store: database schema is newer than this talon")

// SchemaTooNewError is the error Open returns for a database written by a
// newer Talon. Migrations are forward-only: an old binary must not write a
// schema it does not know.
type SchemaTooNewError struct {
	Version int // the database's schema version
	Known   int // the newest version this binary has
}

func (e *SchemaTooNewError) Error() string {
	return fmt.Sprintf("store: database schema version %d is newer than this talon (%d); upgrade talon", e.Version, e.Known)
}

// Is makes errors.Is(err, ErrSchemaTooNew) true.
func (e *SchemaTooNewError) Is(target error) bool { return target == ErrSchemaTooNew }

// migrate applies the migrations the database has not seen, each in its own
// write transaction. The check of what is applied is repeated inside each
// transaction, so two processes opening the same database at once apply
// every step exactly once.
func (s *Store) migrate(ctx context.Context, ms []migration) error {
	known := ms[len(ms)-1].version
	var current int
	err := s.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			name       TEXT,
			applied_at INTEGER
		)`); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current)
	})
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if current > known {
		return &SchemaTooNewError{Version: current, Known: known}
	}
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		err := s.Write(ctx, func(tx *sql.Tx) error {
			var applied int
			if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", m.version).Scan(&applied); err != nil {
				return err
			}
			if applied > 0 {
				return nil // another process got there first
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, "INSERT INTO schema_migrations(version, name, applied_at) VALUES (?, ?, ?)",
				m.version, m.name, time.Now().UnixMilli())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}
