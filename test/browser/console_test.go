//go:build browser

package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

// pages and the text each shows once it has loaded its data.
var pages = []struct{ name, ready string }{
	{"chat", "Session"},
	{"approvals", "Standing allowlist"},
	{"sessions", "agent:main:main"},
	{"channels", "telegram"},
	{"cron", "Add a job"},
	{"usage", "By model"},
	{"logs", "follow"},
	{"audit", "Verify the chain"},
	{"security", "this one"},
	{"config", "Save changes"},
}

// unlabelledJS lists the visible form controls and buttons of the page
// that have no accessible name.
const unlabelledJS = `(() => {
  const bad = [];
  for (const el of document.querySelectorAll("input, select, textarea, button, a[href]")) {
    if (el.closest("[hidden]") || el.type === "hidden") continue;
    const named = el.getAttribute("aria-label") || (el.labels && el.labels.length) || (el.textContent || "").trim() ||
      (el.id && document.querySelector("label[for='" + el.id + "']")) || el.getAttribute("title") ||
      (el.type === "checkbox" && el.closest("label"));
    if (!named) bad.push(el.outerHTML.slice(0, 80));
  }
  return bad.join(" | ");
})()`

// TestPagesLoadCleanly opens every page, at desktop and phone width, and
// fails on any console error or any request beyond the gateway's origin.
func TestPagesLoadCleanly(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{Text: "hello from the fake model"})
	b := newBrowser(t)
	b.signIn(t, s, "")
	// Some content for the pages: a turn, an approval left waiting (the
	// badge shows on every page), a stranger's pairing code and a cron job.
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "hi there"), chromedp.Click(chromedp.CSS("#chat-send")),
		waitText("#messages", "hello from the fake model"))
	// A transcript is found by what was said, and opens from the hit.
	b.run(t, chromedp.Navigate(s.origin+"/#/sessions"), waitText("#page", "Search transcripts"),
		chromedp.SendKeys(chromedp.CSS("#transcript-search"), "FAKE model"), chromedp.Click(chromedp.CSS("#transcript-search-go")),
		waitText("#search-hits", "hello from the fake model"), chromedp.Click(chromedp.CSS("#search-hits a")),
		waitText("#transcript", "Transcript of agent:main:main"), waitText("#transcript", "hi there"),
		chromedp.Navigate(s.origin+"/#/chat"), waitText("#page", "Session"))
	s.llm.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"git push --force origin main"}`}}})
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "publish my work"), chromedp.Click(chromedp.CSS("#chat-send")),
		waitText("#badge", "1 approval waiting"))
	s.tg.Push(s.tg.DM(faketelegram.User{ID: 666, FirstName: "Mallory"}, "hi, who is this?"))
	shots := os.Getenv("TALON_UI_SCREENSHOTS") == "1"
	for _, w := range []int64{1280, 360} {
		b.run(t, chromedp.EmulateViewport(w, map[int64]int64{1280: 860, 360: 760}[w]))
		for _, p := range pages {
			b.run(t, chromedp.Navigate(s.origin+"/#/"+p.name), waitText("#state", "connected"), waitText("#page", p.ready))
			if p.name == "cron" && w == 1280 {
				b.run(t, chromedp.SendKeys(chromedp.CSS("#cron-name"), "morning brief"), chromedp.SendKeys(chromedp.CSS("#cron-schedule"), "0 9 * * 1-5"),
					chromedp.SendKeys(chromedp.CSS("#cron-message"), "summarise my inbox"), chromedp.Click(chromedp.CSS("#cron-add")),
					waitText("#cron-jobs", "morning brief"))
			}
			// Keyboard and screen-reader basics: every control has a name.
			if bad := eval[string](t, b, unlabelledJS); bad != "" {
				t.Errorf("%s at %d px: controls without a name: %s", p.name, w, bad)
			}
			if shots {
				b.run(t, chromedp.Sleep(200*time.Millisecond))
				png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
				if err != nil {
					t.Fatal(err)
				}
				dir := filepath.Join("..", "..", "docs", "ui")
				os.MkdirAll(dir, 0o755)
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", p.name, w)), png, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	b.checkClean(t, s.origin)
}

// TestChatStreamsReply: a message typed in the console reaches the model
// and its reply streams into the page (a streaming bubble appears before
// the final transcript).
func TestChatStreamsReply(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{Text: "streaming reply in several words from the scripted model"})
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, waitText("#page", "Session"))
	eval[bool](t, b, `window.__sawStream = false;
		new MutationObserver(() => { if (document.querySelector(".msg.streaming")) window.__sawStream = true; })
		  .observe(document.body, { subtree: true, childList: true, characterData: true }); true`)
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "stream to me"), chromedp.Click(chromedp.CSS("#chat-send")),
		waitText("#messages", "streaming reply in several words from the scripted model"))
	if !eval[bool](t, b, `window.__sawStream`) {
		t.Error("the reply never streamed (no delta bubble)")
	}
	reqs := s.llm.Requests()
	if len(reqs) == 0 || !reqs[len(reqs)-1].Stream || !strings.Contains(reqs[len(reqs)-1].Messages[len(reqs[len(reqs)-1].Messages)-1].Content, "stream to me") {
		t.Errorf("model requests: %+v", reqs)
	}
	b.checkClean(t, s.origin)
}

// TestApprovalFromUI: the hijackable model asks for a command off the
// allowlist; the request appears in the console (badge and queue) with its
// plan, and "Allow once" there runs exactly that command.
func TestApprovalFromUI(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"touch approved.marker"}`}}})
	marker := filepath.Join(s.state, "workspace", "approved.marker")
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "please create the marker file"), chromedp.Click(chromedp.CSS("#chat-send")),
		waitText("#badge", "1 approval waiting"))
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the command ran before anyone approved it")
	}
	b.run(t, chromedp.Click(chromedp.CSS("#badge")), waitText("#queue", "touch approved.marker"),
		chromedp.Click(chromedp.CSS(`#queue button[data-decision="allow-once"]`)), waitText("#queue", "No approval is waiting"))
	if !waitFor(func() bool { _, err := os.Stat(marker); return err == nil }) {
		t.Fatalf("approved command did not run; stderr: %s", s.stderr.String())
	}
	// The chat shows the tool call with the policy's decision and outcome.
	b.run(t, waitText("#history", "allow-once"), chromedp.Navigate(s.origin+"/#/chat"), waitText("#messages", "all done"),
		waitText("#messages", "tool result: exec"), waitText("#messages", "outcome: done"))
	b.checkClean(t, s.origin)
}

