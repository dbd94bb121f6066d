package slack

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
)

// A request goes out with a plain_text section and Block Kit buttons; a
// press arrives as an interactive envelope and becomes a Message with an
// Action from the presser, acknowledged only once it was handled.
func TestButtonsRoundTrip(t *testing.T) {
	s := connected(t)
	text := "Approval needed (id abcdefghjk)\nexec: echo <!channel> & *bold*"
	if _, err := s.a.SendButtons(t.Context(), channels.Target{ChatID: "U0OWNER01", ChatType: channels.ChatDirect}, text, channels.ApprovalButtons("abcdefghjk")); err != nil {
		t.Fatal(err)
	}
	post := s.fs.WaitPosts(1)[0]
	if post.Section != text || post.Text == text || len(post.Buttons) != 3 || post.Buttons[0].Value != "approve:abcdefghjk:allow-once" ||
		post.Buttons[0].Style != "primary" || post.Buttons[2].Style != "danger" {
		t.Fatalf("post %+v", post)
	}
	var fail atomic.Bool
	fail.Store(true)
	s.in.Fail = func(channels.Message) error {
		if fail.Load() {
			return errors.New("store down")
		}
		return nil
	}
	env := s.fs.Press(post, "U0OWNER01", "approve:abcdefghjk:deny")
	time.Sleep(100 * time.Millisecond) // let a (wrong) ack arrive, if any
	for _, a := range s.fs.Acks() {
		if a == env {
			t.Fatal("a press that was not handled was acknowledged")
		}
	}
	fail.Store(false)
	env = s.fs.Press(post, "U0OWNER01", "approve:abcdefghjk:deny")
	s.fs.WaitAck(env)
	m := s.in.Next(t)
	if m.Action == nil || m.Action.Data != "approve:abcdefghjk:deny" || m.SenderID != "U0OWNER01" || m.ChatID != post.Channel ||
		m.ChatType != channels.ChatDirect || m.Text != "" {
		t.Fatalf("press became %+v (action %+v)", m, m.Action)
	}
}
