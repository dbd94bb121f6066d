package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/tools/msgtool"
)

// Methods OpenClaw's own clients (its CLI, TUI and openclaw-node) call,
// answered from what Talon has. docs/openclaw-compat.md lists each, its
// scope, and where Talon deliberately differs.
//
// Invariant: a compatible method is a view of, or a door into, the same
// machinery as Talon's own method — the same scope check in dispatch, the
// same store, the same approval manager, the same audit records. None of
// them reaches an effect that Talon's own methods would refuse: turns run
// through agent.Start with owner trust only for operator.write holders (as
// chat.send), approvals resolve through resolveApproval (as
// exec.approval.resolve), a message to a channel target waits for an
// approval from the one approval store before anything is sent, and jobs
// added in OpenClaw's shape are cron.add jobs with cron.add's trust.

// reqIDKey carries the request id to handlers that answer twice (agent).
type reqIDKey struct{}

// replyOK sends an extra OK response on the current request's id (the
// "accepted" response of agent; dispatch sends the final one).
func (c *conn) replyOK(ctx context.Context, payload any) {
	id, _ := ctx.Value(reqIDKey{}).(string)
	c.reply(protocol.OKResponse(id, payload))
}

// subscriptions holds OpenClaw's per-connection session subscriptions.
// Talon broadcasts chat and agent events to every reader anyway; a
// subscription adds sessions.changed and session.message events.
type subscriptions struct {
	mu       sync.Mutex
	sessions map[*conn]bool
	messages map[*conn]map[string]bool
}

func (s *subscriptions) set(c *conn, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sessions == nil {
		s.sessions = map[*conn]bool{}
	}
	if on {
		s.sessions[c] = true
	} else {
		delete(s.sessions, c)
	}
}

func (s *subscriptions) setMessages(c *conn, key string, on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.messages == nil {
		s.messages = map[*conn]map[string]bool{}
	}
	m := s.messages[c]
	if on {
		if m == nil {
			m = map[string]bool{}
			s.messages[c] = m
		}
		if len(m) < 256 {
			m[key] = true
		}
		return
	}
	delete(m, key)
}

func (s *subscriptions) drop(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, c)
	delete(s.messages, c)
}

// watchers returns the connections subscribed to the session list and to
// key's messages.
func (s *subscriptions) watchers(key string) (list, msgs []*conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.sessions {
		list = append(list, c)
	}
	for c, m := range s.messages {
		if m[key] {
			msgs = append(msgs, c)
		}
	}
	return list, msgs
}

// notifySession sends sessions.changed and session.message events about
// key to the connections subscribed to them, still subject to operator.read.
func (g *Gateway) notifySession(key, reason string, msg map[string]any) {
	list, msgs := g.subs.watchers(key)
	if len(list) == 0 && len(msgs) == 0 {
		return
	}
	row := g.sessionRow(store.Session{Key: key, AgentID: agentOfKey(key)})
	if g.opts.Store != nil {
		if s, ok, err := g.opts.Store.Session(context.Background(), key); err == nil && ok {
			row = g.sessionRow(s)
		}
	}
	for _, c := range list {
		if c.ready.Load() && c.hasScope(protocol.ScopeRead) {
			// activeRunIds at the top is authoritative for OpenClaw's
			// clients: an empty list tells them the session is idle.
			ev := map[string]any{"sessionKey": key, "agentId": row["agentId"], "reason": reason,
				"ts": time.Now().UnixMilli(), "session": row, "activeRunIds": row["activeRunIds"], "hasActiveRun": row["hasActiveRun"]}
			if id, _ := row["sessionId"].(string); id != "" {
				ev["sessionId"] = id
			}
			c.sendEvent("sessions.changed", ev)
		}
	}
	if msg == nil {
		return
	}
	for _, c := range msgs {
		if c.ready.Load() && c.hasScope(protocol.ScopeRead) {
			c.sendEvent("session.message", map[string]any{"sessionKey": key, "agentId": row["agentId"], "message": msg, "session": row})
		}
	}
}

