//go:build unix

// Package crashtest runs a writer in a child process and kills it with
// SIGKILL mid-stream, for the tests that prove acknowledged writes survive
// kill -9 (invariant 14). The child is the test binary itself running one
// helper test; it prints a line per durable write ("ack …") and the
// parent kills it after a number of them.
package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// KillAfter runs the helper test named helper (its function name) in a
// child with env added to its environment. onLine sees every stdout line
// and reports whether it was an acknowledgement (other lines are test
// framework chatter); after killAt acknowledgements the child gets
// SIGKILL. Lines already in the pipe when the kill lands are still read:
// they were acknowledged. KillAfter fails the test unless the child died
// of that SIGKILL, and unless wal (when not "") is a non-empty file after
// the kill, so that reopening really exercises WAL recovery.
func KillAfter(t *testing.T, helper string, env []string, killAt int, wal string, onLine func(line string) bool) (acks int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if !onLine(sc.Text()) {
			continue
		}
		acks++
		if acks == killAt {
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	werr := cmd.Wait()
	if !killed {
		t.Fatalf("child ended before it was killed, after %d acks: %v\n%s", acks, werr, stderr.Bytes())
	}
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child did not die of SIGKILL: %v\n%s", cmd.ProcessState, stderr.Bytes())
	}
	if wal != "" {
		if st, err := os.Stat(wal); err != nil || st.Size() == 0 {
			t.Fatalf("no WAL left after kill -9 (err=%v): the test did not test recovery", err)
		}
	}
	return acks
}
