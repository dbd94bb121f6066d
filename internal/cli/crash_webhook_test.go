//go:build unix

package cli

import (
	"net"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

// TestInvariant14_KillDuringTelegramWebhookBursts is the kill -9 harness
// for Telegram's webhook mode: the test plays Telegram, posting each
// update to the gateway's receiver (three at a time, as Telegram's
// max_connections allows) and posting it again until it is answered 200 —
// also while the gateway is down and after it is back. The gateway is
// killed with SIGKILL at random points during bursts. At the end every
// update was acknowledged, is in a transcript once and got exactly one
// reply (save the documented residual window, as in the polling harness),
// no journal row is pending and the audit log verifies.
//
// TALON_CRASH_KILLS sets the number of kills (default 5).
func TestInvariant14_KillDuringTelegramWebhookBursts(t *testing.T) {
	llm := fakellm.New(t)
	llm.Default = fakellm.Reply{Echo: "re: "}
	tg := faketelegram.New(t)
	owner := faketelegram.User{ID: 4242, FirstName: "Owner"}
	friend := faketelegram.User{ID: 4343, FirstName: "Friend"}
	listen := freeLoopbackAddr(t)
	const secret = "hook-secret-0123456789"
	state := agentState(t, llm, `channels: { telegram: { botToken: "`+tg.Token+`", apiBaseUrl: "`+tg.URL+`",
    webhookUrl: "https://hook.example.com/telegram", webhookSecret: "`+secret+`", webhookListen: "`+listen+`",
    allowFrom: ["4343"], rateLimit: { perSenderPerMinute: 0, perChannelPerMinute: 0 } } },
  commands: { ownerAllowFrom: ["telegram:4242"] },`)
	c := newCrashRun(t, state, 23)

	// Telegram's side: three posters, each posting its update until it is
	// answered 200.
	url := "http://" + listen + "/telegram"
	rp := newReposter(3, func(u faketelegram.Update, _ int) bool {
		code, err := faketelegram.PostWebhook(url, secret, u)
		return code == 200 && err == nil
	})
	nextID := int64(5000)
	send := func(text string, toFriend bool) string {
		u, chat := owner, "4242"
		if toFriend {
			u, chat = friend, "4343"
		}
		upd := tg.DM(u, text)
		nextID++
		upd.UpdateID = nextID
		rp.add(upd)
		return chat
	}
	c.rounds(func(r int) {
		c.burst("w", r*2, 4+c.rng.IntN(8), send)
		time.Sleep(time.Duration(c.rng.IntN(30)) * time.Millisecond)
		c.burst("w", r*2+1, 4+c.rng.IntN(8), send)
	}, func() []string {
		var out []string
		for _, s := range tg.Sent() {
			out = append(out, s.ChatID)
		}
		return out
	})
	c.drain(rp.settled, func() []string {
		var out []string
		for _, s := range tg.Sent() {
			out = append(out, s.Text)
		}
		return out
	})
	acked, attempts, refusals := rp.finish()
	sent := tg.Sent()
	replies := make([]crashReply, len(sent))
	for i, m := range sent {
		replies[i] = crashReply{m.ChatID, m.Text}
	}
	o := checkCrashOutcome(t, state, "telegram", []string{"4242", "4343"}, c.texts, c.chatOf, replies, c.lastBeforeKill, c.kills)
	t.Logf("kills %d, messages %d, acknowledged %d, posts %d (refused or failed %d), replies %d, residual-window duplicates %d, answered twice in the transcript %d",
		c.kills, len(c.texts), acked, attempts, refusals, len(sent), o.window, o.twice)
}

// freeLoopbackAddr is a loopback address with a port nothing listens on
// now (for a receiver the gateway will open).
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