// sessionRow is a session in OpenClaw's row shape, with Talon's own
// session fields (sessionJSON) kept.
func (g *Gateway) sessionRow(s store.Session) map[string]any {
	row := sessionJSON(s)
	agentID := orMain(s.AgentID)
	main := s.Key == agent.MainSessionKey(agentID)
	kind := "direct"
	if s.ChatType == "group" || s.ChatType == "channel" {
		kind = "group"
	}
	classification := "direct"
	switch {
	case main:
		classification = "main"
	case s.ChatType == "cron":
		classification = "cron"
	}
	provider, model, ok := strings.Cut(s.LastModel, "/")
	if !ok {
		provider, model = "", s.LastModel
	}
	if model == "" {
		if ref := g.config().cfg.Agents.Defaults.Model; ref != "" {
			provider, model, _ = strings.Cut(ref, "/")
		}
	}
	row["agentId"] = agentID
	row["kind"] = kind
	row["classification"] = classification
	row["isMain"] = main
	row["isBackground"] = s.ChatType == "cron"
	row["displayName"] = s.Title
	row["modelProvider"] = provider
	row["model"] = model
	row["totalTokensFresh"] = true
	row["archived"], row["pinned"], row["unread"] = false, false, false
	row["snapshotAt"] = time.Now().UnixMilli()
	if w := g.contextWindow(provider, model); w > 0 {
		row["contextTokens"] = w
	}
	active := g.runs.active(s.Key)
	row["hasActiveRun"], row["activeRunIds"] = len(active) > 0, active
	row["status"] = "done"
	if len(active) > 0 {
		row["status"] = "running"
	}
	return row
}

// agentOfKey is the agent id of a session key "agent:<id>:…", or "main".
func agentOfKey(key string) string {
	if rest, ok := strings.CutPrefix(key, "agent:"); ok {
		if id, _, ok := strings.Cut(rest, ":"); ok && id != "" {
			return id
		}
	}
	return "main"
}

// contextWindow is the configured context window of provider/model, or 0.
func (g *Gateway) contextWindow(provider, model string) int {
	p, ok := g.config().cfg.Models.Providers[provider]
	if !ok {
		return 0
	}
	for _, m := range p.Models {
		if m.ID == model {
			return m.ContextWindow
		}
	}
	return 0
}

func (g *Gateway) mSessionsSubscribe(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	g.subs.set(c, true)
	out := map[string]any{"subscribed": true}
	// With parameters, the first page of sessions.list comes along.
	if len(params) > 0 && string(params) != "{}" && string(params) != "null" && g.opts.Store != nil {
		list, e := g.mSessionsList(ctx, c, params)
		if e != nil {
			return nil, e
		}
		for k, v := range list.(map[string]any) {
			out[k] = v
		}
	}
	return out, nil
}

func (g *Gateway) mSessionsUnsubscribe(_ context.Context, c *conn, _ json.RawMessage) (any, *protocol.Error) {
	g.subs.set(c, false)
	return map[string]any{"subscribed": false}, nil
}

func (g *Gateway) mSessionsMessagesSubscribe(_ context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	_, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	g.subs.setMessages(c, key, true)
	return map[string]any{"subscribed": true, "key": key}, nil
}

func (g *Gateway) mSessionsMessagesUnsubscribe(_ context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	_, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	g.subs.setMessages(c, key, false)
	return map[string]any{"subscribed": false, "key": key}, nil
}

// mSessionsDescribe is one session row: what sessions.list shows of it
// (the same scope, the same rows: an operator.read connection sees every
// session in sessions.list already), never its messages.
func (g *Gateway) mSessionsDescribe(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	_, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	s, ok, err := g.opts.Store.Session(ctx, key)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if !ok {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "session not found: %s", key).WithDetails(map[string]any{"reason": "SESSION_NOT_FOUND"})
	}
	return map[string]any{"session": g.sessionRow(s)}, nil
}

// mCommandsList lists the text commands Talon's agent understands in a
// chat message.
func (g *Gateway) mCommandsList(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	cmd := func(name, desc string, args bool) map[string]any {
		return map[string]any{"name": name, "nativeName": name, "textAliases": []string{"/" + name}, "description": desc,
			"category": "session", "source": "native", "scope": "text", "acceptsArgs": args}
	}
	return map[string]any{"commands": []map[string]any{
		cmd("new", "Start a new session; earlier messages leave the context.", false),
		cmd("reset", "Same as /new.", false),
		cmd("approve", "Answer a pending approval: /approve <id> allow-once|allow-always|deny.", true),
	}}, nil
}

