//go:build unix

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
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
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	const signing = "slack-signing-secret-0123456789"
	state := agentState(t, llm, `channels: { slack: { mode: "http", botToken: "`+sl.BotToken+`", signingSecret: "`+signing+`",
    webhookListen: "`+listen+`", apiBaseUrl: "`+sl.URL+`", allowFrom: ["`+friend.id+`"],
    rateLimit: { perSenderPerMinute: 0, perChannelPerMinute: 0 } } },
  commands: { ownerAllowFrom: ["slack:`+owner.id+`"] },`)
	t.Setenv("FAKE_KEY", "k")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 29))

	// Slack's side: three posters, each posting its event until a 2xx.
	url := "http://" + listen + "/slack/events"
	queue := make(chan []byte, 4096)
	var mu sync.Mutex
	var acked, attempts, retried int
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for body := range queue {
				for try := 0; ; try++ {
					resp, err := fakeslack.EventRequest{Body: body, Secret: signing, RetryNum: try}.Post(context.Background(), nil, url)
					code := 0
					if err == nil {
						code = resp.StatusCode
						resp.Body.Close()
					}
					mu.Lock()
					attempts++
					if code >= 200 && code < 300 {
						acked++
						mu.Unlock()
						break
					}
					retried++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}

	var texts []string
	chatOf := map[string]string{}
	var lastBeforeKill []int
	ts := time.Now().Unix()
	seq := 0
	push := func(round, n int) {
		for i := range n {
			u := owner
			if rng.IntN(3) == 0 {
				u = friend
			}
			text := fmt.Sprintf("h%d-m%d-%d", round, i, rng.IntN(1000))
			seq++
			body, err := json.Marshal(sl.NewCallback(fakeslack.Event{Type: "message", User: u.id, Text: text,
				TS: fmt.Sprintf("%d.%06d", ts, seq), Channel: u.dm, ChannelType: "im"}))
			if err != nil {
				t.Fatal(err)
			}
			texts = append(texts, text)
			chatOf[text] = u.dm
			queue <- body
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
		before := len(sl.Posts())
		push(round*2, 4+rng.IntN(8))
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		push(round*2+1, 4+rng.IntN(8))
		want := before + rng.IntN(10)
		waitFor(func() bool { return len(sl.Posts()) >= want })
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
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
	}
	p, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	close(queue)
	wg.Wait() // every event acknowledged
	ok := waitForLong(func() bool {
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
		t.Errorf("not every message was answered in time\n%s", p.stderr.String())
	}
	posts := sl.Posts()
	replies := make([]crashReply, len(posts))
	for i, m := range posts {
		replies[i] = crashReply{m.Channel, m.Text}
	}
	o := checkCrashOutcome(t, state, "slack", []string{owner.id, friend.id}, texts, chatOf, replies, lastBeforeKill, kills)
	t.Logf("kills %d, messages %d, acknowledged %d, posts %d (retried %d), replies %d, residual-window duplicates %d, answered twice in the transcript %d",
		kills, len(texts), acked, attempts, retried, len(posts), o.window, o.twice)
}
