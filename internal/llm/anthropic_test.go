// Tests for the Anthropic provider, against in-test servers on loopback that
// speak the messages API's wire format (JSON and SSE), through the real SDK.

package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/fakenet"
)

// wireReq is one request as a test server received it.
type wireReq struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// wireServer is a loopback HTTP server that records requests and answers
// them with handle.
type wireServer struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []wireReq
}

func newWireServer(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, body []byte)) *wireServer {
	t.Helper()
	s := &wireServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.reqs = append(s.reqs, wireReq{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		handle(w, r, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *wireServer) requests() []wireReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]wireReq(nil), s.reqs...)
}

func (s *wireServer) only(t *testing.T) wireReq {
	t.Helper()
	reqs := s.requests()
	if len(reqs) != 1 {
		t.Fatalf("server saw %d requests, want 1", len(reqs))
	}
	return reqs[0]
}

// sseWriter writes server-sent events, flushing each.
func sseWriter(w http.ResponseWriter) func(event, data string) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	f := w.(http.Flusher)
	return func(event, data string) {
		if event != "" {
			fmt.Fprintf(w, "event: %s\n", event)
		}
		fmt.Fprintf(w, "data: %s\n\n", data)
		f.Flush()
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// jsonEqual compares got (JSON) with want (JSON) as values.
func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %v in %s", what, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad want: %v", what, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// modes runs f non-streaming (nil onDelta) and streaming.
func modes(t *testing.T, f func(t *testing.T, stream bool)) {
	t.Run("json", func(t *testing.T) { f(t, false) })
	t.Run("sse", func(t *testing.T) { f(t, true) })
}

func collect(stream bool) (func(Delta), *[]Delta) {
	var ds []Delta
	if !stream {
		return nil, &ds
	}
	return func(d Delta) { ds = append(ds, d) }, &ds
}

func newTestAnthropic(t *testing.T, baseURL, key string) Provider {
	t.Helper()
	p, err := newAnthropic(Config{ID: "claude", API: APIAnthropicMessages, BaseURL: baseURL, APIKey: secret.New(key), HTTPClient: testClient(baseURL)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const anthSearchSchema = `{"type":"object","properties":{"q":{"type":"string"}},"required":["q"],"additionalProperties":false}`

func TestAnthropicRequestAndResponse(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
			"content":[{"type":"text","text":"Let me look."},{"type":"tool_use","id":"toolu_03","name":"search","input":{"q":"weather"}}],
			"stop_reason":"tool_use","stop_sequence":null,
			"usage":{"input_tokens":120,"output_tokens":33,"cache_read_input_tokens":64,"cache_creation_input_tokens":16}}`)
	})
	p := newTestAnthropic(t, srv.URL, "sk-ant-test-123")
	resp, err := p.Chat(testCtx(t), Request{
		Model:  "claude-sonnet-4-5",
		System: "be brief",
		Tools:  []ToolSpec{{Name: "search", Description: "web search", Parameters: json.RawMessage(anthSearchSchema)}, {Name: "now"}},
		Messages: []Message{
			{Role: RoleUser, Content: "hi"},
			{Role: RoleAssistant, Content: "checking", ToolCalls: []ToolCall{
				{ID: "toolu_01", Name: "search", Args: json.RawMessage(`{"q":"x"}`)},
				{ID: "toolu_02", Name: "search", Args: json.RawMessage(`{"q":`)}, // invalid: replayed as {}
			}},
			{Role: RoleTool, ToolCallID: "toolu_01", ToolName: "search", Content: "r1"},
			{Role: RoleTool, ToolCallID: "toolu_02", ToolName: "search", Content: "bad arguments", IsError: true},
			{Role: RoleUser, Content: "thanks"},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	req := srv.only(t)
	if req.Method != "POST" || req.Path != "/v1/messages" {
		t.Fatalf("request %s %s, want POST /v1/messages", req.Method, req.Path)
	}
	if got := req.Header.Get("X-Api-Key"); got != "sk-ant-test-123" {
		t.Fatalf("x-api-key %q", got)
	}
	if got := req.Header.Get("Anthropic-Version"); got != "2023-06-01" {
		t.Fatalf("anthropic-version %q", got)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Fatalf("Authorization %q, want none", got)
	}
	if got := req.Header.Get("X-Stainless-Retry-Count"); got != "" && got != "0" {
		t.Fatalf("retry count %q: the SDK must not retry", got)
	}
	jsonEqual(t, "request body", req.Body, `{
		"model": "claude-sonnet-4-5",
		"max_tokens": 4096,
		"system": [{"type":"text","text":"be brief"}],
		"messages": [
			{"role":"user","content":[{"type":"text","text":"hi"}]},
			{"role":"assistant","content":[
				{"type":"text","text":"checking"},
				{"type":"tool_use","id":"toolu_01","name":"search","input":{"q":"x"}},
				{"type":"tool_use","id":"toolu_02","name":"search","input":{}}]},
			{"role":"user","content":[
				{"type":"tool_result","tool_use_id":"toolu_01","content":[{"type":"text","text":"r1"}],"is_error":false},
				{"type":"tool_result","tool_use_id":"toolu_02","content":[{"type":"text","text":"bad arguments"}],"is_error":true}]},
			{"role":"user","content":[{"type":"text","text":"thanks"}]}
		],
		"tools": [
			{"name":"search","description":"web search","input_schema":`+anthSearchSchema+`},
			{"name":"now","input_schema":{"type":"object"}}
		]
	}`)

	want := &Response{
		Message: Message{Role: RoleAssistant, Content: "Let me look.", ToolCalls: []ToolCall{
			{ID: "toolu_03", Name: "search", Args: json.RawMessage(`{"q":"weather"}`)}}},
		Usage:      Usage{InputTokens: 120, OutputTokens: 33, CacheReadTokens: 64, CacheWriteTokens: 16},
		StopReason: StopToolUse,
		Model:      "claude-sonnet-4-5-20250929",
	}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("response\n got %+v\nwant %+v", resp, want)
	}
}

func TestAnthropicMaxTokensAndBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ suffix, path string }{
		{"", "/v1/messages"},
		{"/", "/v1/messages"},
		{"/v1", "/v1/messages"},
		{"/proxy/anthropic/", "/proxy/anthropic/v1/messages"},
	} {
		srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, `{"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`)
		})
		p := newTestAnthropic(t, srv.URL+tc.suffix, "k")
		if _, err := p.Chat(testCtx(t), Request{Model: "c", MaxTokens: 777, Messages: []Message{{Role: RoleUser, Content: "x"}}}, nil); err != nil {
			t.Fatalf("%q: %v", tc.suffix, err)
		}
		req := srv.only(t)
		if req.Path != tc.path {
			t.Fatalf("base URL suffix %q: path %q, want %q", tc.suffix, req.Path, tc.path)
		}
		var body struct {
			MaxTokens int `json:"max_tokens"`
		}
		if err := json.Unmarshal(req.Body, &body); err != nil || body.MaxTokens != 777 {
			t.Fatalf("max_tokens %d (%v), want 777", body.MaxTokens, err)
		}
	}
}

// anthStreamStart is a message_start event as the API sends it.
const anthStreamStart = `{"type":"message_start","message":{"id":"msg_02","type":"message","role":"assistant","content":[],"model":"claude-haiku-4-5-20251001","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"cache_creation_input_tokens":3,"cache_read_input_tokens":5,"output_tokens":1}}}`

func TestAnthropicStreamingText(t *testing.T) {
	t.Parallel()
	firstSeen := make(chan struct{})
	srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		send := sseWriter(w)
		send("message_start", anthStreamStart)
		send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		send("ping", `{"type": "ping"}`)
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`)
		// The rest is only written once the client has the first delta:
		// deltas must reach onDelta as they arrive, not at the end.
		select {
		case <-firstSeen:
		case <-time.After(10 * time.Second):
			return
		}
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo, "}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"world"}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":0}`)
		send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}`)
		send("message_stop", `{"type":"message_stop"}`)
	})
	p := newTestAnthropic(t, srv.URL, "k")
	var texts []string
	resp, err := p.Chat(testCtx(t), Request{Model: "claude-haiku-4-5", Messages: []Message{{Role: RoleUser, Content: "hi"}}}, func(d Delta) {
		if d.ToolCall != nil {
			t.Errorf("unexpected tool call %+v", d.ToolCall)
		}
		texts = append(texts, d.Text)
		if len(texts) == 1 {
			close(firstSeen)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"Hel", "lo, ", "world"}; !reflect.DeepEqual(texts, want) {
		t.Fatalf("deltas %q, want %q", texts, want)
	}
	want := &Response{
		Message:    Message{Role: RoleAssistant, Content: "Hello, world"},
		Usage:      Usage{InputTokens: 25, OutputTokens: 15, CacheReadTokens: 5, CacheWriteTokens: 3},
		StopReason: StopEndTurn,
		Model:      "claude-haiku-4-5-20251001",
	}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("response\n got %+v\nwant %+v", resp, want)
	}
	var body struct {
		Stream bool `json:"stream"`
	}
	if err := json.Unmarshal(srv.only(t).Body, &body); err != nil || !body.Stream {
		t.Fatalf("request did not ask for a stream (%v)", err)
	}
}

func TestAnthropicStreamingToolCalls(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		send := sseWriter(w)
		send("message_start", anthStreamStart)
		send("content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Checking."}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":0}`)
		send("content_block_start", `{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01A","name":"get_weather","input":{}}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"loc"}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ation\": \"Par"}}`)
		send("content_block_delta", `{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\", \"unit\": \"c\"}"}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":1}`)
		send("content_block_start", `{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_01B","name":"now","input":{}}}`)
		send("content_block_stop", `{"type":"content_block_stop","index":2}`)
		send("message_delta", `{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":89}}`)
		send("message_stop", `{"type":"message_stop"}`)
	})
	p := newTestAnthropic(t, srv.URL, "k")
	var got []string
	resp, err := p.Chat(testCtx(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "weather?"}}}, func(d Delta) {
		if d.ToolCall != nil {
			got = append(got, fmt.Sprintf("call %s %s %s", d.ToolCall.ID, d.ToolCall.Name, d.ToolCall.Args))
		} else {
			got = append(got, "text "+d.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"text Checking.",
		`call toolu_01A get_weather {"location": "Paris", "unit": "c"}`,
		"call toolu_01B now {}",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deltas\n got %q\nwant %q", got, want)
	}
	wantCalls := []ToolCall{
		{ID: "toolu_01A", Name: "get_weather", Args: json.RawMessage(`{"location": "Paris", "unit": "c"}`)},
		{ID: "toolu_01B", Name: "now", Args: json.RawMessage(`{}`)},
	}
	if !reflect.DeepEqual(resp.Message.ToolCalls, wantCalls) || resp.Message.Content != "Checking." {
		t.Fatalf("message %+v", resp.Message)
	}
	if resp.StopReason != StopToolUse || resp.Usage.OutputTokens != 89 || resp.Usage.InputTokens != 25 {
		t.Fatalf("stop %q usage %+v", resp.StopReason, resp.Usage)
	}
}

func TestAnthropicStopReasons(t *testing.T) {
	t.Parallel()
	for api, want := range map[string]string{
		"end_turn":                      StopEndTurn,
		"stop_sequence":                 StopEndTurn,
		"tool_use":                      StopToolUse,
		"max_tokens":                    StopMaxTokens,
		"model_context_window_exceeded": StopMaxTokens,
		"refusal":                       StopOther,
		"pause_turn":                    StopOther,
	} {
		modes(t, func(t *testing.T, stream bool) {
			srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				if !stream {
					w.Header().Set("Content-Type", "application/json")
					fmt.Fprintf(w, `{"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"x"}],"stop_reason":%q,"usage":{"input_tokens":1,"output_tokens":1}}`, api)
					return
				}
				send := sseWriter(w)
				send("message_start", anthStreamStart)
				send("message_delta", fmt.Sprintf(`{"type":"message_delta","delta":{"stop_reason":%q,"stop_sequence":null},"usage":{"output_tokens":2}}`, api))
				send("message_stop", `{"type":"message_stop"}`)
			})
			onDelta, _ := collect(stream)
			resp, err := newTestAnthropic(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "c", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StopReason != want {
				t.Fatalf("stop_reason %q: got %q, want %q", api, resp.StopReason, want)
			}
		})
	}
}