// mAgentsList lists the configured agents ("main" always exists).
func (g *Gateway) mAgentsList(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	cfg := g.config().cfg
	ws := cfg.Agents.Defaults.Workspace
	if ws == "" && g.opts.StateDir != "" {
		ws = filepath.Join(g.opts.StateDir, "workspace")
	}
	ids := []string{"main"}
	for _, a := range cfg.Agents.List {
		if a.ID != "main" {
			ids = append(ids, a.ID)
		}
	}
	agents := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		agents = append(agents, map[string]any{"id": id, "kind": "agent", "workspace": ws,
			"model": map[string]any{"primary": cfg.Agents.Defaults.Model, "fallbacks": nonNil(cfg.Agents.Defaults.Fallbacks)}})
	}
	return map[string]any{"defaultId": "main", "mainKey": "main", "scope": cfg.Session.DMScope, "ownership": "sole",
		"selectionRequired": false, "agents": agents}, nil
}

// ocApproval is a Talon approval in the shape OpenClaw's clients read:
// exec approvals as "exec" (the command is the rendered plan), every other
// tool's as "system-agent" (title the tool, description the reason).
func ocApproval(a store.Approval) map[string]any {
	kind := "system-agent"
	plan := approvals.Render(a.Tool, json.RawMessage(a.Args))
	req := map[string]any{"tool": a.Tool, "agentId": orMain(a.AgentID), "sessionKey": a.SessionKey, "planHash": a.PlanHash,
		"title": a.Tool, "description": a.Reason}
	if a.Tool == "exec" {
		kind = "exec"
		req["command"] = plan
	} else {
		req["description"] = plan + " (" + a.Reason + ")"
	}
	out := map[string]any{
		"id": a.ID, "kind": kind, "status": a.Status, "tool": a.Tool, "sessionKey": a.SessionKey, "agentId": orMain(a.AgentID),
		"createdAtMs": a.CreatedAt.UnixMilli(), "expiresAtMs": a.ExpiresAt.UnixMilli(), "urlPath": "/approvals/" + a.ID,
		"request":      req,
		"presentation": map[string]any{"kind": kind, "allowedDecisions": []string{approvals.AllowOnce, approvals.AllowAlways, approvals.Deny}},
	}
	if a.Decision != "" {
		out["decision"] = a.Decision
	}
	if !a.ResolvedAt.IsZero() {
		out["resolvedAtMs"], out["resolvedBy"] = a.ResolvedAt.UnixMilli(), a.ResolvedBy
		kind, id, _ := strings.Cut(a.ResolvedBy, ":")
		out["resolver"] = map[string]any{"kind": kind, "id": id}
	}
	return out
}

// isOpenClawClient tells OpenClaw's clients from Talon's own (whose client
// ids start with "talon-"): where the two expect different shapes of the
// same answer, each gets its own. Nothing about access depends on it.
func isOpenClawClient(c *conn) bool { return !strings.HasPrefix(c.client.ID, "talon-") }

// pendingApprovals lists the pending approvals of Talon's one store in
// OpenClaw's shape, exec ones or all others.
func (g *Gateway) pendingApprovals(ctx context.Context, exec bool) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	list, err := g.opts.Store.ListApprovals(ctx, false, 200)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	out := make([]map[string]any, 0, len(list))
	for _, a := range list {
		if a.Status == "pending" && (a.Tool == "exec") == exec {
			out = append(out, ocApproval(a))
		}
	}
	return out, nil
}

// mOpenclawApprovalList lists the pending approvals of every tool but
// exec (OpenClaw's exec.approval.list has those) as an array.
func (g *Gateway) mOpenclawApprovalList(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	return g.pendingApprovals(ctx, false)
}

// mApprovalListCompat is exec.approval.list: Talon's shape for Talon's
// clients, OpenClaw's array of pending exec approvals for OpenClaw's.
func (g *Gateway) mApprovalListCompat(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if isOpenClawClient(c) {
		return g.pendingApprovals(ctx, true)
	}
	return g.mApprovalList(ctx, c, params)
}

// mPluginApprovalList: Talon has no plugins, so no plugin approvals; every
// approval is listed by openclaw.approval.list and exec.approval.list.
func (g *Gateway) mPluginApprovalList(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	return []any{}, nil
}

