package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/chantest"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

const testSecret = "signing-secret-for-tests"

func httpSetup(t *testing.T) *setup {
	t.Helper()
	s := newSetup(t, "http", nil)
	s.a.botUserID = fakeslack.BotUserID // as after auth.test
	return s
}

func dmBody(fs *fakeslack.Server, text, ts string) []byte {
	return fakeslack.MarshalCallback(fs.NewCallback(fakeslack.Event{Type: "message", User: "U0ALICE", Text: text, TS: ts, Channel: "D0DM", ChannelType: "im"}))
}

func TestInvariant3_SlackForgedSignatureRejected(t *testing.T) {
	s := httpSetup(t)
	body := dmBody(s.fs, "forged", "1.1")
	other := dmBody(s.fs, "other", "1.2")
	for name, req := range map[string]fakeslack.EventRequest{
		"wrong secret":         {Body: body, Secret: "not-the-secret"},
		"empty secret":         {Body: body, Secret: ""},
		"signature of another": {Body: body, Signature: fakeslack.Sign(testSecret, fmt.Sprint(time.Now().Unix()), other)},
		"garbage signature":    {Body: body, Signature: "v0=deadbeef"},
		"v1 scheme":            {Body: body, Signature: strings.Replace(fakeslack.Sign(testSecret, fmt.Sprint(time.Now().Unix()), body), "v0=", "v1=", 1)},
		"challenge, forged":    {Body: fakeslack.URLVerification("chal-123"), Secret: "not-the-secret"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := req.Serve(s.a.EventsHandler())
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", rec.Code)
			}
			if strings.Contains(rec.Body.String(), "chal-123") {
				t.Error("challenge answered without a valid signature")
			}
		})
	}
	// A tampered body under a signature made for the original.
	ts := fmt.Sprint(time.Now().Unix())
	sig := fakeslack.Sign(testSecret, ts, body)
	req := fakeslack.EventRequest{Body: append(body[:len(body)-1:len(body)-1], ' ', '}'), Signature: sig}
	if rec := req.Serve(s.a.EventsHandler()); rec.Code != http.StatusUnauthorized {
		t.Errorf("tampered body: status = %d", rec.Code)
	}
	if got := s.in.All(); len(got) != 0 {
		t.Errorf("forged requests delivered %d messages", len(got))
	}
}

func TestInvariant3_SlackReplayedTimestampRejected(t *testing.T) {
	s := httpSetup(t)
	for name, at := range map[string]time.Time{
		"6 minutes old":       time.Now().Add(-6 * time.Minute),
		"6 minutes in future": time.Now().Add(6 * time.Minute),
		"epoch":               time.Unix(1, 0),
	} {
		t.Run(name, func(t *testing.T) {
			// A valid signature for that timestamp: a captured request replayed.
			rec := fakeslack.EventRequest{Body: dmBody(s.fs, "replayed", "2.1"), Secret: testSecret, Time: at}.Serve(s.a.EventsHandler())
			if rec.Code != http.StatusUnauthorized {
				t.Errorf("status = %d, want 401", rec.Code)
			}
		})
	}
	if got := s.in.All(); len(got) != 0 {
		t.Errorf("replayed requests delivered %d messages", len(got))
	}
	// Within the window it is accepted.
	rec := fakeslack.EventRequest{Body: dmBody(s.fs, "fresh", "2.2"), Secret: testSecret, Time: time.Now().Add(-4 * time.Minute)}.Serve(s.a.EventsHandler())
	if rec.Code != http.StatusOK {
		t.Fatalf("4-minute-old request: status = %d", rec.Code)
	}
	if m := s.in.Next(t); m.Text != "fresh" {
		t.Errorf("got %+v", m)
	}
}

