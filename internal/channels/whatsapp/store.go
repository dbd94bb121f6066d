//go:build whatsapp

package whatsapp

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"regexp"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	waLog "go.mau.fi/whatsmeow/util/log"

	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver
)

// errNotLinked is Start's answer when the account has no linked device.
var errNotLinked = errors.New("whatsapp: not linked (hint: talon channels login whatsapp)")

// accountRE is what an account id may look like: it names a file, so no
// separators, no dots at the start, nothing a shell or SQLite URI treats
// specially.
var accountRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

func validAccount(account string) error {
	if !accountRE.MatchString(account) {
		return fmt.Errorf("whatsapp: account id %q is not a plain name (hint: letters, digits, '-' and '_', at most 64)", account)
	}
	return nil
}

// storePath is <stateDir>/whatsapp/<account>.db.
func storePath(stateDir, account string) string {
	return filepath.Join(stateDir, "whatsapp", account+".db")
}

// storeFiles are the database and the files SQLite keeps beside it.
func storeFiles(path string) []string {
	return []string{path, path + "-wal", path + "-shm", path + "-journal"}
}

// prepareStore makes the state directory 0700 and the database file 0600
// before SQLite opens it, so the keys are never readable by others, not
// even for a moment. SQLite creates its -wal and -shm files with the
// permissions of the database file.
func prepareStore(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("whatsapp: state directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // MkdirAll leaves an existing directory as it is
		return fmt.Errorf("whatsapp: state directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("whatsapp: device store: %w", err)
	}
	if err := f.Chmod(0o600); err != nil { // an older file may have been wider
		f.Close()
		return fmt.Errorf("whatsapp: device store: %w", err)
	}
	return f.Close()
}

// dsn is the modernc.org/sqlite data source for path: a file: URI (so a
// '?' or '#' in the state directory cannot cut the path short) with
// foreign keys on, which whatsmeow's schema requires and checks, a busy
// timeout because whatsmeow writes from several goroutines, and WAL.
func dsn(path string) string {
	u := url.URL{Path: filepath.ToSlash(path)}
	return "file:" + u.EscapedPath() +
		"?_pragma=foreign_keys(1)&_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)"
}

// openStore opens (creating if needed) the account's device store and
// brings its schema up to date. The caller closes the container.
func openStore(ctx context.Context, path string, log waLog.Logger) (*sqlstore.Container, error) {
	if err := prepareStore(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("whatsapp: device store: %w", err)
	}
	// "sqlite" is the modernc driver's name; whatsmeow's dbutil maps any
	// name starting with "sqlite" to its SQLite dialect.
	c := sqlstore.NewWithDB(db, "sqlite", log)
	if err := c.Upgrade(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("whatsapp: device store %s: %w", path, err)
	}
	return c, nil
}

// linkedDevice returns the store's device, or errNotLinked.
func linkedDevice(ctx context.Context, c *sqlstore.Container) (*store.Device, error) {
	devs, err := c.GetAllDevices(ctx)
	if err != nil {
		return nil, fmt.Errorf("whatsapp: device store: %w", err)
	}
	if len(devs) == 0 {
		return nil, errNotLinked
	}
	return devs[0], nil
}

// removeStore deletes the database and its side files.
func removeStore(path string) error {
	var errs []error
	for _, p := range storeFiles(path) {
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("whatsapp: deleting the device store: %w", err)
	}
	return nil
}
