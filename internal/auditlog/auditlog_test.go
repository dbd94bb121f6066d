package auditlog

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/store"
)

func openTest(t testing.TB) (*Log, *store.Store) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := Open(st, filepath.Join(dir, "audit.key"))
	if err != nil {
		t.Fatal(err)
	}
	return l, st
}

func appendN(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := range n {
		if _, err := l.Append(context.Background(), core.KindToolExec, "session:main", "shell", map[string]any{"i": i, "cmd": "ls"}); err != nil {
			t.Fatal(err)
		}
	}
}

func rawExec(t testing.TB, st *store.Store, q string, args ...any) {
	t.Helper()
	err := st.Write(context.Background(), func(tx *sql.Tx) error {
		res, err := tx.Exec(q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%s: no rows affected", q)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func verify(t *testing.T, l *Log) VerifyResult {
	t.Helper()
	res, err := l.Verify(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func wantOK(t *testing.T, l *Log, records int64) VerifyResult {
	t.Helper()
	res := verify(t, l)
	if !res.OK || res.FirstBad != 0 || res.Reason != "" {
		t.Fatalf("Verify = %+v, want OK", res)
	}
	if records >= 0 && res.Records != records {
		t.Fatalf("Verify checked %d records, want %d", res.Records, records)
	}
	return res
}

func wantBad(t *testing.T, l *Log, seq int64, reason string) {
	t.Helper()
	res := verify(t, l)
	if res.OK {
		t.Fatalf("Verify OK (%+v), want tampering at %d detected", res, seq)
	}
	if res.FirstBad != seq || !strings.Contains(res.Reason, reason) {
		t.Fatalf("Verify = %+v, want FirstBad %d, reason containing %q", res, seq, reason)
	}
	t.Logf("detected: %s", res.Reason)
}

func TestAppendChainAndVerify(t *testing.T) {
	l, _ := openTest(t)
	ctx := t.Context()
	wantOK(t, l, 0) // empty log
	appendN(t, l, 100)
	wantOK(t, l, 100)

	tail, err := l.Tail(ctx, 3)
	if err != nil {
		t.Fatal(err)
	}
	if len(tail) != 3 || tail[0].Seq != 98 || tail[2].Seq != 100 {
		t.Fatalf("Tail(3) = %+v", tail)
	}
	if tail[1].PrevHash != tail[0].Hash || tail[2].PrevHash != tail[1].Hash {
		t.Fatal("Tail records not chained")
	}
	for _, r := range tail {
		h, err := ComputeHash(r)
		if err != nil || h != r.Hash {
			t.Fatalf("ComputeHash(record %d) = %s, %v; stored %s", r.Seq, h, err, r.Hash)
		}
	}
	first, _ := l.Tail(ctx, 1000)
	if len(first) != 100 || first[0].Seq != 1 || first[0].PrevHash != "" {
		t.Fatalf("first record %+v", first[0])
	}
	if _, err := l.Append(ctx, core.KindCheckpoint, "x", "y", nil); err == nil {
		t.Fatal("Append of a checkpoint kind allowed")
	}
	if _, err := l.Append(ctx, core.KindToolExec, "x", "y", json.RawMessage("{bad")); err == nil {
		t.Fatal("Append of bad JSON allowed")
	}
	wantOK(t, l, 100)
}

// The canonical encoding is stable: a change to it would make every
// existing log fail verification.
func TestCanonicalEncodingStable(t *testing.T) {
	r := Record{Seq: 7, TS: time.UnixMilli(1700000000123), Kind: "tool.exec", Actor: "cli", Subject: "shell",
		Data: json.RawMessage(`{ "a" : 1 }`), PrevHash: "ab"}
	h, err := ComputeHash(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = "a047b307901a75bce0c1f91e4ebdd65129549da6730d8976ac75c4f950f61217" // computed independently from the package doc
	if h != want {
		t.Fatalf("hash = %s, want %s: the canonical encoding changed", h, want)
	}
	// Field boundaries matter: moving a byte between fields changes the hash.
	r2 := r
	r2.Actor, r2.Subject = "cl", "ishell"
	h2, _ := ComputeHash(r2)
	if h2 == h {
		t.Fatal("length prefixes do not separate fields")
	}
}

func TestVerifyDetectsEditedRecord(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 100)
	rawExec(t, st, `UPDATE audit_log SET data = '{"i":41,"cmd":"rm -rf /"}' WHERE seq = 42`)
	wantBad(t, l, 42, "record 42: hash mismatch (contents changed)")
}

func TestVerifyDetectsEditedRecordWithRecomputedHash(t *testing.T) {
	// The attacker also fixes the edited record's hash: the next link breaks.
	l, st := openTest(t)
	appendN(t, l, 100)
	recs, _ := l.Tail(t.Context(), 100)
	r := recs[41]
	r.Subject = "innocent"
	h, _ := ComputeHash(r)
	rawExec(t, st, `UPDATE audit_log SET subject = ?, hash = ? WHERE seq = 42`, r.Subject, h)
	wantBad(t, l, 43, "record 43: previous-hash link broken")
}

func TestVerifyDetectsDeletedRecord(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 100)
	rawExec(t, st, `DELETE FROM audit_log WHERE seq = 50`)
	wantBad(t, l, 50, "seq gap 49 → 51 (record 50 deleted)")
}

func TestVerifyDetectsDeletedFirstRecords(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 100)
	rawExec(t, st, `DELETE FROM audit_log WHERE seq <= 10`)
	wantBad(t, l, 11, "no signed truncation checkpoint")
}

func TestVerifyDetectsDeletedAndRenumbered(t *testing.T) {
	// Delete record 50 and renumber the rest down to close the gap.
	l, st := openTest(t)
	appendN(t, l, 100)
	rawExec(t, st, `DELETE FROM audit_log WHERE seq = 50`)
	rawExec(t, st, `UPDATE audit_log SET seq = -seq WHERE seq > 50`)
	rawExec(t, st, `UPDATE audit_log SET seq = -seq - 1 WHERE seq < 0`)
	wantBad(t, l, 50, "record 50: hash mismatch")
}

func TestVerifyDetectsReorderedRecords(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 100)
	// Swap the whole contents (everything but seq) of records 30 and 60.
	rawExec(t, st, `UPDATE audit_log SET seq = -1 WHERE seq = 30`)
	rawExec(t, st, `UPDATE audit_log SET seq = 30 WHERE seq = 60`)
	rawExec(t, st, `UPDATE audit_log SET seq = 60 WHERE seq = -1`)
	wantBad(t, l, 30, "record 30: hash mismatch")
}

func TestVerifyDetectsForgedInsert(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 100)
	// A forged record whose hash is right for its contents, but whose
	// prevHash does not link to record 100.
	r := Record{Seq: 101, TS: time.UnixMilli(time.Now().UnixMilli()), Kind: core.KindAuthOK, Actor: "attacker", Subject: "connect",
		Data: json.RawMessage(`{}`), PrevHash: strings.Repeat("0", 64)}
	r.Hash, _ = ComputeHash(r)
	rawExec(t, st, `INSERT INTO audit_log (seq, ts, kind, actor, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.TS.UnixMilli(), r.Kind, r.Actor, r.Subject, string(r.Data), r.PrevHash, r.Hash)
	wantBad(t, l, 101, "record 101: previous-hash link broken")
}

func TestVerifyDetectsInsertInMiddle(t *testing.T) {
	// Make room at 51 by shifting the tail up, insert a well-formed record
	// linked to record 50: record 52 (the old 51) no longer hashes.
	l, st := openTest(t)
	appendN(t, l, 100)
	recs, _ := l.Tail(t.Context(), 100)
	rawExec(t, st, `UPDATE audit_log SET seq = -seq - 1 WHERE seq > 50`)
	rawExec(t, st, `UPDATE audit_log SET seq = -seq WHERE seq < 0`)
	r := Record{Seq: 51, TS: time.UnixMilli(time.Now().UnixMilli()), Kind: core.KindAuthOK, Actor: "attacker",
		Data: json.RawMessage(`{}`), PrevHash: recs[49].Hash}
	r.Hash, _ = ComputeHash(r)
	rawExec(t, st, `INSERT INTO audit_log (seq, ts, kind, actor, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.TS.UnixMilli(), r.Kind, r.Actor, r.Subject, string(r.Data), r.PrevHash, r.Hash)
	wantBad(t, l, 52, "record 52: hash mismatch")
}

func TestCheckpoint(t *testing.T) {
	l, _ := openTest(t)
	appendN(t, l, 10)
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if cp.Seq != 11 || cp.Kind != core.KindCheckpoint {
		t.Fatalf("checkpoint record %+v", cp)
	}
	var d CheckpointData
	if err := json.Unmarshal(cp.Data, &d); err != nil {
		t.Fatal(err)
	}
	if d.ThroughSeq != 10 || d.ThroughHash != cp.PrevHash || d.PublicKey != base64.StdEncoding.EncodeToString(l.PublicKey()) {
		t.Fatalf("checkpoint data %+v", d)
	}
	appendN(t, l, 5)
	res := wantOK(t, l, 16)
	if res.Checkpoints != 1 {
		t.Fatalf("Checkpoints = %d, want 1", res.Checkpoints)
	}
}

// forgeCheckpoint rewrites the checkpoint at seq with data, fixing its
// hash so the chain itself still holds (the checkpoint is the last record).
func forgeCheckpoint(t *testing.T, l *Log, st *store.Store, seq int64, d CheckpointData) {
	t.Helper()
	recs, _ := l.Tail(t.Context(), 1)
	r := recs[0]
	if r.Seq != seq {
		t.Fatalf("last record %d, want %d", r.Seq, seq)
	}
	r.Data, _ = json.Marshal(d)
	r.Hash, _ = ComputeHash(r)
	rawExec(t, st, `UPDATE audit_log SET data = ?, hash = ? WHERE seq = ?`, string(r.Data), r.Hash, seq)
}

func TestVerifyDetectsForgedCheckpoint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(d *CheckpointData)
		reason string
	}{
		{"signature", func(d *CheckpointData) {
			sig, _ := base64.StdEncoding.DecodeString(d.Signature)
			sig[0] ^= 1
			d.Signature = base64.StdEncoding.EncodeToString(sig)
		}, "checkpoint signature invalid"},
		{"throughHash", func(d *CheckpointData) { d.ThroughHash = strings.Repeat("1", 64) }, "checkpoint signature invalid"},
		{"otherKey", func(d *CheckpointData) {
			other, _ := openTest(t)
			*d = other.sign(core.KindCheckpoint, d.ThroughSeq, d.ThroughHash)
		}, "checkpoint signed by a different key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, st := openTest(t)
			appendN(t, l, 10)
			cp, err := l.Checkpoint(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			var d CheckpointData
			json.Unmarshal(cp.Data, &d)
			tc.change(&d)
			forgeCheckpoint(t, l, st, 11, d)
			wantBad(t, l, 11, "record 11: "+tc.reason)
		})
	}
}

