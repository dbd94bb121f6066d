// Google GenAI provider (the Gemini API, generativelanguage.googleapis.com),
// on google.golang.org/genai.
//
// genai.NewClient always reads GOOGLE_API_KEY, GEMINI_API_KEY,
// GOOGLE_GENAI_USE_VERTEXAI, GOOGLE_GENAI_USE_ENTERPRISE,
// GOOGLE_CLOUD_PROJECT/LOCATION/REGION and GOOGLE_GEMINI_BASE_URL /
// GOOGLE_VERTEX_BASE_URL; there is no option to stop it. Each is only a
// fallback for a ClientConfig field left empty, so every field that decides
// where a request goes and what it carries is set here: Backend (Gemini API,
// never Vertex), APIKey (required, so the environment's is never taken),
// HTTPOptions.BaseURL and APIVersion, and HTTPClient. The project and
// location the SDK may copy from the environment are only used on the Vertex
// backend. Application Default Credentials and the metadata server are only
// consulted on Vertex without a key, which this client never is. The SDK does
// not retry (no HTTPOptions.RetryOptions) and does not resume streams
// (AutomaticContinuation off): the Router retries.

package llm

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"google.golang.org/genai"

	"github.com/talonclaw/talon/internal/redact"
)

const (
	geminiDefaultBaseURL = "https://generativelanguage.googleapis.com/"
	geminiAPIVersion     = "v1beta"
	// geminiSkipSignature is the placeholder Google documents for a
	// function call whose thought signature is not at hand (see
	// ai.google.dev/gemini-api/docs/thought-signatures). Gemini 3 models
	// reject a replayed function call without a signature; Message has no
	// field to carry the real one, so every replayed call gets this.
	geminiSkipSignature = "skip_thought_signature_validator"
)

type geminiProvider struct {
	id      string
	models  *genai.Models
	scrub   *redact.Scrubber // the key, to remove it from error messages
	timeout time.Duration
}

var _ Provider = (*geminiProvider)(nil)

// newGemini builds a provider for the Gemini API from cfg alone; see the
// comment atop this file for what that takes with this SDK.
func newGemini(cfg Config) (Provider, error) {
	if err := checkClient("llm.newGemini", cfg); err != nil {
		return nil, err
	}
	if cfg.APIKey.IsZero() {
		// Without one, the SDK would take GOOGLE_API_KEY or GEMINI_API_KEY.
		return nil, fmt.Errorf("llm.newGemini: provider %q: no apiKey (hint: set models.providers.%s.apiKey; the Gemini API requires a key)", cfg.ID, cfg.ID)
	}
	base, version := geminiDefaultBaseURL, geminiAPIVersion
	if cfg.BaseURL != "" {
		u, err := sdkBaseURL(cfg.BaseURL)
		if err != nil {
			return nil, fmt.Errorf("llm.newGemini: provider %q: %w (hint: like https://generativelanguage.googleapis.com)", cfg.ID, err)
		}
		// The SDK puts the API version after the base URL; accept a base
		// URL copied with the version in it, and use that version.
		p := strings.TrimSuffix(u.Path, "/")
		if i := strings.LastIndexByte(p, '/'); i >= 0 && geminiIsVersion(p[i+1:]) {
			version, p = p[i+1:], p[:i]
		}
		u.Path = p + "/"
		base = u.String()
	}
	client, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      cfg.APIKey.Reveal(),
		Backend:     genai.BackendGeminiAPI,
		HTTPClient:  sdkClient(cfg.HTTPClient),
		HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: version},
	})
	if err != nil {
		return nil, fmt.Errorf("llm.newGemini: provider %q: %s", cfg.ID, sdkRedact(err.Error(), keyScrubber(cfg.APIKey)))
	}
	return &geminiProvider{id: cmp.Or(cfg.ID, "google"), models: client.Models, scrub: keyScrubber(cfg.APIKey), timeout: cfg.Timeout}, nil
}

// geminiIsVersion reports whether s looks like an API version path
// segment: v1, v1beta, v1alpha, v2beta3.
func geminiIsVersion(s string) bool {
	if len(s) < 2 || s[0] != 'v' {
		return false
	}
	s = strings.TrimLeft(s[1:], "0123456789")
	for _, suffix := range []string{"alpha", "beta"} {
		if rest, ok := strings.CutPrefix(s, suffix); ok {
			s = strings.TrimLeft(rest, "0123456789")
		}
	}
	return s == ""
}

