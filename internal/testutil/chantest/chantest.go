// Package chantest holds the test helpers the channel adapters share: a
// Handler that records messages, a log sink safe for the adapters'
// goroutines, waits with timeouts, and a goroutine-leak check.
package chantest

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
)

// Timeout is how long the Recorder's waits, WaitState and the Stop at
// cleanup wait.
const Timeout = 10 * time.Second

// Recorder is a channels.Handler that records the messages it is given.
// Its zero value is ready to use; it is safe for concurrent use and
// Handle never blocks.
type Recorder struct {
	// Fail, when set, is asked about each message first: an error is
	// Handle's answer and the message is not recorded, as when the
	// Router's journal write fails.
	Fail func(channels.Message) error

	mu   sync.Mutex
	msgs []channels.Message
	read int           // how many messages Next has returned
	wake chan struct{} // closed when a message arrives; nil when none waits
}

// Handle records m. It is a channels.Handler.
func (r *Recorder) Handle(_ context.Context, m channels.Message) error {
	if r.Fail != nil {
		if err := r.Fail(m); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, m)
	if r.wake != nil {
		close(r.wake)
		r.wake = nil
	}
	return nil
}

// All returns a copy of the messages recorded so far, in order.
func (r *Recorder) All() []channels.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]channels.Message(nil), r.msgs...)
}

// until waits up to d for cond to hold over the messages recorded so far
// (cond runs with r locked) and reports whether it did.
func (r *Recorder) until(d time.Duration, cond func([]channels.Message) bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		r.mu.Lock()
		if cond(r.msgs) {
			r.mu.Unlock()
			return true
		}
		if r.wake == nil {
			r.wake = make(chan struct{})
		}
		wake := r.wake
		r.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			return false
		}
	}
}

// Wait waits until n messages in total were recorded and returns all so
// far; the test fails if they do not arrive within Timeout.
func (r *Recorder) Wait(t testing.TB, n int) []channels.Message {
	t.Helper()
	if !r.until(Timeout, func(ms []channels.Message) bool { return len(ms) >= n }) {
		all := r.All()
		t.Fatalf("got %d messages, want %d: %+v", len(all), n, all)
	}
	return r.All()
}

// WaitID waits until a message with ID id was recorded and returns all so
// far; the test fails if it does not arrive within Timeout.
func (r *Recorder) WaitID(t testing.TB, id string) []channels.Message {
	t.Helper()
	ok := r.until(Timeout, func(ms []channels.Message) bool {
		for _, m := range ms {
			if m.ID == id {
				return true
			}
		}
		return false
	})
	if !ok {
		t.Fatalf("message %s never reached the handler; got %+v", id, r.All())
	}
	return r.All()
}

// NextWithin returns the first message Next (or NextWithin) has not
// returned yet, waiting up to d for it; ok is false if none came.
func (r *Recorder) NextWithin(d time.Duration) (m channels.Message, ok bool) {
	if !r.until(d, func(ms []channels.Message) bool { return len(ms) > r.read }) {
		return channels.Message{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m = r.msgs[r.read]
	r.read++
	return m, true
}

// Next returns the messages one by one in the order they were recorded,
// each once; the test fails if the next one does not arrive within
// Timeout.
func (r *Recorder) Next(t testing.TB) channels.Message {
	t.Helper()
	m, ok := r.NextWithin(Timeout)
	if !ok {
		t.Fatal("no message delivered")
	}
	return m
}

// SyncBuffer is a log sink the adapters' goroutines may write to while a
// test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p to the buffer.
func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Logger returns a text logger at debug level that writes to s.
func (s *SyncBuffer) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Lifecycle is the part of channels.Adapter that Start needs.
type Lifecycle interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// Start starts a with ctx, failing the test if that fails, and stops it
// when the test ends; an error from that Stop (given Timeout) fails the
// test.
func Start(t testing.TB, ctx context.Context, a Lifecycle) {
	t.Helper()
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Timeout)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
}

// WaitState waits until a's Status has State state and returns that
// Status; the test fails if it does not within Timeout.
func WaitState(t testing.TB, a interface{ Status() channels.Status }, state string) channels.Status {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for {
		st := a.Status()
		if st.State == state {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state %q, want %q (last error %q)", st.State, state, st.LastError)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// WaitFor waits up to 5 seconds for cond to hold, failing the test with
// what it waited for if it does not.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// NoLeak waits up to 5 seconds for the number of goroutines to drop to
// atMost or below: the runtime.NumGoroutine() taken before the adapter
// started, plus any the test's fakes still hold until cleanup. If it does
// not, the test fails with the stacks of all goroutines.
func NoLeak(t testing.TB, atMost int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= atMost {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Stop, want at most %d:\n%s", n, atMost, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
