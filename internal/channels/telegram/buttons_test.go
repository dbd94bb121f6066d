package telegram

import (
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
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
