// Package auditlog is Talon's append-only, hash-chained audit log. It
// upholds security invariant 12: every decision and side effect is in an
// append-only hash-chained audit log that `talon audit verify` checks;
// tampering is detected.
//
// Guarantees:
//
//   - Chained. Record n carries PrevHash = Hash of record n-1 ("" for
//     record 1), and Hash = hex SHA-256 of its canonical encoding (below),
//     which covers PrevHash. Append reads the last record and inserts the
//     next one in the same store write transaction, so appends are
//     serialised (also against another process) and the chain never forks.
//     Concurrent appends share the store's group commits: within one
//     transaction they run one after another, each reading the record the
//     one before it inserted, so the chain links records in commit order.
//   - Durable on return. Append returns only after store.Write committed
//     (WAL, synchronous=FULL): an acknowledged record survives kill -9.
//   - Tampering is detected. Verify walks every record in seq order and
//     names the first bad seq: a changed record (hash mismatch), a deleted
//     one (seq gap), a reordered or inserted one (hash mismatch or broken
//     previous-hash link), a forged checkpoint (bad signature).
//   - Signed checkpoints. Checkpoint appends a "checkpoint" record whose
//     Data holds {throughSeq, throughHash, signature, publicKey}: an ed25519
//     signature over "talon-audit-checkpoint|<throughSeq>|<throughHash>"
//     with the gateway's audit key. Publishing a checkpoint elsewhere pins
//     the whole chain up to it.
//   - Retention without losing verifiability. Truncate(beforeSeq) first
//     appends a signed "truncate" checkpoint for record beforeSeq-1, then
//     deletes the records before beforeSeq, in one transaction. Its
//     signature covers "talon-audit-truncate|<seq>|<hash>" instead, so a
//     checkpoint's signature cannot be replayed to license a deletion. Verify
//     accepts a log that starts at seq s > 1 only if a validly signed
//     truncate record vouches for (s-1, PrevHash of record s).
//
// What a hash chain cannot show on its own: the hashes are unkeyed, so an
// attacker with write access to the database who deletes the newest records
// (or everything), or appends well-formed records after the last one,
// leaves a still consistent chain. Checkpoints copied off the machine (or
// the seq of the last record seen by an external monitor) close that gap;
// the signature stops forging a checkpoint or a truncation without the key.
//
// # Canonical encoding (version 1, stable)
//
// The hash of a record is SHA-256 over this byte string:
//
//	"talon-audit-v1\x00"
//	seq            8 bytes, big-endian two's complement int64
//	ts             8 bytes, big-endian int64, Unix milliseconds
//	kind           4-byte big-endian length, then the UTF-8 bytes
//	actor          4-byte big-endian length, then the UTF-8 bytes
//	subject        4-byte big-endian length, then the UTF-8 bytes
//	data           4-byte big-endian length, then the JSON, compacted (encoding/json.Compact)
//	prevHash       4-byte big-endian length, then the lowercase hex string
//
// Hash itself is not part of the encoding. Timestamps are kept at
// millisecond precision, so a Record read back hashes the same.
//
// # Key file
//
// The checkpoint signing key is an ed25519 private key in a PEM file
// ("PRIVATE KEY", PKCS#8, as written by `openssl genpkey -algorithm
// ed25519`). Open creates it, mode 0600 from the first byte, if it is
// missing, and refuses a key file readable or writable by group or others.
package auditlog

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/store"
)

// Func is how the parts of Talon write audit records: kind (one of the
// Kind constants), who acted, what it was about, and details. It returns
// the error of the write: a caller that guards an effect with its record
// (an intent written before a tool runs) must not go ahead without it.
type Func func(ctx context.Context, kind, actor, subject string, data any) error

// Record is one audit log entry.
type Record struct {
	Seq      int64           `json:"seq"`      // 1, 2, 3 …
	TS       time.Time       `json:"ts"`       // millisecond precision
	Kind     string          `json:"kind"`     // see the Kind constants
	Actor    string          `json:"actor"`    // who (client id, session key, "cli")
	Subject  string          `json:"subject"`  // what (tool name, method, key path)
	Data     json.RawMessage `json:"data"`     // details; never secret values (callers redact)
	PrevHash string          `json:"prevHash"` // Hash of the previous record; "" for seq 1
	Hash     string          `json:"hash"`     // hex SHA-256 of the canonical encoding
}

// CheckpointData is the Data of a "checkpoint" or "truncate" record.
type CheckpointData struct {
	ThroughSeq  int64  `json:"throughSeq"`  // the last record the checkpoint covers
	ThroughHash string `json:"throughHash"` // its Hash
	Signature   string `json:"signature"`   // base64 ed25519 signature of SignedMessage(kind, ThroughSeq, ThroughHash)
	PublicKey   string `json:"publicKey"`   // base64 ed25519 public key that made it
}

