package agent

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/provenance"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/store"
)

// Limits on what goes back to the model from one tool call.
const (
	maxToolResultChars = 32 << 10
	compactAt          = 0.75 // of the context window: compact above this
	compactKeep        = 0.35 // of the context window: keep this much verbatim
)

// turn is the state of one running turn.
type turn struct {
	a      *Agent
	cfg    *config.Config
	req    TurnRequest
	sess   store.Session
	res    *TurnResult
	emit   func(Event)
	models []llm.Model
	router *llm.Router
	used   int // tool calls so far
	calls  int // model calls so far
	// state is the session's taint, derived from the transcript and updated
	// after every tool result within the turn.
	state policy.SessionState
	// canary is this turn's; guard finds this round's system prompt and
	// canary in text leaving the turn.
	canary string
	guard  *policy.PromptGuard
	// pending is the user message of a journaled turn not yet stored: it
	// goes into the transcript with the first response (chat), or, if the
	// turn ends before one, when do returns (storePending).
	pending *store.Message
}

// extendHistory is hist with stored (just appended) at its end if they
// follow it directly — nobody else appended in between — and nil (read it
// again) otherwise.
func extendHistory(hist, stored []store.Message) []store.Message {
	var last int64
	for _, m := range hist {
		last = max(last, m.Seq)
	}
	if len(stored) == 0 || stored[0].Seq != last+1 || (len(hist) > 0 && stored[0].SessionID != hist[0].SessionID) {
		return nil
	}
	return append(hist, stored...)
}

// withPending is hist with the pending user message at its end, as the
// transcript will hold it.
func (t *turn) withPending(hist []store.Message) []store.Message {
	if t.pending == nil {
		return hist
	}
	return append(hist, *t.pending)
}

// takePending returns the pending user message, if any, to be stored by
// the caller; on failure the caller gives it back with t.pending = m.
func (t *turn) takePending() []store.Message {
	if t.pending == nil {
		return nil
	}
	m := *t.pending
	t.pending = nil
	return []store.Message{m}
}

// storePending stores the user message of a turn that ended before a model
// response stored it (a refusal, an error, a cancel), so the transcript
// holds it for the next try, as for any other turn.
func (t *turn) storePending(ctx context.Context) error {
	ms := t.takePending()
	if ms == nil {
		return nil
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if _, err := t.a.o.Store.AppendMessages(sctx, t.req.SessionKey, ms...); err != nil {
		t.pending = &ms[0]
		return err
	}
	return nil
}

func (a *Agent) run(parent context.Context, req TurnRequest, wait func(context.Context) error, freeSlot, release func()) (*TurnResult, error) {
	cfg := a.o.Config()
	key := req.SessionKey
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)
	ctx, cancelT := context.WithTimeoutCause(ctx, time.Duration(cfg.Agents.Defaults.TurnTimeoutSec)*time.Second,
		fmt.Errorf("turn took longer than agents.defaults.turnTimeoutSec (%ds)", cfg.Agents.Defaults.TurnTimeoutSec))
	defer cancelT()
	defer a.track(req.RunID, key, cancel)()

	t := &turn{a: a, cfg: cfg, req: req, res: &TurnResult{SessionKey: key, RunID: req.RunID, ToolCalls: []ToolCallRecord{}}}
	t.emit = func(e Event) {
		e.RunID, e.SessionKey = req.RunID, key
		if req.OnEvent != nil {
			req.OnEvent(e)
		}
	}
	if err := wait(ctx); err != nil {
		return t.finish(ctx, err)
	}
	defer release()
	if req.OnStart != nil {
		req.OnStart()
	}
	err := t.safeDo(ctx)
	// The turn's work is done; delivering its end (a reply to a chat
	// platform) waits on the network, not on this process: the slot goes
	// to the next turn now, while the lane keeps this session's replies
	// in order until the delivery is over.
	freeSlot()
	return t.finish(ctx, err)
}

