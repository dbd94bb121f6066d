package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

// localEnv is the embedded runtime of `agent --local` and `chat --local`.
type localEnv struct {
	rt    *runtime
	st    *store.Store
	close func()
}

// openLocal opens the state, the config and an agent runtime in this
// process, creating the state dir and a default config when missing.
func (a *app) openLocal(ctx context.Context) (*localEnv, error) {
	p, err := a.paths()
	if err != nil {
		return nil, err
	}
	if err := ensureStateDir(p.StateDir); err != nil {
		return nil, err
	}
	if _, _, err := ensureConfig(p); err != nil {
		return nil, err
	}
	cfg, _, err := a.loadConfig(p)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, p.DB)
	if err != nil {
		return nil, err
	}
	sec, err := a.newSecretSet(p, cfg)
	if err != nil {
		st.Close()
		return nil, err
	}
	rt, err := a.newRuntime(ctx, p, cfg, st, sec, slog.New(slog.DiscardHandler), approverHooks{})
	if err != nil {
		st.Close()
		return nil, err
	}
	return &localEnv{rt: rt, st: st, close: func() { rt.procs.KillAll(); st.Close() }}, nil
}

// attachTerminalApprover makes this process's approvals manager also ask
// on the terminal: every request goes to onAsk, which shows it and later
// calls Resolve; onResolved (optional) hears of every resolution, also
// those made elsewhere. Only used when stdin is a terminal, where a person
// can answer. Whatever the manager already notified and whoever it already
// counted as an approver stay: the terminal is one approver more.
func attachTerminalApprover(m *approvals.Manager, onAsk func(pendingApproval), onResolved func(store.Approval)) {
	m.HasApprover = func() bool { return true }
	prev := m.Notify
	m.Notify = func(event string, payload any) {
		if prev != nil {
			prev(event, payload)
		}
		ap, ok := approvalOf(payload)
		switch {
		case !ok:
		case event == approvals.EventRequested:
			onAsk(ap)
		case event == approvals.EventResolved && onResolved != nil:
			onResolved(ap.Approval)
		}
	}
}

// pendingApproval is an approval event's payload: the stored request and,
// when the manager renders one, the plan as a person should read it.
type pendingApproval struct {
	store.Approval
	Plan string `json:"plan,omitempty"`
}

// approvalOf reads an approval event's payload, whatever Go type carries
// it, through its JSON form (the same form operator clients receive).
func approvalOf(payload any) (pendingApproval, bool) {
	var p pendingApproval
	b, err := json.Marshal(payload)
	if err != nil || json.Unmarshal(b, &p) != nil || p.ID == "" {
		return pendingApproval{}, false
	}
	return p, true
}

// localChat runs turns in this process.
type localChat struct {
	env *localEnv
	ev  chan chatEvent
	wg  sync.WaitGroup
	mu  sync.Mutex
	key string // the session of the last turn, aborted on close
}

func (a *app) localChat(ctx context.Context, tty bool) (chatBackend, error) {
	env, err := a.openLocal(ctx)
	if err != nil {
		return nil, err
	}
	l := &localChat{env: env, ev: make(chan chatEvent, 1024)}
	if tty {
		attachTerminalApprover(env.rt.approvals, func(ap pendingApproval) {
			l.ev <- chatEvent{kind: "approval", runID: ap.RunID, approval: &ap.Approval, plan: ap.Plan}
		}, func(ap store.Approval) {
			l.ev <- chatEvent{kind: "approval_resolved", runID: ap.RunID, approval: &ap}
		})
	}
	return l, nil
}

func (l *localChat) start(ctx context.Context, key, text string) (string, error) {
	l.wg.Add(1)
	l.mu.Lock()
	l.key = key
	l.mu.Unlock()
	var once sync.Once
	runID, err := l.env.rt.agent.Start(context.WithoutCancel(ctx), agent.TurnRequest{
		SessionKey: key, Text: text, SenderID: "owner", Trust: policy.TrustOwner,
		Inbound: agent.Inbound{Channel: "cli", PeerID: "owner", ChatType: "direct"},
		OnEvent: func(ev agent.Event) {
			ce := chatEvent{kind: ev.Type, runID: ev.RunID, text: ev.Text, call: ev.ToolCall, result: ev.Result}
			if ev.Type == "refused" {
				ce.kind = "error"
			}
			l.ev <- ce
			switch ev.Type {
			case "final", "error", "aborted", "refused":
				once.Do(l.wg.Done)
			}
		},
	})
	if err != nil {
		l.wg.Done()
	}
	return runID, err
}