func TestTruncate(t *testing.T) {
	l, st := openTest(t)
	ctx := t.Context()
	appendN(t, l, 100)
	if err := l.Truncate(ctx, 51); err != nil {
		t.Fatal(err)
	}
	// 51..100 remain, plus the truncate record at 101.
	res := wantOK(t, l, 51)
	if res.Checkpoints != 1 {
		t.Fatalf("Checkpoints = %d, want 1", res.Checkpoints)
	}
	tail, _ := l.Tail(ctx, 1000)
	if tail[0].Seq != 51 || tail[len(tail)-1].Kind != core.KindTruncate {
		t.Fatalf("after Truncate: first %d, last kind %s", tail[0].Seq, tail[len(tail)-1].Kind)
	}
	if err := l.Truncate(ctx, 10); err != nil { // already gone: no-op
		t.Fatal(err)
	}
	if err := l.Truncate(ctx, 500); err == nil {
		t.Fatal("Truncate past the end allowed")
	}
	appendN(t, l, 20)
	if err := l.Truncate(ctx, 80); err != nil { // a second truncation
		t.Fatal(err)
	}
	wantOK(t, l, 122-80+1)

	t.Run("edit", func(t *testing.T) {
		rawExec(t, st, `UPDATE audit_log SET actor = 'someone else' WHERE seq = 90`)
		wantBad(t, l, 90, "record 90: hash mismatch")
		rawExec(t, st, `UPDATE audit_log SET actor = 'session:main' WHERE seq = 90`)
		wantOK(t, l, -1)
	})
	t.Run("deleteFirst", func(t *testing.T) {
		rawExec(t, st, `DELETE FROM audit_log WHERE seq = 80`)
		wantBad(t, l, 81, "no signed truncation checkpoint for record 80")
	})
}

