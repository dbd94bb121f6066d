package fakesignal

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func rpc(t *testing.T, s *Server, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(s.URL+"/api/v1/rpc", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
	}
	return resp.StatusCode, out
}

func TestWire(t *testing.T) {
	s := New(t)
	if code, out := rpc(t, s, `{"jsonrpc":"2.0","method":"version","id":1}`); code != 200 || out["result"].(map[string]any)["version"] == nil {
		t.Errorf("version: %d %v", code, out)
	}
	if _, out := rpc(t, s, `{"jsonrpc":"2.0","method":"listAccounts","id":"x"}`); out["error"].(map[string]any)["code"].(float64) != CodeMethodNotFound || out["id"] != "x" {
		t.Errorf("listAccounts in single-account mode: %v", out)
	}
	if code, _ := rpc(t, s, `{"jsonrpc":"2.0","method":"send","params":{"recipient":["+1"],"message":"m"}}`); code != http.StatusCreated {
		t.Errorf("notification answered %d", code)
	}
	s.FailNext("send", Failure{Error: RateLimit("+1", 7)})
	_, out := rpc(t, s, `{"jsonrpc":"2.0","method":"send","params":{"recipient":["+1"],"message":"m"},"id":2}`)
	e := out["error"].(map[string]any)
	res := e["data"].(map[string]any)["response"].(map[string]any)["results"].([]any)[0].(map[string]any)
	if e["code"].(float64) != -5 || res["type"] != "RATE_LIMIT_FAILURE" || res["retryAfterSeconds"].(float64) != 7 {
		t.Errorf("rate limit: %v", out)
	}

	resp, err := http.Post(s.URL+"/api/v1/rpc", "text/plain", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain RPC: %v %v", resp.StatusCode, err)
	}
	req, _ := http.NewRequest(http.MethodGet, s.URL+"/api/v1/check", nil)
	req.Host = "evil.example"
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("foreign Host: %v %v", resp.StatusCode, err)
	}

	resp, err = http.Get(s.URL + "/api/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("content type %q", ct)
	}
	for s.Streams() == 0 {
		time.Sleep(time.Millisecond)
	}
	s.Receive(Envelope{SourceNumber: "+2", Timestamp: 5, DataMessage: &DataMessage{Timestamp: 5, Message: Text("hi")}})
	br := bufio.NewReader(resp.Body)
	var lines []string
	for len(lines) < 4 {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, l)
	}
	if !strings.HasPrefix(lines[0], "id:") || !strings.HasSuffix(lines[0], "-1\n") || lines[1] != "event:receive\n" ||
		!strings.HasPrefix(lines[2], `data:{"account":"+15550001111","envelope":{"sourceNumber":"+2","timestamp":5,`) || lines[3] != "\n" {
		t.Errorf("frame %q", lines)
	}
	s.DropStreams()
	if _, err := io.ReadAll(br); err == nil {
		t.Error("a dropped stream ended cleanly")
	}
}
