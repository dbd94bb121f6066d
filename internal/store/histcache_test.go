package store

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// TestHistoryCacheMatchesFullRead runs random appends, compactions,
// resets, deletes and prunes through two handles on one database (as the
// gateway and a CLI process would be) and checks after each step that
// History (cached) returns exactly what a full read returns, on both.
func TestHistoryCacheMatchesFullRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talon.db")
	a, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := t.Context()
	keys := []string{"agent:main:one", "agent:main:two"}
	rng := rand.New(rand.NewPCG(1, 2))
	full := func(s *Store, key string) []Message {
		// A limit never reached takes the uncached path: the oracle.
		ms, err := s.History(ctx, key, HistoryOptions{Limit: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	for step := range 400 {
		s := []*Store{a, b}[rng.IntN(2)]
		key := keys[rng.IntN(len(keys))]
		if _, err := s.EnsureSession(ctx, key, SessionInit{AgentID: "main"}); err != nil {
			t.Fatal(err)
		}
		var op string
		switch r := rng.IntN(20); {
		case r < 14:
			op = "append"
			var ms []Message
			for i := range 1 + rng.IntN(3) {
				ms = append(ms, Message{Role: "user", Content: fmt.Sprint("m", step, ".", i), Provenance: "owner"})
			}
			if _, err := s.AppendMessages(ctx, key, ms...); err != nil {
				t.Fatal(err)
			}
		case r < 17:
			op = "compact"
			h := full(s, key)
			if len(h) < 2 {
				continue
			}
			through := h[len(h)-1].Seq - int64(rng.IntN(2))
			if _, err := s.Compact(ctx, key, through, Message{Role: "user", Content: fmt.Sprint("summary ", step), Provenance: "trusted"}); err != nil {
				t.Fatal(err)
			}
		case r < 18:
			op = "reset"
			if _, err := s.ResetSession(ctx, key); err != nil {
				t.Fatal(err)
			}
		case r < 19:
			op = "delete"
			if err := s.DeleteSession(ctx, key); err != nil {
				t.Fatal(err)
			}
			if _, err := s.EnsureSession(ctx, key, SessionInit{AgentID: "main"}); err != nil {
				t.Fatal(err)
			}
		default:
			op = "prune"
			if _, err := s.PruneMessages(ctx, time.Now().Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
		}
		for _, s := range []*Store{a, b} {
			for _, k := range keys {
				if _, ok, _ := s.Session(ctx, k); !ok {
					continue
				}
				got, err := s.History(ctx, k, HistoryOptions{})
				if err != nil {
					t.Fatal(err)
				}
				if want := full(s, k); !reflect.DeepEqual(got, want) {
					t.Fatalf("step %d (%s): cached History of %s =\n%s\nwant\n%s", step, op, k, seqs(got), seqs(want))
				}
			}
		}
	}
	if a.hist.hits == 0 || b.hist.hits == 0 {
		t.Errorf("the cache answered no read (hits %d, %d): the test does not exercise it", a.hist.hits, b.hist.hits)
	}
}

// TestHistoryCacheCopies checks that a caller changing what History
// returned changes nothing for the next caller.
func TestHistoryCacheCopies(t *testing.T) {
	s := openTemp(t)
	const key = "agent:main:main"
	ensure(t, s, key)
	appendN(t, s, key, 3)
	h := history(t, s, key, HistoryOptions{})
	h[0].Content = "changed"
	_ = append(h[:1], Message{Content: "injected"})
	if got := history(t, s, key, HistoryOptions{}); got[0].Content == "changed" || len(got) != 3 || got[1].Content == "injected" {
		t.Errorf("History after a caller modified its result: %+v", got)
	}
}
