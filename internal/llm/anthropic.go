// Anthropic messages API provider, on github.com/anthropics/anthropic-sdk-go.
//
// The client is built with option.WithoutEnvironmentDefaults, which keeps
// anthropic.NewClient from reading ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN,
// ANTHROPIC_BASE_URL, ANTHROPIC_PROFILE, ANTHROPIC_CUSTOM_HEADERS, the
// federation variables and the profile files under ~/.config/anthropic, and
// with option.WithoutOpenTelemetry, which keeps each request from consulting
// ANTHROPIC_OPEN_TELEMETRY*. The SDK does not retry (the Router does), and
// the HTTP client, which must send through netguard (checkClient), goes
// through sdkClient (bounded response bodies).

package llm

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	"github.com/anthropics/anthropic-sdk-go/packages/param"

	"github.com/talonclaw/talon/internal/redact"
)

const (
	anthropicDefaultBaseURL = "https://api.anthropic.com/"
	// anthropicDefaultMaxTokens is sent when the request has no MaxTokens:
	// the API requires max_tokens.
	anthropicDefaultMaxTokens = 4096
	// anthropicUnaryTimeout bounds a non-streaming call when Config.Timeout
	// is zero. Passing a timeout also stops the SDK from refusing
	// non-streaming calls whose max_tokens it estimates would take longer.
	anthropicUnaryTimeout = 10 * time.Minute
)

type anthropicProvider struct {
	id      string
	client  anthropic.Client
	scrub   *redact.Scrubber // the key, to remove it from error messages
	timeout time.Duration
}

var _ Provider = (*anthropicProvider)(nil)

// newAnthropic builds a provider for the Anthropic messages API from cfg
// alone: nothing is read from the environment or from files.
func newAnthropic(cfg Config) (Provider, error) {
	if err := checkClient("llm.newAnthropic", cfg); err != nil {
		return nil, err
	}
	base := anthropicDefaultBaseURL
	if cfg.BaseURL != "" {
		u, err := sdkBaseURL(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("llm.newAnthropic: provider %q: %w (hint: like https://api.anthropic.com)", cfg.ID, err)
		}
		// The SDK appends "v1/messages"; accept a base URL copied with
		// the version in it.
		u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v1") + "/"
		base = u.String()
	}
	opts := []option.RequestOption{
		option.WithoutEnvironmentDefaults(),
		option.WithoutOpenTelemetry(),
		option.WithBaseURL(base),
		option.WithHTTPClient(sdkClient(cfg.HTTPClient)),
		option.WithMaxRetries(0),
	}
	if !cfg.APIKey.IsZero() {
		opts = append(opts, option.WithAPIKey(cfg.APIKey.Reveal()))
	}
	return &anthropicProvider{
		id:      cmp.Or(cfg.ID, "anthropic"),
		client:  anthropic.NewClient(opts...),
		scrub:   keyScrubber(cfg.APIKey),
		timeout: cfg.Timeout,
	}, nil
}

// Chat implements Provider.
func (p *anthropicProvider) Chat(ctx context.Context, req Request, onDelta func(Delta)) (*Response, error) {
	params, err := anthropicParams(req)
	if err != nil {
		return nil, err
	}
	callCtx := ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	if onDelta == nil {
		msg, err := p.client.Messages.New(callCtx, params, option.WithRequestTimeout(cmp.Or(p.timeout, anthropicUnaryTimeout)))
		if err != nil {
			return nil, p.callError(ctx, callCtx, err)
		}
		return anthropicResponse(msg), nil
	}
	resp, err := p.stream(callCtx, params, onDelta)
	if err != nil {
		return nil, p.callError(ctx, callCtx, err)
	}
	return resp, nil
}