func TestAnthropicHTTPErrors(t *testing.T) {
	t.Parallel()
	const key = "sk-ant-secret-key-0123456789"
	retryDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantMsg    string
		retryable  bool
		retryAfter time.Duration // 0: none; -1: about 90s (an HTTP date)
	}{
		{"rate limit", 429, map[string]string{"Retry-After": "7"},
			`{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"},"request_id":"req_1"}`,
			"rate_limit_error: Number of request tokens has exceeded your per-minute rate limit", true, 7 * time.Second},
		{"overloaded with date", 529, map[string]string{"Retry-After": retryDate},
			`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`, "overloaded_error: Overloaded", true, -1},
		{"bad request", 400, nil,
			`{"type":"error","error":{"type":"invalid_request_error","message":"messages: roles must alternate"}}`,
			"invalid_request_error: messages: roles must alternate", false, 0},
		{"auth echoes key", 401, nil,
			`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key ` + key + `"}}`,
			"authentication_error: invalid x-api-key ***", false, 0},
		{"server says do not retry", 500, map[string]string{"X-Should-Retry": "false"},
			`{"type":"error","error":{"type":"api_error","message":"Internal server error"}}`, "api_error: Internal server error", false, 0},
		{"html from a proxy", 502, nil, "<html><body>Bad Gateway</body></html>", "<html><body>Bad Gateway</body></html>", true, 0},
		{"not implemented", 501, nil, `{"type":"error","error":{"type":"api_error","message":"nope"}}`, "api_error: nope", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, stream bool) {
				srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
				})
				onDelta, _ := collect(stream)
				_, err := newTestAnthropic(t, srv.URL, key).Chat(testCtx(t), Request{Model: "c", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("error %v (%T), want *APIError", err, err)
				}
				if ae.Provider != "claude" || ae.Status != tc.status || ae.Message != tc.wantMsg || ae.Retryable != tc.retryable {
					t.Fatalf("got %+v\nwant status %d message %q retryable %v", ae, tc.status, tc.wantMsg, tc.retryable)
				}
				switch {
				case tc.retryAfter == -1:
					if ae.RetryAfter < 80*time.Second || ae.RetryAfter > 91*time.Second {
						t.Fatalf("RetryAfter %v, want about 90s", ae.RetryAfter)
					}
				case ae.RetryAfter != tc.retryAfter:
					t.Fatalf("RetryAfter %v, want %v", ae.RetryAfter, tc.retryAfter)
				}
				if strings.Contains(err.Error(), key) {
					t.Fatalf("error shows the key: %v", err)
				}
				if n := len(srv.requests()); n != 1 {
					t.Fatalf("%d requests: the SDK retried", n)
				}
			})
		})
	}
}

func TestAnthropicStreamFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		events    [][2]string
		wantMsg   string // substring
		status    int
		retryable bool
	}{
		{"error event", [][2]string{
			{"message_start", anthStreamStart},
			{"error", `{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`},
		}, "overloaded_error: Overloaded", 529, true},
		{"cut off", [][2]string{
			{"message_start", anthStreamStart},
			{"content_block_start", `{"type":"content_block_start","index":0,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}}`},
			{"content_block_delta", `{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"a\""}}`},
		}, "stream ended before message_stop", 0, true},
		{"garbage data", [][2]string{
			{"message_start", `{"type":"message_start","message":{not json`},
		}, "invalid response", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
				send := sseWriter(w)
				for _, ev := range tc.events {
					send(ev[0], ev[1])
				}
			})
			var deltas int
			_, err := newTestAnthropic(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "c", Messages: []Message{{Role: RoleUser, Content: "x"}}}, func(Delta) { deltas++ })
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *APIError", err, err)
			}
			if !strings.Contains(ae.Message, tc.wantMsg) || ae.Status != tc.status || ae.Retryable != tc.retryable {
				t.Fatalf("got %+v, want message ~%q status %d retryable %v", ae, tc.wantMsg, tc.status, tc.retryable)
			}
			if deltas != 0 {
				t.Fatalf("%d deltas: a half-built tool call was emitted", deltas)
			}
		})
	}
}

