package telegram

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/faketelegram"
)

const hookSecret = "s3cret_webhook-Token"

func webhookEnv(t *testing.T) *env {
	t.Helper()
	e := newEnv(t, func(o *Options) {
		o.Config.WebhookURL = "https://bot.example/telegram"
		o.Config.WebhookSecret = secret.New(hookSecret)
		o.Config.WebhookListen = "127.0.0.1:0"
	})
	e.start(t)
	chantest.WaitState(t, e.a, channels.StateConnected)
	return e
}

func TestInvariant3_WebhookWithoutSecretRefused(t *testing.T) {
	fake := faketelegram.New(t)
	cfg := account(fake)
	cfg.WebhookURL = "https://bot.example/telegram"
	cfg.WebhookListen = "127.0.0.1:0"
	_, err := New(Options{Config: cfg, Handler: func(context.Context, channels.Message) error { return nil }})
	if err == nil || !strings.Contains(err.Error(), "webhook mode needs channels.telegram.webhookSecret") {
		t.Fatalf("New without a webhook secret: %v", err)
	}
	// Start refuses too, even for an adapter whose secret was lost after New.
	cfg.WebhookSecret = secret.New(hookSecret)
	a, err := New(Options{Config: cfg, Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	a.cfg.WebhookSecret = secret.Secret{}
	if err := a.Start(t.Context()); err == nil {
		a.Stop(t.Context())
		t.Fatal("Start ran a webhook without a secret")
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("%d API calls made", n)
	}
}

func TestInvariant3_WebhookWrongSecret401(t *testing.T) {
	e := webhookEnv(t)
	var called atomic.Int32
	e.a.handler = func(context.Context, channels.Message) error { called.Add(1); return nil }
	srv := httptest.NewServer(e.a.WebhookHandler())
	defer srv.Close()
	for _, c := range []struct {
		name, secret string
	}{
		{"missing", ""},
		{"wrong", "wrong"},
		{"prefix", hookSecret[:len(hookSecret)-1]},
		{"longer", hookSecret + "x"},
		{"case", strings.ToUpper(hookSecret)},
	} {
		status, err := faketelegram.PostWebhook(srv.URL, c.secret, e.fake.DM(alice, "injected"))
		if err != nil {
			t.Fatal(err)
		}
		if status != http.StatusUnauthorized {
			t.Errorf("%s secret: status %d, want 401", c.name, status)
		}
	}
	// Also on the real listener, and for every method.
	url := "http://" + e.a.WebhookAddr() + "/telegram"
	if status, _ := faketelegram.PostWebhook(url, "wrong", e.fake.DM(alice, "injected")); status != 401 {
		t.Errorf("listener: status %d", status)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("GET without secret: %d", resp.StatusCode)
	}
	if n := called.Load(); n != 0 {
		t.Errorf("handler called %d times", n)
	}
	if st := e.a.Status(); st.Received != 0 {
		t.Errorf("received %d", st.Received)
	}
}

func TestWebhookDelivers(t *testing.T) {
	e := webhookEnv(t)
	if u, s := e.fake.Webhook(); u != "https://bot.example/telegram" || s != hookSecret {
		t.Errorf("setWebhook url %q secret %q", u, s)
	}
	url := "http://" + e.a.WebhookAddr() + "/telegram"
	upd := e.fake.Mention(-1001, alice, "hi")
	upd.UpdateID = 5000
	for range 2 { // redelivered: handled once
		if status, err := faketelegram.PostWebhook(url, hookSecret, upd); err != nil || status != 200 {
			t.Fatalf("status %d, %v", status, err)
		}
	}
	ms := e.rec.Wait(t, 1)
	time.Sleep(50 * time.Millisecond)
	if len(e.rec.All()) != 1 || !ms[0].MentionsBot || ms[0].ChatType != channels.ChatGroup {
		t.Errorf("handled %+v", e.rec.All())
	}
	for _, c := range []struct {
		body   string
		method string
		want   int
	}{
		{`{"update_id": 1, "message": `, "POST", 400},
		{`[1,2]`, "POST", 400},
		{`{"message": {"text": "no id"}}`, "POST", 400},
		{`{"update_id": 2, "message": {"message_id": "x"}}`, "POST", 400},
		{`{"update_id": 3}`, "GET", 405},
		{`{"update_id": 4, "x": "` + strings.Repeat("a", 2<<20) + `"}`, "POST", 413},
	} {
		req, _ := http.NewRequest(c.method, url, strings.NewReader(c.body))
		req.Header.Set(SecretHeader, hookSecret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %.40s: %d, want %d", c.method, c.body, resp.StatusCode, c.want)
		}
	}
	if n := len(e.rec.All()); n != 1 {
		t.Errorf("%d messages after bad requests", n)
	}
	// No getUpdates in webhook mode.
	if n := len(e.fake.Calls("getUpdates")); n != 0 {
		t.Errorf("%d getUpdates calls in webhook mode", n)
	}
	if st := e.a.Status(); st.Mode != "webhook" {
		t.Errorf("mode %q", st.Mode)
	}
}

func TestWebhookPollingModeHasNoSecret(t *testing.T) {
	e := newEnv(t, nil)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/", strings.NewReader(`{"update_id":1}`))
	req.Header.Set(SecretHeader, "")
	e.a.WebhookHandler().ServeHTTP(rec, req)
	if rec.Code != 401 {
		t.Errorf("polling-mode handler answered %d", rec.Code)
	}
}

func TestWebhookBadListenAddress(t *testing.T) {
	fake := faketelegram.New(t)
	cfg := account(fake)
	cfg.WebhookURL, cfg.WebhookSecret, cfg.WebhookListen = "https://x/h", secret.New(hookSecret), "256.0.0.1:1"
	a, err := New(Options{Config: cfg, Handler: func(context.Context, channels.Message) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(t.Context()); err == nil {
		a.Stop(t.Context())
		t.Fatal("started on a bad address")
	} else if !strings.Contains(err.Error(), "webhookListen") {
		t.Errorf("err = %v", err)
	}
}
