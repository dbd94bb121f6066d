package channels

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestChunk(t *testing.T) {
	for _, tc := range []struct {
		name  string
		text  string
		limit int
		want  []string
	}{
		{"short", "hello", 10, []string{"hello"}},
		{"empty", "  \n ", 10, nil},
		{"paragraph", "aaaa\n\nbbbb", 7, []string{"aaaa", "bbbb"}},
		{"line", "aaaa\nbbbb cc", 9, []string{"aaaa", "bbbb cc"}},
		{"word", "aaa bbb ccc", 8, []string{"aaa bbb", "ccc"}},
		{"long word", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"runes", "ééééé", 2, []string{"éé", "éé", "é"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Chunk(tc.text, tc.limit, nil)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || len(got) != len(tc.want) {
				t.Fatalf("Chunk(%q, %d) = %q, want %q", tc.text, tc.limit, got, tc.want)
			}
		})
	}
}

func TestChunkLimits(t *testing.T) {
	// Telegram counts UTF-16 units: an emoji is two.
	text := strings.Repeat("😀 word ", 2000)
	for _, c := range Chunk(text, TelegramMaxLen, UTF16Len) {
		if n := UTF16Len(c); n > TelegramMaxLen || n == 0 || !utf8.ValidString(c) {
			t.Fatalf("chunk of %d UTF-16 units (valid %v)", n, utf8.ValidString(c))
		}
	}
	joined := strings.Join(Chunk(text, DiscordMaxLen, nil), " ")
	if strings.Fields(joined)[0] != "😀" || len(strings.Fields(joined)) != len(strings.Fields(text)) {
		t.Fatal("chunking lost or merged words")
	}
}

func FuzzChunk(f *testing.F) {
	f.Add("hello world\n\nsecond paragraph", 5)
	f.Add("ééé😀x", 1)
	f.Fuzz(func(t *testing.T, s string, limit int) {
		if limit < 1 || limit > 100 || !utf8.ValidString(s) {
			return
		}
		var total int
		for _, c := range Chunk(s, limit, UTF16Len) {
			if c == "" || (UTF16Len(c) > limit && Runes(c) > 1) {
				t.Fatalf("bad chunk %q for limit %d", c, limit)
			}
			total += len(strings.Join(strings.Fields(c), ""))
		}
		if want := len(strings.Join(strings.Fields(s), "")); total != want {
			t.Fatalf("non-space bytes: got %d, want %d", total, want)
		}
	})
}

func TestDedupe(t *testing.T) {
	d := Dedupe{Size: 2, TTL: time.Minute}
	now := time.Unix(1000, 0)
	if d.Seen("a", now) || !d.Seen("a", now) {
		t.Fatal("a: first not new or second not seen")
	}
	d.Seen("b", now)
	d.Seen("c", now) // evicts a
	if d.Seen("a", now) {
		t.Fatal("a survived eviction past Size")
	}
	if !d.Seen("c", now) {
		t.Fatal("c forgotten")
	}
	if d.Seen("c", now.Add(2*time.Minute)) {
		t.Fatal("c survived its TTL")
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	var calls []time.Time
	err := Retry(context.Background(), RetryPolicy{Attempts: 3, Base: time.Millisecond}, func(context.Context) error {
		calls = append(calls, time.Now())
		if len(calls) == 1 {
			return &RateLimitError{RetryAfter: 300 * time.Millisecond, Err: errors.New("429")}
		}
		return nil
	})
	if err != nil || len(calls) != 2 {
		t.Fatalf("err %v after %d calls", err, len(calls))
	}
	if gap := calls[1].Sub(calls[0]); gap < 300*time.Millisecond {
		t.Fatalf("retried after %s, before the platform's 300ms", gap)
	}
}

func TestRetryStops(t *testing.T) {
	n := 0
	perm := Permanent(errors.New("chat not found"))
	if err := Retry(context.Background(), RetryPolicy{Attempts: 5, Base: time.Millisecond}, func(context.Context) error { n++; return perm }); !errors.Is(err, perm) || n != 1 {
		t.Fatalf("permanent error retried: %d calls, %v", n, err)
	}
	n = 0
	if err := Retry(context.Background(), RetryPolicy{Attempts: 3, Base: time.Millisecond}, func(context.Context) error { n++; return errors.New("boom") }); err == nil || n != 3 {
		t.Fatalf("attempts: %d calls, %v", n, err)
	}
	n = 0
	long := &RateLimitError{RetryAfter: time.Hour}
	if err := Retry(context.Background(), RetryPolicy{Attempts: 3, Max: time.Second}, func(context.Context) error { n++; return long }); !errors.Is(err, long) || n != 1 {
		t.Fatalf("a retry_after beyond Max was waited for: %d calls", n)
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	b := Backoff{Base: 100 * time.Millisecond, Max: time.Second}
	var last time.Duration
	for range 10 {
		last = b.Next()
		if last > time.Second {
			t.Fatalf("backoff %s beyond Max", last)
		}
	}
	if last < 500*time.Millisecond {
		t.Fatalf("backoff did not grow: %s", last)
	}
	b.Reset()
	if d := b.Next(); d > 100*time.Millisecond {
		t.Fatalf("after Reset: %s", d)
	}
}
