package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func knownVersion(t testing.TB) int {
	t.Helper()
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	return len(ms)
}

func TestOpenCloseReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	if err := s.SetMeta(ctx, "instance", "a1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "instance", "a2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	v, ok, err := s.Meta(ctx, "instance")
	if err != nil || !ok || v != "a2" {
		t.Errorf("Meta(instance) = %q, %v, %v; want a2, true, nil", v, ok, err)
	}
	if _, ok, err := s.Meta(ctx, "absent"); ok || err != nil {
		t.Errorf("Meta(absent) = _, %v, %v; want false, nil", ok, err)
	}
	if err := s.SetMeta(ctx, "", "x"); err == nil {
		t.Error("SetMeta with an empty key: no error")
	}
	if err := s.Check(ctx); err != nil {
		t.Error(err)
	}
}

func TestOpenRelativePath(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s, err := Open(t.Context(), "rel.db")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if want := filepath.Join(dir, "rel.db"); s.Path() != want {
		t.Errorf("Path() = %q, want %q", s.Path(), want)
	}
}

func TestOpenOddPath(t *testing.T) {
	// '?' and '#' would end the path in a DSN that is not a URI.
	path := filepath.Join(t.TempDir(), "a b?c#d%20.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database not at the given path: %v", err)
	}
}

func TestOpenMissingDir(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "talon.db")
	_, err := Open(t.Context(), path)
	if err == nil {
		t.Fatal("Open in a missing directory: no error")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %q is not fs.ErrNotExist", err)
	}
	t.Log(err)
	if _, serr := os.Stat(filepath.Dir(path)); !errors.Is(serr, fs.ErrNotExist) {
		t.Error("Open created the missing directory")
	}
}

func TestOpenNotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talon.db")
	if err := os.WriteFile(path, []byte("this is not an SQLite file, it is a text file long enough to have a header"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a text file: no error")
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("Open of a text file = %v, want ErrCorrupt", err)
	}
	t.Log(err)
}

func TestPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	want := map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"foreign_keys": "1",
		"busy_timeout": "5000",
	}
	check := func(who string, tx *sql.Tx) error {
		for p, w := range want {
			var got string
			if err := tx.QueryRowContext(ctx, "PRAGMA "+p).Scan(&got); err != nil {
				return err
			}
			if got != w {
				t.Errorf("%s: PRAGMA %s = %s, want %s", who, p, got, w)
			}
		}
		return nil
	}
	if err := s.Write(ctx, func(tx *sql.Tx) error { return check("writer", tx) }); err != nil {
		t.Fatal(err)
	}
	// Several concurrent reads, so that more than one pool connection is
	// opened and checked.
	var wg sync.WaitGroup
	for range readConns {
		wg.Go(func() {
			err := s.Read(ctx, func(tx *sql.Tx) error {
				time.Sleep(20 * time.Millisecond)
				return check("reader", tx)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
}

func TestReadIsReadOnly(t *testing.T) {
	s := openTemp(t)
	err := s.Read(t.Context(), func(tx *sql.Tx) error {
		_, err := tx.ExecContext(t.Context(), "INSERT INTO meta(key, value, updated_at) VALUES ('x', 'y', 0)")
		return err
	})
	if err == nil {
		t.Fatal("INSERT in Read succeeded")
	}
	if _, ok, _ := s.Meta(t.Context(), "x"); ok {
		t.Fatal("INSERT in Read was kept")
	}
}

func TestWriteRollback(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	errBoom := errors.New("boom")
	err := s.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value, updated_at) VALUES ('r', 'v', 0)"); err != nil {
			return err
		}
		return errBoom
	})
	if !errors.Is(err, errBoom) {
		t.Fatalf("Write returned %v, want fn's error", err)
	}
	if _, ok, _ := s.Meta(ctx, "r"); ok {
		t.Error("row of a failed Write was kept")
	}

	func() {
		defer func() {
			if recover() == nil {
				t.Error("panic in fn was swallowed")
			}
		}()
		s.Write(ctx, func(tx *sql.Tx) error {
			tx.ExecContext(ctx, "INSERT INTO meta(key, value, updated_at) VALUES ('p', 'v', 0)")
			panic("fn panics")
		})
	}()
	if _, ok, _ := s.Meta(ctx, "p"); ok {
		t.Error("row of a panicking Write was kept")
	}
	// The writer connection was released: the store still works.
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.SetMeta(wctx, "after", "panic"); err != nil {
		t.Fatal(err)
	}
}

