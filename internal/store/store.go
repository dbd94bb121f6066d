// Package store is the one place that writes Talon's state: a SQLite
// database (modernc.org/sqlite, pure Go) in the state directory.
//
// Guarantees:
//
//   - One writer. All writes go through Store.Write on a single connection,
//     in a BEGIN IMMEDIATE transaction, so writers in this process queue
//     behind each other instead of failing with SQLITE_BUSY; another process
//     (a CLI command next to a running gateway) waits up to busy_timeout (5 s).
//   - Statements are parsed once per connection and reused (stmtcache.go).
//   - Group commit. Writes queued at the same time share one transaction
//     and one fsync, each in its own savepoint: one write's failure undoes
//     only its own work (see writer.go).
//   - Durable on acknowledgement. The database runs in WAL mode with
//     synchronous=FULL: when Write returns nil the transaction is in the WAL
//     and fsynced: it survives kill -9, and a crash or power loss as far as
//     the disk honours fsync. When it returns an error, nothing of fn's work
//     is kept. The one exception is a budget reservation (Reserve,
//     Release): it commits at synchronous=NORMAL, so it survives kill -9 but
//     reaches the disk only with the next durable commit or checkpoint (see
//     writeFast for why that is safe).
//   - Readers do not block the writer, nor it them. Store.Read runs a
//     read-only transaction on a separate pool of connections (query_only)
//     and sees a consistent snapshot of committed data.
//   - Private from the first byte. The database file is created with mode
//     0600 before SQLite touches it; the file and its -wal and -shm
//     companions are chmod-ed to 0600 after opening, whatever the umask.
//   - Migrations are forward-only. Each embedded migrations/NNNN_name.sql
//     runs once, in its own transaction, recorded in schema_migrations; a
//     database whose schema is newer than this binary knows is refused
//     (ErrSchemaTooNew) rather than written with an older idea of it.
//
// Domain APIs (meta, and later sessions, transcripts, pairing, approvals,
// audit, cron, usage) live in their own files, each with its own migration.
// They are thin functions over Write and Read; nothing else in Talon opens
// the database.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite" // also registers the "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// FileMode is the mode of the database file and its -wal and -shm files.
const FileMode fs.FileMode = 0o600

// readConns is the size of the read pool. Reads are short (a row or a page of
// rows); four covers the gateway's concurrent handlers on a small machine.
const readConns = 4

// busyTimeoutMS is how long a connection waits for a lock held by another
// process before failing with SQLITE_BUSY.
const busyTimeoutMS = 5000

// Store is an open Talon database. It is safe for concurrent use.
type Store struct {
	path string
	w    *sql.DB // the writer: exactly one connection
	wr   *writer // the goroutine that batches writes on w
	r    *sql.DB // the read pool: query_only connections

	hist *historyCache // History's contexts, brought up to date on each read
	sent *sentLog      // replies delivered, ahead of their journal commit
}

// Open opens the database at path, creating it (mode 0600) if it does not
// exist, and brings its schema up to date. The directory holding path must
// exist: the state directory is created, with its own mode, by the caller.
func Open(ctx context.Context, path string) (*Store, error) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	return open(ctx, path, ms)
}

func open(ctx context.Context, path string, ms []migration) (*Store, error) {
	if path == "" {
		return nil, errors.New("store.Open: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	if err := createFile(abs); err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}

	s := &Store{path: abs, hist: newHistoryCache(), sent: &sentLog{path: abs + "-sent"}}
	wc, err := newCachingConnector(dsn(abs, false))
	if err != nil {
		return nil, fmt.Errorf("store.Open: %w", err)
	}
	s.w = sql.OpenDB(wc)
	s.w.SetMaxOpenConns(1)
	s.w.SetMaxIdleConns(1)
	s.w.SetConnMaxLifetime(0)
	s.w.SetConnMaxIdleTime(0)
	s.wr = startWriter(s.w)

	fail := func(err error) (*Store, error) {
		s.Close()
		if isCorrupt(err) {
			err = corruptError{err}
		}
		return nil, err
	}
	// The first connection applies the pragmas; check that WAL took (it
	// does not on some network file systems, and nothing else would say).
	var mode string
	if err := s.w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fail(fmt.Errorf("store.Open: %s: %w", abs, err))
	}
	if !strings.EqualFold(mode, "wal") {
		return fail(fmt.Errorf("store.Open: %s: journal_mode is %q, want wal (is the file on a network file system?)", abs, mode))
	}
	if err := s.migrate(ctx, ms); err != nil {
		var tooNew *SchemaTooNewError
		if errors.As(err, &tooNew) {
			return fail(err) // already says "store: …" and what to do
		}
		return fail(fmt.Errorf("store.Open: %w", err))
	}
	// SQLite creates -wal and -shm with the database file's mode; make
	// sure of it, and of the file itself, whatever the umask or history.
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		if err := os.Chmod(p, FileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(fmt.Errorf("store.Open: %w", err))
		}
	}

	rc, err := newCachingConnector(dsn(abs, true))
	if err != nil {
		return fail(fmt.Errorf("store.Open: %w", err))
	}
	s.r = sql.OpenDB(rc)
	s.r.SetMaxOpenConns(readConns)
	s.r.SetMaxIdleConns(readConns)
	s.r.SetConnMaxLifetime(0)
	s.r.SetConnMaxIdleTime(0)
	if err := s.r.PingContext(ctx); err != nil {
		return fail(fmt.Errorf("store.Open: %s: read pool: %w", abs, err))
	}
	return s, nil
}

