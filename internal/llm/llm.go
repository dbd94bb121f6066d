// Package llm is the model-provider layer: one small interface for a
// streaming chat call with tool use, implemented on the official SDKs for the
// OpenAI chat-completions API (and every server compatible with it: Ollama,
// vLLM, LM Studio, OpenRouter), the Anthropic messages API and the Google
// GenAI API.
//
// Guarantee: a provider talks only to the base URL, with the key and the HTTP
// client it was given; nothing here reads the environment (the SDKs would
// otherwise pick up OPENAI_API_KEY and friends silently).
package llm

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/secret"
)

// Role of a message in a conversation.
type Role string

const (
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	// RoleTool carries the result of one tool call (ToolCallID, ToolName).
	RoleTool Role = "tool"
)

// Message is one conversation entry in provider-neutral form. The system
// prompt is not a message; it is Request.System.
type Message struct {
	Role    Role   `json:"role"`
	Content string `json:"content,omitempty"`
	// ToolCalls are the calls an assistant message makes.
	ToolCalls []ToolCall `json:"toolCalls,omitempty"`
	// ToolCallID and ToolName identify the call a tool message answers.
	ToolCallID string `json:"toolCallId,omitempty"`
	ToolName   string `json:"toolName,omitempty"`
	// IsError marks a tool result that is an error.
	IsError bool `json:"isError,omitempty"`
}

// ToolCall is one function call requested by the model. Args is the
// arguments exactly as the model produced them: possibly invalid JSON, which
// the agent reports back to the model as a tool error.
type ToolCall struct {
	ID   string          `json:"id"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// ToolSpec describes a tool to the model (its Group is not sent).
type ToolSpec = core.Spec

// Request is one model call.
type Request struct {
	Model     string // the provider's model id (without the "provider/" prefix)
	System    string
	Messages  []Message
	Tools     []ToolSpec
	MaxTokens int // 0: the model's configured maxTokens
}

// Usage is what a call consumed, as the provider reported it.
type Usage struct {
	InputTokens      int `json:"inputTokens"`
	OutputTokens     int `json:"outputTokens"`
	CacheReadTokens  int `json:"cacheReadTokens,omitempty"`
	CacheWriteTokens int `json:"cacheWriteTokens,omitempty"`
}

// Stop reasons, normalised across providers.
const (
	StopEndTurn   = "end_turn"
	StopToolUse   = "tool_use"
	StopMaxTokens = "max_tokens"
	StopOther     = "other"
)

// Response is a finished call: the assistant message (text and tool calls),
// usage and why the model stopped.
type Response struct {
	Message    Message
	Usage      Usage
	StopReason string
	Model      string // the model id the provider reported, if any
}

// Delta is one streamed piece of a response.
type Delta struct {
	Text     string    // a text fragment
	ToolCall *ToolCall // a complete tool call, once its arguments are known
}

// Provider makes model calls. Chat streams deltas to onDelta when it is not
// nil, and always returns the complete response. Errors that a retry may cure
// are *APIError with Retryable set.
type Provider interface {
	Chat(ctx context.Context, req Request, onDelta func(Delta)) (*Response, error)
}

// Config builds a provider. Everything is explicit: the SDKs are never
// allowed to fill anything from the environment.
type Config struct {
	ID         string // the provider id in models.providers
	API        string // openai-completions | anthropic-messages | google-genai
	BaseURL    string // "" means the API's public endpoint
	APIKey     secret.Secret
	HTTPClient *http.Client // required; must send through a netguard Transport (netguard.CheckClient)
	Timeout    time.Duration
}

// APIError is a failed call with what the provider said about it.
type APIError struct {
	Provider   string
	Status     int           // HTTP status, 0 when the request never got an answer
	Message    string        // the provider's message, redacted of secrets
	RetryAfter time.Duration // from Retry-After, when given
	Retryable  bool          // 429, 5xx, timeouts and connection failures
}

func (e *APIError) Error() string {
	if e.Status == 0 {
		return fmt.Sprintf("%s: %s", e.Provider, e.Message)
	}
	return fmt.Sprintf("%s: HTTP %d: %s", e.Provider, e.Status, e.Message)
}

// keyScrubber is the scrubber a provider passes its error texts through:
// the one redact.Scrubber type, knowing the provider's own key, so the
// key is found in every form a server or transport may echo it (as it is,
// percent-encoded in either case, base64 as in Basic auth, JSON). The
// agent scrubs every other secret Talon knows from what it shows; a key
// shorter than redact.MinSecretLen is a placeholder and is left alone.
func keyScrubber(key secret.Secret) *redact.Scrubber {
	return redact.NewScrubber([]redact.Known{{Value: key.Reveal()}})
}

// ErrUnknownAPI is returned by New for an api value it does not implement.
var ErrUnknownAPI = errors.New("llm: unknown api")
