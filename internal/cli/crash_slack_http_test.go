//go:build unix

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

// TestInvariant14_KillDuringSlackEventsBursts is the kill -9 harness for
// Slack's Events API (mode "http"): the test plays Slack, posting each
// signed event_callback to the gateway's receiver (three at a time) and
// posting it again, with X-Slack-Retry-Num, until it is answered 2xx —
// across kills and restarts. At the end every event was acknowledged, is
// in a transcript once and got exactly one reply (save the documented
// residual window), no journal row is pending and the audit log verifies.
//
// TALON_CRASH_KILLS sets the number of kills (default 5).
func TestInvariant14_KillDuringSlackEventsBursts(t *testing.T) {
	llm := fakellm.New(t)
	llm.Default = fakellm.Reply{Echo: "re: "}
	sl := fakeslack.New(t)
	type user struct{ id, dm string }
	owner, friend := user{"U0OWNER01", "D0OWNER01"}, user{"U0FRIEND1", "D0FRIEND1"}
	listen := freeLoopbackAddr(t)
	const signing = "slack-signing-secret-0123456789"
	state := agentState(t, llm, `channels: { slack: { mode: "http", botToken: "`+sl.BotToken+`", signingSecret: "`+signing+`",
    webhookListen: "`+listen+`", apiBaseUrl: "`+sl.URL+`", allowFrom: ["`+friend.id+`"],
    rateLimit: { perSenderPerMinute: 0, perChannelPerMinute: 0 } } },
  commands: { ownerAllowFrom: ["slack:`+owner.id+`"] },`)
	c := newCrashRun(t, state, 29)

	// Slack's side: three posters, each posting its event until a 2xx,
	// retries marked with X-Slack-Retry-Num as Slack marks them.
	url := "http://" + listen + "/slack/events"
	rp := newReposter(3, func(body []byte, try int) bool {
		resp, err := fakeslack.EventRequest{Body: body, Secret: signing, RetryNum: try}.Post(context.Background(), nil, url)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode >= 200 && resp.StatusCode < 300
	})
	ts := time.Now().Unix()
	seq := 0
	send := func(text string, toFriend bool) string {
		u := owner
		if toFriend {
			u = friend
		}
		seq++
		body, err := json.Marshal(sl.NewCallback(fakeslack.Event{Type: "message", User: u.id, Text: text,
			TS: fmt.Sprintf("%d.%06d", ts, seq), Channel: u.dm, ChannelType: "im"}))
		if err != nil {
			t.Fatal(err)
		}
		rp.add(body)
		return u.dm
	}
	c.rounds(func(r int) {
		c.burst("h", r*2, 4+c.rng.IntN(8), send)
		time.Sleep(time.Duration(c.rng.IntN(30)) * time.Millisecond)
		c.burst("h", r*2+1, 4+c.rng.IntN(8), send)
	}, func() []string {
		var out []string
		for _, p := range sl.Posts() {
			out = append(out, p.Channel)
		}
		return out
	})
	c.drain(rp.settled, func() []string {
		var out []string
		for _, p := range sl.Posts() {
			out = append(out, p.Text)
		}
		return out
	})
	acked, attempts, retried := rp.finish()
	posts := sl.Posts()
	replies := make([]crashReply, len(posts))
	for i, m := range posts {
		replies[i] = crashReply{m.Channel, m.Text}
	}
	o := checkCrashOutcome(t, state, "slack", []string{owner.id, friend.id}, c.texts, c.chatOf, replies, c.lastBeforeKill, c.kills)
	t.Logf("kills %d, messages %d, acknowledged %d, posts %d (retried %d), replies %d, residual-window duplicates %d, answered twice in the transcript %d",
		c.kills, len(c.texts), acked, attempts, retried, len(posts), o.window, o.twice)
}
