package store

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A reply recorded in the sent log counts as sent after a crash even
// though its journal commit never happened (invariant 14: no reply twice),
// and a torn record at the end of the log is skipped.
func TestInvariant14_SentLogSurvivesWithoutJournalCommit(t *testing.T) {
	path := filepath.Join(t.TempDir(), "talon.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ids, _, err := s.JournalInboundBatch(t.Context(), []Inbound{
		{Channel: "telegram", Account: "default", MessageID: "1", SenderID: "7", ChatID: "7", Message: []byte(`{"text":"a"}`), ReceivedAt: now},
		{Channel: "telegram", Account: "default", MessageID: "2", SenderID: "7", ChatID: "7", Message: []byte(`{"text":"b"}`), ReceivedAt: now},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.MarkInboundSent(ids[0]); err != nil {
		t.Fatal(err)
	}
	// The process dies here: no MarkInboundDone. A power cut also left
	// half a record behind.
	s.Close()
	f, err := os.OpenFile(path+"-sent", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{1, 2, 3, 4, 5, 6, 7})
	f.Close()

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pending, err := s.PendingInbound(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 2 {
		t.Fatalf("%d pending", len(pending))
	}
	if pending[0].ReplySentAt.IsZero() {
		t.Errorf("the reply logged as sent is not marked sent: it would go out twice")
	}
	if !pending[1].ReplySentAt.IsZero() {
		t.Errorf("a reply never sent is marked sent: it would never go out")
	}
	// Folded into the journal: the log is empty, the mark durable.
	if st, err := os.Stat(path + "-sent"); err != nil || st.Size() != 0 {
		t.Errorf("sent log after folding: %v, %v", st, err)
	}
	got, err := s.GetInbound(t.Context(), ids[0])
	if err != nil || got.ReplySentAt.IsZero() {
		t.Errorf("journal row after folding: %+v, %v", got, err)
	}
}

// The log empties itself once it is large and every id in it is marked
// done in the journal; it never drops an id whose done mark is missing.
func TestSentLogEmptiesWhenMarkedDone(t *testing.T) {
	s := openTemp(t)
	var ids []int64
	for i := range sentLogMaxSize/sentRecord + 1 {
		id, _, err := s.JournalInbound(t.Context(), Inbound{Channel: "telegram", Account: "default", MessageID: string(rune('a' + i%26)) + string(rune(i)),
			SenderID: "7", ChatID: "7", Message: []byte(`{}`), ReceivedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
		if err := s.MarkInboundSent(id); err != nil {
			t.Fatal(err)
		}
	}
	// All but the last are done; the log must keep its records.
	for _, id := range ids[:len(ids)-1] {
		if err := s.MarkInboundDone(t.Context(), id, true, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	logged, err := readSentLog(s.path + "-sent")
	if err != nil || !logged[ids[len(ids)-1]] {
		t.Fatalf("the log dropped an id not yet done: %v", err)
	}
	if err := s.MarkInboundDone(t.Context(), ids[len(ids)-1], true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(s.path + "-sent"); err != nil || st.Size() != 0 {
		t.Errorf("the log was not emptied: size %d, %v", st.Size(), err)
	}
}
