//go:build unix

package auditlog

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/crashtest"
)

func TestKeyFileMode(t *testing.T) {
	// The most permissive umask: 0600 here is the package's doing.
	// (Umask is process-wide; this test is not parallel.)
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	dir := t.TempDir()
	key := filepath.Join(dir, "audit.key")
	st, err := store.Open(t.Context(), filepath.Join(dir, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(st, key)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(key)
	if err != nil {
		t.Fatal(err)
	}
	if m := fi.Mode().Perm(); m != 0o600 {
		t.Fatalf("key file mode %o, want 600", m)
	}
	// Reopening reads the same key.
	l2, err := Open(st, key)
	if err != nil {
		t.Fatal(err)
	}
	if !l2.PublicKey().Equal(l.PublicKey()) {
		t.Fatal("reopened key differs")
	}
	// No temp files left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 4 { // talon.db, -wal, -shm, audit.key
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v", names)
	}
	// A key others can read is refused.
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(st, key); err == nil {
		t.Fatal("Open accepted a key file with mode 644")
	}
	// Garbage is refused.
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("not a key"), 0o600)
	if _, err := Open(st, bad); err == nil {
		t.Fatal("Open accepted a garbage key file")
	}
}

const helperEnv = "TALON_AUDITLOG_TEST_HELPER_DIR"

// TestHelperAppender is not a test: TestKillDurability runs the test binary
// again with only this test selected and helperEnv set; it appends records
// until it is killed, acknowledging each seq on stdout after Append returned.
func TestHelperAppender(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestKillDurability")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "talon.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	l, err := Open(st, filepath.Join(dir, "audit.key"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	for i := 0; ; i++ {
		var r Record
		if i%50 == 49 {
			r, err = l.Checkpoint(ctx)
		} else {
			r, err = l.Append(ctx, core.KindToolExec, "session:main", "shell", map[string]int{"i": i})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(3)
		}
		// os.Stdout is unbuffered: the ack is out once Printf returns.
		fmt.Printf("ack %d %s\n", r.Seq, r.Hash)
	}
}

// TestKillDurability guards invariants 12 and 14: a kill -9 during appends
// loses no acknowledged audit record and leaves a chain that verifies.
func TestKillDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns an appender process")
	}
	dir := t.TempDir()
	acked := map[int64]string{}
	var last int64
	crashtest.KillAfter(t, "TestHelperAppender", []string{helperEnv + "=" + dir}, 200+rand.IntN(300), filepath.Join(dir, "talon.db-wal"), func(line string) bool {
		var seq int64
		var hash string
		if _, err := fmt.Sscanf(line, "ack %d %s", &seq, &hash); err != nil {
			return false
		}
		if seq != last+1 {
			t.Fatalf("ack %d after ack %d", seq, last)
		}
		last = seq
		acked[seq] = hash
		return true
	})
	t.Logf("child killed after %d acks (last acked seq %d)", len(acked), last)

	st, err := store.Open(t.Context(), filepath.Join(dir, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(st, filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("Verify after kill -9: %+v", res)
	}
	// At most the one append in flight at the kill may be there unacked.
	if res.Records < last || res.Records > last+1 {
		t.Fatalf("%d records after %d acks", res.Records, last)
	}
	recs, err := l.Tail(t.Context(), int(res.Records))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if h, ok := acked[r.Seq]; ok && h != r.Hash {
			t.Fatalf("record %d: hash %s, acked %s", r.Seq, r.Hash, h)
		}
		delete(acked, r.Seq)
	}
	if len(acked) > 0 {
		t.Fatalf("%d acknowledged records lost", len(acked))
	}
	t.Logf("verified %d records, %d checkpoints", res.Records, res.Checkpoints)
}

const concurrentHelperEnv = "TALON_AUDITLOG_TEST_CONCURRENT_DIR"

// TestHelperConcurrentAppenders is not a test: it is the child of
// TestInvariant14_ConcurrentAppendsSurviveKill. Sixteen goroutines append
// (and now and then checkpoint) until the process is killed, each
// acknowledging a record's seq and hash after Append returned.
func TestHelperConcurrentAppenders(t *testing.T) {
	dir := os.Getenv(concurrentHelperEnv)
	if dir == "" {
		t.Skip("helper process for TestInvariant14_ConcurrentAppendsSurviveKill")
	}
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(dir, "talon.db"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	l, err := Open(st, filepath.Join(dir, "audit.key"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	for g := range 16 {
		go func() {
			for i := 0; ; i++ {
				var r Record
				var err error
				if g == 0 && i%50 == 49 {
					r, err = l.Checkpoint(ctx)
				} else {
					r, err = l.Append(ctx, core.KindToolExec, fmt.Sprint("g", g), "shell", map[string]int{"i": i})
				}
				if err != nil {
					fmt.Fprintln(os.Stderr, "helper:", err)
					os.Exit(3)
				}
				// One short line is one write(2): lines do not interleave.
				fmt.Printf("ack %d %s\n", r.Seq, r.Hash)
			}
		}()
	}
	select {}
}

// TestInvariant14_ConcurrentAppendsSurviveKill guards invariants 12 and 14
// under group commit: appends from many goroutines share transactions, and
// a kill -9 still loses no acknowledged record, every acknowledged record
// is stored with the hash its Append returned, and the chain verifies.
func TestInvariant14_ConcurrentAppendsSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns an appender process")
	}
	dir := t.TempDir()
	acked := map[int64]string{}
	crashtest.KillAfter(t, "TestHelperConcurrentAppenders", []string{concurrentHelperEnv + "=" + dir}, 1000+rand.IntN(1000), filepath.Join(dir, "talon.db-wal"), func(line string) bool {
		var seq int64
		var hash string
		if _, err := fmt.Sscanf(line, "ack %d %s", &seq, &hash); err != nil {
			return false
		}
		if _, dup := acked[seq]; dup {
			t.Fatalf("seq %d acknowledged twice", seq)
		}
		acked[seq] = hash
		return true
	})
	t.Logf("child killed after %d acks", len(acked))

	st, err := store.Open(t.Context(), filepath.Join(dir, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := Open(st, filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK {
		t.Fatalf("Verify after kill -9: %+v", res)
	}
	recs, err := l.Tail(t.Context(), int(res.Records))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if h, ok := acked[r.Seq]; ok && h != r.Hash {
			t.Fatalf("record %d: hash %s, acked %s", r.Seq, r.Hash, h)
		}
		delete(acked, r.Seq)
	}
	if len(acked) > 0 {
		t.Fatalf("%d acknowledged records lost", len(acked))
	}
	t.Logf("verified %d records, %d checkpoints", res.Records, res.Checkpoints)
}
