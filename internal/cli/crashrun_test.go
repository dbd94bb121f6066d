//go:build unix

package cli

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashRun is what the kill -9 harnesses share: the number of kills
// (TALON_CRASH_KILLS, default 5), a logged seed, the messages sent and the
// chat each belongs to, and, per kill, the index of the last reply to each
// chat before it (the documented residual window: only such a reply may be
// sent twice).
type crashRun struct {
	t              *testing.T
	state          string
	kills          int
	rng            *rand.Rand
	texts          []string          // every message sent, in order
	chatOf         map[string]string // text → chat
	lastBeforeKill []int
}

func newCrashRun(t *testing.T, state string, stream uint64) *crashRun {
	t.Helper()
	kills := 5
	if v := os.Getenv("TALON_CRASH_KILLS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("TALON_CRASH_KILLS=%q", v)
		}
		kills = n
	}
	t.Setenv("FAKE_KEY", "k")
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return &crashRun{t: t, state: state, kills: kills, rng: rand.New(rand.NewPCG(seed, stream)), chatOf: map[string]string{}}
}

// burst sends n messages named prefix<round>-m<i>-<random> through send,
// a third of them from the friend (send's second argument), with short
// random pauses.
func (c *crashRun) burst(prefix string, round, n int, send func(text string, friend bool) (chat string)) {
	for i := range n {
		friend := c.rng.IntN(3) == 0
		text := fmt.Sprintf("%s%d-m%d-%d", prefix, round, i, c.rng.IntN(1000))
		c.texts = append(c.texts, text)
		c.chatOf[text] = send(text, friend)
		if c.rng.IntN(4) == 0 {
			time.Sleep(time.Duration(c.rng.IntN(20)) * time.Millisecond)
		}
	}
}

// rounds starts the gateway kills times; each time round(r) sends its
// bursts, then the gateway is killed with SIGKILL once sent() has grown by
// a random number of replies and a random delay more, so kills land in
// every phase of the pipeline. sent returns the chat of every reply the
// platform has accepted, in order.
func (c *crashRun) rounds(round func(r int), sent func() []string) {
	c.t.Helper()
	for r := range c.kills {
		p, err := startGatewayProc(c.t, c.state, "--port", "0")
		if err != nil {
			c.t.Fatal(err)
		}
		before := len(sent())
		round(r)
		want := before + c.rng.IntN(10)
		waitFor(func() bool { return len(sent()) >= want })
		time.Sleep(time.Duration(c.rng.IntN(40)) * time.Millisecond)
		c.kill(p, sent)
	}
}

// kill SIGKILLs p and records the last reply to each chat before it
// (sent is read once the process is gone: a reply may land in between).
func (c *crashRun) kill(p *gatewayProc, sent func() []string) {
	c.t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
	if ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		c.t.Fatalf("gateway not killed: %v\n%s", p.cmd.ProcessState, p.stderr.String())
	}
	last := map[string]int{}
	for i, chat := range sent() {
		last[chat] = i
	}
	for _, i := range last {
		c.lastBeforeKill = append(c.lastBeforeKill, i)
	}
}

// drain starts a last gateway, not killed, and stops it once ready()
// holds, no journal row is pending and every message has a reply
// ("re: " + text among replies()).
func (c *crashRun) drain(ready func() bool, replies func() []string) {
	c.t.Helper()
	p, err := startGatewayProc(c.t, c.state, "--port", "0")
	if err != nil {
		c.t.Fatal(err)
	}
	ok := waitForLong(func() bool {
		if !ready() || !journalSettled(c.t, c.state) {
			return false
		}
		got := map[string]bool{}
		for _, r := range replies() {
			got[strings.TrimPrefix(r, "re: ")] = true
		}
		for _, text := range c.texts {
			if !got[text] {
				return false
			}
		}
		return true
	})
	p.cmd.Process.Signal(syscall.SIGTERM)
	p.cmd.Wait()
	if !ok {
		c.t.Errorf("not every message was answered in time\n%s", p.stderr.String())
	}
}

// reposter plays a platform that delivers by posting (a webhook, the
// Events API): workers post each item until post accepts it, across kills
// and restarts.
type reposter[T any] struct {
	queue                            chan T
	wg                               sync.WaitGroup
	mu                               sync.Mutex
	added, acked, attempts, refusals int
}

// add queues item for posting.
func (r *reposter[T]) add(item T) {
	r.mu.Lock()
	r.added++
	r.mu.Unlock()
	r.queue <- item
}

// settled reports whether every item added so far was accepted.
func (r *reposter[T]) settled() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.acked == r.added
}

func newReposter[T any](workers int, post func(item T, try int) bool) *reposter[T] {
	r := &reposter[T]{queue: make(chan T, 4096)}
	for range workers {
		r.wg.Go(func() {
			for item := range r.queue {
				for try := 0; ; try++ {
					ok := post(item, try)
					r.mu.Lock()
					r.attempts++
					if ok {
						r.acked++
						r.mu.Unlock()
						break
					}
					r.refusals++
					r.mu.Unlock()
					time.Sleep(10 * time.Millisecond)
				}
			}
		})
	}
	return r
}

// finish stops taking items and waits until every one was accepted.
func (r *reposter[T]) finish() (acked, attempts, refusals int) {
	close(r.queue)
	r.wg.Wait()
	return r.acked, r.attempts, r.refusals
}
