package auditlog

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExportAndVerifyExported(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 5)
	cp, err := l.Checkpoint(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cp.jsonl")
	if err := Export(path, cp); err != nil {
		t.Fatal(err)
	}
	recs, _ := l.Tail(t.Context(), 1)
	if err := Export(path, recs[0]); err != nil {
		t.Fatal(err) // the same checkpoint twice is fine
	}
	if err := Export(path, Record{Seq: 1, Kind: "policy.decision"}); err == nil {
		t.Fatal("exported a record that is not a checkpoint")
	}
	// A crash mid-append leaves a torn last line, which is ignored.
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"kind":"checkpoint","seq":9`)
	f.Close()
	cps, err := ReadExported(path)
	if err != nil || len(cps) != 2 || cps[0].ThroughSeq != 5 {
		t.Fatalf("read %+v %v", cps, err)
	}
	if res, err := l.VerifyExported(t.Context(), cps); err != nil || !res.OK {
		t.Fatalf("untouched: %+v %v", res, err)
	}
	appendN(t, l, 2) // later records are fine

	// History rewritten behind the checkpoint, hashes recomputed: the
	// chain may look fine to someone with the key, the export does not.
	rawExec(t, st, `UPDATE audit_log SET hash = 'x' || substr(hash, 2) WHERE seq = 5`)
	res, err := l.VerifyExported(t.Context(), cps)
	if err != nil || res.OK || res.FirstBad != 5 || !strings.Contains(res.Reason, "differs") {
		t.Fatalf("rewritten: %+v %v", res, err)
	}

	// A forged exported checkpoint is refused.
	bad := cps[0]
	bad.ThroughSeq = 3
	if res, _ := l.VerifyExported(t.Context(), []Exported{bad}); res.OK || !strings.Contains(res.Reason, "signature") {
		t.Fatalf("forged export accepted: %+v", res)
	}
	// Corrupt lines in the middle are an error, not silently skipped.
	os.WriteFile(path, []byte("{}\nnot json\n{}\n"), 0o600)
	if _, err := ReadExported(path); err == nil {
		t.Fatal("corrupt export read without error")
	}
}

func TestTruncateBeforeKeepsTheRestVerifiable(t *testing.T) {
	l, st := openTest(t)
	appendN(t, l, 5)
	old := time.Now().AddDate(0, 0, -40).UnixMilli()
	rawExec(t, st, `UPDATE audit_log SET ts = ? WHERE seq <= 3`, old)
	n, err := l.TruncateBefore(t.Context(), time.Now().AddDate(0, 0, -30))
	if err != nil || n != 3 {
		t.Fatalf("removed %d, %v; want 3", n, err)
	}
	res := verify(t, l)
	if !res.OK {
		t.Fatalf("after retention: %+v", res)
	}
	if n, _ := l.TruncateBefore(t.Context(), time.Now().AddDate(0, 0, -30)); n != 0 {
		t.Fatalf("second run removed %d more", n)
	}
	// Everything old: the newest record stays.
	n, err = l.TruncateBefore(t.Context(), time.Now().Add(time.Hour))
	if err != nil || n == 0 {
		t.Fatalf("all old: %d %v", n, err)
	}
	if res := verify(t, l); !res.OK || res.Records < 1 {
		t.Fatalf("after removing everything old: %+v", res)
	}
}
