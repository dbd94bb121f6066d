//go:build unix

package cli

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
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
	tg := faketelegram.New(t)
	owner := faketelegram.User{ID: 4242, FirstName: "Owner"}
	friend := faketelegram.User{ID: 4343, FirstName: "Friend"}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := l.Addr().String()
	l.Close()
	const secret = "hook-secret-0123456789"
	state := agentState(t, llm, `channels: { telegram: { botToken: "`+tg.Token+`", apiBaseUrl: "`+tg.URL+`",
    webhookUrl: "https://hook.example.com/telegram", webhookSecret: "`+secret+`", webhookListen: "`+listen+`",
    allowFrom: ["4343"], rateLimit: { perSenderPerMinute: 0, perChannelPerMinute: 0 } } },
  commands: { ownerAllowFrom: ["telegram:4242"] },`)
	t.Setenv("FAKE_KEY", "k")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 23))

	// Telegram's side: a queue of updates, three posters, each posting
	// its update until it is answered 200.
	url := "http://" + listen + "/telegram"
	queue := make(chan faketelegram.Update, 4096)
	var mu sync.Mutex
	acked := map[int64]bool{}
	var attempts, refused int
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for u := range queue {
				for {
					code, err := faketelegram.PostWebhook(url, secret, u)
					mu.Lock()
					attempts++
					if code == 200 && err == nil {
						acked[u.UpdateID] = true
						mu.Unlock()
						break
					}
					refused++
					mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}

	var texts []string
	chatOf := map[string]string{}
	var lastBeforeKill []int
	nextID := int64(5000)
	push := func(round, n int) {
		for i := range n {
			u, chat := owner, "4242"
			if rng.IntN(3) == 0 {
				u, chat = friend, "4343"
			}
			text := fmt.Sprintf("w%d-m%d-%d", round, i, rng.IntN(1000))
			texts = append(texts, text)
			chatOf[text] = chat
			upd := tg.DM(u, text)
			nextID++
			upd.UpdateID = nextID
			queue <- upd
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
		before := len(tg.Sent())
		push(round*2, 4+rng.IntN(8))
		time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond)
		push(round*2+1, 4+rng.IntN(8))
		want := before + rng.IntN(10)
		waitFor(func() bool { return len(tg.Sent()) >= want })
		time.Sleep(time.Duration(rng.IntN(40)) * time.Millisecond)
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("gateway not killed: %v\n%s", p.cmd.ProcessState, p.stderr.String())
		}
		last := map[string]int{}
		for i, s := range tg.Sent() {
			last[s.ChatID] = i
		}
		for _, i := range last {
			lastBeforeKill = append(lastBeforeKill, i)
		}
	}
	// A last run, not killed, takes the rest.
	p, err := startGatewayProc(t, state, "--port", "0")
	if err != nil {
		t.Fatal(err)
	}
	close(queue)
	wg.Wait() // every update acknowledged
	ok := waitForLong(func() bool {
		if !journalSettled(t, state) {
			return false
		}
		got := map[string]bool{}
		for _, s := range tg.Sent() {
			got[s.Text[len("re: "):]] = true
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
	sent := tg.Sent()
	replies := make([]crashReply, len(sent))
	for i, m := range sent {
		replies[i] = crashReply{m.ChatID, m.Text}
	}
	o := checkCrashOutcome(t, state, "telegram", []string{"4242", "4343"}, texts, chatOf, replies, lastBeforeKill, kills)
	t.Logf("kills %d, messages %d, acknowledged %d, posts %d (refused or failed %d), replies %d, residual-window duplicates %d, answered twice in the transcript %d",
		kills, len(texts), len(acked), attempts, refused, len(sent), o.window, o.twice)
}
