package chantest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
)

func TestRecorder(t *testing.T) {
	var r Recorder
	if got := r.All(); len(got) != 0 {
		t.Fatalf("zero Recorder has %v", got)
	}
	if _, ok := r.NextWithin(10 * time.Millisecond); ok {
		t.Fatal("NextWithin returned a message before any arrived")
	}
	var h channels.Handler = r.Handle
	go func() {
		for i := range 5 {
			time.Sleep(time.Millisecond)
			h(context.Background(), channels.Message{ID: fmt.Sprint(i)})
		}
	}()
	if got := r.WaitID(t, "2"); len(got) < 3 || got[2].ID != "2" {
		t.Errorf("WaitID returned %+v", got)
	}
	got := r.Wait(t, 5)
	if len(got) != 5 {
		t.Fatalf("Wait returned %d messages", len(got))
	}
	for i, m := range got {
		if m.ID != fmt.Sprint(i) {
			t.Errorf("message %d has id %q: order lost", i, m.ID)
		}
		if n := r.Next(t); n.ID != m.ID {
			t.Errorf("Next %d = %q, want %q", i, n.ID, m.ID)
		}
	}
	if m, ok := r.NextWithin(10 * time.Millisecond); ok {
		t.Errorf("NextWithin after the last message returned %+v", m)
	}
	if len(r.All()) != 5 {
		t.Error("Next consumed messages from All")
	}
}

func TestRecorderConcurrent(t *testing.T) {
	var r Recorder
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { r.Handle(context.Background(), channels.Message{}) })
	}
	r.Wait(t, 50)
	wg.Wait()
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() { fmt.Fprintf(&b, "line %d\n", i) })
		_ = b.String()
	}
	wg.Wait()
	if n := strings.Count(b.String(), "\n"); n != 20 {
		t.Errorf("%d lines", n)
	}
	b.Logger().Debug("hello", "k", "v")
	if !strings.Contains(b.String(), "level=DEBUG msg=hello k=v") {
		t.Errorf("debug line missing:\n%s", b.String())
	}
}

type fakeAdapter struct {
	startErr error
	started  atomic.Bool
	stops    atomic.Int32
	state    atomic.Value
}

func (f *fakeAdapter) Start(context.Context) error {
	if f.startErr != nil {
		return f.startErr
	}
	f.started.Store(true)
	return nil
}

func (f *fakeAdapter) Stop(context.Context) error { f.stops.Add(1); return nil }

func (f *fakeAdapter) Status() channels.Status {
	s, _ := f.state.Load().(string)
	return channels.Status{State: s}
}

// fatalTB records a Fatal and ends the goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Fatal(args ...any) { f.msg = fmt.Sprint(args...); runtime.Goexit() }

// fails runs fn on a fatalTB in its own goroutine and returns what it
// failed with ("" if it did not).
func fails(t *testing.T, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f.msg
}

func TestStartStopsAtCleanup(t *testing.T) {
	a := &fakeAdapter{}
	t.Run("sub", func(t *testing.T) {
		Start(t, context.Background(), a)
		if !a.started.Load() || a.stops.Load() != 0 {
			t.Errorf("started %v, stops %d", a.started.Load(), a.stops.Load())
		}
	})
	if n := a.stops.Load(); n != 1 {
		t.Errorf("%d Stops at cleanup, want 1", n)
	}
	bad := &fakeAdapter{startErr: errors.New("no token")}
	if msg := fails(t, func(tb testing.TB) { Start(tb, context.Background(), bad) }); msg != "no token" {
		t.Errorf("failed Start: %q", msg)
	}
}

func TestWaits(t *testing.T) {
	a := &fakeAdapter{}
	a.state.Store(channels.StateConnecting)
	time.AfterFunc(20*time.Millisecond, func() { a.state.Store(channels.StateConnected) })
	if st := WaitState(t, a, channels.StateConnected); st.State != channels.StateConnected {
		t.Errorf("WaitState returned %+v", st)
	}
	var n atomic.Int32
	WaitFor(t, "three calls", func() bool { return n.Add(1) >= 3 })
}

func TestNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	stop := make(chan struct{})
	for range 3 {
		go func() { <-stop }()
	}
	time.AfterFunc(20*time.Millisecond, func() { close(stop) })
	NoLeak(t, before+1) // the AfterFunc's goroutine may still be ending
}
