package router_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/channels/discord"
	"github.com/talonclaw/talon/internal/channels/signal"
	"github.com/talonclaw/talon/internal/channels/slack"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakediscord"
	"github.com/talonclaw/talon/internal/testutil/fakesignal"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

// routerWith is a Router over one real adapter (made by mk with the
// Router's handler), an approvals Manager whose only approver is the
// Router (no operator client), and a request from a hijacked session
// pending; it returns where the request's outcome arrives.
func routerWith(t *testing.T, cfg *config.Config, mk func(channels.Handler) channels.Adapter) (*router.Router, <-chan store.Approval) {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &router.Router{Config: func() *config.Config { return cfg }, Access: &access.Checker{Store: st, Config: func() *config.Config { return cfg }}}
	m := &approvals.Manager{Store: st, HasApprover: func() bool { return false }}
	m.AddReach(r.ApprovalReach())
	r.Approvals = m
	ad := mk(r.Handle)
	r.Add(ad)
	if err := r.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		r.Stop(ctx)
	})
	chantest.WaitState(t, ad, channels.StateConnected)
	out := make(chan store.Approval, 1)
	go func() {
		a, err := m.Ask(context.Background(), approvals.Request{SessionKey: "agent:main:main", Tool: "exec",
			Args: json.RawMessage(`{"command":"touch marker"}`), Reason: "not on the allowlist", Timeout: time.Minute, Fallback: "deny"})
		if err != nil {
			a.Status = "error: " + err.Error()
		}
		out <- a
	}()
	return r, out
}

func pendingStatus(t *testing.T, got <-chan store.Approval) {
	t.Helper()
	select {
	case a := <-got:
		t.Fatalf("the request ended: %+v", a)
	default:
	}
}