// TestPairingFromUI: a stranger's pairing code appears on the Channels
// page; approving it there lets the stranger's next message through.
func TestPairingFromUI(t *testing.T) {
	s := startScene(t, "")
	stranger := faketelegram.User{ID: 666, FirstName: "Mallory"}
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.Navigate(s.origin+"/#/channels"), waitText("#page", "Pairing requests"))
	s.tg.Push(s.tg.DM(stranger, "hello, may I talk to your agent?"))
	b.run(t, waitText("#pairing", "666"))
	code := b.text(t, "#pairing .pair-code")
	if len(code) != 8 || s.llm.Count() != 0 {
		t.Fatalf("code %q; the model saw %d requests before pairing", code, s.llm.Count())
	}
	b.run(t, chromedp.Click(chromedp.CSS(`#pairing button[data-code="`+code+`"]`)), waitText("#pairing", "No pairing request is waiting"))
	s.tg.Push(s.tg.DM(stranger, "thanks, now I am paired"))
	if !waitFor(func() bool {
		for _, r := range s.llm.Requests() {
			for _, m := range r.Messages {
				if strings.Contains(m.Content, "thanks, now I am paired") {
					return true
				}
			}
		}
		return false
	}) {
		t.Fatalf("the paired sender's message never reached the model; stderr: %s", s.stderr.String())
	}
	b.checkClean(t, s.origin)
}

