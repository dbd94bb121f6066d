package discord

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakediscord"
)

type setup struct {
	fake *fakediscord.Server
	a    *Adapter
	in   *chantest.Recorder
	logs *chantest.SyncBuffer
}

// start makes an adapter for fake with token (the fake's own when
// empty), with the default netguard client, and starts it; it is stopped
// when the test ends.
func start(t *testing.T, fake *fakediscord.Server, token string) *setup {
	t.Helper()
	if token == "" {
		token = fake.Token
	}
	st := &setup{fake: fake, in: &chantest.Recorder{}, logs: &chantest.SyncBuffer{}}
	a, err := New(Options{
		Account: "work",
		Config:  config.DiscordAccount{Token: secret.New(token), APIBaseURL: fake.URL},
		Handler: st.in.Handle,
		Logger:  st.logs.Logger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	a.backoff = channels.Backoff{Base: 20 * time.Millisecond, Max: 200 * time.Millisecond}
	st.a = a
	chantest.Start(t, context.Background(), a)
	return st
}

// msg is a MESSAGE_CREATE d object as Discord sends it.
func msg(id, channelID, guildID, authorID, content string, extra string) string {
	g := ""
	if guildID != "" {
		g = fmt.Sprintf(`"guild_id":%q,`, guildID)
	}
	if extra != "" {
		extra = "," + extra
	}
	return fmt.Sprintf(`{"id":%q,"channel_id":%q,%s"type":0,"content":%q,`+
		`"author":{"id":%q,"username":"user%s","global_name":"User %s","discriminator":"0"},`+
		`"timestamp":"2025-01-02T03:04:05.000000+00:00","edited_timestamp":null,"tts":false,`+
		`"mention_everyone":false,"mentions":[],"mention_roles":[],"attachments":[],"embeds":[],"pinned":false,"flags":0%s}`,
		id, channelID, g, content, authorID, authorID, authorID, extra)
}

const (
	alice = "200000000000000001"
	guild = "300000000000000001"
	text  = "400000000000000001" // a guild text channel
	dm    = "500000000000000001"
)

func TestInboundConversion(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	fake.WaitReady(1)
	chantest.WaitState(t, st.a, channels.StateConnected)

	// The gateway tells the bot about a guild with a thread, and a group DM.
	fake.Dispatch("GUILD_CREATE", fmt.Sprintf(`{"id":%q,"name":"g","channels":[{"id":%q,"type":0,"name":"general"}],`+
		`"threads":[{"id":"600000000000000001","type":11,"parent_id":%q,"guild_id":%q,"name":"t"}],"members":[],"roles":[],"emojis":[]}`,
		guild, text, text, guild))
	fake.Dispatch("CHANNEL_CREATE", `{"id":"700000000000000001","type":3,"recipients":[]}`)

	bot := fakediscord.BotID
	fake.MessageCreate(msg("1001", dm, "", alice, "hello in dm", ""))
	fake.MessageCreate(msg("1002", text, guild, alice, "<@"+bot+"> hi", fmt.Sprintf(`"mentions":[{"id":%q,"username":"talonbot","bot":true}],"member":{"nick":"Ally"}`, bot)))
	fake.MessageCreate(msg("1003", text, guild, alice, "@everyone look", `"mention_everyone":true`))
	fake.MessageCreate(msg("1004", text, guild, bot, "my own words", ""))
	fake.MessageCreate(msg("1005", "700000000000000001", "", alice, "group dm", ""))
	fake.MessageCreate(msg("1006", "600000000000000001", guild, alice, "in a thread", ""))
	fake.MessageCreate(strings.Replace(msg("1007", text, guild, alice, "replying", fmt.Sprintf(
		`"message_reference":{"message_id":"900","channel_id":%q,"guild_id":%q},"referenced_message":%s`,
		text, guild, msg("900", text, guild, bot, "earlier answer", ""))), `"type":0`, `"type":19`, 1))
	fake.MessageCreate(msg("1008", dm, "", alice, "", fmt.Sprintf(
		`"message_reference":{"type":1,"message_id":"800","channel_id":"1"},"message_snapshots":[{"message":{"content":"forwarded text","type":0,"timestamp":"2025-01-01T00:00:00Z","attachments":[{"id":"1","filename":"a.png","size":10,"content_type":"image/png","url":"u","proxy_url":"p"}]}}]`)))
	fake.MessageCreate(msg("1009", dm, "", alice, "files", `"attachments":[{"id":"2","filename":"r.pdf","size":1234,"content_type":"application/pdf","url":"u","proxy_url":"p"},{"id":"3","filename":"voice-message.ogg","size":99,"content_type":"audio/ogg","url":"u","proxy_url":"p"}],"flags":8192`))
	fake.MessageCreate(`{"id":"1010","channel_id":"` + text + `","guild_id":"` + guild + `","type":7,"content":"","author":{"id":"` + alice + `","username":"a"},"timestamp":"2025-01-02T03:04:05Z"}`) // member join
	fake.MessageCreate(msg("1011", dm, "", "200000000000000002", "from a bot", `"author":{"id":"200000000000000002","username":"otherbot","bot":true}`))
	fake.MessageCreate(msg("1099", dm, "", alice, "end", ""))

	got := st.in.WaitID(t, "1099")
	byID := map[string]channels.Message{}
	var order []string
	for _, m := range got {
		byID[m.ID] = m
		order = append(order, m.ID)
	}
	if want := "1001 1002 1003 1005 1006 1007 1008 1009 1011 1099"; strings.Join(order, " ") != want {
		t.Fatalf("delivered %v, want %s (own message and system message dropped, order kept)", order, want)
	}
	check := func(id string, f func(m channels.Message) string) {
		t.Helper()
		if problem := f(byID[id]); problem != "" {
			t.Errorf("message %s: %s\n%+v", id, problem, byID[id])
		}
	}
	check("1001", func(m channels.Message) string {
		if m.ChatType != channels.ChatDirect || m.ChatID != dm || m.SenderID != alice || m.Channel != "discord" || m.Account != "work" || m.GuildID != "" || m.Text != "hello in dm" {
			return "not a DM from alice"
		}
		if m.SenderUsername != "user"+alice || m.SenderName != "User "+alice || m.Time.IsZero() {
			return "names or time missing"
		}
		return ""
	})
	check("1002", func(m channels.Message) string {
		if m.ChatType != channels.ChatChannel || m.ChatID != text || m.GuildID != guild || !m.MentionsBot || m.SenderName != "Ally" {
			return "want a guild channel message mentioning the bot, from nick Ally"
		}
		return ""
	})
	check("1003", func(m channels.Message) string {
		if m.MentionsBot {
			return "@everyone is not a mention of the bot"
		}
		return ""
	})
	check("1005", func(m channels.Message) string {
		if m.ChatType != channels.ChatGroup || m.ChatID != "700000000000000001" {
			return "want a group DM"
		}
		return ""
	})
	check("1006", func(m channels.Message) string {
		if m.ChatType != channels.ChatChannel || m.ThreadID != "600000000000000001" || m.ChatID != text || m.GuildID != guild {
			return "want a thread of the text channel"
		}
		return ""
	})
	check("1007", func(m channels.Message) string {
		if !m.ReplyToBot || m.ReplyTo == nil || m.ReplyTo.ID != "900" || m.ReplyTo.SenderID != fakediscord.BotID || m.ReplyTo.Text != "earlier answer" || m.MentionsBot {
			return "want a reply to the bot with its quote"
		}
		return ""
	})
	check("1008", func(m channels.Message) string {
		if !m.Forwarded || m.Text != "forwarded text" || len(m.Attachments) != 1 || m.Attachments[0].Kind != "photo" {
			return "want a forwarded message with the snapshot's text and photo"
		}
		return ""
	})
	check("1009", func(m channels.Message) string {
		want := []channels.Attachment{{Kind: "file", Name: "r.pdf", MIME: "application/pdf", Size: 1234}, {Kind: "voice", Name: "voice-message.ogg", MIME: "audio/ogg", Size: 99}}
		if fmt.Sprint(m.Attachments) != fmt.Sprint(want) {
			return fmt.Sprintf("attachments %+v, want %+v", m.Attachments, want)
		}
		return ""
	})
	check("1011", func(m channels.Message) string {
		if !m.SenderIsBot {
			return "another bot's message must be marked SenderIsBot"
		}
		return ""
	})
	if s := st.a.Status(); s.Received != 10 || s.BotID != fakediscord.BotID || s.BotName != fakediscord.BotUsername {
		t.Errorf("status %+v", s)
	}
}

func TestRedeliveredMessageHandledOnce(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	fake.WaitReady(1)
	fake.MessageCreate(msg("2001", dm, "", alice, "once", ""))
	fake.MessageCreate(msg("2001", dm, "", alice, "once", ""))
	fake.MessageCreate(msg("2002", dm, "", alice, "end", ""))
	if got := st.in.WaitID(t, "2002"); len(got) != 2 {
		t.Fatalf("got %d messages, want 2: %+v", len(got), got)
	}
}

func TestIdentifyIntentsAndHeartbeat(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	fake.HeartbeatInterval = 50 * time.Millisecond
	start(t, fake, "")
	fake.WaitReady(1)
	fake.WaitHeartbeats(3)
	s := fake.Stats()
	// GUILDS 1<<0, GUILD_MESSAGES 1<<9, DIRECT_MESSAGES 1<<12, MESSAGE_CONTENT 1<<15.
	if want := 1 | 1<<9 | 1<<12 | 1<<15; s.Intents != want {
		t.Errorf("intents %d, want %d", s.Intents, want)
	}
	if s.Query[1] != "json" {
		t.Errorf("gateway query %v, want encoding=json", s.Query)
	}
}

func TestSendChunksAtTheLimit(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	body := strings.Repeat("é", 1999) + " " + strings.Repeat("ü", 2000) + " tail"
	d, err := st.a.Send(context.Background(), channels.Target{ChatID: text, ReplyTo: "1234"}, body)
	if err != nil {
		t.Fatal(err)
	}
	sent := fake.Sent()
	if len(sent) != 3 || len(d.MessageIDs) != 3 {
		t.Fatalf("sent %d chunks (%v), want 3", len(sent), d.MessageIDs)
	}
	for i, s := range sent {
		if n := len([]rune(s.Content)); n > channels.DiscordMaxLen {
			t.Errorf("chunk %d has %d characters", i, n)
		}
		if s.ChannelID != text || d.MessageIDs[i] != s.ID {
			t.Errorf("chunk %d went to %s as %s (delivery says %s)", i, s.ChannelID, s.ID, d.MessageIDs[i])
		}
		if wantReply := map[bool]string{true: "1234", false: ""}[i == 0]; s.ReplyTo != wantReply {
			t.Errorf("chunk %d replies to %q, want %q", i, s.ReplyTo, wantReply)
		}
	}
	if sent[2].Content != "tail" {
		t.Errorf("last chunk %q", sent[2].Content)
	}
	if s := st.a.Status(); s.Sent != 3 {
		t.Errorf("Sent counter %d", s.Sent)
	}

	// A thread target posts in the thread.
	if _, err := st.a.Send(context.Background(), channels.Target{ChatID: text, ThreadID: "600000000000000001"}, "in thread"); err != nil {
		t.Fatal(err)
	}
	if s := fake.Sent()[3]; s.ChannelID != "600000000000000001" {
		t.Errorf("thread reply went to %s", s.ChannelID)
	}
}

// The bot can never ping @everyone, @here, roles or users because a model
// wrote the syntax: every message carries allowed_mentions {"parse": []}.
func TestSendNeverPings(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	for _, text := range []string{"@everyone wake up", "@here now", "<@&12345> role", "<@" + alice + "> you"} {
		if _, err := st.a.Send(context.Background(), channels.Target{ChatID: dm, ReplyTo: "77"}, text); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range fake.Sent() {
		var am struct {
			Parse       *[]string `json:"parse"`
			Users       []string  `json:"users"`
			Roles       []string  `json:"roles"`
			RepliedUser bool      `json:"replied_user"`
		}
		if err := json.Unmarshal([]byte(s.AllowedMentions), &am); err != nil {
			t.Fatalf("allowed_mentions %q: %v", s.AllowedMentions, err)
		}
		if am.Parse == nil || len(*am.Parse) != 0 || len(am.Users) != 0 || len(am.Roles) != 0 || am.RepliedUser {
			t.Errorf("message %q has allowed_mentions %s, want {\"parse\":[]}", s.Content, s.AllowedMentions)
		}
	}
}

func TestRateLimitRetriedAfterTheDelay(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		after  time.Duration
		inJSON bool
	}{
		{"json retry_after", 300 * time.Millisecond, true},
		{"Retry-After header only", time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fake := fakediscord.New(t)
			st := start(t, fake, "")
			fake.RateLimitMessages(1, tc.after, tc.inJSON)
			if _, err := st.a.Send(context.Background(), channels.Target{ChatID: dm}, "hi"); err != nil {
				t.Fatal(err)
			}
			at := fake.Attempts()
			if len(at) != 2 || at[0].Status != 429 || at[1].Status != 200 {
				t.Fatalf("attempts %+v", at)
			}
			if gap := at[1].At.Sub(at[0].At); gap < tc.after {
				t.Errorf("retried after %v, before the %v Discord asked for", gap, tc.after)
			}
		})
	}
}

func TestRateLimitErrorMapping(t *testing.T) {
	t.Parallel()
	f := 0.25
	if d := retryAfter(&f, http.Header{"Retry-After": {"1"}}); d != 250*time.Millisecond {
		t.Errorf("json 0.25 → %v", d)
	}
	if d := retryAfter(nil, http.Header{"Retry-After": {"3"}}); d != 3*time.Second {
		t.Errorf("header 3 → %v", d)
	}
	if d := retryAfter(nil, http.Header{}); d != time.Second {
		t.Errorf("nothing → %v", d)
	}
	neg := -5.0
	if d := retryAfter(&neg, http.Header{"X-Ratelimit-Reset-After": {"2.5"}}); d != 2500*time.Millisecond {
		t.Errorf("negative json, reset-after 2.5 → %v", d)
	}
}

func TestPermanentErrorNotRetried(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	fake.FailMessages(1, http.StatusForbidden)
	_, err := st.a.Send(context.Background(), channels.Target{ChatID: text}, "hi")
	if !channels.IsPermanent(err) || !strings.Contains(err.Error(), "Missing Permissions") {
		t.Fatalf("err = %v, want a permanent Missing Permissions error", err)
	}
	if n := len(fake.Attempts()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
	if s := st.a.Status(); s.SendErrors != 1 {
		t.Errorf("SendErrors %d", s.SendErrors)
	}

	// A 500 is retried.
	fake.FailMessages(1, http.StatusInternalServerError)
	if _, err := st.a.Send(context.Background(), channels.Target{ChatID: text}, "again"); err != nil {
		t.Fatalf("after one 500: %v", err)
	}
}

// TestInvariant14_BadTargetRefused: a target that is not a Discord id
// (it would be pasted into the REST path) is refused before any request.
func TestInvariant14_BadTargetRefused(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	for _, tg := range []channels.Target{
		{ChatID: "../../guilds/1"},
		{ChatID: ""},
		{ChatID: "123?x=1"},
		{ChatID: "123", ThreadID: "1/2"},
		{ChatID: "123", ReplyTo: "abc"},
	} {
		if _, err := st.a.Send(context.Background(), tg, "hi"); !channels.IsPermanent(err) {
			t.Errorf("Send(%+v) = %v, want a permanent error", tg, err)
		}
		if err := st.a.Typing(context.Background(), tg); err == nil && tg.ReplyTo == "" {
			t.Errorf("Typing(%+v) succeeded", tg)
		}
	}
	if _, err := st.a.Send(context.Background(), channels.Target{ChatID: dm}, "  \n "); !channels.IsPermanent(err) {
		t.Errorf("empty text: %v", err)
	}
	if n := len(fake.Attempts()); n != 0 {
		t.Errorf("%d requests reached the API", n)
	}
}

func TestTyping(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	if err := st.a.Typing(context.Background(), channels.Target{ChatID: text, ThreadID: "600000000000000001"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Typing(); len(got) != 1 || got[0] != "600000000000000001" {
		t.Errorf("typing in %v", got)
	}
}

func TestReconnectAfterDrop(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	fake.WaitReady(1)
	chantest.WaitState(t, st.a, channels.StateConnected)
	fake.MessageCreate(msg("3001", dm, "", alice, "before", ""))
	st.in.WaitID(t, "3001")

	fake.Drop()
	fake.WaitDisconnected()
	// Sent while the bot is away: Discord replays it on RESUME.
	fake.MessageCreate(msg("3002", dm, "", alice, "while away", ""))
	fake.WaitReady(2)
	got := st.in.WaitID(t, "3002")
	if len(got) != 2 {
		t.Errorf("got %d messages, want 2", len(got))
	}
	if s := fake.Stats(); s.Resumes != 1 || s.Identifies != 1 {
		t.Errorf("identifies %d resumes %d, want 1 and 1 (resume, not a new session)", s.Identifies, s.Resumes)
	}
	s := chantest.WaitState(t, st.a, channels.StateConnected)
	if s.Reconnects < 1 {
		t.Errorf("Reconnects %d", s.Reconnects)
	}

	// A session Discord no longer knows: INVALID_SESSION, then IDENTIFY.
	fake.InvalidateSessions()
	fake.Close(4000, "Unknown error.")
	deadline := time.Now().Add(10 * time.Second)
	for fake.Stats().Identifies < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fake.WaitReady(3) // 2 identifies + 1 resume: the failed RESUME is not counted
	fake.MessageCreate(msg("3003", dm, "", alice, "new session", ""))
	st.in.WaitID(t, "3003")
}

func TestBadCredentialsStateError(t *testing.T) {
	t.Parallel()
	const wrong = "MTAw.wrong.token-abcdef"
	fake := fakediscord.New(t)
	st := start(t, fake, wrong)
	s := chantest.WaitState(t, st.a, channels.StateError)
	if !strings.Contains(s.LastError, "token was refused") || !strings.Contains(s.LastError, "channels.discord.token") {
		t.Errorf("LastError %q does not say what to fix", s.LastError)
	}
	if fake.Stats().Connections != 0 {
		t.Errorf("dialled the gateway with a refused token")
	}
	_, err := st.a.Send(context.Background(), channels.Target{ChatID: dm}, "hi")
	if !channels.IsPermanent(err) {
		t.Errorf("Send with a bad token: %v, want permanent", err)
	}

	// The REST check passes but the gateway refuses the IDENTIFY.
	fake2 := fakediscord.New(t)
	fake2.RejectIdentify()
	st2 := start(t, fake2, "")
	s = chantest.WaitState(t, st2.a, channels.StateError)
	t.Logf("REST 401: %s", st.a.Status().LastError)
	t.Logf("gateway 4004: %s", s.LastError)
	if !strings.Contains(s.LastError, "4004") || !strings.Contains(s.LastError, "token") {
		t.Errorf("LastError %q", s.LastError)
	}
	time.Sleep(200 * time.Millisecond)
	if n := fake2.Stats().Connections; n != 1 {
		t.Errorf("%d gateway connections after 4004, want 1 (no retry)", n)
	}
}

// TestInvariant10_TokenNeverInErrorsOrLogs: whatever fails, the token is
// not in an error, the status or a log line.
func TestInvariant10_TokenNeverInErrorsOrLogs(t *testing.T) {
	t.Parallel()
	fake := fakediscord.New(t)
	st := start(t, fake, "")
	fake.WaitReady(1)
	var errs []error
	fake.FailMessages(1, http.StatusBadRequest)
	_, err := st.a.Send(context.Background(), channels.Target{ChatID: dm}, "x")
	errs = append(errs, err)
	fake.Drop()
	fake.WaitReady(2)

	bad := start(t, fake, "MTAw.bad.secret-token-xyz")
	chantest.WaitState(t, bad.a, channels.StateError)
	_, err = bad.a.Send(context.Background(), channels.Target{ChatID: dm}, "x")
	errs = append(errs, err, bad.a.Typing(context.Background(), channels.Target{ChatID: dm}))

	for _, c := range []struct {
		st    *setup
		token string
	}{{st, fake.Token}, {bad, "MTAw.bad.secret-token-xyz"}} {
		text := c.st.logs.String() + fmt.Sprintf("%+v %v", c.st.a.Status(), errs)
		if strings.Contains(text, c.token) {
			t.Errorf("the token leaked:\n%s", text)
		}
	}
	if errs[1] == nil || errs[2] == nil {
		t.Errorf("errors %v", errs)
	}
}

// TestInvariant7_GatewayThroughNetguard: a gateway URL the API names that
// is neither public nor the configured origin is refused at dial time.
func TestInvariant7_GatewayThroughNetguard(t *testing.T) {
	t.Parallel()
	var touched atomic.Bool
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { touched.Store(true) }))
	defer other.Close()
	fake := fakediscord.New(t)
	fake.SetGatewayURL("ws" + strings.TrimPrefix(other.URL, "http"))
	st := start(t, fake, "")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(st.a.Status().LastError, "netguard") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := st.a.Status(); !strings.Contains(s.LastError, "netguard") || s.State == channels.StateConnected {
		t.Errorf("status %+v, want a netguard refusal", s)
	}
	t.Logf("netguard refusal: %s", st.a.Status().LastError)
	if touched.Load() {
		t.Error("the other server was contacted")
	}
}

// Two accounts with different base URLs run side by side: nothing global
// is changed to point discordgo at a base URL.
func TestTwoAccountsSideBySide(t *testing.T) {
	t.Parallel()
	f1, f2 := fakediscord.New(t), fakediscord.New(t)
	s1, s2 := start(t, f1, ""), start(t, f2, "")
	f1.WaitReady(1)
	f2.WaitReady(1)
	f1.MessageCreate(msg("4001", dm, "", alice, "one", ""))
	f2.MessageCreate(msg("4002", dm, "", alice, "two", ""))
	s1.in.WaitID(t, "4001")
	s2.in.WaitID(t, "4002")
	if len(s1.in.All()) != 1 || len(s2.in.All()) != 1 {
		t.Errorf("messages crossed accounts: %v / %v", s1.in.All(), s2.in.All())
	}
}

func TestStopLeavesNoGoroutines(t *testing.T) {
	// Not parallel: it counts goroutines.
	before := runtime.NumGoroutine()
	fake := fakediscord.New(t)
	fake.HeartbeatInterval = 20 * time.Millisecond
	in := &chantest.Recorder{}
	a, err := New(Options{Config: config.DiscordAccount{Token: secret.New(fake.Token), APIBaseURL: fake.URL}, Handler: in.Handle})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	fake.WaitReady(1)
	fake.WaitHeartbeats(2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if s := a.Status(); s.State != channels.StateStopped {
		t.Errorf("state after Stop %q", s.State)
	}
	fake.WaitDisconnected()
	a.client.CloseIdleConnections()
	// The fake's own idle HTTP connections count too; they are the fake's,
	// closed at cleanup, so allow for a few.
	chantest.NoLeak(t, before+2)
}

func TestStopDuringConnect(t *testing.T) {
	t.Parallel()
	// A gateway that accepts the WebSocket but never says HELLO.
	fake := fakediscord.New(t)
	fake.WithholdHello()
	in := &chantest.Recorder{}
	a, err := New(Options{Config: config.DiscordAccount{Token: secret.New(fake.Token), APIBaseURL: fake.URL}, Handler: in.Handle})
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	deadline := time.Now().Add(10 * time.Second)
	for fake.Stats().Connections == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // discordgo is now waiting for HELLO
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("Stop while connecting: %v", err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	h := func(context.Context, channels.Message) error { return nil }
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Handler: h}, "token is empty"},
		{Options{Handler: h, Config: config.DiscordAccount{Token: secret.New("Bot abc")}}, "without \"Bot \""},
		{Options{Config: config.DiscordAccount{Token: secret.New("abc")}}, "handler"},
		{Options{Handler: h, Config: config.DiscordAccount{Token: secret.New("abc"), APIBaseURL: "ftp://x"}}, "apiBaseUrl"},
		{Options{Handler: h, Config: config.DiscordAccount{Token: secret.New("abc"), APIBaseURL: "https://u:p@x/api"}}, "apiBaseUrl"},
	} {
		_, err := New(c.o)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v) = %v, want %q", c.o.Config, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "abc") {
			t.Errorf("error names the token: %v", err)
		}
	}
	a, err := New(Options{Handler: h, Config: config.DiscordAccount{Token: secret.New("abc")}})
	if err != nil || a.base.String() != DefaultAPIBaseURL || a.Account() != "default" || a.Channel() != "discord" {
		t.Errorf("defaults: %v %v", a, err)
	}
}

func TestRewriterMapsDiscordgoURLs(t *testing.T) {
	t.Parallel()
	var got []string
	rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.String())
		return nil, errors.New("stop")
	})
	a, _ := New(Options{Handler: func(context.Context, channels.Message) error { return nil }, Config: config.DiscordAccount{Token: secret.New("abc"), APIBaseURL: "http://127.0.0.1:9/base/api/v10/"}})
	rw := &rewriter{next: rt, base: a.base, ctx: a.lifeCtx}
	for _, u := range []string{"https://discord.com/api/v9/gateway", "https://discord.com/api/v9/gateway/bot?x=1", "http://127.0.0.1:9/base/api/v10/users/@me"} {
		req, _ := http.NewRequest("GET", u, nil)
		rw.RoundTrip(req)
	}
	want := []string{"http://127.0.0.1:9/base/api/v10/gateway", "http://127.0.0.1:9/base/api/v10/gateway/bot?x=1", "http://127.0.0.1:9/base/api/v10/users/@me"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rewrote to %v, want %v", got, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
