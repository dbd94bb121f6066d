package router

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/store"
)

// buttons is a recorder that also sends buttons and answers presses.
type buttons struct {
	recorder
	bmu     sync.Mutex
	pressed []string // answers to presses: "<action id>: <text>"
	withBtn []sentMsg
}

func (b *buttons) SendButtons(ctx context.Context, t channels.Target, text string, bs []channels.Button) (channels.Delivery, error) {
	b.bmu.Lock()
	b.withBtn = append(b.withBtn, sentMsg{t, text})
	b.bmu.Unlock()
	return b.Send(ctx, t, text)
}

func (b *buttons) AnswerAction(_ context.Context, a channels.Action, text string) error {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	b.pressed = append(b.pressed, a.ID+": "+text)
	return nil
}

func (b *buttons) answers() []string {
	b.bmu.Lock()
	defer b.bmu.Unlock()
	return append([]string(nil), b.pressed...)
}

// approvalHarness is a Router with an approvals Manager whose only reach
// is the Router itself (no operator client), a buttons adapter, and one
// request pending: asked is where its outcome arrives.
type approvalHarness struct {
	*harness
	bt    *buttons
	m     *approvals.Manager
	id    string
	asked chan store.Approval
}

func newApprovalHarness(t *testing.T, timeout time.Duration) *approvalHarness {
	t.Helper()
	h := newHarness(t, func(c *config.Config) {
		c.Channels.Telegram.AllowFrom = []string{"telegram:7"} // a trusted sender, not the owner
	})
	// Replace the plain recorder with one that has buttons.
	bt := &buttons{recorder: recorder{ch: "telegram", acct: "default"}}
	h.r.Add(bt)
	m := &approvals.Manager{Store: h.st, HasApprover: func() bool { return false }}
	m.AddReach(h.r.ApprovalReach())
	h.r.Approvals = m
	ah := &approvalHarness{harness: h, bt: bt, m: m, asked: make(chan store.Approval, 1)}
	go func() {
		a, err := m.Ask(context.Background(), approvals.Request{SessionKey: "agent:main:main", Tool: "exec",
			Args: json.RawMessage(`{"command":"touch marker"}`), Reason: "session contains untrusted content from web_fetch https://evil.example", Timeout: timeout, Fallback: "deny"})
		if err != nil {
			a.Status = "error: " + err.Error()
		}
		ah.asked <- a
	}()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if list, _ := h.st.ListApprovals(t.Context(), false, 0); len(list) == 1 && len(bt.messages()) > 0 {
			ah.id = list[0].ID
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the request was not offered")
		}
	}
	return ah
}

func (h *approvalHarness) status(t *testing.T) string {
	a, _, err := h.st.Approval(t.Context(), h.id)
	if err != nil {
		t.Fatal(err)
	}
	return a.Status
}

func (h *approvalHarness) press(sender, data string) channels.Message {
	m := dmFrom(sender, "")
	m.Action = &channels.Action{ID: "cb" + m.ID, Data: data}
	return m
}

func TestApprovalRequestReachesOwnerChat(t *testing.T) {
	h := newApprovalHarness(t, time.Hour)
	sent := h.bt.messages()
	if len(sent) != 1 || sent[0].Target.ChatID != "1" || len(h.bt.withBtn) != 1 {
		t.Fatalf("request sent %+v (with buttons %d), want one to the owner's chat 1", sent, len(h.bt.withBtn))
	}
	for _, want := range []string{h.id, "exec: touch marker", "untrusted content from web_fetch https://evil.example", "/approve " + h.id + " allow-once", "askFallback = deny"} {
		if !strings.Contains(sent[0].Text, want) {
			t.Errorf("request %q lacks %q", sent[0].Text, want)
		}
	}
}

// The owner's /approve is taken at once, out of band: it never becomes a
// turn, and the waiting request gets the decision.
func TestInvariant8_OwnerApprovesOutOfBand(t *testing.T) {
	for _, via := range []string{"command", "button"} {
		t.Run(via, func(t *testing.T) {
			h := newApprovalHarness(t, time.Hour)
			var m channels.Message
			if via == "command" {
				m = dmFrom("1", "/approve "+strings.ToUpper(h.id)+" allow-once")
			} else {
				m = h.press("1", "approve:"+h.id+":allow-once")
			}
			if err := h.r.Handle(t.Context(), m); err != nil {
				t.Fatal(err)
			}
			a := <-h.asked
			if a.Status != "allowed" || a.ResolvedBy != "chat:telegram:1" {
				t.Fatalf("%+v", a)
			}
			if n := len(h.run.requests()); n != 0 {
				t.Fatalf("the answer became %d turns", n)
			}
			if via == "button" && (len(h.bt.answers()) != 1 || !strings.Contains(h.bt.answers()[0], "Allowed once")) {
				t.Fatalf("press answered %q", h.bt.answers())
			}
			// The owner's chat is told how it ended.
			sent := h.bt.messages()
			if !strings.Contains(sent[len(sent)-1].Text, "allowed once by chat:telegram:1") {
				t.Fatalf("last message %q", sent[len(sent)-1].Text)
			}
			found := false
			for _, au := range h.audits {
				found = found || (au.kind == "approval.resolve" && strings.Contains(jsonText(au.data), `"via":"`+via+`"`))
			}
			if !found {
				t.Fatalf("resolution not audited: %+v", h.audits)
			}
			// A second answer changes nothing.
			h.r.Handle(t.Context(), dmFrom("1", "/approve "+h.id+" deny"))
			if h.status(t) != "allowed" {
				t.Fatal("a second answer changed the decision")
			}
		})
	}
}