// Chat implements Provider. With onDelta it streams (streamGenerateContent,
// SSE); without, it makes one generateContent call.
func (p *geminiProvider) Chat(ctx context.Context, req Request, onDelta func(Delta)) (*Response, error) {
	contents, config, err := geminiRequest(req)
	if err != nil {
		return nil, err
	}
	callCtx := ctx
	if p.timeout > 0 {
		var cancel context.CancelFunc
		callCtx, cancel = context.WithTimeout(ctx, p.timeout)
		defer cancel()
	}
	// genai.APIError carries no headers; sdkTransport records them here.
	wire := &sdkWire{}
	callCtx = context.WithValue(callCtx, sdkWireKey{}, wire)

	acc := geminiAccumulator{nextCall: geminiCallCount(req.Messages), onDelta: onDelta}
	if onDelta == nil {
		r, err := p.models.GenerateContent(callCtx, req.Model, contents, config)
		if err != nil {
			return nil, p.callError(ctx, callCtx, wire, err)
		}
		acc.add(r)
	} else {
		for r, err := range p.models.GenerateContentStream(callCtx, req.Model, contents, config) {
			if err != nil {
				return nil, p.callError(ctx, callCtx, wire, err)
			}
			acc.add(r)
		}
	}
	return acc.response(p.id)
}

// geminiRequest translates a Request into contents and a config.
func geminiRequest(req Request) ([]*genai.Content, *genai.GenerateContentConfig, error) {
	if req.Model == "" {
		return nil, nil, errors.New("llm.gemini.Chat: request has no model")
	}
	config := &genai.GenerateContentConfig{AutomaticContinuation: genai.Ptr(false)}
	if req.System != "" {
		config.SystemInstruction = &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{{Text: req.System}}}
	}
	if req.MaxTokens > 0 {
		config.MaxOutputTokens = int32(min(req.MaxTokens, math.MaxInt32))
	}
	if len(req.Tools) > 0 {
		tool := &genai.Tool{}
		for _, t := range req.Tools {
			fd := &genai.FunctionDeclaration{Name: t.Name, Description: t.Description}
			if len(t.Parameters) > 0 {
				var obj map[string]json.RawMessage
				if json.Unmarshal(t.Parameters, &obj) != nil || obj == nil {
					return nil, nil, fmt.Errorf("llm.gemini.Chat: tool %q: parameters are not a JSON object", t.Name)
				}
				fd.ParametersJsonSchema = t.Parameters
			}
			tool.FunctionDeclarations = append(tool.FunctionDeclarations, fd)
		}
		config.Tools = []*genai.Tool{tool}
	}

	// Function responses are matched to calls by name (Gemini's calls have
	// no ids of their own); a result without ToolName takes its call's.
	names := map[string]string{}
	for _, m := range req.Messages {
		for _, tc := range m.ToolCalls {
			names[tc.ID] = tc.Name
		}
	}
	signed := geminiWantsSignature(req.Model)
	var contents []*genai.Content
	// inResults is true while the last content holds only function
	// responses: all responses to one model turn go in one content.
	inResults := false
	for i, m := range req.Messages {
		switch m.Role {
		case RoleUser:
			inResults = false
			if m.Content == "" {
				continue
			}
			contents = append(contents, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{{Text: m.Content}}})
		case RoleAssistant:
			inResults = false
			var parts []*genai.Part
			if m.Content != "" {
				parts = append(parts, &genai.Part{Text: m.Content})
			}
			for j, tc := range m.ToolCalls {
				part := &genai.Part{FunctionCall: &genai.FunctionCall{Name: tc.Name, Args: geminiArgs(tc.Args)}}
				if j == 0 && signed {
					part.ThoughtSignature = []byte(geminiSkipSignature)
				}
				parts = append(parts, part)
			}
			if len(parts) == 0 {
				continue
			}
			contents = append(contents, &genai.Content{Role: genai.RoleModel, Parts: parts})
		case RoleTool:
			name := cmp.Or(m.ToolName, names[m.ToolCallID])
			if name == "" {
				return nil, nil, fmt.Errorf("llm.gemini.Chat: message %d: tool result for %q has no tool name", i, m.ToolCallID)
			}
			key := "output"
			if m.IsError {
				key = "error"
			}
			part := &genai.Part{FunctionResponse: &genai.FunctionResponse{Name: name, Response: map[string]any{key: m.Content}}}
			if inResults {
				last := contents[len(contents)-1]
				last.Parts = append(last.Parts, part)
				continue
			}
			contents = append(contents, &genai.Content{Role: genai.RoleUser, Parts: []*genai.Part{part}})
			inResults = true
		default:
			return nil, nil, fmt.Errorf("llm.gemini.Chat: message %d: unknown role %q", i, m.Role)
		}
	}
	return contents, config, nil
}

