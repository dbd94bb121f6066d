package cli

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/store"
)

// crashReply is one reply a platform fake accepted, in the order it did.
type crashReply struct{ chat, text string }

// crashOutcome is what checkCrashOutcome found beyond its assertions.
type crashOutcome struct {
	window       int            // replies sent twice in the residual window
	twice        int            // messages the model answered twice in the transcript
	inTranscript map[string]int // user messages by text, across the peers' sessions
}

// checkCrashOutcome holds the kill -9 harnesses' common assertions
// (invariant 14): every message in texts got exactly one reply ("re: "
// + text) in its chat (chatOf) — a second one only when the earlier copy
// was the last reply to its chat before a kill (lastBeforeKill: indexes
// into sent), the residual window — and is exactly once in the
// transcripts of the peers' direct sessions on channel; no journal row is
// left pending; `talon audit verify` passes.
func checkCrashOutcome(t *testing.T, state, channel string, peers, texts []string, chatOf map[string]string, sent []crashReply, lastBeforeKill []int, kills int) crashOutcome {
	t.Helper()
	replies := map[string][]int{}
	for i, s := range sent {
		text, ok := strings.CutPrefix(s.text, "re: ")
		if !ok {
			t.Errorf("unexpected message to %s: %q", s.chat, s.text)
			continue
		}
		if chatOf[text] != s.chat {
			t.Errorf("reply to %q went to %s, want %s", text, s.chat, chatOf[text])
		}
		replies[text] = append(replies[text], i)
	}
	var out crashOutcome
	for _, text := range texts {
		r := replies[text]
		if len(r) == 0 {
			t.Errorf("message %q got no reply", text)
			continue
		}
		// Every reply but the last must have been the last reply to its
		// chat before a kill: sent, then killed before the mark.
		for _, i := range r[:len(r)-1] {
			if !containsInt(lastBeforeKill, i) {
				t.Errorf("message %q got %d replies (sends #%v), want 1", text, len(r), r)
				break
			}
		}
		if len(r) > 1 {
			out.window += len(r) - 1
			t.Logf("residual window: the reply to %q was accepted just before a kill and sent again after it (sends #%v)", text, r)
		}
	}

	st, err := store.Open(context.Background(), filepath.Join(state, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	out.inTranscript = map[string]int{}
	answers := map[string]int{} // assistant messages after each user message
	for _, peer := range peers {
		key, err := agent.SessionKey("per-channel-peer", agent.Inbound{Channel: channel, AccountID: "default", PeerID: peer, ChatType: "direct"})
		if err != nil {
			t.Fatal(err)
		}
		hist, err := st.History(context.Background(), key, store.HistoryOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last := ""
		for _, m := range hist {
			switch m.Role {
			case "user":
				out.inTranscript[m.Content]++
				last = m.Content
			case "assistant":
				answers[last]++
			}
		}
	}
	for _, text := range texts {
		if out.inTranscript[text] != 1 {
			t.Errorf("message %q is %d times in the transcripts, want 1", text, out.inTranscript[text])
		}
		// A turn killed after its answer was stored but before the reply
		// was sent runs again: the model answers a second time (in the
		// transcript only; the chat gets one reply).
		if answers[text] > 1 {
			out.twice++
		}
	}
	pending, err := st.PendingInbound(context.Background())
	if err != nil || len(pending) != 0 {
		t.Errorf("%d journal rows still pending (%v)", len(pending), err)
	}
	if o, errOut, code := runTalon(t, state, "audit", "verify"); code != 0 {
		t.Errorf("audit verify after %d kills: %d %s %s", kills, code, o, errOut)
	}
	return out
}

// journalSettled reports whether the gateway using state has no journal
// row left pending: every resumed turn has ended. (A reply seen at the
// platform may be one sent before a kill, whose resumed turn is still
// running; stopping the gateway then would leave its row for the next
// start, as designed, and the check after the harness would see it.) It
// reads the table directly: PendingInbound would fold the running
// gateway's sent log from another process.
func journalSettled(t *testing.T, state string) bool {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(state, "talon.db"))
	if err != nil {
		return false
	}
	defer st.Close()
	var n int
	err = st.Read(context.Background(), func(tx *sql.Tx) error {
		return tx.QueryRowContext(context.Background(), "SELECT count(*) FROM inbound WHERE state = 'pending'").Scan(&n)
	})
	return err == nil && n == 0
}
