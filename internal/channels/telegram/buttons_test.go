package telegram

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

// Buttons go out as an inline keyboard; a press comes back as a Message
// with an Action from the presser (never as text for a turn), and its
// answer reaches answerCallbackQuery.
func TestButtonsRoundTrip(t *testing.T) {
	e := newEnv(t, nil)
	e.start(t)
	bs := channels.ApprovalButtons("abcdefghjk")
	if _, err := e.a.SendButtons(t.Context(), channels.Target{ChatID: "4242", ChatType: channels.ChatDirect}, "Approval needed", bs); err != nil {
		t.Fatal(err)
	}
	sent := e.fake.WaitSent(1, 10*time.Second)
	if len(sent[0].Keyboard) != 1 || len(sent[0].Keyboard[0]) != 3 || sent[0].Keyboard[0][0].CallbackData != "approve:abcdefghjk:allow-once" ||
		sent[0].Keyboard[0][2].Text != "Deny" {
		t.Fatalf("keyboard %+v", sent[0].Keyboard)
	}
	e.fake.Push(e.fake.Press(alice, sent[0], "approve:abcdefghjk:deny"))
	m := e.rec.Next(t)
	if m.Action == nil || m.Action.Data != "approve:abcdefghjk:deny" || m.SenderID != "4242" || m.ChatID != "4242" ||
		m.ChatType != channels.ChatDirect || m.Text != "" || m.SenderIsBot || !strings.HasPrefix(m.ID, "cb:") {
		t.Fatalf("press became %+v (action %+v)", m, m.Action)
	}
	if err := e.a.AnswerAction(t.Context(), *m.Action, "Denied."); err != nil {
		t.Fatal(err)
	}
	if a := e.fake.Answers(); len(a) != 1 || a[0].ID != m.Action.ID || a[0].Text != "Denied." {
		t.Fatalf("answers %+v", a)
	}
	// Telegram takes one answer per press.
	if err := e.a.AnswerAction(t.Context(), *m.Action, "again"); err == nil {
		t.Fatal("a second answer was accepted")
	}
	// An answered request loses its buttons.
	d, err := e.a.SendButtons(t.Context(), channels.Target{ChatID: "4242"}, "second", bs)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.a.CloseButtons(t.Context(), channels.Target{ChatID: "4242"}, d.MessageIDs[0], "second"); err != nil {
		t.Fatal(err)
	}
	if sent := e.fake.Sent(); len(sent[1].Keyboard) != 0 || len(sent[0].Keyboard) != 1 {
		t.Fatalf("keyboards after closing: %+v / %+v", sent[0].Keyboard, sent[1].Keyboard)
	}
	if err := e.a.CloseButtons(t.Context(), channels.Target{}, "4242:999999", ""); err == nil {
		t.Fatal("closing an unknown message succeeded")
	}
	// A long request keeps its buttons on its last chunk.
	long := strings.Repeat("x", channels.TelegramMaxLen+10)
	if _, err := e.a.SendButtons(t.Context(), channels.Target{ChatID: "4242"}, long, bs); err != nil {
		t.Fatal(err)
	}
	sent = e.fake.WaitSent(4, 10*time.Second)
	if len(sent[2].Keyboard) != 0 || len(sent[3].Keyboard) != 1 {
		t.Fatalf("keyboards %+v / %+v", sent[2].Keyboard, sent[3].Keyboard)
	}
}

// In webhook mode a press arrives in a webhook request like any update
// (setWebhook asked for callback queries), only with the secret.
func TestButtonsWebhookMode(t *testing.T) {
	e := webhookEnv(t)
	if calls := e.fake.Calls("setWebhook"); len(calls) == 0 || !strings.Contains(calls[0].Params["allowed_updates"], "callback_query") {
		t.Fatalf("setWebhook calls %+v: callback queries not asked for", calls)
	}
	sent := faketelegram.SentMessage{ChatID: "4242", MessageID: 7, Text: "Approval needed", At: time.Now()}
	url := "http://" + e.a.WebhookAddr() + "/"
	if code, err := faketelegram.PostWebhook(url, "wrong", e.fake.Press(alice, sent, "approve:abcdefghjk:deny")); err != nil || code != http.StatusUnauthorized {
		t.Fatalf("forged press: %d %v", code, err)
	}
	if code, err := faketelegram.PostWebhook(url, hookSecret, e.fake.Press(alice, sent, "approve:abcdefghjk:deny")); err != nil || code != http.StatusOK {
		t.Fatalf("press: %d %v", code, err)
	}
	m := e.rec.Next(t)
	if m.Action == nil || m.Action.Data != "approve:abcdefghjk:deny" || m.SenderID != "4242" || m.Action.MessageID != "4242:7" {
		t.Fatalf("press became %+v", m)
	}
	if got := e.rec.All(); len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
}
