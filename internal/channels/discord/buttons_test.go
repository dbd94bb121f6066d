package discord

import (
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakediscord"
)

// A request goes to the owner's DM channel (opened over REST) with an
// action row of buttons; a press arrives as INTERACTION_CREATE and becomes
// a Message with an Action from the presser; its answer reaches the
// interaction callback once, ephemeral, with the interaction's token.
func TestButtonsRoundTrip(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	fake.WaitReady(1)
	chantest.WaitState(t, st.a, channels.StateConnected)

	target, err := st.a.OpenDirect(t.Context(), alice)
	if err != nil || target.ChatID == "" || target.ChatID != fake.DMChannel(alice) {
		t.Fatalf("OpenDirect: %+v %v", target, err)
	}
	if _, err := st.a.SendButtons(t.Context(), target, "Approval needed", channels.ApprovalButtons("abcdefghjk")); err != nil {
		t.Fatal(err)
	}
	sent := fake.WaitSent(1)
	b := sent[0].Buttons
	if sent[0].ChannelID != target.ChatID || len(b) != 3 || b[0].CustomID != "approve:abcdefghjk:allow-once" || b[0].Style != 1 || b[2].Style != 4 {
		t.Fatalf("sent %+v", sent[0])
	}
	for _, tc := range []struct{ guild, chatType string }{{"", channels.ChatDirect}, {guild, channels.ChatChannel}} {
		id := fake.Press(sent[0], alice, tc.guild, "approve:abcdefghjk:deny")
		m := st.in.Next(t)
		if m.Action == nil || m.Action.ID != id || m.Action.Data != "approve:abcdefghjk:deny" || m.Action.Token == "" || m.SenderID != alice ||
			m.ChatID != target.ChatID || m.ChatType != tc.chatType || m.Text != "" || m.SenderIsBot {
			t.Fatalf("press became %+v (action %+v)", m, m.Action)
		}
		if err := st.a.AnswerAction(t.Context(), *m.Action, "Denied."); err != nil {
			t.Fatal(err)
		}
		if err := st.a.AnswerAction(t.Context(), *m.Action, "again"); err == nil {
			t.Fatal("a second answer was accepted")
		}
		if strings.Contains(st.logs.String(), m.Action.Token) {
			t.Fatal("the interaction token is in the log")
		}
	}
	if err := st.a.CloseButtons(t.Context(), target, sent[0].ID, sent[0].Content); err != nil {
		t.Fatal(err)
	}
	if s := fake.Sent()[0]; len(s.Buttons) != 0 || s.Content != "Approval needed" || fake.Edits() != 1 {
		t.Fatalf("after closing: %+v", s)
	}
	if err := st.a.CloseButtons(t.Context(), target, "999999999999999999", ""); err == nil {
		t.Fatal("closing an unknown message succeeded")
	}
	r := fake.WaitResponses(2)
	if r[0].Type != 4 || r[0].Flags != 64 || r[0].Content != "Denied." {
		t.Fatalf("responses %+v", r)
	}
}