func TestWriteCanceled(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(t.Context())
	err := s.Write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value, updated_at) VALUES ('c', 'v', 0)"); err != nil {
			return err
		}
		cancel()
		return nil
	})
	if err == nil {
		t.Fatal("Write with a context canceled before commit returned nil")
	}
	if _, ok, _ := s.Meta(t.Context(), "c"); ok {
		t.Error("Write reported failure but its row was kept")
	}
}

func TestConcurrentWriters(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const writers, each = 32, 20
	var wg sync.WaitGroup
	errs := make(chan error, writers*each*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				if err := s.SetMeta(ctx, fmt.Sprintf("w%d-%d", w, i), "v"); err != nil {
					errs <- err
				}
				// A read-modify-write: lost updates would show in the
				// final count if transactions were not serialised.
				err := s.Write(ctx, func(tx *sql.Tx) error {
					var n int
					err := tx.QueryRowContext(ctx, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'counter'").Scan(&n)
					if err != nil && !errors.Is(err, sql.ErrNoRows) {
						return err
					}
					_, err = tx.ExecContext(ctx, `INSERT INTO meta(key, value, updated_at) VALUES ('counter', ?, 0)
						ON CONFLICT(key) DO UPDATE SET value = excluded.value`, fmt.Sprint(n+1))
					return err
				})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err) // SQLITE_BUSY would show here
	}
	var rows int
	err := s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM meta WHERE key LIKE 'w%'").Scan(&rows)
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows != writers*each {
		t.Errorf("%d rows, want %d", rows, writers*each)
	}
	if v, _, _ := s.Meta(ctx, "counter"); v != fmt.Sprint(writers*each) {
		t.Errorf("counter = %s, want %d (lost updates)", v, writers*each)
	}
}

// TestTwoStoresOneFile: two Stores on one file stand for two processes (the
// gateway and a CLI command); busy_timeout and BEGIN IMMEDIATE make their
// writes wait for each other rather than fail.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var wg sync.WaitGroup
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			for j := range 50 {
				if err := s.SetMeta(ctx, fmt.Sprintf("s%d-%d", i, j), "v"); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i := range 2 {
		if _, ok, err := a.Meta(ctx, fmt.Sprintf("s%d-49", i)); !ok || err != nil {
			t.Errorf("store %d's last write missing: %v", i, err)
		}
	}
}

