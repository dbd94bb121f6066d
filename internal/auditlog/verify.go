package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"

	"github.com/talonclaw/talon/internal/core"
)

// VerifyResult is what Verify found.
type VerifyResult struct {
	OK          bool
	Records     int64  // records checked
	FirstBad    int64  // the first bad seq (0 if OK)
	Reason      string // why, naming the seq ("" if OK)
	Checkpoints int    // valid checkpoint and truncate records seen
}

// checkCheckpoint checks a checkpoint or truncate record's Data: that it is
// signed by this log's key and the signature covers what it claims.
func (l *Log) checkCheckpoint(kind string, data []byte) (CheckpointData, string) {
	var cp CheckpointData
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cp); err != nil {
		return cp, fmt.Sprintf("checkpoint data unreadable: %v", err)
	}
	pub, err := base64.StdEncoding.DecodeString(cp.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return cp, "checkpoint public key malformed"
	}
	if !bytes.Equal(pub, l.pub) {
		return cp, "checkpoint signed by a different key than this log's"
	}
	sig, err := base64.StdEncoding.DecodeString(cp.Signature)
	if err != nil || !ed25519.Verify(l.pub, SignedMessage(kind, cp.ThroughSeq, cp.ThroughHash), sig) {
		return cp, "checkpoint signature invalid (forged or altered)"
	}
	return cp, ""
}

// Verify walks every record in seq order, in one consistent snapshot, and
// checks each hash, each previous-hash link, seq continuity and every
// checkpoint signature. It stops at the first bad record. An error means
// Verify could not read the log, not that the log is bad.
func (l *Log) Verify(ctx context.Context) (VerifyResult, error) {
	var res VerifyResult
	err := l.st.Read(ctx, func(tx *sql.Tx) error {
		res = VerifyResult{}
		var first int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0) FROM audit_log").Scan(&first); err != nil {
			return err
		}
		if first == 0 {
			res.OK = true
			return nil
		}
		// A log starting after seq 1 must be vouched for by a signed
		// truncate record (which, being newer, is still in the log).
		var anchor string
		if first != 1 {
			var found bool
			var err error
			anchor, found, err = l.truncateAnchor(ctx, tx, first-1)
			if err != nil {
				return err
			}
			if !found {
				res.FirstBad = first
				res.Reason = fmt.Sprintf("record %d: log starts at seq %d with no signed truncation checkpoint for record %d (records at the start were deleted)", first, first, first-1)
				return nil
			}
		}

		rows, err := tx.QueryContext(ctx, selectCols+" ORDER BY seq")
		if err != nil {
			return err
		}
		defer rows.Close()
		prevSeq, prevHash := first-1, anchor
		for rows.Next() {
			var r Record
			var ms int64
			if err := scanRecord(rows, &r, &ms); err != nil {
				return err
			}
			if bad := l.checkRecord(&res, r, ms, prevSeq, prevHash); bad {
				return nil
			}
			res.Records++
			prevSeq, prevHash = r.Seq, r.Hash
		}
		if err := rows.Err(); err != nil {
			return err
		}
		res.OK = true
		return nil
	})
	if err != nil {
		return VerifyResult{}, fmt.Errorf("auditlog.Verify: %w", err)
	}
	return res, nil
}

// checkRecord checks r against its predecessor; on a problem it fills in
// res.FirstBad and res.Reason and reports true.
func (l *Log) checkRecord(res *VerifyResult, r Record, ms, prevSeq int64, prevHash string) bool {
	fail := func(seq int64, format string, args ...any) bool {
		res.FirstBad = seq
		res.Reason = fmt.Sprintf(format, args...)
		return true
	}
	if r.Seq != prevSeq+1 {
		if r.Seq == prevSeq+2 {
			return fail(prevSeq+1, "seq gap %d → %d (record %d deleted)", prevSeq, r.Seq, prevSeq+1)
		}
		return fail(prevSeq+1, "seq gap %d → %d (records %d–%d deleted)", prevSeq, r.Seq, prevSeq+1, r.Seq-1)
	}
	data, err := canonicalData(r.Data)
	if err != nil {
		return fail(r.Seq, "record %d: data is not JSON (contents changed)", r.Seq)
	}
	if hashRecord(r.Seq, ms, r.Kind, r.Actor, r.Subject, data, r.PrevHash) != r.Hash {
		return fail(r.Seq, "record %d: hash mismatch (contents changed)", r.Seq)
	}
	if r.PrevHash != prevHash {
		return fail(r.Seq, "record %d: previous-hash link broken (a record before it was deleted or reordered)", r.Seq)
	}
	switch r.Kind {
	case core.KindCheckpoint:
		cp, why := l.checkCheckpoint(r.Kind, r.Data)
		if why != "" {
			return fail(r.Seq, "record %d: %s", r.Seq, why)
		}
		if cp.ThroughSeq != prevSeq || cp.ThroughHash != prevHash {
			return fail(r.Seq, "record %d: checkpoint covers record %d (%.12s…), not the record before it", r.Seq, cp.ThroughSeq, cp.ThroughHash)
		}
		res.Checkpoints++
	case core.KindTruncate:
		cp, why := l.checkCheckpoint(r.Kind, r.Data)
		if why != "" {
			return fail(r.Seq, "record %d: %s", r.Seq, why)
		}
		if cp.ThroughSeq >= r.Seq {
			return fail(r.Seq, "record %d: truncation checkpoint covers record %d, not an earlier one", r.Seq, cp.ThroughSeq)
		}
		res.Checkpoints++
	}
	return false
}

// truncateAnchor finds a validly signed truncate record for through and
// returns the hash it vouches for.
func (l *Log) truncateAnchor(ctx context.Context, tx *sql.Tx, through int64) (string, bool, error) {
	rows, err := tx.QueryContext(ctx, "SELECT data FROM audit_log WHERE kind = ? ORDER BY seq DESC", core.KindTruncate)
	if err != nil {
		return "", false, err
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return "", false, err
		}
		cp, why := l.checkCheckpoint(core.KindTruncate, data)
		if why == "" && cp.ThroughSeq == through {
			return cp.ThroughHash, true, nil
		}
	}
	return "", false, rows.Err()
}