func TestTruncateAnchorEdited(t *testing.T) {
	// Editing the first record after a truncation is caught by its hash;
	// editing its prevHash too (and fixing the hash) by the signed anchor.
	l, st := openTest(t)
	appendN(t, l, 20)
	if err := l.Truncate(t.Context(), 11); err != nil {
		t.Fatal(err)
	}
	recs, _ := l.Tail(t.Context(), 100)
	r := recs[0]
	r.Actor = "forged"
	r.PrevHash = strings.Repeat("2", 64)
	r.Hash, _ = ComputeHash(r)
	rawExec(t, st, `UPDATE audit_log SET actor = ?, prev_hash = ?, hash = ? WHERE seq = 11`, r.Actor, r.PrevHash, r.Hash)
	wantBad(t, l, 11, "record 11: previous-hash link broken")
}

// TestConcurrentAppends: appends from many goroutines share group commits
// in the store, and still form one chain in commit order: every record an
// Append returned is stored as returned, no seq is handed out twice, and
// the log verifies.
func TestConcurrentAppends(t *testing.T) {
	l, _ := openTest(t)
	ctx := t.Context()
	const goroutines, each = 16, 20
	recs := make(chan Record, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				r, err := l.Append(ctx, core.KindMessageOut, fmt.Sprint("g", g), fmt.Sprint(i), map[string]int{"g": g, "i": i})
				if err != nil {
					t.Error(err)
					return
				}
				recs <- r
			}
		})
	}
	wg.Wait()
	close(recs)
	wantOK(t, l, goroutines*each)
	stored, err := l.Tail(ctx, goroutines*each)
	if err != nil {
		t.Fatal(err)
	}
	bySeq := map[int64]Record{}
	for _, r := range stored {
		bySeq[r.Seq] = r
	}
	seen := map[int64]bool{}
	for r := range recs {
		if seen[r.Seq] {
			t.Errorf("seq %d returned twice", r.Seq)
		}
		seen[r.Seq] = true
		if got := bySeq[r.Seq]; got.Hash != r.Hash || got.PrevHash != r.PrevHash {
			t.Errorf("record %d: stored hash %s prev %s, Append returned %s prev %s", r.Seq, got.Hash, got.PrevHash, r.Hash, r.PrevHash)
		}
	}
}

