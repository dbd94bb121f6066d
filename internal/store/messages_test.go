package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// appendN appends n user messages "m1", "m2", … to key in one call.
func appendN(t testing.TB, s *Store, key string, n int) []Message {
	t.Helper()
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = Message{Role: "user", Content: fmt.Sprintf("m%d", i+1), Provenance: "owner"}
	}
	got, err := s.AppendMessages(t.Context(), key, msgs...)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func history(t testing.TB, s *Store, key string, o HistoryOptions) []Message {
	t.Helper()
	h, err := s.History(t.Context(), key, o)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// seqs renders a history as "S7 5 6": seqs in order, summaries marked S
// and compacted messages marked c.
func seqs(h []Message) string {
	var b strings.Builder
	for i, m := range h {
		if i > 0 {
			b.WriteByte(' ')
		}
		if m.Summary {
			b.WriteByte('S')
		}
		if m.Compacted {
			b.WriteByte('c')
		}
		fmt.Fprint(&b, m.Seq)
	}
	return b.String()
}

// checkCount checks the session's MessageCount against the rows.
func checkCount(t *testing.T, s *Store, key string) Session {
	t.Helper()
	ss, ok, err := s.Session(t.Context(), key)
	if err != nil || !ok {
		t.Fatalf("Session(%q): ok %v, %v", key, ok, err)
	}
	var n int
	if err := s.r.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM messages WHERE session_id = ? AND compacted = 0", ss.ID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if ss.MessageCount != n {
		t.Errorf("MessageCount = %d, but %d messages are not compacted", ss.MessageCount, n)
	}
	return ss
}

