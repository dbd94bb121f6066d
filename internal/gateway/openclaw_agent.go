package gateway

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/protocol"
)

// Turns as OpenClaw's clients follow them: the `agent` method (an accepted
// response, then the final one on the same request id), `agent.wait`, and
// the events of every turn an operator starts (chat.send, agent, wake).
//
// The events are additive: Talon's own chat events (state, deltaText,
// message on final) and agent events (stream message/tool) keep their
// fields; OpenClaw's fields and streams (lifecycle, assistant, usage) are
// added next to them. Every turn runs through agent.Start like chat.send,
// with owner trust: the methods that start one need operator.write, as
// chat.send does.

// runState is one operator-started turn, for agent.wait.
type runState struct {
	runID, sessionKey, agentID string
	startedAt                  time.Time
	done                       chan struct{} // closed at the end
	// Set before done is closed.
	endedAt time.Time
	status  string // ok | error | aborted
	errMsg  string
	result  *agent.TurnResult
}

// runRegistry remembers recent operator-started turns by run id.
type runRegistry struct {
	mu   sync.Mutex
	runs map[string]*runState
}

const (
	runKeep    = 10 * time.Minute // finished runs stay waitable this long
	runMaxKept = 1000
)

func (r *runRegistry) add(s *runState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.runs == nil {
		r.runs = map[string]*runState{}
	}
	if len(r.runs) >= runMaxKept {
		for id, x := range r.runs {
			select {
			case <-x.done:
				if time.Since(x.endedAt) > runKeep || len(r.runs) >= runMaxKept {
					delete(r.runs, id)
				}
			default:
			}
		}
	}
	r.runs[s.runID] = s
}

func (r *runRegistry) get(id string) *runState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runs[id]
}

