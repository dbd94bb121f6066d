package telegram

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
	"github.com/talonclaw/talon/internal/testutil/leakcheck"
)

type env struct {
	fake *faketelegram.Server
	a    *Adapter
	rec  *chantest.Recorder
	logs *chantest.SyncBuffer
}

func account(fake *faketelegram.Server) config.TelegramAccount {
	return config.TelegramAccount{BotToken: secret.New(fake.Token), APIBaseURL: fake.URL}
}

// newEnv makes an adapter against a fake; mutate adjusts the options.
func newEnv(t *testing.T, mutate func(*Options)) *env {
	t.Helper()
	e := &env{fake: faketelegram.New(t), rec: &chantest.Recorder{}, logs: &chantest.SyncBuffer{}}
	o := Options{
		Config:      account(e.fake),
		Handler:     e.rec.Handle,
		Logger:      e.logs.Logger(),
		PollTimeout: 2 * time.Second,
		RetryBase:   20 * time.Millisecond,
	}
	if mutate != nil {
		mutate(&o)
	}
	a, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.a = a
	return e
}

func (e *env) start(t *testing.T) {
	t.Helper()
	chantest.Start(t, t.Context(), e.a)
}

var alice = faketelegram.User{ID: 4242, FirstName: "Alice", LastName: "Liddell", Username: "alice"}

func TestInboundDM(t *testing.T) {
	e := newEnv(t, nil)
	e.start(t)
	upd := e.fake.DM(alice, "hello there")
	e.fake.Push(upd)
	m := e.rec.Wait(t, 1)[0]
	want := channels.Message{
		Channel: "telegram", Account: "default",
		ID:       fmt.Sprintf("4242:%d", upd.Message.MessageID),
		SenderID: "4242", SenderUsername: "alice", SenderName: "Alice Liddell",
		ChatID: "4242", ChatType: channels.ChatDirect, Text: "hello there",
		Time: time.Unix(upd.Message.Date, 0).UTC(),
	}
	if fmt.Sprintf("%+v", m) != fmt.Sprintf("%+v", want) {
		t.Errorf("got  %+v\nwant %+v", m, want)
	}
	st := chantest.WaitState(t, e.a, channels.StateConnected)
	if st.BotID != "123456789" || st.BotName != faketelegram.DefaultUsername || st.Mode != "polling" || st.Received != 1 {
		t.Errorf("status %+v", st)
	}
	// Polling deletes any webhook first and never asks for edits.
	calls := e.fake.Requests()
	if len(calls) < 3 || calls[0].Method != "getMe" || calls[1].Method != "deleteWebhook" || calls[2].Method != "getUpdates" {
		t.Errorf("first calls: %+v", calls)
	}
	if au := calls[2].Params["allowed_updates"]; au != `["message","channel_post","callback_query"]` {
		t.Errorf("allowed_updates = %s", au)
	}
}

