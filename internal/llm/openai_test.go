package llm

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/testutil/fakellm"
)

func newTestOpenAI(t testing.TB, baseURL, key string) Provider {
	t.Helper()
	p, err := New(Config{ID: "local", API: APIOpenAICompletions, BaseURL: baseURL, APIKey: secret.New(key), HTTPClient: testClient(baseURL)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var echoSpec = ToolSpec{Name: "echo", Description: "echo text", Parameters: json.RawMessage(`{"type":"object","properties":{"text":{"type":"string"}}}`)}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestOpenAITextAndRequestMapping(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Text: "hello there", Usage: &fakellm.Usage{Prompt: 42, Completion: 7}})
	p := newTestOpenAI(t, fake.URL, "sk-test-key")
	resp, err := p.Chat(ctxT(t), Request{
		Model: "m1", System: "be brief", MaxTokens: 99, Tools: []ToolSpec{echoSpec, {Name: "noparams"}},
		Messages: []Message{
			{Role: RoleUser, Content: "hi"},
			{Role: RoleAssistant, ToolCalls: []ToolCall{{ID: "c1", Name: "echo", Args: json.RawMessage(`{"text":"x"}`)}, {ID: "c2", Name: "noparams"}}},
			{Role: RoleTool, ToolCallID: "c1", ToolName: "echo", Content: "x"},
			{Role: RoleTool, ToolCallID: "c2", ToolName: "noparams", Content: "error: boom", IsError: true},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Message.Role != RoleAssistant || resp.Message.Content != "hello there" || resp.StopReason != StopEndTurn || resp.Model != "m1" {
		t.Fatalf("response %+v", resp)
	}
	if resp.Usage != (Usage{InputTokens: 42, OutputTokens: 7}) {
		t.Fatalf("usage %+v", resp.Usage)
	}
	reqs := fake.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d requests", len(reqs))
	}
	r := reqs[0]
	if r.Model != "m1" || r.Stream || r.MaxTokens != 99 || r.Authorization != "Bearer sk-test-key" {
		t.Fatalf("request %+v", r)
	}
	if !strings.Contains(string(r.Body), `"max_tokens":99`) {
		t.Fatalf("a compatible server should get max_tokens: %s", r.Body)
	}
	roles := []string{}
	for _, m := range r.Messages {
		roles = append(roles, m.Role)
	}
	if strings.Join(roles, ",") != "system,user,assistant,tool,tool" || r.Messages[0].Content != "be brief" {
		t.Fatalf("messages %+v", r.Messages)
	}
	a := r.Messages[2]
	if len(a.ToolCalls) != 2 || a.ToolCalls[0].ID != "c1" || a.ToolCalls[0].Name != "echo" || a.ToolCalls[0].Args != `{"text":"x"}` || a.ToolCalls[1].Args != "{}" {
		t.Fatalf("assistant tool calls %+v", a.ToolCalls)
	}
	if r.Messages[3].ToolCallID != "c1" || r.Messages[3].Content != "x" || r.Messages[4].ToolCallID != "c2" {
		t.Fatalf("tool results %+v", r.Messages[3:])
	}
	if strings.Join(r.Tools, ",") != "echo,noparams" {
		t.Fatalf("tools %v", r.Tools)
	}
	// A tool without a schema still gets an object schema.
	if !strings.Contains(string(r.Body), `"name":"noparams","parameters":{"properties":{},"type":"object"}`) {
		t.Fatalf("tool schema: %s", r.Body)
	}
}

func TestOpenAIRequestErrors(t *testing.T) {
	p := newTestOpenAI(t, "http://127.0.0.1:1/v1", "")
	for name, req := range map[string]Request{
		"no model":    {Messages: []Message{{Role: RoleUser, Content: "x"}}},
		"bad role":    {Model: "m", Messages: []Message{{Role: "system", Content: "x"}}},
		"tool no id":  {Model: "m", Messages: []Message{{Role: RoleTool, Content: "x"}}},
		"bad schema":  {Model: "m", Tools: []ToolSpec{{Name: "t", Parameters: json.RawMessage(`[1]`)}}},
		"bad schema2": {Model: "m", Tools: []ToolSpec{{Name: "t", Parameters: json.RawMessage(`{`)}}},
	} {
		if _, err := p.Chat(context.Background(), req, nil); err == nil || !strings.Contains(err.Error(), "llm.openai.Chat") {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestOpenAIStreamingDeltasConcatenate(t *testing.T) {
	fake := fakellm.New(t)
	text := "The quick brown fox jumps over the lazy dog — ünïcödé 漢字 done."
	fake.Script(fakellm.Reply{Text: text})
	p := newTestOpenAI(t, fake.URL, "k")
	var deltas []string
	resp, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "tell me"}}}, func(d Delta) {
		if d.ToolCall != nil {
			t.Errorf("unexpected tool call delta %+v", d.ToolCall)
		}
		deltas = append(deltas, d.Text)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(deltas) < 5 {
		t.Fatalf("only %d deltas: %q", len(deltas), deltas)
	}
	if got := strings.Join(deltas, ""); got != text || resp.Message.Content != text {
		t.Fatalf("deltas %q, content %q, want %q", got, resp.Message.Content, text)
	}
	if resp.StopReason != StopEndTurn || resp.Usage.InputTokens == 0 || resp.Usage.OutputTokens == 0 {
		t.Fatalf("response %+v", resp)
	}
	r := fake.Requests()[0]
	if !r.Stream || !r.IncludeUsage {
		t.Fatalf("stream %v include_usage %v", r.Stream, r.IncludeUsage)
	}
}

func TestOpenAIStreamingToolCallsAssemble(t *testing.T) {
	fake := fakellm.New(t)
	calls := []fakellm.Call{
		{ID: "call_a", Name: "echo", Args: `{"text":"a fairly long argument, split across chunks ✓"}`},
		{ID: "call_b", Name: "echo", Args: `{"text": "unterminated`}, // invalid on purpose
		{ID: "call_c", Name: "noargs", Args: ``},
	}
	fake.Script(fakellm.Reply{Text: "calling", ToolCalls: calls, Usage: &fakellm.Usage{Prompt: 5, Completion: 6}})
	p := newTestOpenAI(t, fake.URL, "k")
	var texts []string
	var got []ToolCall
	resp, err := p.Chat(ctxT(t), Request{Model: "m", Tools: []ToolSpec{echoSpec}, Messages: []Message{{Role: RoleUser, Content: "go"}}}, func(d Delta) {
		if d.ToolCall != nil {
			got = append(got, *d.ToolCall)
		}
		if d.Text != "" {
			if len(got) > 0 {
				t.Error("text after tool calls")
			}
			texts = append(texts, d.Text)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []ToolCall{
		{ID: "call_a", Name: "echo", Args: json.RawMessage(calls[0].Args)},
		{ID: "call_b", Name: "echo", Args: json.RawMessage(calls[1].Args)},
		{ID: "call_c", Name: "noargs", Args: json.RawMessage(`{}`)},
	}
	for _, list := range [][]ToolCall{got, resp.Message.ToolCalls} {
		if len(list) != len(want) {
			t.Fatalf("calls %+v", list)
		}
		for i := range want {
			if list[i].ID != want[i].ID || list[i].Name != want[i].Name || string(list[i].Args) != string(want[i].Args) {
				t.Fatalf("call %d = %+v (args %s), want %+v (args %s)", i, list[i], list[i].Args, want[i], want[i].Args)
			}
		}
	}
	if strings.Join(texts, "") != "calling" || resp.Message.Content != "calling" {
		t.Fatalf("texts %q content %q", texts, resp.Message.Content)
	}
	if resp.StopReason != StopToolUse || resp.Usage != (Usage{InputTokens: 5, OutputTokens: 6}) {
		t.Fatalf("response %+v", resp)
	}
}

func TestOpenAINonStreamingToolCalls(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{ToolCalls: []fakellm.Call{{ID: "x1", Name: "echo", Args: `{"text":"hi"}`}, {Name: "echo", Args: `[1,2]`}}})
	p := newTestOpenAI(t, fake.URL, "")
	resp, err := p.Chat(ctxT(t), Request{Model: "m", Tools: []ToolSpec{echoSpec}, Messages: []Message{{Role: RoleUser, Content: "go"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := resp.Message.ToolCalls
	if len(tc) != 2 || tc[0].ID != "x1" || string(tc[0].Args) != `{"text":"hi"}` || tc[1].ID == "" || string(tc[1].Args) != `[1,2]` {
		t.Fatalf("calls %+v", tc)
	}
	if resp.StopReason != StopToolUse || resp.Message.Content != "" {
		t.Fatalf("response %+v", resp)
	}
}

func TestOpenAIFinishReasons(t *testing.T) {
	for finish, want := range map[string]string{"stop": StopEndTurn, "length": StopMaxTokens, "tool_calls": StopToolUse, "content_filter": StopOther} {
		for _, stream := range []bool{false, true} {
			fake := fakellm.New(t)
			fake.Script(fakellm.Reply{Text: "x", FinishReason: finish})
			p := newTestOpenAI(t, fake.URL, "")
			var on func(Delta)
			if stream {
				on = func(Delta) {}
			}
			resp, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "go"}}}, on)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StopReason != want {
				t.Errorf("finish %q stream %v: stop %q, want %q", finish, stream, resp.StopReason, want)
			}
		}
	}
}

// both runs f once without and once with streaming.
func both(t *testing.T, f func(t *testing.T, onDelta func(Delta))) {
	t.Run("json", func(t *testing.T) { f(t, nil) })
	t.Run("stream", func(t *testing.T) { f(t, func(Delta) {}) })
}

func TestOpenAIErrorMapping(t *testing.T) {
	date := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name      string
		reply     fakellm.Reply
		status    int
		retryable bool
		after     time.Duration // exact, or approx for dates
		approx    bool
		msg       string
	}{
		{"429 seconds", fakellm.Reply{Status: 429, RetryAfter: "7", Text: "slow down"}, 429, true, 7 * time.Second, false, "slow down"},
		{"429 date", fakellm.Reply{Status: 429, RetryAfter: date}, 429, true, 90 * time.Second, true, "scripted HTTP 429"},
		{"429 junk header", fakellm.Reply{Status: 429, RetryAfter: "soon"}, 429, true, 0, false, ""},
		{"500", fakellm.Reply{Status: 500, Text: "upstream exploded"}, 500, true, 0, false, "upstream exploded"},
		{"503", fakellm.Reply{Status: 503}, 503, true, 0, false, ""},
		{"408", fakellm.Reply{Status: 408}, 408, true, 0, false, ""},
		{"401", fakellm.Reply{Status: 401, Text: "bad key"}, 401, false, 0, false, "bad key"},
		{"400", fakellm.Reply{Status: 400, Text: "bad request"}, 400, false, 0, false, "bad request"},
		{"404", fakellm.Reply{Status: 404}, 404, false, 0, false, ""},
		{"ollama error shape", fakellm.Reply{Status: 404, Body: `{"error":"model \"qwen9\" not found, try pulling it first"}`}, 404, false, 0, false, `model "qwen9" not found`},
		{"html 502", fakellm.Reply{Status: 502, Body: "<html><body>\n<h1>502 Bad Gateway</h1>\n</body></html>"}, 502, true, 0, false, "502 Bad Gateway"},
		{"garbage 200", fakellm.Reply{Body: "not json at all"}, 0, false, 0, false, "invalid response"},
		{"truncated json", fakellm.Reply{Body: "{"}, 0, false, 0, false, "invalid response"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			both(t, func(t *testing.T, onDelta func(Delta)) {
				fake := fakellm.New(t)
				fake.Script(tc.reply)
				p := newTestOpenAI(t, fake.URL, "k")
				_, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("err %v (%T), want *APIError", err, err)
				}
				if ae.Provider != "local" || ae.Status != tc.status || ae.Retryable != tc.retryable || !strings.Contains(ae.Message, tc.msg) {
					t.Fatalf("got %+v", ae)
				}
				if tc.approx {
					if ae.RetryAfter < tc.after-5*time.Second || ae.RetryAfter > tc.after {
						t.Fatalf("RetryAfter %v, want about %v", ae.RetryAfter, tc.after)
					}
				} else if ae.RetryAfter != tc.after {
					t.Fatalf("RetryAfter %v, want %v", ae.RetryAfter, tc.after)
				}
			})
		})
	}
}

func TestOpenAIGarbageStream(t *testing.T) {
	for name, body := range map[string]string{
		"bad json chunk": "data: {\"id\": \"x\", \"choices\": [\n\n",
		"no finish":      "data: {\"id\":\"x\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"hi\"}}]}\n\ndata: [DONE]\n\n",
		"not sse":        `{"id":"x","object":"chat.completion","choices":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			fake := fakellm.New(t)
			fake.Script(fakellm.Reply{Body: body})
			p := newTestOpenAI(t, fake.URL, "k")
			_, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, func(Delta) {})
			var ae *APIError
			if !errors.As(err, &ae) || ae.Retryable || !strings.Contains(ae.Message, "invalid response") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestOpenAIErrorEventInStream(t *testing.T) {
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Body: "data: {\"error\": {\"message\": \"overloaded\", \"type\": \"server_error\"}}\n\n"})
	p := newTestOpenAI(t, fake.URL, "k")
	_, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, func(Delta) {})
	var ae *APIError
	if !errors.As(err, &ae) || !ae.Retryable || !strings.Contains(ae.Message, "overloaded") {
		t.Fatalf("err %v", err)
	}
}

func TestOpenAITimeoutAndContext(t *testing.T) {
	both(t, func(t *testing.T, onDelta func(Delta)) {
		fake := fakellm.New(t)
		fake.Default = fakellm.Reply{Text: "late", Delay: 10 * time.Second}
		p, err := New(Config{ID: "slow", API: APIOpenAICompletions, BaseURL: fake.URL, HTTPClient: testClient(fake.URL), Timeout: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Retryable || ae.Status != 0 || !strings.Contains(ae.Message, "timeout") {
			t.Fatalf("err %v", err)
		}
		if el := time.Since(start); el > 5*time.Second {
			t.Fatalf("timeout took %v", el)
		}
		// The caller's own deadline is not an APIError: nothing to retry.
		p = newTestOpenAI(t, fake.URL, "")
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_, err = p.Chat(ctx, Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
		if !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ae) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestOpenAIConnectionRefused(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	both(t, func(t *testing.T, onDelta func(Delta)) {
		p := newTestOpenAI(t, "http://"+addr+"/v1", "sk-secret-value-123")
		_, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
		var ae *APIError
		if !errors.As(err, &ae) || !ae.Retryable || ae.Status != 0 {
			t.Fatalf("err %v", err)
		}
		if strings.Contains(err.Error(), "sk-secret-value-123") {
			t.Fatalf("key leaked: %v", err)
		}
	})
}

func TestOpenAIErrorMessageRedactsKey(t *testing.T) {
	const key = "my-provider-key-0123456789"
	fake := fakellm.New(t)
	fake.Script(fakellm.Reply{Status: 401, Text: "Incorrect API key provided: " + key + " (also sk-proj-abcdefghijklmnopqrstuvwxyz0123)"})
	p := newTestOpenAI(t, fake.URL, key)
	_, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, nil)
	if err == nil || strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "abcdefghijklmnop") {
		t.Fatalf("err %v", err)
	}
	if !strings.Contains(err.Error(), "Incorrect API key provided") {
		t.Fatalf("message lost: %v", err)
	}
}

// TestOpenAIIgnoresEnvironment: the SDK's environment defaults (base URL,
// key, organization, project, custom headers) never reach a request.
func TestOpenAIIgnoresEnvironment(t *testing.T) {
	trap := fakellm.New(t) // where OPENAI_BASE_URL points: must see nothing
	trap.ForbidRequests()
	t.Setenv("OPENAI_BASE_URL", trap.URL)
	t.Setenv("OPENAI_API_KEY", "sk-from-environment")
	t.Setenv("OPENAI_ADMIN_KEY", "sk-admin-from-environment")
	t.Setenv("OPENAI_ORG_ID", "org-from-environment")
	t.Setenv("OPENAI_PROJECT_ID", "proj-from-environment")
	t.Setenv("OPENAI_CUSTOM_HEADERS", "X-Leak: from-environment")

	for _, key := range []string{"sk-configured", ""} {
		t.Run("key="+key, func(t *testing.T) {
			both(t, func(t *testing.T, onDelta func(Delta)) {
				fake := fakellm.New(t)
				p := newTestOpenAI(t, fake.URL, key)
				if _, err := p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta); err != nil {
					t.Fatal(err)
				}
				reqs := fake.Requests()
				if len(reqs) != 1 {
					t.Fatalf("%d requests at the configured URL", len(reqs))
				}
				h := reqs[0].Header
				wantAuth := ""
				if key != "" {
					wantAuth = "Bearer " + key
				}
				if got := h.Get("Authorization"); got != wantAuth {
					t.Fatalf("Authorization %q, want %q", got, wantAuth)
				}
				for _, name := range []string{"OpenAI-Organization", "OpenAI-Project", "X-Leak"} {
					if v := h.Get(name); v != "" {
						t.Fatalf("header %s: %q came from the environment", name, v)
					}
				}
				for name, vs := range h {
					for _, v := range vs {
						if strings.Contains(v, "environment") {
							t.Fatalf("header %s: %q came from the environment", name, v)
						}
					}
				}
			})
		})
	}
	if trap.Count() != 0 {
		t.Fatalf("%d requests went to the environment's URL", trap.Count())
	}
}

func TestOpenAIOfficialEndpointUsesMaxCompletionTokens(t *testing.T) {
	p, err := newOpenAI(Config{ID: "openai", HTTPClient: netguard.Policy{}.Client()})
	if err != nil {
		t.Fatal(err)
	}
	params, err := p.(*openAIProvider).params(Request{Model: "gpt-x", MaxTokens: 10})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(params)
	if !strings.Contains(string(b), `"max_completion_tokens":10`) || strings.Contains(string(b), `"max_tokens"`) {
		t.Fatalf("params %s", b)
	}
}

func TestOpenAITextToolCalls(t *testing.T) {
	text := "Let me check.\n<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"text\": \"hi\"}}\n</tool_call>"
	both(t, func(t *testing.T, onDelta func(Delta)) {
		fake := fakellm.New(t)
		fake.Script(fakellm.Reply{Text: text})
		p := newTestOpenAI(t, fake.URL, "")
		var shown strings.Builder
		var deltaCalls []ToolCall
		var on func(Delta)
		if onDelta != nil {
			on = func(d Delta) {
				shown.WriteString(d.Text)
				if d.ToolCall != nil {
					deltaCalls = append(deltaCalls, *d.ToolCall)
				}
			}
		}
		resp, err := p.Chat(ctxT(t), Request{Model: "m", Tools: []ToolSpec{echoSpec}, Messages: []Message{{Role: RoleUser, Content: "x"}}}, on)
		if err != nil {
			t.Fatal(err)
		}
		tc := resp.Message.ToolCalls
		if len(tc) != 1 || tc[0].ID != "call_text_1" || tc[0].Name != "echo" || string(tc[0].Args) != `{"text": "hi"}` {
			t.Fatalf("calls %+v", tc)
		}
		if resp.Message.Content != "Let me check." || resp.StopReason != StopToolUse {
			t.Fatalf("response %+v", resp)
		}
		if on != nil {
			if strings.Contains(shown.String(), "tool_call") || strings.TrimSpace(shown.String()) != "Let me check." {
				t.Fatalf("streamed text %q", shown.String())
			}
			if len(deltaCalls) != 1 || deltaCalls[0].Name != "echo" {
				t.Fatalf("tool call deltas %+v", deltaCalls)
			}
		}
		// Without tools offered, the text is left alone.
		fake.Script(fakellm.Reply{Text: text})
		resp, err = p.Chat(ctxT(t), Request{Model: "m", Messages: []Message{{Role: RoleUser, Content: "x"}}}, onDelta)
		if err != nil || len(resp.Message.ToolCalls) != 0 || resp.Message.Content != text {
			t.Fatalf("resp %+v err %v", resp, err)
		}
	})
}

func TestOpenAIStreamHoldsBackJSONMessage(t *testing.T) {
	fake := fakellm.New(t)
	p := newTestOpenAI(t, fake.URL, "")
	// A JSON answer that is not a call is shown in full at the end.
	answer := `{"answer": 42, "why": "because"}`
	fake.Script(fakellm.Reply{Text: answer}, fakellm.Reply{Text: `{"name": "echo", "arguments": {"text": "x"}}`})
	var shown strings.Builder
	on := func(d Delta) { shown.WriteString(d.Text) }
	req := Request{Model: "m", Tools: []ToolSpec{echoSpec}, Messages: []Message{{Role: RoleUser, Content: "x"}}}
	resp, err := p.Chat(ctxT(t), req, on)
	if err != nil || shown.String() != answer || resp.Message.Content != answer || len(resp.Message.ToolCalls) != 0 {
		t.Fatalf("shown %q resp %+v err %v", shown.String(), resp, err)
	}
	shown.Reset()
	resp, err = p.Chat(ctxT(t), req, on)
	if err != nil || shown.String() != "" || len(resp.Message.ToolCalls) != 1 || resp.Message.Content != "" {
		t.Fatalf("shown %q resp %+v err %v", shown.String(), resp, err)
	}
}

func TestTextFilterSplitTag(t *testing.T) {
	var got strings.Builder
	f := &textFilter{emit: func(s string) { got.WriteString(s) }, watch: true}
	for _, piece := range []string{"Hello <", "tool", "_ca", "ll>{\"name\":\"echo\"}</tool_call> bye"} {
		f.write(piece)
	}
	if got.String() != "Hello " {
		t.Fatalf("shown before the end: %q", got.String())
	}
	calls, rest := ExtractTextToolCalls(f.text(), []ToolSpec{echoSpec})
	f.finish(rest, len(calls) > 0)
	if len(calls) != 1 || rest != "Hello  bye" || got.String() != "Hello  bye" {
		t.Fatalf("calls %v rest %q shown %q", calls, rest, got.String())
	}
	// A "<" that does not become a tag is released.
	got.Reset()
	f = &textFilter{emit: func(s string) { got.WriteString(s) }, watch: true}
	f.write("a <")
	f.write("b")
	f.finish(f.text(), false)
	if got.String() != "a <b" {
		t.Fatalf("shown %q", got.String())
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"3"}}, 3 * time.Second},
		{http.Header{"Retry-After": {"1.5"}}, 1500 * time.Millisecond},
		{http.Header{"Retry-After": {now.Add(20 * time.Second).Format(http.TimeFormat)}}, 20 * time.Second},
		{http.Header{"Retry-After": {now.Add(-20 * time.Second).Format(http.TimeFormat)}}, 0},
		{http.Header{"Retry-After": {"-1"}}, 0},
		{http.Header{"Retry-After": {"nonsense"}}, 0},
		{http.Header{"Retry-After": {"1e300"}}, 0},
		{http.Header{"Retry-After-Ms": {"250"}, "Retry-After": {"9"}}, 250 * time.Millisecond},
		{http.Header{}, 0},
	} {
		if got := retryAfter(tc.h, now); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.h, got, tc.want)
		}
	}
}

func TestNewValidation(t *testing.T) {
	hc := netguard.Policy{}.Client()
	if _, err := New(Config{ID: "x", API: APIOpenAICompletions}); err == nil || !strings.Contains(err.Error(), "HTTP client") {
		t.Fatalf("nil client: %v", err)
	}
	_, err := New(Config{ID: "x", API: "openai", HTTPClient: hc})
	if !errors.Is(err, ErrUnknownAPI) || !strings.Contains(err.Error(), "openai-completions|anthropic-messages|google-genai") {
		t.Fatalf("unknown api: %v", err)
	}
	for _, u := range []string{"ftp://x/v1", "http://", "http://user:pw@host/v1", "::bad"} {
		if _, err := New(Config{ID: "x", API: APIOpenAICompletions, BaseURL: u, HTTPClient: hc}); err == nil {
			t.Errorf("base URL %q accepted", u)
		}
	}
	if _, err := New(Config{ID: "x", API: APIOpenAICompletions, HTTPClient: hc}); err != nil {
		t.Fatalf("default base URL: %v", err)
	}
}

func BenchmarkOpenAIChat(b *testing.B) {
	fake := fakellm.New(b)
	fake.Default = fakellm.Reply{Text: "a short reply from the model", Usage: &fakellm.Usage{Prompt: 100, Completion: 10}}
	p := newTestOpenAI(b, fake.URL, "k")
	req := Request{Model: "m", System: "you are a benchmark", Tools: []ToolSpec{echoSpec},
		Messages: []Message{{Role: RoleUser, Content: "hello"}, {Role: RoleAssistant, Content: "hi"}, {Role: RoleUser, Content: "again"}}}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Chat(ctx, req, nil); err != nil {
			b.Fatal(err)
		}
	}
}
