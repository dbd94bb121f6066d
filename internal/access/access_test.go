package access

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

func newStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// telegram returns a config with a Telegram channel whose access settings
// edit may change.
func telegram(edit func(*config.Config)) *config.Config {
	cfg := config.Default()
	cfg.Channels.Telegram = &config.Telegram{Enabled: true}
	cfg.Channels.Telegram.DMPolicy = "pairing"
	cfg.Channels.Telegram.GroupPolicy = "allowlist"
	cfg.Channels.Telegram.RequireMention = true
	if edit != nil {
		edit(cfg)
	}
	return cfg
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func checker(t *testing.T, cfg *config.Config) (*Checker, *clock) {
	clk := &clock{time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)}
	return &Checker{Store: newStore(t), Config: func() *config.Config { return cfg }, Now: clk.now}, clk
}

func dm(sender string) Request {
	return Request{Channel: "telegram", Account: "default", SenderID: sender, ChatID: sender, ChatType: "direct"}
}

func check(t *testing.T, c *Checker, r Request) Decision {
	t.Helper()
	d, err := c.Check(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestInvariant3_NothingConfiguredOnlyOwnerDMs(t *testing.T) {
	for _, pol := range []string{"pairing", "allowlist"} {
		c, _ := checker(t, telegram(func(c *config.Config) {
			c.Channels.Telegram.DMPolicy = pol
			c.Commands.OwnerAllowFrom = []string{"telegram:42"}
		}))
		if d := check(t, c, dm("42")); !d.Allow || d.Trust != policy.TrustOwner {
			t.Fatalf("%s: owner: %+v", pol, d)
		}
		if d := check(t, c, dm("7")); d.Allow {
			t.Fatalf("%s: stranger allowed: %+v", pol, d)
		}
		// The owner of another channel with the same id is a stranger here.
		d := check(t, c, Request{Channel: "telegram", SenderID: "42x", ChatType: "direct"})
		if d.Allow {
			t.Fatalf("%s: prefix of the owner id allowed", pol)
		}
	}
}

func TestInvariant3_StrangerGetsOneCodeThenSilence(t *testing.T) {
	c, _ := checker(t, telegram(nil))
	d := check(t, c, dm("7"))
	if d.Allow || d.Reason != ReasonPairingCreated || d.Pairing == nil {
		t.Fatalf("first message: %+v", d)
	}
	code := d.Pairing.Code
	if len(code) != CodeLength || strings.Trim(code, CodeAlphabet) != "" {
		t.Fatalf("code %q is not %d characters of the pairing alphabet", code, CodeLength)
	}
	for range 3 {
		if d := check(t, c, dm("7")); d.Allow || d.Pairing != nil || d.Reason != ReasonPairingPending {
			t.Fatalf("repeat message: %+v (a code is re-sent only for a new request)", d)
		}
	}
}

func TestInvariant3_FourthPendingRequestDropped(t *testing.T) {
	c, _ := checker(t, telegram(nil))
	for i, s := range []string{"1", "2", "3"} {
		if d := check(t, c, dm(s)); d.Pairing == nil {
			t.Fatalf("request %d not created: %+v", i+1, d)
		}
	}
	if d := check(t, c, dm("4")); d.Allow || d.Pairing != nil || d.Reason != ReasonPairingFull {
		t.Fatalf("fourth: %+v", d)
	}
	// Another account of the channel has its own three.
	r := dm("4")
	r.Account = "second"
	if d := check(t, c, r); d.Pairing == nil {
		t.Fatalf("other account: %+v", d)
	}
}

func TestInvariant3_ExpiredCodeFails(t *testing.T) {
	c, clk := checker(t, telegram(nil))
	d := check(t, c, dm("7"))
	p := &Pairing{Store: c.Store, Now: clk.now}
	clk.t = clk.t.Add(CodeTTL + time.Second)
	if _, err := p.Approve(context.Background(), "telegram", d.Pairing.Code, "test"); !errors.Is(err, store.ErrPairingExpired) {
		t.Fatalf("approving an expired code: %v", err)
	}
	if d := check(t, c, dm("7")); d.Allow {
		t.Fatal("expired request let the sender in")
	}
	// The expired request no longer counts: the sender gets a new code.
	if d := check(t, c, dm("8")); d.Pairing == nil {
		t.Fatalf("after expiry: %+v", d)
	}
}

func TestInvariant3_ApprovalLetsDMsThroughButNotGroups(t *testing.T) {
	var owner string
	c, clk := checker(t, telegram(func(c *config.Config) {
		c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-100": {RequireMention: false}}
		c.Channels.Telegram.GroupAllowFrom = []string{"99"}
	}))
	d := check(t, c, dm("7"))
	p := &Pairing{Store: c.Store, Now: clk.now, BootstrapOwner: func(_ context.Context, e string) (bool, error) {
		if owner != "" {
			return false, nil
		}
		owner = e
		return true, nil
	}}
	res, err := p.Approve(context.Background(), "telegram", strings.ToLower(d.Pairing.Code), "cli")
	if err != nil || !res.OwnerSet || owner != "telegram:7" {
		t.Fatalf("approve: %+v %v (owner %q)", res, err, owner)
	}
	if d := check(t, c, dm("7")); !d.Allow || d.Trust != policy.TrustTrusted {
		t.Fatalf("after approval: %+v", d)
	}
	if _, err := p.Approve(context.Background(), "telegram", d.Pairing.Code, "cli"); !errors.Is(err, store.ErrPairingResolved) {
		t.Fatalf("second approval: %v", err)
	}
	g := Request{Channel: "telegram", Account: "default", SenderID: "7", ChatID: "-100", ChatType: "group", Mentioned: true}
	if d := check(t, c, g); d.Allow {
		t.Fatalf("DM approval granted group access: %+v", d)
	}
}

func TestInvariant3_GroupRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		edit   func(*config.Config)
		req    Request
		allow  bool
		reason string
	}{
		{"not allowlisted", nil, Request{SenderID: "5", ChatID: "-1", Mentioned: true}, false, ReasonGroupNotAllowed},
		{"owner in an unlisted group", func(c *config.Config) { c.Commands.OwnerAllowFrom = []string{"telegram:5"} },
			Request{SenderID: "5", ChatID: "-1", Mentioned: true}, false, ReasonGroupNotAllowed},
		{"listed, no mention", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-1": {RequireMention: true}}
		},
			Request{SenderID: "5", ChatID: "-1"}, false, ReasonNoMention},
		{"listed, mention", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-1": {RequireMention: true}}
		},
			Request{SenderID: "5", ChatID: "-1", Mentioned: true}, true, ReasonOpen},
		{"listed, reply to bot counts as a mention", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-1": {RequireMention: true}}
		}, Request{SenderID: "5", ChatID: "-1", ReplyToBot: true}, true, ReasonOpen},
		{"reply to bot does not bypass groupAllowFrom", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-1": {RequireMention: true}}
			c.Channels.Telegram.GroupAllowFrom = []string{"6"}
		}, Request{SenderID: "5", ChatID: "-1", ReplyToBot: true, Mentioned: true}, false, ReasonSenderNotInList},
		{"groupAllowFrom alone admits its senders anywhere", func(c *config.Config) { c.Channels.Telegram.GroupAllowFrom = []string{"5"} },
			Request{SenderID: "5", ChatID: "-9", Mentioned: true}, true, ReasonAllowlisted},
		{"wildcard group without mention", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"*": {RequireMention: true}}
		},
			Request{SenderID: "5", ChatID: "-9"}, false, ReasonNoMention},
		{"open policy still mention-gated", func(c *config.Config) { c.Channels.Telegram.GroupPolicy = "open" },
			Request{SenderID: "5", ChatID: "-9"}, false, ReasonNoMention},
		{"disabled", func(c *config.Config) {
			c.Channels.Telegram.GroupPolicy = "disabled"
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"*": {}}
		}, Request{SenderID: "5", ChatID: "-9", Mentioned: true}, false, ReasonGroupDisabled},
		{"per-group sender list", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-1": {AllowFrom: []string{"@fam"}}}
			c.AccessGroups = map[string][]string{"fam": {"telegram:5"}}
		}, Request{SenderID: "5", ChatID: "-1"}, true, ReasonAllowlisted},
		{"access group entry of another channel", func(c *config.Config) {
			c.Channels.Telegram.Groups = map[string]config.ChannelGroup{"-1": {AllowFrom: []string{"@fam"}}}
			c.AccessGroups = map[string][]string{"fam": {"signal:5"}}
		}, Request{SenderID: "5", ChatID: "-1"}, false, ReasonSenderNotInList},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := checker(t, telegram(tc.edit))
			r := tc.req
			r.Channel, r.Account, r.ChatType = "telegram", "default", "group"
			d := check(t, c, r)
			if d.Allow != tc.allow || d.Reason != tc.reason {
				t.Fatalf("got allow=%v reason=%s, want allow=%v reason=%s", d.Allow, d.Reason, tc.allow, tc.reason)
			}
			if d.Allow && d.Trust != policy.TrustUntrusted {
				t.Fatalf("non-owner in a group has trust %s, want untrusted", d.Trust)
			}
			if d.Pairing != nil {
				t.Fatal("a group message created a pairing request")
			}
		})
	}
}