// anthropicParams translates a Request into the messages API's form.
func anthropicParams(req Request) (anthropic.MessageNewParams, error) {
	if req.Model == "" {
		return anthropic.MessageNewParams{}, errors.New("llm.anthropic.Chat: request has no model")
	}
	params := anthropic.MessageNewParams{
		Model:     anthropic.Model(req.Model),
		MaxTokens: int64(cmp.Or(req.MaxTokens, anthropicDefaultMaxTokens)),
	}
	if req.System != "" {
		params.System = []anthropic.TextBlockParam{{Text: req.System}}
	}
	// inResults is true while the last message holds only tool results,
	// so that the next result joins it: the API wants every result for
	// one assistant turn in the single user message that follows it.
	inResults := false
	for i, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			inResults = false
			if m.Content == "" {
				continue // the API rejects empty text blocks
			}
			params.Messages = append(params.Messages, anthropic.NewUserMessage(anthropic.NewTextBlock(m.Content)))
		case RoleAssistant:
			inResults = false
			var blocks []anthropic.ContentBlockParamUnion
			if m.Content != "" {
				blocks = append(blocks, anthropic.NewTextBlock(m.Content))
			}
			for _, tc := range m.ToolCalls {
				blocks = append(blocks, anthropic.NewToolUseBlock(tc.ID, anthropicInput(tc.Args), tc.Name))
			}
			if len(blocks) == 0 {
				continue
			}
			params.Messages = append(params.Messages, anthropic.NewAssistantMessage(blocks...))
		case RoleTool:
			result := anthropic.ToolResultBlockParam{ToolUseID: m.ToolCallID, IsError: anthropic.Bool(m.IsError)}
			if m.Content != "" {
				result.Content = []anthropic.ToolResultBlockParamContentUnion{{OfText: &anthropic.TextBlockParam{Text: m.Content}}}
			}
			block := anthropic.ContentBlockParamUnion{OfToolResult: &result}
			if inResults {
				last := &params.Messages[len(params.Messages)-1]
				last.Content = append(last.Content, block)
				continue
			}
			params.Messages = append(params.Messages, anthropic.NewUserMessage(block))
			inResults = true
		default:
			return anthropic.MessageNewParams{}, fmt.Errorf("llm.anthropic.Chat: message %d: unknown role %q", i, m.Role)
		}
	}
	for _, t := range req.Tools {
		schema, err := anthropicSchema(t.Parameters)
		if err != nil {
			return anthropic.MessageNewParams{}, fmt.Errorf("llm.anthropic.Chat: tool %q: %w", t.Name, err)
		}
		tool := anthropic.ToolParam{Name: t.Name, InputSchema: schema}
		if t.Description != "" {
			tool.Description = anthropic.String(t.Description)
		}
		params.Tools = append(params.Tools, anthropic.ToolUnionParam{OfTool: &tool})
	}
	return params, nil
}

// anthropicInput is a tool call's arguments as a tool_use input, which must
// be a JSON object. Arguments that are not one were already reported to the
// model as a tool error; the call itself is replayed with {}.
func anthropicInput(args json.RawMessage) json.RawMessage {
	var obj map[string]json.RawMessage
	if json.Unmarshal(args, &obj) != nil || obj == nil {
		return json.RawMessage(`{}`)
	}
	return args
}

// anthropicSchema sends a tool's JSON Schema as its input_schema verbatim,
// adding "type": "object" when it is missing (the API requires it).
func anthropicSchema(raw json.RawMessage) (anthropic.ToolInputSchemaParam, error) {
	var schema map[string]json.RawMessage
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &schema); err != nil || schema == nil {
			return anthropic.ToolInputSchemaParam{}, errors.New("parameters are not a JSON object")
		}
	}
	if schema == nil {
		schema = map[string]json.RawMessage{}
	}
	if _, ok := schema["type"]; !ok {
		schema["type"] = json.RawMessage(`"object"`)
	}
	b, err := json.Marshal(schema)
	if err != nil {
		return anthropic.ToolInputSchemaParam{}, err
	}
	return param.Override[anthropic.ToolInputSchemaParam](json.RawMessage(b)), nil
}

// anthropicResponse converts a complete (non-streamed) message.
func anthropicResponse(msg *anthropic.Message) *Response {
	resp := &Response{
		Message:    Message{Role: RoleAssistant},
		StopReason: anthropicStop(msg.StopReason),
		Model:      string(msg.Model),
		Usage: Usage{
			InputTokens:      int(msg.Usage.InputTokens),
			OutputTokens:     int(msg.Usage.OutputTokens),
			CacheReadTokens:  int(msg.Usage.CacheReadInputTokens),
			CacheWriteTokens: int(msg.Usage.CacheCreationInputTokens),
		},
	}
	var text strings.Builder
	for _, b := range msg.Content {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			args := b.Input
			if len(args) == 0 {
				args = json.RawMessage(`{}`)
			}
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, ToolCall{ID: b.ID, Name: b.Name, Args: args})
		}
	}
	resp.Message.Content = text.String()
	return resp
}