func TestInboundGroupTopicMentionReplyForward(t *testing.T) {
	e := newEnv(t, nil)
	e.start(t)
	f := e.fake
	group := f.Group(-1001, alice, "just chatting")
	mention := f.Mention(-1001, alice, "what time is it?")
	topic := f.Topic(-1002, 77, alice, "in a topic")
	reply := f.ReplyToBot(-1001, alice, "thanks", 555, "the answer")
	fwd := f.Forward(alice, "look at this", faketelegram.User{ID: 99, FirstName: "Bob"})
	post := f.ChannelPost(-1003, "news")
	cmd := f.Group(-1001, alice, "/start@TALON_test_bot now")
	cmd.Message.Entities = []faketelegram.MessageEntity{{Type: "bot_command", Offset: 0, Length: len("/start@TALON_test_bot")}}
	textMention := f.Group(-1001, alice, "Talon, hi")
	bot := f.Bot()
	textMention.Message.Entities = []faketelegram.MessageEntity{{Type: "text_mention", Offset: 0, Length: 5, User: &bot}}
	other := f.Group(-1001, alice, "@someone_else hi")
	other.Message.Entities = []faketelegram.MessageEntity{{Type: "mention", Offset: 0, Length: 13}}
	botMsg := f.Group(-1001, faketelegram.User{ID: 777, IsBot: true, FirstName: "OtherBot"}, "beep")
	own := f.Group(-1001, bot, "my own words")
	edited := faketelegram.Update{EditedMessage: f.DM(alice, "edited").Message}
	photo := f.DM(alice, "")
	photo.Message.Caption = "@talon_test_bot see"
	photo.Message.CaptionEntities = []faketelegram.MessageEntity{{Type: "mention", Offset: 0, Length: 15}}
	photo.Message.Photo = []faketelegram.PhotoSize{{FileID: "a", Width: 90, FileSize: 10}, {FileID: "b", Width: 800, FileSize: 9000}}
	photo.Message.Document = &faketelegram.File{FileID: "d", FileName: "x.pdf", MimeType: "application/pdf", FileSize: 123}

	f.Push(group, mention, topic, reply, fwd, post, cmd, textMention, other, botMsg, own, edited, photo)
	ms := e.rec.Wait(t, 12)
	time.Sleep(50 * time.Millisecond)
	if got := len(e.rec.All()); got != 12 {
		t.Fatalf("%d messages handled, want 12 (the edit ignored)", got)
	}
	byText := map[string]channels.Message{}
	for _, m := range ms {
		byText[m.Text] = m
	}
	check := func(name string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s: %+v", name, byText)
		}
	}
	g := byText["just chatting"]
	check("group", g.ChatType == channels.ChatGroup && g.ChatID == "-1001" && !g.MentionsBot && g.TopicID == "")
	mm := byText["@talon_test_bot what time is it?"]
	check("mention", mm.MentionsBot && mm.ChatType == channels.ChatGroup)
	tp := byText["in a topic"]
	check("topic", tp.TopicID == "77" && tp.ChatID == "-1002")
	r := byText["thanks"]
	check("reply", r.ReplyToBot && r.ReplyTo != nil && r.ReplyTo.ID == "-1001:555" && r.ReplyTo.Text == "the answer" && r.ReplyTo.SenderID == "123456789")
	fw := byText["look at this"]
	check("forward", fw.Forwarded && fw.SenderID == "4242" && fw.ChatType == channels.ChatDirect)
	p := byText["news"]
	check("channel post", p.ChatType == channels.ChatChannel && p.SenderID == "-1003")
	check("bot_command@bot", byText["/start@TALON_test_bot now"].MentionsBot)
	check("text_mention", byText["Talon, hi"].MentionsBot)
	check("other mention", !byText["@someone_else hi"].MentionsBot)
	check("other bot", byText["beep"].SenderIsBot)
	check("own message", byText["my own words"].SenderIsBot)
	ph := byText["@talon_test_bot see"]
	check("caption mention", ph.MentionsBot)
	check("attachments", len(ph.Attachments) == 2 && ph.Attachments[0].Kind == "photo" && ph.Attachments[0].Size == 9000 &&
		ph.Attachments[1] == channels.Attachment{Kind: "document", Name: "x.pdf", MIME: "application/pdf", Size: 123})
}

func TestRedeliveredUpdateHandledOnce(t *testing.T) {
	e := newEnv(t, nil)
	e.start(t)
	ids := e.fake.Push(e.fake.DM(alice, "once"))
	e.rec.Wait(t, 1)
	if !e.fake.Redeliver(ids[0]) {
		t.Fatal("fake did not know the update")
	}
	e.fake.Push(e.fake.DM(alice, "twice"))
	ms := e.rec.Wait(t, 2)
	time.Sleep(100 * time.Millisecond)
	ms = e.rec.All()
	if len(ms) != 2 || ms[0].Text != "once" || ms[1].Text != "twice" {
		t.Fatalf("handled %+v", ms)
	}
	// Offsets advance: every poll after the first asks past what it got.
	polls := e.fake.Calls("getUpdates")
	if last := polls[len(polls)-1].Params["offset"]; last != fmt.Sprint(ids[0]+2) {
		t.Errorf("last offset %s, want %d", last, ids[0]+2)
	}
}