// active returns the ids of the runs of sessionKey still going.
func (r *runRegistry) active(sessionKey string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := []string{}
	for id, s := range r.runs {
		if s.sessionKey == sessionKey && !s.finished() {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// turnStream turns one turn's agent.Events into gateway events: Talon's
// chat and agent events, with OpenClaw's fields and streams added.
type turnStream struct {
	g       *Gateway
	agentID string
	run     *runState // nil until Start returned; events before it wait

	mu sync.Mutex
	// seq numbers the run's chat and agent events in one sequence:
	// OpenClaw's clients order a run's events across both by it (a chat
	// final numbered below the lifecycle end would be dropped as stale).
	seq       int64
	sessionID string // the session's current id, read once
	text      strings.Builder
	started   bool
	onEndOnce sync.Once
	onEnd     func(*runState)
}

// sessionIDOf returns the session's current id (OpenClaw's clients match
// a run's events to the transcript they show by it); "" if unknown yet.
func (t *turnStream) sessionIDOf(key string) string {
	t.mu.Lock()
	id := t.sessionID
	t.mu.Unlock()
	if id != "" || t.g.opts.Store == nil {
		return id
	}
	if s, ok, err := t.g.opts.Store.Session(context.Background(), key); err == nil && ok {
		id = s.ID
		t.mu.Lock()
		t.sessionID = id
		t.mu.Unlock()
	}
	return id
}

func (t *turnStream) chat(payload map[string]any) {
	if id := t.sessionIDOf(payload["sessionKey"].(string)); id != "" {
		payload["sessionId"] = id
	}
	t.mu.Lock()
	t.seq++
	payload["seq"] = t.seq
	t.mu.Unlock()
	t.g.broadcastScoped(protocol.ScopeRead, eventChat, payload)
}

func (t *turnStream) agentEvent(ev agent.Event, stream string, data map[string]any) {
	payload := map[string]any{"runId": ev.RunID, "sessionKey": ev.SessionKey, "agentId": t.agentID, "stream": stream,
		"ts": time.Now().UnixMilli(), "data": data}
	if id := t.sessionIDOf(ev.SessionKey); id != "" {
		payload["sessionId"] = id
	}
	t.mu.Lock()
	t.seq++
	payload["seq"] = t.seq
	t.mu.Unlock()
	t.g.broadcastScoped(protocol.ScopeRead, eventAgent, payload)
}

// lifecycleStart sends OpenClaw's lifecycle start once per turn.
func (t *turnStream) lifecycleStart(ev agent.Event) {
	t.mu.Lock()
	first := !t.started
	t.started = true
	t.mu.Unlock()
	if first {
		t.agentEvent(ev, "lifecycle", map[string]any{"phase": "start", "startedAt": time.Now().UnixMilli()})
	}
}

// on handles one event of the turn.
func (t *turnStream) on(ev agent.Event) {
	base := map[string]any{"runId": ev.RunID, "sessionKey": ev.SessionKey, "agentId": t.agentID}
	switch ev.Type {
	case "delta":
		t.lifecycleStart(ev)
		t.mu.Lock()
		t.text.WriteString(ev.Text)
		full := t.text.String()
		t.mu.Unlock()
		base["state"], base["deltaText"] = "delta", ev.Text
		// OpenClaw's clients render the message so far.
		base["message"] = map[string]any{"role": "assistant", "content": []map[string]any{{"type": "text", "text": full}},
			"timestamp": time.Now().UnixMilli()}
		t.chat(base)
		t.agentEvent(ev, "assistant", map[string]any{"text": full, "delta": ev.Text})
	case "alert":
		t.g.NotifyAlert(ev)
	case "message":
		t.lifecycleStart(ev)
		t.agentEvent(ev, "message", map[string]any{"text": ev.Text})
	case "tool_call", "tool_result":
		t.lifecycleStart(ev)
		data := map[string]any{"phase": ev.Type, "call": ev.ToolCall}
		if ev.ToolCall != nil {
			data["name"], data["toolCallId"] = ev.ToolCall.Name, ev.ToolCall.ID
			if ev.Type == "tool_result" {
				data["isError"] = ev.ToolCall.Outcome != "executed"
			}
		}
		t.agentEvent(ev, "tool", data)
	case "final":
		u := ev.Result.Usage
		t.agentEvent(ev, "usage", map[string]any{"input": u.InputTokens, "output": u.OutputTokens,
			"total": u.InputTokens + u.OutputTokens, "cost": map[string]any{"total": u.CostUSD}})
		t.end(ev, "ok", "", ev.Result, func() {
			base["state"] = "final"
			msg := finalMessage(ev.Result)
			msg["timestamp"] = time.Now().UnixMilli()
			base["message"] = msg
			base["usage"] = ev.Result.Usage
			base["stopReason"] = ev.Result.StopReason
			t.chat(base)
		})
	case "aborted":
		t.end(ev, "aborted", "aborted", ev.Result, func() {
			base["state"], base["stopReason"] = "aborted", "aborted"
			t.chat(base)
		})
	case "refused":
		t.end(ev, "error", ev.Text, ev.Result, func() {
			base["state"], base["errorMessage"], base["stopReason"] = "error", ev.Text, "budget"
			t.chat(base)
		})
	case "error":
		t.end(ev, "error", ev.Text, ev.Result, func() {
			base["state"], base["errorMessage"] = "error", ev.Text
			t.chat(base)
		})
	}
}

// end settles the run once, in the order OpenClaw's clients follow: the
// lifecycle "finishing" and end (or error) while the run is still theirs,
// the terminal chat event (terminal), then the run's waiters.
func (t *turnStream) end(ev agent.Event, status, errMsg string, res *agent.TurnResult, terminal func()) {
	t.onEndOnce.Do(func() {
		now := time.Now()
		data := map[string]any{"phase": "end", "endedAt": now.UnixMilli(), "aborted": status == "aborted"}
		if res != nil && res.StopReason != "" {
			data["stopReason"] = res.StopReason
		}
		if status == "error" {
			data["phase"], data["error"] = "error", errMsg
		}
		fin := map[string]any{"phase": "finishing", "aborted": status == "aborted", "endedAt": now.UnixMilli()}
		if s, ok := data["stopReason"]; ok {
			fin["stopReason"] = s
		}
		t.agentEvent(ev, "lifecycle", fin)
		t.agentEvent(ev, "lifecycle", data)
		terminal()
		if t.onEnd != nil {
			t.onEnd(&runState{runID: ev.RunID, sessionKey: ev.SessionKey, endedAt: now, status: status, errMsg: errMsg, result: res})
		}
	})
}

// startTurn starts an owner turn for an operator connection and registers
// it for agent.wait. It is the one way the gateway starts a turn.
//
// A client's idempotency key becomes the run id when it is a plain token
// and no run by that id is still going: OpenClaw's clients match the run's
// events to their own message by it (they name runs by that key).
func (g *Gateway) startTurn(ctx context.Context, c *conn, sessionKey, agentID, text, idemKey string, onEnd func(*runState)) (*runState, error) {
	rs := &runState{sessionKey: sessionKey, agentID: orMain(agentID), startedAt: time.Now(), done: make(chan struct{})}
	ts := &turnStream{g: g, agentID: rs.agentID}
	ts.onEnd = func(fin *runState) {
		rs.endedAt, rs.status, rs.errMsg, rs.result = fin.endedAt, fin.status, fin.errMsg, fin.result
		close(rs.done)
		var msg map[string]any
		if fin.result != nil && fin.result.Reply != "" {
			msg = map[string]any{"role": "assistant", "content": []map[string]any{{"type": "text", "text": fin.result.Reply}},
				"timestamp": fin.endedAt.UnixMilli()}
		}
		g.notifySession(sessionKey, "agent.input.settled", msg)
		if onEnd != nil {
			onEnd(rs)
		}
	}
	runID := ""
	if validRunToken(idemKey) {
		if old := g.runs.get(idemKey); old == nil || old.finished() {
			runID = idemKey
		}
	}
	runID, err := g.opts.Agent.Start(context.WithoutCancel(ctx), agent.TurnRequest{
		RunID:      runID,
		SessionKey: sessionKey,
		Inbound:    agent.Inbound{AgentID: agentID, Channel: "webchat", PeerID: "operator", ChatType: "direct"},
		Text:       text,
		SenderID:   "operator:" + c.client.ID,
		Trust:      policy.TrustOwner,
		OnEvent:    ts.on,
	})
	if err != nil {
		return nil, err
	}
	rs.runID = runID
	g.runs.add(rs)
	g.notifySession(sessionKey, "send", map[string]any{"role": "user", "content": text, "timestamp": rs.startedAt.UnixMilli()})
	return rs, nil
}

// finished reports whether the run has ended.
func (s *runState) finished() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// validRunToken accepts 8 to 128 characters of [A-Za-z0-9.:-]. No "_":
// the run ids Talon makes itself ("run_…", "cron_…") all have one, so a
// client's key can never name a run the agent or the scheduler started
// (two runs under one id would confuse abort and the run registry).
func validRunToken(s string) bool {
	if len(s) < 8 || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == ':' || r == '-') {
			return false
		}
	}
	return true
}

func orMain(id string) string {
	if id == "" {
		return "main"
	}
	return id
}

type agentParams struct {
	Message        string `json:"message"`
	AgentID        string `json:"agentId"`
	SessionKey     string `json:"sessionKey"`
	SessionID      string `json:"sessionId"`
	To             string `json:"to"`
	Deliver        bool   `json:"deliver"`
	Timeout        int    `json:"timeout"` // seconds
	IdempotencyKey string `json:"idempotencyKey"`
}

// mAgent is OpenClaw's `agent`: it answers "accepted" at once and, on the
// same request id, the final result when the turn ends. deliver (sending
// the reply to a channel) is refused: delivery to a channel target is
// egress, which goes through the message tool's policy, not around it.
func (g *Gateway) mAgent(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	var p agentParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if strings.TrimSpace(p.Message) == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message is empty")
	}
	if len(p.Message) > maxChatMessage {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message is longer than %d bytes", maxChatMessage)
	}
	if p.Deliver || p.To != "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "deliver/to are not supported: Talon sends to channel targets only through the message tool's policy and approvals (hint: run without --deliver)")
	}
	key := p.SessionKey
	if key == "" {
		key = agent.MainSessionKey(p.AgentID)
	}
	if !agent.ValidSessionKey(key) {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "invalid sessionKey (hint: keys look like agent:main:main)")
	}
	if p.IdempotencyKey != "" {
		if runID, ok := g.idem.seen("agent:" + p.IdempotencyKey); ok {
			if rs := g.runs.get(runID); rs != nil {
				return g.awaitAgent(ctx, c, rs, p.Timeout)
			}
			return map[string]any{"runId": runID, "status": "in_flight"}, nil
		}
	}
	rs, err := g.startTurn(ctx, c, key, p.AgentID, p.Message, p.IdempotencyKey, nil)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	}
	if p.IdempotencyKey != "" {
		g.idem.remember("agent:"+p.IdempotencyKey, rs.runID)
	}
	return g.awaitAgent(ctx, c, rs, p.Timeout)
}

