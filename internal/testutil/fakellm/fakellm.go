// Package fakellm is a scriptable OpenAI-compatible chat-completions server
// on loopback, for tests across the project. It speaks the real wire format
// (JSON chat.completion objects, and SSE chat.completion.chunk streams with
// split content and tool-call deltas, a finish chunk, a usage chunk when
// asked for, and data: [DONE]) so that the real provider code is what gets
// tested. Because it emits whatever tool calls a test scripts, it also plays
// the hijacked, attacker-controlled model in security tests.
//
// Guarantees: it listens on 127.0.0.1 only; it is closed when the test ends,
// and a reply still waiting out its Delay is abandoned then; a request that
// arrives after ForbidRequests fails the test.
package fakellm

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Reply is what the server answers one request with.
type Reply struct {
	Text      string
	ToolCalls []Call
	// Status, when not 0 or 200, makes the reply an HTTP error with an
	// OpenAI-style {"error": {...}} body (Text, if set, is its message).
	Status int
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string
	// Body, when set, is sent verbatim instead of a generated body (with
	// Status, or 200), e.g. garbage. A streaming request gets it as the
	// text/event-stream body.
	Body string
	// Delay is waited before answering (abandoned if the client gives up).
	Delay time.Duration
	// Hold, when set, is waited on (until it is closed) before answering,
	// after the request is counted: tests hold calls in flight with it and
	// decide when they end, without timing. Abandoned like Delay.
	Hold <-chan struct{}
	// Usage overrides the default estimate (characters / 4).
	Usage *Usage
	// FinishReason overrides "stop" / "tool_calls".
	FinishReason string
	// Echo, when set, makes the text Echo followed by the content of the
	// request's last user message, so a test can tell which message a
	// reply answers.
	Echo string
}

// Call is one scripted tool call.
type Call struct {
	ID, Name string
	Args     string // raw JSON text; may be invalid on purpose
}

// Usage is scripted token usage.
type Usage struct {
	Prompt, Completion int
}

// Request is one request as the server received and decoded it.
type Request struct {
	Path          string
	Model         string
	Messages      []Message
	Tools         []string // names of the tools offered
	Stream        bool
	IncludeUsage  bool // stream_options.include_usage
	MaxTokens     int  // max_tokens or max_completion_tokens
	Authorization string
	Header        http.Header
	Body          []byte // raw request body
}

// Message is one decoded request message.
type Message struct {
	Role       string
	Content    string // string content, or text parts joined
	Name       string
	ToolCallID string
	ToolCalls  []Call
}

// Server is the fake. Fields other than Default are read-only.
type Server struct {
	// URL is the base URL, ending in /v1, to configure as baseUrl.
	URL string
	// Default is the reply when the script is empty. Its zero value means
	// Reply{Text: "ok"}. Set it between requests, not during one.
	Default Reply

	t    testing.TB
	srv  *httptest.Server
	done chan struct{}

	mu         sync.Mutex
	queue      []Reply
	reqs       []Request
	forbidden  bool
	violations []string
	seq        int
}

// New starts a server; it is closed, and ForbidRequests violations
// reported, when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{t: t, done: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL + "/v1"
	t.Cleanup(func() {
		close(s.done)
		s.srv.Close()
		s.mu.Lock()
		v := s.violations
		s.mu.Unlock()
		for _, msg := range v {
			t.Errorf("fakellm: %s", msg)
		}
	})
	return s
}

// Script replaces the replies still waiting with replies, answered in
// order, one per request. Once they are used up, Default answers. Each
// Script call thus states what the next requests get, whatever an earlier
// script left unused; use Enqueue to add to the queue instead.
func (s *Server) Script(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append([]Reply(nil), replies...)
}

// Enqueue appends replies after those still waiting.
func (s *Server) Enqueue(replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, replies...)
}

// Pending is how many scripted replies have not been used.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// ForbidRequests makes every later request a test failure (reported at
// cleanup) and answers it with HTTP 403. For budget tests: the model must
// not be called.
func (s *Server) ForbidRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forbidden = true
}

// Requests returns every request received so far, in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Count is how many requests arrived (including forbidden ones).
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.reqs)
}

