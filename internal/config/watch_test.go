package config

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

type change struct {
	old, new      *Config
	live, restart []string
}

type watchRecorder struct {
	changes chan change
	errs    chan error
}

func newRecorder() *watchRecorder {
	return &watchRecorder{changes: make(chan change, 10), errs: make(chan error, 10)}
}

func (r *watchRecorder) onChange(old, new *Config, live, restart []string) {
	r.changes <- change{old, new, live, restart}
}

func (r *watchRecorder) onError(err error) { r.errs <- err }

func (r *watchRecorder) change(t *testing.T) change {
	t.Helper()
	select {
	case c := <-r.changes:
		return c
	case err := <-r.errs:
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no change reported")
	}
	return change{}
}

func (r *watchRecorder) err(t *testing.T) error {
	t.Helper()
	select {
	case c := <-r.changes:
		t.Fatalf("unexpected change: %+v", c)
	case err := <-r.errs:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("no error reported")
	}
	return nil
}

// quiet checks that nothing is reported for a while.
func (r *watchRecorder) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case c := <-r.changes:
		t.Fatalf("unexpected change: live %q restart %q", c.live, c.restart)
	case err := <-r.errs:
		t.Fatalf("unexpected error: %v", err)
	case <-time.After(d):
	}
}

func writeConfig(t *testing.T, path, src string) {
	t.Helper()
	if err := WriteFileAtomic(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatch(t *testing.T) {
	const interval = 5 * time.Millisecond
	path := filepath.Join(t.TempDir(), "talon.json")
	writeConfig(t, path, `{gateway: {port: 1000}, logging: {level: "info"}}`)

	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Watch(ctx, path, testEnv(), interval, r.onChange, r.onError)
		close(done)
	}()
	r.quiet(t, 20*interval) // the starting file is not a change

	// A valid change is reported with its paths split by reload class.
	writeConfig(t, path, `{gateway: {port: 1001}, logging: {level: "debug"}}`)
	c := r.change(t)
	if c.old.Gateway.Port != 1000 || c.new.Gateway.Port != 1001 ||
		!slices.Equal(c.live, []string{"logging.level"}) || !slices.Equal(c.restart, []string{"gateway.port"}) {
		t.Fatalf("change = old %d new %d live %q restart %q", c.old.Gateway.Port, c.new.Gateway.Port, c.live, c.restart)
	}

	// An invalid file is reported once and changes nothing.
	writeConfig(t, path, `{gateway: {port: 1002, prot: 1}, logging: {level: "loud"}}`)
	err := r.err(t)
	for _, s := range []string{"gateway.prot", "logging.level", "keeping the running configuration"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
	r.quiet(t, 30*interval) // not reported again, even by the periodic re-read

	// A change that alters no value is not a change.
	writeConfig(t, path, `// a comment
	{gateway: {port: 1001}, logging: {level: "debug"}}`)
	r.quiet(t, 20*interval)

	// The next valid change starts from the configuration kept in force.
	writeConfig(t, path, `{gateway: {port: 1001, auth: {token: "${TALON_GATEWAY_TOKEN}"}}, logging: {level: "debug"}}`)
	c = r.change(t)
	if c.old.Gateway.Port != 1001 || c.old.Logging.Level != "debug" || !c.new.Gateway.Auth.Token.Equal(testToken) ||
		!slices.Equal(c.live, []string{"gateway.auth.token"}) || c.restart != nil {
		t.Fatalf("change = old %+v live %q restart %q", c.old.Gateway, c.live, c.restart)
	}

	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestWatcherStartingPoint(t *testing.T) {
	const interval = 5 * time.Millisecond
	path := filepath.Join(t.TempDir(), "talon.json")
	writeConfig(t, path, `{gateway: {port: 1000}}`)
	cfg, file, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The file changes between Load and Run: the first poll reports it.
	writeConfig(t, path, `{gateway: {port: 1001}}`)
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &Watcher{Path: path, Interval: interval, OnChange: r.onChange, OnError: r.onError, Config: cfg, File: file}
	go w.Run(ctx)
	if c := r.change(t); c.old != cfg || c.new.Gateway.Port != 1001 || !slices.Equal(c.restart, []string{"gateway.port"}) {
		t.Fatalf("change = %+v", c)
	}
}

func TestWatchMissingThenValid(t *testing.T) {
	const interval = 5 * time.Millisecond
	path := filepath.Join(t.TempDir(), "talon.json")
	r := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Watch(ctx, path, nil, interval, r.onChange, r.onError)
	if err := r.err(t); !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("err = %v", err)
	}
	r.quiet(t, 20*interval) // reported once

	// Invalid from the start: reported, no configuration yet.
	writeConfig(t, path, `{gateway: {port: 0}}`)
	if err := r.err(t); !strings.Contains(err.Error(), "gateway.port") {
		t.Fatalf("err = %v", err)
	}
	// The first valid configuration is a change from nothing.
	writeConfig(t, path, `{gateway: {port: 1}}`)
	c := r.change(t)
	if c.old != nil || c.new.Gateway.Port != 1 || !slices.Equal(c.restart, []string{"gateway.port"}) {
		t.Fatalf("change = %+v", c)
	}
}
