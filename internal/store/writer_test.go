package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// holdWriter starts a Write whose fn blocks until release is called, and
// returns once the writer is inside it: writes queued meanwhile form the
// next batch. done receives that Write's error.
func holdWriter(t *testing.T, s *Store) (release func(), done <-chan error) {
	t.Helper()
	in, out := make(chan struct{}), make(chan struct{})
	d := make(chan error, 1)
	go func() {
		d <- s.Write(context.Background(), func(tx *sql.Tx) error {
			close(in)
			<-out
			_, err := tx.Exec("INSERT INTO meta(key, value, updated_at) VALUES ('hold', 'v', 0)")
			return err
		})
	}()
	<-in
	var once sync.Once
	release = func() { once.Do(func() { close(out) }) }
	t.Cleanup(release)
	return release, d
}

// waitQueued waits until n writes are queued behind the running batch.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	for {
		s.wr.mu.Lock()
		q := len(s.wr.queue)
		s.wr.mu.Unlock()
		if q >= n {
			return
		}
		if t.Context().Err() != nil {
			t.Fatalf("%d writes queued, want %d", q, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func insertMeta(key string) func(tx *sql.Tx) error {
	return func(tx *sql.Tx) error {
		_, err := tx.Exec("INSERT INTO meta(key, value, updated_at) VALUES (?, 'v', 0)", key)
		return err
	}
}

// TestInvariant14_GroupCommitBatchesConcurrentWrites: writes that queue
// while a batch commits share the next transaction (one commit, one fsync),
// each is acknowledged, and a read-modify-write in the batch sees the
// writes before it (no lost update).
func TestInvariant14_GroupCommitBatchesConcurrentWrites(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	release, held := holdWriter(t, s)
	before := s.wr.commits.Load()

	const n = 50
	errs := make(chan error, 2*n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { errs <- s.Write(ctx, insertMeta(fmt.Sprint("g", i))) })
		wg.Go(func() {
			errs <- s.Write(ctx, func(tx *sql.Tx) error {
				var v int
				err := tx.QueryRow("SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'counter'").Scan(&v)
				if err != nil && !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				_, err = tx.Exec(`INSERT INTO meta(key, value, updated_at) VALUES ('counter', ?, 0)
					ON CONFLICT(key) DO UPDATE SET value = excluded.value`, fmt.Sprint(v+1))
				return err
			})
		})
	}
	waitQueued(t, s, 2*n)
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := s.wr.commits.Load() - before; got != 2 {
		t.Errorf("%d commits for the held write and %d queued ones, want 2 (one batch)", got, 2*n)
	}
	for i := range n {
		if _, ok, err := s.Meta(ctx, fmt.Sprint("g", i)); !ok || err != nil {
			t.Errorf("acknowledged g%d missing (err %v)", i, err)
		}
	}
	if v, _, _ := s.Meta(ctx, "counter"); v != fmt.Sprint(n) {
		t.Errorf("counter = %s, want %d (lost updates within a batch)", v, n)
	}
}

// TestInvariant14_BatchFailureIsolated: in one batch, a write whose fn
// fails, one that panics, one whose caller gave up while it was queued, and
// (in the second case) one that ends the whole transaction under the others
// each fail alone: the other writes of the batch commit and are
// acknowledged, and nothing of the failed ones is kept.
func TestInvariant14_BatchFailureIsolated(t *testing.T) {
	for _, lose := range []bool{false, true} {
		t.Run(fmt.Sprint("txLost=", lose), func(t *testing.T) { testBatchFailure(t, lose) })
	}
}

func testBatchFailure(t *testing.T, lose bool) {
	s := openTemp(t)
	ctx := t.Context()
	release, held := holdWriter(t, s)
	before := s.wr.commits.Load()

	errBoom := errors.New("boom")
	type result struct {
		name string
		err  error
		pan  any
	}
	results := make(chan result, 8)
	queued := 0
	write := func(name string, ctx context.Context, fn func(*sql.Tx) error) {
		queued++
		go func() {
			r := result{name: name}
			defer func() { r.pan = recover(); results <- r }()
			r.err = s.Write(ctx, fn)
		}()
		waitQueued(t, s, queued) // keep the batch in this order
	}
	write("ok1", ctx, insertMeta("ok1"))
	write("fails", ctx, func(tx *sql.Tx) error {
		if err := insertMeta("fails")(tx); err != nil {
			return err
		}
		return errBoom
	})
	write("ok2", ctx, insertMeta("ok2"))
	write("panics", ctx, func(tx *sql.Tx) error {
		insertMeta("panics")(tx)
		panic("fn panics")
	})
	cctx, cancel := context.WithCancel(ctx)
	write("abandoned", cctx, insertMeta("abandoned"))
	write("ok3", ctx, insertMeta("ok3"))
	// Ends the transaction under the batch: ok1..ok3 ran in it and must
	// run again; this write alone fails.
	if lose {
		write("rollsback", ctx, func(tx *sql.Tx) error {
			if err := insertMeta("rollsback")(tx); err != nil {
				return err
			}
			_, err := tx.Exec("ROLLBACK")
			return err
		})
	}
	write("ok4", ctx, insertMeta("ok4"))
	cancel()
	if r := <-results; r.name != "abandoned" || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("first outcome %+v, want the abandoned write's context.Canceled", r)
	}
	release()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	got := map[string]result{}
	for range queued - 1 {
		r := <-results
		got[r.name] = r
	}
	for _, name := range []string{"ok1", "ok2", "ok3", "ok4"} {
		if r := got[name]; r.err != nil || r.pan != nil {
			t.Errorf("%s: err %v, panic %v; want acknowledged", name, r.err, r.pan)
		}
		if _, ok, err := s.Meta(ctx, name); !ok || err != nil {
			t.Errorf("%s acknowledged but not kept (err %v)", name, err)
		}
	}
	if r := got["fails"]; !errors.Is(r.err, errBoom) {
		t.Errorf("fails: err %v, want fn's error", r.err)
	}
	if r := got["panics"]; r.pan != "fn panics" {
		t.Errorf("panics: panic %v re-raised in the caller, want fn's", r.pan)
	}
	if r := got["rollsback"]; lose && r.err == nil {
		t.Error("rollsback: nil error for a write whose work was lost")
	}
	for _, name := range []string{"fails", "panics", "abandoned", "rollsback"} {
		if _, ok, _ := s.Meta(ctx, name); ok {
			t.Errorf("%s failed but its row was kept", name)
		}
	}
	// The batch committed in at most two transactions (the first was
	// abandoned under it and redone).
	if n := s.wr.commits.Load() - before; n != 2 {
		t.Errorf("%d commits, want 2 (held write, then the redone batch)", n)
	}
}

// TestWriteAfterClose: Close finishes queued writes, then refuses new ones.
func TestWriteAfterClose(t *testing.T) {
	s := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(context.Background(), "k", "v"); !errors.Is(err, errClosed) {
		t.Fatalf("write after Close: %v, want errClosed", err)
	}
}

// BenchmarkDurableWrites is one small durable write (a meta upsert) from
// 1, 8 and 64 goroutines at once; writes/commit shows how many share an
// fsync.
func BenchmarkDurableWrites(b *testing.B) {
	for _, writers := range []int{1, 8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s := openTemp(b)
			ctx := b.Context()
			c0, w0 := s.wr.commits.Load(), s.wr.committed.Load()
			work := make(chan int, writers)
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for k := range work {
						if err := s.SetMeta(ctx, fmt.Sprintf("k%d", k%1000), "value"); err != nil {
							b.Error(err)
						}
					}
				})
			}
			b.ResetTimer()
			start := time.Now()
			for k := range b.N {
				work <- k
			}
			close(work)
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
			if c := s.wr.commits.Load() - c0; c > 0 {
				b.ReportMetric(float64(s.wr.committed.Load()-w0)/float64(c), "writes/commit")
			}
		})
	}
}
