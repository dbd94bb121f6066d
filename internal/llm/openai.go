package llm

// The OpenAI chat-completions provider, for api.openai.com and every server
// that speaks the same wire format (Ollama, vLLM, LM Studio, OpenRouter, …).
//
// Guarantees, beyond the package's:
//   - The SDK client is built from services, never with openai.NewClient, so
//     OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_ORG_ID, OPENAI_PROJECT_ID,
//     OPENAI_CUSTOM_HEADERS and friends cannot leak into a request.
//   - The SDK never retries by itself (the Router does, knowing whether
//     output was already shown).
//   - An empty API key sends no Authorization header at all.
//   - The given client must send through netguard (checkClient); there is
//     no fallback transport.
//   - Errors are *APIError (status, Retry-After, Retryable) or the caller's
//     own context error; provider messages are redacted of secrets.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"
	"github.com/openai/openai-go/v3/packages/ssestream"
	"github.com/openai/openai-go/v3/shared"

	"github.com/talonclaw/talon/internal/redact"
)

// openAIPublicBaseURL is where an openai-completions provider with no
// baseUrl goes.
const openAIPublicBaseURL = "https://api.openai.com/v1"

const (
	// maxErrorBody bounds how much of an error response is read for its
	// message.
	maxErrorBody = 64 << 10
	// maxResponseBody bounds a whole response (JSON or SSE stream); a server
	// that sends more is cut off with an error.
	maxResponseBody = 64 << 20
	// maxErrorMessage bounds the provider message kept in an APIError.
	maxErrorMessage = 500
)

type openAIProvider struct {
	id      string
	svc     openai.ChatCompletionService
	scrub   *redact.Scrubber // the key, to remove it from error messages
	timeout time.Duration
	// maxCompletionTokens selects the max_completion_tokens field (the
	// official API, whose reasoning models reject max_tokens) over the
	// max_tokens that every compatible server understands.
	maxCompletionTokens bool
	now                 func() time.Time
}

var _ Provider = (*openAIProvider)(nil)

// newOpenAI builds the openai-completions provider from cfg alone.
func newOpenAI(cfg Config) (Provider, error) {
	if err := checkClient("llm.newOpenAI", cfg); err != nil {
		return nil, err
	}
	base := strings.TrimSpace(cfg.BaseURL)
	if base == "" {
		base = openAIPublicBaseURL
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return nil, fmt.Errorf("llm.newOpenAI: provider %q: baseUrl %q is not an http(s) URL without credentials (hint: like http://127.0.0.1:11434/v1)", cfg.ID, cfg.BaseURL)
	}
	hc := *cfg.HTTPClient
	opts := []option.RequestOption{
		option.WithBaseURL(u.String()),
		option.WithHTTPClient(&hc),
		option.WithMaxRetries(0),
	}
	if !cfg.APIKey.IsZero() {
		opts = append(opts, option.WithAPIKey(cfg.APIKey.Reveal()))
	}
	return &openAIProvider{
		id:                  cfg.ID,
		svc:                 openai.NewChatCompletionService(opts...),
		scrub:               keyScrubber(cfg.APIKey),
		timeout:             cfg.Timeout,
		maxCompletionTokens: strings.EqualFold(u.Hostname(), "api.openai.com"),
		now:                 time.Now,
	}, nil
}

// Chat implements Provider. With onDelta it streams (SSE, usage included);
// without, it makes one JSON call.
func (p *openAIProvider) Chat(ctx context.Context, req Request, onDelta func(Delta)) (*Response, error) {
	params, err := p.params(req)
	if err != nil {
		return nil, err
	}
	callCtx := ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	wc := &wireCapture{}
	if onDelta == nil {
		cc, err := p.svc.New(callCtx, params, option.WithMiddleware(wc.middleware))
		if err != nil {
			return nil, p.mapError(ctx, callCtx, wc, err)
		}
		return p.fromCompletion(cc, req)
	}
	params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	return p.stream(ctx, callCtx, wc, params, req, onDelta)
}