// TestInvariant2_ViewerCannotApprove: a browser enrolled as a viewer
// (through a one-time link the owner made on the Security page) is shown
// no approval buttons, and the gateway refuses its key the approvals
// scope even when its own script asks for it: the pending command does not
// run.
func TestInvariant2_ViewerCannotApprove(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"touch approved.marker"}`}}})
	marker := filepath.Join(s.state, "workspace", "approved.marker")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	owner, err := gateway.Dial(ctx, "ws"+strings.TrimPrefix(s.origin, "http")+"/", gateway.DialOptions{Token: token, Scopes: []string{"operator.write", "operator.approvals"}})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := owner.Call(ctx, "chat.send", map[string]any{"message": "create the marker"}, nil); err != nil {
		t.Fatal(err)
	}
	var id string
	if !waitFor(func() bool {
		var l struct{ Approvals []store.Approval }
		owner.Call(ctx, "exec.approval.list", nil, &l)
		if len(l.Approvals) > 0 {
			id = l.Approvals[0].ID
		}
		return id != ""
	}) {
		t.Fatal("no approval pending")
	}

	// The owner makes a one-time viewer link on the Security page; the
	// viewer's browser never sees the gateway token.
	ob := newBrowser(t)
	ob.signIn(t, s, "")
	ob.run(t, chromedp.Navigate(s.origin+"/#/security"), waitText("#page", "Invite another browser"),
		chromedp.SendKeys(chromedp.CSS("#invite-label"), "Sam's phone"), chromedp.Click(chromedp.CSS("#invite-make")),
		waitText("#invite-link", "never carries the gateway token"))
	link := eval[string](t, ob, `document.getElementById("invite-url").value`)
	if !strings.HasPrefix(link, s.origin+"/#invite=") || strings.Contains(link, token) {
		t.Fatalf("invitation link %q", link)
	}
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(link), waitText("#state", "connected"))
	b.run(t, waitText("#state", "read-only"), chromedp.Navigate(s.origin+"/#/approvals"), waitText("#queue", "Read-only"))
	buttons := eval[int](t, b, `document.querySelectorAll("button[data-decision]").length + (document.getElementById("badge").hidden ? 0 : 100)`)
	if buttons != 0 {
		t.Fatalf("viewer sees approval controls (%d)", buttons)
	}
	// The page's own key asks for every scope and tries anyway.
	res := eval[string](t, b, `(async () => {
		const { Gateway, ALL_SCOPES } = await import("/ui/lib/gw.js");
		const { loadDevice } = await import("/ui/lib/cred.js");
		const g = new Gateway();
		const hello = await g.connect({ device: await loadDevice(), scopes: ALL_SCOPES });
		let out;
		try { await g.call("exec.approval.resolve", { id: `+"`"+id+"`"+`, decision: "allow-once" }); out = "RESOLVED"; } catch (e) { out = e.code; }
		g.close();
		return JSON.stringify({ scopes: hello.auth.scopes, out });
	})()`)
	var got struct {
		Scopes []string
		Out    string
	}
	json.Unmarshal([]byte(res), &got)
	if got.Out != "FORBIDDEN" || len(got.Scopes) != 1 || got.Scopes[0] != "operator.read" {
		t.Fatalf("viewer key: %s", res)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the viewer's answer ran the command")
	}
	if err := owner.Call(ctx, "exec.approval.resolve", map[string]any{"id": id, "decision": "deny"}, nil); err != nil {
		t.Fatalf("the approval was no longer pending after the viewer's attempt: %v", err)
	}
	b.checkClean(t, s.origin)
}

// bruteForcePage is a hostile page: it opens WebSockets to the loopback
// gateway and tries tokens, the last one right (a lucky guess), and
// records what each attempt got.
func bruteForcePage(gw string, guesses []string) string {
	g, _ := json.Marshal(guesses)
	return `<!doctype html><title>cute cats</title><script>
