package telegram

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/channels"
)

// FuzzParseUpdate feeds arbitrary bytes to the inbound parser and, for
// updates it accepts, checks the result is well formed.
func FuzzParseUpdate(f *testing.F) {
	for _, s := range []string{
		`{"update_id":1,"message":{"message_id":2,"date":1,"chat":{"id":3,"type":"private"},"from":{"id":3,"first_name":"A"},"text":"hi"}}`,
		`{"update_id":1,"message":{"message_id":2,"chat":{"id":-1,"type":"supergroup"},"text":"@talon_test_bot x","entities":[{"type":"mention","offset":0,"length":15}]}}`,
		`{"update_id":1,"message":{"message_id":2,"chat":{"id":-1,"type":"supergroup"},"text":"😀@talon_test_bot","entities":[{"type":"mention","offset":2,"length":15},{"type":"bot_command","offset":-5,"length":99}]}}`,
		`{"update_id":1,"message":{"message_id":2,"chat":{"id":-1,"type":"supergroup"},"is_topic_message":true,"message_thread_id":7,"text":"t","reply_to_message":{"message_id":1,"chat":{"id":-1},"from":{"id":123456789}},"forward_origin":{"type":"future_kind"}}}`,
		`{"update_id":1,"channel_post":{"message_id":2,"chat":{"id":-100,"type":"channel"},"sender_chat":{"id":-100},"caption":"c","photo":[{"file_size":1}]}}`,
		`{"update_id":1,"edited_message":{"message_id":2,"chat":{"id":1,"type":"private"},"text":"e"}}`,
		`{"update_id":1,"message":{"message_id":2,"chat":{"id":1,"type":"private"},"new_chat_members":[{}]}}`,
		`{"update_id":1,"message":null}`,
		`{"update_id":1,"callback_query":{"id":"99","from":{"id":3,"first_name":"A"},"message":{"message_id":2,"chat":{"id":3,"type":"private"}},"chat_instance":"c","data":"approve:abcdefghjk:deny"}}`,
		`{"update_id":1,"callback_query":{"id":"","from":{"id":0}}}`,
		`[]`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok, err := parseUpdate(data, 123456789, "talon_test_bot")
		if err != nil || !ok {
			return
		}
		if m.Action != nil {
			// A button press: from someone, answerable, never text for
			// a turn.
			if m.Action.ID == "" || m.SenderID == "" || m.ChatID == "" || m.Text != "" || !strings.HasPrefix(m.ID, "cb:") {
				t.Fatalf("press %+v (action %+v)", m, m.Action)
			}
			return
		}
		if m.Text == "" && len(m.Attachments) == 0 {
			t.Fatalf("empty message accepted: %+v", m)
		}
		switch m.ChatType {
		case channels.ChatDirect, channels.ChatGroup, channels.ChatChannel:
		default:
			t.Fatalf("chat type %q", m.ChatType)
		}
		if !strings.Contains(m.ID, ":") || m.ChatID == "" {
			t.Fatalf("ids %q %q", m.ID, m.ChatID)
		}
	})
}

// FuzzWebhookHandler drives the whole webhook handler with arbitrary
// bodies: it must answer and never panic, and a body it accepts must be
// valid JSON.
func FuzzWebhookHandler(f *testing.F) {
	f.Add([]byte(`{"update_id":1,"message":{"message_id":2,"chat":{"id":3,"type":"private"},"from":{"id":3},"text":"hi"}}`))
	f.Add([]byte(`{"update_id":"x"}`))
	f.Add([]byte(`garbage`))
	a := &Adapter{webhook: true, secret: digest("k"), account: "default", tracker: channels.NewTracker("telegram", "default", "webhook", channels.Scrubber(nil))}
	a.botID, a.botName = 1, "b"
	a.log = slog.New(slog.DiscardHandler)
	a.handler = func(context.Context, channels.Message) error { return nil }
	f.Fuzz(func(t *testing.T, body []byte) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(string(body)))
		req.Header.Set(SecretHeader, "k")
		rec := httptest.NewRecorder()
		a.WebhookHandler().ServeHTTP(rec, req)
		if rec.Code == 200 && !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
	})
}