// createFile makes sure path is a regular file with mode 0600, creating it
// empty (a valid, empty SQLite database) if it does not exist, so that the
// database is never readable by others, not even for an instant.
func createFile(path string) error {
	dir := filepath.Dir(path)
	st, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("directory %s does not exist (create the state directory first): %w", dir, fs.ErrNotExist)
	}
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, FileMode)
	switch {
	case err == nil:
		if err := f.Close(); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
		st, err := os.Stat(path)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s is not a regular file", path)
		}
	default:
		return err
	}
	// O_CREATE's mode passes through the umask, which can only remove
	// bits; chmod makes it exactly 0600, and tightens an older file.
	return os.Chmod(path, FileMode)
}

// dsn is the modernc.org/sqlite data source name for path. It is a file: URI
// so that a path containing '?' or '#' is not taken for parameters. The
// pragmas run on every new connection.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		// Write transactions take the write lock at BEGIN, so a
		// transaction never fails half way for want of it.
		q.Set("_txlock", "immediate")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(path), RawQuery: q.Encode()}
	return u.String()
}

// Close closes the database. Writes queued or in progress and reads in
// progress finish first; a Write after Close fails.
func (s *Store) Close() error {
	var errs []error
	if s.sent != nil {
		if err := s.sent.close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.wr != nil {
		s.wr.close()
	}
	if s.r != nil {
		if err := s.r.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.w != nil {
		if err := s.w.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store.Close: %w", err)
	}
	return nil
}

// Path is the absolute path of the database file.
func (s *Store) Path() string { return s.path }

// Write runs fn in a write transaction and commits it if fn returns nil;
// otherwise (or if fn panics) it rolls back fn's work and returns fn's
// error as is (or re-raises its panic). It returns nil only once the commit
// is durable.
//
// Writes are serialised: fn runs on the one writer goroutine, after the
// writes queued before it, possibly in one transaction with them and with
// those queued alongside it (group commit; see writer.go). A write still
// queued when ctx ends is dropped; one already running completes. fn must
// not call Write (it would wait for itself) and should not do slow work
// such as network calls: every other writer waits for it. A Read inside fn
// sees the state before this transaction. fn may, rarely, run twice (if
// SQLite abandons a batch's transaction); it must only assign its results.
func (s *Store) Write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.wr.submit(ctx, fn, false)
}

// writeFast is Write without the fsync: fn's transaction commits at
// synchronous=NORMAL, unless it shares a batch with a durable write. In WAL
// mode that commit is in the WAL, in the operating system's hands, when
// writeFast returns: it survives kill -9 of this process, and every reader
// and writer, in any process, sees it. It reaches the disk with the next
// durable commit (by anyone: the WAL is one file) or checkpoint; only a
// power loss or kernel crash before then drops it. Use it only for records
// whose loss in that case harms nothing: a budget reservation belongs to a
// call whose process died with the machine. It saves one fsync (~1 ms on a
// typical SSD) per model call.
func (s *Store) writeFast(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.wr.submit(ctx, fn, true)
}

// Read runs fn in a read-only transaction on the read pool and returns its
// error. fn sees one consistent snapshot of committed data; statements that
// would write fail.
func (s *Store) Read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("store.Read: begin: %w", err)
	}
	defer tx.Rollback() // nothing to commit; ends the snapshot
	return fn(tx)
}

// SchemaVersion is the highest migration version applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.Read(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&v)
	})
	if err != nil {
		return 0, fmt.Errorf("store.SchemaVersion: %w", err)
	}
	return v, nil
}

// ErrCorrupt is matched (errors.Is) by the error Check returns when the
// database is damaged, and by Open's error for a file that is damaged or is
// not a database at all.
var ErrCorrupt = errors.New("database is corrupt")

// corruptError marks err as ErrCorrupt without changing its text.
type corruptError struct{ error }

func (e corruptError) Unwrap() error        { return e.error }
func (e corruptError) Is(target error) bool { return target == ErrCorrupt }

// isCorrupt reports whether err is SQLite's SQLITE_CORRUPT or SQLITE_NOTADB.
func isCorrupt(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary code of an extended one
	case sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
		return true
	}
	return false
}

// Check runs SQLite's integrity check over the whole database. It reads
// every page, so it takes time on a large database; `talon doctor` runs it,
// the gateway does not.
func (s *Store) Check(ctx context.Context) error {
	var problems []string
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "PRAGMA integrity_check")
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var msg string
			if err := rows.Scan(&msg); err != nil {
				return err
			}
			problems = append(problems, msg)
		}
		return rows.Err()
	})
	if isCorrupt(err) {
		return fmt.Errorf("store.Check: %w: %w", ErrCorrupt, err)
	}
	if err != nil {
		return fmt.Errorf("store.Check: %w", err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	const show = 5
	more := ""
	if len(problems) > show {
		more = fmt.Sprintf(" (and %d more)", len(problems)-show)
		problems = problems[:show]
	}
	return fmt.Errorf("store.Check: %w: %s%s", ErrCorrupt, strings.Join(problems, "; "), more)
}

// Ping checks cheaply that the database answers a query on the read pool
// (for health checks; Check is the thorough, slow one).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("store.Ping: %w", err)
	}
	return nil
}

// readAll runs one query in a read transaction and scans every row with
// scan; it is the one list-query loop the store's List methods share.
func readAll[T any](ctx context.Context, s *Store, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	var out []T
	err := s.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			v, err := scan(rows)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return rows.Err()
	})
	return out, err
}
