package llm

import (
	"fmt"
	"strings"
)

// API names accepted in Config.API (models.providers.<id>.api).
const (
	APIOpenAICompletions = "openai-completions"
	APIAnthropicMessages = "anthropic-messages"
	APIGoogleGenAI       = "google-genai"
)

// APIs lists the accepted Config.API values, for hints and validation.
func APIs() []string {
	return []string{APIOpenAICompletions, APIAnthropicMessages, APIGoogleGenAI}
}

// New builds the provider cfg describes. It never consults the environment:
// what is not in cfg is not used. cfg.HTTPClient is required, so that every
// provider request goes through the transport the caller chose (netguard).
// An unknown cfg.API is an error wrapping ErrUnknownAPI.
func New(cfg Config) (Provider, error) {
	if cfg.HTTPClient == nil {
		return nil, fmt.Errorf("llm.New: provider %q: no HTTP client (it must carry the netguard transport)", cfg.ID)
	}
	switch cfg.API {
	case APIOpenAICompletions:
		return newOpenAI(cfg)
	case APIAnthropicMessages:
		return newAnthropic(cfg)
	case APIGoogleGenAI:
		return newGemini(cfg)
	default:
		return nil, fmt.Errorf("llm.New: provider %q: api %q: %w (hint: use one of %s)", cfg.ID, cfg.API, ErrUnknownAPI, strings.Join(APIs(), "|"))
	}
}
