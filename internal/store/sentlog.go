package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"sync"
	"time"
)

// The sent log.
//
// A reply goes out, the platform accepts it, and only then can the journal
// row say so (reply_sent_at). A kill -9 between the two makes the restart
// send the reply again: chat platforms have no idempotency key to catch it.
// That window is as long as the mark takes to commit: behind a batch's
// fsync in the group-commit writer, a millisecond or more. The sent log
// shortens it to one write(2) of 16 bytes: MarkInboundSent appends the row
// id to a small file beside the database (no fsync: like a writeFast
// commit, it survives kill -9 and a power cut can drop it), and
// PendingInbound treats the rows it names as replied. The database stays
// the record: MarkInboundDone follows as before, and the log is emptied
// whenever every id in it has been marked there.
//
// Record: id (int64, little-endian), crc32 (IEEE) of those 8 bytes, and
// the magic "TSL1". A torn or garbage record (a power cut) is skipped.

const (
	sentRecord     = 16
	sentMagic      = "TSL1"
	sentLogMaxSize = 64 << 10 // empty it once past this and every id in it is marked done
)

type sentLog struct {
	path string

	mu          sync.Mutex
	f           *os.File
	size        int64
	outstanding map[int64]bool // logged, not yet marked done in the database
}

// openSentLog opens (creating, mode FileMode) the log for appending.
func (l *sentLog) open() error {
	if l.f != nil {
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, FileMode)
	if err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	l.f, l.size = f, st.Size()
	if l.outstanding == nil {
		l.outstanding = map[int64]bool{}
	}
	return nil
}

// MarkInboundSent records, at once and without waiting for the database,
// that the reply to inbound id has been delivered. Call MarkInboundDone
// after it, as before; PendingInbound counts either.
func (s *Store) MarkInboundSent(id int64) error {
	l := s.sent
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.open(); err != nil {
		return fmt.Errorf("store.MarkInboundSent: %w", err)
	}
	var rec [sentRecord]byte
	binary.LittleEndian.PutUint64(rec[0:8], uint64(id))
	binary.LittleEndian.PutUint32(rec[8:12], crc32.ChecksumIEEE(rec[0:8]))
	copy(rec[12:], sentMagic)
	if _, err := l.f.Write(rec[:]); err != nil {
		return fmt.Errorf("store.MarkInboundSent: %w", err)
	}
	l.size += sentRecord
	l.outstanding[id] = true
	return nil
}

// doneInLog notes that id's done mark is committed, and empties the log
// when it is large and holds nothing the database lacks.
func (l *sentLog) done(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.outstanding, id)
	if l.f == nil || l.size < sentLogMaxSize || len(l.outstanding) > 0 {
		return
	}
	if err := l.f.Truncate(0); err == nil {
		l.size = 0
	}
}

// readSentLog returns the ids the log holds.
func readSentLog(path string) (map[int64]bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ids := map[int64]bool{}
	for len(b) >= sentRecord {
		rec := b[:sentRecord]
		b = b[sentRecord:]
		if string(rec[12:]) != sentMagic || binary.LittleEndian.Uint32(rec[8:12]) != crc32.ChecksumIEEE(rec[0:8]) {
			continue
		}
		ids[int64(binary.LittleEndian.Uint64(rec[0:8]))] = true
	}
	return ids, nil
}

// foldSentLog writes the log's ids into the journal (reply_sent_at, one
// durable commit) and empties the log. It runs at PendingInbound, holding
// the log so no mark is appended meanwhile.
func (s *Store) foldSentLog(ctx context.Context) error {
	l := s.sent
	l.mu.Lock()
	defer l.mu.Unlock()
	ids, err := readSentLog(l.path)
	if err != nil || len(ids) == 0 {
		return err
	}
	now := time.Now().UnixMilli()
	err = s.Write(ctx, func(tx *sql.Tx) error {
		for id := range ids {
			if _, err := tx.ExecContext(ctx, `UPDATE inbound SET reply_sent_at = ? WHERE id = ? AND reply_sent_at = 0`, now, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if l.f != nil {
		if err := l.f.Truncate(0); err != nil {
			return err
		}
		l.size = 0
		clear(l.outstanding)
		return nil
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Truncate(0)
}

func (l *sentLog) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
