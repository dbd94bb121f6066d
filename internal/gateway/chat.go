package gateway

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// Chat and session methods. An authenticated operator connection is the
// owner's own channel ("webchat"): its messages carry owner trust.

const (
	eventChat  = "chat"
	eventAgent = "agent"
)

type chatSendParams struct {
	SessionKey     string `json:"sessionKey"`
	AgentID        string `json:"agentId"`
	Message        string `json:"message"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// maxChatMessage bounds one inbound chat message.
const maxChatMessage = 256 << 10

func (g *Gateway) needAgent() *protocol.Error {
	if g.opts.Agent == nil || g.opts.Store == nil {
		return protocol.Errorf(protocol.CodeUnavailable, "the agent runtime is not running in this gateway")
	}
	return nil
}

// mChatSend queues a turn and answers at once with its run id; the reply
// streams as chat events (delta, then final, error or aborted).
func (g *Gateway) mChatSend(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	var p chatSendParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if p.Message == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message is empty")
	}
	if len(p.Message) > maxChatMessage {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message is longer than %d bytes", maxChatMessage)
	}
	if p.SessionKey == "" {
		p.SessionKey = agent.MainSessionKey(p.AgentID)
	}
	if !agent.ValidSessionKey(p.SessionKey) {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "invalid sessionKey (hint: keys look like agent:main:main)")
	}
	if p.IdempotencyKey != "" {
		if runID, ok := g.idem.seen(p.IdempotencyKey); ok {
			return map[string]any{"runId": runID, "status": "in_flight"}, nil
		}
	}
	rs, err := g.startTurn(ctx, c, p.SessionKey, p.AgentID, p.Message, p.IdempotencyKey, nil)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	}
	if p.IdempotencyKey != "" {
		g.idem.remember(p.IdempotencyKey, rs.runID)
	}
	return map[string]any{"runId": rs.runID, "status": "started", "sessionKey": p.SessionKey}, nil
}

// finalMessage is the assistant message of a final chat event. OpenClaw
// clients read role and content; Talon's own clients also read the tool
// calls and the session key.
func finalMessage(r *agent.TurnResult) map[string]any {
	return map[string]any{
		"role":       "assistant",
		"content":    []map[string]any{{"type": "text", "text": r.Reply}},
		"toolCalls":  r.ToolCalls,
		"sessionKey": r.SessionKey,
		"model":      r.Model,
	}
}

type sessionParams struct {
	Key        string `json:"key"`
	SessionKey string `json:"sessionKey"`
	RunID      string `json:"runId"`
	Limit      int    `json:"limit"`
}

// decodeSession reads the params of a method that names one session.
func decodeSession(params json.RawMessage) (sessionParams, string, *protocol.Error) {
	var p sessionParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return p, "", e
	}
	key, e := p.key()
	return p, key, e
}

func (p sessionParams) key() (string, *protocol.Error) {
	k := p.SessionKey
	if k == "" {
		k = p.Key
	}
	if !agent.ValidSessionKey(k) {
		return "", protocol.Errorf(protocol.CodeInvalidRequest, "missing or invalid sessionKey")
	}
	return k, nil
}

func (g *Gateway) mChatHistory(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	p, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	limit := p.Limit
	if limit <= 0 || limit > 1000 {
		limit = 200
	}
	sess, ok, err := g.opts.Store.Session(ctx, key)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if !ok {
		return map[string]any{"sessionKey": key, "messages": []any{}}, nil
	}
	hist, err := g.opts.Store.History(ctx, key, store.HistoryOptions{Limit: limit})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	msgs := make([]map[string]any, 0, len(hist))
	for _, m := range hist {
		e := map[string]any{"role": m.Role, "content": m.Content, "ts": m.CreatedAt.UnixMilli(), "seq": m.Seq, "provenance": m.Provenance}
		if len(m.ToolCalls) > 0 {
			e["toolCalls"] = m.ToolCalls
		}
		if m.ToolCallID != "" {
			e["toolCallId"], e["toolName"], e["isError"] = m.ToolCallID, m.ToolName, m.IsError
		}
		if len(m.Decision) > 0 {
			e["decision"] = m.Decision
		}
		if m.Summary {
			e["summary"] = true
		}
		if m.Model != "" {
			e["model"] = m.Model
		}
		if m.RunID != "" {
			e["runId"] = m.RunID // which turn wrote it: a cron run's output is its run's messages
		}
		msgs = append(msgs, e)
	}
	return map[string]any{"sessionKey": key, "sessionId": sess.ID, "messages": msgs}, nil
}

func (g *Gateway) mChatAbort(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	p, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	return map[string]any{"ok": true, "aborted": g.opts.Agent.Abort(key, p.RunID)}, nil
}

func sessionJSON(s store.Session) map[string]any {
	return map[string]any{
		"key": s.Key, "sessionId": s.ID, "agentId": s.AgentID, "channel": s.Channel, "chatType": s.ChatType,
		"updatedAt": s.UpdatedAt.UnixMilli(), "createdAt": s.CreatedAt.UnixMilli(),
		"inputTokens": s.InputTokens, "outputTokens": s.OutputTokens, "totalTokens": s.InputTokens + s.OutputTokens,
		"costUsd": s.CostUSD, "messageCount": s.MessageCount, "model": s.LastModel,
	}
}

func (g *Gateway) mSessionsList(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	var p struct {
		Limit   int    `json:"limit"`
		AgentID string `json:"agentId"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	list, err := g.opts.Store.ListSessions(ctx, store.ListSessionsOptions{Limit: p.Limit, AgentID: p.AgentID})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	out := make([]map[string]any, 0, len(list))
	for _, s := range list {
		out = append(out, sessionJSON(s))
	}
	return map[string]any{"ts": time.Now().UnixMilli(), "count": len(out), "sessions": out}, nil
}

