package faketelegram

import (
	"bytes"
	"encoding/json"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type answer struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter int `json:"retry_after"`
	} `json:"parameters"`
}

func call(t *testing.T, s *Server, token, method, contentType string, body []byte) (int, answer) {
	t.Helper()
	resp, err := http.Post(s.URL+"/bot"+token+"/"+method, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a answer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, a
}

func TestEncodingsAndErrors(t *testing.T) {
	s := New(t)
	if code, a := call(t, s, "1:wrong", "getMe", "application/json", nil); code != 401 || a.OK || a.ErrorCode != 401 || a.Description != "Unauthorized" {
		t.Errorf("bad token: %d %+v", code, a)
	}
	// JSON, urlencoded and multipart bodies all reach sendMessage.
	call(t, s, s.Token, "sendMessage", "application/json", []byte(`{"chat_id":-5,"text":"json","message_thread_id":3,"reply_parameters":{"message_id":9}}`))
	call(t, s, s.Token, "sendMessage", "application/x-www-form-urlencoded", []byte(url.Values{"chat_id": {"7"}, "text": {"form"}}.Encode()))
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	w.WriteField("chat_id", "8")
	w.WriteField("text", "multi")
	w.Close()
	code, a := call(t, s, s.Token, "sendMessage", w.FormDataContentType(), buf.Bytes())
	if code != 200 || !a.OK {
		t.Fatalf("multipart: %d %+v", code, a)
	}
	sent := s.WaitSent(3, time.Second)
	if sent[0].ChatID != "-5" || sent[0].ThreadID != 3 || sent[0].ReplyTo != 9 || sent[1].Text != "form" || sent[2].ChatID != "8" {
		t.Errorf("sent %+v", sent)
	}
	s.FailSend(1, 7)
	if code, a := call(t, s, s.Token, "sendMessage", "application/json", []byte(`{"chat_id":1,"text":"x"}`)); code != 429 || a.Parameters.RetryAfter != 7 || !strings.Contains(a.Description, "retry after 7") {
		t.Errorf("429: %d %+v", code, a)
	}
	if code, _ := call(t, s, s.Token, "sendMessage", "application/json", []byte(`{"chat_id":1,"text":"`+strings.Repeat("a", 4097)+`"}`)); code != 400 {
		t.Errorf("too long: %d", code)
	}
}

func TestGetUpdatesOffsets(t *testing.T) {
	s := New(t)
	ids := s.Push(s.DM(User{ID: 1, FirstName: "A"}, "one"), s.DM(User{ID: 1, FirstName: "A"}, "two"))
	get := func(offset int64) []Update {
		body, _ := json.Marshal(map[string]any{"offset": offset, "timeout": 0})
		_, a := call(t, s, s.Token, "getUpdates", "application/json", body)
		var us []Update
		json.Unmarshal(a.Result, &us)
		return us
	}
	if us := get(0); len(us) != 2 {
		t.Fatalf("got %d updates", len(us))
	}
	if us := get(ids[1]); len(us) != 1 || us[0].UpdateID != ids[1] || s.Pending() != 1 {
		t.Fatalf("offset %d: %+v, pending %d", ids[1], us, s.Pending())
	}
	s.Redeliver(ids[0])
	if us := get(ids[1] + 1); len(us) != 1 || us[0].UpdateID != ids[0] {
		t.Fatalf("redelivery: %+v", us)
	}
	// A long poll returns as soon as an update is pushed.
	go func() { time.Sleep(50 * time.Millisecond); s.Push(s.DM(User{ID: 1}, "late")) }()
	body, _ := json.Marshal(map[string]any{"offset": ids[1] + 1, "timeout": 10})
	start := time.Now()
	_, a := call(t, s, s.Token, "getUpdates", "application/json", body)
	var us []Update
	json.Unmarshal(a.Result, &us)
	if len(us) != 1 || us[0].Message.Text != "late" || time.Since(start) > 5*time.Second {
		t.Errorf("long poll: %+v after %s", us, time.Since(start))
	}
	s.SetWebhook("https://x/h")
	if code, _ := call(t, s, s.Token, "getUpdates", "application/json", nil); code != 409 {
		t.Errorf("getUpdates with a webhook: %d", code)
	}
}