// SignedMessage is the byte string the signature in a record of kind
// (core.KindCheckpoint or core.KindTruncate) covers:
// "talon-audit-checkpoint|<seq>|<hash>" or "talon-audit-truncate|<seq>|<hash>".
// The two are kept apart so that an ordinary checkpoint's signature cannot
// be replayed as a truncation that licenses deleting the records it covers.
func SignedMessage(kind string, seq int64, hash string) []byte {
	prefix := "talon-audit-checkpoint|"
	if kind == core.KindTruncate {
		prefix = "talon-audit-truncate|"
	}
	return []byte(prefix + strconv.FormatInt(seq, 10) + "|" + hash)
}

const encodingPrefix = "talon-audit-v1\x00"

// hashRecord returns the hex SHA-256 of r's canonical encoding. data must
// already be compact JSON (see canonicalData).
func hashRecord(seq, tsMS int64, kind, actor, subject string, data []byte, prevHash string) string {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(encodingPrefix))
	binary.BigEndian.PutUint64(b[:], uint64(seq))
	h.Write(b[:])
	binary.BigEndian.PutUint64(b[:], uint64(tsMS))
	h.Write(b[:])
	for _, f := range [][]byte{[]byte(kind), []byte(actor), []byte(subject), data, []byte(prevHash)} {
		binary.BigEndian.PutUint32(b[:4], uint32(len(f)))
		h.Write(b[:4])
		h.Write(f)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// canonicalData compacts JSON; it fails if data is not JSON.
func canonicalData(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(data))
	if err := json.Compact(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ComputeHash returns the hash r should carry (its canonical encoding's
// SHA-256, ignoring r.Hash).
func ComputeHash(r Record) (string, error) {
	d, err := canonicalData(r.Data)
	if err != nil {
		return "", fmt.Errorf("auditlog.ComputeHash: data: %w", err)
	}
	return hashRecord(r.Seq, r.TS.UnixMilli(), r.Kind, r.Actor, r.Subject, d, r.PrevHash), nil
}

// Log is an open audit log. It is safe for concurrent use.
type Log struct {
	st   *store.Store
	priv ed25519.PrivateKey
	pub  ed25519.PublicKey
	now  func() time.Time
}

// Open returns the audit log kept in st, signing checkpoints with the key
// at keyPath (created if missing; see the package doc).
func Open(st *store.Store, keyPath string) (*Log, error) {
	if st == nil {
		return nil, errors.New("auditlog.Open: nil store")
	}
	priv, err := loadOrCreateKey(keyPath)
	if err != nil {
		return nil, fmt.Errorf("auditlog.Open: %w", err)
	}
	return &Log{st: st, priv: priv, pub: priv.Public().(ed25519.PublicKey), now: time.Now}, nil
}

// PublicKey is the key checkpoint signatures verify against.
func (l *Log) PublicKey() ed25519.PublicKey { return l.pub }

// ErrInvalidKind is returned by Append for an empty kind or one of the
// kinds only the log itself writes.
var ErrInvalidKind = errors.New("auditlog: invalid record kind")

// Append adds a record and returns it once it is durable. data is
// marshalled with encoding/json (nil becomes null; a json.RawMessage is
// taken as is, compacted). It must not contain secret values.
func (l *Log) Append(ctx context.Context, kind, actor, subject string, data any) (Record, error) {
	if kind == "" || kind == core.KindCheckpoint || kind == core.KindTruncate {
		return Record{}, fmt.Errorf("auditlog.Append: %w: %q", ErrInvalidKind, kind)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return Record{}, fmt.Errorf("auditlog.Append: data: %w", err)
	}
	var rec Record
	err = l.st.Write(ctx, func(tx *sql.Tx) error {
		var err error
		rec, err = l.appendTx(ctx, tx, kind, actor, subject, raw)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("auditlog.Append: %w", err)
	}
	return rec, nil
}

// last returns the seq and hash of the newest record (0, "" if none).
func last(ctx context.Context, tx *sql.Tx) (int64, string, error) {
	var seq int64
	var hash string
	err := tx.QueryRowContext(ctx, "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", nil
	}
	return seq, hash, err
}

func (l *Log) appendTx(ctx context.Context, tx *sql.Tx, kind, actor, subject string, raw []byte) (Record, error) {
	data, err := canonicalData(raw)
	if err != nil {
		return Record{}, fmt.Errorf("data: %w", err)
	}
	seq, prev, err := last(ctx, tx)
	if err != nil {
		return Record{}, err
	}
	ms := l.now().UnixMilli()
	r := Record{
		Seq: seq + 1, TS: time.UnixMilli(ms).UTC(), Kind: kind, Actor: actor, Subject: subject,
		Data: data, PrevHash: prev,
	}
	r.Hash = hashRecord(r.Seq, ms, kind, actor, subject, data, prev)
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_log (seq, ts, kind, actor, subject, data, prev_hash, hash)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, r.Seq, ms, kind, actor, subject, string(data), prev, r.Hash)
	if err != nil {
		return Record{}, err
	}
	return r, nil
}

func (l *Log) sign(kind string, seq int64, hash string) CheckpointData {
	return CheckpointData{
		ThroughSeq:  seq,
		ThroughHash: hash,
		Signature:   base64.StdEncoding.EncodeToString(ed25519.Sign(l.priv, SignedMessage(kind, seq, hash))),
		PublicKey:   base64.StdEncoding.EncodeToString(l.pub),
	}
}

// Checkpoint appends a signed "checkpoint" record covering every record
// before it.
func (l *Log) Checkpoint(ctx context.Context) (Record, error) {
	var rec Record
	err := l.st.Write(ctx, func(tx *sql.Tx) error {
		seq, hash, err := last(ctx, tx)
		if err != nil {
			return err
		}
		raw, err := json.Marshal(l.sign(core.KindCheckpoint, seq, hash))
		if err != nil {
			return err
		}
		rec, err = l.appendTx(ctx, tx, core.KindCheckpoint, "talon", "audit", raw)
		return err
	})
	if err != nil {
		return Record{}, fmt.Errorf("auditlog.Checkpoint: %w", err)
	}
	return rec, nil
}

// Truncate deletes the records before beforeSeq, after appending a signed
// "truncate" checkpoint for record beforeSeq-1 so that Verify can still
// check the records that remain. Both happen in one transaction. It does
// nothing if no record before beforeSeq remains.
func (l *Log) Truncate(ctx context.Context, beforeSeq int64) error {
	err := l.st.Write(ctx, func(tx *sql.Tx) error {
		var first int64
		if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0) FROM audit_log").Scan(&first); err != nil {
			return err
		}
		if first == 0 || beforeSeq <= first {
			return nil
		}
		lastSeq, _, err := last(ctx, tx)
		if err != nil {
			return err
		}
		if beforeSeq > lastSeq+1 {
			return fmt.Errorf("beforeSeq %d is past the end of the log (last record %d)", beforeSeq, lastSeq)
		}
		var throughHash string
		err = tx.QueryRowContext(ctx, "SELECT hash FROM audit_log WHERE seq = ?", beforeSeq-1).Scan(&throughHash)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("record %d is missing (run verify)", beforeSeq-1)
		}
		if err != nil {
			return err
		}
		raw, err := json.Marshal(l.sign(core.KindTruncate, beforeSeq-1, throughHash))
		if err != nil {
			return err
		}
		if _, err := l.appendTx(ctx, tx, core.KindTruncate, "talon", "audit", raw); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM audit_log WHERE seq < ?", beforeSeq)
		return err
	})
	if err != nil {
		return fmt.Errorf("auditlog.Truncate: %w", err)
	}
	return nil
}