// safeDo runs the turn and turns a panic (a bug in a tool or provider
// adapter) into the turn's error, so one bad turn does not take the
// gateway and every other session down (invariant 14).
func (t *turn) safeDo(ctx context.Context) (err error) {
	defer func() {
		if p := recover(); p != nil {
			t.a.log.Error("turn panicked", "session", t.req.SessionKey, "run", t.req.RunID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in this turn (logged); nothing else is affected")
		}
	}()
	return t.do(ctx)
}

// finish reports the end of the turn as one event and returns the result.
func (t *turn) finish(ctx context.Context, err error) (*TurnResult, error) {
	if err == nil {
		t.emit(Event{Type: "final", Text: t.res.Reply, Result: t.res})
		return t.res, nil
	}
	if cause := context.Cause(ctx); cause != nil && ctx.Err() != nil {
		err = cause
	}
	var be *BudgetError
	switch {
	case errors.As(err, &be):
		t.res.Reply = be.Message
		t.res.StopReason = "budget"
		t.a.log.Warn("turn refused: budget", "session", t.res.SessionKey, "budget", be.Key, "limit", be.Limit, "spent", be.Spent)
		t.a.audit(context.WithoutCancel(ctx), core.KindBudgetRefused, t.req.SenderID, be.Key, map[string]any{"session": t.res.SessionKey, "limit": be.Limit, "spent": be.Spent})
		t.emit(Event{Type: "refused", Text: be.Message, Result: t.res})
	case errors.Is(err, ErrAborted):
		t.res.StopReason = "aborted"
		t.emit(Event{Type: "aborted", Text: err.Error(), Result: t.res})
	default:
		t.res.StopReason = "error"
		t.a.log.Warn("turn failed", "session", t.res.SessionKey, "run", t.res.RunID, "err", err)
		// A provider's or a tool's error text may quote a secret.
		if t.a.o.Scrub != nil {
			if text := t.a.o.Scrub(err.Error()); text != err.Error() {
				err = &scrubbedError{msg: text, err: err}
			}
		}
		t.emit(Event{Type: "error", Text: err.Error(), Result: t.res})
	}
	return t.res, err
}

func (t *turn) do(ctx context.Context) (err error) {
	a, req := t.a, t.req
	// The session and its context in one read; the context serves the
	// first model call unless this turn stores something first.
	sess, first, err := a.o.Store.EnsureHistory(ctx, req.SessionKey, store.SessionInit{
		AgentID: orDefault(req.Inbound.AgentID, "main"), Channel: req.Inbound.Channel, PeerID: req.Inbound.PeerID, ChatType: req.Inbound.ChatType})
	if err != nil {
		return err
	}
	t.sess = sess
	if req.Compact {
		return t.compactNow(ctx)
	}
	switch strings.ToLower(strings.TrimSpace(req.Text)) {
	case "/new", "/reset":
		if _, err := a.o.Store.ResetSession(ctx, req.SessionKey); err != nil {
			return err
		}
		t.res.Reply = "Started a new session; earlier messages are no longer in context."
		t.res.StopReason = "command"
		return nil
	}
	trust := req.Trust
	if f := strings.Fields(req.Text); len(f) > 0 && f[0] == "/approve" {
		t.res.StopReason = "command"
		t.res.Reply = t.approveCommand(ctx, f[1:], trust)
		return nil
	}
	// The inbound message is stored before anything can fail, so a provider
	// outage loses nothing: it is in the transcript for the next try.
	stored := false
	if req.Resume {
		// A turn resumed after a crash: what it stored before is in the
		// transcript under its run id.
		prev, err := a.o.Store.RunMessages(ctx, req.SessionKey, req.RunID)
		if err != nil {
			return err
		}
		stored = len(prev) > 0
		if n := len(prev); n > 1 && trust == policy.TrustOwner && prev[n-1].Role == "assistant" && len(prev[n-1].ToolCalls) == 0 {
			// It had ended; only its reply was not sent. Send that
			// rather than ask the model again. (Not for other senders:
			// their reply's prompt-leak check needs the lost turn's
			// canary, so the model is asked again.)
			t.res.Reply = prev[n-1].Content
			if a.o.Scrub != nil {
				t.res.Reply = a.o.Scrub(t.res.Reply)
			}
			t.res.StopReason = "resumed"
			return nil
		}
	}
	if !stored {
		um := store.Message{Role: "user", Content: req.Text, Provenance: trust, SenderID: req.SenderID, RunID: req.RunID}
		if req.Journaled {
			t.pending = &um
			defer func() {
				if perr := t.storePending(ctx); err == nil {
					err = perr
				}
			}()
		} else {
			stored, err := a.o.Store.AppendMessages(ctx, req.SessionKey, um)
			if err != nil {
				return err
			}
			first = extendHistory(first, stored)
		}
	}
	if trust == policy.TrustUntrusted {
		t.scan("message from "+orDefault(req.SenderID, "an untrusted sender"), req.Text)
	}
	t.models, err = a.o.Models.Models(t.cfg)
	if err != nil {
		return err
	}
	t.router = llm.NewRouter(t.models, a.o.Router)
	primary := t.models[0]

	for iter := 0; ; iter++ {
		if iter >= t.cfg.Agents.Defaults.MaxIterations {
			t.res.StopReason = "max_iterations"
			t.res.Reply = strings.TrimSpace(t.res.Reply + fmt.Sprintf("\n\n[stopped after %d model calls: agents.defaults.maxIterations]", iter))
			return nil
		}
		hist := first
		if iter > 0 || hist == nil {
			if hist, err = a.o.Store.History(ctx, req.SessionKey, store.HistoryOptions{}); err != nil {
				return err
			}
		}
		hist = t.withPending(hist)
		t.state = policy.SessionState{HoldsPrivate: trust == policy.TrustOwner}
		for _, m := range hist {
			observe(&t.state, m)
		}
		t.skills()
		if t.canary == "" {
			t.canary = newCanary()
		}
		base := systemPrompt(&a.bootstrap, a.o.Workspace, t.cfg.Agents.Defaults.BootstrapMaxChars, trust == policy.TrustOwner, req.Inbound.Channel, a.o.Now())
		if a.o.Skills != nil {
			if sec := a.o.Skills.PromptSection(t.sess.AgentID); sec != "" {
				base += "\n\n" + sec
			}
		}
		system := withCanary(base, t.canary)
		t.guard = a.promptGuard(base, t.canary)
		t.state.Prompt = t.guard
		msgs := toLLM(hist, a.wrap)
		if est := estimateTokens(system, msgs); primary.ContextWindow > 0 && float64(est) > compactAt*float64(primary.ContextWindow) {
			if t.pending != nil {
				// Compaction picks its cut by seq: store the message first.
				if err := t.storePending(ctx); err != nil {
					return err
				}
				if hist, err = a.o.Store.History(ctx, req.SessionKey, store.HistoryOptions{}); err != nil {
					return err
				}
			}
			done, err := t.compact(ctx, hist, int(compactKeep*float64(primary.ContextWindow)))
			if err != nil {
				return err
			}
			if done {
				if hist, err = a.o.Store.History(ctx, req.SessionKey, store.HistoryOptions{}); err != nil {
					return err
				}
				msgs = toLLM(hist, a.wrap)
			}
		}
		stream := a.deltaScrubber()
		resp, model, cost, stored, err := t.chat(ctx, llm.Request{System: system, Messages: msgs, Tools: a.o.Tools.Specs()}, func(d llm.Delta) {
			if text := stream.Write(d.Text); text != "" {
				t.emit(Event{Type: "delta", Text: text})
			}
		}, t.assistantMessage)
		if text := stream.Flush(); text != "" {
			t.emit(Event{Type: "delta", Text: text})
		}
		if err != nil {
			return err
		}
		if err := t.account(ctx, model, resp, cost, stored); err != nil {
			return err
		}
		if len(resp.Message.ToolCalls) == 0 {
			t.res.Reply = resp.Message.Content
			if trust != policy.TrustOwner && t.guard.Leaks(t.res.Reply) {
				t.leak(ctx, "reply")
				t.res.Reply = "[withheld: the reply contained the assistant's system prompt]"
			}
			if a.o.Scrub != nil {
				t.res.Reply = a.o.Scrub(t.res.Reply)
			}
			t.res.StopReason = resp.StopReason
			return nil
		}
		actor := core.Actor{AgentID: t.sess.AgentID, SessionKey: t.sess.Key, SenderID: req.SenderID, Channel: req.Inbound.Channel, Trust: trust}
		for _, call := range resp.Message.ToolCalls {
			if err := t.tool(ctx, call, actor); err != nil {
				return err
			}
		}
	}
}

// account adds a model call's usage (already recorded by chat) to the
// turn's result and stores the assistant message, unless chat stored it
// with the usage already.
func (t *turn) account(ctx context.Context, m llm.Model, resp *llm.Response, cost float64, stored bool) error {
	t.res.Usage.InputTokens += resp.Usage.InputTokens
	t.res.Usage.OutputTokens += resp.Usage.OutputTokens
	t.res.Usage.CostUSD += cost
	t.res.Model = m.Ref
	if stored {
		return nil
	}
	_, err := t.a.o.Store.AppendMessages(ctx, t.req.SessionKey, t.assistantMessage(resp, m, cost))
	return err
}

// assistantMessage is the transcript entry for a model response. It
// scrubs resp's text in place (the reply is taken from it), so it runs once
// per response.
func (t *turn) assistantMessage(resp *llm.Response, m llm.Model, cost float64) store.Message {
	if t.a.o.Scrub != nil {
		resp.Message.Content = t.a.o.Scrub(resp.Message.Content)
	}
	var calls json.RawMessage
	if len(resp.Message.ToolCalls) > 0 {
		for i := range resp.Message.ToolCalls {
			if !json.Valid(resp.Message.ToolCalls[i].Args) {
				// Keep what the model said, as a JSON string, so the
				// transcript stays valid JSON.
				b, _ := json.Marshal(string(resp.Message.ToolCalls[i].Args))
				resp.Message.ToolCalls[i].Args = b
			}
		}
		calls, _ = json.Marshal(resp.Message.ToolCalls)
	}
	return store.Message{
		Role: "assistant", Content: resp.Message.Content, ToolCalls: calls, Provenance: "trusted", Model: m.Ref,
		InputTokens: resp.Usage.InputTokens, OutputTokens: resp.Usage.OutputTokens, CostUSD: cost, RunID: t.req.RunID}
}

// tool plans, decides and runs one tool call and stores its result. The
// tool makes the call's Plan once; the one policy decides on it (unknown
// tools, invalid arguments and the per-turn cap are rules of that same
// decision); the intent is recorded before the tool runs and the outcome
// after. Bad calls become error results for the model; they never end the
// turn.
func (t *turn) tool(ctx context.Context, call llm.ToolCall, actor core.Actor) error {
	rec := ToolCallRecord{ID: call.ID, Name: call.Name, Args: call.Args}
	var result core.Result
	t.used++
	tl, known := t.a.o.Tools.Get(call.Name)
	cc := core.Call{ID: call.ID, Args: call.Args, Actor: actor, RunID: t.req.RunID, Workspace: t.a.o.Workspace,
		Reply: func(text string) { t.emit(Event{Type: "message", Text: text}) }}
	req := policy.Request{Actor: actor, State: t.state, Tool: core.Spec{Name: call.Name}, Registered: known, Args: call.Args,
		CallsInTurn: t.used, CallLimit: t.cfg.Budgets.PerTurnToolCalls}
	if known {
		req.Tool = tl.Spec()
		req.Plan, req.PlanErr = t.plan(ctx, tl, cc)
	}
	d := t.a.o.Policy.Decide(ctx, req)
	plan := req.Plan
	if plan == nil && d.Action != policy.Deny {
		// A call without a plan cannot run, whatever a Decider says
		// (Rules refuses it first: unknown-tool, invalid-arguments).
		why := fmt.Sprintf("unknown tool %q", call.Name)
		if req.PlanErr != nil {
			why = req.PlanErr.Error()
		}
		d = policy.Decision{Action: policy.Deny, Reason: why, Invalid: true, Rule: "no-plan"}
	}
	rec.Decision, rec.Reason = d.Action, d.Reason
	if d.Alert == policy.AlertPromptLeak {
		t.leak(ctx, "tool "+call.Name)
	}
	run := d.Action == policy.Allow
	if d.Action == policy.Ask {
		var err error
		run, err = t.approve(ctx, call, plan, &rec)
		if err != nil {
			return err
		}
	}
	switch {
	case d.Invalid:
		rec.Outcome = "error"
	case !run:
		rec.Outcome = "denied"
	default:
		// Intent before effect: the record of what is about to run, and
		// why it may, is written first; a call whose intent cannot be
		// recorded does not run (a kill -9 during the call leaves the
		// intent in the log).
		argsSum := sha256.Sum256(call.Args)
		var injected []string
		cc.Env, injected = t.skillSecrets(plan)
		act, err := t.a.rec.Begin(ctx, auditlog.Intent{Kind: core.KindToolIntent, OutcomeKind: core.KindToolExec,
			Actor: orDefault(t.req.SenderID, t.sess.Key), Subject: call.Name, Plan: plan, Decision: string(rec.Decision), Reason: rec.Reason,
			Data: map[string]any{"session": t.sess.Key, "run": t.req.RunID, "call": call.ID, "argsSha256": hex.EncodeToString(argsSum[:]), "rule": d.Rule,
				"injectedSecrets": injected}})
		if err != nil {
			t.a.log.Error("tool call not run: its intent could not be recorded in the audit log", "session", t.sess.Key, "tool", call.Name, "err", err)
			rec.Outcome = "error"
			rec.Reason = "not run: " + err.Error()
			break
		}
		t.emit(Event{Type: "tool_call", ToolCall: &rec})
		started := t.a.o.Now()
		r, err := tl.Run(ctx, cc, plan)
		switch {
		case ctx.Err() != nil:
			return context.Cause(ctx)
		case err != nil:
			rec.Outcome = "error"
			result = core.Result{Content: "error: " + err.Error(), IsError: true}
		default:
			rec.Outcome = "executed"
			if r.IsError {
				rec.Outcome = "error"
			}
			result = r
			if plan.Any(core.Ingests) {
				result.Untrusted = true // whatever the tool said: its plan brings outside content in
			}
		}
		t.auditOutcome(ctx, act, call, rec.Outcome, t.a.o.Now().Sub(started), result.Detail)
	}
	if rec.Outcome != "executed" && result.Content == "" {
		prefix := "error: "
		if rec.Outcome == "denied" {
			prefix = "denied by policy: "
		}
		result = core.Result{Content: prefix + rec.Reason, IsError: true}
	}
	decision, _ := json.Marshal(storedDecision(rec, d, plan))
	argsSum := sha256.Sum256(call.Args)
	t.a.audit(ctx, core.KindPolicyDecision, orDefault(t.req.SenderID, t.sess.Key), call.Name, map[string]any{
		"session": t.sess.Key, "run": t.req.RunID, "call": call.ID, "argsSha256": hex.EncodeToString(argsSum[:]), "planHash": d.PlanHash,
		"action": rec.Decision, "outcome": rec.Outcome, "reason": rec.Reason, "rule": d.Rule})
	if err := t.a.o.Store.RecordDecision(ctx, store.Decision{TS: t.a.o.Now(), SessionKey: t.sess.Key, RunID: t.req.RunID, AgentID: t.sess.AgentID,
		SenderID: t.req.SenderID, Tool: call.Name, CallID: call.ID, ArgsSHA256: hex.EncodeToString(argsSum[:]), PlanHash: d.PlanHash,
		Action: string(rec.Decision), Outcome: rec.Outcome, Reason: rec.Reason}); err != nil {
		return err
	}
	prov := "trusted"
	if result.Untrusted {
		prov = "untrusted"
	}
	if t.a.o.Scrub != nil {
		result.Content = t.a.o.Scrub(result.Content)
	}
	// Credentials nobody told Talon about (a key in a file the agent
	// read) are removed by their format (invariant 10).
	result.Content = redact.RedactFormats(result.Content)
	stored := store.Message{Role: "tool", Content: capResult(result.Content), ToolCallID: call.ID, ToolName: call.Name, IsError: result.IsError,
		Provenance: prov, Decision: decision, RunID: t.req.RunID}
	if _, err := t.a.o.Store.AppendMessages(ctx, t.req.SessionKey, stored); err != nil {
		return err
	}
	observe(&t.state, stored)
	t.skills()
	if result.Untrusted {
		t.scan(call.Name+" result", result.Content)
	}
	t.res.ToolCalls = append(t.res.ToolCalls, rec)
	t.emit(Event{Type: "tool_result", ToolCall: &rec, Text: capResult(result.Content)})
	return nil
}

// skills fills in what each skill the session activated may do (nil Check
// where no skill library is configured: the policy then treats the skill
// as restricted).
func (t *turn) skills() {
	for i, sk := range t.state.Skills {
		if sk.Check == nil && t.a.o.Skills != nil {
			t.state.Skills[i] = t.a.o.Skills.Active(t.sess.AgentID, sk.Name)
			t.state.Skills[i].Name = sk.Name
		}
	}
}

// skillSecrets are the secrets the session's active, trusted skills were
// granted, as NAME=value for a plan that executes (the variable is named
// as the secret is), and their names for the audit record. Restricted skills are granted none.
func (t *turn) skillSecrets(p *core.Plan) (env, names []string) {
	if p == nil || !p.Any(core.Executes) || t.a.o.SecretValue == nil {
		return nil, nil
	}
	for _, sk := range t.state.Skills {
		if sk.Restricted {
			continue
		}
		for _, name := range sk.Secrets {
			v, ok := t.a.o.SecretValue(name)
			if !ok || slices.Contains(names, name) {
				continue
			}
			env = append(env, name+"="+v)
			names = append(names, name)
		}
	}
	return env, names
}

// plan asks the tool for the call's plan. Arguments that are not a JSON
// object, and a tool that returns no sealed plan of itself, are planning
// errors: the policy refuses them.
func (t *turn) plan(ctx context.Context, tl core.Tool, c core.Call) (*core.Plan, error) {
	var args map[string]json.RawMessage
	if json.Unmarshal(c.Args, &args) != nil {
		return nil, errors.New("arguments are not a JSON object")
	}
	p, err := tl.Plan(ctx, c)
	if err != nil {
		return nil, err
	}
	if name := tl.Spec().Name; p == nil || p.Hash == "" || p.Tool != name {
		return nil, fmt.Errorf("tool %s made no sealed plan of its own (a bug in the tool)", name)
	}
	return p, nil
}

// approveCommand answers "/approve ..." that reached a turn. It resolves
// nothing: an answer queued behind the turn it should unblock could only
// arrive after that turn gave up, and a turn's sender is not an approver —
// a chat.send client holds operator.write, not operator.approvals. Chat
// channels handle /approve out of band, from the owner only
// (channels.Router); operator clients call exec.approval.resolve. The
// command never reaches the model.
func (t *turn) approveCommand(context.Context, []string, string) string {
	return "Approvals are answered out of band: in the owner's chat (/approve ID allow-once|allow-always|deny, or its buttons), " +
		"with `talon approvals resolve ID allow-once|allow-always|deny`, or in the Control UI."
}

// approve asks a person about a call the policy escalated and waits for
// the answer (tools.exec.askTimeoutSec). When nobody can be reached, or
// nobody answers in time, it applies tools.exec.askFallback: only "full"
// lets the call run. The call that runs is the very call that was
// approved.
func (t *turn) approve(ctx context.Context, call llm.ToolCall, plan *core.Plan, rec *ToolCallRecord) (bool, error) {
	fallback := t.cfg.Tools.Exec.AskFallback
	if t.a.o.Approvals != nil {
		ap, err := t.a.o.Approvals.Ask(ctx, approvals.Request{SessionKey: t.sess.Key, RunID: t.req.RunID, AgentID: t.sess.AgentID,
			Tool: call.Name, Args: call.Args, Plan: plan, Reason: rec.Reason, Timeout: time.Duration(t.cfg.Tools.Exec.AskTimeoutSec) * time.Second, Fallback: fallback})
		switch {
		case err == nil && ap.Status == "allowed":
			rec.Reason += fmt.Sprintf("; approved %s by %s (approval %s)", ap.Decision, ap.ResolvedBy, ap.ID)
			return true, nil
		case err == nil && ap.Status == "expired":
			if fallback == "full" {
				rec.Reason += fmt.Sprintf("; approval %s expired unanswered, allowed by tools.exec.askFallback = full", ap.ID)
				return true, nil
			}
			rec.Reason += fmt.Sprintf("; approval %s expired unanswered (tools.exec.askFallback = %s)", ap.ID, fallback)
			return false, nil
		case err == nil:
			rec.Reason += fmt.Sprintf("; approval %s %s", ap.ID, ap.Status)
			return false, nil
		case !errors.Is(err, approvals.ErrNoApprover):
			if ctx.Err() != nil {
				return false, context.Cause(ctx)
			}
			return false, err
		}
	}
	if fallback == "full" {
		rec.Reason += "; no approver reachable, allowed by tools.exec.askFallback = full"
		return true, nil
	}
	rec.Reason += "; needs approval and no approver is reachable (tools.exec.askFallback = " + fallback + ")"
	return false, nil
}

// leak raises the alert for a blocked system-prompt disclosure.
func (t *turn) leak(ctx context.Context, where string) {
	t.a.log.Warn("system prompt disclosure blocked", "session", t.req.SessionKey, "run", t.req.RunID, "where", where)
	t.emit(Event{Type: "alert", Text: "system prompt disclosure blocked in " + where})
	t.a.audit(context.WithoutCancel(ctx), core.KindSecurityAlert, orDefault(t.req.SenderID, t.sess.Key), "prompt-leak", map[string]any{"session": t.req.SessionKey, "where": where})
}

// scan looks for injection patterns in untrusted text. A hit raises an
// alert event and a log record; it blocks nothing (policy and taint do).
func (t *turn) scan(source, text string) {
	alerts := provenance.DetectInjection(text)
	if len(alerts) == 0 {
		return
	}
	names := make([]string, len(alerts))
	for i, al := range alerts {
		names[i] = al.Pattern
	}
	t.a.log.Warn("injection patterns in untrusted content", "session", t.req.SessionKey, "run", t.req.RunID, "source", source, "patterns", names)
	t.emit(Event{Type: "alert", Text: source + ": " + strings.Join(names, ", ")})
	t.a.audit(context.Background(), core.KindSecurityAlert, source, "injection", map[string]any{"session": t.req.SessionKey, "run": t.req.RunID, "patterns": names})
}

// capResult keeps the head and tail of an oversize tool result.
func capResult(s string) string {
	if len(s) <= maxToolResultChars {
		return s
	}
	head := s[:maxToolResultChars*3/4]
	tail := s[len(s)-maxToolResultChars/4:]
	return head + fmt.Sprintf("\n[… %d characters omitted …]\n", len(s)-len(head)-len(tail)) + tail
}

// auditOutcome records how a tool call whose intent is recorded ended: the
// outcome, how long it took and the tool's own account of what it did,
// with every secret the scrubber knows and every credential format
// removed.
func (t *turn) auditOutcome(ctx context.Context, act *auditlog.Action, call llm.ToolCall, outcome string, took time.Duration, detail map[string]any) {
	data := map[string]any{"session": t.sess.Key, "run": t.req.RunID, "call": call.ID, "outcome": outcome, "durationMs": took.Milliseconds()}
	if len(detail) > 0 {
		raw, err := json.Marshal(detail)
		if err == nil {
			text := redact.Redact(string(raw))
			if t.a.o.Scrub != nil {
				text = t.a.o.Scrub(text)
			}
			var clean any
			if json.Unmarshal([]byte(text), &clean) == nil {
				data["detail"] = clean
			} else {
				data["detail"] = text
			}
		}
	}
	if err := act.Done(ctx, nil, data); err != nil {
		t.a.log.Warn("audit: the outcome of a tool call was not recorded", "session", t.sess.Key, "tool", call.Name, "err", err)
	}
}

func (a *Agent) audit(ctx context.Context, kind, actor, subject string, data any) error {
	if a.o.Audit == nil {
		return nil
	}
	return a.o.Audit(ctx, kind, actor, subject, data)
}

// deltaScrubber scrubs one streamed reply (invariant 10): with
// Options.ScrubStream a secret cut across deltas is found too; without it
// each delta is scrubbed alone.
func (a *Agent) deltaScrubber() interface {
	Write(string) string
	Flush() string
} {
	if a.o.ScrubStream != nil {
		return a.o.ScrubStream()
	}
	return pieceScrubber(a.o.Scrub)
}

// pieceScrubber scrubs each piece on its own (nil: not at all).
type pieceScrubber func(string) string

func (f pieceScrubber) Write(s string) string {
	if f == nil || s == "" {
		return s
	}
	return f(s)
}

func (pieceScrubber) Flush() string { return "" }

// scrubbedError is an error whose text had a secret in it: Error is the
// scrubbed text, and errors.Is and errors.As still see the original.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
