package slack

import (
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
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
	d, err := s.a.SendButtons(t.Context(), channels.Target{ChatID: "U0OWNER01"}, "second", channels.ApprovalButtons("abcdefghjk"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.a.CloseButtons(t.Context(), channels.Target{}, d.MessageIDs[0], "second"); err != nil {
		t.Fatal(err)
	}
	if p := s.fs.Posts(); len(p[1].Buttons) != 0 || p[1].Section != "second" || len(p[0].Buttons) != 3 || s.fs.Updates() != 1 {
		t.Fatalf("after closing: %+v", p)
	}
	if err := s.a.CloseButtons(t.Context(), channels.Target{}, "D0OWNER01:1.2", "x"); err == nil {
		t.Fatal("closing an unknown message succeeded")
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

// In http mode a press comes as a signed, form-encoded interactivity
// request to the events URL: a forged one is refused unread, a real one is
// handed over and answered 200 only once handled.
func TestButtonsHTTPMode(t *testing.T) {
	s := newSetup(t, "http", nil)
	s.start(t)
	chantest.WaitState(t, s.a, channels.StateConnected)
	if _, err := s.a.SendButtons(t.Context(), channels.Target{ChatID: "U0OWNER01"}, "Approval needed", channels.ApprovalButtons("abcdefghjk")); err != nil {
		t.Fatal(err)
	}
	post := s.fs.WaitPosts(1)[0]
	url := "http://" + s.a.Addr().String() + "/slack/events"
	body := s.fs.ActionsBody(post, "U0OWNER01", "approve:abcdefghjk:allow-once")
	const form = "application/x-www-form-urlencoded"
	post1 := func(secret string) int {
		resp, err := fakeslack.EventRequest{Body: body, Secret: secret, ContentType: form}.Post(t.Context(), nil, url)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post1("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("forged press: %d", code)
	}
	var fail atomic.Bool
	fail.Store(true)
	s.in.Fail = func(channels.Message) error {
		if fail.Load() {
			return errors.New("store down")
		}
		return nil
	}
	if code := post1(testSecret); code != http.StatusInternalServerError {
		t.Fatalf("unhandled press answered %d", code)
	}
	fail.Store(false)
	if code := post1(testSecret); code != http.StatusOK {
		t.Fatalf("press answered %d", code)
	}
	m := s.in.Next(t)
	if m.Action == nil || m.Action.Data != "approve:abcdefghjk:allow-once" || m.SenderID != "U0OWNER01" || m.ChatType != channels.ChatDirect {
		t.Fatalf("press became %+v", m)
	}
	if got := s.in.All(); len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
}

// The slash command /approve, over Socket Mode and in http mode, is handed
// over as the text it stands for; other commands are not.
func TestSlashApprove(t *testing.T) {
	s := connected(t)
	s.fs.WaitAck(s.fs.Slash("U0OWNER01", "D0OWNER01", "/deploy", "prod"))
	env := s.fs.Slash("U0OWNER01", "D0OWNER01", "/approve", "abcdefghjk allow-once")
	s.fs.WaitAck(env)
	m := s.in.Next(t)
	if m.Text != "/approve abcdefghjk allow-once" || m.SenderID != "U0OWNER01" || m.ChatID != "D0OWNER01" || m.ChatType != channels.ChatDirect || m.Action != nil {
		t.Fatalf("slash command became %+v", m)
	}
	if got := s.in.All(); len(got) != 1 {
		t.Fatalf("%d messages: %+v", len(got), got)
	}

	h := newSetup(t, "http", nil)
	h.start(t)
	chantest.WaitState(t, h.a, channels.StateConnected)
	url := "http://" + h.a.Addr().String() + "/slack/events"
	resp, err := fakeslack.EventRequest{Body: h.fs.SlashBody("U0OWNER01", "D0OWNER01", "/approve", "abcdefghjk deny"), Secret: testSecret,
		ContentType: "application/x-www-form-urlencoded"}.Post(t.Context(), nil, url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if m := h.in.Next(t); m.Text != "/approve abcdefghjk deny" || m.SenderID != "U0OWNER01" {
		t.Fatalf("slash command became %+v", m)
	}
}