const selectCols = "SELECT seq, ts, kind, actor, subject, data, prev_hash, hash FROM audit_log"

func scanRecord(rows *sql.Rows, r *Record, ms *int64) error {
	var data []byte
	if err := rows.Scan(&r.Seq, ms, &r.Kind, &r.Actor, &r.Subject, &data, &r.PrevHash, &r.Hash); err != nil {
		return err
	}
	r.TS = time.UnixMilli(*ms).UTC()
	r.Data = data
	return nil
}

// Tail returns the last n records, oldest first.
func (l *Log) Tail(ctx context.Context, n int) ([]Record, error) {
	if n <= 0 {
		return nil, nil
	}
	var out []Record
	err := l.st.Read(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, selectCols+" ORDER BY seq DESC LIMIT ?", n)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var r Record
			var ms int64
			if err := scanRecord(rows, &r, &ms); err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("auditlog.Tail: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// TruncateBefore applies retention: it deletes the records older than
// cutoff (through a signed truncation, so the rest still verifies) and
// returns how many went. The newest record always stays.
func (l *Log) TruncateBefore(ctx context.Context, cutoff time.Time) (int64, error) {
	var before, first int64
	err := l.st.Read(ctx, func(tx *sql.Tx) error {
		// The first record at or after the cutoff; records are appended in
		// time order, so everything before it is older.
		err := tx.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0) FROM audit_log WHERE ts >= ?", cutoff.UnixMilli()).Scan(&before)
		if err != nil {
			return err
		}
		if before == 0 { // everything is old: keep the last record
			if err := tx.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM audit_log").Scan(&before); err != nil {
				return err
			}
		}
		return tx.QueryRowContext(ctx, "SELECT COALESCE(MIN(seq), 0) FROM audit_log").Scan(&first)
	})
	if err != nil {
		return 0, fmt.Errorf("auditlog.TruncateBefore: %w", err)
	}
	if first == 0 || before <= first {
		return 0, nil
	}
	if err := l.Truncate(ctx, before); err != nil {
		return 0, err
	}
	return before - first, nil
}
