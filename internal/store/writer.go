package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group commit.
//
// Every write in this process goes through one goroutine, the writer. A
// Write queues its fn and waits; the writer takes everything queued (up to
// maxBatch), runs each fn in turn inside one BEGIN IMMEDIATE transaction on
// the one writer connection, and commits once: one fsync acknowledges the
// whole batch. While it waits for that fsync, new writes queue up for the
// next batch, so the more writers there are, the bigger the batches and the
// fewer the fsyncs per write; a lone writer pays what it paid before.
//
// What each caller sees is unchanged:
//
//   - Write returns nil only after the transaction holding fn's work has
//     committed at synchronous=FULL (durable; survives kill -9).
//   - fn's failure (error or panic) undoes fn's work alone: each fn of a
//     batch runs inside its own SAVEPOINT, rolled back to if it fails. The
//     others commit; the caller gets fn's error as is (or its panic,
//     re-raised in the caller's goroutine).
//   - fns of a batch run one after another in one transaction, so each sees
//     the work of those before it, exactly as if they had been separate
//     transactions committed in that order (a read-modify-write such as a
//     budget reservation or an audit append stays serialised; the audit
//     chain links records in commit order).
//   - A failed BEGIN or COMMIT fails every fn of the batch: none is kept.
//   - A write whose ctx ends while it is queued is dropped and returns
//     ctx's error; once its fn has started it runs to the end of its batch
//     (fn's own statements see ctx and fail if it is done; a fn whose ctx
//     ended is rolled back).
//   - If SQLite abandons the whole transaction when one fn fails (it may,
//     on an interrupt or an I/O error), the fns before it that succeeded run
//     again in a new transaction. So fn may run more than once; it must
//     only assign its results, never accumulate them across runs. Its
//     caller still sees one outcome.
//   - Another process contends for the write lock at BEGIN as before
//     (busy_timeout); a batch is one transaction to it.

// maxBatch bounds how many writes one transaction commits together, so that
// one batch holds the write lock for a bounded time.
const maxBatch = 256

// errClosed is returned by a Write after Close.
var errClosed = errors.New("store is closed")

// A writeReq is one queued Write.
type writeReq struct {
	ctx   context.Context
	fn    func(tx *sql.Tx) error
	fast  bool             // writeFast: synchronous=NORMAL is enough
	state atomic.Int32     // reqQueued, then reqStarted (by the writer) or reqAbandoned (by the caller)
	done  chan writeResult // buffered; receives exactly one result once state is reqStarted
}

const (
	reqQueued int32 = iota
	reqStarted
	reqAbandoned
)

type writeResult struct {
	err      error
	panicked bool
	panicVal any
}

// writer is the goroutine that owns the writer connection pool (one
// connection) and commits queued writes in batches.
type writer struct {
	db *sql.DB

	mu     sync.Mutex
	queue  []*writeReq
	closed bool

	wake   chan struct{} // capacity 1: "the queue is not empty, or closed"
	exited chan struct{}

	// For tests and benchmarks: transactions committed, and writes they held.
	commits, committed atomic.Int64
}

func startWriter(db *sql.DB) *writer {
	w := &writer{db: db, wake: make(chan struct{}, 1), exited: make(chan struct{})}
	go w.run()
	return w
}

// close stops taking writes, lets the writer finish the queued ones, and
// waits for it.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	w.signal()
	<-w.exited
}

func (w *writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// submit queues fn and waits for its outcome (see the package's group
// commit notes above).
func (w *writer) submit(ctx context.Context, fn func(tx *sql.Tx) error, fast bool) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store.Write: %w", err)
	}
	r := &writeReq{ctx: ctx, fn: fn, fast: fast, done: make(chan writeResult, 1)}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return fmt.Errorf("store.Write: %w", errClosed)
	}
	w.queue = append(w.queue, r)
	w.mu.Unlock()
	w.signal()

	var res writeResult
	select {
	case res = <-r.done:
	case <-ctx.Done():
		if r.state.CompareAndSwap(reqQueued, reqAbandoned) {
			return fmt.Errorf("store.Write: %w", ctx.Err())
		}
		res = <-r.done // started: it completes, one way or the other
	}
	if res.panicked {
		panic(res.panicVal)
	}
	return res.err
}

func (w *writer) run() {
	defer close(w.exited)
	for range w.wake {
		for {
			batch, closed := w.take()
			if len(batch) == 0 {
				if closed {
					return
				}
				break
			}
			w.commit(batch)
		}
	}
}

// take removes up to maxBatch queued writes, oldest first.
func (w *writer) take() ([]*writeReq, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(w.queue), maxBatch)
	batch := w.queue[:n:n]
	if n == len(w.queue) {
		w.queue = nil
	} else {
		w.queue = append([]*writeReq(nil), w.queue[n:]...)
	}
	return batch, w.closed
}

