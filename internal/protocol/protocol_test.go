package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	cases := []struct {
		in      string
		ok      bool
		id      string
		errPart string
	}{
		{`{"type":"req","id":"1","method":"health"}`, true, "1", ""},
		{`{"type":"req","id":"1","method":"health","params":{}}`, true, "1", ""},
		{`{"type":"req","id":"1","method":"health","params":null}`, true, "1", ""},
		{`{"type":"req","id":"1","method":"health","extra":true}`, true, "1", ""},
		{`{"type":"res","id":"1","method":"health"}`, false, "1", "frame type"},
		{`{"type":"req","id":"","method":"health"}`, false, "", "id"},
		{`{"type":"req","id":1,"method":"health"}`, false, "", "id"},
		{`{"type":"req","method":"health"}`, false, "", "missing id"},
		{`{"type":"req","id":"1"}`, false, "1", "method"},
		{`{"type":"req","id":"1","method":""}`, false, "1", "method"},
		{`{"type":"req","id":"1","method":"health","params":"x"}`, false, "1", "params"},
		{`{"type":"req","id":"1","method":"health","params":[]}`, false, "1", "params"},
		{`{"type":"req","id":"1","method":"health"}{}`, false, "", "trailing"},
		{`[]`, false, "", "object"},
		{`null`, false, "", "object"},
		{``, false, "", "object"},
		{"\xff", false, "", "UTF-8"},
		{`{"type":"req","id":"` + strings.Repeat("x", MaxIDLen+1) + `","method":"health"}`, false, "", "id"},
	}
	for _, tc := range cases {
		req, id, err := DecodeRequest([]byte(tc.in))
		if tc.ok != (err == nil) {
			t.Errorf("%q: err = %v", tc.in, err)
			continue
		}
		if id != tc.id {
			t.Errorf("%q: id %q, want %q", tc.in, id, tc.id)
		}
		if err != nil {
			if err.Code != CodeInvalidRequest || !strings.Contains(err.Message, tc.errPart) {
				t.Errorf("%q: %v", tc.in, err)
			}
			continue
		}
		if req.Method != "health" {
			t.Errorf("%q: method %q", tc.in, req.Method)
		}
	}
}

func TestFrameShapes(t *testing.T) {
	// The shapes OpenClaw clients parse (DESIGN §2).
	seq := int64(3)
	b, _ := json.Marshal(Event{Type: TypeEvent, Event: "tick", Payload: map[string]int{"ts": 1}, Seq: &seq})
	if string(b) != `{"type":"event","event":"tick","payload":{"ts":1},"seq":3}` {
		t.Fatal(string(b))
	}
	b, _ = json.Marshal(ErrorResponse("7", Errorf(CodeForbidden, "no").WithDetails(map[string]any{"code": DetailMissingScope})))
	if string(b) != `{"type":"res","id":"7","ok":false,"error":{"code":"FORBIDDEN","message":"no","details":{"code":"MISSING_SCOPE"}}}` {
		t.Fatal(string(b))
	}
	b, _ = json.Marshal(OKResponse("8", map[string]bool{"ok": true}))
	if string(b) != `{"type":"res","id":"8","ok":true,"payload":{"ok":true}}` {
		t.Fatal(string(b))
	}
	b, _ = json.Marshal(Errorf(CodeAuthRateLimited, "wait").WithRetry(300000))
	if string(b) != `{"code":"AUTH_RATE_LIMITED","message":"wait","retryable":true,"retryAfterMs":300000}` {
		t.Fatal(string(b))
	}
}

func TestConnectParamsAcceptExtras(t *testing.T) {
	// OpenClaw's CLI sends fields Talon does not use; they must not fail.
	in := `{"minProtocol":4,"maxProtocol":4,"client":{"id":"cli","version":"2026.9.6","platform":"linux","mode":"cli","instanceId":"i-1","deviceFamily":"desktop"},"caps":[],"role":"operator","scopes":["operator.read"],"auth":{"token":"t"},"locale":"en","userAgent":"x","commands":[],"permissions":{}}`
	var p ConnectParams
	if err := DecodeParams(json.RawMessage(in), &p); err != nil {
		t.Fatal(err)
	}
	if p.Client.InstanceID != "i-1" || p.Auth.Token != "t" || p.Client.DeviceFamily != "desktop" {
		t.Fatalf("%+v", p)
	}
	if err := DecodeParams(json.RawMessage(`{"minProtocol":"4"}`), &p); err == nil || !strings.Contains(err.Message, "minProtocol") {
		t.Fatalf("wrong type accepted: %v", err)
	}
}

func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"type":"req","id":"1","method":"connect","params":{"minProtocol":4,"maxProtocol":4}}`,
		`{"type":"req","id":"x","method":"health"}`,
		`{"type":"event","event":"tick"}`,
		`{"type":"req","id":"1","method":"a","params":null}`,
		`[1,2]`, `"str"`, `{`, `{"id":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		req, id, err := DecodeRequest(data)
		if err == nil {
			if req == nil || req.ID == "" || req.Method == "" || req.ID != id || len(req.ID) > MaxIDLen {
				t.Fatalf("accepted a bad request: %+v", req)
			}
			var p ConnectParams
			_ = DecodeParams(req.Params, &p)
			if _, merr := json.Marshal(ErrorResponse(id, Errorf(CodeInvalidRequest, "x"))); merr != nil {
				t.Fatal(merr)
			}
		} else if err.Code == "" || err.Message == "" {
			t.Fatal("error without code or message")
		}
	})
}