// geminiArgs is a tool call's arguments as a functionCall's args object.
// Arguments that are not a JSON object were already reported to the model
// as a tool error; the call itself is replayed with {}. (The SDK turns
// numbers into float64 on the way out whatever they are here.)
func geminiArgs(args json.RawMessage) map[string]any {
	var obj map[string]any
	if json.Unmarshal(args, &obj) != nil || obj == nil {
		return map[string]any{}
	}
	return obj
}

// geminiWantsSignature reports whether replayed function calls to model
// need a thought signature: Gemini 3 and later enforce it, while earlier
// models never asked for one and are not sent the placeholder.
func geminiWantsSignature(model string) bool {
	m := strings.ToLower(strings.TrimPrefix(model, "models/"))
	if !strings.HasPrefix(m, "gemini-") {
		return false
	}
	return !strings.HasPrefix(m, "gemini-1") && !strings.HasPrefix(m, "gemini-2") && !strings.HasPrefix(m, "gemini-pro") && !strings.HasPrefix(m, "gemini-ultra")
}

// geminiCallCount is how many tool calls the conversation already holds:
// ids for new calls continue from there, so that they stay unique within
// it (other APIs, after a failover, require that).
func geminiCallCount(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += len(m.ToolCalls)
	}
	return n
}

// geminiAccumulator builds a Response from one response or the chunks of
// a stream, forwarding deltas as they come.
type geminiAccumulator struct {
	onDelta  func(Delta)
	nextCall int

	text    strings.Builder
	calls   []ToolCall
	usage   Usage
	model   string
	finish  genai.FinishReason
	chunks  int
	blocked string // why the prompt was blocked, if it was
}

func (a *geminiAccumulator) add(r *genai.GenerateContentResponse) {
	if r == nil {
		return
	}
	a.chunks++
	if r.ModelVersion != "" {
		a.model = r.ModelVersion
	}
	if u := r.UsageMetadata; u != nil {
		// Counts in a stream are running totals; the last is the total.
		// Thinking tokens are billed as output, so they count as output.
		a.usage = Usage{
			InputTokens:     int(u.PromptTokenCount),
			OutputTokens:    int(u.CandidatesTokenCount + u.ThoughtsTokenCount),
			CacheReadTokens: int(u.CachedContentTokenCount),
		}
	}
	if f := r.PromptFeedback; f != nil && f.BlockReason != "" {
		a.blocked = string(f.BlockReason)
		if f.BlockReasonMessage != "" {
			a.blocked += ": " + f.BlockReasonMessage
		}
	}
	if len(r.Candidates) == 0 || r.Candidates[0] == nil {
		return
	}
	c := r.Candidates[0]
	if c.Content != nil {
		for _, part := range c.Content.Parts {
			switch {
			case part == nil || part.Thought:
				// Thought summaries are not the answer.
			case part.FunctionCall != nil:
				args, err := json.Marshal(part.FunctionCall.Args)
				if err != nil || part.FunctionCall.Args == nil {
					args = []byte(`{}`)
				}
				tc := ToolCall{ID: fmt.Sprintf("call_%d", a.nextCall), Name: part.FunctionCall.Name, Args: args}
				a.nextCall++
				a.calls = append(a.calls, tc)
				if a.onDelta != nil {
					a.onDelta(Delta{ToolCall: &tc})
				}
			case part.Text != "":
				a.text.WriteString(part.Text)
				if a.onDelta != nil {
					a.onDelta(Delta{Text: part.Text})
				}
			}
		}
	}
	if c.FinishReason != "" {
		a.finish = c.FinishReason
	}
}