// stream makes a streaming call: text deltas go to onDelta as they arrive,
// each tool call once its block stops and its arguments are complete.
func (p *anthropicProvider) stream(ctx context.Context, params anthropic.MessageNewParams, onDelta func(Delta)) (*Response, error) {
	s := p.client.Messages.NewStreaming(ctx, params)
	defer s.Close()

	resp := &Response{Message: Message{Role: RoleAssistant}}
	var text strings.Builder
	type pendingCall struct {
		id, name string
		args     strings.Builder
	}
	calls := map[int64]*pendingCall{} // by content block index
	stopped := false
	for s.Next() {
		ev := s.Current()
		switch ev.Type {
		case "message_start":
			resp.Model = string(ev.Message.Model)
			u := ev.Message.Usage
			resp.Usage = Usage{
				InputTokens:      int(u.InputTokens),
				OutputTokens:     int(u.OutputTokens),
				CacheReadTokens:  int(u.CacheReadInputTokens),
				CacheWriteTokens: int(u.CacheCreationInputTokens),
			}
		case "content_block_start":
			switch cb := ev.ContentBlock; cb.Type {
			case "tool_use":
				calls[ev.Index] = &pendingCall{id: cb.ID, name: cb.Name}
			case "text":
				if cb.Text != "" {
					text.WriteString(cb.Text)
					onDelta(Delta{Text: cb.Text})
				}
			}
		case "content_block_delta":
			switch ev.Delta.Type {
			case "text_delta":
				if ev.Delta.Text != "" {
					text.WriteString(ev.Delta.Text)
					onDelta(Delta{Text: ev.Delta.Text})
				}
			case "input_json_delta":
				if c := calls[ev.Index]; c != nil {
					c.args.WriteString(ev.Delta.PartialJSON)
				}
			}
		case "content_block_stop":
			c := calls[ev.Index]
			if c == nil {
				continue
			}
			delete(calls, ev.Index)
			args := json.RawMessage(c.args.String())
			if len(strings.TrimSpace(string(args))) == 0 {
				args = json.RawMessage(`{}`)
			}
			tc := ToolCall{ID: c.id, Name: c.name, Args: args}
			resp.Message.ToolCalls = append(resp.Message.ToolCalls, tc)
			onDelta(Delta{ToolCall: &tc})
		case "message_delta":
			if ev.Delta.StopReason != "" {
				resp.StopReason = anthropicStop(ev.Delta.StopReason)
			}
			// message_delta usage is cumulative; input and cache counts
			// appear in it only on some deployments.
			u := ev.Usage
			if u.OutputTokens > 0 {
				resp.Usage.OutputTokens = int(u.OutputTokens)
			}
			if u.InputTokens > 0 {
				resp.Usage.InputTokens = int(u.InputTokens)
			}
			if u.CacheReadInputTokens > 0 {
				resp.Usage.CacheReadTokens = int(u.CacheReadInputTokens)
			}
			if u.CacheCreationInputTokens > 0 {
				resp.Usage.CacheWriteTokens = int(u.CacheCreationInputTokens)
			}
		case "message_stop":
			stopped = true
		}
	}
	if err := s.Err(); err != nil {
		return nil, err
	}
	if !stopped {
		return nil, &APIError{Provider: p.id, Message: "stream ended before message_stop", Retryable: true}
	}
	resp.Message.Content = text.String()
	if resp.StopReason == "" {
		resp.StopReason = StopOther
	}
	return resp, nil
}

func anthropicStop(r anthropic.StopReason) string {
	switch r {
	case anthropic.StopReasonEndTurn, anthropic.StopReasonStopSequence:
		return StopEndTurn
	case anthropic.StopReasonToolUse:
		return StopToolUse
	case anthropic.StopReasonMaxTokens, anthropic.StopReasonModelContextWindowExceeded:
		return StopMaxTokens
	default:
		return StopOther
	}
}

// callError turns what the SDK returned into the package's error
// vocabulary: the caller's context error when the caller gave up, otherwise
// *APIError.
func (p *anthropicProvider) callError(ctx, callCtx context.Context, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("llm.anthropic.Chat: %s: %w", p.id, context.Cause(ctx))
	}
	if callCtx.Err() != nil {
		return &APIError{Provider: p.id, Message: fmt.Sprintf("no complete answer within %s (timeout)", p.timeout), Retryable: true}
	}
	if ae, ok := err.(*APIError); ok {
		return ae
	}
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		status := ae.StatusCode
		typ, msg := anthropicErrorBody(ae.RawJSON())
		if status < 400 {
			// An error event inside a 200 stream: its type says what
			// status it stands for.
			status = anthropicEventStatus(typ)
		}
		if msg == "" {
			msg = http.StatusText(status)
		}
		if typ != "" {
			msg = typ + ": " + msg
		}
		apiErr := &APIError{Provider: p.id, Status: status, Message: sdkRedact(msg, p.scrub)}
		switch status {
		case 408, 409, 429, 500, 502, 503, 504, 529:
			apiErr.Retryable = true
		}
		if ae.Response != nil && ae.StatusCode >= 400 {
			apiErr.RetryAfter = sdkRetryAfter(ae.Response.Header, time.Now())
			switch ae.Response.Header.Get("X-Should-Retry") {
			case "true":
				apiErr.Retryable = true
			case "false":
				apiErr.Retryable = false
			}
		}
		return apiErr
	}
	return sdkOtherError(p.id, err, p.scrub)
}