// params maps a provider-neutral request onto the SDK's.
func (p *openAIProvider) params(req Request) (openai.ChatCompletionNewParams, error) {
	var out openai.ChatCompletionNewParams
	if req.Model == "" {
		return out, fmt.Errorf("llm.openai.Chat: %s: request names no model", p.id)
	}
	out.Model = shared.ChatModel(req.Model)
	if req.MaxTokens > 0 {
		if p.maxCompletionTokens {
			out.MaxCompletionTokens = openai.Int(int64(req.MaxTokens))
		} else {
			out.MaxTokens = openai.Int(int64(req.MaxTokens))
		}
	}
	if req.System != "" {
		out.Messages = append(out.Messages, openai.SystemMessage(req.System))
	}
	for i, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			out.Messages = append(out.Messages, openai.UserMessage(m.Content))
		case RoleAssistant:
			var a openai.ChatCompletionAssistantMessageParam
			if m.Content != "" || len(m.ToolCalls) == 0 {
				a.Content.OfString = param.NewOpt(m.Content)
			}
			for _, tc := range m.ToolCalls {
				a.ToolCalls = append(a.ToolCalls, openai.ChatCompletionMessageToolCallUnionParam{
					OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{
						ID: tc.ID,
						Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{
							Name:      tc.Name,
							Arguments: argsText(tc.Args),
						},
					},
				})
			}
			out.Messages = append(out.Messages, openai.ChatCompletionMessageParamUnion{OfAssistant: &a})
		case RoleTool:
			// The API has no error flag for tool results; IsError results
			// say so in their content.
			if m.ToolCallID == "" {
				return out, fmt.Errorf("llm.openai.Chat: %s: message %d: tool result without toolCallId", p.id, i)
			}
			out.Messages = append(out.Messages, openai.ToolMessage(m.Content, m.ToolCallID))
		default:
			return out, fmt.Errorf("llm.openai.Chat: %s: message %d: unknown role %q", p.id, i, m.Role)
		}
	}
	for _, t := range req.Tools {
		fn := shared.FunctionDefinitionParam{Name: t.Name}
		if t.Description != "" {
			fn.Description = openai.String(t.Description)
		}
		schema := shared.FunctionParameters{"type": "object", "properties": map[string]any{}}
		if len(bytes.TrimSpace(t.Parameters)) > 0 {
			schema = nil
			if err := json.Unmarshal(t.Parameters, &schema); err != nil || schema == nil {
				return out, fmt.Errorf("llm.openai.Chat: %s: tool %q: parameters are not a JSON object", p.id, t.Name)
			}
		}
		fn.Parameters = schema
		out.Tools = append(out.Tools, openai.ChatCompletionFunctionTool(fn))
	}
	return out, nil
}

// argsText is the wire form of tool-call arguments: the model's own text,
// with "no arguments" spelled {} since servers reject an empty string.
func argsText(a json.RawMessage) string {
	if len(bytes.TrimSpace(a)) == 0 {
		return "{}"
	}
	return string(a)
}

// argsRaw is the inverse: the arguments as the model produced them, with an
// empty string normalised to {}.
func argsRaw(s string) json.RawMessage {
	if strings.TrimSpace(s) == "" {
		return json.RawMessage("{}")
	}
	return json.RawMessage(s)
}

func (p *openAIProvider) fromCompletion(cc *openai.ChatCompletion, req Request) (*Response, error) {
	if cc == nil || len(cc.Choices) == 0 {
		return nil, &APIError{Provider: p.id, Message: "invalid response: no choices in the completion"}
	}
	ch := cc.Choices[0]
	content := ch.Message.Content
	if content == "" {
		content = ch.Message.Refusal // a refusal is the model's answer too
	}
	resp := &Response{
		Message: Message{Role: RoleAssistant, Content: content},
		Usage:   usageFrom(cc.Usage),
		Model:   cc.Model,
	}
	for i, tc := range ch.Message.ToolCalls {
		if tc.Type != "" && tc.Type != "function" {
			continue // custom tools are never offered
		}
		id := tc.ID
		if id == "" {
			id = fmt.Sprintf("call_%d", i+1)
		}
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, ToolCall{ID: id, Name: tc.Function.Name, Args: argsRaw(tc.Function.Arguments)})
	}
	textCalls := false
	if len(resp.Message.ToolCalls) == 0 && len(req.Tools) > 0 {
		if calls, rest := ExtractTextToolCalls(resp.Message.Content, req.Tools); len(calls) > 0 {
			resp.Message.ToolCalls, resp.Message.Content = calls, rest
			textCalls = true
		}
	}
	resp.StopReason = stopReason(ch.FinishReason, len(resp.Message.ToolCalls) > 0, textCalls)
	return resp, nil
}