func TestOffsetsConfirmedOnStop(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.a.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.fake.Push(e.fake.DM(alice, "a"), e.fake.DM(alice, "b"))
	e.rec.Wait(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := e.fake.Pending(); n != 0 {
		t.Errorf("%d handled updates still unconfirmed after Stop", n)
	}
	if st := e.a.Status(); st.State != channels.StateStopped {
		t.Errorf("state %q after Stop", st.State)
	}
}

func TestSendChunksAtLimit(t *testing.T) {
	e := newEnv(t, nil)
	// 4096 UTF-16 units exactly, made of surrogate pairs (2 units each),
	// then one more word: two chunks, the first exactly at the limit.
	first := strings.Repeat("😀", channels.TelegramMaxLen/2)
	text := first + " tail"
	d, err := e.a.Send(t.Context(), channels.Target{ChatID: "-100777", TopicID: "12", ReplyTo: "-100777:55"}, text)
	if err != nil {
		t.Fatal(err)
	}
	sent := e.fake.WaitSent(2, 5*time.Second)
	if len(sent) != 2 || sent[0].Text != first || sent[1].Text != "tail" {
		t.Fatalf("sent %d messages, want the 4096-unit chunk and \"tail\"", len(sent))
	}
	for i, s := range sent {
		if s.ChatID != "-100777" || s.ThreadID != 12 || s.ParseMode != "" {
			t.Errorf("message %d: %+v", i, s)
		}
	}
	if sent[0].ReplyTo != 55 || sent[1].ReplyTo != 0 {
		t.Errorf("reply_to %d, %d; want 55 on the first chunk only", sent[0].ReplyTo, sent[1].ReplyTo)
	}
	if len(d.MessageIDs) != 2 || d.MessageIDs[0] != fmt.Sprintf("-100777:%d", sent[0].MessageID) {
		t.Errorf("delivery %+v", d)
	}
	if st := e.a.Status(); st.Sent != 2 {
		t.Errorf("status sent %d", st.Sent)
	}
	// The request had no parse_mode at all: plain text.
	for _, r := range e.fake.Calls("sendMessage") {
		if _, ok := r.Params["parse_mode"]; ok {
			t.Errorf("parse_mode sent: %v", r.Params)
		}
	}
}

func TestSendRetriesAfter429(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.FailSend(1, 1)
	start := time.Now()
	if _, err := e.a.Send(t.Context(), channels.Target{ChatID: "4242"}, "hi"); err != nil {
		t.Fatal(err)
	}
	sent := e.fake.Sent()
	if len(sent) != 1 {
		t.Fatalf("sent %+v", sent)
	}
	calls := e.fake.Calls("sendMessage")
	if len(calls) != 2 {
		t.Fatalf("%d sendMessage calls, want 2", len(calls))
	}
	if gap := calls[1].At.Sub(calls[0].At); gap < time.Second {
		t.Errorf("retried after %s, before retry_after (1s)", gap)
	}
	if time.Since(start) < time.Second {
		t.Error("Send returned before retry_after")
	}
}

func TestSendRateLimitErrorType(t *testing.T) {
	e := newEnv(t, nil)
	// More 429s than Retry attempts: the last error is a RateLimitError.
	e.fake.FailSend(10, 120) // 120s is above Retry's cap: returned at once
	_, err := e.a.Send(t.Context(), channels.Target{ChatID: "4242"}, "hi")
	var rl *channels.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 120*time.Second {
		t.Fatalf("err = %v, want RateLimitError with 120s", err)
	}
	if n := len(e.fake.Calls("sendMessage")); n != 1 {
		t.Errorf("%d calls", n)
	}
}

func TestSendPermanentNotRetried(t *testing.T) {
	for _, c := range []struct {
		status int
		desc   string
	}{
		{403, "Forbidden: bot was blocked by the user"},
		{400, "Bad Request: chat not found"},
	} {
		t.Run(fmt.Sprint(c.status), func(t *testing.T) {
			e := newEnv(t, nil)
			e.fake.FailSendWith(c.status, c.desc)
			_, err := e.a.Send(t.Context(), channels.Target{ChatID: "4242"}, "hi")
			if !channels.IsPermanent(err) || !strings.Contains(err.Error(), c.desc) {
				t.Fatalf("err = %v, want permanent with %q", err, c.desc)
			}
			if n := len(e.fake.Calls("sendMessage")); n != 1 {
				t.Errorf("%d sendMessage calls, want 1", n)
			}
			if st := e.a.Status(); st.SendErrors != 1 || st.LastError == "" {
				t.Errorf("status %+v", st)
			}
		})
	}
	e := newEnv(t, nil)
	if _, err := e.a.Send(t.Context(), channels.Target{ChatID: "not a chat"}, "hi"); !channels.IsPermanent(err) {
		t.Errorf("bad chat id: %v", err)
	}
}

func TestTyping(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.a.Typing(t.Context(), channels.Target{ChatID: "-1002", TopicID: "77"}); err != nil {
		t.Fatal(err)
	}
	acts := e.fake.Actions()
	if len(acts) != 1 || acts[0] != (faketelegram.ChatAction{ChatID: "-1002", Action: "typing", ThreadID: 77}) {
		t.Errorf("actions %+v", acts)
	}
}

func TestReconnectAfterDroppedConnection(t *testing.T) {
	e := newEnv(t, nil)
	e.start(t)
	e.fake.Push(e.fake.DM(alice, "before"))
	e.rec.Wait(t, 1)
	e.fake.DropPolls(2)
	// Wake the waiting poll so the next ones are dropped.
	e.fake.Push(e.fake.DM(alice, "after"))
	ms := e.rec.Wait(t, 2)
	if ms[1].Text != "after" {
		t.Fatalf("got %+v", ms)
	}
	// The poll that was waiting carries "after"; the drops hit the polls
	// after it, so wait for the adapter to go through them and back.
	chantest.WaitFor(t, "a reconnect after the dropped polls", func() bool {
		st := e.a.Status()
		return st.Reconnects >= 1 && st.LastError != "" && st.State == channels.StateConnected
	})
	e.fake.Push(e.fake.DM(alice, "later"))
	if ms := e.rec.Wait(t, 3); ms[2].Text != "later" {
		t.Fatalf("after reconnecting: %+v", ms)
	}
	st := e.a.Status()
	if strings.Contains(st.LastError, e.fake.Token) {
		t.Errorf("token in LastError: %s", st.LastError)
	}
}

func TestWebhookLeftOverIsDeleted(t *testing.T) {
	e := newEnv(t, nil)
	e.fake.SetWebhook("https://old.example/hook")
	e.start(t)
	e.fake.Push(e.fake.DM(alice, "hi"))
	e.rec.Wait(t, 1)
	if u, _ := e.fake.Webhook(); u != "" {
		t.Errorf("webhook still set: %s", u)
	}
}

func TestBadTokenIsStateError(t *testing.T) {
	e := newEnv(t, func(o *Options) {
		o.Config.BotToken = secret.New("999:wrong-token-SECRETVALUE")
	})
	e.start(t)
	st := chantest.WaitState(t, e.a, channels.StateError)
	want := "telegram: the bot token was rejected (401) (hint: check channels.telegram.botToken)"
	if st.LastError != want {
		t.Errorf("LastError %q, want %q", st.LastError, want)
	}
	// Retried only slowly: a short while later there is no flood of getMe.
	time.Sleep(200 * time.Millisecond)
	if n := len(e.fake.Calls("getMe")); n > 2 {
		t.Errorf("%d getMe calls in 200ms after a 401", n)
	}
	if strings.Contains(e.logs.String(), "SECRETVALUE") {
		t.Errorf("token in logs: %s", e.logs.String())
	}
}

// TestInvariant10_TokenNeverInErrors makes every kind of failure happen and
// checks that no error or log line carries the token.
func TestInvariant10_TokenNeverInErrors(t *testing.T) {
	e := newEnv(t, nil)
	token := e.fake.Token
	var errs []error
	// Transport failure: nothing listens there (the URL holds the token).
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	d, err := New(Options{
		Config:    config.TelegramAccount{BotToken: secret.New(token), APIBaseURL: deadURL},
		Handler:   func(context.Context, channels.Message) error { return nil },
		Logger:    slog.New(slog.NewTextHandler(e.logs, nil)),
		RetryBase: 10 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	_, err = d.Send(ctx, channels.Target{ChatID: "1"}, "x")
	errs = append(errs, err, d.Typing(ctx, channels.Target{ChatID: "1"}))
	_, err = d.getUpdates(ctx, 0, 0, 1)
	errs = append(errs, err)
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	chantest.WaitState(t, d, channels.StateReconnecting)
	d.Stop(ctx)
	errs = append(errs, errors.New(d.Status().LastError))
	// Netguard refusal: a base URL whose origin is not the allowed one.
	blocked, _ := New(Options{
		Config:     config.TelegramAccount{BotToken: secret.New(token), APIBaseURL: e.fake.URL},
		Handler:    func(context.Context, channels.Message) error { return nil },
		HTTPClient: nil,
	})
	blocked.baseURL = "http://169.254.169.254"
	_, err = blocked.getUpdates(ctx, 0, 0, 1)
	errs = append(errs, err)
	// API errors: 403 and 429.
	e.fake.FailSendWith(403, "Forbidden: bot was kicked")
	_, err = e.a.Send(ctx, channels.Target{ChatID: "1"}, "x")
	errs = append(errs, err)
	for i, err := range errs {
		if err == nil {
			t.Errorf("error %d is nil", i)
			continue
		}
		if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), "AAFake") {
			t.Errorf("error %d carries the token: %v", i, err)
		}
	}
	if logs := e.logs.String(); strings.Contains(logs, "AAFake") {
		t.Errorf("token in logs: %s", logs)
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		e := newEnv(t, nil)
		if err := e.a.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		e.fake.Push(e.fake.DM(alice, "x"))
		e.rec.Wait(t, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		e.a.client.CloseIdleConnections()
	}()
	chantest.NoLeak(t, before+2) // the fake's server closes at cleanup
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, channels.Message) error { return nil }
	for _, c := range []struct {
		name string
		cfg  config.TelegramAccount
		want string
	}{
		{"no token", config.TelegramAccount{}, "botToken is empty"},
		{"bad token", config.TelegramAccount{BotToken: secret.New("abc/def")}, "does not look like a bot token"},
		{"bad base", config.TelegramAccount{BotToken: secret.New("1:x"), APIBaseURL: "ftp://x"}, "apiBaseUrl"},
		{"http webhook", config.TelegramAccount{BotToken: secret.New("1:x"), WebhookURL: "http://x/hook", WebhookSecret: secret.New("s")}, "not an https URL"},
		{"bad secret", config.TelegramAccount{BotToken: secret.New("1:x"), WebhookURL: "https://x/hook", WebhookSecret: secret.New("a b")}, "webhookSecret must be"},
	} {
		_, err := New(Options{Config: c.cfg, Handler: h})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "abc/def") {
			t.Errorf("%s: token in error", c.name)
		}
	}
}