func (g *Gateway) mApprovalGet(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		ID string `json:"id"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	a, ok, err := g.opts.Store.Approval(ctx, p.ID)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	if !ok {
		return nil, approvalNotFound()
	}
	return map[string]any{"approval": ocApproval(a)}, nil
}

func approvalNotFound() *protocol.Error {
	return protocol.Errorf(protocol.CodeInvalidRequest, "approval not found").WithDetails(map[string]any{"reason": "APPROVAL_NOT_FOUND"})
}

// mApprovalResolveCompat is approval.resolve: the same resolveApproval as
// exec.approval.resolve (the same scope, manager, audit record). An
// approval already settled is answered with its recorded result and
// applied false, as OpenClaw answers; nothing changes then.
func (g *Gateway) mApprovalResolveCompat(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		ID       string `json:"id"`
		Kind     string `json:"kind"`
		Decision string `json:"decision"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	a, e := g.resolveApproval(ctx, c, p.ID, p.Decision)
	switch {
	case e == nil:
		return map[string]any{"ok": true, "applied": true, "approval": ocApproval(a)}, nil
	case e.Code == protocol.CodeConflict && g.opts.Store != nil:
		if cur, ok, err := g.opts.Store.Approval(ctx, p.ID); err == nil && ok {
			return map[string]any{"ok": true, "applied": false, "approval": ocApproval(cur)}, nil
		}
	case e.Message == fmt.Sprintf("no approval %q", p.ID):
		return nil, approvalNotFound()
	}
	return nil, e
}

// mDevicePairResolve is device.pair.approve/reject: Talon keeps no device
// pairing requests (a device identity is checked on each connect and
// grants nothing by itself), so every request id is unknown.
func (g *Gateway) mDevicePairResolve(_ context.Context, _ *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		RequestID string `json:"requestId"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	return nil, protocol.Errorf(protocol.CodeInvalidRequest, "unknown requestId")
}

// mNodeList: Talon has no nodes.
func (g *Gateway) mNodeList(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	return map[string]any{"ts": time.Now().UnixMilli(), "nodes": []any{}}, nil
}

func (g *Gateway) mQuestionList(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	return map[string]any{"questions": []any{}}, nil
}

func (g *Gateway) mTaskSuggestionsList(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	return map[string]any{"suggestions": []any{}}, nil
}

// mSessionsCompact: Talon compacts a session by itself, inside a turn,
// when its history nears the model's context window (the summary keeps the
// provenance of what it summarises); there is no compaction on demand.
func (g *Gateway) mSessionsCompact(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	_, key, e := decodeSession(params)
	if e != nil {
		return nil, e
	}
	if _, ok, err := g.opts.Store.Session(ctx, key); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	} else if !ok {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "session not found: %s", key)
	}
	if e := g.begin(ctx, c, core.KindSessionCompact, key, nil); e != nil {
		return nil, e
	}
	// A compaction is a turn of its own in the session's lane: it waits
	// for a running turn, and summarises with the same model chain,
	// budgets and taint rules as an automatic one.
	res, err := g.opts.Agent.Run(ctx, agent.TurnRequest{SessionKey: key, Compact: true, Trust: core.TrustOwner, SenderID: "operator:" + c.client.ID})
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "compacting %s: %v", key, err)
	}
	out := map[string]any{"ok": true, "key": key, "compacted": res.StopReason == "compacted"}
	if res.StopReason != "compacted" {
		out["reason"] = res.Reply
	}
	return out, nil
}

// mUsageCost is usage.cost: daily token and cost totals from the store's
// usage records, every day of the window listed.
func (g *Gateway) mUsageCost(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if g.opts.Store == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no store")
	}
	var p struct {
		Days int `json:"days"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if p.Days <= 0 || p.Days > 366 {
		p.Days = 30
	}
	now := g.opts.Now().UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	rep, err := g.opts.Store.UsageReport(ctx, today.AddDate(0, 0, -(p.Days-1)))
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	byDay := map[string]store.UsageRow{}
	for _, r := range rep.ByDay {
		byDay[r.Key] = r
	}
	day := func(date string, r store.UsageRow) map[string]any {
		return map[string]any{"date": date, "input": r.InputTokens, "output": r.OutputTokens, "cacheRead": 0, "cacheWrite": 0,
			"totalTokens": r.InputTokens + r.OutputTokens, "totalCost": r.CostUSD, "missingCostEntries": 0}
	}
	daily := make([]map[string]any, 0, p.Days)
	for i := p.Days - 1; i >= 0; i-- {
		d := today.AddDate(0, 0, -i).Format("2006-01-02")
		daily = append(daily, day(d, byDay[d]))
	}
	t := rep.Total
	totals := day("", t)
	delete(totals, "date")
	return map[string]any{"updatedAt": now.UnixMilli(), "days": p.Days, "daily": daily, "totals": totals}, nil
}

