package store

import (
	"container/list"
	"context"
	"database/sql"
	"slices"
	"sync"
)

// History cache.
//
// Every model call of a turn reads the session's whole context (History
// with no limit): tens to hundreds of rows decoded again for each call,
// though all but the last few are the ones the previous call read. The
// cache keeps, per session key, the context as History last returned it,
// and brings it up to date from the database on every read:
//
//   - A read is still one read transaction. It looks up the session's
//     current id and the rows of that id with a seq above the last one
//     cached (an index range, usually one or two rows), and appends them.
//   - The cached context is exactly what a full read would return as long
//     as nothing but appends happened: a transcript only changes by
//     appending rows with a higher seq (appendTx), by compaction, which
//     always appends its summary in the same transaction (Compact), by a
//     reset or delete, which changes or removes the current id, and by
//     PruneMessages, which deletes only rows outside every context. So a
//     new id, a missing row, or a new row that is a summary or compacted
//     makes the read a full one, which replaces the entry.
//   - Because it checks the database each time, writes by other processes
//     (a CLI on the same state dir) are seen like the gateway's own.
//
// It holds at most histMaxEntries sessions and histMaxBytes of message
// text, least recently used first out. Messages handed to callers are
// copies of the cached slice (their json.RawMessage fields are shared and
// must not be modified, as with any Message History returns).
const (
	histMaxEntries = 256
	histMaxBytes   = 16 << 20
)

type histEntry struct {
	key     string
	id      string    // session id the messages belong to
	lastSeq int64     // highest seq of id seen (summary or not)
	msgs    []Message // History's answer: the summary first, then live messages in seq order
	bytes   int
	elem    *list.Element
}

type historyCache struct {
	mu    sync.Mutex
	m     map[string]*histEntry
	lru   list.List // of *histEntry, most recent at the front
	bytes int

	// For tests: reads answered by appending to an entry, and full reads.
	hits, fulls int64
}

func newHistoryCache() *historyCache {
	return &historyCache{m: map[string]*histEntry{}}
}

func msgBytes(ms []Message) int {
	n := 0
	for i := range ms {
		n += len(ms[i].Content) + len(ms[i].ToolCalls) + len(ms[i].Decision) + 256
	}
	return n
}

// get returns a copy of the entry of key if it is for session id id.
func (c *historyCache) get(key, id string) (msgs []Message, lastSeq int64, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil || e.id != id {
		return nil, 0, false
	}
	c.lru.MoveToFront(e.elem)
	// Room for the rows the caller appends (new ones, a turn's pending
	// message) without copying it all again.
	if len(e.msgs) > 0 {
		msgs = make([]Message, len(e.msgs), len(e.msgs)+8)
		copy(msgs, e.msgs)
	}
	return msgs, e.lastSeq, true
}

// put stores msgs, read in full, as key's context for id up to lastSeq.
func (c *historyCache) put(key, id string, lastSeq int64, msgs []Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fulls++
	if e := c.m[key]; e != nil {
		if e.id == id && e.lastSeq > lastSeq {
			return // a concurrent reader stored a later snapshot
		}
		c.remove(e)
	}
	n := msgBytes(msgs)
	if n > histMaxBytes/4 {
		return // one huge session would evict everything else
	}
	e := &histEntry{key: key, id: id, lastSeq: lastSeq, msgs: slices.Clone(msgs), bytes: n}
	e.elem = c.lru.PushFront(e)
	c.m[key] = e
	c.bytes += e.bytes
	c.trim()
}

// extend appends more, the rows of id after from up to to, to key's entry
// if it still ends at from.
func (c *historyCache) extend(key, id string, from, to int64, more []Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hits++
	e := c.m[key]
	if e == nil || e.id != id || e.lastSeq != from {
		return
	}
	e.lastSeq = to
	if len(more) == 0 {
		return
	}
	e.msgs = append(e.msgs, more...)
	n := msgBytes(more)
	e.bytes += n
	c.bytes += n
	if e.bytes > histMaxBytes/4 {
		c.remove(e)
	}
	c.trim()
}

func (c *historyCache) trim() {
	for len(c.m) > histMaxEntries || c.bytes > histMaxBytes {
		c.remove(c.lru.Back().Value.(*histEntry))
	}
}

func (c *historyCache) remove(e *histEntry) {
	c.lru.Remove(e.elem)
	delete(c.m, e.key)
	c.bytes -= e.bytes
}

// cachedHistory is History for o.Limit == 0 and !o.IncludeCompacted of
// the current id, inside the read transaction tx. It returns ok = false
// when the cache cannot answer; the caller then reads in full and calls
// s.hist.put.
func (s *Store) cachedHistory(ctx context.Context, tx *sql.Tx, key, id string) ([]Message, bool, error) {
	msgs, from, ok := s.hist.get(key, id)
	if !ok {
		return nil, false, nil
	}
	n, last := len(msgs), from
	rows, err := tx.QueryContext(ctx, "SELECT "+messageCols+" FROM messages WHERE session_id = ? AND seq > ? ORDER BY seq", id, last)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, false, err
		}
		if m.Summary || m.Compacted || m.SessionKey != key {
			return nil, false, nil // compacted since: read in full
		}
		msgs = append(msgs, m)
		last = m.Seq
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	s.hist.extend(key, id, from, last, msgs[n:])
	return msgs, true, nil
}