func (l *localChat) events() <-chan chatEvent { return l.ev }

func (l *localChat) abort(key, runID string) { l.env.rt.agent.Abort(key, runID) }

func (l *localChat) resolve(ctx context.Context, id, decision string) error {
	_, err := l.env.rt.approvals.Resolve(ctx, id, decision, "terminal")
	return err
}

func (l *localChat) sessions(ctx context.Context) ([]sessionRow, error) {
	ss, err := l.env.st.ListSessions(ctx, store.ListSessionsOptions{Limit: 100})
	if err != nil {
		return nil, err
	}
	out := make([]sessionRow, 0, len(ss))
	for _, s := range ss {
		out = append(out, sessionRowOf(s))
	}
	return out, nil
}

func (l *localChat) history(ctx context.Context, key string) ([]transcriptEntry, error) {
	ms, err := l.env.st.History(ctx, key, store.HistoryOptions{Limit: 200})
	if errors.Is(err, store.ErrNoSession) {
		return nil, nil
	}
	return transcriptOf(ms), err
}

func (l *localChat) reset(ctx context.Context, key string) error {
	_, err := l.env.st.ResetSession(ctx, key)
	if errors.Is(err, store.ErrNoSession) {
		return nil
	}
	return err
}

// close stops any turn still running, lets it finish (draining its
// events) and closes the store.
func (l *localChat) close() {
	l.mu.Lock()
	if l.key != "" {
		l.env.rt.agent.Abort(l.key, "")
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.wg.Wait(); close(done) }()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case <-l.ev:
		case <-done:
			l.env.close()
			return
		case <-timeout:
			l.env.close()
			return
		}
	}
}

// remoteChat runs turns in the gateway through chat.send and follows its
// chat, agent and approval events.
type remoteChat struct {
	c  *gateway.Client
	ev chan chatEvent
}

func (a *app) remoteChat(ctx context.Context, f connFlags, tty bool) (chatBackend, error) {
	scopes := []string{protocol.ScopeRead, protocol.ScopeWrite}
	if tty {
		// A person at a terminal can answer approvals for this chat.
		scopes = append(scopes, protocol.ScopeApprovals)
	}
	dctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	c, err := a.dial(dctx, f, scopes...)
	if err != nil {
		return nil, err
	}
	r := &remoteChat{c: c, ev: make(chan chatEvent, 1024)}
	go r.pump()
	return r, nil
}

// pump turns gateway events into chat events.
func (r *remoteChat) pump() {
	for e := range r.c.Events() {
		b, _ := json.Marshal(e.Payload)
		switch e.Event {
		case "chat":
			var p gatewayChatEvent
			if json.Unmarshal(b, &p) != nil {
				continue
			}
			switch p.State {
			case "delta":
				r.ev <- chatEvent{kind: "delta", runID: p.RunID, text: p.DeltaText}
			case "final":
				res := &agent.TurnResult{RunID: p.RunID, SessionKey: p.Message.SessionKey, ToolCalls: p.Message.ToolCalls, Model: p.Message.Model, StopReason: p.StopReason,
					Reply: p.reply()}
				if p.Usage != nil {
					res.Usage = *p.Usage
				}
				r.ev <- chatEvent{kind: "final", runID: p.RunID, text: res.Reply, result: res}
			case "aborted":
				r.ev <- chatEvent{kind: "aborted", runID: p.RunID}
			case "error":
				r.ev <- chatEvent{kind: "error", runID: p.RunID, text: orStr(p.ErrorMessage, "the turn failed")}
			}
		case "agent":
			var p struct {
				RunID  string `json:"runId"`
				Stream string `json:"stream"`
				Data   struct {
					Phase string                `json:"phase"`
					Call  *agent.ToolCallRecord `json:"call"`
					Text  string                `json:"text"`
				} `json:"data"`
			}
			if json.Unmarshal(b, &p) != nil {
				continue
			}
			switch {
			case p.Stream == "tool" && p.Data.Call != nil && (p.Data.Phase == "tool_call" || p.Data.Phase == "tool_result"):
				r.ev <- chatEvent{kind: p.Data.Phase, runID: p.RunID, call: p.Data.Call}
			case p.Stream == "message":
				r.ev <- chatEvent{kind: "message", runID: p.RunID, text: p.Data.Text}
			}
		case approvals.EventRequested:
			var ap pendingApproval
			if json.Unmarshal(b, &ap) == nil && ap.ID != "" {
				r.ev <- chatEvent{kind: "approval", runID: ap.RunID, approval: &ap.Approval, plan: ap.Plan}
			}
		case approvals.EventResolved:
			var ap store.Approval
			if json.Unmarshal(b, &ap) == nil && ap.ID != "" {
				r.ev <- chatEvent{kind: "approval_resolved", runID: ap.RunID, approval: &ap}
			}
		}
	}
	r.ev <- chatEvent{kind: "closed", text: "the gateway closed the connection"}
}

