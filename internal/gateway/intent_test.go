package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

// TestInvariant12_MethodSideEffectsAreAuditedFirst: sessions.reset,
// sessions.delete, cron.add and cron.remove write their audit record
// before they act, and refuse — changing nothing — when it cannot be
// written.
func TestInvariant12_MethodSideEffectsAreAuditedFirst(t *testing.T) {
	fake := fakellm.New(t)
	var mu sync.Mutex
	var kinds []string
	broken := false
	var st *store.Store
	tg := startGW(t, withAgent(t, fake), func(c *config.Config, o *Options) {
		st = o.Store
		o.Audit = func(_ context.Context, kind, actor, subject string, _ any) error {
			mu.Lock()
			defer mu.Unlock()
			if broken {
				return errors.New("disk full")
			}
			kinds = append(kinds, kind+" "+subject)
			return nil
		}
	})
	admin, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.admin"}})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	const key = "agent:main:main"
	if _, err := st.EnsureSession(ctxT(t), key, store.SessionInit{AgentID: "main"}); err != nil {
		t.Fatal(err)
	}
	var added struct{ Job struct{ ID string } }
	if err := admin.Call(ctxT(t), "cron.add", map[string]any{"schedule": "@hourly", "message": "check"}, &added); err != nil {
		t.Fatal(err)
	}
	if err := admin.Call(ctxT(t), "sessions.reset", map[string]any{"key": key}, nil); err != nil {
		t.Fatal(err)
	}

	// The log is broken: nothing changes.
	mu.Lock()
	broken = true
	mu.Unlock()
	before, _, _ := st.Session(ctxT(t), key)
	for _, call := range []struct {
		method string
		params map[string]any
	}{
		{"sessions.reset", map[string]any{"key": key}},
		{"sessions.delete", map[string]any{"key": key}},
		{"cron.remove", map[string]any{"id": added.Job.ID}},
		{"cron.add", map[string]any{"schedule": "@daily", "message": "x"}},
	} {
		if err := admin.Call(ctxT(t), call.method, call.params, nil); err == nil || !strings.Contains(err.Error(), "audit log") {
			t.Errorf("%s went ahead without its audit record: %v", call.method, err)
		}
	}
	after, ok, _ := st.Session(ctxT(t), key)
	jobs, _ := st.CronJobs(ctxT(t), time.Time{})
	if !ok || after.ID != before.ID || len(jobs) != 1 {
		t.Fatalf("changes made without an audit record: session %v (id %s → %s), %d cron jobs", ok, before.ID, after.ID, len(jobs))
	}
	mu.Lock()
	got := strings.Join(kinds, "|")
	mu.Unlock()
	// Each intent is followed by its outcome (the dispatcher records it
	// when the method returns).
	for _, want := range []string{core.KindCronAdd + " @hourly|" + core.KindOutcome + " @hourly",
		core.KindSessionReset + " " + key + "|" + core.KindOutcome + " " + key} {
		if !strings.Contains(got, want) {
			t.Errorf("audit records %q lack %q", got, want)
		}
	}
}

// TestModelsListPublishesCatalogWithoutSecrets: hello-ok announces the
// published model catalog, and models.list (operator.read) lists the
// configured models in OpenClaw's row shape without a key or an endpoint
// (invariant 10).
func TestModelsListPublishesCatalogWithoutSecrets(t *testing.T) {
	const key = "sk-test-0123456789abcdefghijklmnop"
	tg := startGW(t, func(c *config.Config, o *Options) {
		c.Models.Providers = map[string]config.Provider{"local": {API: "openai-completions", BaseURL: "http://127.0.0.1:11434/v1",
			APIKey: secret.New(key), Models: []config.ModelDef{{ID: "qwen3", ContextWindow: 32768, MaxTokens: 512}}}}
		c.Agents.Defaults.Model = "local/qwen3"
	})
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !slices.Contains(c.Hello.Features.Capabilities, CapPublishedModelCatalog) {
		t.Fatalf("hello-ok capabilities %v", c.Hello.Features.Capabilities)
	}
	var raw json.RawMessage
	if err := c.Call(ctxT(t), "models.list", map[string]any{"view": "all", "includeDetails": true}, &raw); err != nil {
		t.Fatal(err)
	}
	var out struct {
		Models []struct {
			ID, Provider  string
			ContextWindow int  `json:"contextWindow"`
			Local         bool `json:"local"`
			Tags          []string
		}
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Models) != 1 || out.Models[0].ID != "qwen3" || out.Models[0].Provider != "local" ||
		out.Models[0].ContextWindow != 32768 || !out.Models[0].Local || !slices.Contains(out.Models[0].Tags, "default") {
		t.Fatalf("models.list = %s (%v)", raw, err)
	}
	if strings.Contains(string(raw), key) || strings.Contains(string(raw), "11434") {
		t.Fatalf("models.list leaks the key or the endpoint: %s", raw)
	}
}