// TestInvariant8_DiscordOwnerButton: the request reaches the owner's DM
// channel with buttons; another user's press is refused (ephemerally) and
// changes nothing; the owner's press resolves it and the DM is told.
func TestInvariant8_DiscordOwnerButton(t *testing.T) {
	const owner, other = "200000000000000001", "200000000000000002"
	fake := fakediscord.New(t)
	cfg := config.Default()
	cfg.Channels.Discord = &config.Discord{Enabled: true}
	cfg.Channels.Discord.DMPolicy = "pairing"
	cfg.Commands.OwnerAllowFrom = []string{"discord:" + owner}
	_, got := routerWith(t, cfg, func(h channels.Handler) channels.Adapter {
		a, err := discord.New(discord.Options{Config: config.DiscordAccount{Token: secret.New(fake.Token), APIBaseURL: fake.URL}, Handler: h})
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
	sent := fake.WaitSent(1)[0]
	if sent.ChannelID == "" || sent.ChannelID != fake.DMChannel(owner) || !strings.Contains(sent.Content, "exec: touch marker") || len(sent.Buttons) != 3 {
		t.Fatalf("request %+v", sent)
	}
	fake.Press(sent, other, "", sent.Buttons[0].CustomID)
	if r := fake.WaitResponses(1); !strings.Contains(r[0].Content, "Only the owner") || r[0].Flags != 64 {
		t.Fatalf("response %+v", r)
	}
	// Discord shows the bot its own messages: a hijacked model making the
	// bot write "/approve …" answers nothing.
	id := regexp.MustCompile(`id ([a-z2-9]{10})`).FindStringSubmatch(sent.Content)[1]
	fake.MessageCreate(map[string]any{"id": "910000000000000001", "channel_id": sent.ChannelID, "type": 0, "content": "/approve " + id + " allow-once",
		"author":    map[string]any{"id": fakediscord.BotID, "username": fakediscord.BotUsername, "bot": true, "discriminator": "0"},
		"timestamp": time.Now().UTC().Format(time.RFC3339Nano), "mentions": []any{}, "attachments": []any{}, "embeds": []any{}})
	fake.Press(sent, fakediscord.BotID, "", sent.Buttons[0].CustomID)
	fake.WaitResponses(1)
	pendingStatus(t, got)
	fake.Press(sent, owner, "", sent.Buttons[0].CustomID)
	if a := <-got; a.Status != "allowed" || a.ResolvedBy != "chat:discord:"+owner {
		t.Fatalf("%+v", a)
	}
	if r := fake.WaitResponses(2); !strings.Contains(r[1].Content, "Allowed once") {
		t.Fatalf("response %+v", r)
	}
	note := fake.WaitSent(2)[1]
	if req := fake.Sent()[0]; len(req.Buttons) != 0 {
		t.Fatalf("the answered request still has buttons: %+v", req.Buttons)
	}
	if note.ChannelID != sent.ChannelID || !strings.Contains(note.Content, "allowed once by chat:discord:"+owner) {
		t.Fatalf("note %+v", note)
	}
}

// TestInvariant8_SlackOwnerButton: the same over Slack Socket Mode; a
// stranger's press is acknowledged (Slack requires it) but answered with
// silence and changes nothing.
func TestInvariant8_SlackOwnerButton(t *testing.T) {
	const owner, other = "U0OWNER01", "U0OTHER01"
	fs := fakeslack.New(t)
	cfg := config.Default()
	cfg.Channels.Slack = &config.Slack{Enabled: true}
	cfg.Channels.Slack.DMPolicy = "pairing"
	cfg.Commands.OwnerAllowFrom = []string{"slack:" + owner}
	_, got := routerWith(t, cfg, func(h channels.Handler) channels.Adapter {
		a, err := slack.New(slack.Options{Config: config.SlackAccount{Mode: "socket", BotToken: secret.New(fs.BotToken), AppToken: secret.New(fs.AppToken),
			APIBaseURL: fs.URL}, Handler: h})
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
	post := fs.WaitPosts(1)[0]
	if post.Channel != "D0OWNER01" || !strings.Contains(post.Section, "exec: touch marker") || len(post.Buttons) != 3 {
		t.Fatalf("request %+v", post)
	}
	fs.WaitAck(fs.Press(post, other, post.Buttons[0].Value))
	pendingStatus(t, got)
	fs.WaitAck(fs.Press(post, owner, post.Buttons[2].Value))
	if a := <-got; a.Status != "denied" || a.ResolvedBy != "chat:slack:"+owner {
		t.Fatalf("%+v", a)
	}
	posts := fs.WaitPosts(3)
	if len(posts[0].Buttons) != 0 || fs.Updates() != 1 {
		t.Fatalf("the answered request still has buttons: %+v", posts[0])
	}
	after := posts[1].Text + "\n" + posts[2].Text // in either order
	if !strings.Contains(after, "Approval") || !strings.Contains(after, ": Denied.") || !strings.Contains(after, "denied by chat:slack:"+owner) {
		t.Fatalf("posts after the press: %+v", posts[1:])
	}
	for _, p := range posts {
		if strings.Contains(p.Text, "Only the owner") {
			t.Fatalf("the stranger was answered: %+v", p)
		}
	}
}

// TestInvariant8_SignalOwnerCommand: Signal has no buttons: the request
// reaches the owner's DM as text saying how to answer; another contact's
// /approve changes nothing; the owner's resolves it.
func TestInvariant8_SignalOwnerCommand(t *testing.T) {
	const owner, other = "0a0a0a0a-2222-4222-8222-000000000002", "0c0c0c0c-3333-4333-8333-000000000003"
	fs := fakesignal.New(t)
	cfg := config.Default()
	cfg.Channels.Signal = &config.Signal{Enabled: true}
	cfg.Channels.Signal.DMPolicy = "allowlist"
	cfg.Channels.Signal.AllowFrom = []string{other}
	cfg.Commands.OwnerAllowFrom = []string{"signal:" + owner}
	_, got := routerWith(t, cfg, func(h channels.Handler) channels.Adapter {
		a, err := signal.New(signal.Options{Config: config.SignalAccount{Account: fakesignal.DefaultAccount, HTTPURL: fs.URL}, Handler: h})
		if err != nil {
			t.Fatal(err)
		}
		return a
	})
	var req fakesignal.Send
	chantest.WaitFor(t, "the request", func() bool {
		for _, s := range fs.Sent() {
			if strings.HasPrefix(s.Message, "Approval needed") {
				req = s
				return true
			}
		}
		return false
	})
	m := regexp.MustCompile(`id ([a-z2-9]{10})`).FindStringSubmatch(req.Message)
	if len(req.Recipient) != 1 || req.Recipient[0] != owner || m == nil || !strings.Contains(req.Message, "/approve "+m[1]+" allow-once") {
		t.Fatalf("request %+v", req)
	}
	dm := func(from, text string) {
		ts := time.Now().UnixMilli()
		fs.Receive(fakesignal.Envelope{Source: from, SourceUUID: from, SourceDevice: 1, Timestamp: ts,
			DataMessage: &fakesignal.DataMessage{Timestamp: ts, Message: fakesignal.Text(text)}})
	}
	dm(other, "/approve "+m[1]+" allow-once")
	chantest.WaitFor(t, "the refusal", func() bool {
		for _, s := range fs.Sent() {
			if len(s.Recipient) == 1 && s.Recipient[0] == other && strings.Contains(s.Message, "Only the owner") {
				return true
			}
		}
		return false
	})
	pendingStatus(t, got)
	dm(owner, "/approve "+m[1]+" allow-once")
	if a := <-got; a.Status != "allowed" || a.ResolvedBy != "chat:signal:"+owner {
		t.Fatalf("%+v", a)
	}
}
