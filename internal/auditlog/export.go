package auditlog

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/talonclaw/talon/internal/core"
)

// Exported is one line of a checkpoint export file: a signed checkpoint
// copied off the database, so that deleting the newest records (which the
// chain alone cannot reveal) shows up in VerifyExported.
type Exported struct {
	Kind string `json:"kind"` // core.KindCheckpoint or core.KindTruncate
	Seq  int64  `json:"seq"`  // the checkpoint record's own seq
	TS   string `json:"ts"`
	CheckpointData
}

// Export appends rec (a checkpoint or truncate record) to the file at path
// as one JSON line, creating it 0600, and syncs it to disk before it
// returns.
func Export(path string, rec Record) error {
	if rec.Kind != core.KindCheckpoint && rec.Kind != core.KindTruncate {
		return fmt.Errorf("auditlog.Export: record %d is a %s, not a checkpoint", rec.Seq, rec.Kind)
	}
	var cp CheckpointData
	if err := json.Unmarshal(rec.Data, &cp); err != nil {
		return fmt.Errorf("auditlog.Export: %w", err)
	}
	line, err := json.Marshal(Exported{Kind: rec.Kind, Seq: rec.Seq, TS: rec.TS.UTC().Format("2006-01-02T15:04:05.000Z"), CheckpointData: cp})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("auditlog.Export: %w", err)
	}
	_, err = f.Write(append(line, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("auditlog.Export: %w", err)
	}
	return nil
}

// ReadExported reads an export file. A torn last line (a crash while
// appending) is ignored; any other bad line is an error.
func ReadExported(path string) ([]Exported, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auditlog.ReadExported: %w", err)
	}
	var out []Exported
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var e Exported
		if err := json.Unmarshal(line, &e); err != nil {
			if !bytes.HasSuffix(raw, []byte("\n")) && n == bytes.Count(raw, []byte("\n"))+1 {
				break // torn final line
			}
			return nil, fmt.Errorf("auditlog.ReadExported: %s line %d: %w", path, n, err)
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// VerifyExported checks the database against exported checkpoints: each
// must be signed by this log's key, and the record it covers must still be
// in the log with the same hash, unless a signed truncation removed it.
// Records missing past an exported checkpoint are reported as deleted.
func (l *Log) VerifyExported(ctx context.Context, cps []Exported) (VerifyResult, error) {
	res := VerifyResult{OK: true}
	err := l.st.Read(ctx, func(tx *sql.Tx) error {
		var first, lastSeq int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM audit_log").Scan(&first, &lastSeq); err != nil {
			return err
		}
		for _, e := range cps {
			data, _ := json.Marshal(e.CheckpointData)
			if _, why := l.checkCheckpoint(e.Kind, data); why != "" {
				res = VerifyResult{FirstBad: e.Seq, Reason: fmt.Sprintf("exported checkpoint %d: %s", e.Seq, why)}
				return nil
			}
			res.Checkpoints++
			through := e.ThroughSeq
			if through > lastSeq {
				res = VerifyResult{FirstBad: lastSeq + 1, Reason: fmt.Sprintf("records %d to %d are missing: an exported checkpoint covers them, the log ends at %d", lastSeq+1, through, lastSeq)}
				return nil
			}
			if through < first {
				continue // removed by retention; the truncation record vouches for it
			}
			var hash string
			err := tx.QueryRowContext(ctx, "SELECT hash FROM audit_log WHERE seq = ?", through).Scan(&hash)
			if errors.Is(err, sql.ErrNoRows) {
				res = VerifyResult{FirstBad: through, Reason: fmt.Sprintf("record %d is missing (an exported checkpoint covers it)", through)}
				return nil
			} else if err != nil {
				return err
			}
			if hash != e.ThroughHash {
				res = VerifyResult{FirstBad: through, Reason: fmt.Sprintf("record %d differs from the exported checkpoint (history rewritten)", through)}
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("auditlog.VerifyExported: %w", err)
	}
	return res, nil
}
