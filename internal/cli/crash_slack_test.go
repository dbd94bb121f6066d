//go:build unix

package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"syscall"
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
	kills := 5
	if v := os.Getenv("TALON_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TALON_CRASH_KILLS=%q", v)
		}
		kills = n
	}
	llm := fakellm.New(t)
	llm.Default = fakellm.Reply{Echo: "re: "}
	sl := fakeslack.New(t)
	type user struct{ id, dm string }
	owner, friend := user{"U0OWNER01", "D0OWNER01"}, user{"U0FRIEND1", "D0FRIEND1"}
	state := agentState(t, llm, `channels: { slack: { mode: "socket", botToken: "`+sl.BotToken+`", appToken: "`+sl.AppToken+`",
    apiBaseUrl: "`+sl.URL+`", allowFrom: ["`+friend.id+`"], rateLimit: { perSenderPerMinute: 0, perChannelPerMinute: 0 } } },
  commands: { ownerAllowFrom: ["slack:`+owner.id+`"] },`)
	t.Setenv("FAKE_KEY", "k")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 17))

	var texts []string            // every message sent, in order
	chatOf := map[string]string{} // text -> DM channel
	textOf := map[string]string{} // event id -> text
	var lastBeforeKill []int      // index into sl.Posts() of the last reply per channel before each kill
	ackedAtKill := map[string]bool{}
	unackedAtKill := 0
	ts := time.Now().Unix()
	seq := 0
	push := func(round, n int) {
		for i := range n {
			u := owner
			if rng.IntN(3) == 0 {
				u = friend
			}
			text := fmt.Sprintf("r%d-m%d-%d", round, i, rng.IntN(1000))
			seq++
			env := sl.Deliver(fakeslack.Event{Type: "message", User: u.id, Text: text,
				TS: fmt.Sprintf("%d.%06d", ts, seq), Channel: u.dm, ChannelType: "im"})
			texts = append(texts, text)
			chatOf[text] = u.dm
			textOf[env.Payload.EventID] = text
			if rng.IntN(4) == 0 {
				time.Sleep(time.Duration(rng.IntN(20)) * time.Millisecond)
			}
		}
	}
	for round := range kills {
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
		inFlight := round == 0 || rng.IntN(3) == 0
		if round == 0 || rng.IntN(2) == 0 {
			opened := round + 1
			waitFor(func() bool { return sl.Opened() >= opened && sl.Connections() > 0 })
		}
		before := len(sl.Posts())
		push(round*2, 4+rng.IntN(8))
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		push(round*2+1, 4+rng.IntN(8))
		if inFlight {
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		} else {
			want := before + rng.IntN(10)
			waitFor(func() bool { return len(sl.Posts()) >= want })
			time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		}
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("gateway not killed: %v\n%s", p.cmd.ProcessState, p.stderr.String())
		}
		last := map[string]int{}
		for i, s := range sl.Posts() {
			last[s.Channel] = i
		}
		for _, i := range last {
			lastBeforeKill = append(lastBeforeKill, i)
		}
		for _, d := range sl.Deliveries() {
			if d.Acked {
				ackedAtKill[d.EventID] = true
			} else if d.Attempts > 0 {
				unackedAtKill++
			}
		}
	}
	// A last run, not killed, drains everything.
	p, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	ok := waitForLong(func() bool {
		if sl.Unacked() != 0 {
			return false
		}
		if !journalSettled(t, state) {
			return false
		}
		got := map[string]bool{}
		for _, s := range sl.Posts() {
			got[strings.TrimPrefix(s.Text, "re: ")] = true
		}
		for _, text := range texts {
			if !got[text] {
				return false
			}
		}
		return true
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	if !ok {
		t.Errorf("not every message was answered in time; %d unacknowledged at the fake\n%s", sl.Unacked(), p.stderr.String())
	}

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
	o := checkCrashOutcome(t, state, "slack", []string{owner.id, friend.id}, texts, chatOf, replies, lastBeforeKill, kills)
	window, twice := o.window, o.twice
	// In particular every event acknowledged before some kill was stored
	// before its ack.
	for id := range ackedAtKill {
		if o.inTranscript[textOf[id]] == 0 {
			t.Errorf("event %s (%q) was acknowledged before a kill but is in no transcript", id, textOf[id])
		}
	}
	t.Logf("kills %d, messages %d, unacknowledged at a kill (summed over kills) %d, redelivered %d (envelopes resent %d), replies %d, residual-window duplicates %d, answered twice in the transcript %d",
		kills, len(texts), unackedAtKill, redelivered, sl.Redelivered(), len(posts), window, twice)
}