func TestAnthropicGarbageJSONBody(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, "<html>this is not the API</html>")
	})
	_, err := newTestAnthropic(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "c", Messages: []Message{{Role: RoleUser, Content: "x"}}}, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Retryable || !strings.HasPrefix(ae.Message, "invalid response: ") {
		t.Fatalf("error %#v, want a non-retryable invalid response", err)
	}
}

func TestAnthropicRequestErrors(t *testing.T) {
	t.Parallel()
	p := newTestAnthropic(t, "http://127.0.0.1:1", "k")
	for _, req := range []Request{
		{Messages: []Message{{Role: RoleUser, Content: "x"}}},
		{Model: "c", Messages: []Message{{Role: "system", Content: "x"}}},
		{Model: "c", Messages: []Message{{Role: RoleUser, Content: "x"}}, Tools: []ToolSpec{{Name: "t", Parameters: json.RawMessage(`[1]`)}}},
	} {
		if _, err := p.Chat(testCtx(t), req, nil); err == nil || !strings.HasPrefix(err.Error(), "llm.anthropic.Chat: ") {
			t.Fatalf("%+v: error %v", req, err)
		}
	}
	if _, err := newAnthropic(Config{ID: "a", BaseURL: "http://127.0.0.1:1"}); err == nil {
		t.Fatal("no error without an HTTP client")
	}
	if _, err := newAnthropic(Config{ID: "a", BaseURL: "ftp://x", HTTPClient: netguard.Policy{}.Client()}); err == nil {
		t.Fatal("no error for an ftp base URL")
	}
}

