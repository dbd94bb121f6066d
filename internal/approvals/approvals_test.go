package approvals

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/store"
)

func newManager(t *testing.T, approver bool) (*Manager, *[]string) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var mu sync.Mutex
	events := &[]string{}
	return &Manager{Store: st, HasApprover: func() bool { return approver }, Notify: func(ev string, _ any) {
		mu.Lock()
		*events = append(*events, ev)
		mu.Unlock()
	}}, events
}

func TestAskAndResolve(t *testing.T) {
	m, events := newManager(t, true)
	args := json.RawMessage(`{"command":"go test ./..."}`)
	got := make(chan store.Approval, 1)
	go func() {
		a, err := m.Ask(context.Background(), Request{SessionKey: "agent:main:main", Tool: "exec", Args: args, Reason: "not on the allowlist"})
		if err != nil {
			t.Error(err)
		}
		got <- a
	}()
	var pending []store.Approval
	for range 100 {
		pending, _ = m.Store.ListApprovals(context.Background(), false, 0)
		if len(pending) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(pending) != 1 || pending[0].PlanHash != PlanHash("exec", args) || pending[0].Args != string(args) {
		t.Fatalf("pending %+v", pending)
	}
	if _, err := m.Resolve(context.Background(), pending[0].ID, AllowOnce, "cli"); err != nil {
		t.Fatal(err)
	}
	a := <-got
	if a.Status != "allowed" || a.Decision != AllowOnce {
		t.Fatalf("%+v", a)
	}
	if _, err := m.Resolve(context.Background(), pending[0].ID, Deny, "cli"); !errors.Is(err, store.ErrApprovalResolved) {
		t.Fatalf("second resolution: %v", err)
	}
	if len(*events) != 2 || (*events)[0] != EventRequested || (*events)[1] != EventResolved {
		t.Fatalf("events %v", *events)
	}
}

func TestNoApproverFallsBackAtOnce(t *testing.T) {
	m, _ := newManager(t, false)
	start := time.Now()
	if _, err := m.Ask(context.Background(), Request{Tool: "exec", Args: json.RawMessage(`{}`)}); !errors.Is(err, ErrNoApprover) {
		t.Fatalf("%v", err)
	}
	if time.Since(start) > time.Second {
		t.Fatal("waited with no approver")
	}
	if list, _ := m.Store.ListApprovals(context.Background(), true, 0); len(list) != 0 {
		t.Fatal("stored a request nobody can answer")
	}
}

func TestExpiry(t *testing.T) {
	m, _ := newManager(t, true)
	m.TTL = 50 * time.Millisecond
	a, err := m.Ask(context.Background(), Request{SessionKey: "k", Tool: "exec", Args: json.RawMessage(`{}`)})
	if err != nil || a.Status != "expired" {
		t.Fatalf("%+v %v", a, err)
	}
	if _, err := m.Resolve(context.Background(), a.ID, AllowOnce, "late"); err == nil {
		t.Fatal("resolved an expired approval")
	}
}

func TestAllowAlwaysHook(t *testing.T) {
	m, _ := newManager(t, true)
	var saved []string
	m.OnAllowAlways = func(_ context.Context, a store.Approval) error { saved = append(saved, a.Args); return nil }
	go m.Ask(context.Background(), Request{SessionKey: "k", Tool: "exec", Args: json.RawMessage(`{"command":"ls"}`)})
	var p []store.Approval
	for range 100 {
		if p, _ = m.Store.ListApprovals(context.Background(), false, 0); len(p) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := m.Resolve(context.Background(), p[0].ID, AllowAlways, "owner"); err != nil {
		t.Fatal(err)
	}
	if len(saved) != 1 || saved[0] != `{"command":"ls"}` {
		t.Fatalf("%v", saved)
	}
}
