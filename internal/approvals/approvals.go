// Package approvals holds tool calls the policy wants a person to approve.
//
// Guarantees: a request is persisted with its canonical arguments and plan
// hash before anyone is asked; a decision applies to exactly that request
// (the agent runs the very call it asked about, and the hash is recorded);
// of concurrent resolutions exactly one wins; requests expire; with no
// approver connected nothing waits — the caller falls back to
// tools.exec.askFallback at once.
package approvals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/store"
)

// Events the manager emits.
const (
	EventRequested = "exec.approval.requested"
	EventResolved  = "exec.approval.resolved"
)

// Decisions an approver can give.
const (
	AllowOnce   = "allow-once"
	AllowAlways = "allow-always"
	Deny        = "deny"
)

// ErrNoApprover means nobody who could approve is connected.
var ErrNoApprover = errors.New("approvals: no approver is reachable")

// Request is a tool call waiting for approval.
type Request struct {
	SessionKey, RunID, AgentID string
	Tool                       string
	Args                       json.RawMessage
	Reason                     string
}

// Manager creates, resolves and waits for approvals.
type Manager struct {
	Store *store.Store
	// TTL is how long a request waits (default 10 minutes).
	TTL time.Duration
	Now func() time.Time
	// HasApprover reports whether someone who can approve is connected.
	HasApprover func() bool
	// Notify publishes an event (the gateway broadcasts it to connections
	// holding operator.approvals).
	Notify func(event string, payload any)
	// OnAllowAlways persists an allow-always decision (for exec: adds the
	// resolved binary to tools.exec.allowlist).
	OnAllowAlways func(ctx context.Context, a store.Approval) error

	mu      sync.Mutex
	waiters map[string]chan store.Approval
}

func (m *Manager) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// PlanHash is the hash an approval binds to: the tool and its canonical
// arguments.
func PlanHash(tool string, args json.RawMessage) string {
	h := sha256.New()
	h.Write([]byte(tool))
	h.Write([]byte{0})
	h.Write(args)
	return hex.EncodeToString(h.Sum(nil))
}

// idAlphabet avoids look-alike characters, so ids can be typed in a chat.
const idAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = idAlphabet[int(c)%len(idAlphabet)]
	}
	return string(out)
}

// Ask persists a request, announces it and waits for a decision, expiry or
// ctx. It returns the resolved approval (Status allowed, denied or expired),
// or ErrNoApprover at once when nobody can approve.
func (m *Manager) Ask(ctx context.Context, r Request) (store.Approval, error) {
	if m.HasApprover == nil || !m.HasApprover() {
		return store.Approval{}, ErrNoApprover
	}
	ttl := m.TTL
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	now := m.now()
	a := store.Approval{ID: newID(), CreatedAt: now, ExpiresAt: now.Add(ttl), SessionKey: r.SessionKey, RunID: r.RunID, AgentID: r.AgentID,
		Tool: r.Tool, Args: string(r.Args), PlanHash: PlanHash(r.Tool, r.Args), Reason: r.Reason, Status: "pending"}
	ch := make(chan store.Approval, 1)
	m.mu.Lock()
	if m.waiters == nil {
		m.waiters = map[string]chan store.Approval{}
	}
	m.waiters[a.ID] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.waiters, a.ID)
		m.mu.Unlock()
	}()
	if err := m.Store.CreateApproval(ctx, a); err != nil {
		return store.Approval{}, err
	}
	m.notify(EventRequested, a)
	timer := time.NewTimer(ttl)
	defer timer.Stop()
	select {
	case res := <-ch:
		return res, nil
	case <-timer.C:
		if _, err := m.Store.ExpireApprovals(context.WithoutCancel(ctx), m.now().Add(time.Millisecond)); err != nil {
			return store.Approval{}, err
		}
		// A resolution may have won the race against expiry.
		if got, ok, err := m.Store.Approval(context.WithoutCancel(ctx), a.ID); err == nil && ok {
			m.notify(EventResolved, got)
			return got, nil
		}
		a.Status = "expired"
		return a, nil
	case <-ctx.Done():
		return store.Approval{}, context.Cause(ctx)
	}
}

// Resolve records a decision and wakes the waiting call, if any.
func (m *Manager) Resolve(ctx context.Context, id, decision, by string) (store.Approval, error) {
	a, err := m.Store.ResolveApproval(ctx, id, decision, by, m.now())
	if err != nil {
		return store.Approval{}, err
	}
	if decision == AllowAlways && m.OnAllowAlways != nil {
		if err := m.OnAllowAlways(ctx, a); err != nil {
			// The one call is still approved; only the rule was not saved.
			a.Reason += fmt.Sprintf(" (allow-always not saved: %v)", err)
		}
	}
	m.mu.Lock()
	ch := m.waiters[id]
	m.mu.Unlock()
	if ch != nil {
		select {
		case ch <- a:
		default:
		}
	}
	m.notify(EventResolved, a)
	return a, nil
}

func (m *Manager) notify(event string, a store.Approval) {
	if m.Notify != nil {
		m.Notify(event, a)
	}
}
