// Package approvals holds tool calls the policy wants a person to approve.
//
// Guarantees: a request is persisted with its canonical arguments and plan
// hash before anyone is asked; a decision applies to exactly that request
// (the agent runs the very call it asked about, and the hash is recorded);
// of concurrent resolutions exactly one wins; requests expire. A request
// is put in front of every approver who can be reached — operator clients
// holding operator.approvals (events), the owner's chats and a terminal
// (each a Reach) — and waits for the first answer until its timeout; only
// then, or at once when nobody at all can be reached, does the caller fall
// back to tools.exec.askFallback, and whoever was shown the request is
// told how it ended. The plan a person is shown is rendered from the very
// arguments that will run, with control and bidirectional-override
// characters made visible, so a hijacked model cannot dress one command
// up as another. Who may answer is decided where the answer comes in
// (the gateway's scope check, the channel router's owner check); this
// package records who did.
package approvals

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/core"
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

// DefaultTimeout is how long a request waits for an answer when neither
// the request nor the Manager says (tools.exec.askTimeoutSec's default).
const DefaultTimeout = 5 * time.Minute

// Request is a tool call waiting for approval.
type Request struct {
	SessionKey, RunID, AgentID string
	Tool                       string
	Args                       json.RawMessage
	// Plan is the call's plan (its effects, targets and the tool's own
	// findings), shown to approvers under the arguments; nil shows the
	// arguments alone.
	Plan   *core.Plan
	Reason string
	// Timeout is how long to wait for an answer (0: Manager.TTL, else
	// DefaultTimeout).
	Timeout time.Duration
	// Fallback is tools.exec.askFallback as the caller will apply it when
	// nobody answers; approvers are told it, and told again on expiry.
	Fallback string
}

// Pending is a request as approvers are shown it (the payload of
// EventRequested): the stored approval, its plan rendered for a person,
// and what happens when nobody answers in time.
type Pending struct {
	store.Approval
	// Plan is the tool call in human-readable form (Render).
	Plan string `json:"plan"`
	// Fallback is tools.exec.askFallback at the time of asking.
	Fallback string `json:"fallback,omitempty"`
}

// A Reach puts requests in front of a person who can answer them other
// than through an operator connection: the owner's chats (the channel
// router), a terminal (talon agent, talon chat). The answer comes back
// through Manager.Resolve.
type Reach interface {
	// Reachable reports, before a request is stored, whether Offer
	// could reach anyone at all.
	Reachable() bool
	// Offer shows p to whoever this reaches and reports whether anyone
	// was reached (false: every delivery failed).
	Offer(ctx context.Context, p Pending) bool
	// Settled tells whoever Offer reached how the request ended; note
	// is one human-readable sentence.
	Settled(ctx context.Context, a store.Approval, note string)
}

// Manager creates, resolves and waits for approvals.
type Manager struct {
	Store *store.Store
	// TTL is how long a request waits when the Request does not say
	// (0: DefaultTimeout).
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
	// Audit records each request, where it was shown, and each expiry
	// (nil: none). Resolutions are audited where the answer came in.
	Audit auditlog.Func
	// OfferTimeout bounds showing a request through the Reaches
	// (0: DefaultOfferTimeout); one that has not reached anyone by then
	// does not count.
	OfferTimeout time.Duration

	mu      sync.Mutex
	reaches []Reach
	waiters map[string]chan store.Approval
}

// AddReach adds a way to reach an approver; requests asked after it
// returns are offered there too.
func (m *Manager) AddReach(r Reach) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reaches = append(m.reaches, r)
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

// ValidID reports whether s has the shape of an approval id, so a typed
// or pressed answer with anything else is refused before it is looked up.
func ValidID(s string) bool {
	if len(s) != 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !strings.ContainsRune(idAlphabet, rune(s[i])) {
			return false
		}
	}
	return true
}

// ValidDecision reports whether d is one of the decisions.
func ValidDecision(d string) bool { return d == AllowOnce || d == AllowAlways || d == Deny }