func (g *Gateway) mSessionsReset(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	_, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	if e := g.begin(ctx, c, core.KindSessionReset, key, nil); e != nil {
		return nil, e
	}
	g.opts.Agent.Abort(key, "")
	s, err := g.opts.Store.ResetSession(ctx, key)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return map[string]any{"ok": true, "key": key, "entry": sessionJSON(s)}, nil
}

func (g *Gateway) mSessionsDelete(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	_, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	if e := g.begin(ctx, c, core.KindSessionDelete, key, nil); e != nil {
		return nil, e
	}
	g.opts.Agent.Abort(key, "")
	if err := g.opts.Store.DeleteSession(ctx, key); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return map[string]any{"ok": true, "key": key, "deleted": true}, nil
}

func (g *Gateway) mUsageStatus(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		Days int `json:"days"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	return UsageStatus(ctx, g.opts.Store, g.config().cfg.Budgets, p.Days, time.Now())
}

// idempotency remembers recent chat.send idempotency keys for a while, so a
// client retrying after a dropped response does not start a second turn.
type idempotency struct {
	mu   sync.Mutex
	keys map[string]idemEntry
}

type idemEntry struct {
	runID string
	at    time.Time
}

const idemTTL = 10 * time.Minute

func (i *idempotency) seen(k string) (string, bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	e, ok := i.keys[k]
	if !ok || time.Since(e.at) > idemTTL {
		return "", false
	}
	return e.runID, true
}

func (i *idempotency) remember(k, runID string) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.keys == nil {
		i.keys = map[string]idemEntry{}
	}
	if len(i.keys) > 10000 {
		for key, e := range i.keys {
			if time.Since(e.at) > idemTTL {
				delete(i.keys, key)
			}
		}
	}
	i.keys[k] = idemEntry{runID, time.Now()}
}

// NotifyAlert broadcasts a turn's security alert (an injection pattern, a
// prompt leak) to operators, whichever channel the turn came from.
func (g *Gateway) NotifyAlert(ev agent.Event) {
	g.log.Warn("security alert", "session", ev.SessionKey, "run", ev.RunID, "detail", ev.Text)
	g.broadcastScoped(protocol.ScopeRead, "security.alert", map[string]any{"runId": ev.RunID, "sessionKey": ev.SessionKey,
		"ts": time.Now().UnixMilli(), "detail": ev.Text})
}
