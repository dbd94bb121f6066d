package slack

import (
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

type setup struct {
	fs   *fakeslack.Server
	a    *Adapter
	in   *chantest.Recorder
	logs *chantest.SyncBuffer
}

// newSetup makes an adapter for fs in mode with fast backoffs; edit
// changes the config first.
func newSetup(t *testing.T, mode string, edit func(*config.SlackAccount)) *setup {
	t.Helper()
	fs := fakeslack.New(t)
	cfg := config.SlackAccount{
		Mode:          mode,
		BotToken:      secret.New(fs.BotToken),
		AppToken:      secret.New(fs.AppToken),
		SigningSecret: secret.New("signing-secret-for-tests"),
		APIBaseURL:    fs.URL,
		WebhookListen: "127.0.0.1:0",
	}
	if edit != nil {
		edit(&cfg)
	}
	in := &chantest.Recorder{}
	logs := &chantest.SyncBuffer{}
	a, err := New(Options{
		Account: "work",
		Config:  cfg,
		Handler: in.Handle,
		Logger:  logs.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a.backoff = channels.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	a.authBackoff = channels.Backoff{Base: time.Minute, Max: time.Minute}
	a.retry = channels.RetryPolicy{Base: 10 * time.Millisecond, Max: 5 * time.Second}
	return &setup{fs: fs, a: a, in: in, logs: logs}
}

func (s *setup) start(t *testing.T) {
	t.Helper()
	if err := s.a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.a.Stop(ctx)
	})
}

// connected starts a socket-mode adapter and waits for hello.
func connected(t *testing.T) *setup {
	t.Helper()
	s := newSetup(t, "socket", nil)
	s.start(t)
	s.fs.WaitConnected(1)
	chantest.WaitState(t, s.a, channels.StateConnected)
	return s
}

func TestSocketInboundConversion(t *testing.T) {
	s := connected(t)
	if st := s.a.Status(); st.BotID != fakeslack.BotUserID || st.Mode != "socket" {
		t.Fatalf("status = %+v", st)
	}

	env := s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0ALICE", Text: "hi &lt;there&gt; &amp; all", TS: "1712345678.000100", Channel: "D0DM", ChannelType: "im"})
	m := s.in.Next(t)
	s.fs.WaitAck(env.EnvelopeID)
	want := channels.Message{
		Channel: "slack", Account: "work", ID: "D0DM:1712345678.000100", SenderID: "U0ALICE",
		ChatID: "D0DM", ChatType: channels.ChatDirect, Text: "hi <there> & all",
		Time: time.Unix(1712345678, 100000),
	}
	if m.Time.Equal(want.Time) {
		m.Time = want.Time
	}
	if !equalMsg(m, want) {
		t.Errorf("DM:\n got %+v\nwant %+v", m, want)
	}

	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "group talk", TS: "1712345679.000100", Channel: "G0MPIM", ChannelType: "mpim"})
	if m := s.in.Next(t); m.ChatType != channels.ChatGroup || m.MentionsBot {
		t.Errorf("mpim: %+v", m)
	}

	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "hey <@" + fakeslack.BotUserID + "> look", TS: "1712345680.000100", Channel: "C0GEN", ChannelType: "channel"})
	if m := s.in.Next(t); m.ChatType != channels.ChatChannel || !m.MentionsBot {
		t.Errorf("channel mention: %+v", m)
	}

	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "no mention of <@U0OTHER>", TS: "1712345681.000100", Channel: "C0PRIV", ChannelType: "group"})
	if m := s.in.Next(t); m.ChatType != channels.ChatChannel || m.MentionsBot {
		t.Errorf("private channel: %+v", m)
	}

	// A thread reply to the bot, with a file.
	s.fs.SendEvent(fakeslack.Event{
		Type: "message", Subtype: "file_share", User: "U0BOB", Text: "see", TS: "1712345690.000200", ThreadTS: "1712345600.000100",
		ParentUserID: fakeslack.BotUserID, Channel: "C0GEN", ChannelType: "channel",
		Files: []fakeslack.File{{ID: "F1", Name: "cat.png", Mimetype: "image/png", Filetype: "png", Size: 1234, URLPrivate: "https://files.slack.com/x"}},
	})
	m = s.in.Next(t)
	if m.ThreadID != "1712345600.000100" || !m.ReplyToBot || m.ReplyTo == nil || m.ReplyTo.ID != "C0GEN:1712345600.000100" {
		t.Errorf("thread reply: %+v", m)
	}
	if len(m.Attachments) != 1 || m.Attachments[0] != (channels.Attachment{Kind: "photo", Name: "cat.png", MIME: "image/png", Size: 1234}) {
		t.Errorf("attachments = %+v", m.Attachments)
	}

	// app_mention (no channel_type) is a mention.
	s.fs.SendEvent(fakeslack.Event{Type: "app_mention", User: "U0CAROL", Text: "<@" + fakeslack.BotUserID + "> help", TS: "1712345700.000100", Channel: "C0GEN"})
	if m := s.in.Next(t); !m.MentionsBot || m.ChatType != channels.ChatChannel || m.SenderID != "U0CAROL" {
		t.Errorf("app_mention: %+v", m)
	}
	if st := s.a.Status(); st.Received != 6 {
		t.Errorf("received = %d, want 6", st.Received)
	}
}