func TestReadDuringWrite(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	if err := s.SetMeta(ctx, "before", "1"); err != nil {
		t.Fatal(err)
	}
	inTx := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.Write(ctx, func(tx *sql.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO meta(key, value, updated_at) VALUES ('during', '1', 0)"); err != nil {
				return err
			}
			close(inTx)
			<-release
			return nil
		})
	}()
	<-inTx
	// The write transaction holds the write lock; reads must still run,
	// and see only committed data.
	rctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if _, ok, err := s.Meta(rctx, "before"); !ok || err != nil {
		t.Errorf("read during write: before: ok=%v err=%v", ok, err)
	}
	if _, ok, err := s.Meta(rctx, "during"); ok || err != nil {
		t.Errorf("read during write saw uncommitted data (ok=%v) or failed: %v", ok, err)
	}
	if _, err := s.SchemaVersion(rctx); err != nil {
		t.Error(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Meta(ctx, "during"); !ok {
		t.Error("committed write not visible")
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	for range 3 {
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		v, err := s.SchemaVersion(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := knownVersion(t); v != want {
			t.Errorf("SchemaVersion = %d, want %d", v, want)
		}
		var n int
		err = s.Read(ctx, func(tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations").Scan(&n)
		})
		if err != nil {
			t.Fatal(err)
		}
		if n != knownVersion(t) {
			t.Errorf("%d rows in schema_migrations, want %d", n, knownVersion(t))
		}
		s.Close()
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// A newer talon has been here.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("INSERT INTO schema_migrations(version, name, applied_at) VALUES (999, '0999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	_, err = Open(ctx, path)
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("store: database schema version 999 is newer than this talon (%d); upgrade talon", knownVersion(t))
	if err.Error() != want {
		t.Errorf("error = %q\nwant    %q", err, want)
	}
}

func TestMigrationRunner(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	v1 := fstest.MapFS{
		"migrations/0001_init.sql": {Data: []byte("CREATE TABLE a (x INTEGER);")},
	}
	v3 := fstest.MapFS{
		"migrations/0001_init.sql":   v1["migrations/0001_init.sql"],
		"migrations/0002_b.sql":      {Data: []byte("CREATE TABLE b (x INTEGER); INSERT INTO b VALUES (1);")},
		"migrations/0003_broken.sql": {Data: []byte("CREATE TABLE c (x INTEGER); INSERT INTO nosuch VALUES (1);")},
	}
	load := func(fsys fs.FS) []migration {
		ms, err := loadMigrations(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	s, err := open(ctx, path, load(v1))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()

	// 0002 applies, 0003 fails: 0002 stays (its own transaction), nothing
	// of 0003 does.
	if _, err := open(ctx, path, load(v3)); err == nil {
		t.Fatal("broken migration: no error")
	} else {
		t.Log(err)
	}
	v2 := fstest.MapFS{
		"migrations/0001_init.sql": v3["migrations/0001_init.sql"],
		"migrations/0002_b.sql":    v3["migrations/0002_b.sql"],
	}
	s, err = open(ctx, path, load(v2))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(ctx); v != 2 {
		t.Errorf("SchemaVersion = %d, want 2", v)
	}
	err = s.Read(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM b").Scan(&n); err != nil || n != 1 {
			t.Errorf("table b: n=%d err=%v", n, err)
		}
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM sqlite_schema WHERE name = 'c'").Scan(&n); err != nil || n != 0 {
			t.Errorf("table c of the failed migration exists (n=%d, err=%v)", n, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestLoadMigrationsRejects(t *testing.T) {
	tests := map[string]fstest.MapFS{
		"gap": {
			"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
			"migrations/0003_c.sql": {Data: []byte("SELECT 1;")},
		},
		"duplicate": {
			"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
			"migrations/0001_b.sql": {Data: []byte("SELECT 1;")},
		},
		"not from one": {
			"migrations/0002_a.sql": {Data: []byte("SELECT 1;")},
		},
		"bad name": {
			"migrations/0001-Init.sql": {Data: []byte("SELECT 1;")},
		},
		"empty": {
			"migrations/README": {Data: []byte("x")},
		},
	}
	for name, fsys := range tests {
		if _, err := loadMigrations(fsys); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := loadMigrations(migrationFiles); err != nil {
		t.Errorf("embedded migrations: %v", err)
	}
}

func TestCheckDetectsCorruption(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "talon.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 300 {
		if err := s.SetMeta(ctx, fmt.Sprintf("key-%04d", i), fmt.Sprintf("value %d with some padding to fill pages", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close() // checkpoints the WAL into the main file

	// Scribble over a page in the middle of the file (not page 1, whose
	// header would make Open fail instead).
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	if st.Size() < 4*4096 {
		t.Fatalf("database only %d bytes", st.Size())
	}
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(i*7 + 3)
	}
	if _, err := f.WriteAt(junk, 2*4096); err != nil {
		t.Fatal(err)
	}
	f.Close()

	s, err = Open(ctx, path)
	if err != nil {
		t.Logf("Open refused the damaged file: %v", err)
		return
	}
	defer s.Close()
	err = s.Check(ctx)
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Check = %v, want ErrCorrupt", err)
	}
	t.Log(err)
}

func BenchmarkSetMeta(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if err := s.SetMeta(ctx, fmt.Sprintf("k%d", i%1000), "value"); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkMeta(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	if err := s.SetMeta(ctx, "k", "value"); err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := s.Meta(ctx, "k"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestPing(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping on a closed store succeeded")
	}
}