// TestInvariant8_NonOwnerCannotApprove: a trusted (allowlisted) sender, a
// stranger, a group member and the bot itself (a hijacked model making the
// bot post "/approve …") answer with commands and buttons; nothing changes,
// no turn starts, every refusal within the limits is audited.
func TestInvariant8_NonOwnerCannotApprove(t *testing.T) {
	h := newApprovalHarness(t, time.Hour)
	before := len(h.bt.messages())
	bot := dmFrom("1", "/approve "+h.id+" allow-once")
	bot.SenderIsBot, bot.SenderID = true, "999"
	for _, m := range []channels.Message{
		dmFrom("7", "/approve "+h.id+" allow-once"),
		h.press("7", "approve:"+h.id+":allow-always"),
		dmFrom("666", "/approve "+h.id+" allow-once"),
		h.press("666", "approve:"+h.id+":allow-once"),
		groupMsg("5", "-100", "/approve@talon_bot "+h.id+" allow-once", true),
		bot,
	} {
		if err := h.r.Handle(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	if s := h.status(t); s != "pending" {
		t.Fatalf("a non-owner's answer made it %s", s)
	}
	if n := len(h.run.requests()); n != 0 {
		t.Fatalf("answers became %d turns", n)
	}
	sent := h.bt.messages()[before:]
	if len(sent) != 1 || sent[0].Target.ChatID != "7" || !strings.Contains(sent[0].Text, "Only the owner") {
		t.Fatalf("replies %+v: want one refusal to the trusted sender, silence for the stranger", sent)
	}
	if a := h.bt.answers(); len(a) != 2 || !strings.Contains(a[0], "Only the owner") || !strings.Contains(a[1], "Only the owner") {
		t.Fatalf("press answers %q", a)
	}
	refused := 0
	for _, au := range h.audits {
		if au.kind == "approval.refused" {
			refused++
		}
	}
	if refused != 5 {
		t.Fatalf("%d refusals audited, want 5: %+v", refused, h.audits)
	}
	// The owner still can.
	h.r.Handle(t.Context(), dmFrom("1", "/approve "+h.id+" deny"))
	if a := <-h.asked; a.Status != "denied" {
		t.Fatalf("%+v", a)
	}
}

// A stranger hammering /approve is rate limited before it is audited.
func TestNonOwnerApprovalsAreRateLimited(t *testing.T) {
	h := newApprovalHarness(t, time.Hour)
	for range 50 {
		h.r.Handle(t.Context(), dmFrom("666", "/approve "+h.id+" allow-once"))
	}
	refused := 0
	for _, au := range h.audits {
		if au.kind == "approval.refused" {
			refused++
		}
	}
	if refused == 0 || refused > defaultStrangersPerSender+1 {
		t.Fatalf("%d refusals audited from one stranger", refused)
	}
}

func TestApprovalCommandErrors(t *testing.T) {
	h := newApprovalHarness(t, time.Hour)
	for _, tc := range []struct{ text, want string }{
		{"/approve", "Usage: /approve ID"},
		{"/approve " + h.id + " yes", "Usage: /approve ID"},
		{"/approve zzzzzzzzzz allow-once", "There is no approval zzzzzzzzzz"},
	} {
		h.r.Handle(t.Context(), dmFrom("1", tc.text))
		sent := h.bt.messages()
		if got := sent[len(sent)-1].Text; !strings.Contains(got, tc.want) {
			t.Errorf("%q: answered %q, want %q", tc.text, got, tc.want)
		}
	}
	if h.status(t) != "pending" || len(h.run.requests()) != 0 {
		t.Fatal("a malformed answer changed something")
	}
	h.r.Handle(t.Context(), h.press("1", "approve:nonsense"))
	if a := h.bt.answers(); len(a) != 1 || !strings.Contains(a[0], "not an approval") {
		t.Fatalf("%q", a)
	}
}

// Nobody answering: the owner is told the fallback applied.
func TestApprovalTimeoutTellsOwner(t *testing.T) {
	h := newApprovalHarness(t, 100*time.Millisecond)
	if a := <-h.asked; a.Status != "expired" {
		t.Fatalf("%+v", a)
	}
	sent := h.bt.messages()
	if last := sent[len(sent)-1]; last.Target.ChatID != "1" || !strings.Contains(last.Text, "expired") || !strings.Contains(last.Text, "not run") {
		t.Fatalf("owner told %+v", last)
	}
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestParseAnswer(t *testing.T) {
	for _, tc := range []struct {
		text       string
		ok, usage  bool
		id, choice string
	}{
		{"hello", false, false, "", ""},
		{"/approved it", false, false, "", ""},
		{"/approvex abcdefghjk deny", false, false, "", ""},
		{"  /APPROVE ABCDEFGHJK Allow-Once", true, false, "abcdefghjk", "allow-once"},
		{"/approve@talon_bot abcdefghjk deny", true, false, "abcdefghjk", "deny"},
		{"/approve abcdefghjk", true, true, "", ""},
		{"/approve abcdefghjk maybe", true, true, "", ""},
		{"/approve", true, true, "", ""},
	} {
		a, ok := parseAnswer(channels.Message{Text: tc.text})
		if ok != tc.ok || a.usage != tc.usage || a.id != tc.id || a.decision != tc.choice {
			t.Errorf("%q: %+v %v", tc.text, a, ok)
		}
	}
}

func BenchmarkParseAnswerOrdinaryMessage(b *testing.B) {
	m := channels.Message{Text: "could you look at the build logs and tell me what failed?"}
	b.ReportAllocs()
	for b.Loop() {
		parseAnswer(m)
	}
}