func equalMsg(a, b channels.Message) bool {
	return a.Channel == b.Channel && a.Account == b.Account && a.ID == b.ID && a.SenderID == b.SenderID &&
		a.ChatID == b.ChatID && a.ChatType == b.ChatType && a.Text == b.Text && a.Time.Equal(b.Time) &&
		a.ThreadID == b.ThreadID && a.MentionsBot == b.MentionsBot && a.SenderIsBot == b.SenderIsBot &&
		a.ReplyTo == nil && b.ReplyTo == nil && len(a.Attachments) == len(b.Attachments)
}

func TestSocketIgnoresOwnBotAndEdits(t *testing.T) {
	s := connected(t)
	var envs []fakeslack.Envelope
	for _, ev := range []fakeslack.Event{
		{Type: "message", User: fakeslack.BotUserID, BotID: fakeslack.BotID, Text: "my own reply", TS: "1.1", Channel: "C0GEN", ChannelType: "channel"},
		{Type: "message", Subtype: "bot_message", BotID: "B0OTHER", Text: "integration", TS: "1.2", Channel: "C0GEN", ChannelType: "channel"},
		{Type: "message", Subtype: "message_changed", Text: "", TS: "1.3", Channel: "C0GEN", ChannelType: "channel"},
		{Type: "message", Subtype: "message_deleted", TS: "1.4", Channel: "C0GEN", ChannelType: "channel"},
		{Type: "message", Subtype: "channel_join", User: "U0NEW", Text: "<@U0NEW> has joined", TS: "1.5", Channel: "C0GEN", ChannelType: "channel"},
		{Type: "reaction_added", User: "U0BOB", TS: "1.6", Channel: "C0GEN"},
	} {
		envs = append(envs, s.fs.SendEvent(ev))
	}
	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "sentinel", TS: "1.7", Channel: "C0GEN", ChannelType: "channel"})
	if m := s.in.Next(t); m.Text != "sentinel" {
		t.Fatalf("first delivered message = %+v, want the sentinel", m)
	}
	for _, e := range envs {
		s.fs.WaitAck(e.EnvelopeID) // ignored events are acknowledged all the same
	}
	// Another app's bot posting as a user is delivered, marked as a bot.
	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0OTHERBOT", BotID: "B0OTHER", Text: "beep", TS: "1.8", Channel: "C0GEN", ChannelType: "channel"})
	if m := s.in.Next(t); !m.SenderIsBot {
		t.Errorf("other bot's message not marked SenderIsBot: %+v", m)
	}
}

