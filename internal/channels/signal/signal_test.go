package signal

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakesignal"
)

const (
	alice     = "+15550002222"
	aliceUUID = "a11ce000-2222-4222-8222-000000000002"
	groupID   = "Pmpi+EfPWmsxiomLe9Nx2XF9HOE483p6iKiFj65iMwI="
)

type harness struct {
	t    *testing.T
	fs   *fakesignal.Server
	a    *Adapter
	rec  *chantest.Recorder
	logs *chantest.SyncBuffer
}

// newHarness makes an adapter for fs (not started) with short timings.
func newHarness(t *testing.T, fs *fakesignal.Server, cfg config.SignalAccount) *harness {
	t.Helper()
	h := &harness{t: t, fs: fs, rec: &chantest.Recorder{}, logs: &chantest.SyncBuffer{}}
	if cfg.HTTPURL == "" && fs != nil {
		cfg.HTTPURL = fs.URL
	}
	a, err := New(Options{
		Config:  cfg,
		Handler: h.rec.Handle,
		Logger:  h.logs.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a.backoff = channels.Backoff{Base: 10 * time.Millisecond, Max: 100 * time.Millisecond}
	a.retry = channels.RetryPolicy{Attempts: 3, Base: 10 * time.Millisecond, Max: 10 * time.Second}
	a.slowRetry = 200 * time.Millisecond
	a.idle = 5 * time.Second
	h.a = a
	return h
}

func (h *harness) start() {
	h.t.Helper()
	chantest.Start(h.t, context.Background(), h.a)
}

// connected starts the adapter and waits for its event stream.
func (h *harness) connected() {
	h.t.Helper()
	h.start()
	h.waitStreams(1)
}

func (h *harness) waitStreams(n int) {
	h.t.Helper()
	chantest.WaitFor(h.t, fmt.Sprintf("%d open event stream(s) and StateConnected", n), func() bool {
		return h.fs.Streams() >= n && h.a.Status().State == channels.StateConnected
	})
}

func (h *harness) next() channels.Message {
	h.t.Helper()
	m, ok := h.rec.NextWithin(5 * time.Second)
	if !ok {
		h.t.Fatalf("no message arrived; status %+v\nlogs:\n%s", h.a.Status(), h.logs)
	}
	return m
}

// nextIs checks that the next message has text want (so nothing else
// arrived before it).
func (h *harness) nextIs(want string) channels.Message {
	h.t.Helper()
	m := h.next()
	if m.Text != want {
		h.t.Fatalf("got message %q (%+v), want %q", m.Text, m, want)
	}
	return m
}

var ts int64 = 1_700_000_000_000

func nextTS() int64 { ts++; return ts }

func dm(text string) fakesignal.Envelope {
	t := nextTS()
	return fakesignal.Envelope{
		Source: alice, SourceNumber: alice, SourceUUID: aliceUUID, SourceName: "Alice", SourceDevice: 1,
		Timestamp:   t,
		DataMessage: &fakesignal.DataMessage{Timestamp: t, Message: fakesignal.Text(text)},
	}
}

func TestInvariant3_InboundDirectUsesStableIDs(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()

	env := dm("hello")
	env.SourceName = "Owner (trust me)"
	fs.Receive(env)
	m := h.next()
	want := channels.Message{
		Channel: "signal", Account: "default",
		ID:       fmt.Sprintf("%s:%d", aliceUUID, env.Timestamp),
		SenderID: aliceUUID, SenderName: "Owner (trust me)",
		ChatID: aliceUUID, ChatType: channels.ChatDirect, Text: "hello",
		Time: time.UnixMilli(env.Timestamp),
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("got  %+v\nwant %+v", m, want)
	}

	// A sender whose uuid signal-cli does not know is identified by number.
	env = dm("by number")
	env.SourceUUID = ""
	fs.Receive(env)
	if m := h.nextIs("by number"); m.SenderID != alice || m.ChatID != alice {
		t.Fatalf("number-only sender: %+v", m)
	}

	reqs := fs.EventRequests()
	if got := reqs[0].RawQuery; got != "account=%2B15550001111" {
		t.Errorf("events query %q, want the account with + escaped", got)
	}
	if st := h.a.Status(); st.BotID != fakesignal.DefaultUUID || st.BotName != fakesignal.DefaultAccount || st.Received != 2 {
		t.Errorf("status %+v: want the uuid learnt with getUserStatus and 2 received", st)
	}
}

func TestInboundGroupMentionReplyAttachments(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	chantest.WaitFor(t, "the bot's uuid", func() bool { return h.a.self().UUID == fakesignal.DefaultUUID })

	env := dm("hi \uFFFC, look 😀 \uFFFC")
	env.DataMessage.GroupInfo = &fakesignal.GroupInfo{GroupID: groupID, GroupName: "Fam", Revision: 3, Type: "DELIVER"}
	// The bot is mentioned by uuid only; the emoji is two UTF-16 units.
	env.DataMessage.Mentions = []fakesignal.Mention{
		{Name: fakesignal.DefaultUUID, UUID: fakesignal.DefaultUUID, Start: 3, Length: 1},
		{Name: alice, Number: alice, UUID: aliceUUID, Start: 14, Length: 1},
	}
	env.DataMessage.Quote = &fakesignal.Quote{ID: 1699, Author: fakesignal.DefaultAccount, AuthorNumber: fakesignal.DefaultAccount, Text: "earlier"}
	env.DataMessage.Attachments = []fakesignal.Attachment{
		{ContentType: "image/jpeg", Filename: "cat.jpg", ID: "abc", Size: 1234},
		{ContentType: "audio/aac", Size: 99},
		{ContentType: "application/pdf", Filename: "a.pdf", Size: 5},
	}
	fs.Receive(env)
	m := h.next()
	if m.ChatType != channels.ChatGroup || m.ChatID != groupID || m.SenderID != aliceUUID {
		t.Errorf("group routing: %+v", m)
	}
	if !m.MentionsBot {
		t.Error("MentionsBot not set for a mention of the bot's uuid")
	}
	if want := "hi @" + fakesignal.DefaultUUID + ", look 😀 @" + alice; m.Text != want {
		t.Errorf("text %q, want %q", m.Text, want)
	}
	if !m.ReplyToBot || m.ReplyTo == nil || *m.ReplyTo != (channels.Quote{ID: fakesignal.DefaultAccount + ":1699", SenderID: fakesignal.DefaultAccount, Text: "earlier"}) {
		t.Errorf("reply: ReplyToBot=%v ReplyTo=%+v", m.ReplyToBot, m.ReplyTo)
	}
	wantAtt := []channels.Attachment{
		{Kind: "photo", Name: "cat.jpg", MIME: "image/jpeg", Size: 1234},
		{Kind: "voice", MIME: "audio/aac", Size: 99},
		{Kind: "document", Name: "a.pdf", MIME: "application/pdf", Size: 5},
	}
	if fmt.Sprint(m.Attachments) != fmt.Sprint(wantAtt) {
		t.Errorf("attachments %+v, want %+v", m.Attachments, wantAtt)
	}

	// Mentioning someone else, replying to someone else.
	env = dm("\uFFFC hi")
	env.DataMessage.GroupInfo = &fakesignal.GroupInfo{GroupID: groupID, Type: "DELIVER"}
	env.DataMessage.Mentions = []fakesignal.Mention{{Name: alice, Number: alice, Start: 0, Length: 1}}
	env.DataMessage.Quote = &fakesignal.Quote{ID: 5, Author: alice, AuthorNumber: alice, AuthorUUID: aliceUUID}
	fs.Receive(env)
	m = h.next()
	if m.MentionsBot || m.ReplyToBot || m.ReplyTo.ID != aliceUUID+":5" {
		t.Errorf("someone else's mention/reply: %+v %+v", m, m.ReplyTo)
	}
	// Mentioned by number (the bot's uuid is not needed then).
	env = dm("\uFFFC")
	env.DataMessage.Mentions = []fakesignal.Mention{{Name: fakesignal.DefaultAccount, Number: fakesignal.DefaultAccount, Start: 0, Length: 1}}
	fs.Receive(env)
	if m := h.next(); !m.MentionsBot {
		t.Errorf("mention by number: %+v", m)
	}
}

func TestIgnoredEnvelopesAndOwnMessages(t *testing.T) {
	fs := fakesignal.New(t)
	fs.HideUUIDs() // the bot's uuid must be learnt from its own sync message
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()

	tsn := nextTS()
	own := fakesignal.Envelope{SourceNumber: fakesignal.DefaultAccount, SourceUUID: fakesignal.DefaultUUID, Timestamp: tsn,
		SyncMessage: &fakesignal.SyncMessage{SentMessage: &fakesignal.SentMessage{DestinationNumber: alice,
			DataMessage: fakesignal.DataMessage{Timestamp: tsn, Message: fakesignal.Text("from my phone")}}}}
	fs.Receive(own)
	ownData := dm("note to self")
	ownData.SourceNumber, ownData.SourceUUID = "", fakesignal.DefaultUUID
	fs.Receive(ownData)
	fs.Receive(fakesignal.Envelope{SourceNumber: alice, SourceUUID: aliceUUID, Timestamp: nextTS(),
		ReceiptMessage: &fakesignal.ReceiptMessage{When: 1, IsRead: true, Timestamps: []int64{tsn}}})
	fs.Receive(fakesignal.Envelope{SourceNumber: alice, SourceUUID: aliceUUID, Timestamp: nextTS(),
		TypingMessage: &fakesignal.TypingMessage{Action: "STARTED", Timestamp: 1}})
	react := dm("")
	react.DataMessage.Message = nil
	react.DataMessage.Reaction = &fakesignal.Reaction{Emoji: "👍", TargetAuthorNumber: fakesignal.DefaultAccount, TargetSentTimestamp: tsn}
	fs.Receive(react)
	upd := dm("")
	upd.DataMessage.Message = nil
	upd.DataMessage.GroupInfo = &fakesignal.GroupInfo{GroupID: groupID, Type: "UPDATE"}
	fs.Receive(upd)
	fs.Push(fakesignal.Notification{Account: fakesignal.DefaultAccount,
		Exception: &fakesignal.Exception{Message: "untrusted", Type: "UntrustedIdentityException"}})
	// Another account of a multi-account daemon.
	other := dm("not for us")
	fs.Push(fakesignal.Notification{Account: "+15559999999", Envelope: &other})

	fs.Receive(dm("sentinel"))
	h.nextIs("sentinel") // nothing before it: the handler is called in order
	if got := h.a.self().UUID; got != fakesignal.DefaultUUID {
		t.Errorf("uuid learnt from the own sync message: %q", got)
	}
	if st := h.a.Status(); st.Received != 1 {
		t.Errorf("Received = %d, want 1", st.Received)
	}
}

func TestRedeliveredMessageHandledOnce(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	fs.Receive(dm("once"))
	h.nextIs("once")
	fs.Redeliver()
	fs.Receive(dm("after"))
	h.nextIs("after")
}

func TestReconnectResumesWithLastEventID(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	fs.Receive(dm("one"))
	h.nextIs("one")

	h.a.backoff = channels.Backoff{Base: 300 * time.Millisecond, Max: 300 * time.Millisecond}
	fs.DropStreams()
	chantest.WaitFor(t, "the stream to drop", func() bool { return fs.Streams() == 0 })
	fs.Receive(dm("missed while down")) // kept by the daemon, replayed after Last-Event-ID
	h.waitStreams(1)
	h.nextIs("missed while down")
	fs.Receive(dm("two"))
	h.nextIs("two")

	reqs := fs.EventRequests()
	if len(reqs) < 2 {
		t.Fatalf("%d event requests, want a reconnect", len(reqs))
	}
	if reqs[0].LastEventID != "" || !strings.HasSuffix(reqs[1].LastEventID, "-1") {
		t.Errorf("Last-Event-ID: first %q, second %q (want none, then the id of event 1)", reqs[0].LastEventID, reqs[1].LastEventID)
	}
	if st := h.a.Status(); st.Reconnects < 1 || st.State != channels.StateConnected {
		t.Errorf("status after reconnect: %+v", st)
	}
}

func TestReconnectUnknownEventIDReplayDeduped(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	fs.Receive(dm("a"))
	fs.Receive(dm("b"))
	h.nextIs("a")
	h.nextIs("b")
	fs.ForgetEventIDs() // the daemon replays everything it kept
	fs.DropStreams()
	chantest.WaitFor(t, "a reconnect", func() bool { return len(fs.EventRequests()) >= 2 })
	h.waitStreams(1)
	fs.Receive(dm("c"))
	h.nextIs("c")
}

func TestReconnectWithoutEventIDs(t *testing.T) {
	fs := fakesignal.New(t)
	fs.SetEventIDs(false) // signal-cli 0.14.6 and earlier
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	fs.Receive(dm("one"))
	h.nextIs("one")
	fs.DropStreams()
	chantest.WaitFor(t, "a reconnect", func() bool { return len(fs.EventRequests()) >= 2 })
	h.waitStreams(1)
	fs.Receive(dm("two"))
	h.nextIs("two")
	if id := fs.EventRequests()[1].LastEventID; id != "" {
		t.Errorf("sent Last-Event-ID %q without the server giving ids", id)
	}
}

func TestIdleStreamReconnects(t *testing.T) {
	fs := fakesignal.New(t)
	fs.SetKeepAlive(0) // a daemon that went silent
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.a.idle = 150 * time.Millisecond
	h.start()
	chantest.WaitFor(t, "a reconnect after the idle timeout", func() bool { return len(fs.EventRequests()) >= 2 })
	if !strings.Contains(h.a.Status().LastError, "idle timeout") {
		t.Errorf("LastError %q", h.a.Status().LastError)
	}
}

func TestKeepAlivesKeepTheStream(t *testing.T) {
	fs := fakesignal.New(t)
	fs.SetKeepAlive(20 * time.Millisecond)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.a.idle = time.Second
	h.connected()
	time.Sleep(1500 * time.Millisecond)
	if n := len(fs.EventRequests()); n != 1 {
		t.Errorf("%d event requests: keep-alives did not keep the stream", n)
	}
}

func TestInvariant14_MalformedEventsSkipped(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	fs.PushData(fakesignal.DefaultAccount, `{"account":`)
	fs.PushData(fakesignal.DefaultAccount, `[1,2]`)
	fs.PushData(fakesignal.DefaultAccount, `{"envelope":{"timestamp":"x"}}`)
	fs.PushRaw("event:receipt\ndata:{}\n\n")                       // other event types are ignored
	fs.PushRaw(": comment\rid\r\nretry:abc\nfoo:bar\nnocolon\n\n") // fields without an event
	// A multi-line data field with CRLF line ends.
	env := dm("multi-line")
	j := fmt.Sprintf(`{"account":%q,"envelope":{"sourceNumber":%q,"sourceUuid":%q,"timestamp":%d,`, fakesignal.DefaultAccount, alice, aliceUUID, env.Timestamp)
	fs.PushRaw("event: receive\r\ndata:" + j + "\r\ndata: \"dataMessage\":{\"timestamp\":1,\"message\":\"multi-line\"}}}\r\n\r\n")
	h.nextIs("multi-line")
	if n := len(fs.EventRequests()); n != 1 {
		t.Errorf("%d event requests: bad events broke the stream", n)
	}
	if !strings.Contains(h.logs.String(), "malformed event") {
		t.Errorf("malformed events not logged:\n%s", h.logs)
	}
}

func TestSendChunksAndQuotes(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	ctx := context.Background()

	para := strings.Repeat("ab ", 500) // 1500 runes
	text := para + "\n\n" + para + "\n\n" + strings.Repeat("é", 2000)
	d, err := h.a.Send(ctx, channels.Target{ChatID: aliceUUID, ChatType: channels.ChatDirect, ReplyTo: alice + ":1699"}, text)
	if err != nil {
		t.Fatal(err)
	}
	sent := fs.Sent()
	if len(sent) != 3 || len(d.MessageIDs) != 3 {
		t.Fatalf("%d sends, %d ids; want 3", len(sent), len(d.MessageIDs))
	}
	for i, s := range sent {
		if n := channels.Runes(s.Message); n > channels.SignalMaxLen {
			t.Errorf("chunk %d has %d characters", i, n)
		}
		if len(s.Recipient) != 1 || s.Recipient[0] != aliceUUID || s.GroupID != "" || s.Account != fakesignal.DefaultAccount {
			t.Errorf("chunk %d addressed %+v", i, s)
		}
		if want := fmt.Sprintf("%s:%d", fakesignal.DefaultAccount, s.Timestamp); d.MessageIDs[i] != want {
			t.Errorf("id %q, want %q", d.MessageIDs[i], want)
		}
	}
	if sent[0].QuoteTimestamp != 1699 || sent[0].QuoteAuthor != alice || sent[1].QuoteTimestamp != 0 {
		t.Errorf("quote: %+v / %+v", sent[0], sent[1])
	}
	if sent[2].Message != strings.Repeat("é", 2000) {
		t.Errorf("the last chunk is not the 2000-character word")
	}
	var raw string
	for _, c := range fs.Calls() {
		if c.Method == "send" {
			raw = string(c.Params)
		}
	}
	for _, key := range []string{`"recipient":[`, `"account":"+15550001111"`, `"message":`} {
		if !strings.Contains(raw, key) {
			t.Errorf("send params %s lack %s", raw, key)
		}
	}

	// Groups by groupId; an unknown chat type is told by the id's shape.
	for _, tg := range []channels.Target{{ChatID: groupID, ChatType: channels.ChatGroup}, {ChatID: groupID}} {
		if _, err := h.a.Send(ctx, tg, "to the group"); err != nil {
			t.Fatal(err)
		}
		if s := fs.Sent()[len(fs.Sent())-1]; s.GroupID != groupID || len(s.Recipient) != 0 {
			t.Errorf("group send %+v", s)
		}
	}
	if h.a.Status().Sent != 5 {
		t.Errorf("Sent = %d", h.a.Status().Sent)
	}
}

func TestSendRateLimitRetriedAfterDelay(t *testing.T) {
	for name, f := range map[string]fakesignal.Failure{
		"rpc -5":   {Error: fakesignal.RateLimit(alice, 1)},
		"http 429": {Status: http.StatusTooManyRequests, RetryAfter: "1"},
		"http 503": {Status: http.StatusServiceUnavailable, RetryAfter: "1"},
	} {
		t.Run(name, func(t *testing.T) {
			fs := fakesignal.New(t)
			h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
			fs.FailNext("send", f)
			start := time.Now()
			if _, err := h.a.Send(context.Background(), channels.Target{ChatID: alice, ChatType: channels.ChatDirect}, "hi"); err != nil {
				t.Fatal(err)
			}
			sent := fs.Sent()
			if len(sent) != 1 {
				t.Fatalf("%d sends", len(sent))
			}
			if gap := sent[0].At.Sub(start); gap < time.Second {
				t.Errorf("retried after %v, before the 1s the daemon asked for", gap)
			}
		})
	}
}

func TestSendRateLimitLongerThanMaxReturned(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	fs.FailNext("send", fakesignal.Failure{Error: fakesignal.RateLimit(alice, 3600)})
	_, err := h.a.Send(context.Background(), channels.Target{ChatID: alice}, "hi")
	var rl *channels.RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Hour {
		t.Fatalf("err %v, want a RateLimitError of 1h", err)
	}
}

func TestSendPermanentErrorNotRetried(t *testing.T) {
	for name, f := range map[string]fakesignal.Failure{
		"unregistered": {Error: &fakesignal.RPCError{Code: fakesignal.CodeUserError, Message: "Failed to send message"}},
		"untrusted":    {Error: &fakesignal.RPCError{Code: fakesignal.CodeUntrustedKey, Message: "Failed to send message due to untrusted identities"}},
		"bad params":   {Error: &fakesignal.RPCError{Code: fakesignal.CodeInvalidParams, Message: "Specified account does not exist"}},
		"http 400":     {Status: http.StatusBadRequest},
	} {
		t.Run(name, func(t *testing.T) {
			fs := fakesignal.New(t)
			h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
			fs.FailNext("send", f, f, f)
			_, err := h.a.Send(context.Background(), channels.Target{ChatID: alice, ChatType: channels.ChatDirect}, "hi")
			if !channels.IsPermanent(err) {
				t.Fatalf("err %v is not permanent", err)
			}
			if n := len(fs.Calls()); n != 1 {
				t.Errorf("%d calls, want 1 (no retry)", n)
			}
			if !strings.HasPrefix(err.Error(), "signal: send: ") || h.a.Status().SendErrors != 1 {
				t.Errorf("err %q, status %+v", err, h.a.Status())
			}
		})
	}
}

func TestSendTransientErrorRetried(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	fs.FailNext("send",
		fakesignal.Failure{Error: &fakesignal.RPCError{Code: fakesignal.CodeIOError, Message: "Failed to send message: timeout"}},
		fakesignal.Failure{Drop: true},
		fakesignal.Failure{Status: http.StatusBadGateway})
	h.a.retry.Attempts = 4
	if _, err := h.a.Send(context.Background(), channels.Target{ChatID: alice}, "hi"); err != nil {
		t.Fatal(err)
	}
	if n, s := len(fs.Calls()), len(fs.Sent()); n != 4 || s != 1 {
		t.Errorf("%d calls, %d sent; want 4 and 1", n, s)
	}
}

func TestTyping(t *testing.T) {
	fs := fakesignal.New(t)
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	ctx := context.Background()
	if err := h.a.Typing(ctx, channels.Target{ChatID: aliceUUID, ChatType: channels.ChatDirect}); err != nil {
		t.Fatal(err)
	}
	if err := h.a.Typing(ctx, channels.Target{ChatID: groupID, ChatType: channels.ChatGroup}); err != nil {
		t.Fatal(err)
	}
	ty := fs.Typings()
	if len(ty) != 2 || ty[0].Recipient[0] != aliceUUID || ty[1].GroupID != groupID || ty[0].Stop {
		t.Errorf("typings %+v", ty)
	}
	if err := h.a.Typing(ctx, channels.Target{}); !channels.IsPermanent(err) {
		t.Errorf("typing without a chat: %v", err)
	}
}

func TestStartCannotReachDaemon(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	h := newHarness(t, nil, config.SignalAccount{HTTPURL: "http://" + addr, Account: fakesignal.DefaultAccount})
	h.start()
	chantest.WaitFor(t, "a connection error", func() bool { return h.a.Status().LastError != "" })
	st := h.a.Status()
	if st.State != channels.StateConnecting {
		t.Errorf("state %q, want connecting (retrying)", st.State)
	}
	for _, want := range []string{
		"signal: cannot reach signal-cli at http://" + addr,
		"hint: start `signal-cli -a +15550001111 daemon --http " + addr + "`",
	} {
		if !strings.Contains(st.LastError, want) {
			t.Errorf("LastError %q lacks %q", st.LastError, want)
		}
	}
}

func TestNotSignalCLI(t *testing.T) {
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	h := newHarness(t, nil, config.SignalAccount{HTTPURL: other.URL})
	h.start()
	chantest.WaitFor(t, "an error", func() bool { return h.a.Status().LastError != "" })
	if le := h.a.Status().LastError; !strings.Contains(le, "does not answer like signal-cli's HTTP daemon") {
		t.Errorf("LastError %q", le)
	}
}

func TestConfigurationErrorsGiveStateError(t *testing.T) {
	cases := map[string]struct {
		setup func(fs *fakesignal.Server)
		want  string
	}{
		"account not in listAccounts": {
			func(fs *fakesignal.Server) { fs.SetAccounts(fakesignal.Account{Number: "+15559999999"}) },
			"has no account +15550001111 (hint: register or link it",
		},
		"events 400": {
			func(fs *fakesignal.Server) { fs.FailEvents(fakesignal.Failure{Status: http.StatusBadRequest}) },
			"has no account +15550001111 (HTTP 400",
		},
		"proxy 401": {
			func(fs *fakesignal.Server) {
				fs.FailNext("version", fakesignal.Failure{Status: http.StatusUnauthorized})
			},
			"HTTP 401",
		},
		"proxy 403 on events": {
			func(fs *fakesignal.Server) { fs.FailEvents(fakesignal.Failure{Status: http.StatusForbidden}) },
			"HTTP 403",
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			fs := fakesignal.New(t)
			c.setup(fs)
			h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
			h.a.slowRetry = time.Hour
			h.start()
			chantest.WaitFor(t, "StateError", func() bool { return h.a.Status().State == channels.StateError })
			if le := h.a.Status().LastError; !strings.Contains(le, c.want) || !strings.HasPrefix(le, "signal: ") {
				t.Errorf("LastError %q lacks %q", le, c.want)
			}
		})
	}
}

func TestStateErrorRecovers(t *testing.T) {
	fs := fakesignal.New(t)
	fs.FailEvents(fakesignal.Failure{Status: http.StatusBadRequest})
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.start()
	chantest.WaitFor(t, "StateError", func() bool { return h.a.Status().State == channels.StateError })
	h.waitStreams(1) // retried slowly, and the next attempt works
}

func TestMultiAccountDaemon(t *testing.T) {
	fs := fakesignal.New(t)
	other := fakesignal.Account{Number: "+15559999999", UUID: "99999999-9999-4999-8999-999999999999"}
	fs.SetAccounts(other, fakesignal.Account{Number: fakesignal.DefaultAccount, UUID: fakesignal.DefaultUUID})
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	h.connected()
	o := dm("for the other account")
	fs.Push(fakesignal.Notification{Account: other.Number, Envelope: &o})
	mine := dm("mine")
	fs.Push(fakesignal.Notification{Account: fakesignal.DefaultAccount, Envelope: &mine})
	h.nextIs("mine")
	if _, err := h.a.Send(context.Background(), channels.Target{ChatID: alice}, "reply"); err != nil {
		t.Fatal(err)
	}
	if s := fs.Sent(); s[0].Account != fakesignal.DefaultAccount {
		t.Errorf("sent from %q", s[0].Account)
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	fs := fakesignal.New(t)
	fs.SetKeepAlive(10 * time.Millisecond)
	before := runtime.NumGoroutine()
	h := newHarness(t, fs, config.SignalAccount{Account: fakesignal.DefaultAccount})
	if err := h.a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.waitStreams(1)
	fs.Receive(dm("x"))
	h.nextIs("x")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if st := h.a.Status().State; st != channels.StateStopped {
		t.Errorf("state %q after Stop", st)
	}
	chantest.NoLeak(t, before)
	// Start again after Stop works.
	h.connected()
}

func TestNewValidates(t *testing.T) {
	h := func(context.Context, channels.Message) error { return nil }
	for _, c := range []struct {
		cfg  config.SignalAccount
		want string
	}{
		{config.SignalAccount{HTTPURL: "ftp://x"}, "not an http(s) URL"},
		{config.SignalAccount{HTTPURL: "http://127.0.0.1:8080/?a=b"}, "query"},
		{config.SignalAccount{Account: "15550001111"}, "E.164"},
	} {
		if _, err := New(Options{Config: c.cfg, Handler: h}); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "hint") {
			t.Errorf("%+v: err %v, want %q with a hint", c.cfg, err, c.want)
		}
	}
	a, err := New(Options{Handler: h})
	if err != nil || a.base != DefaultHTTPURL || a.Channel() != "signal" || a.Account() != "default" {
		t.Errorf("defaults: %v %+v", err, a)
	}
	if _, err := New(Options{}); err == nil {
		t.Error("no handler accepted")
	}
}

func TestInvariant10_HTTPURLCredentialsNeverEchoed(t *testing.T) {
	_, err := New(Options{Config: config.SignalAccount{HTTPURL: "http://admin:hunter2secret@127.0.0.1:8080"},
		Handler: func(context.Context, channels.Message) error { return nil }})
	if err == nil {
		t.Fatal("an httpUrl with a password was accepted")
	}
	if strings.Contains(err.Error(), "hunter2secret") || strings.Contains(err.Error(), "admin") {
		t.Errorf("error echoes the credentials: %v", err)
	}
}

func TestInvariant7_OnlyTheDaemonOriginIsReachable(t *testing.T) {
	fs := fakesignal.New(t)
	other := httptest.NewServer(http.NotFoundHandler())
	defer other.Close()
	h := newHarness(t, fs, config.SignalAccount{})
	for _, c := range []*http.Client{h.a.rpc, h.a.events} {
		resp, err := c.Get(other.URL)
		if err == nil {
			resp.Body.Close()
			t.Fatal("the adapter's client reached another loopback origin")
		}
		if !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("err %v is not a netguard refusal", err)
		}
	}
}