// wire shapes of the request.
type wireRequest struct {
	Model               string        `json:"model"`
	Messages            []wireMessage `json:"messages"`
	Tools               []wireTool    `json:"tools"`
	Stream              bool          `json:"stream"`
	MaxTokens           int           `json:"max_tokens"`
	MaxCompletionTokens int           `json:"max_completion_tokens"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type wireMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCallID string          `json:"tool_call_id"`
	ToolCalls  []wireToolCall  `json:"tool_calls"`
}

type wireToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wireTool struct {
	Type     string `json:"type"`
	Function struct {
		Name string `json:"name"`
	} `json:"function"`
}

// contentText reads string content or an array of {type: text, text} parts.
func contentText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(raw, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

const maxRequestBody = 32 << 20

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && r.URL.Path == "/v1/models" {
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": "fake", "object": "model", "created": 0, "owned_by": "fakellm"}}})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		writeError(w, http.StatusNotFound, fmt.Sprintf("fakellm: no route for %s %s", r.Method, r.URL.Path), "")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		writeError(w, http.StatusBadRequest, "fakellm: reading body: "+err.Error(), "")
		return
	}
	var wr wireRequest
	decodeErr := json.Unmarshal(body, &wr)
	rec := Request{Path: r.URL.Path, Model: wr.Model, Stream: wr.Stream, Header: r.Header.Clone(),
		Authorization: r.Header.Get("Authorization"), Body: body, MaxTokens: wr.MaxTokens}
	if wr.MaxCompletionTokens != 0 {
		rec.MaxTokens = wr.MaxCompletionTokens
	}
	rec.IncludeUsage = wr.StreamOptions != nil && wr.StreamOptions.IncludeUsage
	promptChars := 0
	for _, m := range wr.Messages {
		msg := Message{Role: m.Role, Content: contentText(m.Content), Name: m.Name, ToolCallID: m.ToolCallID}
		for _, tc := range m.ToolCalls {
			msg.ToolCalls = append(msg.ToolCalls, Call{ID: tc.ID, Name: tc.Function.Name, Args: tc.Function.Arguments})
			promptChars += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
		promptChars += len(msg.Content)
		rec.Messages = append(rec.Messages, msg)
	}
	for _, t := range wr.Tools {
		rec.Tools = append(rec.Tools, t.Function.Name)
	}

	s.mu.Lock()
	s.reqs = append(s.reqs, rec)
	s.seq++
	id := s.seq
	forbidden := s.forbidden
	var reply Reply
	switch {
	case forbidden || decodeErr != nil:
		// answered with an error below; the script is left as it is
	case len(s.queue) > 0:
		reply, s.queue = s.queue[0], s.queue[1:]
	default:
		reply = s.Default
		if isZero(reply) {
			reply = Reply{Text: "ok"}
		}
	}
	if reply.Echo != "" {
		for i := len(rec.Messages) - 1; i >= 0; i-- {
			if rec.Messages[i].Role == "user" {
				reply.Text = reply.Echo + rec.Messages[i].Content
				break
			}
		}
	}
	if forbidden {
		s.violations = append(s.violations, fmt.Sprintf("request %d arrived after ForbidRequests (model %q)", id, wr.Model))
	}
	s.mu.Unlock()

	if forbidden {
		writeError(w, http.StatusForbidden, "fakellm: requests are forbidden in this test", "")
		return
	}
	if decodeErr != nil {
		writeError(w, http.StatusBadRequest, "fakellm: request body is not JSON: "+decodeErr.Error(), "invalid_request_error")
		return
	}
	if reply.Delay > 0 {
		t := time.NewTimer(reply.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
	}
	if reply.Hold != nil {
		select {
		case <-reply.Hold:
		case <-r.Context().Done():
			return
		case <-s.done:
			return
		}
	}
	if reply.RetryAfter != "" {
		w.Header().Set("Retry-After", reply.RetryAfter)
	}
	if reply.Body != "" {
		status := reply.Status
		if status == 0 {
			status = http.StatusOK
		}
		if wr.Stream {
			w.Header().Set("Content-Type", "text/event-stream")
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		w.Write([]byte(reply.Body))
		return
	}
	if reply.Status != 0 && reply.Status != http.StatusOK {
		msg := reply.Text
		if msg == "" {
			msg = fmt.Sprintf("fakellm: scripted HTTP %d", reply.Status)
		}
		writeError(w, reply.Status, msg, errorType(reply.Status))
		return
	}

	usage := Usage{Prompt: max(1, promptChars/4), Completion: max(1, replyChars(reply)/4)}
	if reply.Usage != nil {
		usage = *reply.Usage
	}
	finish := reply.FinishReason
	if finish == "" {
		finish = "stop"
		if len(reply.ToolCalls) > 0 {
			finish = "tool_calls"
		}
	}
	model := wr.Model
	if model == "" {
		model = "fake"
	}
	cid := fmt.Sprintf("chatcmpl-fake%d", id)
	if wr.Stream {
		s.stream(w, r, cid, model, reply, finish, usage, rec.IncludeUsage)
		return
	}
	msg := map[string]any{"role": "assistant", "content": nil}
	if reply.Text != "" || len(reply.ToolCalls) == 0 {
		msg["content"] = reply.Text
	}
	if len(reply.ToolCalls) > 0 {
		var calls []wireToolCall
		for i, c := range reply.ToolCalls {
			var tc wireToolCall
			tc.ID, tc.Type = callID(c, i), "function"
			tc.Function.Name, tc.Function.Arguments = c.Name, c.Args
			calls = append(calls, tc)
		}
		msg["tool_calls"] = calls
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"id": cid, "object": "chat.completion", "created": time.Now().Unix(), "model": model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish, "logprobs": nil}},
		"usage":   usageJSON(usage),
	})
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request, cid, model string, reply Reply, finish string, usage Usage, includeUsage bool) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl, _ := w.(http.Flusher)
	created := time.Now().Unix()
	send := func(choices []any, u *Usage) bool {
		chunk := map[string]any{"id": cid, "object": "chat.completion.chunk", "created": created, "model": model, "choices": choices}
		if u != nil {
			chunk["usage"] = usageJSON(*u)
		} else if includeUsage {
			chunk["usage"] = nil
		}
		b, _ := json.Marshal(chunk)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return r.Context().Err() == nil
	}
	delta := func(d map[string]any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "finish_reason": nil, "logprobs": nil}}
	}
	if !send(delta(map[string]any{"role": "assistant", "content": ""}), nil) {
		return
	}
	for _, piece := range splitText(reply.Text, 8) {
		if !send(delta(map[string]any{"content": piece}), nil) {
			return
		}
	}
	for i, c := range reply.ToolCalls {
		idx := i
		// id, type and name first, with empty arguments …
		head := wireToolCall{Index: &idx, ID: callID(c, i), Type: "function"}
		head.Function.Name = c.Name
		if !send(delta(map[string]any{"tool_calls": []wireToolCall{head}}), nil) {
			return
		}
		// … then the arguments in pieces.
		for _, piece := range splitArgs(c.Args) {
			var part wireToolCall
			part.Index = &idx
			part.Function.Arguments = piece
			if !send(delta(map[string]any{"tool_calls": []wireToolCall{part}}), nil) {
				return
			}
		}
	}
	if !send([]any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": finish, "logprobs": nil}}, nil) {
		return
	}
	if includeUsage && !send([]any{}, &usage) {
		return
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	if fl != nil {
		fl.Flush()
	}
}

// splitText cuts s into word-sized pieces of at most n runes, on rune
// boundaries, so that a stream carries many content deltas.
func splitText(s string, n int) []string {
	var out []string
	for len(s) > 0 {
		end, runes := 0, 0
		for end < len(s) && runes < n {
			_, size := utf8.DecodeRuneInString(s[end:])
			end += size
			runes++
			if s[end-1] == ' ' {
				break
			}
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

// splitArgs cuts tool arguments into three pieces or so (rune-safe).
func splitArgs(s string) []string {
	if s == "" {
		return nil
	}
	n := max(1, (utf8.RuneCountInString(s)+2)/3)
	var out []string
	for len(s) > 0 {
		end, runes := 0, 0
		for end < len(s) && runes < n {
			_, size := utf8.DecodeRuneInString(s[end:])
			end += size
			runes++
		}
		out = append(out, s[:end])
		s = s[end:]
	}
	return out
}

func callID(c Call, i int) string {
	if c.ID != "" {
		return c.ID
	}
	return fmt.Sprintf("call_fake_%d", i+1)
}

func replyChars(r Reply) int {
	n := len(r.Text)
	for _, c := range r.ToolCalls {
		n += len(c.Name) + len(c.Args)
	}
	return n
}

func usageJSON(u Usage) map[string]any {
	return map[string]any{"prompt_tokens": u.Prompt, "completion_tokens": u.Completion, "total_tokens": u.Prompt + u.Completion}
}

func isZero(r Reply) bool {
	return r.Text == "" && len(r.ToolCalls) == 0 && r.Status == 0 && r.RetryAfter == "" && r.Body == "" &&
		r.Delay == 0 && r.Hold == nil && r.Usage == nil && r.FinishReason == "" && r.Echo == ""
}

func errorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status >= 500:
		return "server_error"
	default:
		return "invalid_request_error"
	}
}

func writeError(w http.ResponseWriter, status int, msg, typ string) {
	if typ == "" {
		typ = errorType(status)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": nil}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(b)
}