// commit runs batch, dropping the writes whose callers gave up while they
// were queued, and redoing the transaction if SQLite abandoned it.
func (w *writer) commit(batch []*writeReq) {
	live := batch[:0]
	for _, r := range batch {
		if r.state.CompareAndSwap(reqQueued, reqStarted) {
			live = append(live, r)
		}
	}
	for len(live) > 0 {
		live = w.runTx(live)
	}
}

// runTx runs items in one transaction and delivers every outcome, except
// for the items it returns: those must run again in a new transaction,
// because SQLite rolled this one back under them.
func (w *writer) runTx(items []*writeReq) (redo []*writeReq) {
	ctx := context.Background()
	failAll := func(rs []*writeReq, err error) {
		for _, r := range rs {
			r.done <- writeResult{err: err}
		}
	}
	conn, err := w.db.Conn(ctx)
	if err != nil {
		failAll(items, fmt.Errorf("store.Write: %w", err))
		return nil
	}
	defer conn.Close()

	fast := true
	for _, r := range items {
		fast = fast && r.fast
	}
	if fast {
		// A batch of writeFast writes only commits at synchronous=NORMAL
		// (see writeFast); a batch with any durable write commits at FULL.
		if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=NORMAL"); err != nil {
			failAll(items, fmt.Errorf("store.Write: %w", err))
			return nil
		}
		defer func() {
			// The connection must be back at FULL before any durable
			// batch uses it; if that fails, it is discarded (a new one
			// starts at FULL). The batch itself is already settled.
			if _, err := conn.ExecContext(ctx, "PRAGMA synchronous=FULL"); err != nil {
				_ = conn.Raw(func(any) error { return driver.ErrBadConn })
			}
		}()
	}

	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		failAll(items, fmt.Errorf("store.Write: begin: %w", err))
		return nil
	}
	// A batch of one needs no savepoint: its failure is the transaction's.
	single := len(items) == 1
	var ok []*writeReq // ran and succeeded, awaiting the commit
	for i, r := range items {
		if err := r.ctx.Err(); err != nil {
			r.done <- writeResult{err: fmt.Errorf("store.Write: %w", err)}
			continue
		}
		if !single {
			if _, err := tx.ExecContext(ctx, "SAVEPOINT talon_write"); err != nil {
				// The transaction is gone: r fails (so that a lasting
				// fault cannot loop), those before it run again.
				r.done <- writeResult{err: fmt.Errorf("store.Write: %w", err)}
				_ = tx.Rollback()
				return append(ok, items[i+1:]...)
			}
		}
		res := call(tx, r.fn)
		if res.err == nil && !res.panicked && r.ctx.Err() != nil {
			// The caller gave up while fn ran; keep nothing of it.
			res.err = fmt.Errorf("store.Write: %w", r.ctx.Err())
		}
		failed := res.err != nil || res.panicked
		if single {
			if failed {
				// After a failed statement the driver may already have
				// rolled back; ErrTxDone then is expected.
				if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) && res.err != nil {
					res.err = errors.Join(res.err, fmt.Errorf("store.Write: rollback: %w", err))
				}
				r.done <- res
				return nil
			}
			ok = append(ok, r)
			break
		}
		if failed {
			_, err := tx.ExecContext(ctx, "ROLLBACK TO talon_write")
			if err == nil {
				_, err = tx.ExecContext(ctx, "RELEASE talon_write")
			}
			r.done <- res // r's work is undone either way
			if err != nil {
				_ = tx.Rollback()
				return append(ok, items[i+1:]...)
			}
			continue
		}
		if _, err := tx.ExecContext(ctx, "RELEASE talon_write"); err != nil {
			// fn said nil, but its work went with the transaction.
			r.done <- writeResult{err: fmt.Errorf("store.Write: %w", err)}
			_ = tx.Rollback()
			return append(ok, items[i+1:]...)
		}
		ok = append(ok, r)
	}
	if len(ok) == 0 {
		_ = tx.Rollback()
		return nil
	}
	if err := tx.Commit(); err != nil {
		failAll(ok, fmt.Errorf("store.Write: commit: %w", err))
		return nil
	}
	w.commits.Add(1)
	w.committed.Add(int64(len(ok)))
	for _, r := range ok {
		r.done <- writeResult{}
	}
	return nil
}

// call runs fn, turning a panic into a result for the caller to re-raise.
func call(tx *sql.Tx, fn func(*sql.Tx) error) (res writeResult) {
	defer func() {
		if v := recover(); v != nil {
			res = writeResult{panicked: true, panicVal: v}
		}
	}()
	return writeResult{err: fn(tx)}
}

// WriteStats reports how many transactions the writer has committed and
// how many writes they held, for benchmarks (writes per commit is what
// group commit buys).
func (s *Store) WriteStats() (commits, writes int64) {
	return s.wr.commits.Load(), s.wr.committed.Load()
}
