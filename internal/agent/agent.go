// Package agent runs turns: a message comes in, the model answers, calls
// tools, answers again, until it gives a final reply.
//
// Guarantees: one turn at a time per session, in arrival order (a FIFO lane
// per session key), and at most agents.defaults.maxConcurrent turns at once;
// the inbound message is in the transcript before the model is called, so a
// failed call loses nothing; before every model call its worst case is
// reserved against every budget, atomically with the check and across
// processes sharing the database, so a call that could take a budget over,
// counting the calls already in flight, is refused without reaching the
// provider (budget.go); every tool call is planned by its tool, decided on
// that plan by policy.Decider, recorded before it runs, and its decision is
// stored with its result; a turn is bounded in model calls, tool calls and
// time.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/store"
)

// Options are what an Agent needs.
type Options struct {
	// Config returns the config in force (it may change on hot reload).
	Config func() *config.Config
	Store  *store.Store
	// Models resolves agents.defaults.model and its fallbacks to providers.
	Models ModelSource
	// Router tunes retries and backoff (tests shorten them).
	Router llm.RouterOptions
	Tools  *Registry
	Policy policy.Decider
	// Audit records a security-relevant event in the audit log (invariant
	// 12); nil records nothing. Data must hold no secret values.
	Audit auditlog.Func
	// Scrub removes known secret values from text before the model, the
	// transcript or the reply see it (invariant 10). Nil scrubs nothing.
	Scrub func(string) string
	// ScrubStream makes a scrubber for one streamed reply that finds a
	// secret cut across deltas (redact.LiveScrubber.Stream); nil scrubs
	// each delta alone with Scrub.
	ScrubStream func() *redact.Stream
	// Approvals, when set, asks a person about calls the policy escalates;
	// nil (or nobody connected) applies tools.exec.askFallback.
	Approvals *approvals.Manager
	Logger    *slog.Logger
	// Workspace is the resolved workspace directory.
	Workspace string
	Now       func() time.Time
	// Skills adds the skills section (names and descriptions only) to the
	// system prompt; nil adds none.
	Skills SkillPrompter
	// SecretValue looks up a stored secret by name, for the secrets an
	// active skill was granted (injected into what an allowed plan
	// executes, never shown to the model); nil injects nothing.
	SecretValue func(name string) (string, bool)
}

// SkillPrompter gives the system prompt's skills section for an agent
// (internal/skills: only names and descriptions, never bodies), and what
// an activated skill may do, for the policy's skill-capability rule.
type SkillPrompter interface {
	PromptSection(agentID string) string
	// Active describes the skill of this name as the decision needs it;
	// a skill no longer available (removed, modified) must come back
	// restricted with a Check that refuses every effect.
	Active(agentID, name string) policy.ActiveSkill
}

// ModelSource resolves the configured model chain (primary, then fallbacks)
// to providers. Errors name the config key to fix.
type ModelSource interface {
	Models(cfg *config.Config) ([]llm.Model, error)
}

// Agent runs turns. It is safe for concurrent use.
type Agent struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	lanes   map[string]*lane
	runs    map[string]*run // by run id
	slots   chan struct{}
	closing bool           // Shutdown began: no new turns
	active  sync.WaitGroup // turns started and not yet returned

	bootstrap bootstrapCache // the workspace files of the system prompt

	guardMu sync.Mutex
	guard   *promptIndex // the last system prompt's leak-check index

	// wrap puts untrusted senders' messages of the history in provenance
	// markers, the same way on every call.
	wrap *wrapper
	// rec records tool calls' intents and outcomes (Options.Audit).
	rec *auditlog.Recorder
}

type lane struct {
	queue []chan struct{} // waiting turns, in arrival order
	busy  bool
}

type run struct {
	id, key string
	cancel  context.CancelCauseFunc
}

// ErrAborted is the cause of a turn stopped by Abort.
var ErrAborted = errors.New("agent: run aborted")