// stopReason normalises finish_reason. Servers that say "stop" while
// returning tool calls (older Ollama) still mean tool use.
func stopReason(finish string, hasCalls, textCalls bool) string {
	if textCalls {
		return StopToolUse
	}
	switch finish {
	case "stop":
		if hasCalls {
			return StopToolUse
		}
		return StopEndTurn
	case "tool_calls", "function_call":
		return StopToolUse
	case "length":
		return StopMaxTokens
	case "":
		if hasCalls {
			return StopToolUse
		}
		return StopEndTurn
	default:
		return StopOther
	}
}

// usageFrom reports cached prompt tokens apart from the rest, as the other
// providers do, so that InputTokens+CacheReadTokens is the whole prompt.
func usageFrom(u openai.CompletionUsage) Usage {
	cached := int(u.PromptTokensDetails.CachedTokens)
	in := int(u.PromptTokens)
	if cached > in || cached < 0 {
		cached = 0
	}
	return Usage{InputTokens: in - cached, OutputTokens: int(u.CompletionTokens), CacheReadTokens: cached}
}

// partialCall is one streamed tool call being assembled.
type partialCall struct {
	id, name string
	args     strings.Builder
}

func (p *openAIProvider) stream(ctx, callCtx context.Context, wc *wireCapture, params openai.ChatCompletionNewParams, req Request, onDelta func(Delta)) (*Response, error) {
	st := p.svc.NewStreaming(callCtx, params, option.WithMiddleware(wc.middleware))
	defer st.Close()

	filter := &textFilter{emit: func(s string) { onDelta(Delta{Text: s}) }, watch: len(req.Tools) > 0}
	var (
		calls   []*partialCall
		byIndex = map[int64]*partialCall{}
		finish  string
		usage   Usage
		model   string
	)
	for st.Next() {
		chunk := st.Current()
		if chunk.Model != "" {
			model = chunk.Model
		}
		if chunk.JSON.Usage.Valid() {
			usage = usageFrom(chunk.Usage)
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue // n is never set above 1
			}
			if c.Delta.Content != "" {
				filter.write(c.Delta.Content)
			}
			if c.Delta.Refusal != "" {
				filter.write(c.Delta.Refusal)
			}
			for _, d := range c.Delta.ToolCalls {
				pc := byIndex[d.Index]
				// A new id at a known index is a new call: some servers
				// send every complete call at index 0.
				if pc == nil || (d.ID != "" && pc.id != "" && d.ID != pc.id) {
					pc = &partialCall{}
					byIndex[d.Index] = pc
					calls = append(calls, pc)
				}
				if pc.id == "" {
					pc.id = d.ID
				}
				if n := d.Function.Name; n != "" && n != pc.name {
					pc.name += n
				}
				pc.args.WriteString(d.Function.Arguments)
			}
			if c.FinishReason != "" {
				finish = c.FinishReason
			}
		}
	}
	if err := st.Err(); err != nil {
		return nil, p.mapError(ctx, callCtx, wc, err)
	}
	if finish == "" {
		return nil, p.mapError(ctx, callCtx, wc, errTruncatedStream)
	}
	resp := &Response{Message: Message{Role: RoleAssistant, Content: filter.text()}, Usage: usage, Model: model}
	for i, pc := range calls {
		id := pc.id
		if id == "" {
			id = fmt.Sprintf("call_%d", i+1)
		}
		resp.Message.ToolCalls = append(resp.Message.ToolCalls, ToolCall{ID: id, Name: pc.name, Args: argsRaw(pc.args.String())})
	}
	textCalls := false
	if len(resp.Message.ToolCalls) == 0 && len(req.Tools) > 0 {
		if tc, rest := ExtractTextToolCalls(resp.Message.Content, req.Tools); len(tc) > 0 {
			resp.Message.ToolCalls, resp.Message.Content = tc, rest
			textCalls = true
		}
	}
	filter.finish(resp.Message.Content, textCalls)
	for i := range resp.Message.ToolCalls {
		tc := resp.Message.ToolCalls[i]
		onDelta(Delta{ToolCall: &tc})
	}
	resp.StopReason = stopReason(finish, len(resp.Message.ToolCalls) > 0, textCalls)
	return resp, nil
}

