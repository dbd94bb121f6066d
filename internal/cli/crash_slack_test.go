//go:build unix

package cli

import (
	"fmt"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

// TestInvariant14_KillDuringSlackBursts is the Socket Mode twin of
// TestInvariant14_KillDuringTelegramBursts: a real gateway process holds a
// Socket Mode connection to the fake Slack (which, like Slack, sends an
// envelope again on the next connection until it is acknowledged) while
// two allowed users send bursts of DMs, and is killed with SIGKILL at
// random points and started again. Envelopes acknowledged before a kill
// must have been stored (the ack comes after the journal); those that were
// not are redelivered and answered. At the end every event is
// acknowledged, is in a transcript once and got exactly one reply, no
// journal row is pending, and the audit log verifies.
//
// The one exception is the documented residual window: a reply Slack
// accepted just before the kill, whose delivery mark the gateway had not
// yet written, is posted again after the restart. Every such extra reply
// must be the last reply to its channel before a kill; they are counted
// and logged.
//
// TALON_CRASH_KILLS sets the number of kills (default 5).
func TestInvariant14_KillDuringSlackBursts(t *testing.T) {
	llm := fakellm.New(t)
	llm.Default = fakellm.Reply{Echo: "re: "}
	sl := fakeslack.New(t)
	type user struct{ id, dm string }
	owner, friend := user{"U0OWNER01", "D0OWNER01"}, user{"U0FRIEND1", "D0FRIEND1"}
	state := agentState(t, llm, `channels: { slack: { mode: "socket", botToken: "`+sl.BotToken+`", appToken: "`+sl.AppToken+`",
    apiBaseUrl: "`+sl.URL+`", allowFrom: ["`+friend.id+`"], rateLimit: { perSenderPerMinute: 0, perChannelPerMinute: 0 } } },
  commands: { ownerAllowFrom: ["slack:`+owner.id+`"] },`)
	c := newCrashRun(t, state, 17)

	textOf := map[string]string{} // event id -> text
	ackedAtKill := map[string]bool{}
	unackedAtKill := 0
	ts := time.Now().Unix()
	seq := 0
	send := func(text string, toFriend bool) string {
		u := owner
		if toFriend {
			u = friend
		}
		seq++
		env := sl.Deliver(fakeslack.Event{Type: "message", User: u.id, Text: text,
			TS: fmt.Sprintf("%d.%06d", ts, seq), Channel: u.dm, ChannelType: "im"})
		textOf[env.Payload.EventID] = text
		return u.dm
	}
	postChannels := func() []string {
		var out []string
		for _, p := range sl.Posts() {
			out = append(out, p.Channel)
		}
		return out
	}
	for r := range c.kills {
		p, err := startGatewayProc(t, state, "--port", "0")
		if err != nil {
			t.Fatal(err)
		}
		// Two bursts (half the time only once the gateway is connected,
		// else queued at the fake until it is), then a kill at a random
		// point: a third of the time right after the bursts, while
		// envelopes are in flight and unacknowledged, else after some
		// replies went out plus a random delay, so kills land in every
		// phase of the pipeline (reading, journaling, the ack, the turn,
		// the reply). The first round always kills right after bursts
		// sent on an open connection, so that some run hits the
		// redelivery of unacknowledged envelopes.
		inFlight := r == 0 || c.rng.IntN(3) == 0
		if r == 0 || c.rng.IntN(2) == 0 {
			opened := r + 1
			waitFor(func() bool { return sl.Opened() >= opened && sl.Connections() > 0 })
		}
		before := len(sl.Posts())
		c.burst("r", r*2, 4+c.rng.IntN(8), send)
		time.Sleep(time.Duration(c.rng.IntN(30)) * time.Millisecond)
		c.burst("r", r*2+1, 4+c.rng.IntN(8), send)
		if inFlight {
			time.Sleep(time.Duration(c.rng.IntN(3000)) * time.Microsecond)
		} else {
			want := before + c.rng.IntN(10)
			waitFor(func() bool { return len(sl.Posts()) >= want })
			time.Sleep(time.Duration(c.rng.IntN(40)) * time.Millisecond)
		}
		c.kill(p, postChannels)
		for _, d := range sl.Deliveries() {
			if d.Acked {
				ackedAtKill[d.EventID] = true
			} else if d.Attempts > 0 {
				unackedAtKill++
			}
		}
	}
	c.drain(func() bool { return sl.Unacked() == 0 }, func() []string {
		var out []string
		for _, p := range sl.Posts() {
			out = append(out, p.Text)
		}
		return out
	})

	// Every event was acknowledged in the end (the ones unacknowledged at
	// a kill after a redelivery).
	redelivered := 0
	for _, d := range sl.Deliveries() {
		if !d.Acked {
			t.Errorf("event %s (%q) never acknowledged after %d deliveries", d.EventID, textOf[d.EventID], d.Attempts)
		}
		if d.Attempts > 1 {
			redelivered++
		}
	}
	posts := sl.Posts()
	replies := make([]crashReply, len(posts))
	for i, m := range posts {
		replies[i] = crashReply{m.Channel, m.Text}
	}
	o := checkCrashOutcome(t, state, "slack", []string{owner.id, friend.id}, c.texts, c.chatOf, replies, c.lastBeforeKill, c.kills)
	// In particular every event acknowledged before some kill was stored
	// before its ack.
	for id := range ackedAtKill {
		if o.inTranscript[textOf[id]] == 0 {
			t.Errorf("event %s (%q) was acknowledged before a kill but is in no transcript", id, textOf[id])
		}
	}
	t.Logf("kills %d, messages %d, unacknowledged at a kill (summed over kills) %d, redelivered %d (envelopes resent %d), replies %d, residual-window duplicates %d, answered twice in the transcript %d",
		c.kills, len(c.texts), unackedAtKill, redelivered, sl.Redelivered(), len(posts), o.window, o.twice)
}