window.results = [];
const guesses = ` + string(g) + `;
function attempt(tok) {
  return new Promise((resolve) => {
    let ws;
    try { ws = new WebSocket("` + gw + `"); } catch (e) { resolve("throw"); return; }
    let settled = false;
    const done = (r) => { if (!settled) { settled = true; resolve(r); try { ws.close(); } catch {} } };
    ws.onmessage = (ev) => {
      const f = JSON.parse(ev.data);
      if (f.type === "event" && f.event === "connect.challenge") {
        ws.send(JSON.stringify({ type: "req", id: "c", method: "connect", params: { minProtocol: 4, maxProtocol: 4,
          client: { id: "talon-control-ui", version: "1", platform: "web", mode: "ui" }, role: "operator",
          scopes: ["operator.admin"], auth: { token: tok } } }));
      } else if (f.type === "res") {
        done(f.ok ? "HELLO" : f.error.code);
      }
    };
    ws.onerror = () => done("refused");
    ws.onclose = () => done("closed");
  });
}
(async () => { for (const g of guesses) window.results.push(await attempt(g)); window.finished = true; })();
</script>`
}

func runBruteForce(t *testing.T, evil string) []string {
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(evil))
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](`window.finished === true`, chromedp.WithPollingTimeout(2*time.Minute))); err != nil {
		t.Fatal(err)
	}
	return eval[[]string](t, b, `window.results`)
}

// TestInvariant1_ClawJackedBruteForceFails: a page on another origin that
// the owner happens to visit cannot drive the loopback gateway: its
// WebSockets are refused at the upgrade (Origin), even with the right
// token. And a page on an origin the owner did allow is locked out after
// the configured attempts, so it cannot brute-force the token either.
func TestInvariant1_ClawJackedBruteForceFails(t *testing.T) {
	guesses := []string{}
	for i := range 12 {
		guesses = append(guesses, fmt.Sprintf("guess-%02d-0123456789-abcdefghij", i))
	}
	guesses = append(guesses, token)

	t.Run("other origin", func(t *testing.T) {
		s := startScene(t, "")
		var page string
		evil := serveEvil(t, func() string { return page })
		page = bruteForcePage("ws"+strings.TrimPrefix(s.origin, "http")+"/", guesses)
		res := runBruteForce(t, evil)
		if len(res) != len(guesses) {
			t.Fatalf("results %v", res)
		}
		for i, r := range res {
			if r != "refused" && r != "closed" {
				t.Errorf("attempt %d from another origin got %q, want refused at the upgrade", i, r)
			}
		}
		if !strings.Contains(s.stderr.String(), "origin not allowed") && !waitFor(func() bool { return strings.Contains(logText(s), "origin not allowed") }) {
			t.Error("the gateway did not log the refused origin")
		}
	})

	t.Run("allowed origin is locked out", func(t *testing.T) {
		var page string
		evil := serveEvil(t, func() string { return page })
		s := startScene(t, "", `controlUi: { allowedOrigins: ["`+evil+`"] }`)
		page = bruteForcePage("ws"+strings.TrimPrefix(s.origin, "http")+"/", guesses)
		res := runBruteForce(t, evil)
		if len(res) != len(guesses) {
			t.Fatalf("results %v", res)
		}
		for i, r := range res[:9] {
			if r != "UNAUTHORIZED" {
				t.Errorf("attempt %d: %q", i, r)
			}
		}
		if last := res[len(res)-1]; last != "AUTH_RATE_LIMITED" {
			t.Fatalf("the right token after %d wrong ones got %q, want AUTH_RATE_LIMITED (all: %v)", len(guesses)-1, last, res)
		}
	})
}

func logText(s *scene) string {
	b, _ := os.ReadFile(filepath.Join(s.state, "logs", "talon.log"))
	return string(b)
}

// TestInvariant2_UIIgnoresGatewayURLInItsOwnURL (CVE-2026-25253): links
// that name another gateway in the query or the fragment never make the
// console connect anywhere but its own origin, and the token goes nowhere
// else.
func TestInvariant2_UIIgnoresGatewayURLInItsOwnURL(t *testing.T) {
	s := startScene(t, "")
	other := newCountingListener(t)
	ws := "ws://" + other.ln.Addr().String()
	b := newBrowser(t)
	q := "gatewayUrl=" + ws + "&gateway=" + ws + "&url=" + ws + "&wsUrl=" + ws
	b.run(t, chromedp.Navigate(s.origin+"/?"+q+"#token="+token+"&"+q), waitText("#state", "connected"))
	b.run(t, chromedp.Navigate(s.origin+"/?"+q+"#"+q), waitText("#state", "connected"),
		chromedp.Navigate(s.origin+"/#/chat?"+q), waitText("#state", "connected"), waitText("#page", "Session"))
	href := eval[string](t, b, `location.href`)
	if strings.Contains(href, token) {
		t.Errorf("the token stayed in the address bar: %s", href)
	}
	time.Sleep(time.Second)
	if n := other.count(); n != 0 {
		t.Fatalf("the console connected to the gateway named in its URL (%d connections)", n)
	}
	b.checkClean(t, s.origin)
}

// setField sets a config form field as a person would (value, then the
// change event).
func setField(t *testing.T, b *browser, id, value string) {
	t.Helper()
	eval[bool](t, b, `(() => { const i = document.getElementById(`+jsString(id)+`); i.value = `+jsString(value)+`;
		i.dispatchEvent(new Event("change")); return true; })()`)
}

// TestConfigFormValidatesAndGuards: a bad value in the generated form is
// refused with the problem shown at its field and nothing written; a good
// one is saved; a save made against a file that changed since the page
// loaded is refused (baseHash).
func TestConfigFormValidatesAndGuards(t *testing.T) {
	s := startScene(t, "")
	b := newBrowser(t)
	b.signIn(t, s, "")
	cfgPath := filepath.Join(s.state, "talon.json")
	before, _ := os.ReadFile(cfgPath)
	b.run(t, chromedp.Navigate(s.origin+"/#/config"), waitText("#page", "Save changes"))
	setField(t, b, "cfg-budgets-perDayUsd", "-5")
	b.run(t, chromedp.Click(chromedp.CSS("#config-save")), waitText("#config-status", "Not saved"))
	if msg := b.text(t, "#cfg-budgets-perDayUsd-err"); msg == "" {
		t.Fatal("no validation message at budgets.perDayUsd")
	}
	if after, _ := os.ReadFile(cfgPath); string(after) != string(before) {
		t.Fatal("an invalid value changed the config file")
	}
	b.run(t, chromedp.Navigate(s.origin+"/#/chat"), chromedp.Navigate(s.origin+"/#/config"), waitText("#page", "Save changes"))
	setField(t, b, "cfg-budgets-perDayUsd", "3")
	b.run(t, chromedp.Click(chromedp.CSS("#config-save")), waitText("#config-status", "Saved"))
	after, _ := os.ReadFile(cfgPath)
	if !strings.Contains(string(after), "perDayUsd: 3") {
		t.Fatalf("config after save:\n%s", after)
	}
	// A key that needs a restart says so.
	setField(t, b, "cfg-gateway-tickIntervalMs", "20000")
	b.run(t, chromedp.Click(chromedp.CSS("#config-save")), waitText("#config-status", "Restart required for:"), waitText("#config-status", "gateway.tickIntervalMs"))
	after, _ = os.ReadFile(cfgPath)
	// Someone else edits the file; this page's next save is refused.
	if err := os.WriteFile(cfgPath, append(after, '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
	setField(t, b, "cfg-budgets-perMonthUsd", "40")
	b.run(t, chromedp.Click(chromedp.CSS("#config-save")), waitText("#config-status", "changed elsewhere"))
	if now, _ := os.ReadFile(cfgPath); strings.Contains(string(now), "perMonthUsd: 40") {
		t.Fatal("a stale page overwrote the config")
	}
	b.checkClean(t, s.origin)
}

// TestInvariant10_ConsoleNeverReceivesSecrets: with the config page, the
// raw view and every other page open, no frame the browser received holds
// the gateway token, the bot token or the provider key, and neither does
// the page.
func TestInvariant10_ConsoleNeverReceivesSecrets(t *testing.T) {
	s := startScene(t, "")
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "hi"), chromedp.Click(chromedp.CSS("#chat-send")), waitText("#messages", "all done"))
	for _, p := range pages {
		b.run(t, chromedp.Navigate(s.origin+"/#/"+p.name), waitText("#page", p.ready))
	}
	html := eval[string](t, b, `document.documentElement.outerHTML + JSON.stringify(sessionStorage) + JSON.stringify(localStorage)`)
	frames := b.received()
	if len(frames) < 10 {
		t.Fatalf("only %d frames recorded", len(frames))
	}
	for _, secret := range []string{token, s.tg.Token, "sk-fake-key-for-tests-0123456789"} {
		if strings.Contains(html, secret) {
			t.Errorf("the page holds a secret %q", secret[:8])
		}
		for _, f := range frames {
			if strings.Contains(f, secret) {
				t.Errorf("a frame sent to the browser holds a secret %q: %.200s", secret[:8], f)
				break
			}
		}
	}
	b.checkClean(t, s.origin)
}

// TestApprovalDeniedFromChat: the request also shows in the chat where the
// owner is typing; "Deny" there keeps the command from running.
func TestApprovalDeniedFromChat(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"touch denied.marker"}`}}})
	marker := filepath.Join(s.state, "workspace", "denied.marker")
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "make the file"), chromedp.Click(chromedp.CSS("#chat-send")),
		waitText("#messages", "approval needed"), waitText("#messages", "touch denied.marker"),
		chromedp.Click(chromedp.CSS("#messages button.danger")), waitText("#messages", "all done"),
		chromedp.Navigate(s.origin+"/#/approvals"), waitText("#history", "deny"))
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("a denied command ran")
	}
	b.checkClean(t, s.origin)
}