// mDiagnosticsStability: Talon keeps no ring of stability events; it
// reports the gateway's runtime figures instead, with no payloads.
func (g *Gateway) mDiagnosticsStability(context.Context, *conn, json.RawMessage) (any, *protocol.Error) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{"generatedAt": g.opts.Now().UTC().Format(time.RFC3339Nano), "capacity": 0, "count": 0, "dropped": 0,
		"firstSeq": 0, "lastSeq": 0, "events": []any{},
		"summary": map[string]any{"byType": map[string]int{}, "memory": map[string]any{
			"latest": map[string]any{"rssBytes": ms.Sys, "heapUsedBytes": ms.HeapAlloc}, "maxRssBytes": ms.Sys, "pressureCount": 0}},
		"runtime": map[string]any{"goroutines": runtime.NumGoroutine(), "heapBytes": ms.HeapAlloc,
			"connections": g.ConnCount(), "uptimeMs": g.opts.Now().Sub(g.started).Milliseconds()}}, nil
}

// mWake is wake (`openclaw system event`): Talon has no heartbeat to wake
// and no system-event queue, so the text becomes an owner turn in the main
// session now, exactly as chat.send would start it (same scope, same trust).
func (g *Gateway) mWake(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	if e := g.needAgent(); e != nil {
		return nil, e
	}
	var p struct {
		Mode    string `json:"mode"`
		Text    string `json:"text"`
		AgentID string `json:"agentId"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if strings.TrimSpace(p.Text) == "" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "text is empty")
	}
	if len(p.Text) > maxChatMessage {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "text is longer than %d bytes", maxChatMessage)
	}
	rs, err := g.startTurn(ctx, c, agent.MainSessionKey(p.AgentID), p.AgentID, p.Text, "", nil)
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "%v", err)
	}
	return map[string]any{"ok": true, "runId": rs.runID, "sessionKey": rs.sessionKey}, nil
}

// channelsStatusOC adds OpenClaw's per-channel maps to channels.status
// (channelSummaries is OpenClaw's channels map; its clients get it under
// that name instead of Talon's list).
func channelsStatusOC(out map[string]any, accts []statusAccount) {
	order := []string{}
	seen := map[string]bool{}
	summary := map[string]any{}
	accounts := map[string][]map[string]any{}
	defaults := map[string]string{}
	labels := map[string]string{}
	issues := []map[string]any{}
	for _, a := range accts {
		if !seen[a.Channel] {
			seen[a.Channel] = true
			order = append(order, a.Channel)
			labels[a.Channel] = a.Channel
			defaults[a.Channel] = a.Account
		}
		running := a.State == "running" || a.State == "connected" || a.State == "ok"
		snap := map[string]any{"accountId": a.Account, "enabled": true, "configured": true, "running": running,
			"connected": running, "state": a.State, "healthState": a.State}
		if a.LastError != "" {
			snap["lastError"] = a.LastError
			if len(issues) < 50 {
				issues = append(issues, map[string]any{"channel": a.Channel, "accountId": a.Account, "kind": "runtime", "message": a.LastError})
			}
		}
		accounts[a.Channel] = append(accounts[a.Channel], snap)
	}
	sort.Strings(order)
	for _, ch := range order {
		anyRunning := false
		for _, s := range accounts[ch] {
			if s["running"] == true {
				anyRunning = true
			}
		}
		summary[ch] = map[string]any{"configured": true, "running": anyRunning, "accounts": len(accounts[ch])}
	}
	out["channelOrder"] = order
	out["channelLabels"] = labels
	out["channelDetailLabels"] = map[string]string{}
	out["channelSystemImages"] = map[string]string{}
	out["channelMeta"] = []any{}
	out["channelSummaries"] = summary
	out["channelAccounts"] = accounts
	out["channelDefaultAccountId"] = defaults
	out["statusIssues"] = issues
}

// statusAccount is what channelsStatusOC needs of an account's status.
type statusAccount struct {
	Channel, Account, State, LastError string
}

// messageActionParams is message.action as OpenClaw's CLI sends it.
type messageActionParams struct {
	Channel   string `json:"channel"`
	Action    string `json:"action"`
	AccountID string `json:"accountId"`
	Params    struct {
		Target     string `json:"target"`
		To         string `json:"to"`
		Message    string `json:"message"`
		AccountID  string `json:"accountId"`
		DryRun     bool   `json:"dryRun"`
		SessionKey string `json:"__sessionKey"`
		AgentID    string `json:"__agentId"`
	} `json:"params"`
	AgentID        string `json:"agentId"`
	IdempotencyKey string `json:"idempotencyKey"`
}

// mMessageAction is message.action with action "send". Sending to a
// channel target is egress, as the message tool's is: it waits for an
// approval in Talon's one approval store (shown to every approver, audited
// there), then records its intent (message.outbound) and only then sends.
// The gateway cannot see the session's taint, so it never sends unasked;
// no approver reachable means nothing is sent. Other actions (edit, delete,
// react, polls, moderation) are refused.
func (g *Gateway) mMessageAction(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p messageActionParams
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if p.Action != "send" {
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message.action %q is not supported (Talon supports send)", p.Action)
	}
	target := p.Params.Target
	if target == "" {
		target = strings.TrimPrefix(p.Params.To, p.Channel+":")
	}
	text := p.Params.Message
	switch {
	case p.Channel == "" || target == "":
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "channel and target are required")
	case strings.TrimSpace(text) == "":
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message is empty")
	case len(text) > 16000:
		return nil, protocol.Errorf(protocol.CodeInvalidRequest, "message is longer than 16000 characters")
	}
	account := p.AccountID
	if account == "" {
		account = p.Params.AccountID
	}
	if g.opts.Channels == nil || g.opts.Approvals == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "no channel is running in this gateway")
	}
	found := false
	for _, a := range g.opts.Channels.Status() {
		if a.Channel == p.Channel && (account == "" || a.Account == account) {
			found = true
			if account == "" {
				account = a.Account
			}
			break
		}
	}
	if !found {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "channel %s is not configured in Talon (hint: talon config set channels.%s…)", p.Channel, p.Channel)
	}
	if p.Params.DryRun {
		return map[string]any{"ok": true, "dryRun": true, "channel": p.Channel, "target": target}, nil
	}
	if p.IdempotencyKey != "" {
		if _, ok := g.idem.seen("message:" + p.IdempotencyKey); ok {
			return map[string]any{"ok": true, "duplicate": true, "channel": p.Channel, "target": target}, nil
		}
	}
	sessionKey := p.Params.SessionKey
	if !agent.ValidSessionKey(sessionKey) {
		sessionKey = agent.MainSessionKey(p.AgentID)
	}
	args, _ := json.Marshal(msgtool.Args{Action: "send", Channel: p.Channel, Target: target, Text: text})
	a, err := g.opts.Approvals.Ask(ctx, approvals.Request{SessionKey: sessionKey, AgentID: orMain(p.AgentID), Tool: "message", Args: args,
		Reason: fmt.Sprintf("operator %s asks to send a message to %s %s (message.action); sending to a channel target needs approval", c.client.ID, p.Channel, target)})
	switch {
	case errors.Is(err, approvals.ErrNoApprover):
		return nil, protocol.Errorf(protocol.CodeForbidden, "not sent: sending to a channel target needs an approval and no approver is reachable (hint: connect a client with operator.approvals, e.g. the Control UI)")
	case err != nil:
		return nil, protocol.Errorf(protocol.CodeUnavailable, "not sent: %v", err)
	case a.Status != "allowed":
		return nil, protocol.Errorf(protocol.CodeForbidden, "not sent: approval %s was %s", a.ID, a.Status)
	}
	if p.IdempotencyKey != "" {
		g.idem.remember("message:"+p.IdempotencyKey, a.ID)
	}
	if e := g.begin(ctx, c, core.KindMessageOut, p.Channel+":"+target, map[string]any{"via": "message.action", "account": account,
		"approval": a.ID, "length": len(text)}); e != nil {
		return nil, e
	}
	if err := g.opts.Channels.Notify(ctx, p.Channel, account, target, text); err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "sending failed: %v", err)
	}
	return map[string]any{"ok": true, "channel": p.Channel, "accountId": account, "target": target, "approvalId": a.ID}, nil
}

// mSkillsStatus is skills.status (operator.read, as in OpenClaw): the
// agent's skills as `openclaw skills list` reads them — names,
// descriptions, whether each is usable and where it comes from; never a
// skill's body or a secret.
func (g *Gateway) mSkillsStatus(ctx context.Context, c *conn, params json.RawMessage) (any, *protocol.Error) {
	var p struct {
		AgentID string `json:"agentId"`
	}
	if e := protocol.DecodeParams(params, &p); e != nil {
		return nil, e
	}
	if g.opts.SkillsStatus == nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "skills are not available in this gateway")
	}
	out, err := g.opts.SkillsStatus(ctx, orMain(p.AgentID))
	if err != nil {
		return nil, protocol.Errorf(protocol.CodeUnavailable, "%v", err)
	}
	return out, nil
}
