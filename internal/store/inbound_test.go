package store

import (
	"context"
	"path/filepath"
	"testing"
	"time"
)

func TestInboundJournal(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.UnixMilli(time.Now().UnixMilli())
	mk := func(mid string) (int64, bool) {
		id, dup, err := s.JournalInbound(ctx, Inbound{Channel: "telegram", Account: "default", MessageID: mid, SenderID: "42", ChatID: "42",
			Message: []byte(`{"Text":"hi"}`), Trust: "owner", ReceivedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		return id, dup
	}
	a, dup := mk("1")
	if dup {
		t.Fatal("first insert is a duplicate")
	}
	if again, dup := mk("1"); !dup || again != a {
		t.Fatalf("redelivery: id %d dup %v, want %d true", again, dup, a)
	}
	b, _ := mk("2")
	c, _ := mk("") // no platform id: never a duplicate
	d, dup := mk("")
	if dup || c == d {
		t.Fatal("messages without ids were merged")
	}
	if err := s.MarkInboundReplied(ctx, b, now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkInboundDone(ctx, a, true, now); err != nil {
		t.Fatal(err)
	}
	p, err := s.PendingInbound(ctx)
	if err != nil || len(p) != 3 || p[0].ID != b || p[0].ReplySentAt.IsZero() || string(p[0].Message) != `{"Text":"hi"}` || p[1].ID != c {
		t.Fatalf("pending %+v %v", p, err)
	}
	got, err := s.GetInbound(ctx, a)
	if err != nil || got.State != InboundDone || got.ReplySentAt.IsZero() || got.MessageID != "1" || string(got.Message) != "{}" {
		t.Fatalf("done row %+v %v", got, err)
	}
	if n, err := s.PruneInbound(ctx, now.Add(time.Second)); err != nil || n != 1 {
		t.Fatalf("prune %d %v", n, err)
	}
}