// New builds an agent.
func New(o Options) (*Agent, error) {
	if o.Config == nil || o.Store == nil || o.Models == nil {
		return nil, errors.New("agent.New: Config, Store and Models are required")
	}
	if o.Tools == nil {
		o.Tools = NewRegistry()
	}
	if o.Policy == nil {
		o.Policy = policy.AllowAll{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	n := o.Config().Agents.Defaults.MaxConcurrent
	if n < 1 {
		n = 1
	}
	return &Agent{o: o, log: o.Logger.With("component", "agent"), lanes: map[string]*lane{}, runs: map[string]*run{}, slots: make(chan struct{}, n),
		wrap: newWrapper(), rec: &auditlog.Recorder{Sink: o.Audit}}, nil
}

// enqueue takes a place in the session's lane now, so turns run in the order
// their messages arrived. wait blocks until it is this turn's go.
func (a *Agent) enqueue(key string) (wait func(ctx context.Context) error, freeSlot, done func()) {
	a.mu.Lock()
	l := a.lanes[key]
	if l == nil {
		l = &lane{}
		a.lanes[key] = l
	}
	ready := make(chan struct{})
	if !l.busy {
		l.busy = true
		close(ready)
	} else {
		l.queue = append(l.queue, ready)
	}
	a.mu.Unlock()

	var once sync.Once
	release := func() {
		once.Do(func() {
			a.mu.Lock()
			defer a.mu.Unlock()
			if len(l.queue) > 0 {
				next := l.queue[0]
				l.queue = l.queue[1:]
				close(next)
				return
			}
			l.busy = false
			delete(a.lanes, key)
		})
	}
	wait = func(ctx context.Context) error {
		select {
		case <-ready:
		case <-ctx.Done():
			// Give up our place: if it was handed to us meanwhile, pass it on.
			a.mu.Lock()
			for i, ch := range l.queue {
				if ch == ready {
					l.queue = append(l.queue[:i], l.queue[i+1:]...)
					a.mu.Unlock()
					return ctx.Err()
				}
			}
			a.mu.Unlock()
			release()
			return ctx.Err()
		}
		select {
		case a.slots <- struct{}{}:
			return nil
		case <-ctx.Done():
			release()
			return ctx.Err()
		}
	}
	// freeSlot gives back the concurrency slot alone, once; done gives
	// back the slot (unless freeSlot did) and the lane.
	var slotOnce sync.Once
	freeSlot = func() { slotOnce.Do(func() { <-a.slots }) }
	return wait, freeSlot, func() { freeSlot(); release() }
}

// Abort stops a running or queued turn of the session: the given run, or
// every run of the session when runID is empty. It reports whether any run
// was stopped.
func (a *Agent) Abort(sessionKey, runID string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	found := false
	for id, r := range a.runs {
		if r.key == sessionKey && (runID == "" || runID == id) {
			r.cancel(ErrAborted)
			found = true
		}
	}
	return found
}

func (a *Agent) track(id, key string, cancel context.CancelCauseFunc) func() {
	a.mu.Lock()
	a.runs[id] = &run{id: id, key: key, cancel: cancel}
	a.mu.Unlock()
	return func() {
		a.mu.Lock()
		delete(a.runs, id)
		a.mu.Unlock()
	}
}

// ErrShuttingDown is returned by Start and Run once Shutdown has begun.
var ErrShuttingDown = errors.New("agent: the gateway is shutting down; no new turns")

// admit counts a new turn in, unless Shutdown has begun.
func (a *Agent) admit() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closing {
		return ErrShuttingDown
	}
	a.active.Add(1)
	return nil
}

// Shutdown is the agent's half of a two-phase stop: it takes no new turns,
// waits for the running and queued ones to end (each delivers its reply
// as it does) until ctx is done, then cancels the rest (cause
// ErrShuttingDown) and waits for them to return. After it returns no turn
// touches the store, which the caller may then close. A channel message
// cut short this way stays in the inbound journal and is resumed at the
// next start.
func (a *Agent) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.closing = true
	a.mu.Unlock()
	done := make(chan struct{})
	go func() {
		a.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	a.mu.Lock()
	n := len(a.runs)
	for _, r := range a.runs {
		r.cancel(ErrShuttingDown)
	}
	a.mu.Unlock()
	a.log.Warn("shutdown: turns still running at the deadline were cancelled", "turns", n)
	select {
	case <-done:
		return fmt.Errorf("agent.Shutdown: %d turns cancelled at the deadline: %w", n, ctx.Err())
	case <-time.After(shutdownGrace):
		return fmt.Errorf("agent.Shutdown: turns still running %s after they were cancelled", shutdownGrace)
	}
}

// shutdownGrace bounds how long Shutdown waits for cancelled turns.
const shutdownGrace = 10 * time.Second

// Start queues a turn and runs it in the background; the result and every
// event go to req.OnEvent. It returns the run id at once. The turn's place
// in its session's lane is taken before Start returns.
func (a *Agent) Start(ctx context.Context, req TurnRequest) (string, error) {
	key, err := a.resolveKey(&req)
	if err != nil {
		return "", err
	}
	if req.RunID == "" {
		req.RunID = newRunID()
	}
	if err := a.admit(); err != nil {
		return "", err
	}
	wait, freeSlot, release := a.enqueue(key)
	go func() {
		defer a.active.Done()
		_, _ = a.run(ctx, req, wait, freeSlot, release)
	}()
	return req.RunID, nil
}

// Run runs one turn and waits for it.
func (a *Agent) Run(ctx context.Context, req TurnRequest) (*TurnResult, error) {
	key, err := a.resolveKey(&req)
	if err != nil {
		return nil, err
	}
	if req.RunID == "" {
		req.RunID = newRunID()
	}
	if err := a.admit(); err != nil {
		return nil, err
	}
	defer a.active.Done()
	wait, freeSlot, release := a.enqueue(key)
	return a.run(ctx, req, wait, freeSlot, release)
}

func (a *Agent) resolveKey(req *TurnRequest) (string, error) {
	// Trust is never assumed: a request that does not say whose message it
	// is would otherwise be someone's guess.
	switch req.Trust {
	case core.TrustOwner, core.TrustTrusted, core.TrustUntrusted:
	default:
		return "", fmt.Errorf("agent: turn request without a valid trust (%q); the caller must say whether the sender is the owner, trusted or untrusted", req.Trust)
	}
	if req.SessionKey != "" {
		if !ValidSessionKey(req.SessionKey) {
			return "", fmt.Errorf("agent: invalid session key %q (hint: keys look like agent:main:main)", req.SessionKey)
		}
		return req.SessionKey, nil
	}
	k, err := SessionKey(a.o.Config().Session.DMScope, req.Inbound)
	if err != nil {
		return "", err
	}
	req.SessionKey = k
	return k, nil
}

// SendToSession starts a turn in another session with a message written
// by the model of session from (sessions_send). The message enters as
// untrusted: it was written by a model, whatever that model read.
func (a *Agent) SendToSession(ctx context.Context, from core.Actor, sessionKey, text string) (string, error) {
	return a.Start(context.WithoutCancel(ctx), TurnRequest{SessionKey: sessionKey, Text: text,
		SenderID: "session:" + from.SessionKey, Trust: core.TrustUntrusted})
}
