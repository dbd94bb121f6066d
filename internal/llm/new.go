package llm

import (
	"fmt"
	"strings"

	"github.com/talonclaw/talon/internal/netguard"
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
// what is not in cfg is not used. cfg.HTTPClient is required and must send
// through a netguard Transport (netguard.CheckClient), so that every
// provider request is checked (invariant 7); anything else is an error
// wrapping netguard.ErrNotGuarded, never a fallback to net/http's default
// transport. An unknown cfg.API is an error wrapping ErrUnknownAPI.
func New(cfg Config) (Provider, error) {
	if err := checkClient("llm.New", cfg); err != nil {
		return nil, err
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

// checkClient refuses a provider config whose HTTP client does not send
// through netguard; every provider constructor calls it first.
func checkClient(fn string, cfg Config) error {
	if err := netguard.CheckClient(cfg.HTTPClient); err != nil {
		return fmt.Errorf("%s: provider %q: %w", fn, cfg.ID, err)
	}
	return nil
}
