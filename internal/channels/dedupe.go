package channels

import (
	"sync"
	"time"
)

// Dedupe remembers recently seen message ids so that an update the
// platform delivers twice (a long poll retried after a timeout, a webhook
// redelivered, a gateway resume) is handled once. It keeps at most Size
// ids, each for at most TTL.
type Dedupe struct {
	Size int           // 0 means 4096
	TTL  time.Duration // 0 means 1h

	mu    sync.Mutex
	seen  map[string]time.Time
	order []string // insertion order, for eviction
}

// Seen records key and reports whether it was already recorded (and not
// expired).
func (d *Dedupe) Seen(key string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	size, ttl := d.Size, d.TTL
	if size <= 0 {
		size = 4096
	}
	if ttl <= 0 {
		ttl = time.Hour
	}
	if d.seen == nil {
		d.seen = map[string]time.Time{}
	}
	if t, ok := d.seen[key]; ok && now.Sub(t) < ttl {
		return true
	}
	d.seen[key] = now
	d.order = append(d.order, key)
	for len(d.order) > size || (len(d.order) > 0 && now.Sub(d.seen[d.order[0]]) >= ttl) {
		old := d.order[0]
		d.order = d.order[1:]
		if t, ok := d.seen[old]; ok && (len(d.order) >= size || now.Sub(t) >= ttl) {
			delete(d.seen, old)
		}
	}
	if cap(d.order) > 4*size {
		d.order = append([]string(nil), d.order...)
	}
	return false
}

// Forget removes key, so that the next Seen of it reports false: a message
// whose handling failed is handled again when the platform redelivers it.
func (d *Dedupe) Forget(key string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.seen, key)
}