// TestPasswordSignInAndReload: a gateway in password mode takes the
// password in the sign-in form; the browser then has its own key, so a
// reload signs in again with nothing typed and nothing stored in clear.
func TestPasswordSignInAndReload(t *testing.T) {
	const password = "correct horse battery staple"
	s := startScene(t, "", `auth: { mode: "password", password: "`+password+`" }`)
	b := newBrowser(t)
	b.run(t, chromedp.Navigate(s.origin+"/"), waitText("#login", "Sign in"),
		chromedp.SendKeys(chromedp.CSS("#token"), password), chromedp.Click(chromedp.CSS("#login button[type=submit]")),
		waitText("#state", "connected"))
	b.run(t, chromedp.Reload(), waitText("#state", "connected"), waitText("#page", "Session"))
	stored := eval[string](t, b, `JSON.stringify(sessionStorage) + JSON.stringify(localStorage) + document.cookie`)
	if strings.Contains(stored, password) {
		t.Fatalf("the password is kept in the browser: %s", stored)
	}
	b.checkClean(t, s.origin)
}

// TestInvariant5_ApprovalShowsHiddenCharacters: a hijacked model hides a
// right-to-left override in the command it asks for; the console shows
// the character, both from the request event (the gateway's rendered
// plan) and from the pending list after a reload.
func TestInvariant5_ApprovalShowsHiddenCharacters(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "c1", Name: "exec", Args: `{"command":"touch invoice\u202efdp.exe"}`}}})
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.SendKeys(chromedp.CSS("#chat-input"), "do it"), chromedp.Click(chromedp.CSS("#chat-send")),
		waitText("#badge", "1 approval waiting"), chromedp.Navigate(s.origin+"/#/approvals"), waitText("#queue", "touch invoice"))
	for _, when := range []string{"live", "after reload"} {
		plan := b.text(t, "#queue .plan")
		if strings.ContainsRune(plan, '\u202e') || !strings.Contains(strings.ToLower(plan), "202e") {
			t.Errorf("%s: the plan hides the override: %q", when, plan)
		}
		b.run(t, chromedp.Reload(), waitText("#state", "connected"), waitText("#queue", "touch invoice"))
	}
	b.checkClean(t, s.origin)
}