func TestInvariant3_SlackMissingHeadersRejected(t *testing.T) {
	s := httpSetup(t)
	body := dmBody(s.fs, "no headers", "3.1")
	h := s.a.EventsHandler()
	if rec := (fakeslack.EventRequest{Body: body, NoHeaders: true}).Serve(h); rec.Code != http.StatusUnauthorized {
		t.Errorf("no headers: %d", rec.Code)
	}
	req := fakeslack.EventRequest{Body: body, Secret: testSecret}.Request("http://x/")
	req.Header.Del("X-Slack-Signature")
	if rec := serve(h, req); rec != http.StatusUnauthorized {
		t.Errorf("no signature: %d", rec)
	}
	req = fakeslack.EventRequest{Body: body, Secret: testSecret}.Request("http://x/")
	req.Header.Del("X-Slack-Request-Timestamp")
	if rec := serve(h, req); rec != http.StatusUnauthorized {
		t.Errorf("no timestamp: %d", rec)
	}
	req = fakeslack.EventRequest{Body: body, Secret: testSecret}.Request("http://x/")
	req.Header.Set("X-Slack-Request-Timestamp", "soon")
	if rec := serve(h, req); rec != http.StatusUnauthorized {
		t.Errorf("non-numeric timestamp: %d", rec)
	}
	req = fakeslack.EventRequest{Body: body, Secret: testSecret}.Request("http://x/")
	req.Method = http.MethodGet
	if rec := serve(h, req); rec != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec)
	}
	if got := s.in.All(); len(got) != 0 {
		t.Errorf("delivered %d messages", len(got))
	}
}

func serve(h http.Handler, req *http.Request) int {
	rec := fakeslack.EventRequest{}.Serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { h.ServeHTTP(w, req) }))
	return rec.Code
}

func TestSlackEventsBodyCap(t *testing.T) {
	s := httpSetup(t)
	big := fakeslack.Event{Type: "message", User: "U0ALICE", Text: strings.Repeat("x", maxEventBody), TS: "4.1", Channel: "D0DM", ChannelType: "im"}
	body := fakeslack.MarshalCallback(s.fs.NewCallback(big))
	rec := fakeslack.EventRequest{Body: body, Secret: testSecret}.Serve(s.a.EventsHandler())
	if rec.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("status = %d, want 413", rec.Code)
	}
	if got := s.in.All(); len(got) != 0 {
		t.Errorf("delivered %d messages", len(got))
	}
}

func TestSlackEventsURLVerification(t *testing.T) {
	s := httpSetup(t)
	rec := fakeslack.EventRequest{Body: fakeslack.URLVerification("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"), Secret: testSecret}.Serve(s.a.EventsHandler())
	var got struct{ Challenge string }
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &got) != nil || got.Challenge != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
		t.Errorf("answer %d %q", rec.Code, rec.Body)
	}
}

func TestSlackEventsRetriesHandledOnce(t *testing.T) {
	s := httpSetup(t)
	cb := s.fs.NewCallback(fakeslack.Event{Type: "message", User: "U0ALICE", Text: "<@" + fakeslack.BotUserID + "> hi", TS: "5.1", Channel: "C0GEN", ChannelType: "channel"})
	body := fakeslack.MarshalCallback(cb)
	h := s.a.EventsHandler()
	for retry := range 3 {
		if rec := (fakeslack.EventRequest{Body: body, Secret: testSecret, RetryNum: retry}).Serve(h); rec.Code != http.StatusOK {
			t.Fatalf("retry %d: status %d", retry, rec.Code)
		}
	}
	// And the app_mention twin of the same message.
	mention := s.fs.NewCallback(fakeslack.Event{Type: "app_mention", User: "U0ALICE", Text: "<@" + fakeslack.BotUserID + "> hi", TS: "5.1", Channel: "C0GEN"})
	if rec := (fakeslack.EventRequest{Body: fakeslack.MarshalCallback(mention), Secret: testSecret}).Serve(h); rec.Code != http.StatusOK {
		t.Fatalf("mention: %d", rec.Code)
	}
	if got := s.in.All(); len(got) != 1 || !got[0].MentionsBot {
		t.Errorf("delivered %+v, want the message once", got)
	}
}