func (a *geminiAccumulator) response(provider string) (*Response, error) {
	if a.blocked != "" && a.text.Len() == 0 && len(a.calls) == 0 {
		return nil, &APIError{Provider: provider, Message: "prompt blocked: " + a.blocked}
	}
	if a.chunks == 0 {
		return nil, &APIError{Provider: provider, Message: "empty response", Retryable: true}
	}
	if a.finish == "" && a.onDelta != nil {
		// The last chunk of a complete stream carries the finish reason.
		return nil, &APIError{Provider: provider, Message: "stream ended without a finish reason", Retryable: true}
	}
	resp := &Response{
		Message: Message{Role: RoleAssistant, Content: a.text.String(), ToolCalls: a.calls},
		Usage:   a.usage,
		Model:   a.model,
	}
	switch {
	case a.finish == genai.FinishReasonMaxTokens:
		resp.StopReason = StopMaxTokens
	case len(a.calls) > 0:
		// Gemini says STOP after function calls too.
		resp.StopReason = StopToolUse
	case a.finish == genai.FinishReasonStop:
		resp.StopReason = StopEndTurn
	default:
		resp.StopReason = StopOther
	}
	return resp, nil
}

// callError turns what the SDK returned into the package's error
// vocabulary, as anthropicProvider.callError does. wire holds the status and
// headers of the answer, which genai.APIError leaves out.
func (p *geminiProvider) callError(ctx, callCtx context.Context, wire *sdkWire, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("llm.gemini.Chat: %s: %w", p.id, context.Cause(ctx))
	}
	if callCtx.Err() != nil {
		return &APIError{Provider: p.id, Message: fmt.Sprintf("no complete answer within %s (timeout)", p.timeout), Retryable: true}
	}
	var ge genai.APIError
	if errors.As(err, &ge) {
		status := ge.Code
		if wire.status >= 400 {
			status = wire.status
		}
		if status == 0 {
			status = geminiStatusCode(ge.Status)
		}
		msg := ge.Message
		if msg == "" {
			msg = http.StatusText(status)
		}
		if ge.Status != "" && !strings.Contains(ge.Status, " ") {
			msg = ge.Status + ": " + msg // RESOURCE_EXHAUSTED: …
		}
		apiErr := &APIError{
			Provider:  p.id,
			Status:    status,
			Message:   sdkRedact(msg, p.scrub),
			Retryable: status == 408 || status == 429 || status >= 500,
		}
		if wire.status >= 400 {
			apiErr.RetryAfter = sdkRetryAfter(wire.header, time.Now())
		}
		if apiErr.RetryAfter == 0 {
			apiErr.RetryAfter = geminiRetryDelay(ge.Details)
		}
		return apiErr
	}
	return sdkOtherError(p.id, err, p.scrub)
}

// geminiRetryDelay reads the google.rpc.RetryInfo detail of an error, which
// is how the Gemini API says when to retry ({"retryDelay": "26s"}).
func geminiRetryDelay(details []map[string]any) time.Duration {
	for _, d := range details {
		if t, _ := d["@type"].(string); !strings.HasSuffix(t, "google.rpc.RetryInfo") {
			continue
		}
		switch v := d["retryDelay"].(type) {
		case string: // protobuf JSON Duration: "26s", "1.5s"
			if dur, err := time.ParseDuration(v); err == nil && dur > 0 {
				return dur
			}
		case map[string]any: // {"seconds": 26, "nanos": 0}
			secs, _ := v["seconds"].(float64)
			nanos, _ := v["nanos"].(float64)
			if dur := time.Duration(secs*float64(time.Second) + nanos); dur > 0 {
				return dur
			}
		}
	}
	return 0
}

// geminiStatusCode maps a google.rpc status name to its HTTP status, for
// errors that arrive inside a stream without a code.
func geminiStatusCode(status string) int {
	switch status {
	case "INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE":
		return 400
	case "UNAUTHENTICATED":
		return 401
	case "PERMISSION_DENIED":
		return 403
	case "NOT_FOUND":
		return 404
	case "ABORTED", "ALREADY_EXISTS":
		return 409
	case "RESOURCE_EXHAUSTED":
		return 429
	case "CANCELLED":
		return 499
	case "UNIMPLEMENTED":
		return 501
	case "UNAVAILABLE":
		return 503
	case "DEADLINE_EXCEEDED":
		return 504
	default: // INTERNAL, UNKNOWN, DATA_LOSS
		return 500
	}
}