// TestSecurityFixAndAuditVerify: "Apply safe fixes" on the Security page
// moves the literal bot token out of the config file and sets a budget;
// the Audit page records it and verifies the chain.
func TestSecurityFixAndAuditVerify(t *testing.T) {
	s := startScene(t, "")
	cfgPath := filepath.Join(s.state, "talon.json")
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.Navigate(s.origin+"/#/security"), waitText("#findings", "secrets.plaintext"))
	eval[bool](t, b, `window.confirm = () => true; true`)
	b.run(t, chromedp.Click(chromedp.CSS("#security-fix")), waitText("#fixed", "budgets.perDayUsd"))
	raw, _ := os.ReadFile(cfgPath)
	if strings.Contains(string(raw), s.tg.Token) {
		t.Fatalf("the bot token is still written in the config:\n%s", raw)
	}
	if strings.Contains(b.text(t, "#findings"), "secrets.plaintext") {
		t.Error("the fixed finding is still listed")
	}
	b.run(t, chromedp.Navigate(s.origin+"/#/audit"), waitText("#audit-list", "audit.fix"),
		chromedp.Click(chromedp.CSS("#audit-verify")), waitText("#audit-status", "Chain intact"))
	b.checkClean(t, s.origin)
}

// TestRevokedBrowserIsSignedOut: the owner revokes another browser on the
// Security page; that browser is disconnected at once, asked to sign in,
// and its key no longer works after a reload.
func TestRevokedBrowserIsSignedOut(t *testing.T) {
	s := startScene(t, "")
	owner := newBrowser(t)
	owner.signIn(t, s, "")
	owner.run(t, chromedp.Navigate(s.origin+"/#/security"), waitText("#page", "Invite another browser"),
		chromedp.SendKeys(chromedp.CSS("#invite-label"), "old tablet"), chromedp.Click(chromedp.CSS("#invite-make")),
		waitText("#invite-link", "never carries the gateway token"))
	link := eval[string](t, owner, `document.getElementById("invite-url").value`)
	tablet := newBrowser(t)
	tablet.run(t, chromedp.Navigate(link), waitText("#state", "connected"))
	owner.run(t, chromedp.Navigate(s.origin+"/#/chat"), chromedp.Navigate(s.origin+"/#/security"), waitText("#devices", "old tablet"))
	eval[bool](t, owner, `window.confirm = () => true; true`)
	owner.run(t, chromedp.Click(chromedp.CSS(`#devices button[aria-label="Revoke old tablet"]`)), waitGone("#devices", "old tablet"))
	tablet.run(t, waitText("#error", "revoked"), waitText("#state", "signed out"))
	tablet.run(t, chromedp.Reload(), waitText("#state", "signed out"))
	owner.checkClean(t, s.origin)
}