// recorder is a public endpoint's record of the URL and headers of every
// request it got: it shows where a client went.
type recorder struct {
	mu     sync.Mutex
	urls   []string
	header []http.Header
}

// publicEndpoint serves body as JSON at https://host on a fakenet (host
// resolves to a public-looking address; its certificate is trusted by the
// returned client, a netguard client on that network) and records every
// request.
func publicEndpoint(t *testing.T, host, body string) (*recorder, *http.Client) {
	n := fakenet.New(t)
	rec := &recorder{}
	n.ServeTLS(host, 443, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.urls = append(rec.urls, "https://"+r.Host+r.URL.RequestURI())
		rec.header = append(rec.header, r.Header.Clone())
		rec.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	return rec, netguard.Policy{Hooks: n.Hooks()}.Client()
}

func TestAnthropicIgnoresEnvironment(t *testing.T) {
	trap := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(500) })
	t.Setenv("ANTHROPIC_API_KEY", "sk-ant-from-environment")
	t.Setenv("ANTHROPIC_AUTH_TOKEN", "token-from-environment")
	t.Setenv("ANTHROPIC_BASE_URL", trap.URL)
	t.Setenv("ANTHROPIC_CUSTOM_HEADERS", "X-Leak: from-environment")
	t.Setenv("ANTHROPIC_PROFILE", "profile-from-environment")
	t.Setenv("ANTHROPIC_CONFIG_DIR", t.TempDir())
	t.Setenv("ANTHROPIC_FEDERATION_RULE_ID", "rule-from-environment")
	t.Setenv("ANTHROPIC_ORGANIZATION_ID", "org-from-environment")
	t.Setenv("ANTHROPIC_IDENTITY_TOKEN", "jwt-from-environment")
	t.Setenv("ANTHROPIC_OPEN_TELEMETRY", "true")

	const okBody = `{"id":"m","type":"message","role":"assistant","model":"c","content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{"input_tokens":1,"output_tokens":1}}`
	req := Request{Model: "c", Messages: []Message{{Role: RoleUser, Content: "x"}}}
	checkHeaders := func(t *testing.T, h http.Header, wantKey string) {
		t.Helper()
		if got := h.Get("X-Api-Key"); got != wantKey {
			t.Fatalf("x-api-key %q, want %q", got, wantKey)
		}
		for name, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, "environment") {
					t.Fatalf("header %s: %q came from the environment", name, v)
				}
			}
		}
		if h.Get("Authorization") != "" || h.Get("X-Leak") != "" || h.Get("Traceparent") != "" {
			t.Fatalf("headers from the environment: %v", h)
		}
	}

	t.Run("configured base URL", func(t *testing.T) {
		srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			io.WriteString(w, okBody)
		})
		for _, key := range []string{"sk-ant-configured", ""} {
			if _, err := newTestAnthropic(t, srv.URL, key).Chat(testCtx(t), req, nil); err != nil {
				t.Fatalf("key %q: %v", key, err)
			}
		}
		reqs := srv.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests at the configured URL, want 2", len(reqs))
		}
		checkHeaders(t, reqs[0].Header, "sk-ant-configured")
		checkHeaders(t, reqs[1].Header, "")
	})
	t.Run("public endpoint", func(t *testing.T) {
		rt, hc := publicEndpoint(t, "api.anthropic.com", okBody)
		p, err := newAnthropic(Config{ID: "anthropic", APIKey: secret.New("sk-ant-configured"), HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Chat(testCtx(t), req, nil); err != nil {
			t.Fatal(err)
		}
		if len(rt.urls) != 1 || rt.urls[0] != "https://api.anthropic.com/v1/messages" {
			t.Fatalf("requests to %q, want only https://api.anthropic.com/v1/messages", rt.urls)
		}
		checkHeaders(t, rt.header[0], "sk-ant-configured")
	})
	if n := len(trap.requests()); n != 0 {
		t.Fatalf("%d requests went where the environment points", n)
	}
}

// The helpers shared by both providers, directly.
func TestAnthropicSharedHelpers(t *testing.T) {
	t.Parallel()
	for body, wantErr := range map[string]bool{"abc": false, "ab": false, "abcd": true} {
		b := &sdkBoundedBody{rc: io.NopCloser(strings.NewReader(body)), left: 3}
		got, err := io.ReadAll(b)
		if wantErr != errors.Is(err, errSDKResponseTooLarge) || (!wantErr && string(got) != body) {
			t.Fatalf("body %q under a 3-byte bound: %q, %v", body, got, err)
		}
	}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"30"}}, 30 * time.Second},
		{http.Header{"Retry-After": {now.Add(2 * time.Minute).Format(http.TimeFormat)}}, 2 * time.Minute},
		{http.Header{"Retry-After": {now.Add(-time.Minute).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"-3"}}, 0},
		{http.Header{"Retry-After": {"soon"}}, 0},
		{http.Header{"Retry-After-Ms": {"1500"}, "Retry-After": {"9"}}, 1500 * time.Millisecond},
		{nil, 0},
	} {
		if got := sdkRetryAfter(tc.h, now); got != tc.want {
			t.Fatalf("%v: %v, want %v", tc.h, got, tc.want)
		}
	}
	if got := sdkRedact("key sk-ant-abc123xyz in\n  two lines", keyScrubber(secret.New("sk-ant-abc123xyz"))); got != "key *** in two lines" {
		t.Fatalf("redacted %q", got)
	}
}