// textFilter passes streamed text to emit as it arrives, except what may be
// a tool call written as text: from a "<tool_call>" tag on, or a whole
// message that starts with "{", text is held back until the stream ends and
// ExtractTextToolCalls has had its say. Without tools (watch false) nothing
// is held back, so the deltas concatenate to the final content exactly.
type textFilter struct {
	emit  func(string)
	watch bool
	full  strings.Builder
	sent  int  // bytes of full already emitted
	hold  bool // holding everything from sent on
}

const toolCallOpen = "<tool_call>"

func (f *textFilter) text() string { return f.full.String() }

func (f *textFilter) write(s string) {
	f.full.WriteString(s)
	if !f.watch {
		f.emit(s)
		f.sent += len(s)
		return
	}
	if f.hold {
		return
	}
	t := f.full.String()
	if f.sent == 0 {
		lead := strings.TrimLeftFunc(t, unicode.IsSpace)
		if lead == "" {
			return // decide once the first real character is known
		}
		if lead[0] == '{' {
			f.hold = true
			return
		}
	}
	pending := t[f.sent:]
	if k := strings.Index(pending, toolCallOpen); k >= 0 {
		f.flush(pending[:k])
		f.hold = true
		return
	}
	// Keep back a tail that may be the start of a tag split across deltas.
	keep := 0
	for n := min(len(toolCallOpen)-1, len(pending)); n > 0; n-- {
		if strings.HasSuffix(pending, toolCallOpen[:n]) {
			keep = n
			break
		}
	}
	f.flush(pending[:len(pending)-keep])
}

func (f *textFilter) flush(s string) {
	if s != "" {
		f.emit(s)
		f.sent += len(s)
	}
}

// finish emits what is still held back: all of it when no calls were
// extracted, otherwise whatever of the final content was not yet shown.
func (f *textFilter) finish(content string, extracted bool) {
	if !extracted {
		f.flush(f.full.String()[f.sent:])
		return
	}
	shown := strings.TrimLeftFunc(f.full.String()[:f.sent], unicode.IsSpace)
	n := 0
	for n < len(shown) && n < len(content) && shown[n] == content[n] {
		n++
	}
	if n == len(shown) {
		f.flush(content[n:])
	}
}

// errTruncatedStream is a stream that ended cleanly without a finish_reason:
// not an SSE stream at all, or cut short by a proxy.
var errTruncatedStream = errors.New("the stream ended without a finish_reason (truncated, or not a chat.completion.chunk stream)")

// wireCapture records, per call, what the HTTP exchange looked like, so that
// errors are classified from the wire and not from SDK error strings.
type wireCapture struct {
	status  int
	header  http.Header
	errBody []byte
	body    *recordingBody
}

func (w *wireCapture) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	res, err := next(req)
	if res == nil {
		return res, err
	}
	w.status, w.header = res.StatusCode, res.Header
	if res.Body == nil {
		return res, err
	}
	if res.StatusCode >= 400 {
		b, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
		res.Body.Close()
		w.errBody = b
		res.Body = io.NopCloser(bytes.NewReader(b))
		return res, err
	}
	w.body = &recordingBody{rc: res.Body, left: maxResponseBody}
	res.Body = w.body
	return res, err
}

