package agent

// Budgets (invariant 11: spending has hard limits; a turn that would exceed
// a budget is refused before the model call).
//
// Every model call of a turn, the compaction call included, goes through
// turn.chat, the one choke point. It reserves the call's worst case against
// every budget in one write transaction (store.Reserve), so calls that
// start together, in one gateway or in several `talon agent --local`
// processes on the same state directory, are counted against each other
// instead of each passing a check of spend that none of them has recorded
// yet. After the call the reservation is swapped for the real usage
// (store.Settle); a failed call releases it (store.Release); a process that
// dies mid-call leaves one that expires after the turn timeout plus
// reservationGrace.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/store"
)

// BudgetError is a turn refused before the model call because a spending
// limit is reached, or would be by this call's worst case. Its message
// names the budget and how to raise it.
type BudgetError struct {
	Key      string  // the config key, e.g. "budgets.perDayUsd"
	Limit    float64 // USD or tokens
	Spent    float64 // recorded use in the budget's window
	Reserved float64 // held by other model calls in flight
	Call     float64 // this call's worst case (USD budgets only)
	Message  string
}

func (e *BudgetError) Error() string { return e.Message }

// reservationGrace is added to what is left of the turn's time
// (agents.defaults.turnTimeoutSec at most) to make a reservation's expiry:
// the model call cannot outlive its turn, so only a process that died (or
// was stopped) mid-call leaves a reservation that long. The grace covers
// the settle after a call that ended at the deadline, and small clock
// differences between processes.
const reservationGrace = time.Minute

// worstCase is the most one model call can cost.
type worstCase struct {
	usd    float64
	tokens int64
	prompt int    // estimated prompt tokens
	output int    // output tokens requested (maxTokens)
	ref    string // the model that could cost most
}

// callWorstCase is req's worst case over models: the estimated prompt at
// the input price plus the output cap the router will request (the
// request's MaxTokens, else the model's maxTokens; a model with none is
// bounded by its context window) at the output price. The router may fail
// over to any of models, so the costliest of them counts.
func callWorstCase(models []llm.Model, req llm.Request) worstCase {
	prompt := estimateTokens(req.System, req.Messages) + toolTokens(req.Tools)
	var w worstCase
	for i, m := range models {
		out := req.MaxTokens
		if out <= 0 {
			out = m.MaxTokens
		}
		if out <= 0 {
			out = m.ContextWindow
		}
		usd := float64(prompt)*m.CostInput/1e6 + float64(out)*m.CostOutput/1e6
		if i == 0 || usd > w.usd {
			w.usd, w.output, w.ref = usd, out, m.Ref
		}
		w.tokens = max(w.tokens, int64(prompt)+int64(out))
	}
	w.prompt = prompt
	return w
}

// toolTokens estimates the tool definitions sent with a request, at the
// same four characters a token as estimateTokens.
func toolTokens(specs []llm.ToolSpec) int {
	n := 0
	for _, s := range specs {
		n += len(s.Name) + len(s.Description) + len(s.Parameters) + 16
	}
	return n / 4
}