func TestSocketRedeliveryHandledOnce(t *testing.T) {
	s := connected(t)
	ev := fakeslack.Event{Type: "message", User: "U0BOB", Text: "<@" + fakeslack.BotUserID + "> once", TS: "1712345800.000100", Channel: "C0GEN", ChannelType: "channel"}
	env := s.fs.SendEvent(ev)
	// Slack redelivers an envelope it thinks was not acknowledged: same
	// event, new envelope id.
	again := env
	again.EnvelopeID += "-retry"
	again.RetryAttempt, again.RetryReason = 1, "timeout"
	s.fs.SendEnvelope(again)
	// The same message as an app_mention event (another event id).
	mention := ev
	mention.Type, mention.ChannelType = "app_mention", ""
	s.fs.SendEvent(mention)
	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "sentinel", TS: "1712345801.000100", Channel: "C0GEN", ChannelType: "channel"})

	if m := s.in.Next(t); m.Text != "<@"+fakeslack.BotUserID+"> once" {
		t.Fatalf("first = %+v", m)
	}
	if m := s.in.Next(t); m.Text != "sentinel" {
		t.Fatalf("second delivered message = %q, want the sentinel (duplicate handled twice)", m.Text)
	}
	s.fs.WaitAck(again.EnvelopeID)
}

func TestSocketReconnectAfterDrop(t *testing.T) {
	s := connected(t)
	s.fs.DropConnections()
	s.fs.WaitConnected(2)
	chantest.WaitState(t, s.a, channels.StateConnected)
	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "after drop", TS: "2.1", Channel: "D0DM", ChannelType: "im"})
	if m := s.in.Next(t); m.Text != "after drop" {
		t.Fatalf("got %+v", m)
	}
	st := s.a.Status()
	if st.Reconnects < 1 || st.LastError == "" {
		t.Errorf("status after drop = %+v", st)
	}
	if n := len(s.fs.CallsOf("auth.test")); n != 1 {
		t.Errorf("auth.test called %d times; the bot id is known after the first", n)
	}
}

func TestSocketReconnectOnDisconnectMessage(t *testing.T) {
	s := connected(t)
	s.fs.Disconnect("refresh_requested")
	s.fs.WaitConnected(2)
	chantest.WaitState(t, s.a, channels.StateConnected)
	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "after refresh", TS: "3.1", Channel: "D0DM", ChannelType: "im"})
	if m := s.in.Next(t); m.Text != "after refresh" {
		t.Fatalf("got %+v", m)
	}
	if n := len(s.fs.CallsOf("apps.connections.open")); n != 2 {
		t.Errorf("apps.connections.open called %d times, want 2", n)
	}
}

func TestSocketRetriesFailedConnects(t *testing.T) {
	s := newSetup(t, "socket", nil)
	s.fs.Fail("apps.connections.open", fakeslack.Failure{Status: 500}, fakeslack.Failure{Error: "internal_error"})
	s.start(t)
	s.fs.WaitConnected(1)
	chantest.WaitState(t, s.a, channels.StateConnected)
	if n := len(s.fs.CallsOf("apps.connections.open")); n != 3 {
		t.Errorf("apps.connections.open called %d times, want 3", n)
	}
}