// anthropicErrorBody reads {"type":"error","error":{"type":…,"message":…}};
// a body in any other shape is the message.
func anthropicErrorBody(raw string) (typ, msg string) {
	var body struct {
		Error struct {
			Type    string `json:"type"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal([]byte(raw), &body) == nil && (body.Error.Type != "" || body.Error.Message != "") {
		return body.Error.Type, body.Error.Message
	}
	return "", strings.TrimSpace(raw)
}

func anthropicEventStatus(typ string) int {
	switch typ {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "billing_error":
		return 402
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "timeout_error":
		return 504
	case "overloaded_error":
		return 529
	default: // api_error and anything new
		return 500
	}
}

// The helpers below are shared with gemini.go.

// sdkBaseURL checks a configured base URL: absolute, http or https.
func sdkBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q has credentials, a query or a fragment", s)
	}
	return u, nil
}

// sdkRetryAfter reads Retry-After (delay-seconds or an HTTP date) and the
// retry-after-ms extension some gateways send.
func sdkRetryAfter(h http.Header, now time.Time) time.Duration {
	if h == nil {
		return 0
	}
	if v := h.Get("Retry-After-Ms"); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// sdkOtherError classifies an error that carries no API error body. A
// failure to get an answer at all (refused, reset, DNS, a timeout, a body
// cut short) is retryable; certificate errors are not, since the next
// attempt would fail the same way, and neither is an answer that is not
// what the API sends (a garbage body, one over sdkMaxResponse).
func sdkOtherError(provider string, err error, scrub *redact.Scrubber) *APIError {
	var (
		urlErr  *url.Error
		netErr  net.Error
		certErr *tls.CertificateVerificationError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
	)
	msg := sdkRedact(err.Error(), scrub)
	switch {
	case errors.Is(err, errSDKResponseTooLarge):
		return &APIError{Provider: provider, Message: "invalid response: " + errSDKResponseTooLarge.Error()}
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		return &APIError{Provider: provider, Message: "request failed: " + msg}
	case errors.As(err, &urlErr):
		return &APIError{Provider: provider, Message: "request failed: " + msg, Retryable: true}
	case errors.As(err, &netErr), errors.Is(err, io.ErrUnexpectedEOF):
		return &APIError{Provider: provider, Message: "connection failed while reading the response: " + msg, Retryable: true}
	default:
		return &APIError{Provider: provider, Message: "invalid response: " + msg}
	}
}

// errSDKResponseTooLarge ends a response longer than sdkMaxResponse.
var errSDKResponseTooLarge = fmt.Errorf("response body exceeds %d MiB", sdkMaxResponse>>20)

// sdkMaxResponse bounds one response body, JSON or an SSE stream.
const sdkMaxResponse = 64 << 20

// sdkClient returns a copy of c for an SDK client, whose every response
// body is bounded by sdkMaxResponse. c has passed checkClient: its netguard
// Transport, and so its checks and dialer, still carries every request.
func sdkClient(c *http.Client) *http.Client {
	hc := *c
	hc.Transport = sdkTransport{base: c.Transport}
	return &hc
}

// sdkTransport wraps the caller's transport. When the request's context
// holds an *sdkWire, it records the status and headers of the answer there,
// for SDKs whose errors leave them out.
type sdkTransport struct{ base http.RoundTripper }

type sdkWireKey struct{}

// sdkWire is what sdkTransport saw of the last answer to one call.
type sdkWire struct {
	status int
	header http.Header
}

func (t sdkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if w, ok := req.Context().Value(sdkWireKey{}).(*sdkWire); ok {
		w.status, w.header = resp.StatusCode, resp.Header.Clone()
	}
	resp.Body = &sdkBoundedBody{rc: resp.Body, left: sdkMaxResponse}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// caller's transport.
func (t sdkTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

type sdkBoundedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *sdkBoundedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One byte past the limit tells a body that ends exactly there
		// from one that goes on.
		var one [1]byte
		if n, _ := b.rc.Read(one[:]); n > 0 {
			return 0, errSDKResponseTooLarge
		}
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *sdkBoundedBody) Close() error { return b.rc.Close() }

// sdkRedact removes the configured key (in any encoding), and anything that looks like a
// credential, from text that came from the server or the transport, and
// makes it one line of readable length.
func sdkRedact(msg string, scrub *redact.Scrubber) string {
	return sdkClip(strings.Join(strings.Fields(redact.Redact(scrub.Scrub(msg))), " "))
}

// sdkClip keeps error messages to a readable length: a proxy's HTML error
// page is not a message.
func sdkClip(s string) string {
	const max = 512
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
