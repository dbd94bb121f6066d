//go:build unix

package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/testutil/crashtest"
)

const appendHelperEnv = "TALON_STORE_TEST_APPEND_DB"

const killKey = "agent:main:telegram:direct:123"

func turnUser(i int) string { return fmt.Sprintf("user %d %s", i, strings.Repeat("u", i%500)) }
func turnReply(i int) string {
	return fmt.Sprintf("assistant %d %s", i, strings.Repeat("a", (i*37)%2000))
}

// TestHelperAppender is not a test: TestKillMidTurn runs the test binary
// again with only this test selected and appendHelperEnv set. It appends
// turns (a user message and the assistant's reply, in one AppendMessages)
// to one session until it is killed, acknowledging each on stdout after
// AppendMessages returned. It continues the numbering of an earlier run.
func TestHelperAppender(t *testing.T) {
	path := os.Getenv(appendHelperEnv)
	if path == "" {
		t.Skip("helper process for TestKillMidTurn")
	}
	ctx := context.Background()
	fail := func(err error) {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	s, err := Open(ctx, path)
	if err != nil {
		fail(err)
	}
	if _, err := s.EnsureSession(ctx, killKey, SessionInit{AgentID: "main", ChatType: "direct"}); err != nil {
		fail(err)
	}
	h, err := s.History(ctx, killKey, HistoryOptions{})
	if err != nil {
		fail(err)
	}
	for i := len(h) / 2; ; i++ {
		_, err := s.AppendMessages(ctx, killKey,
			Message{Role: "user", Content: turnUser(i), Provenance: "owner", RunID: fmt.Sprint(i)},
			Message{Role: "assistant", Content: turnReply(i), Model: "p/m", InputTokens: 10, OutputTokens: 1, RunID: fmt.Sprint(i)})
		if err != nil {
			fail(err)
		}
		// os.Stdout is unbuffered: the ack is out once Printf returns.
		fmt.Printf("ack %d\n", i)
	}
}

// TestKillMidTurn: a kill -9 loses no acknowledged message, never splits the
// messages of one AppendMessages, and leaves seqs and session totals right.
// A child process appends turns as fast as it can and is killed with
// SIGKILL at a random point; three times over the same database, so that
// each run also starts from a database recovered from a kill.
func TestKillMidTurn(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a writer process")
	}
	path := filepath.Join(t.TempDir(), "talon.db")
	last := -1 // last acknowledged turn over all runs
	for run := range 3 {
		last = killAppender(t, path, last)
		t.Logf("run %d: killed after turn %d was acknowledged", run, last)

		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Check(t.Context()); err != nil {
			t.Fatal(err)
		}
		h, err := s.History(t.Context(), killKey, HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		acked := 2 * (last + 1)
		// At most the one turn in flight at the kill may be there
		// unacknowledged, and then whole.
		if len(h) != acked && len(h) != acked+2 {
			t.Fatalf("%d messages after %d acknowledged turns: want %d or %d", len(h), last+1, acked, acked+2)
		}
		for i, m := range h {
			turn := i / 2
			want := turnUser(turn)
			if i%2 == 1 {
				want = turnReply(turn)
			}
			if m.Seq != int64(i+1) || m.Content != want || m.RunID != fmt.Sprint(turn) {
				t.Fatalf("message %d: seq %d run %q content %.20q…; want seq %d of turn %d", i, m.Seq, m.RunID, m.Content, i+1, turn)
			}
		}
		ss := checkCount(t, s, killKey)
		if turns := int64(len(h) / 2); ss.MessageCount != len(h) || ss.InputTokens != 10*turns || ss.OutputTokens != turns || ss.LastModel != "p/m" {
			t.Errorf("session totals %+v after %d turns", ss, turns)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		last = len(h)/2 - 1 // an unacknowledged turn that made it counts from here on
	}
}

// killAppender runs TestHelperAppender on path, SIGKILLs it at a random
// point after some acknowledgements beyond prev, and returns the last turn
// it acknowledged.
func killAppender(t *testing.T, path string, prev int) int {
	t.Helper()
	last := prev
	crashtest.KillAfter(t, "TestHelperAppender", []string{appendHelperEnv + "=" + path}, 100+rand.IntN(200), path+"-wal", func(line string) bool {
		var i int
		if _, err := fmt.Sscanf(line, "ack %d", &i); err != nil {
			return false
		}
		if i != last+1 {
			t.Fatalf("ack %d after ack %d", i, last)
		}
		last = i
		return true
	})
	return last
}