// insertBatch appends n records in one transaction (for benchmarks: the
// same chain Append builds, without an fsync per record).
func insertBatch(tb testing.TB, l *Log, n int) {
	tb.Helper()
	ctx := context.Background()
	err := l.st.Write(ctx, func(tx *sql.Tx) error {
		for i := range n {
			raw := fmt.Appendf(nil, `{"i":%d,"tool":"shell","argsSha256":"%064d"}`, i, i)
			if _, err := l.appendTx(ctx, tx, core.KindToolExec, "session:main", "shell", raw); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func BenchmarkAppend(b *testing.B) {
	l, _ := openTest(b)
	ctx := context.Background()
	data := map[string]any{"tool": "shell", "argsSha256": strings.Repeat("a", 64), "action": "allow"}
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Append(ctx, core.KindPolicyDecision, "session:main", "shell", data); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
}

// BenchmarkAppendConcurrent is Append from 8 and 64 goroutines at once (a
// busy gateway: tool calls, policy decisions and replies of many sessions):
// the store commits concurrent appends together.
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, writers := range []int{8, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			l, _ := openTest(b)
			ctx := context.Background()
			data := map[string]any{"tool": "shell", "argsSha256": strings.Repeat("a", 64), "action": "allow"}
			work := make(chan struct{}, writers)
			var wg sync.WaitGroup
			for range writers {
				wg.Go(func() {
					for range work {
						if _, err := l.Append(ctx, core.KindPolicyDecision, "session:main", "shell", data); err != nil {
							b.Error(err)
						}
					}
				})
			}
			b.ResetTimer()
			start := time.Now()
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "appends/s")
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	const n = 100_000
	l, _ := openTest(b)
	insertBatch(b, l, n)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		res, err := l.Verify(ctx)
		if err != nil || !res.OK || res.Records != n {
			b.Fatalf("Verify = %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

func TestCheckpointNotReplayableAsTruncate(t *testing.T) {
	// An attacker copies a real checkpoint's data into a "truncate" record
	// appended with a correct hash and link, then deletes what it covers.
	l, st := openTest(t)
	appendN(t, l, 10)
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	r := Record{Seq: 12, TS: time.UnixMilli(time.Now().UnixMilli()), Kind: core.KindTruncate, Actor: "talon", Subject: "audit",
		Data: cp.Data, PrevHash: cp.Hash}
	r.Hash, _ = ComputeHash(r)
	rawExec(t, st, `INSERT INTO audit_log (seq, ts, kind, actor, subject, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		r.Seq, r.TS.UnixMilli(), r.Kind, r.Actor, r.Subject, string(r.Data), r.PrevHash, r.Hash)
	rawExec(t, st, `DELETE FROM audit_log WHERE seq <= 10`)
	wantBad(t, l, 11, "no signed truncation checkpoint for record 10")
}