// Ask persists a request, puts it in front of every reachable approver and
// waits for a decision, its timeout or ctx. It returns the resolved
// approval (Status allowed, denied or expired), or ErrNoApprover at once
// when nobody can be reached.
func (m *Manager) Ask(ctx context.Context, r Request) (store.Approval, error) {
	ops := m.HasApprover != nil && m.HasApprover()
	m.mu.Lock()
	var reach []Reach
	for _, x := range m.reaches {
		if x.Reachable() {
			reach = append(reach, x)
		}
	}
	m.mu.Unlock()
	if !ops && len(reach) == 0 {
		return store.Approval{}, ErrNoApprover
	}
	ttl := r.Timeout
	if ttl <= 0 {
		ttl = m.TTL
	}
	if ttl <= 0 {
		ttl = DefaultTimeout
	}
	now := m.now()
	a := store.Approval{ID: newID(), CreatedAt: now, ExpiresAt: now.Add(ttl), SessionKey: r.SessionKey, RunID: r.RunID, AgentID: r.AgentID,
		Tool: r.Tool, Args: string(r.Args), PlanHash: PlanHash(r.Tool, r.Args), Reason: r.Reason, Status: "pending",
		Plan: RenderPlan(r.Tool, r.Args, r.Plan)}
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
	// Audited before anyone is asked; each delivery to a chat is audited
	// as it is sent (message.outbound).
	m.audit(ctx, auditKindRequest, "system", a.Tool, map[string]any{"id": a.ID, "session": a.SessionKey, "run": a.RunID, "planHash": a.PlanHash,
		"reason": a.Reason, "expiresAt": a.ExpiresAt, "operators": ops, "chats": len(reach)})
	p := Pending{Approval: a, Plan: a.Plan, Fallback: r.Fallback}
	m.notify(EventRequested, p)
	offered := m.offer(ctx, reach, p)
	if !ops && len(offered) == 0 {
		// Every delivery failed: nobody can answer, so nobody waits.
		if _, err := m.Store.ExpireApproval(context.WithoutCancel(ctx), a.ID, m.now()); err != nil {
			return store.Approval{}, err
		}
		m.audit(ctx, auditKindResolve, "system", a.Tool, map[string]any{"id": a.ID, "decision": "expired", "reason": "no approver could be reached", "planHash": a.PlanHash, "session": a.SessionKey})
		return store.Approval{}, ErrNoApprover
	}
	timer := time.NewTimer(ttl)
	defer timer.Stop()
	select {
	case res := <-ch:
		m.settle(ctx, offered, res, resolvedNote(res))
		return res, nil
	case <-timer.C:
		if _, err := m.Store.ExpireApprovals(context.WithoutCancel(ctx), m.now().Add(time.Millisecond)); err != nil {
			return store.Approval{}, err
		}
		// A resolution may have won the race against expiry.
		got, ok, err := m.Store.Approval(context.WithoutCancel(ctx), a.ID)
		if err != nil || !ok {
			got = a
			got.Status = "expired"
		}
		if got.Status == "expired" {
			m.audit(ctx, auditKindResolve, "system", a.Tool, map[string]any{"id": a.ID, "decision": "expired", "reason": "no answer in " + ttl.String(),
				"fallback": r.Fallback, "planHash": a.PlanHash, "session": a.SessionKey})
			m.notify(EventResolved, got)
			m.settle(ctx, offered, got, expiredNote(got, ttl, r.Fallback))
		} else {
			m.settle(ctx, offered, got, resolvedNote(got))
		}
		return got, nil
	case <-ctx.Done():
		// The turn ended (aborted, over its time, the gateway stopping):
		// the request can no longer run anything, so it must not stay
		// on the approvers' lists looking as if it could.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if got, err := m.Store.ExpireApproval(wctx, a.ID, m.now()); err == nil && got.ID != "" {
			m.audit(wctx, auditKindResolve, "system", a.Tool, map[string]any{"id": a.ID, "decision": "expired", "reason": "the turn ended before an answer", "planHash": a.PlanHash, "session": a.SessionKey})
			m.notify(EventResolved, got)
			why := "it was cancelled or the gateway is stopping"
			if cause := context.Cause(ctx); !errors.Is(cause, context.Canceled) {
				why = cause.Error()
			}
			m.settle(wctx, offered, got, fmt.Sprintf("Approval %s is void: the turn that asked ended before an answer (%s). Nothing ran.", a.ID, why))
		}
		return store.Approval{}, context.Cause(ctx)
	}
}

// DefaultOfferTimeout bounds putting a request in front of approvers (a
// chat platform that does not answer), so the wait for an answer starts.
const DefaultOfferTimeout = 30 * time.Second

// offer shows p through every reach at once, each within the offer
// timeout, and returns those that reached someone.
func (m *Manager) offer(ctx context.Context, reach []Reach, p Pending) []Reach {
	d := m.OfferTimeout
	if d <= 0 {
		d = DefaultOfferTimeout
	}
	// Not cancelled with the turn: a request the platform accepted while
	// the turn was being cut short (the gateway stopping) must count as
	// shown, so that whoever saw it is told it is void.
	octx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	defer cancel()
	ok := make([]bool, len(reach))
	var wg sync.WaitGroup
	for i, x := range reach {
		wg.Go(func() { ok[i] = x.Offer(octx, p) })
	}
	wg.Wait()
	var out []Reach
	for i, x := range reach {
		if ok[i] {
			out = append(out, x)
		}
	}
	return out
}

// settle tells every Reach that was offered a request how it ended.
func (m *Manager) settle(ctx context.Context, offered []Reach, a store.Approval, note string) {
	ctx = context.WithoutCancel(ctx)
	for _, x := range offered {
		x.Settled(ctx, a, note)
	}
}

// resolvedNote is what approvers are told about an answered request.
func resolvedNote(a store.Approval) string {
	switch a.Decision {
	case AllowOnce:
		return fmt.Sprintf("Approval %s: allowed once by %s; running %s.", a.ID, a.ResolvedBy, a.Tool)
	case AllowAlways:
		return fmt.Sprintf("Approval %s: allowed always by %s; running %s and not asking again for the same program.", a.ID, a.ResolvedBy, a.Tool)
	default:
		return fmt.Sprintf("Approval %s: denied by %s; %s was not run.", a.ID, a.ResolvedBy, a.Tool)
	}
}

// expiredNote is what approvers are told when nobody answered in time.
func expiredNote(a store.Approval, ttl time.Duration, fallback string) string {
	what := "so it was not run"
	if fallback == "full" {
		what = "so it ran anyway"
	}
	return fmt.Sprintf("Approval %s expired: nobody answered within %s. tools.exec.askFallback is %q, %s (%s).", a.ID, ttl, orDeny(fallback), what, a.Tool)
}

func orDeny(s string) string {
	if s == "" {
		return "deny"
	}
	return s
}

// Waiting reports whether a turn of this process waits for request id.
func (m *Manager) Waiting(id string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.waiters[id] != nil
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

func (m *Manager) notify(event string, payload any) {
	if m.Notify != nil {
		m.Notify(event, payload)
	}
}

// Audit record kinds written here.
const (
	auditKindRequest = core.KindApprovalRequest
	auditKindResolve = core.KindApprovalResolve
)

func (m *Manager) audit(ctx context.Context, kind, actor, subject string, data any) {
	if m.Audit != nil {
		m.Audit(context.WithoutCancel(ctx), kind, actor, subject, data)
	}
}