func TestAppendMessages(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "agent:main:telegram:direct:123"
	if _, err := s.AppendMessages(ctx, key, Message{Role: "user", Content: "hi"}); !errors.Is(err, ErrNoSession) {
		t.Fatalf("append before EnsureSession = %v, want ErrNoSession", err)
	} else {
		t.Log(err)
	}
	sess := ensure(t, s, key)

	calls := json.RawMessage(`[{"id":"c1","name":"exec","args":{"cmd":"ls"}}]`)
	decision := json.RawMessage(`{"action":"allow","reason":"owner"}`)
	in := []Message{
		{ID: 99, Seq: 42, Role: "user", Content: "list files", Provenance: "owner", SenderID: "123", RunID: "r1"},
		{Role: "assistant", ToolCalls: calls, Provenance: "trusted", Model: "anthropic/claude", InputTokens: 100, OutputTokens: 20, CostUSD: 0.5, RunID: "r1"},
		{Role: "tool", Content: "a\nb", ToolCallID: "c1", ToolName: "exec", IsError: true, Provenance: "untrusted", Decision: decision, RunID: "r1"},
	}
	before := time.Now().Truncate(time.Millisecond)
	got, err := s.AppendMessages(ctx, key, in...)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	if in[0].ID != 99 || in[1].SessionID != "" {
		t.Error("AppendMessages changed the caller's slice")
	}
	if len(got) != 3 {
		t.Fatalf("%d messages returned", len(got))
	}
	for i, m := range got {
		if m.Seq != int64(i+1) || m.SessionKey != key || m.SessionID != sess.ID {
			t.Errorf("message %d: seq %d key %q id %q", i, m.Seq, m.SessionKey, m.SessionID)
		}
		if m.ID <= 0 || (i > 0 && m.ID <= got[i-1].ID) {
			t.Errorf("message %d: id %d", i, m.ID)
		}
		if m.CreatedAt.Before(before) || m.CreatedAt.After(after) || m.CreatedAt.Nanosecond()%int(time.Millisecond) != 0 {
			t.Errorf("message %d: CreatedAt %v not now to the millisecond", i, m.CreatedAt)
		}
	}
	if got[0].ToolCalls != nil || got[0].Decision != nil || string(got[1].ToolCalls) != string(calls) || string(got[2].Decision) != string(decision) {
		t.Errorf("JSON fields: %+v", got)
	}

	// Given times are kept (to the millisecond); empty JSON is nil.
	at := time.Date(2026, 11, 24, 10, 0, 0, 123456789, time.UTC)
	more, err := s.AppendMessages(ctx, key,
		Message{Role: "user", Content: "later", CreatedAt: at, ToolCalls: json.RawMessage{}},
		Message{Role: "assistant", Content: "ok", Model: "openai/gpt", InputTokens: 5, OutputTokens: 6, CostUSD: 0.25})
	if err != nil {
		t.Fatal(err)
	}
	if more[0].Seq != 4 || more[1].Seq != 5 {
		t.Errorf("second batch seqs %d, %d; want 4, 5", more[0].Seq, more[1].Seq)
	}
	if !more[0].CreatedAt.Equal(at.Truncate(time.Millisecond)) || more[0].ToolCalls != nil {
		t.Errorf("given CreatedAt %v stored as %v; ToolCalls %q", at, more[0].CreatedAt, more[0].ToolCalls)
	}
	// A message without a model leaves LastModel alone.
	last, err := s.AppendMessages(ctx, key, Message{Role: "system", Content: "note"})
	if err != nil {
		t.Fatal(err)
	}
	all := append(append(got, more...), last...)

	ss := checkCount(t, s, key)
	if ss.InputTokens != 105 || ss.OutputTokens != 26 || math.Abs(ss.CostUSD-0.75) > 1e-9 || ss.MessageCount != 6 || ss.LastModel != "openai/gpt" {
		t.Errorf("session totals %+v", ss)
	}
	if !ss.UpdatedAt.Equal(last[0].CreatedAt) {
		t.Errorf("UpdatedAt %v, want the time of the last append %v", ss.UpdatedAt, last[0].CreatedAt)
	}
	// What History returns is exactly what AppendMessages returned.
	if h := history(t, s, key, HistoryOptions{}); !reflect.DeepEqual(h, all) {
		t.Errorf("History differs from the appended messages:\n got %+v\nwant %+v", h, all)
	}

	// Bad messages are refused, the whole call with them.
	for name, m := range map[string]Message{
		"role":       {Role: "bot", Content: "x"},
		"no role":    {Content: "x"},
		"provenance": {Role: "user", Provenance: "admin"},
		"tool calls": {Role: "assistant", ToolCalls: json.RawMessage(`[{`)},
		"decision":   {Role: "tool", Decision: json.RawMessage(`nope`)},
		"tokens":     {Role: "assistant", InputTokens: -1},
		"cost":       {Role: "assistant", CostUSD: math.NaN()},
		"other key":  {Role: "user", SessionKey: "someone:else"},
		"unknown id": {Role: "user", SessionID: "f00"}, // fails inside the transaction
	} {
		_, err := s.AppendMessages(ctx, key, Message{Role: "user", Content: "valid"}, m)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		t.Logf("%s: %v", name, err)
	}
	if ss2 := checkCount(t, s, key); ss2 != ss {
		t.Errorf("refused appends changed the session:\n%+v\n%+v", ss2, ss)
	}
	if h := history(t, s, key, HistoryOptions{}); len(h) != 6 {
		t.Errorf("refused appends left messages: %s", seqs(h))
	}
	if got, err := s.AppendMessages(ctx, key); got != nil || err != nil {
		t.Errorf("AppendMessages with no messages = %v, %v", got, err)
	}
}