func (r *remoteChat) start(ctx context.Context, key, text string) (string, error) {
	var started struct {
		RunID string `json:"runId"`
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := r.c.Call(cctx, "chat.send", map[string]any{"sessionKey": key, "message": text,
		"idempotencyKey": fmt.Sprintf("chat-%d", time.Now().UnixNano())}, &started)
	return started.RunID, err
}

func (r *remoteChat) events() <-chan chatEvent { return r.ev }

func (r *remoteChat) abort(key, runID string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = r.c.Call(ctx, "chat.abort", map[string]any{"sessionKey": key, "runId": runID}, nil)
}

func (r *remoteChat) resolve(ctx context.Context, id, decision string) error {
	return r.c.Call(ctx, "exec.approval.resolve", map[string]any{"id": id, "decision": decision}, nil)
}

func (r *remoteChat) sessions(ctx context.Context) ([]sessionRow, error) {
	var out struct {
		Sessions []struct {
			Key          string  `json:"key"`
			SessionID    string  `json:"sessionId"`
			AgentID      string  `json:"agentId"`
			Channel      string  `json:"channel"`
			ChatType     string  `json:"chatType"`
			CreatedAt    int64   `json:"createdAt"`
			UpdatedAt    int64   `json:"updatedAt"`
			InputTokens  int64   `json:"inputTokens"`
			OutputTokens int64   `json:"outputTokens"`
			CostUSD      float64 `json:"costUsd"`
			MessageCount int     `json:"messageCount"`
			Model        string  `json:"model"`
		} `json:"sessions"`
	}
	if err := r.c.Call(ctx, "sessions.list", map[string]any{"limit": 100}, &out); err != nil {
		return nil, err
	}
	rows := make([]sessionRow, 0, len(out.Sessions))
	for _, s := range out.Sessions {
		rows = append(rows, sessionRow{Key: s.Key, SessionID: s.SessionID, AgentID: s.AgentID, Channel: s.Channel, ChatType: s.ChatType,
			CreatedAt: time.UnixMilli(s.CreatedAt), UpdatedAt: time.UnixMilli(s.UpdatedAt), InputTokens: s.InputTokens,
			OutputTokens: s.OutputTokens, CostUSD: s.CostUSD, MessageCount: s.MessageCount, Model: s.Model})
	}
	return rows, nil
}

func (r *remoteChat) history(ctx context.Context, key string) ([]transcriptEntry, error) {
	var out struct {
		Messages []struct {
			transcriptEntry
			TS int64 `json:"ts"`
		} `json:"messages"`
	}
	if err := r.c.Call(ctx, "chat.history", map[string]any{"sessionKey": key, "limit": 200}, &out); err != nil {
		return nil, err
	}
	entries := make([]transcriptEntry, 0, len(out.Messages))
	for _, m := range out.Messages {
		e := m.transcriptEntry
		e.TS = time.UnixMilli(m.TS)
		entries = append(entries, e)
	}
	return entries, nil
}

func (r *remoteChat) reset(ctx context.Context, key string) error {
	return r.c.Call(ctx, "sessions.reset", map[string]any{"sessionKey": key}, nil)
}

func (r *remoteChat) close() { r.c.Close() }

// gatewayChatEvent is the payload of the gateway's "chat" event as the
// CLI reads it (talon agent and talon chat through the gateway).
type gatewayChatEvent struct {
	RunID        string       `json:"runId"`
	State        string       `json:"state"` // delta | final | aborted | error
	DeltaText    string       `json:"deltaText"`
	ErrorMessage string       `json:"errorMessage"`
	StopReason   string       `json:"stopReason"`
	Usage        *agent.Usage `json:"usage"`
	Message      struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
		ToolCalls  []agent.ToolCallRecord `json:"toolCalls"`
		Model      string                 `json:"model"`
		SessionKey string                 `json:"sessionKey"`
	} `json:"message"`
}

// reply is the final message's text.
func (e *gatewayChatEvent) reply() string {
	var b strings.Builder
	for _, c := range e.Message.Content {
		b.WriteString(c.Text)
	}
	return b.String()
}
