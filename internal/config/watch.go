package config

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// DefaultWatchInterval is how often Watch polls when given no interval.
const DefaultWatchInterval = 2 * time.Second

// Watcher polls a configuration file and reports valid changes. It uses
// no file-system notification API: every Interval it compares the file's
// size and modification time with the last poll and, when they differ (and
// every tenth poll regardless, for writes that keep both), reads it and
// compares its SHA-256 with the content in force.
//
// A changed file that is valid replaces the configuration in force and is
// reported to OnChange with the changed key paths. A changed file that is
// invalid is reported to OnError once it has stayed the same for two polls
// (so a file caught half-written is not reported), and the configuration in
// force is kept. A change that alters no value (a comment, formatting)
// updates the content in force without calling OnChange.
type Watcher struct {
	Path     string
	Env      LookupEnv
	Interval time.Duration // DefaultWatchInterval when zero

	// OnChange is called with the previous and the new configuration and
	// the changed key paths split as by Diff. old is nil when there was no
	// valid configuration before (then it is called even if no path
	// differs from the defaults).
	OnChange func(old, new *Config, live, restart []string)
	// OnError is called with read and validation errors; may be nil.
	OnError func(error)

	// Config and File are the configuration in force when Run starts, as
	// returned by Load; with them, a change made between Load and Run is
	// reported. When Config is nil, Run reads the file first and takes it
	// as the starting point without calling OnChange.
	Config *Config
	File   *File
}

// Watch polls path until ctx is done; see Watcher. The file's content when
// Watch starts is the configuration in force.
func Watch(ctx context.Context, path string, env LookupEnv, interval time.Duration,
	onChange func(old, new *Config, live, restart []string), onError func(error)) {
	w := &Watcher{Path: path, Env: env, Interval: interval, OnChange: onChange, OnError: onError}
	w.Run(ctx)
}

// watchState is what one Run remembers between polls.
type watchState struct {
	cur       *Config
	curHash   string    // hash of the content in force
	size      int64     // size at the last read
	mtime     time.Time // modification time at the last read
	seenHash  string    // hash of the content at the last read
	reported  string    // hash, or error text, last given to OnError
	unsettled bool      // the last read was invalid and not yet reported
	polls     int
}

// Run polls until ctx is done.
func (w *Watcher) Run(ctx context.Context) {
	interval := w.Interval
	if interval <= 0 {
		interval = DefaultWatchInterval
	}
	st := &watchState{cur: w.Config}
	if w.File != nil && w.Config != nil {
		st.curHash = w.File.Hash
	}
	// The first poll always reads the file (no size or mtime recorded yet),
	// so a change made between Load and Run is not missed.
	w.poll(st, st.cur == nil)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(st, false)
		}
	}
}

// poll checks the file once. With initial set it establishes the starting
// configuration: no OnChange, and an invalid file is reported at once.
func (w *Watcher) poll(st *watchState, initial bool) {
	st.polls++
	fi, err := os.Stat(w.Path)
	if err != nil {
		w.reportOnce(st, fmt.Errorf("config.Watch: %w", err))
		return
	}
	if fi.Size() == st.size && fi.ModTime().Equal(st.mtime) && !st.unsettled && st.polls%10 != 0 {
		return
	}
	raw, err := os.ReadFile(w.Path)
	if err != nil {
		w.reportOnce(st, fmt.Errorf("config.Watch: %w", err))
		return
	}
	st.size, st.mtime = fi.Size(), fi.ModTime()
	h := hashBytes(raw)
	prevSeen := st.seenHash
	st.seenHash = h
	if h == st.curHash {
		st.unsettled, st.reported = false, ""
		return
	}
	if st.reported == h {
		return // this invalid content was already reported
	}
	c, err := Parse(raw, w.Env)
	if err != nil {
		if h != prevSeen && !initial {
			st.unsettled = true // maybe caught mid-write: look again next poll
			return
		}
		st.unsettled = false
		st.reported = h
		msg := "keeping the running configuration"
		if st.cur == nil {
			msg = "no valid configuration yet"
		}
		w.report(fmt.Errorf("config.Watch: %s: %s:\n%w", w.Path, msg, err))
		return
	}
	old := st.cur
	st.cur, st.curHash = c, h
	st.unsettled, st.reported = false, ""
	if initial {
		return
	}
	live, restart := Diff(old, c)
	if w.OnChange != nil && (old == nil || len(live)+len(restart) > 0) {
		w.OnChange(old, c, live, restart)
	}
}

// reportOnce reports err unless the same error was the last one reported.
func (w *Watcher) reportOnce(st *watchState, err error) {
	if msg := err.Error(); msg != st.reported {
		st.reported = msg
		st.size, st.mtime = -1, time.Time{}
		w.report(err)
	}
}

func (w *Watcher) report(err error) {
	if w.OnError != nil && err != nil && !errors.Is(err, context.Canceled) {
		w.OnError(err)
	}
}