// awaitAgent sends the accepted response, waits for the end of the run and
// returns the final response (sent on the same request id by dispatch).
func (g *Gateway) awaitAgent(ctx context.Context, c *conn, rs *runState, timeoutSec int) (any, *protocol.Error) {
	c.replyOK(ctx, map[string]any{"runId": rs.runID, "sessionKey": rs.sessionKey, "agentId": rs.agentID,
		"status": "accepted", "acceptedAt": time.Now().UnixMilli()})
	wait := time.Duration(timeoutSec) * time.Second
	if wait <= 0 || wait > time.Hour {
		wait = time.Hour
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-rs.done:
	case <-timer.C:
		return map[string]any{"runId": rs.runID, "status": "timeout", "summary": "timed out waiting for the run"}, nil
	case <-ctx.Done():
		return nil, protocol.Errorf(protocol.CodeUnavailable, "connection closed")
	}
	return agentFinal(rs), nil
}

// agentFinal is the final `agent` response in OpenClaw's shape.
func agentFinal(rs *runState) map[string]any {
	out := map[string]any{"runId": rs.runID, "status": rs.status, "sessionKey": rs.sessionKey}
	switch rs.status {
	case "ok":
		out["summary"] = "completed"
	case "aborted":
		out["summary"] = "aborted"
	default:
		out["summary"], out["error"] = "error", rs.errMsg
	}
	meta := map[string]any{"durationMs": rs.endedAt.Sub(rs.startedAt).Milliseconds()}
	payloads := []map[string]any{}
	if r := rs.result; r != nil {
		if r.Reply != "" {
			payloads = append(payloads, map[string]any{"text": r.Reply, "mediaUrl": nil})
		}
		u := r.Usage
		provider, model, _ := strings.Cut(r.Model, "/")
		if model == "" {
			provider, model = "", r.Model
		}
		meta["agentMeta"] = map[string]any{"sessionId": rs.sessionKey, "provider": provider, "model": model,
			"usage": map[string]any{"input": u.InputTokens, "output": u.OutputTokens, "total": u.InputTokens + u.OutputTokens,
				"cost": map[string]any{"total": u.CostUSD}}}
		meta["stopReason"] = r.StopReason
		meta["toolCalls"] = r.ToolCalls
	}
	out["result"] = map[string]any{"payloads": payloads, "meta": meta}
	return out
}

// mAgentWait is agent.wait: it waits (up to timeoutMs, default 30 s) for a
// run an operator started and returns its terminal snapshot.
func (g *Gateway) mAgentWait(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		RunID     string `json:"runId"`
		TimeoutMs int64  `json:"timeoutMs"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if p.RunID == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "missing runId")
	}
	rs := g.runs.get(p.RunID)
	if rs == nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "unknown runId %q (hint: agent.wait knows runs started through this gateway in the last %v)", p.RunID, runKeep)
	}
	wait := time.Duration(p.TimeoutMs) * time.Millisecond
	if wait <= 0 {
		wait = 30 * time.Second
	}
	wait = min(wait, time.Hour)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-rs.done:
	case <-timer.C:
		return map[string]any{"runId": rs.runID, "status": "timeout"}, nil
	case <-ctx.Done():
		return nil, protocol.Errorf(protocol.CodeUnavailable, "connection closed")
	}
	out := map[string]any{"runId": rs.runID, "status": rs.status, "startedAt": rs.startedAt.UnixMilli(), "endedAt": rs.endedAt.UnixMilli()}
	if rs.errMsg != "" {
		out["error"] = rs.errMsg
	}
	return out, nil
}