// recordingBody remembers a read failure (as opposed to bad content), and
// cuts off oversized responses.
type recordingBody struct {
	rc      io.ReadCloser
	left    int64
	readErr error
}

var errResponseTooLarge = fmt.Errorf("response larger than %d bytes", maxResponseBody)

func (b *recordingBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		b.readErr = errResponseTooLarge
		return 0, errResponseTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	if err != nil && err != io.EOF && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}

func (b *recordingBody) Close() error { return b.rc.Close() }

// mapError turns what went wrong into the package's error vocabulary:
// the caller's context error when the caller gave up, otherwise *APIError.
func (p *openAIProvider) mapError(ctx, callCtx context.Context, wc *wireCapture, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("llm.openai.Chat: %s: %w", p.id, context.Cause(ctx))
	}
	if callCtx.Err() != nil {
		return &APIError{Provider: p.id, Message: fmt.Sprintf("no complete answer within %s (timeout)", p.timeout), Retryable: true}
	}
	var se *ssestream.StreamError
	switch {
	case errors.As(err, &se):
		// The server reported a failure in the stream itself, as it would
		// with a 5xx before streaming began.
		return &APIError{Provider: p.id, Status: wc.status, Message: "error in stream: " + p.redact(errorMessage(se.Event.Data, 0)), Retryable: true}
	case wc.status >= 400:
		ae := &APIError{Provider: p.id, Status: wc.status, Message: p.redact(errorMessage(wc.errBody, wc.status))}
		ae.RetryAfter = retryAfter(wc.header, p.now())
		ae.Retryable = retryableStatus(wc.status)
		switch wc.header.Get("X-Should-Retry") {
		case "true":
			ae.Retryable = true
		case "false":
			ae.Retryable = false
		}
		return ae
	case wc.status == 0:
		// No answer: refused, reset, DNS, TLS, or blocked by netguard.
		return &APIError{Provider: p.id, Message: "request failed: " + p.redact(err.Error()), Retryable: true}
	case wc.body != nil && wc.body.readErr != nil:
		if errors.Is(wc.body.readErr, errResponseTooLarge) {
			return &APIError{Provider: p.id, Message: "invalid response: " + errResponseTooLarge.Error()}
		}
		return &APIError{Provider: p.id, Message: "connection failed while reading the response: " + p.redact(wc.body.readErr.Error()), Retryable: true}
	default:
		return &APIError{Provider: p.id, Message: fmt.Sprintf("invalid response (HTTP %d): %s", wc.status, p.redact(err.Error()))}
	}
}

// redact removes the configured key (in any encoding, see keyScrubber),
// and anything that looks like a credential, from text that came from the
// server or the transport.
func (p *openAIProvider) redact(s string) string {
	return redact.Redact(p.scrub.Scrub(s))
}

// retryableStatus is the set of statuses a later attempt may cure.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusConflict ||
		code == http.StatusTooManyRequests || code >= 500
}

// retryAfter reads Retry-After-Ms (OpenAI's) or Retry-After, in seconds or
// as an HTTP date. Unparsable or negative values count as absent.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("Retry-After-Ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms >= 0 && ms < 1e12 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s < 0 || s > 1e9 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}

// errorMessage pulls the human part out of an error body in the shapes seen
// in the wild: {"error":{"message":…}} (OpenAI, vLLM), {"error":"…"}
// (Ollama), {"message":…}, {"detail":…} (FastAPI), or plain text.
func errorMessage(body []byte, status int) string {
	var v struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
		Detail  json.RawMessage `json:"detail"`
	}
	msg := ""
	if json.Unmarshal(body, &v) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(v.Error, &inner) == nil && inner.Message != "":
			msg = inner.Message
		case json.Unmarshal(v.Error, &s) == nil && s != "":
			msg = s
		case v.Message != "":
			msg = v.Message
		case json.Unmarshal(v.Detail, &s) == nil && s != "":
			msg = s
		case len(v.Detail) > 0:
			msg = string(v.Detail)
		}
	}
	if msg == "" {
		msg = string(body)
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "no message"
		}
	}
	if len(msg) > maxErrorMessage {
		cut := maxErrorMessage
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}
