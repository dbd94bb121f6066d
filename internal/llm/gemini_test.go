// Tests for the Google GenAI provider, against in-test servers on loopback
// that speak the Gemini API's wire format (generateContent JSON and
// streamGenerateContent?alt=sse), through the real SDK. Helpers shared with
// anthropic_test.go live there.

package llm

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/secret"
)

func newTestGemini(t *testing.T, baseURL, key string) Provider {
	t.Helper()
	p, err := newGemini(Config{ID: "google", API: APIGoogleGenAI, BaseURL: baseURL, APIKey: secret.New(key), HTTPClient: testClient(baseURL)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// gemJSON answers with a generateContent response body.
func gemJSON(body string) func(w http.ResponseWriter, r *http.Request, _ []byte) {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		io.WriteString(w, body)
	}
}

// gemSSE answers with chunks, each one SSE event as the API frames them.
func gemSSE(chunks ...string) func(w http.ResponseWriter, r *http.Request, _ []byte) {
	return func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for _, c := range chunks {
			fmt.Fprintf(w, "data: %s\r\n\r\n", c)
			f.Flush()
		}
	}
}

const gemSearchSchema = `{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}`

func TestGeminiRequestAndResponse(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, gemJSON(`{
		"candidates": [{
			"content": {"parts": [
				{"text": "Let me look."},
				{"functionCall": {"name": "search", "args": {"q": "weather", "n": 3}}},
				{"functionCall": {"name": "now"}}
			], "role": "model"},
			"finishReason": "STOP", "index": 0
		}],
		"usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 30, "thoughtsTokenCount": 12, "cachedContentTokenCount": 64, "totalTokenCount": 162},
		"modelVersion": "gemini-2.5-flash",
		"responseId": "abc"
	}`))
	p := newTestGemini(t, srv.URL, "AIzaTestKey0123456789")
	resp, err := p.Chat(testCtx(t), Request{
		Model:     "gemini-2.5-flash",
		System:    "be brief",
		MaxTokens: 1000,
		Tools:     []ToolSpec{{Name: "search", Description: "web search", Parameters: json.RawMessage(gemSearchSchema)}, {Name: "now", Description: "the time"}},
		Messages: []Message{
			{Role: RoleUser, Content: "hi"},
			{Role: RoleAssistant, Content: "checking", ToolCalls: []ToolCall{
				{ID: "call_0", Name: "search", Args: json.RawMessage(`{"q":"x","n":2}`)},
				{ID: "call_1", Name: "now", Args: json.RawMessage(`{"oops`)}, // invalid: replayed as {}
			}},
			{Role: RoleTool, ToolCallID: "call_0", ToolName: "search", Content: "r1"},
			{Role: RoleTool, ToolCallID: "call_1", Content: "bad arguments", IsError: true}, // name from the call
			{Role: RoleUser, Content: "thanks"},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	req := srv.only(t)
	if req.Method != "POST" || req.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || req.RawQuery != "" {
		t.Fatalf("request %s %s?%s", req.Method, req.Path, req.RawQuery)
	}
	if got := req.Header.Get("X-Goog-Api-Key"); got != "AIzaTestKey0123456789" {
		t.Fatalf("x-goog-api-key %q", got)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Fatalf("Authorization %q, want none", got)
	}
	jsonEqual(t, "request body", req.Body, `{
		"systemInstruction": {"role": "user", "parts": [{"text": "be brief"}]},
		"contents": [
			{"role": "user", "parts": [{"text": "hi"}]},
			{"role": "model", "parts": [
				{"text": "checking"},
				{"functionCall": {"name": "search", "args": {"q": "x", "n": 2}}},
				{"functionCall": {"name": "now"}}]},
			{"role": "user", "parts": [
				{"functionResponse": {"name": "search", "response": {"output": "r1"}}},
				{"functionResponse": {"name": "now", "response": {"error": "bad arguments"}}}]},
			{"role": "user", "parts": [{"text": "thanks"}]}
		],
		"tools": [{"functionDeclarations": [
			{"name": "search", "description": "web search", "parametersJsonSchema": `+gemSearchSchema+`},
			{"name": "now", "description": "the time"}]}],
		"generationConfig": {"maxOutputTokens": 1000}
	}`)

	want := &Response{
		Message: Message{Role: RoleAssistant, Content: "Let me look.", ToolCalls: []ToolCall{
			// Ids continue after the two calls already in the conversation.
			{ID: "call_2", Name: "search", Args: json.RawMessage(`{"n":3,"q":"weather"}`)},
			{ID: "call_3", Name: "now", Args: json.RawMessage(`{}`)},
		}},
		Usage:      Usage{InputTokens: 120, OutputTokens: 42, CacheReadTokens: 64},
		StopReason: StopToolUse,
		Model:      "gemini-2.5-flash",
	}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("response\n got %+v\nwant %+v", resp, want)
	}
}

func TestGeminiThoughtSignaturePlaceholder(t *testing.T) {
	t.Parallel()
	history := []Message{
		{Role: RoleUser, Content: "hi"},
		{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "a", Name: "f", Args: json.RawMessage(`{}`)}, {ID: "b", Name: "f", Args: json.RawMessage(`{}`)}}},
		{Role: RoleTool, ToolCallID: "a", ToolName: "f", Content: "1"},
		{Role: RoleTool, ToolCallID: "b", ToolName: "f", Content: "2"},
	}
	wantSig := base64.StdEncoding.EncodeToString([]byte("skip_thought_signature_validator"))
	for model, signed := range map[string]bool{
		"gemini-3-pro-preview":    true,
		"models/gemini-3-flash":   true,
		"gemini-flash-latest":     true,
		"gemini-2.5-flash":        false,
		"gemini-1.5-pro":          false,
		"gemma-3-27b-it":          false,
		"my-finetuned-model-name": false,
	} {
		srv := newWireServer(t, gemJSON(`{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`))
		if _, err := newTestGemini(t, srv.URL, "k").Chat(testCtx(t), Request{Model: model, Messages: history}, nil); err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		var body struct {
			Contents []struct {
				Parts []struct {
					FunctionCall     json.RawMessage `json:"functionCall"`
					ThoughtSignature string          `json:"thoughtSignature"`
				} `json:"parts"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(srv.only(t).Body, &body); err != nil || len(body.Contents) != 3 || len(body.Contents[1].Parts) != 2 {
			t.Fatalf("%s: body %+v (%v)", model, body, err)
		}
		parts := body.Contents[1].Parts
		want0 := ""
		if signed {
			want0 = wantSig
		}
		// Only the first call of a parallel set carries a signature.
		if parts[0].ThoughtSignature != want0 || parts[1].ThoughtSignature != "" {
			t.Fatalf("%s: signatures %q, %q; want %q, \"\"", model, parts[0].ThoughtSignature, parts[1].ThoughtSignature, want0)
		}
	}
}

func TestGeminiBaseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ suffix, path string }{
		{"", "/v1beta/models/gemini-x:generateContent"},
		{"/", "/v1beta/models/gemini-x:generateContent"},
		{"/v1beta", "/v1beta/models/gemini-x:generateContent"},
		{"/v1/", "/v1/models/gemini-x:generateContent"},
		{"/proxy/google", "/proxy/google/v1beta/models/gemini-x:generateContent"},
	} {
		srv := newWireServer(t, gemJSON(`{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`))
		if _, err := newTestGemini(t, srv.URL+tc.suffix, "k").Chat(testCtx(t), Request{Model: "gemini-x", Messages: []Message{{Role: RoleUser, Content: "x"}}}, nil); err != nil {
			t.Fatalf("%q: %v", tc.suffix, err)
		}
		if got := srv.only(t).Path; got != tc.path {
			t.Fatalf("base URL suffix %q: path %q, want %q", tc.suffix, got, tc.path)
		}
	}
}

func TestGeminiStreamingText(t *testing.T) {
	t.Parallel()
	firstSeen := make(chan struct{})
	srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		send := func(c string) { fmt.Fprintf(w, "data: %s\r\n\r\n", c); f.Flush() }
		send(`{"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 1,"totalTokenCount": 10},"modelVersion": "gemini-2.5-flash","responseId": "r1"}`)
		// The rest is only written once the client has the first delta.
		select {
		case <-firstSeen:
		case <-time.After(10 * time.Second):
			return
		}
		send(`{"candidates": [{"content": {"parts": [{"text": "lo, "}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 3,"totalTokenCount": 12},"modelVersion": "gemini-2.5-flash","responseId": "r1"}`)
		send(`{"candidates": [{"content": {"parts": [{"text": "world"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 5,"thoughtsTokenCount": 2,"totalTokenCount": 16},"modelVersion": "gemini-2.5-flash","responseId": "r1"}`)
	})
	var texts []string
	resp, err := newTestGemini(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "gemini-2.5-flash", Messages: []Message{{Role: RoleUser, Content: "hi"}}}, func(d Delta) {
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
		Usage:      Usage{InputTokens: 9, OutputTokens: 7},
		StopReason: StopEndTurn,
		Model:      "gemini-2.5-flash",
	}
	if !reflect.DeepEqual(resp, want) {
		t.Fatalf("response\n got %+v\nwant %+v", resp, want)
	}
	req := srv.only(t)
	if req.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" || req.RawQuery != "alt=sse" {
		t.Fatalf("request %s?%s", req.Path, req.RawQuery)
	}
}

func TestGeminiStreamingToolCalls(t *testing.T) {
	t.Parallel()
	srv := newWireServer(t, gemSSE(
		`{"candidates": [{"content": {"parts": [{"text": "Checking."}],"role": "model"},"index": 0}],"modelVersion": "gemini-3-flash"}`,
		`{"candidates": [{"content": {"parts": [{"functionCall": {"name": "get_weather","args": {"location": "Paris"}},"thoughtSignature": "c2lnbmF0dXJl"},{"functionCall": {"name": "now","args": {}}}],"role": "model"},"index": 0}],"modelVersion": "gemini-3-flash"}`,
		`{"candidates": [{"content": {"parts": [{"text": ""}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 40,"candidatesTokenCount": 20,"totalTokenCount": 60},"modelVersion": "gemini-3-flash"}`,
	))
	var got []string
	resp, err := newTestGemini(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "gemini-3-flash", Messages: []Message{{Role: RoleUser, Content: "weather?"}}}, func(d Delta) {
		if d.ToolCall != nil {
			got = append(got, fmt.Sprintf("call %s %s %s", d.ToolCall.ID, d.ToolCall.Name, d.ToolCall.Args))
		} else {
			got = append(got, "text "+d.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"text Checking.", `call call_0 get_weather {"location":"Paris"}`, "call call_1 now {}"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("deltas\n got %q\nwant %q", got, want)
	}
	wantCalls := []ToolCall{
		{ID: "call_0", Name: "get_weather", Args: json.RawMessage(`{"location":"Paris"}`)},
		{ID: "call_1", Name: "now", Args: json.RawMessage(`{}`)},
	}
	if !reflect.DeepEqual(resp.Message.ToolCalls, wantCalls) || resp.Message.Content != "Checking." {
		t.Fatalf("message %+v", resp.Message)
	}
	if resp.StopReason != StopToolUse || resp.Usage != (Usage{InputTokens: 40, OutputTokens: 20}) {
		t.Fatalf("stop %q usage %+v", resp.StopReason, resp.Usage)
	}
}

func TestGeminiFinishReasons(t *testing.T) {
	t.Parallel()
	for api, want := range map[string]string{
		"STOP":                    StopEndTurn,
		"MAX_TOKENS":              StopMaxTokens,
		"SAFETY":                  StopOther,
		"RECITATION":              StopOther,
		"MALFORMED_FUNCTION_CALL": StopOther,
		"OTHER":                   StopOther,
	} {
		body := fmt.Sprintf(`{"candidates":[{"content":{"role":"model","parts":[{"text":"x"}]},"finishReason":%q,"index":0}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":1}}`, api)
		modes(t, func(t *testing.T, stream bool) {
			handle := gemJSON(body)
			if stream {
				handle = gemSSE(body)
			}
			srv := newWireServer(t, handle)
			onDelta, _ := collect(stream)
			resp, err := newTestGemini(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "gemini-x", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StopReason != want {
				t.Fatalf("finishReason %s: got %q, want %q", api, resp.StopReason, want)
			}
		})
	}
}

func TestGeminiHTTPErrors(t *testing.T) {
	t.Parallel()
	const key = "AIzaSecretKey0123456789abcdef"
	for _, tc := range []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantMsg    string
		retryable  bool
		retryAfter time.Duration
	}{
		{"quota with RetryInfo", 429, nil, `{"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing details.", "status": "RESOURCE_EXHAUSTED", "details": [
			{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}]},
			{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "26s"}]}}`,
			"RESOURCE_EXHAUSTED: You exceeded your current quota, please check your plan and billing details.", true, 26 * time.Second},
		{"rate limit with Retry-After", 429, map[string]string{"Retry-After": "7"},
			`{"error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}}`,
			"RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota).", true, 7 * time.Second},
		{"overloaded", 503, nil, `{"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}`,
			"UNAVAILABLE: The model is overloaded. Please try again later.", true, 0},
		{"bad request", 400, nil, `{"error": {"code": 400, "message": "* GenerateContentRequest.contents: contents is not specified\n", "status": "INVALID_ARGUMENT"}}`,
			"INVALID_ARGUMENT: * GenerateContentRequest.contents: contents is not specified", false, 0},
		{"bad key echoed", 400, nil, `{"error": {"code": 400, "message": "API key not valid: ` + key + `", "status": "INVALID_ARGUMENT"}}`,
			"INVALID_ARGUMENT: API key not valid: ***", false, 0},
		{"html from a proxy", 502, nil, "<html><body>Bad Gateway</body></html>", "<html><body>Bad Gateway</body></html>", true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			modes(t, func(t *testing.T, stream bool) {
				srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
					for k, v := range tc.header {
						w.Header().Set(k, v)
					}
					w.Header().Set("Content-Type", "application/json; charset=UTF-8")
					w.WriteHeader(tc.status)
					io.WriteString(w, tc.body)
				})
				onDelta, _ := collect(stream)
				_, err := newTestGemini(t, srv.URL, key).Chat(testCtx(t), Request{Model: "gemini-x", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("error %v (%T), want *APIError", err, err)
				}
				if ae.Provider != "google" || ae.Status != tc.status || ae.Message != tc.wantMsg || ae.Retryable != tc.retryable || ae.RetryAfter != tc.retryAfter {
					t.Fatalf("got %+v\nwant status %d message %q retryable %v retryAfter %v", ae, tc.status, tc.wantMsg, tc.retryable, tc.retryAfter)
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

func TestGeminiBadAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		stream    bool
		handle    func(w http.ResponseWriter, r *http.Request, _ []byte)
		wantMsg   string // substring
		status    int
		retryable bool
	}{
		{"garbage json", false, gemJSON("<html>this is not the API</html>"), "invalid response: ", 0, false},
		{"garbage sse", true, gemSSE(`{"candidates": [{"content": {"parts": [{"te`), "invalid response: ", 0, false},
		{"error in stream", true, gemSSE(
			`{"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}]}`,
			`{"error": {"code": 500, "message": "An internal error has occurred.", "status": "INTERNAL"}}`),
			"INTERNAL: An internal error has occurred.", 500, true},
		{"stream cut off", true, gemSSE(`{"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}]}`),
			"stream ended without a finish reason", 0, true},
		{"prompt blocked", false, gemJSON(`{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8}}`),
			"prompt blocked: PROHIBITED_CONTENT", 0, false},
		{"prompt blocked in stream", true, gemSSE(`{"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 8}}`),
			"prompt blocked: SAFETY", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newWireServer(t, tc.handle)
			onDelta, _ := collect(tc.stream)
			_, err := newTestGemini(t, srv.URL, "k").Chat(testCtx(t), Request{Model: "gemini-x", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v (%T), want *APIError", err, err)
			}
			if !strings.Contains(ae.Message, tc.wantMsg) || ae.Status != tc.status || ae.Retryable != tc.retryable {
				t.Fatalf("got %+v, want message ~%q status %d retryable %v", ae, tc.wantMsg, tc.status, tc.retryable)
			}
		})
	}
}

func TestGeminiRequestErrors(t *testing.T) {
	t.Parallel()
	p := newTestGemini(t, "http://127.0.0.1:1", "k")
	for _, req := range []Request{
		{Messages: []Message{{Role: RoleUser, Content: "x"}}},
		{Model: "g", Messages: []Message{{Role: "system", Content: "x"}}},
		{Model: "g", Messages: []Message{{Role: RoleTool, ToolCallID: "unknown", Content: "x"}}},
		{Model: "g", Messages: []Message{{Role: RoleUser, Content: "x"}}, Tools: []ToolSpec{{Name: "t", Parameters: json.RawMessage(`"no"`)}}},
	} {
		if _, err := p.Chat(testCtx(t), req, nil); err == nil || !strings.HasPrefix(err.Error(), "llm.gemini.Chat: ") {
			t.Fatalf("%+v: error %v", req, err)
		}
	}
	for _, cfg := range []Config{
		{ID: "g", APIKey: secret.New("k")},                                                                 // no HTTP client
		{ID: "g", HTTPClient: netguard.Policy{}.Client()},                                                  // no key
		{ID: "g", APIKey: secret.New("k"), HTTPClient: netguard.Policy{}.Client(), BaseURL: "localhost:1"}, // not a URL
	} {
		if _, err := newGemini(cfg); err == nil || !strings.HasPrefix(err.Error(), "llm.newGemini: ") {
			t.Fatalf("%+v: error %v", cfg, err)
		}
	}
}

func TestGeminiIgnoresEnvironment(t *testing.T) {
	trap := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(500) })
	t.Setenv("GOOGLE_API_KEY", "AIza-from-environment")
	t.Setenv("GEMINI_API_KEY", "AIza-gemini-from-environment")
	t.Setenv("GOOGLE_GENAI_USE_VERTEXAI", "true")
	t.Setenv("GOOGLE_GENAI_USE_ENTERPRISE", "true")
	t.Setenv("GOOGLE_CLOUD_PROJECT", "project-from-environment")
	t.Setenv("GOOGLE_CLOUD_LOCATION", "location-from-environment")
	t.Setenv("GOOGLE_CLOUD_REGION", "region-from-environment")
	t.Setenv("GOOGLE_GEMINI_BASE_URL", trap.URL)
	t.Setenv("GOOGLE_VERTEX_BASE_URL", trap.URL)
	// Were default credentials looked up, this would fail the client.
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/credentials-from-environment.json")
	t.Setenv("GCE_METADATA_HOST", strings.TrimPrefix(trap.URL, "http://"))

	const okBody = `{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`
	req := Request{Model: "gemini-x", Messages: []Message{{Role: RoleUser, Content: "x"}}}
	checkHeaders := func(t *testing.T, h http.Header) {
		t.Helper()
		if got := h.Get("X-Goog-Api-Key"); got != "AIza-configured" {
			t.Fatalf("x-goog-api-key %q", got)
		}
		for name, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, "environment") {
					t.Fatalf("header %s: %q came from the environment", name, v)
				}
			}
		}
		if h.Get("Authorization") != "" || h.Get("X-Goog-User-Project") != "" {
			t.Fatalf("credentials from the environment: %v", h)
		}
	}

	t.Run("configured base URL", func(t *testing.T) {
		srv := newWireServer(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
			if strings.HasSuffix(r.URL.Path, ":generateContent") {
				gemJSON(okBody)(w, r, nil)
				return
			}
			gemSSE(okBody)(w, r, nil)
		})
		modes(t, func(t *testing.T, stream bool) {
			onDelta, _ := collect(stream)
			if _, err := newTestGemini(t, srv.URL, "AIza-configured").Chat(testCtx(t), req, onDelta); err != nil {
				t.Fatal(err)
			}
		})
		reqs := srv.requests()
		if len(reqs) != 2 {
			t.Fatalf("%d requests at the configured URL, want 2", len(reqs))
		}
		for i, want := range []string{"/v1beta/models/gemini-x:generateContent", "/v1beta/models/gemini-x:streamGenerateContent"} {
			if reqs[i].Path != want {
				t.Fatalf("path %q, want %q (not a Vertex path)", reqs[i].Path, want)
			}
			checkHeaders(t, reqs[i].Header)
		}
	})
	t.Run("public endpoint", func(t *testing.T) {
		rt, hc := publicEndpoint(t, "generativelanguage.googleapis.com", okBody)
		p, err := newGemini(Config{ID: "google", APIKey: secret.New("AIza-configured"), HTTPClient: hc})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Chat(testCtx(t), req, nil); err != nil {
			t.Fatal(err)
		}
		if len(rt.urls) != 1 || rt.urls[0] != "https://generativelanguage.googleapis.com/v1beta/models/gemini-x:generateContent" {
			t.Fatalf("requests to %q", rt.urls)
		}
		checkHeaders(t, rt.header[0])
	})
	t.Run("no key", func(t *testing.T) {
		if _, err := newGemini(Config{ID: "google", HTTPClient: netguard.Policy{}.Client()}); err == nil {
			t.Fatal("a provider without a key was built (it would use the environment's)")
		}
	})
	if n := len(trap.requests()); n != 0 {
		t.Fatalf("%d requests went where the environment points", n)
	}
}
