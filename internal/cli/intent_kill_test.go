//go:build unix

package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant12_KillDuringToolLeavesIntent: `talon agent` is killed with
// SIGKILL while an allowlisted command it was allowed to run is still
// running. The audit log holds the call's intent (tool.intent, written
// before the command started) and no outcome, and `talon audit verify`
// passes.
func TestInvariant12_KillDuringToolLeavesIntent(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep binary")
	}
	sleep, _ = filepath.EvalSymlinks(sleep)
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "long1", Name: "exec", Args: `{"command":"sleep 30"}`}}})
	state := agentState(t, fake, `tools: { exec: { allowlist: ["`+sleep+`"] } },`)
	cmd := exec.Command("talon", "agent", "--local", "--message", "run the long job")
	cmd.Env = append(os.Environ(), "TALON_STATE_DIR="+state, "HOME="+state, "FAKE_KEY=k")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	kinds := func() map[string]int {
		out := map[string]int{}
		st, err := store.Open(context.Background(), filepath.Join(state, "talon.db"))
		if err != nil {
			return out
		}
		defer st.Close()
		st.Read(context.Background(), func(tx *sql.Tx) error {
			rows, err := tx.QueryContext(context.Background(), `SELECT kind, data FROM audit_log WHERE subject = 'exec'`)
			if err != nil {
				return err
			}
			defer rows.Close()
			for rows.Next() {
				var kind, data string
				rows.Scan(&kind, &data)
				var d map[string]any
				json.Unmarshal([]byte(data), &d)
				if d["call"] == "long1" {
					out[kind]++
				}
			}
			return nil
		})
		return out
	}
	// The command is running once its intent is in the log and the
	// process has a sleeping child.
	if !waitFor(func() bool { return kinds()[core.KindToolIntent] == 1 && hasChild(cmd.Process.Pid) }) {
		t.Fatalf("the tool never started: audit %v", kinds())
	}
	time.Sleep(50 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	got := kinds()
	if got[core.KindToolIntent] != 1 || got[core.KindToolExec] != 0 {
		t.Fatalf("after the kill the log holds %v; want the intent and no outcome", got)
	}
	if out, errOut, code := runTalon(t, state, "audit", "verify"); code != 0 {
		t.Fatalf("audit verify after the kill: %d %s %s", code, out, errOut)
	}
}

// hasChild reports whether pid has a child process (Linux /proc: any
// process whose parent is pid; a child forked by another thread of pid is
// listed only under that thread's task).
func hasChild(pid int) bool {
	tasks, _ := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "children"))
	for _, f := range tasks {
		if b, err := os.ReadFile(f); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}
