package auditlog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/talonclaw/talon/internal/core"
)

// Recorder is the one way side effects are audited (invariant 12): Begin
// writes the intent — what is about to happen, on which plan, and why it
// may — before the effect, and returns its error, so the action it guards
// fails closed when the intent cannot be recorded; the returned Action's
// Done writes the outcome after. A kill -9 between the two leaves the
// intent in the log, and `talon audit verify` still passes.
//
// Tool calls, gateway methods and CLI commands all go through it. A nil
// Recorder, or one without a Sink (audit.enabled off), records nothing and
// never fails.
type Recorder struct {
	Sink Func
}

// Intent is what is about to happen.
type Intent struct {
	Kind    string // a Kind constant: what the action is
	Actor   string // who asked: "operator:<client>", "cli", a sender id
	Subject string // what it is about: a session key, a job id, a tool name
	// Plan, when the action has one, is recorded by hash, summary and
	// effects.
	Plan *core.Plan
	// Decision and Reason, when a decision allowed the action.
	Decision, Reason string
	// Data are further details; they must hold no secret values.
	Data map[string]any
	// OutcomeKind is the kind Done writes (default core.KindOutcome).
	OutcomeKind string
}

// Action is an action whose intent is recorded.
type Action struct {
	r     *Recorder
	id    string
	in    Intent
	done  bool
	extra map[string]any
}

// ErrNotRecorded wraps the error of an intent that could not be written.
var ErrNotRecorded = errors.New("not done: the audit log could not record it")

// Begin records the intent. On error the caller must not perform the
// action.
func (r *Recorder) Begin(ctx context.Context, in Intent) (*Action, error) {
	var b [8]byte
	_, _ = rand.Read(b[:])
	a := &Action{r: r, id: hex.EncodeToString(b[:]), in: in}
	if r == nil || r.Sink == nil {
		return a, nil
	}
	data := map[string]any{"intent": a.id}
	for k, v := range in.Data {
		data[k] = v
	}
	if in.Plan != nil {
		data["planHash"] = in.Plan.Hash
		data["plan"] = in.Plan.Summary
		data["effects"] = in.Plan.Effects.Names()
	}
	if in.Decision != "" {
		data["action"] = in.Decision
		data["reason"] = in.Reason
	}
	if err := r.Sink(context.WithoutCancel(ctx), in.Kind, in.Actor, in.Subject, data); err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrNotRecorded, err)
	}
	return a, nil
}

// ID identifies the intent; the outcome record carries it.
func (a *Action) ID() string { return a.id }

// Done records how the action ended: err nil is "done", else "failed"
// with the error's text (callers scrub it first when it may hold a
// secret). Only the first call writes.
func (a *Action) Done(ctx context.Context, err error, detail map[string]any) error {
	if a == nil || a.done || a.r == nil || a.r.Sink == nil {
		return nil
	}
	a.done = true
	data := map[string]any{"intent": a.id, "kind": a.in.Kind}
	for k, v := range detail {
		data[k] = v
	}
	if _, ok := data["outcome"]; !ok {
		data["outcome"] = "done"
		if err != nil {
			data["outcome"] = "failed"
		}
	}
	if err != nil {
		data["error"] = err.Error()
	}
	kind := a.in.OutcomeKind
	if kind == "" {
		kind = core.KindOutcome
	}
	return a.r.Sink(context.WithoutCancel(ctx), kind, a.in.Actor, a.in.Subject, data)
}
