package store

import (
	"context"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
)

// Statement cache.
//
// Parsing SQL is a large part of what a small query costs with this SQLite
// (a third of an agent turn's CPU before this cache). The store's queries
// are a fixed set of strings, so each connection keeps every statement it
// has run prepared, keyed by its text, and runs it again with new
// arguments: SQLite resets a statement between runs and re-prepares it by
// itself if the schema changed. Nothing else changes: same connection,
// same transaction, same errors.
//
// A statement whose rows are still open (a query running again inside its
// own row loop) is not reused: that run goes through the driver as before.
// The cache holds at most maxCachedStmts statements per connection; queries
// beyond that are not cached.

const maxCachedStmts = 256

// cachingConnector opens connections that cache their statements.
type cachingConnector struct{ driver.Connector }

func newCachingConnector(dsn string) (driver.Connector, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	return cachingConnector{c}, nil
}

func (c cachingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	inner, ok := dc.(innerConn)
	if !ok {
		return dc, nil // not the driver this was written for: no cache
	}
	return &cachingConn{innerConn: inner, stmts: map[string]*cachedStmt{}}, nil
}

// innerConn is what modernc.org/sqlite's connection implements and
// database/sql uses.
type innerConn interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

type cachedStmt struct {
	st   stmtContext
	busy bool // its rows are open
}

type stmtContext interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

// cachingConn is used by one goroutine at a time (database/sql holds its
// lock for every call, and until rows are closed it only runs other
// statements), so its map needs no lock of its own.
type cachingConn struct {
	innerConn
	stmts map[string]*cachedStmt
}

var (
	_ innerConn        = (*cachingConn)(nil)
	_ driver.Connector = cachingConnector{}
)

// stmt returns the cached statement for query, preparing it if need be;
// nil means "run it uncached" (cache full, statement busy, or not
// preparable on its own, which the uncached path reports properly).
func (c *cachingConn) stmt(ctx context.Context, query string) *cachedStmt {
	if cs, ok := c.stmts[query]; ok {
		if cs.busy {
			return nil
		}
		return cs
	}
	if len(c.stmts) >= maxCachedStmts {
		return nil
	}
	ds, err := c.innerConn.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	st, ok := ds.(stmtContext)
	if !ok {
		ds.Close()
		return nil
	}
	cs := &cachedStmt{st: st}
	c.stmts[query] = cs
	return cs
}

func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs := c.stmt(ctx, query)
	if cs == nil {
		return c.innerConn.ExecContext(ctx, query, args)
	}
	return cs.st.ExecContext(ctx, args)
}

func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs := c.stmt(ctx, query)
	if cs == nil {
		return c.innerConn.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, cs: cs}, nil
}

func (c *cachingConn) Close() error {
	var errs []error
	for q, cs := range c.stmts {
		if err := cs.st.Close(); err != nil {
			errs = append(errs, err)
		}
		delete(c.stmts, q)
	}
	errs = append(errs, c.innerConn.Close())
	return errors.Join(errs...)
}

// cachedRows frees its statement for reuse when closed.
type cachedRows struct {
	driver.Rows
	cs *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close() // resets the statement
	r.cs.busy = false
	return err
}