func TestInvariant3_NamesNeverMatchUnlessDangerous(t *testing.T) {
	c, _ := checker(t, telegram(func(c *config.Config) {
		c.Channels.Telegram.DMPolicy = "allowlist"
		c.Channels.Telegram.AllowFrom = []string{"alice", "@alice"}
	}))
	r := dm("13")
	r.SenderUsername, r.SenderName = "alice", "alice"
	if d := check(t, c, r); d.Allow {
		t.Fatal("a username matched allowFrom without dangerouslyAllowNameMatching")
	}
	c.Config().Channels.Telegram.DangerouslyAllowNameMatching = true
	if d := check(t, c, r); !d.Allow || d.Trust != policy.TrustTrusted {
		t.Fatalf("with name matching: %+v", d)
	}
}

func TestInvariant3_OpenAndDisabledDMs(t *testing.T) {
	c, _ := checker(t, telegram(func(c *config.Config) {
		c.Channels.Telegram.DMPolicy = "open"
		c.Channels.Telegram.AllowFrom = []string{"*"}
	}))
	if d := check(t, c, dm("7")); !d.Allow || d.Trust != policy.TrustUntrusted {
		t.Fatalf("open DM stranger: %+v (must be untrusted)", d)
	}
	c.Config().Channels.Telegram.DMPolicy = "disabled"
	c.Config().Commands.OwnerAllowFrom = []string{"telegram:7"}
	if d := check(t, c, dm("7")); d.Allow || d.Reason != ReasonDMDisabled {
		t.Fatalf("disabled: %+v", d)
	}
	if d := check(t, c, Request{Channel: "discord", SenderID: "7", ChatType: "direct"}); d.Allow || d.Reason != ReasonNoChannel {
		t.Fatalf("unconfigured channel: %+v", d)
	}
}

func TestPairingRejectAndBadInput(t *testing.T) {
	c, clk := checker(t, telegram(nil))
	d := check(t, c, dm("7"))
	p := &Pairing{Store: c.Store, Now: clk.now}
	if _, err := p.Approve(context.Background(), "telegram", "short", "x"); err == nil || !strings.Contains(err.Error(), "not a pairing code") {
		t.Fatalf("bad code: %v", err)
	}
	if _, err := p.Approve(context.Background(), "irc", d.Pairing.Code, "x"); err == nil || !strings.Contains(err.Error(), "unknown channel") {
		t.Fatalf("bad channel: %v", err)
	}
	if _, err := p.Approve(context.Background(), "telegram", "ABCDEFGH", "x"); !errors.Is(err, store.ErrNoPairing) {
		t.Fatalf("unknown code: %v", err)
	}
	if _, err := p.Reject(context.Background(), "telegram", d.Pairing.Code, "x"); err != nil {
		t.Fatal(err)
	}
	if d := check(t, c, dm("7")); d.Allow {
		t.Fatal("rejected sender allowed")
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		c := NewCode()
		if !ValidCode(c) || seen[c] {
			t.Fatalf("bad or repeated code %q", c)
		}
		seen[c] = true
	}
}