// echoDial fails the first n connections with an error quoting the
// request URL percent-encoded in lower case and the token in Basic-auth
// base64, as a proxy in front of the Bot API might; then it dials. It sits
// under netguard (Hooks.Dial), so the client is still a guarded one.
func echoDial(n int, token *string) *netguard.Hooks {
	var mu sync.Mutex
	return &netguard.Hooks{Dial: func(ctx context.Context, network string, addr netip.AddrPort) (net.Conn, error) {
		mu.Lock()
		fail := n > 0
		n--
		mu.Unlock()
		if fail {
			return nil, fmt.Errorf("proxy refused https://proxy.example/fetch?u=%s (auth Basic %s)",
				leakcheck.LowerEscape("https://api.telegram.org/bot"+*token+"/getUpdates"), base64.StdEncoding.EncodeToString([]byte("bot:"+*token)))
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr.String())
	}}
}

// TestInvariant10_EncodedTokenNeverInStatusOrLogs: upstream errors that
// quote the bot token percent-encoded in lower case ("123456789%3aAA…"),
// base64-encoded, or its secret half alone reach neither Status().LastError
// (what channels.status shows), nor a returned error, nor the log.
func TestInvariant10_EncodedTokenNeverInStatusOrLogs(t *testing.T) {
	var token string
	e := newEnv(t, func(o *Options) {
		token = o.Config.BotToken.Reveal()
		o.HTTPClient = netguard.Policy{AllowedOrigins: []string{o.Config.APIBaseURL}, Hooks: echoDial(2, &token), Timeout: 30 * time.Second}.Client()
	})
	_, half, _ := strings.Cut(token, ":")
	e.fake.FailPollsWith(http.StatusBadRequest, "Bad Request: wrong URL /bot"+leakcheck.LowerEscape(token)+"/getUpdates")
	e.fake.FailPollsWith(http.StatusBadGateway, "Bad Gateway: upstream "+base64.URLEncoding.EncodeToString([]byte("x"+token)))
	e.fake.FailPollsWith(http.StatusBadGateway, "Bad Gateway: token part "+half+" unknown")
	// Every status the adapter goes through, as channels.status would
	// show it, is checked while it happens.
	var seen []string
	var mu sync.Mutex
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			mu.Lock()
			if le := e.a.Status().LastError; len(seen) == 0 || seen[len(seen)-1] != le {
				seen = append(seen, le)
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	e.start(t)
	ok := false
	for deadline := time.Now().Add(20 * time.Second); !ok && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		ok = e.fake.Polls() >= 4
	}
	close(stop)
	<-done
	if !ok {
		t.Fatalf("the adapter did not get past the failing polls: %+v", e.a.Status())
	}
	_, sendErr := e.a.Send(t.Context(), channels.Target{ChatID: "1"}, "x")
	texts := append(seen, e.logs.String())
	if sendErr != nil {
		texts = append(texts, sendErr.Error())
	}
	var sawBad, sawProxy bool
	for _, text := range texts {
		if f := leakcheck.Find(text, token); f != "" {
			t.Errorf("%s in %q", f, text)
		}
		sawBad = sawBad || strings.Contains(text, "Bad Request: wrong URL")
		sawProxy = sawProxy || strings.Contains(text, "proxy refused")
	}
	if !sawBad || !sawProxy {
		t.Fatalf("the failures were not seen (statuses %q, logs %s)", seen, e.logs.String())
	}
}
