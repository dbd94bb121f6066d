package gateway

import (
	"net/netip"
	"sync"
	"time"
)

// authLimiter counts failed authentications per key (a client address, and
// the Origin for browser connections) in a sliding window; a key that reaches
// the limit is locked out. The table is bounded so a flood of distinct
// addresses cannot exhaust memory; when full, expired and then unlocked
// entries are evicted first, and locked ones only last.
type authLimiter struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[string]*limitEntry
	maxKeys int
}

type limitEntry struct {
	failures    []time.Time
	lockedUntil time.Time
}

type limitPolicy struct {
	maxAttempts int
	window      time.Duration
	lockout     time.Duration
}

func newAuthLimiter(now func() time.Time) *authLimiter {
	return &authLimiter{now: now, entries: map[string]*limitEntry{}, maxKeys: 20000}
}

// addrKey groups IPv6 clients by /64, since one host usually owns a whole /64.
func addrKey(a netip.Addr) string {
	a = a.Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}

// lockedFor reports how long the longest lockout among keys has left.
func (l *authLimiter) lockedFor(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var left time.Duration
	for _, k := range keys {
		if e := l.entries[k]; e != nil && e.lockedUntil.After(now) {
			left = max(left, e.lockedUntil.Sub(now))
		}
	}
	return left
}

// fail records a failed attempt for every key and reports whether any of
// them is now locked.
func (l *authLimiter) fail(p limitPolicy, keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	locked := false
	for _, k := range keys {
		e := l.entries[k]
		if e == nil {
			l.makeRoom(now)
			e = &limitEntry{}
			l.entries[k] = e
		}
		cut := now.Add(-p.window)
		kept := e.failures[:0]
		for _, t := range e.failures {
			if t.After(cut) {
				kept = append(kept, t)
			}
		}
		e.failures = append(kept, now)
		if len(e.failures) >= p.maxAttempts {
			e.lockedUntil = now.Add(p.lockout)
			e.failures = e.failures[:0]
		}
		if e.lockedUntil.After(now) {
			locked = true
		}
	}
	return locked
}

// succeed forgets the failures of keys that are not locked.
func (l *authLimiter) succeed(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	for _, k := range keys {
		if e := l.entries[k]; e != nil && !e.lockedUntil.After(now) {
			delete(l.entries, k)
		}
	}
}

func (l *authLimiter) makeRoom(now time.Time) {
	if len(l.entries) < l.maxKeys {
		return
	}
	for k, e := range l.entries {
		if !e.lockedUntil.After(now) && (len(e.failures) == 0 || now.Sub(e.failures[len(e.failures)-1]) > time.Hour) {
			delete(l.entries, k)
		}
	}
	for k, e := range l.entries {
		if len(l.entries) < l.maxKeys {
			return
		}
		if !e.lockedUntil.After(now) {
			delete(l.entries, k)
		}
	}
	for k := range l.entries {
		if len(l.entries) < l.maxKeys {
			return
		}
		delete(l.entries, k)
	}
}

func (l *authLimiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}