// TestCronRunOutputFromUI: jobs run by the scheduler show, on the Cron
// page, what each run wrote — the older run its own reply, not the
// session's latest.
func TestCronRunOutputFromUI(t *testing.T) {
	s := startScene(t, "")
	s.llm.Script(fakellm.Reply{Text: "tide report: high water at 06:12"}, fakellm.Reply{Text: "tide report: high water at 18:40"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	admin, err := gateway.Dial(ctx, "ws"+strings.TrimPrefix(s.origin, "http")+"/", gateway.DialOptions{Token: token, Scopes: []string{"operator.admin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var added struct{ Job struct{ ID string } }
	if err := admin.Call(ctx, "cron.add", map[string]any{"schedule": "@daily", "message": "report the tides", "name": "tides"}, &added); err != nil {
		t.Fatal(err)
	}
	// runDone runs the job now and waits until run number n has replied.
	runDone := func(n int) {
		t.Helper()
		if err := admin.Call(ctx, "cron.run", map[string]any{"id": added.Job.ID}, nil); err != nil {
			t.Fatal(err)
		}
		ok := waitFor(func() bool {
			var r struct{ Runs []struct{ RunID string } }
			if admin.Call(ctx, "cron.runs", map[string]any{"id": added.Job.ID}, &r) != nil || len(r.Runs) < n || r.Runs[0].RunID == "" {
				return false
			}
			var h struct {
				Messages []struct{ Role, RunID string }
			}
			admin.Call(ctx, "chat.history", map[string]any{"sessionKey": "cron:" + added.Job.ID}, &h)
			for _, m := range h.Messages {
				if m.Role == "assistant" && m.RunID == r.Runs[0].RunID {
					return true
				}
			}
			return false
		})
		if !ok {
			t.Fatalf("run %d of the job did not reply within a minute", n)
		}
	}
	runDone(1)
	runDone(2)
	b := newBrowser(t)
	b.signIn(t, s, "")
	b.run(t, chromedp.Navigate(s.origin+"/#/cron"), waitText("#cron-jobs", "tides"))
	eval[bool](t, b, `[...document.querySelectorAll("#cron-jobs button")].find((x) => x.textContent === "Runs").click(); true`)
	b.run(t, waitText("#cron-runs", "Show output"))
	// Runs are listed newest first: the last "Show output" is the first run.
	eval[bool](t, b, `[...document.querySelectorAll("#cron-runs button")].filter((x) => x.textContent === "Show output").pop().click(); true`)
	b.run(t, waitText("#cron-runs", "high water at 06:12"))
	if got := b.text(t, "#cron-runs"); strings.Contains(got, "18:40") {
		t.Errorf("the first run's output shows the second run's reply: %q", got)
	}
	b.checkClean(t, s.origin)
}
