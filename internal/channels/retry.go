package channels

import (
	"context"
	"errors"
	"math/rand/v2"
	"time"
)

// RetryPolicy bounds Retry.
type RetryPolicy struct {
	Attempts int           // total tries, at least 1 (0 means 4)
	Base     time.Duration // first backoff (0 means 500ms)
	Max      time.Duration // longest backoff and longest honoured Retry-After (0 means 60s)
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.Attempts <= 0 {
		p.Attempts = 4
	}
	if p.Base <= 0 {
		p.Base = 500 * time.Millisecond
	}
	if p.Max <= 0 {
		p.Max = 60 * time.Second
	}
	return p
}

// Retry calls fn until it succeeds, fails permanently, the attempts run
// out or ctx ends. After a RateLimitError it waits exactly the delay the
// platform asked for (capped at Max: a platform asking for longer gets the
// error back rather than a stuck sender); after any other error it waits an
// exponential backoff with full jitter.
func Retry(ctx context.Context, p RetryPolicy, fn func(ctx context.Context) error) error {
	p = p.withDefaults()
	var err error
	for i := range p.Attempts {
		if err = fn(ctx); err == nil || IsPermanent(err) {
			return err
		}
		if i == p.Attempts-1 {
			break
		}
		var wait time.Duration
		var rl *RateLimitError
		if errors.As(err, &rl) {
			if rl.RetryAfter > p.Max {
				return err
			}
			wait = rl.RetryAfter
		} else {
			wait = jitter(backoff(p.Base, p.Max, i))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, context.Cause(ctx))
		case <-t.C:
		}
	}
	return err
}

// backoff is base·2^n, capped at max.
func backoff(base, max time.Duration, n int) time.Duration {
	d := base
	for range n {
		d *= 2
		if d >= max {
			return max
		}
	}
	return d
}

// jitter picks a duration in [d/2, d], so that many clients that failed
// together do not retry together.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2+1)
}

// Backoff paces reconnect attempts: each Next is about twice the previous
// one (with jitter) up to Max; Reset after a connection that worked.
type Backoff struct {
	Base time.Duration // 0 means 1s
	Max  time.Duration // 0 means 2m
	n    int
}

// Next returns how long to wait before the next attempt.
func (b *Backoff) Next() time.Duration {
	base, max := b.Base, b.Max
	if base <= 0 {
		base = time.Second
	}
	if max <= 0 {
		max = 2 * time.Minute
	}
	d := jitter(backoff(base, max, b.n))
	if b.n < 32 {
		b.n++
	}
	return d
}

// Reset starts over from Base.
func (b *Backoff) Reset() { b.n = 0 }

// Sleep waits d or until ctx ends; it reports whether the full wait passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