func TestHistoryLimit(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "k"
	ensure(t, s, key)
	appendN(t, s, key, 10)
	for _, tc := range []struct {
		o    HistoryOptions
		want string
	}{
		{HistoryOptions{}, "1 2 3 4 5 6 7 8 9 10"},
		{HistoryOptions{Limit: 3}, "8 9 10"},
		{HistoryOptions{Limit: 1}, "10"},
		{HistoryOptions{Limit: 10}, "1 2 3 4 5 6 7 8 9 10"},
		{HistoryOptions{Limit: 50}, "1 2 3 4 5 6 7 8 9 10"},
	} {
		if got := seqs(history(t, s, key, tc.o)); got != tc.want {
			t.Errorf("History(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
	if h := history(t, s, key, HistoryOptions{Limit: 3}); h[0].Content != "m8" || h[2].Content != "m10" {
		t.Errorf("Limit 3: %q … %q", h[0].Content, h[2].Content)
	}

	if _, err := s.Compact(ctx, key, 4, Message{Role: "user", Content: "summary"}); err != nil {
		t.Fatal(err)
	}
	// The list is [summary, 5…10]; a limit keeps its tail.
	for _, tc := range []struct {
		o    HistoryOptions
		want string
	}{
		{HistoryOptions{}, "S11 5 6 7 8 9 10"},
		{HistoryOptions{Limit: 3}, "8 9 10"},
		{HistoryOptions{Limit: 6}, "5 6 7 8 9 10"},
		{HistoryOptions{Limit: 7}, "S11 5 6 7 8 9 10"},
		{HistoryOptions{Limit: 8}, "S11 5 6 7 8 9 10"},
		{HistoryOptions{IncludeCompacted: true}, "c1 c2 c3 c4 5 6 7 8 9 10 S11"},
		{HistoryOptions{IncludeCompacted: true, Limit: 2}, "10 S11"},
	} {
		if got := seqs(history(t, s, key, tc.o)); got != tc.want {
			t.Errorf("History(%+v) = %q, want %q", tc.o, got, tc.want)
		}
	}
	if _, err := s.History(ctx, key, HistoryOptions{Limit: -1}); err == nil {
		t.Error("negative limit: no error")
	}
	if _, err := s.History(ctx, "absent", HistoryOptions{}); !errors.Is(err, ErrNoSession) {
		t.Errorf("History(absent) = %v, want ErrNoSession", err)
	}
}

func TestCompact(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "agent:main:main"
	sess := ensure(t, s, key)
	appendN(t, s, key, 6)

	sum, err := s.Compact(ctx, key, 4, Message{Role: "user", Content: "first summary", Provenance: "trusted",
		Model: "p/cheap", InputTokens: 300, OutputTokens: 40, CostUSD: 0.02, RunID: "r9"})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Summary || sum.Compacted || sum.Seq != 7 || sum.ID == 0 || sum.SessionID != sess.ID || sum.Role != "user" {
		t.Errorf("stored summary %+v", sum)
	}
	h := history(t, s, key, HistoryOptions{})
	if got := seqs(h); got != "S7 5 6" {
		t.Errorf("History after compaction = %q, want %q", got, "S7 5 6")
	}
	if !reflect.DeepEqual(h[0], sum) {
		t.Errorf("History's summary %+v\nwant the stored one %+v", h[0], sum)
	}
	if got := seqs(history(t, s, key, HistoryOptions{IncludeCompacted: true})); got != "c1 c2 c3 c4 5 6 S7" {
		t.Errorf("the record = %q", got)
	}
	ss := checkCount(t, s, key)
	if ss.MessageCount != 3 || ss.InputTokens != 300 || ss.OutputTokens != 40 || ss.CostUSD != 0.02 || ss.LastModel != "p/cheap" {
		t.Errorf("session after compaction %+v", ss)
	}

	// A second compaction supersedes the first summary.
	appendN(t, s, key, 2) // 8, 9
	sum2, err := s.Compact(ctx, key, 8, Message{Role: "system", Content: "second summary"})
	if err != nil {
		t.Fatal(err)
	}
	if got := seqs(history(t, s, key, HistoryOptions{})); got != "S10 9" {
		t.Errorf("History after the second compaction = %q, want %q", got, "S10 9")
	}
	if h := history(t, s, key, HistoryOptions{}); h[0].Content != "second summary" || h[0].Role != "system" || h[0].ID != sum2.ID {
		t.Errorf("active summary %+v", h[0])
	}
	if got := seqs(history(t, s, key, HistoryOptions{IncludeCompacted: true})); got != "c1 c2 c3 c4 c5 c6 Sc7 c8 9 S10" {
		t.Errorf("the record = %q", got)
	}
	if ss := checkCount(t, s, key); ss.MessageCount != 2 {
		t.Errorf("MessageCount %d, want 2", ss.MessageCount)
	}

	// Compacting through a seq below what is already compacted only
	// replaces the summary.
	if _, err := s.Compact(ctx, key, 2, Message{Role: "user", Content: "third"}); err != nil {
		t.Fatal(err)
	}
	if got := seqs(history(t, s, key, HistoryOptions{})); got != "S11 9" {
		t.Errorf("History = %q, want %q", got, "S11 9")
	}
	checkCount(t, s, key)

	for name, tc := range map[string]struct {
		key     string
		through int64
		m       Message
		is      error
	}{
		"assistant role":  {key, 3, Message{Role: "assistant", Content: "x"}, nil},
		"empty role":      {key, 3, Message{Content: "x"}, nil},
		"negative seq":    {key, -1, Message{Role: "user", Content: "x"}, nil},
		"bad json":        {key, 3, Message{Role: "user", Decision: json.RawMessage("{")}, nil},
		"old session id":  {key, 3, Message{Role: "user", SessionID: "other"}, nil},
		"no such session": {"absent", 3, Message{Role: "user", Content: "x"}, ErrNoSession},
	} {
		_, err := s.Compact(ctx, tc.key, tc.through, tc.m)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: Compact = %v", name, err)
		}
	}
	if got := seqs(history(t, s, key, HistoryOptions{})); got != "S11 9" {
		t.Errorf("refused compactions changed History: %q", got)
	}
}

// checkToolPairs reports the first problem a provider would reject in a
// history: a tool result that does not answer a call of the assistant
// message before it (an orphan), or a call left unanswered.
func checkToolPairs(h []Message) error {
	open := map[string]bool{}
	for i, m := range h {
		switch m.Role {
		case "tool":
			if !open[m.ToolCallID] {
				return fmt.Errorf("message %d (seq %d): orphan tool result %q", i, m.Seq, m.ToolCallID)
			}
			delete(open, m.ToolCallID)
		default:
			if len(open) > 0 {
				return fmt.Errorf("message %d (seq %d): calls %v unanswered", i, m.Seq, open)
			}
			if m.Role == "assistant" && len(m.ToolCalls) > 0 {
				var calls []struct{ ID string }
				if err := json.Unmarshal(m.ToolCalls, &calls); err != nil {
					return err
				}
				for _, c := range calls {
					open[c.ID] = true
				}
			}
		}
	}
	if len(open) > 0 {
		return fmt.Errorf("calls %v unanswered at the end", open)
	}
	return nil
}

// TestCompactToolPairs: Compact cuts exactly where it is told. Cut at a
// boundary (what the agent does: just before a user message), History
// never starts with an orphan tool result; cut inside a call/result pair,
// it does — and that is the caller's choice, not the store's.
func TestCompactToolPairs(t *testing.T) {
	transcript := []Message{
		{Role: "user", Content: "q1"}, // 1
		{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"a","name":"exec","args":{}}]`)},                                    // 2
		{Role: "tool", ToolCallID: "a", ToolName: "exec", Content: "ra"},                                                           // 3
		{Role: "assistant", Content: "answer 1"},                                                                                   // 4
		{Role: "user", Content: "q2"},                                                                                              // 5
		{Role: "assistant", ToolCalls: json.RawMessage(`[{"id":"b","name":"read","args":{}},{"id":"c","name":"read","args":{}}]`)}, // 6
		{Role: "tool", ToolCallID: "b", ToolName: "read", Content: "rb"},                                                           // 7
		{Role: "tool", ToolCallID: "c", ToolName: "read", Content: "rc"},                                                           // 8
		{Role: "assistant", Content: "answer 2"},                                                                                   // 9
		{Role: "user", Content: "q3"},                                                                                              // 10
	}
	s := openTemp(t)
	ctx := t.Context()
	key := "full"
	ensure(t, s, key)
	if _, err := s.AppendMessages(ctx, key, transcript...); err != nil {
		t.Fatal(err)
	}
	if err := checkToolPairs(history(t, s, key, HistoryOptions{})); err != nil {
		t.Fatalf("uncompacted transcript: %v", err)
	}
	// The boundaries the agent cuts at: through the message before a
	// user message.
	boundary := map[int64]bool{}
	for i, m := range transcript {
		if m.Role == "user" {
			boundary[int64(i)] = true
		}
	}
	for through := int64(0); through <= int64(len(transcript)); through++ {
		key := fmt.Sprintf("cut-%d", through)
		ensure(t, s, key)
		if _, err := s.AppendMessages(ctx, key, transcript...); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Compact(ctx, key, through, Message{Role: "user", Content: "summary"}); err != nil {
			t.Fatal(err)
		}
		h := history(t, s, key, HistoryOptions{})
		// Exactly the summary and the messages after through.
		want := "S11"
		for seq := through + 1; seq <= int64(len(transcript)); seq++ {
			want += fmt.Sprintf(" %d", seq)
		}
		if got := seqs(h); got != want {
			t.Errorf("through %d: History %q, want %q", through, got, want)
		}
		err := checkToolPairs(h)
		// Orphan exactly when the first message kept is a tool result.
		orphan := through < int64(len(transcript)) && transcript[through].Role == "tool"
		if orphan != (err != nil) {
			t.Errorf("through %d: tool pairs: %v (want an orphan: %v)", through, err, orphan)
		}
		if boundary[through] && err != nil {
			t.Errorf("through boundary %d: %v", through, err)
		}
	}
}

// TestConcurrentAppend: 20 goroutines appending to one session get unique,
// gapless seqs, each goroutine's messages in its own order, and totals that
// add up.
func TestConcurrentAppend(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	const key = "agent:main:main"
	ensure(t, s, key)
	const workers, calls = 20, 10
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range calls {
				msgs := []Message{{Role: "user", Content: fmt.Sprintf("%d-%d-u", w, i)}}
				if i%2 == 1 {
					msgs = append(msgs, Message{Role: "assistant", Content: fmt.Sprintf("%d-%d-a", w, i), InputTokens: 3, OutputTokens: 2, CostUSD: 0.125})
				}
				got, err := s.AppendMessages(ctx, key, msgs...)
				if err != nil {
					t.Error(err)
					return
				}
				if len(got) == 2 && got[1].Seq != got[0].Seq+1 {
					t.Errorf("one call's messages not adjacent: %d, %d", got[0].Seq, got[1].Seq)
				}
			}
		})
	}
	wg.Wait()
	const total = workers * calls * 3 / 2
	h := history(t, s, key, HistoryOptions{})
	if len(h) != total {
		t.Fatalf("%d messages, want %d", len(h), total)
	}
	last := map[int]int{} // worker → last call seen
	for i, m := range h {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: not unique and gapless", i, m.Seq)
		}
		var w, c int
		var r string
		fmt.Sscanf(strings.ReplaceAll(m.Content, "-", " "), "%d %d %s", &w, &c, &r)
		if prev, ok := last[w]; ok && c < prev {
			t.Errorf("worker %d: call %d after call %d", w, c, prev)
		}
		last[w] = c
	}
	ss := checkCount(t, s, key)
	const pairs = workers * calls / 2
	if ss.MessageCount != total || ss.InputTokens != 3*pairs || ss.OutputTokens != 2*pairs || ss.CostUSD != 0.125*pairs {
		t.Errorf("totals %+v", ss)
	}
}

func TestPruneMessages(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	now := time.Now()
	old := now.Add(-10 * 24 * time.Hour)
	cutoff := now.Add(-24 * time.Hour)
	olds := func(n int, prefix string) []Message {
		ms := make([]Message, n)
		for i := range ms {
			ms[i] = Message{Role: "user", Content: fmt.Sprintf("%s%d", prefix, i), CreatedAt: old}
		}
		return ms
	}
	const a, b = "a", "b"
	first := ensure(t, s, a)
	// An old transcript, bigger than one prune batch.
	if _, err := s.AppendMessages(ctx, a, olds(2*pruneBatch+3, "old")...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResetSession(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The current transcript: four old messages, two of them compacted,
	// then a summary and a message from now.
	if _, err := s.AppendMessages(ctx, a, olds(4, "cur")...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Compact(ctx, a, 2, Message{Role: "user", Content: "summary"}); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, a, 1)
	// A recent message in the old transcript stays until it is old too.
	if _, err := s.AppendMessages(ctx, a, Message{SessionID: first.ID, Role: "assistant", Content: "late"}); err != nil {
		t.Fatal(err)
	}
	// Another session, all old and all current: its context stays.
	ensure(t, s, b)
	if _, err := s.AppendMessages(ctx, b, olds(3, "b")...); err != nil {
		t.Fatal(err)
	}

	ctxA, ctxB := history(t, s, a, HistoryOptions{}), history(t, s, b, HistoryOptions{})
	if got := seqs(ctxA); got != "S5 3 4 6" {
		t.Fatalf("context of a = %q", got)
	}
	n, err := s.PruneMessages(ctx, cutoff)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(2*pruneBatch + 3 + 2); n != want {
		t.Errorf("PruneMessages deleted %d, want %d", n, want)
	}
	if h := history(t, s, a, HistoryOptions{}); !reflect.DeepEqual(h, ctxA) {
		t.Errorf("context of a changed: %q, was %q", seqs(h), seqs(ctxA))
	}
	if h := history(t, s, b, HistoryOptions{}); !reflect.DeepEqual(h, ctxB) {
		t.Errorf("context of b changed: %q, was %q", seqs(h), seqs(ctxB))
	}
	if got := seqs(history(t, s, a, HistoryOptions{IncludeCompacted: true})); got != "3 4 S5 6" {
		t.Errorf("record of a's current id = %q, want the compacted old ones gone", got)
	}
	if h := history(t, s, a, HistoryOptions{SessionID: first.ID, IncludeCompacted: true}); len(h) != 1 || h[0].Content != "late" {
		t.Errorf("old transcript after pruning: %q", seqs(h))
	}
	checkCount(t, s, a)
	checkCount(t, s, b)
	if n, err := s.PruneMessages(ctx, cutoff); n != 0 || err != nil {
		t.Errorf("second prune = %d, %v; want 0", n, err)
	}
	// A later cutoff takes the late message too, never the context.
	if n, err := s.PruneMessages(ctx, now.Add(time.Hour)); n != 1 || err != nil {
		t.Errorf("prune with a future cutoff = %d, %v; want 1", n, err)
	}
	if h := history(t, s, a, HistoryOptions{}); !reflect.DeepEqual(h, ctxA) {
		t.Errorf("context of a changed: %q", seqs(h))
	}
}

// TestQueryPlans guards the indexes the hot paths rely on: a change to the
// schema or the queries that makes SQLite scan a table fails here, not in
// production after a year of usage rows.
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	ctx := t.Context()
	plan := func(q string, args ...any) string {
		t.Helper()
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			out = append(out, detail)
		}
		return strings.Join(out, "; ")
	}
	since := time.Now()
	for _, f := range []SpendFilter{
		{}, {Since: since}, {SessionKey: "k"}, {SessionKey: "k", Since: since},
		{SessionID: "i"}, {SessionID: "i", Since: since}, {SessionKey: "k", SessionID: "i", Since: since},
	} {
		q, args := spendQuery(f)
		if p := plan(q, args...); !strings.Contains(p, "USING COVERING INDEX usage_") {
			t.Errorf("Spend(%+v): plan %q is not a covering index search", f, p)
		}
	}
	for _, tc := range []struct {
		q, index string
		args     []any
	}{
		{"SELECT " + messageCols + " FROM messages WHERE session_id = ? AND session_key = ? AND compacted = 0 AND seq != ? ORDER BY seq DESC LIMIT 5", "messages_live", []any{"i", "k", 1}},
		{"SELECT " + messageCols + " FROM messages WHERE session_id = ? AND session_key = ? AND compacted = 0 AND summary = 1 ORDER BY seq DESC LIMIT 1", "messages_live", []any{"i", "k"}},
		{"SELECT COALESCE(MAX(seq), 0) + 1 FROM messages WHERE session_id = ?", "messages_session_seq", []any{"i"}},
		{reportQuery, "usage_ts", []any{since.UnixMilli()}},
		// Sorting ties on updated_at by key is fine ("LAST TERM").
		{"SELECT " + sessionCols + " FROM sessions ORDER BY updated_at DESC, key LIMIT 100", "sessions_updated", nil},
		{"SELECT " + sessionCols + " FROM sessions WHERE agent_id = ? ORDER BY updated_at DESC, key LIMIT 100", "sessions_agent_updated", []any{"a"}},
	} {
		p := plan(tc.q, tc.args...)
		if !strings.Contains(p, tc.index) || strings.Contains(p, "TEMP B-TREE FOR ORDER BY") {
			t.Errorf("%s\nplan %q: want index %s and no sorting", tc.q, p, tc.index)
		}
	}
}

func BenchmarkAppendMessage(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	const key = "agent:main:main"
	ensure(b, s, key)
	for b.Loop() {
		if _, err := s.AppendMessages(ctx, key, Message{Role: "assistant", Content: "a reply of moderate length, " + strings.Repeat("x", 200),
			Model: "p/m", InputTokens: 1000, OutputTokens: 100, CostUSD: 0.001}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHistory10k: one full History (the agent loads it before every
// model call) of a session of 10,000 messages of ~300 bytes.
// BenchmarkHistoryAfterAppend is what a turn pays per model call in a
// session of 200–300 messages: one new message, then the whole context
// (the cache reads only the new row). history-µs/op counts the History
// call alone.
func BenchmarkHistoryAfterAppend(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	batch := make([]Message, 200)
	for j := range batch {
		batch[j] = Message{Role: []string{"user", "assistant"}[j%2], Content: fmt.Sprintf("message %d %s", j, strings.Repeat("y", 280)), Provenance: "owner"}
	}
	var inHistory time.Duration
	i := 0
	for b.Loop() {
		key := fmt.Sprintf("agent:main:s%d", i/100)
		if i%100 == 0 {
			ensure(b, s, key)
			if _, err := s.AppendMessages(ctx, key, batch...); err != nil {
				b.Fatal(err)
			}
			if _, err := s.History(ctx, key, HistoryOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		i++
		if _, err := s.AppendMessages(ctx, key, Message{Role: "user", Content: "one more", Provenance: "owner"}); err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := s.History(ctx, key, HistoryOptions{}); err != nil {
			b.Fatal(err)
		}
		inHistory += time.Since(t0)
	}
	b.ReportMetric(float64(inHistory.Microseconds())/float64(i), "history-µs/op")
}

func BenchmarkHistory10k(b *testing.B) {
	s := openTemp(b)
	ctx := b.Context()
	const key = "agent:main:main"
	ensure(b, s, key)
	batch := make([]Message, 1000)
	for i := range 10 {
		for j := range batch {
			n := i*len(batch) + j
			batch[j] = Message{Role: []string{"user", "assistant"}[n%2], Content: fmt.Sprintf("message %d %s", n, strings.Repeat("y", 280)), Provenance: "owner"}
		}
		if _, err := s.AppendMessages(ctx, key, batch...); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		h, err := s.History(ctx, key, HistoryOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(h) != 10000 {
			b.Fatalf("%d messages", len(h))
		}
	}
}