// chat is the one way a turn calls the model: it reserves the call's worst
// case against every budget (refusing with a *BudgetError before the
// provider sees anything), calls the router, and records the real usage in
// place of the reservation. It returns the response, the model that gave
// it and what it cost.
//
// If record is not nil, chat stores the message it returns for the
// response in the same transaction as the usage (one fsync for both; see
// store.SettleAndAppend) and reports stored. It does so only while ctx is
// live: a cancelled turn records the usage alone, as it always has.
func (t *turn) chat(ctx context.Context, req llm.Request, onDelta func(llm.Delta), record func(*llm.Response, llm.Model, float64) store.Message) (resp *llm.Response, m llm.Model, cost float64, stored bool, err error) {
	id, err := t.reserve(ctx, req)
	if err != nil {
		return nil, llm.Model{}, 0, false, err
	}
	called := false
	defer func() {
		// A failed, cancelled or panicking call releases its reservation.
		if !called {
			t.release(ctx, id)
		}
	}()
	resp, m, err = t.router.Chat(ctx, req, onDelta)
	if err != nil {
		return nil, m, 0, false, fmt.Errorf("the model call failed; your message is saved and will be in context next time: %w", err)
	}
	called = true
	cost = llm.Cost(m, resp.Usage)
	// The call was made and billed: record it even if the turn is being
	// cancelled. If that fails the reservation stays until it expires, so
	// the call is over-counted for a while rather than not counted.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	u := store.UsageRecord{TS: t.a.o.Now(), SessionKey: t.sess.Key, SessionID: t.sess.ID,
		AgentID: t.sess.AgentID, Provider: m.ProviderID, Model: m.ModelID, RunID: t.req.RunID,
		InputTokens: resp.Usage.InputTokens, OutputTokens: resp.Usage.OutputTokens, CostUSD: cost}
	if record == nil || ctx.Err() != nil {
		if err := t.a.o.Store.Settle(sctx, id, u); err != nil {
			return nil, m, 0, false, err
		}
		return resp, m, cost, false, nil
	}
	// The store records the usage even if the messages cannot be
	// appended (ErrNotAppended); the turn then fails as it would have. A
	// journaled turn's user message goes in the same commit.
	msgs := append(t.takePending(), record(resp, m, cost))
	if _, err := t.a.o.Store.SettleAndAppend(sctx, id, u, t.req.SessionKey, msgs...); err != nil {
		if len(msgs) == 2 {
			t.pending = &msgs[0]
		}
		return nil, m, 0, false, err
	}
	return resp, m, cost, true, nil
}

// release drops a reservation whose call did not happen or failed. A
// failure is only logged: the reservation then expires.
func (t *turn) release(ctx context.Context, id store.ReservationID) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := t.a.o.Store.Release(rctx, id); err != nil {
		t.a.log.Warn("budget reservation not released; it expires on its own", "session", t.req.SessionKey, "run", t.req.RunID, "err", err)
	}
}