func TestSocketBadBotToken(t *testing.T) {
	s := newSetup(t, "socket", func(c *config.SlackAccount) { c.BotToken = secret.New("xoxb-wrong-token-1234") })
	s.start(t)
	st := chantest.WaitState(t, s.a, channels.StateError)
	if !strings.Contains(st.LastError, "invalid_auth") || !strings.Contains(st.LastError, "botToken") {
		t.Errorf("LastError = %q, want invalid_auth with a botToken hint", st.LastError)
	}
	if strings.Contains(st.LastError, "xoxb-wrong") {
		t.Errorf("LastError leaks the token: %q", st.LastError)
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(s.fs.CallsOf("auth.test")); n != 1 {
		t.Errorf("auth.test called %d times; bad credentials must not be retried fast", n)
	}
}

func TestSocketBadAppToken(t *testing.T) {
	s := newSetup(t, "socket", func(c *config.SlackAccount) { c.AppToken = secret.New("xapp-wrong-token-5678") })
	s.start(t)
	st := chantest.WaitState(t, s.a, channels.StateError)
	if !strings.Contains(st.LastError, "invalid_auth") || !strings.Contains(st.LastError, "appToken") {
		t.Errorf("LastError = %q, want invalid_auth with an appToken hint", st.LastError)
	}
	if s.fs.Opened() != 0 {
		t.Error("a WebSocket was opened with a bad app token")
	}
}

func TestSocketLinkDisabled(t *testing.T) {
	s := connected(t)
	s.fs.Disconnect("link_disabled")
	st := chantest.WaitState(t, s.a, channels.StateError)
	if !strings.Contains(st.LastError, "link_disabled") {
		t.Errorf("LastError = %q", st.LastError)
	}
}

func TestSocketMalformedInputChangesNothing(t *testing.T) {
	s := connected(t)
	s.fs.SendRaw([]byte("{not json"))
	s.fs.SendRaw([]byte(`{"type":"events_api","envelope_id":"e-bad","payload":{"type":"event_callback","event":"nope"}}`))
	s.fs.SendRaw([]byte(`{"type":"events_api","envelope_id":"e-bad2","payload":[1,2]}`))
	s.fs.SendRaw([]byte(`{"type":"slash_commands","envelope_id":"e-cmd","payload":{"command":"/x"}}`))
	s.fs.SendEvent(fakeslack.Event{Type: "message", User: "U0BOB", Text: "still fine", TS: "4.1", Channel: "D0DM", ChannelType: "im"})
	if m := s.in.Next(t); m.Text != "still fine" {
		t.Fatalf("got %+v", m)
	}
	s.fs.WaitAck("e-bad")
	s.fs.WaitAck("e-cmd")
	if s.fs.Opened() != 1 {
		t.Errorf("bad input made the adapter reconnect")
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	for _, mode := range []string{"socket", "http"} {
		t.Run(mode, func(t *testing.T) {
			s := newSetup(t, mode, nil)
			if err := s.a.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			chantest.WaitState(t, s.a, channels.StateConnected)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := s.a.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if st := s.a.Status(); st.State != channels.StateStopped {
				t.Errorf("state after Stop = %s", st.State)
			}
			// Stop waited for its goroutines; nothing of this package may be left.
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			for g := range strings.SplitSeq(string(buf[:n]), "\n\n") {
				if strings.Contains(g, "internal/channels/slack.(*Adapter)") && !strings.Contains(g, "Test") {
					t.Errorf("goroutine left after Stop:\n%s", g)
				}
			}
			if err := s.a.Stop(ctx); err != nil {
				t.Errorf("second Stop: %v", err)
			}
		})
	}
}

func TestSendChunksAndThreads(t *testing.T) {
	s := newSetup(t, "socket", nil)
	long := strings.Repeat("word ", channels.SlackMaxLen/5) + strings.Repeat("tail ", 100)
	d, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN", ThreadID: "1712345600.000100"}, long)
	if err != nil {
		t.Fatal(err)
	}
	posts := s.fs.Posts()
	if len(posts) != 2 || len(d.MessageIDs) != 2 {
		t.Fatalf("%d posts, %d ids; want 2", len(posts), len(d.MessageIDs))
	}
	total := 0
	for i, p := range posts {
		if n := channels.Runes(p.Text); n > channels.SlackMaxLen {
			t.Errorf("chunk %d has %d characters", i, n)
		}
		total += len(strings.Fields(p.Text))
		if p.ThreadTS != "1712345600.000100" || p.Channel != "C0GEN" {
			t.Errorf("post %d: channel %q thread %q", i, p.Channel, p.ThreadTS)
		}
		if p.Authorization != "Bearer "+s.fs.BotToken {
			t.Errorf("post %d not authorized with the bot token", i)
		}
		if p.Mrkdwn == nil || *p.Mrkdwn || p.UnfurlLinks == nil || *p.UnfurlLinks {
			t.Errorf("post %d: mrkdwn %v unfurl_links %v; want plain text without previews", i, p.Mrkdwn, p.UnfurlLinks)
		}
		if d.MessageIDs[i] != p.Channel+":"+p.TS {
			t.Errorf("id %d = %q, want %q", i, d.MessageIDs[i], p.Channel+":"+p.TS)
		}
	}
	if total != len(strings.Fields(long)) {
		t.Errorf("words sent = %d, want %d", total, len(strings.Fields(long)))
	}
	if st := s.a.Status(); st.Sent != 2 {
		t.Errorf("sent = %d", st.Sent)
	}
}

func TestSendEscapesMarkup(t *testing.T) {
	s := newSetup(t, "socket", nil)
	if _, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "ping <!channel> & <@U0BOSS>"); err != nil {
		t.Fatal(err)
	}
	if got := s.fs.Posts()[0].Text; got != "ping &lt;!channel&gt; &amp; &lt;@U0BOSS&gt;" {
		t.Errorf("text = %q", got)
	}
	// Escaping counts against the limit.
	text := strings.Repeat("<", channels.SlackMaxLen/4+10)
	if _, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, text); err != nil {
		t.Fatal(err)
	}
	for _, p := range s.fs.Posts()[1:] {
		if n := channels.Runes(p.Text); n > channels.SlackMaxLen {
			t.Errorf("escaped chunk has %d characters", n)
		}
	}
}