func TestSlackEventsMalformed(t *testing.T) {
	s := httpSetup(t)
	h := s.a.EventsHandler()
	for _, body := range []string{"{", `{"type":"event_callback","event":"x"}`, `{"type":"event_callback","event_time":"x"}`} {
		if rec := (fakeslack.EventRequest{Body: []byte(body), Secret: testSecret}).Serve(h); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", body, rec.Code)
		}
	}
	if rec := (fakeslack.EventRequest{Body: []byte(`{"type":"app_rate_limited","minute_rate_limited":1518467820}`), Secret: testSecret}).Serve(h); rec.Code != http.StatusOK {
		t.Errorf("app_rate_limited: %d", rec.Code)
	}
	if got := s.in.All(); len(got) != 0 {
		t.Errorf("delivered %d messages", len(got))
	}
}

// TestSlackHTTPModeOverNetwork runs the receiver Start serves.
func TestSlackHTTPModeOverNetwork(t *testing.T) {
	s := newSetup(t, "http", nil)
	s.start(t)
	st := chantest.WaitState(t, s.a, channels.StateConnected)
	if st.BotID != fakeslack.BotUserID || st.Mode != "http" {
		t.Errorf("status = %+v", st)
	}
	url := "http://" + s.a.Addr().String() + "/slack/events"
	resp, err := fakeslack.EventRequest{Body: dmBody(s.fs, "over the wire", "6.1"), Secret: testSecret}.Post(t.Context(), nil, url)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if m := s.in.Next(t); m.Text != "over the wire" || m.ChatType != channels.ChatDirect {
		t.Errorf("got %+v", m)
	}
	resp, err = fakeslack.EventRequest{Body: dmBody(s.fs, "forged", "6.2"), Secret: "wrong"}.Post(t.Context(), nil, url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("forged over the wire: %d", resp.StatusCode)
	}
}

func TestSlackHTTPModeBadToken(t *testing.T) {
	s := newSetup(t, "http", func(c *config.SlackAccount) { c.BotToken = secret.New("xoxb-nope") })
	s.start(t)
	st := chantest.WaitState(t, s.a, channels.StateError)
	if !strings.Contains(st.LastError, "invalid_auth") {
		t.Errorf("LastError = %q", st.LastError)
	}
}

func TestInvariant3_SlackHTTPWithoutSigningSecretRefused(t *testing.T) {
	_, err := New(Options{
		Config:  config.SlackAccount{Mode: "http", BotToken: secret.New("xoxb-1")},
		Handler: func(_ context.Context, _ channels.Message) error { return nil },
	})
	if err == nil || !strings.Contains(err.Error(), "signingSecret") {
		t.Fatalf("New = %v, want a refusal naming signingSecret", err)
	}
	// The handler of a socket-mode adapter (no secret) accepts nothing,
	// not even a request "signed" with the empty key.
	s := newSetup(t, "socket", func(c *config.SlackAccount) { c.SigningSecret = secret.Secret{} })
	rec := fakeslack.EventRequest{Body: dmBody(s.fs, "x", "7.1"), Secret: ""}.Serve(s.a.EventsHandler())
	if rec.Code != http.StatusUnauthorized {
		t.Errorf("empty-key signature: %d", rec.Code)
	}
}

func TestSlackHTTPListenFailure(t *testing.T) {
	s := newSetup(t, "http", nil)
	s.start(t)
	busy := s.a.Addr().String()
	s2 := newSetup(t, "http", func(c *config.SlackAccount) { c.WebhookListen = busy })
	if err := s2.a.Start(t.Context()); err == nil || !strings.Contains(err.Error(), "webhookListen") {
		t.Errorf("Start on a busy address = %v", err)
	}
}
