package store

import (
	"errors"
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"
)

func ensure(t testing.TB, s *Store, key string) Session {
	t.Helper()
	ss, err := s.EnsureSession(t.Context(), key, SessionInit{AgentID: "main", Channel: "telegram", PeerID: "123", ChatType: "direct"})
	if err != nil {
		t.Fatal(err)
	}
	return ss
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestEnsureSessionIdempotent(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "agent:main:telegram:direct:123"
	if _, ok, err := s.Session(ctx, key); ok || err != nil {
		t.Fatalf("Session before EnsureSession = ok %v, err %v", ok, err)
	}
	before := time.Now().Add(-time.Millisecond)
	a := ensure(t, s, key)
	if a.Key != key || !uuidRE.MatchString(a.ID) {
		t.Fatalf("new session %+v: want key %q and a v4 UUID id", a, key)
	}
	if a.AgentID != "main" || a.Channel != "telegram" || a.PeerID != "123" || a.ChatType != "direct" {
		t.Errorf("init not stored: %+v", a)
	}
	if a.CreatedAt.Before(before) || a.UpdatedAt.Before(before) || a.MessageCount != 0 || a.CostUSD != 0 {
		t.Errorf("new session %+v", a)
	}

	// A second call, with a different init, returns the session as it is.
	b, err := s.EnsureSession(ctx, key, SessionInit{AgentID: "other", ChatType: "group"})
	if err != nil {
		t.Fatal(err)
	}
	if b != a {
		t.Errorf("second EnsureSession = %+v\nwant the first %+v", b, a)
	}
	got, ok, err := s.Session(ctx, key)
	if err != nil || !ok || got != a {
		t.Errorf("Session = %+v, %v, %v; want %+v", got, ok, err, a)
	}

	// Racing creators (other goroutines, or another process) end up with
	// one session and one id.
	const racers = 10
	ids := make(chan string, racers)
	var wg sync.WaitGroup
	for range racers {
		wg.Go(func() {
			ss, err := s.EnsureSession(ctx, "cron:job1", SessionInit{ChatType: "cron"})
			if err != nil {
				t.Error(err)
				return
			}
			ids <- ss.ID
		})
	}
	wg.Wait()
	close(ids)
	first := <-ids
	for id := range ids {
		if id != first {
			t.Errorf("racing EnsureSession: ids %s and %s", first, id)
		}
	}

	for _, tc := range []struct {
		key  string
		init SessionInit
	}{
		{"", SessionInit{}},
		{string(make([]byte, maxKeyLen+1)), SessionInit{}},
		{"k", SessionInit{ChatType: "dm"}},
	} {
		if _, err := s.EnsureSession(ctx, tc.key, tc.init); err == nil {
			t.Errorf("EnsureSession(%.10q, %+v): no error", tc.key, tc.init)
		} else {
			t.Log(err)
		}
	}
}

func TestListSessions(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	var mid time.Time
	for i, k := range []string{"a", "b", "c", "d"} {
		agent := "main"
		if i%2 == 1 {
			agent = "work"
		}
		if _, err := s.EnsureSession(ctx, k, SessionInit{AgentID: agent}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(3 * time.Millisecond)
		if i == 1 {
			mid = time.Now()
			time.Sleep(3 * time.Millisecond)
		}
	}
	// Activity moves a session to the front.
	if _, err := s.AppendMessages(ctx, "a", Message{Role: "user", Content: "hi"}); err != nil {
		t.Fatal(err)
	}
	keys := func(o ListSessionsOptions) string {
		t.Helper()
		list, err := s.ListSessions(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		var ks string
		for _, ss := range list {
			ks += ss.Key
		}
		return ks
	}
	for _, tc := range []struct {
		o    ListSessionsOptions
		want string
	}{
		{ListSessionsOptions{}, "adcb"},
		{ListSessionsOptions{Limit: 2}, "ad"},
		{ListSessionsOptions{AgentID: "work"}, "db"},
		{ListSessionsOptions{AgentID: "main"}, "ac"},
		{ListSessionsOptions{ActiveSince: mid}, "adc"},
		{ListSessionsOptions{AgentID: "work", ActiveSince: mid}, "d"},
		{ListSessionsOptions{AgentID: "nobody"}, ""},
	} {
		if got := keys(tc.o); got != tc.want {
			t.Errorf("ListSessions(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
	if _, err := s.ListSessions(ctx, ListSessionsOptions{Limit: -1}); err == nil {
		t.Error("negative limit: no error")
	}

	// 0 means 100.
	for i := range 120 {
		if _, err := s.EnsureSession(ctx, fmt.Sprintf("many:%d", i), SessionInit{}); err != nil {
			t.Fatal(err)
		}
	}
	if list, err := s.ListSessions(ctx, ListSessionsOptions{}); err != nil || len(list) != 100 {
		t.Errorf("ListSessions with Limit 0: %d sessions, %v; want 100", len(list), err)
	}
}

func TestResetSession(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "agent:main:main"
	old := ensure(t, s, key)
	if _, err := s.AppendMessages(ctx, key,
		Message{Role: "user", Content: "one"},
		Message{Role: "assistant", Content: "two", Model: "p/m", InputTokens: 10, OutputTokens: 5, CostUSD: 0.01}); err != nil {
		t.Fatal(err)
	}

	time.Sleep(2 * time.Millisecond)
	ns, err := s.ResetSession(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if ns.ID == old.ID || !uuidRE.MatchString(ns.ID) {
		t.Fatalf("reset kept id %s (or it is not a UUID)", ns.ID)
	}
	if ns.InputTokens != 0 || ns.OutputTokens != 0 || ns.CostUSD != 0 || ns.MessageCount != 0 || ns.LastModel != "" {
		t.Errorf("totals not reset: %+v", ns)
	}
	if ns.AgentID != old.AgentID || ns.ChatType != old.ChatType || !ns.CreatedAt.After(old.CreatedAt) {
		t.Errorf("after reset %+v\nbefore %+v", ns, old)
	}
	if got, _, _ := s.Session(ctx, key); got != ns {
		t.Errorf("Session = %+v, want %+v", got, ns)
	}

	if h, err := s.History(ctx, key, HistoryOptions{}); err != nil || len(h) != 0 {
		t.Errorf("History after reset: %d messages, %v; want none", len(h), err)
	}
	oldH, err := s.History(ctx, key, HistoryOptions{SessionID: old.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(oldH) != 2 || oldH[0].Content != "one" || oldH[1].Content != "two" || oldH[1].SessionID != old.ID {
		t.Errorf("old transcript: %+v", oldH)
	}

	// The new id counts from 1.
	got, err := s.AppendMessages(ctx, key, Message{Role: "user", Content: "fresh"})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Seq != 1 || got[0].SessionID != ns.ID {
		t.Errorf("first message after reset: seq %d id %s", got[0].Seq, got[0].SessionID)
	}

	// A turn that began before the reset finishes in its own transcript:
	// seq continues there, and the current totals do not move.
	late, err := s.AppendMessages(ctx, key, Message{SessionID: old.ID, Role: "assistant", Content: "late", InputTokens: 7, CostUSD: 1})
	if err != nil {
		t.Fatal(err)
	}
	if late[0].Seq != 3 || late[0].SessionID != old.ID {
		t.Errorf("late message: seq %d id %s; want 3 in %s", late[0].Seq, late[0].SessionID, old.ID)
	}
	cur, _, _ := s.Session(ctx, key)
	if cur.InputTokens != 0 || cur.CostUSD != 0 || cur.MessageCount != 1 {
		t.Errorf("late message for the old id changed the current totals: %+v", cur)
	}
	// An id that was never this key's is refused.
	other := ensure(t, s, "other")
	if _, err := s.AppendMessages(ctx, "other", Message{Role: "user", Content: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"not-an-id", other.ID} {
		if _, err := s.AppendMessages(ctx, key, Message{SessionID: id, Role: "user", Content: "x"}); err == nil {
			t.Errorf("append to session id %q of another key: no error", id)
		}
	}

	if _, err := s.ResetSession(ctx, "absent"); !errors.Is(err, ErrNoSession) {
		t.Errorf("ResetSession(absent) = %v, want ErrNoSession", err)
	}
}

func TestDeleteSession(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "agent:main:main"
	first := ensure(t, s, key)
	keep := ensure(t, s, "keep")
	appendN(t, s, key, 3)
	appendN(t, s, "keep", 2)
	record := func(ss Session, usd float64) {
		t.Helper()
		if err := s.RecordUsage(ctx, UsageRecord{SessionKey: ss.Key, SessionID: ss.ID, Provider: "p", Model: "m", CostUSD: usd, InputTokens: 1}); err != nil {
			t.Fatal(err)
		}
	}
	record(first, 1)
	second, err := s.ResetSession(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	appendN(t, s, key, 2)
	record(second, 2)
	record(keep, 4)

	spend := func(f SpendFilter) float64 {
		t.Helper()
		v, err := s.Spend(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	wantAll, wantKey := spend(SpendFilter{}), spend(SpendFilter{SessionKey: key})
	if wantAll != 7 || wantKey != 3 {
		t.Fatalf("spend before delete: %v all, %v for the key", wantAll, wantKey)
	}

	if err := s.DeleteSession(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.Session(ctx, key); ok || err != nil {
		t.Errorf("Session after delete: ok %v, err %v", ok, err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, "SELECT COUNT(*) FROM messages WHERE session_key = ?", key).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d messages of the deleted session left (%v)", n, err)
	}
	for _, id := range []string{first.ID, second.ID} {
		if h, err := s.History(ctx, key, HistoryOptions{SessionID: id, IncludeCompacted: true}); err != nil || len(h) != 0 {
			t.Errorf("History of deleted id %s: %d messages, %v", id, len(h), err)
		}
	}
	if _, err := s.History(ctx, key, HistoryOptions{}); !errors.Is(err, ErrNoSession) {
		t.Errorf("History of the deleted key = %v, want ErrNoSession", err)
	}
	// Spend history does not shrink.
	if got := spend(SpendFilter{}); got != wantAll {
		t.Errorf("total spend after delete = %v, want %v", got, wantAll)
	}
	if got := spend(SpendFilter{SessionKey: key}); got != wantKey {
		t.Errorf("spend of the deleted key = %v, want %v", got, wantKey)
	}
	if got := spend(SpendFilter{SessionKey: key, SessionID: first.ID}); got != 1 {
		t.Errorf("spend of the deleted key's first id = %v, want 1", got)
	}
	// Other sessions are untouched.
	if h, _ := s.History(ctx, "keep", HistoryOptions{}); len(h) != 2 {
		t.Errorf("other session: %d messages, want 2", len(h))
	}
	// Deleting again, or what never was, is not an error.
	if err := s.DeleteSession(ctx, key); err != nil {
		t.Errorf("second delete: %v", err)
	}
	// The key can start over.
	again := ensure(t, s, key)
	if again.ID == first.ID || again.ID == second.ID {
		t.Error("re-created session reuses an old id")
	}
	if h, _ := s.History(ctx, key, HistoryOptions{}); len(h) != 0 {
		t.Errorf("re-created session has %d messages", len(h))
	}
}