// reserve checks every budget against recorded spend, the reservations of
// calls in flight and req's worst case, and reserves that worst case, in
// one transaction. With no budget set there is nothing to hold a call
// against: it returns 0 and the call is only recorded afterwards.
func (t *turn) reserve(ctx context.Context, req llm.Request) (store.ReservationID, error) {
	if t.calls > 0 {
		// Later calls of a long turn: the current session id, if /new
		// ran meanwhile (the first uses what EnsureSession just read).
		sess, ok, err := t.a.o.Store.Session(ctx, t.req.SessionKey)
		if err != nil {
			return 0, err
		}
		if ok {
			t.sess = sess
		}
	}
	t.calls++
	b := t.cfg.Budgets
	tokens := b.PerSessionTokens > 0 || b.PerDayTokens > 0
	if b.PerSessionUSD <= 0 && b.PerDayUSD <= 0 && b.PerMonthUSD <= 0 && !tokens {
		return 0, nil
	}
	w := callWorstCase(t.models, req)
	now := t.a.o.Now().UTC()
	scope := store.BudgetScope{Tokens: tokens}
	if b.PerSessionUSD > 0 || b.PerSessionTokens > 0 {
		scope.SessionKey, scope.SessionID = t.sess.Key, t.sess.ID
	}
	if b.PerDayUSD > 0 || b.PerDayTokens > 0 {
		scope.Day = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	}
	if b.PerMonthUSD > 0 {
		scope.Month = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	// The call cannot outlive the turn's context: what is left of it (the
	// turn timeout, at most) plus the grace is when a reservation that is
	// still there belongs to a process that died.
	left := time.Duration(t.cfg.Agents.Defaults.TurnTimeoutSec) * time.Second
	if d, ok := ctx.Deadline(); ok {
		left = max(time.Until(d), 0)
	}
	r := store.Reservation{SessionKey: t.sess.Key, SessionID: t.sess.ID, AgentID: t.sess.AgentID, RunID: t.req.RunID,
		CostUSD: w.usd, Tokens: w.tokens, ExpiresAt: now.Add(left + reservationGrace)}
	if len(t.models) > 0 {
		r.Provider, r.Model = t.models[0].ProviderID, t.models[0].ModelID
	}
	if !tokens && w.usd == 0 {
		r.Tokens = 0 // a free model under USD budgets only: check, hold nothing
	}
	id, err := t.a.o.Store.Reserve(ctx, now, r, scope, func(tot store.BudgetTotals) error {
		if be := overBudget(b, tot, w); be != nil {
			return be
		}
		return nil
	})
	var be *BudgetError
	if err != nil && !errors.As(err, &be) {
		return 0, fmt.Errorf("agent: reserving against the budgets: %w", err)
	}
	return id, err
}

// overBudget applies every limit of b to the totals and the call's worst
// case. A USD budget refuses a call when recorded spend plus the calls in
// flight has reached it, or when this call's worst case would take it
// over. A token budget refuses once use plus calls in flight has reached it
// (a call's output length is not known before it, so one call may end past
// a token limit; calls in flight cannot all start under it).
func overBudget(b config.Budgets, tot store.BudgetTotals, w worstCase) *BudgetError {
	for _, c := range []struct {
		key, what, when string
		limit           float64
		a               store.Amount
	}{
		{"budgets.perSessionUsd", "session budget", "in this session (/new starts a fresh one)", b.PerSessionUSD, tot.Session},
		{"budgets.perDayUsd", "daily budget", "today (resets 00:00 UTC)", b.PerDayUSD, tot.Day},
		{"budgets.perMonthUsd", "monthly budget", "this month (resets on the 1st, UTC)", b.PerMonthUSD, tot.Month},
	} {
		held := c.a.SpentUSD + c.a.ReservedUSD
		if c.limit <= 0 || (held < c.limit && held+w.usd <= c.limit) {
			continue
		}
		be := &BudgetError{Key: c.key, Limit: c.limit, Spent: c.a.SpentUSD, Reserved: c.a.ReservedUSD, Call: w.usd}
		if c.a.SpentUSD >= c.limit {
			be.Message = fmt.Sprintf("%s reached: $%.4f of $%s spent %s; the model was not called. To raise it: talon config set %s <usd>",
				c.what, c.a.SpentUSD, dollars(c.limit), c.when, c.key)
			return be
		}
		inFlight := ""
		if c.a.ReservedUSD > 0 {
			inFlight = fmt.Sprintf(" and up to $%.4f held by model calls in flight", c.a.ReservedUSD)
		}
		provider, _, _ := strings.Cut(w.ref, "/")
		be.Message = fmt.Sprintf("%s would be exceeded: $%.4f of $%s spent %s%s, and this call could cost up to $%.4f (about %d prompt tokens and up to %d output tokens on %s); the model was not called. To raise it: talon config set %s <usd>, or lower that model's maxTokens under models.providers.%s",
			c.what, c.a.SpentUSD, dollars(c.limit), c.when, inFlight, w.usd, w.prompt, w.output, w.ref, c.key, provider)
		return be
	}
	for _, c := range []struct {
		key, what, when string
		limit           int
		a               store.Amount
	}{
		{"budgets.perSessionTokens", "session token budget", "in this session (/new starts a fresh one)", b.PerSessionTokens, tot.Session},
		{"budgets.perDayTokens", "daily token budget", "today (resets 00:00 UTC)", b.PerDayTokens, tot.Day},
	} {
		if c.limit <= 0 || c.a.SpentTokens+c.a.ReservedTokens < int64(c.limit) {
			continue
		}
		inFlight := ""
		if c.a.ReservedTokens > 0 {
			inFlight = fmt.Sprintf(" and up to %d held by model calls in flight", c.a.ReservedTokens)
		}
		return &BudgetError{Key: c.key, Limit: float64(c.limit), Spent: float64(c.a.SpentTokens), Reserved: float64(c.a.ReservedTokens),
			Message: fmt.Sprintf("%s reached: %d of %d tokens used %s%s; the model was not called. To raise it: talon config set %s <tokens>",
				c.what, c.a.SpentTokens, c.limit, c.when, inFlight, c.key)}
	}
	return nil
}

// dollars prints a configured limit as given: 5 as "5.00", 0.002 as
// "0.002".
func dollars(v float64) string {
	if c := v * 100; c == math.Trunc(c) {
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}
