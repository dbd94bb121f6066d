package telegram

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

// maxOffset is the highest offset any getUpdates confirmed: the fake (like
// Telegram) has deleted every update below it.
func maxOffset(fake *faketelegram.Server) int64 {
	var hi int64
	for _, r := range fake.Calls("getUpdates") {
		if o, _ := strconv.ParseInt(r.Params["offset"], 10, 64); o > hi {
			hi = o
		}
	}
	return hi
}

// TestInvariant14_TelegramUnstoredUpdateNotConfirmed: while the handler
// cannot store a message, its update is not confirmed (the offset never
// passes it) and the updates after it are not handled out of order; once
// the handler stores it, it is handled exactly once and confirmed.
func TestInvariant14_TelegramUnstoredUpdateNotConfirmed(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var refused atomic.Int32
	e := newEnv(t, nil)
	e.rec.Fail = func(m channels.Message) error {
		if failing.Load() {
			refused.Add(1)
			return errors.New("disk full")
		}
		return nil
	}
	e.start(t)
	ids := e.fake.Push(e.fake.DM(alice, "first"), e.fake.DM(alice, "second"))
	chantest.WaitFor(t, "three refused attempts", func() bool { return refused.Load() >= 3 })
	if got := maxOffset(e.fake); got > ids[0] {
		t.Fatalf("offset %d confirmed update %d that was never stored", got, ids[0])
	}
	if n := len(e.rec.All()); n != 0 {
		t.Fatalf("%d messages recorded while the handler failed", n)
	}
	failing.Store(false)
	got := e.rec.Wait(t, 2)
	if got[0].Text != "first" || got[1].Text != "second" {
		t.Fatalf("order after recovery: %q %q", got[0].Text, got[1].Text)
	}
	chantest.WaitFor(t, "both confirmed", func() bool { return maxOffset(e.fake) > ids[1] })
	if n := len(e.rec.All()); n != 2 {
		t.Fatalf("%d messages recorded, want 2", n)
	}
}

// TestInvariant14_TelegramWebhookUnstored500: a webhook update the handler
// could not store is answered 500 (Telegram posts it again), and the
// redelivery is handled.
func TestInvariant14_TelegramWebhookUnstored500(t *testing.T) {
	e := webhookEnv(t)
	var failing atomic.Bool
	failing.Store(true)
	e.rec.Fail = func(channels.Message) error {
		if failing.Load() {
			return errors.New("disk full")
		}
		return nil
	}
	url, sec := "http://"+e.a.WebhookAddr()+"/telegram", hookSecret
	upd := e.fake.DM(alice, "hook")
	upd.UpdateID = 777
	if code, err := faketelegram.PostWebhook(url, sec, upd); err != nil || code != http.StatusInternalServerError {
		t.Fatalf("unstored update answered %d %v, want 500", code, err)
	}
	failing.Store(false)
	if code, err := faketelegram.PostWebhook(url, sec, upd); err != nil || code != http.StatusOK {
		t.Fatalf("redelivery answered %d %v, want 200", code, err)
	}
	if got := e.rec.Wait(t, 1); got[0].Text != "hook" {
		t.Fatalf("got %q", got[0].Text)
	}
}
