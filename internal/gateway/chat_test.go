package gateway

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

func withAgent(t testing.TB, fake *fakellm.Server) gwOpt {
	return func(c *config.Config, o *Options) {
		st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "talon.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c.Models.Providers = map[string]config.Provider{"fake": {API: "openai-completions", BaseURL: fake.URL,
			Models: []config.ModelDef{{ID: "m", ContextWindow: 32000, MaxTokens: 512, Cost: config.ModelCost{Input: 1, Output: 1}}}}}
		c.Agents.Defaults.Model = "fake/m"
		a, err := agent.New(agent.Options{Config: func() *config.Config { return c }, Store: st, Models: &agent.ConfigModels{}, Workspace: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		o.Store, o.Agent = st, a
	}
}

func TestChatSendStreamsDeltasAndFinal(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Text: "streaming reply in several words"})
	tg := startGW(t, withAgent(t, fake))
	c, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.write"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var started struct {
		RunID, Status, SessionKey string
	}
	if err := c.Call(ctxT(t), "chat.send", map[string]any{"sessionKey": "agent:main:main", "message": "hi", "idempotencyKey": "k1"}, &started); err != nil {
		t.Fatal(err)
	}
	if started.RunID == "" || started.Status != "started" {
		t.Fatalf("%+v", started)
	}
	var deltas []string
	var final map[string]any
	timeout := time.After(15 * time.Second)
	for final == nil {
		select {
		case ev := <-c.Events():
			if ev.Event != "chat" {
				continue
			}
			p := ev.Payload.(map[string]any)
			if p["runId"] != started.RunID || p["sessionKey"] != "agent:main:main" {
				t.Fatalf("event for another run: %v", p)
			}
			switch p["state"] {
			case "delta":
				deltas = append(deltas, p["deltaText"].(string))
			case "final":
				final = p
			default:
				t.Fatalf("unexpected %v", p)
			}
		case <-timeout:
			t.Fatal("no final event")
		}
	}
	if len(deltas) < 2 || strings.Join(deltas, "") != "streaming reply in several words" {
		t.Fatalf("deltas %q", deltas)
	}
	content := final["message"].(map[string]any)["content"].([]any)[0].(map[string]any)["text"]
	if content != "streaming reply in several words" {
		t.Fatalf("final %v", final)
	}
	// A retried send with the same idempotency key starts nothing new.
	var again struct{ RunID, Status string }
	c.Call(ctxT(t), "chat.send", map[string]any{"sessionKey": "agent:main:main", "message": "hi", "idempotencyKey": "k1"}, &again)
	if again.RunID != started.RunID || fake.Count() != 1 {
		t.Fatalf("idempotency: %+v, %d model calls", again, fake.Count())
	}
	// History and sessions see the turn.
	var hist struct {
		Messages []map[string]any `json:"messages"`
	}
	if err := c.Call(ctxT(t), "chat.history", map[string]any{"sessionKey": "agent:main:main"}, &hist); err != nil || len(hist.Messages) != 2 {
		t.Fatalf("history %v %v", hist, err)
	}
	var list struct {
		Sessions []map[string]any `json:"sessions"`
	}
	if err := c.Call(ctxT(t), "sessions.list", nil, &list); err != nil || len(list.Sessions) != 1 || list.Sessions[0]["key"] != "agent:main:main" {
		t.Fatalf("sessions %v %v", list, err)
	}
	var usage map[string]any
	if err := c.Call(ctxT(t), "usage.status", nil, &usage); err != nil || usage["total"].(map[string]any)["calls"].(float64) != 1 {
		t.Fatalf("usage %v %v", usage, err)
	}
}

func TestChatScopesAndValidation(t *testing.T) {
	fake := fakellm.New(t)
	tg := startGW(t, withAgent(t, fake))
	ro, err := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Call(ctxT(t), "chat.send", map[string]any{"message": "hi"}, nil); err == nil || !strings.Contains(err.Error(), "FORBIDDEN") {
		t.Fatalf("read scope sent a chat: %v", err)
	}
	rw, _ := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.write"}})
	defer rw.Close()
	for _, p := range []map[string]any{{"message": ""}, {"message": "x", "sessionKey": "not a key"}, {"message": 5}} {
		if err := rw.Call(ctxT(t), "chat.send", p, nil); err == nil || !strings.Contains(err.Error(), "INVALID_REQUEST") {
			t.Fatalf("%v accepted: %v", p, err)
		}
	}
	if err := rw.Call(ctxT(t), "sessions.delete", map[string]any{"key": "agent:main:main"}, nil); err == nil {
		t.Fatal("sessions.delete without admin")
	}
	if fake.Count() != 0 {
		t.Fatal("a refused request reached the model")
	}
}

func TestCronMethods(t *testing.T) {
	fake := fakellm.New(t)
	tg := startGW(t, withAgent(t, fake))
	admin := adminClient(t, tg)
	var added struct {
		Job struct{ ID, Schedule, CreatedBy string }
	}
	if err := admin.Call(ctxT(t), "cron.add", map[string]any{"schedule": "@hourly", "message": "check the build"}, &added); err != nil {
		t.Fatal(err)
	}
	if added.Job.ID == "" || added.Job.CreatedBy != "operator:talon-cli" {
		t.Fatalf("%+v", added)
	}
	if err := admin.Call(ctxT(t), "cron.add", map[string]any{"schedule": "sometimes", "message": "x"}, nil); err == nil {
		t.Fatal("bad schedule accepted")
	}
	ro, _ := Dial(ctxT(t), tg.url, DialOptions{Token: testToken, Scopes: []string{"operator.read"}})
	defer ro.Close()
	var list struct{ Jobs []map[string]any }
	if err := ro.Call(ctxT(t), "cron.list", nil, &list); err != nil || len(list.Jobs) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	if err := ro.Call(ctxT(t), "cron.remove", map[string]any{"id": added.Job.ID}, nil); err == nil {
		t.Fatal("read scope removed a job")
	}
	if err := admin.Call(ctxT(t), "cron.remove", map[string]any{"id": added.Job.ID}, nil); err != nil {
		t.Fatal(err)
	}
}