func TestSendReplyToUsesThread(t *testing.T) {
	s := newSetup(t, "socket", nil)
	if _, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN", ReplyTo: "C0GEN:1712345600.000100"}, "ok"); err != nil {
		t.Fatal(err)
	}
	if p := s.fs.Posts()[0]; p.ThreadTS != "1712345600.000100" {
		t.Errorf("thread_ts = %q", p.ThreadTS)
	}
}

func TestSend429RetriedAfterRetryAfter(t *testing.T) {
	s := newSetup(t, "socket", nil)
	s.fs.Fail("chat.postMessage", fakeslack.Failure{Status: 429, RetryAfter: "1"})
	if _, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hello"); err != nil {
		t.Fatal(err)
	}
	calls := s.fs.CallsOf("chat.postMessage")
	if len(calls) != 2 || len(s.fs.Posts()) != 1 {
		t.Fatalf("%d calls, %d posts; want 2 and 1", len(calls), len(s.fs.Posts()))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried after %s, before Retry-After: 1", gap)
	}
}

func TestSendRatelimitedAnswerRetried(t *testing.T) {
	s := newSetup(t, "socket", nil)
	s.fs.Fail("chat.postMessage", fakeslack.Failure{Error: "ratelimited", RetryAfter: "0"}, fakeslack.Failure{Status: 503})
	if _, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hello"); err != nil {
		t.Fatal(err)
	}
	if n := len(s.fs.CallsOf("chat.postMessage")); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
}

