package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"testing"
)

// TestStatementCache: statements are kept prepared per connection and
// reused; a query run again inside its own row loop (its statement busy)
// still works; a schema change under a cached statement is picked up.
func TestStatementCache(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	for i := range 3 {
		if err := s.SetMeta(ctx, fmt.Sprint("k", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	const q = "SELECT key FROM meta WHERE key LIKE 'k%' ORDER BY key"
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, q)
		if err != nil {
			return err
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			n++
			// The same statement, busy with the outer rows.
			var first string
			if err := tx.QueryRowContext(ctx, q).Scan(&first); err != nil || first != "k0" {
				return fmt.Errorf("nested run of a busy statement: %q, %v", first, err)
			}
		}
		if n != 3 {
			return fmt.Errorf("%d rows, want 3", n)
		}
		return rows.Err()
	})
	if err != nil {
		t.Fatal(err)
	}

	// The writer connection holds the statements it ran.
	conn, err := s.w.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var cached int
	conn.Raw(func(dc any) error {
		cached = len(dc.(*cachingConn).stmts)
		return nil
	})
	conn.Close()
	if cached == 0 {
		t.Error("the writer connection cached no statement")
	}

	// A cached statement sees a column added after it was prepared.
	const sel = "SELECT * FROM meta WHERE key = 'k0'"
	cols := func() int {
		var n int
		err := s.Write(ctx, func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(ctx, sel)
			if err != nil {
				return err
			}
			defer rows.Close()
			c, err := rows.Columns()
			n = len(c)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := cols()
	if err := s.Write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "ALTER TABLE meta ADD COLUMN extra TEXT")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if after := cols(); after != before+1 {
		t.Errorf("%d columns after ALTER TABLE, want %d", after, before+1)
	}
}

// TestStatementCacheCap: past maxCachedStmts distinct queries, statements
// run uncached and still work.
func TestStatementCacheCap(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	err := s.Write(ctx, func(tx *sql.Tx) error {
		for i := range maxCachedStmts + 10 {
			var v int
			if err := tx.QueryRowContext(ctx, fmt.Sprintf("SELECT %d", i)).Scan(&v); err != nil || v != i {
				return fmt.Errorf("SELECT %d = %d, %v", i, v, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := s.w.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Raw(func(dc any) error {
		if n := len(dc.(*cachingConn).stmts); n > maxCachedStmts {
			t.Errorf("%d cached statements, cap %d", n, maxCachedStmts)
		}
		return nil
	})
	var _ driver.Conn = (*cachingConn)(nil)
}
