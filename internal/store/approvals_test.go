package store

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

func TestApprovals(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMilli(time.Now().UnixMilli())
	mk := func(id string, ttl time.Duration) {
		if err := s.CreateApproval(ctx, Approval{ID: id, CreatedAt: now, ExpiresAt: now.Add(ttl), SessionKey: "agent:main:main", Tool: "exec", Args: `{"command":"ls"}`, PlanHash: "h", Reason: "r"}); err != nil {
			t.Fatal(err)
		}
	}
	mk("a1", time.Hour)
	mk("a2", time.Hour)
	mk("old", time.Millisecond)
	list, _ := s.ListApprovals(ctx, false, 0)
	if len(list) != 3 {
		t.Fatalf("pending %d", len(list))
	}
	// Exactly one of many concurrent resolutions wins.
	var wins int
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ResolveApproval(ctx, "a1", "allow-once", "cli", now); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrApprovalResolved) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d resolutions won", wins)
	}
	a, ok, _ := s.Approval(ctx, "a1")
	if !ok || a.Status != "allowed" || a.Decision != "allow-once" || a.ResolvedBy != "cli" {
		t.Fatalf("%+v", a)
	}
	if _, err := s.ResolveApproval(ctx, "a2", "maybe", "cli", now); err == nil {
		t.Fatal("bad decision accepted")
	}
	if _, err := s.ResolveApproval(ctx, "nope", "deny", "cli", now); !errors.Is(err, ErrNoApproval) {
		t.Fatalf("%v", err)
	}
	// An expired approval cannot be resolved, and expiry marks it.
	later := now.Add(time.Second)
	if _, err := s.ResolveApproval(ctx, "old", "allow-once", "cli", later); !errors.Is(err, ErrApprovalResolved) {
		t.Fatalf("expired approval resolved: %v", err)
	}
	exp, _ := s.ExpireApprovals(ctx, later)
	if len(exp) != 1 || exp[0].ID != "old" {
		t.Fatalf("expired %+v", exp)
	}
	if a, _, _ := s.Approval(ctx, "old"); a.Status != "expired" {
		t.Fatalf("%+v", a)
	}
	d, err := s.ResolveApproval(ctx, "a2", "deny", "owner", now)
	if err != nil || d.Status != "denied" {
		t.Fatalf("%+v %v", d, err)
	}
	if list, _ := s.ListApprovals(ctx, false, 0); len(list) != 0 {
		t.Fatalf("still pending %+v", list)
	}
	if all, _ := s.ListApprovals(ctx, true, 0); len(all) != 3 {
		t.Fatalf("all %d", len(all))
	}
}

// TestExpireOrphanedApprovals: requests created before the given start
// are expired and returned; newer and already-resolved ones are untouched.
func TestExpireOrphanedApprovals(t *testing.T) {
	ctx := context.Background()
	st, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	start := time.UnixMilli(time.Now().UnixMilli())
	for _, a := range []Approval{
		{ID: "old", Tool: "exec", CreatedAt: start.Add(-time.Minute), ExpiresAt: start.Add(time.Hour)},
		{ID: "new", Tool: "exec", CreatedAt: start.Add(time.Second), ExpiresAt: start.Add(time.Hour)},
	} {
		if err := st.CreateApproval(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	got, err := st.ExpireOrphanedApprovals(ctx, start)
	if err != nil || len(got) != 1 || got[0].ID != "old" || got[0].Status != "expired" {
		t.Fatalf("%+v %v", got, err)
	}
	for id, want := range map[string]string{"old": "expired", "new": "pending"} {
		if a, _, _ := st.Approval(ctx, id); a.Status != want {
			t.Errorf("%s: %q, want %q", id, a.Status, want)
		}
	}
}