func TestSendPermanentErrorsNotRetried(t *testing.T) {
	for _, code := range []string{"channel_not_found", "invalid_auth", "not_in_channel", "msg_too_long"} {
		t.Run(code, func(t *testing.T) {
			s := newSetup(t, "socket", nil)
			s.fs.Fail("chat.postMessage", fakeslack.Failure{Error: code})
			_, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hello")
			if !channels.IsPermanent(err) || !strings.Contains(err.Error(), code) {
				t.Fatalf("err = %v, want a permanent %s", err, code)
			}
			if n := len(s.fs.CallsOf("chat.postMessage")); n != 1 {
				t.Errorf("%d calls, want 1", n)
			}
			if st := s.a.Status(); st.SendErrors != 1 || !strings.Contains(st.LastError, code) {
				t.Errorf("status = %+v", st)
			}
		})
	}
	t.Run("http 404", func(t *testing.T) {
		s := newSetup(t, "socket", nil)
		s.fs.Fail("chat.postMessage", fakeslack.Failure{Status: 404})
		if _, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "x"); !channels.IsPermanent(err) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestTokensNeverInErrorsOrLogs(t *testing.T) {
	const wrongBot, wrongApp = "xoxb-leaky-bot-token-42", "xapp-leaky-app-token-42"
	s := newSetup(t, "socket", func(c *config.SlackAccount) {
		c.BotToken, c.AppToken = secret.New(wrongBot), secret.New(wrongApp)
	})
	s.start(t)
	st := chantest.WaitState(t, s.a, channels.StateError)
	_, sendErr := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hi")
	good := connected(t)
	good.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hi")
	good.fs.Fail("chat.postMessage", fakeslack.Failure{Error: "invalid_auth"})
	_, goodErr := good.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hi")
	good.fs.DropConnections()
	good.fs.WaitConnected(2)

	texts := map[string]string{
		"LastError": st.LastError, "send error": sendErr.Error(), "good send error": goodErr.Error(),
		"logs": s.logs.String(), "good logs": good.logs.String(), "good LastError": good.a.Status().LastError,
	}
	for name, text := range texts {
		for _, tok := range []string{wrongBot, wrongApp, good.fs.BotToken, good.fs.AppToken, "signing-secret-for-tests"} {
			if strings.Contains(text, tok) {
				t.Errorf("%s contains a credential: %s", name, text)
			}
		}
	}
	if !strings.Contains(s.logs.String(), "invalid_auth") {
		t.Errorf("logs do not mention the failure:\n%s", s.logs.String())
	}
}

func TestTypingIsANoop(t *testing.T) {
	s := newSetup(t, "socket", nil)
	if err := s.a.Typing(t.Context(), channels.Target{ChatID: "C0GEN"}); err != nil {
		t.Fatal(err)
	}
	if n := len(s.fs.Calls()); n != 0 {
		t.Errorf("Typing made %d API calls", n)
	}
}

func TestNewValidates(t *testing.T) {
	good := config.SlackAccount{BotToken: secret.New("xoxb-1"), AppToken: secret.New("xapp-1"), SigningSecret: secret.New("s")}
	h := func(context.Context, channels.Message) error { return nil }
	for _, tc := range []struct {
		name string
		edit func(*config.SlackAccount)
		want string
	}{
		{"no bot token", func(c *config.SlackAccount) { c.BotToken = secret.Secret{} }, "botToken"},
		{"socket without app token", func(c *config.SlackAccount) { c.AppToken = secret.Secret{} }, "appToken"},
		{"bad mode", func(c *config.SlackAccount) { c.Mode = "rtm" }, "mode"},
		{"bad base url", func(c *config.SlackAccount) { c.APIBaseURL = "ftp://x/" }, "apiBaseUrl"},
		{"bad listen", func(c *config.SlackAccount) { c.Mode = "http"; c.WebhookListen = "nope" }, "webhookListen"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			tc.edit(&c)
			_, err := New(Options{Config: c, Handler: h})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want mention of %s", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
		})
	}
	a, err := New(Options{Config: good, Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	if a.Account() != "default" || a.Channel() != "slack" || a.base.String() != DefaultAPIBaseURL || a.mode != "socket" {
		t.Errorf("defaults: account %q base %q mode %q", a.Account(), a.base, a.mode)
	}
}

func TestCheckSocketURL(t *testing.T) {
	s := newSetup(t, "socket", nil)
	host := s.a.base.Host
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"wss://wss-primary.slack.com/link/?ticket=1", true},
		{"ws://" + host + "/link/?ticket=1", true},
		{"ws://wss-primary.slack.com/link/", false},
		{"ws://127.0.0.1:1/link/", false},
		{"http://" + host + "/link/", false},
		{"", false},
	} {
		_, err := s.a.checkSocketURL(tc.url)
		if (err == nil) != tc.ok {
			t.Errorf("checkSocketURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

// TestInvariant7_SlackThroughNetguard: with no HTTPClient the adapter's
// client refuses private addresses other than the configured API origin.
func TestInvariant7_SlackThroughNetguard(t *testing.T) {
	s := newSetup(t, "socket", nil)
	other := fakeslack.New(t)
	s.a.base, _ = s.a.base.Parse(other.URL)
	_, err := s.a.Send(t.Context(), channels.Target{ChatID: "C0GEN"}, "hi")
	if err == nil || !strings.Contains(err.Error(), "netguard") {
		t.Fatalf("Send to a private address outside the configured origin = %v, want a netguard refusal", err)
	}
	if n := len(other.Calls()); n != 0 {
		t.Errorf("the other server got %d requests", n)
	}
}

func TestRetryAfterParsing(t *testing.T) {
	for h, want := range map[string]time.Duration{"3": 3 * time.Second, "0": 0, "": time.Second, "junk": time.Second, "1.5": 1500 * time.Millisecond} {
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", h, got, want)
		}
	}
	var rl *channels.RateLimitError
	if !errors.As(&channels.RateLimitError{RetryAfter: time.Second, Err: &APIError{Method: "m", Code: "ratelimited"}}, &rl) {
		t.Fatal("unreachable")
	}
}
