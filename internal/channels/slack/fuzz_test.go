package slack

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/fakeslack"
)

// FuzzEventsHandler drives the whole Events API receiver with validly
// signed bodies: it must not panic, must answer 200 or 400, and whatever
// it delivers must carry the ids the Router relies on.
func FuzzEventsHandler(f *testing.F) {
	for _, seed := range []string{
		`{"type":"url_verification","challenge":"c"}`,
		`{"type":"event_callback","event_id":"Ev1","event":{"type":"message","user":"U1","text":"hi <@UBOT>","ts":"1.2","channel":"C1","channel_type":"channel"}}`,
		`{"type":"event_callback","event_id":"Ev2","event":{"type":"app_mention","user":"U1","text":"x","ts":"1712345678.000100","thread_ts":"1712345600.000001","parent_user_id":"UBOT","channel":"D1"}}`,
		`{"type":"event_callback","event_id":"Ev3","event":{"type":"message","subtype":"file_share","user":"U1","ts":"9","channel":"G1","channel_type":"mpim","files":[{"name":"a","mimetype":"audio/ogg","size":3}]}}`,
		`{"type":"event_callback","event":{"type":"message","subtype":"message_changed","message":{"text":"x"}}}`,
		`{"type":"event_callback","event":null}`,
		`{"type":"event_callback","event":{"type":"message","user":"U1","ts":"99999999999999999999.9999999","channel":"C"}}`,
		`{"type":"app_rate_limited"}`,
		`[]`, `"x"`, ``,
	} {
		f.Add([]byte(seed))
	}
	var delivered []channels.Message
	a, err := New(Options{
		Config: config.SlackAccount{Mode: "http", BotToken: secret.New("xoxb-f"), SigningSecret: secret.New(testSecret)},
		Handler: func(_ context.Context, m channels.Message) error {
			delivered = append(delivered, m)
			return nil
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	a.botUserID = "UBOT"
	h := a.EventsHandler()
	f.Fuzz(func(t *testing.T, body []byte) {
		delivered = delivered[:0]
		rec := fakeslack.EventRequest{Body: body, Secret: testSecret}.Serve(h)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest && rec.Code != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d for %q", rec.Code, body)
		}
		for _, m := range delivered {
			if m.ID == "" || m.SenderID == "" || m.ChatID == "" || m.SenderID == "UBOT" {
				t.Fatalf("bad message %+v from %q", m, body)
			}
			switch m.ChatType {
			case channels.ChatDirect, channels.ChatGroup, channels.ChatChannel:
			default:
				t.Fatalf("chat type %q", m.ChatType)
			}
		}
	})
}

// FuzzInteractivity drives the receiver with validly signed interactivity
// requests carrying arbitrary payloads: it must not panic, must answer
// 200 or 400, and whatever it delivers is a button press from someone,
// never text for a turn.
func FuzzInteractivity(f *testing.F) {
	for _, seed := range []string{
		`{"type":"block_actions","user":{"id":"U1"},"channel":{"id":"D1"},"container":{"message_ts":"1.2","channel_id":"D1"},"trigger_id":"t","actions":[{"action_id":"a","value":"approve:abcdefghjk:deny","action_ts":"1.3"}]}`,
		`{"type":"block_actions","user":{"id":"U1"},"container":{"channel_id":"C1"},"actions":[{},{}]}`,
		`{"type":"view_submission","user":{"id":"U1"}}`,
		`{"type":"block_actions","user":{"id":""}}`,
		`[]`, `null`, ``,
	} {
		f.Add(seed)
	}
	var delivered []channels.Message
	a, err := New(Options{
		Config: config.SlackAccount{Mode: "http", BotToken: secret.New("xoxb-f"), SigningSecret: secret.New(testSecret)},
		Handler: func(_ context.Context, m channels.Message) error {
			delivered = append(delivered, m)
			return nil
		},
	})
	if err != nil {
		f.Fatal(err)
	}
	a.botUserID = "UBOT"
	h := a.EventsHandler()
	f.Fuzz(func(t *testing.T, payload string) {
		delivered = delivered[:0]
		body := []byte(url.Values{"payload": {payload}}.Encode())
		rec := fakeslack.EventRequest{Body: body, Secret: testSecret, ContentType: "application/x-www-form-urlencoded"}.Serve(h)
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("status %d for %q", rec.Code, payload)
		}
		for _, m := range delivered {
			if m.Action == nil || m.Text != "" || m.ID == "" || m.SenderID == "" || m.ChatID == "" {
				t.Fatalf("bad press %+v from %q", m, payload)
			}
		}
	})
}
