package agent

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/netguard"
)

// ConfigModels builds providers from models.providers and resolves
// agents.defaults.model and fallbacks against them. Providers are cached per
// provider config, so a hot reload that changes a key or URL gets a new one.
type ConfigModels struct {
	// HTTPClient, when set, is given to every provider (tests). Nil means a
	// netguard client whose only private-address exceptions are the
	// configured provider base URLs.
	HTTPClient *http.Client

	mu        sync.Mutex
	cache     map[string]llm.Provider // by provider id + config hash
	client    *http.Client
	clientKey string // the origins the client was built for
}

// NewProviderClient is the HTTP client for model providers: netguard with
// the configured provider origins (exact scheme://host:port) as the only
// private addresses it may reach, no environment proxy, a 64 MiB body cap,
// and a 15-minute bound per request (responses stream; the turn's deadline
// is usually the tighter one).
func NewProviderClient(origins []string) *http.Client {
	return netguard.Policy{AllowedOrigins: origins, Timeout: 15 * time.Minute, MaxBodyBytes: 64 << 20, SameOriginRedirects: true}.Client()
}

// providerOrigins lists the configured provider base URLs' origins.
func providerOrigins(cfg *config.Config) []string {
	var out []string
	for _, p := range cfg.Models.Providers {
		if u, err := url.Parse(p.BaseURL); err == nil && u.Host != "" {
			out = append(out, u.Scheme+"://"+u.Host)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// Models implements ModelSource.
func (c *ConfigModels) Models(cfg *config.Config) ([]llm.Model, error) {
	d := cfg.Agents.Defaults
	if d.Model == "" {
		return nil, fmt.Errorf("no model configured (hint: add a provider under models.providers and set agents.defaults.model to \"<provider>/<model>\", e.g. talon config set agents.defaults.model local/qwen3)")
	}
	c.mu.Lock()
	if c.HTTPClient == nil {
		if key := strings.Join(providerOrigins(cfg), " "); c.client == nil || key != c.clientKey {
			c.client, c.clientKey = NewProviderClient(providerOrigins(cfg)), key
			c.cache = nil // providers hold the old client
		}
	}
	c.mu.Unlock()
	refs := append([]string{d.Model}, d.Fallbacks...)
	out := make([]llm.Model, 0, len(refs))
	for i, ref := range refs {
		key := "agents.defaults.model"
		if i > 0 {
			key = fmt.Sprintf("agents.defaults.fallbacks.%d", i-1)
		}
		m, err := c.resolve(cfg, ref)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (c *ConfigModels) resolve(cfg *config.Config, ref string) (llm.Model, error) {
	pid, mid, ok := strings.Cut(ref, "/")
	if !ok || pid == "" || mid == "" {
		return llm.Model{}, fmt.Errorf("%q is not \"<provider>/<model>\"", ref)
	}
	p, ok := cfg.Models.Providers[pid]
	if !ok {
		return llm.Model{}, fmt.Errorf("provider %q is not under models.providers (hint: add models.providers.%s)", pid, pid)
	}
	var def *config.ModelDef
	for i := range p.Models {
		if p.Models[i].ID == mid {
			def = &p.Models[i]
		}
	}
	if def == nil {
		return llm.Model{}, fmt.Errorf("model %q is not listed in models.providers.%s.models (hint: add {id: %q, contextWindow: …, cost: {input: …, output: …}} so its context and prices are known)", mid, pid, mid)
	}
	prov, err := c.provider(pid, p)
	if err != nil {
		return llm.Model{}, fmt.Errorf("models.providers.%s: %w", pid, err)
	}
	return llm.Model{Ref: ref, Provider: prov, ProviderID: pid, ModelID: mid, MaxTokens: def.MaxTokens,
		ContextWindow: def.ContextWindow, CostInput: def.Cost.Input, CostOutput: def.Cost.Output}, nil
}

func (c *ConfigModels) provider(id string, p config.Provider) (llm.Provider, error) {
	h := sha256.Sum256([]byte(strings.Join([]string{id, p.API, p.BaseURL, p.APIKey.Reveal()}, "\x00")))
	key := id + ":" + hex.EncodeToString(h[:8])
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cache == nil {
		c.cache = map[string]llm.Provider{}
	}
	if prov, ok := c.cache[key]; ok {
		return prov, nil
	}
	hc := c.HTTPClient
	if hc == nil {
		hc = c.client
	}
	prov, err := llm.New(llm.Config{ID: id, API: p.API, BaseURL: p.BaseURL, APIKey: p.APIKey, HTTPClient: hc})
	if err != nil {
		return nil, err
	}
	for k := range c.cache {
		if strings.HasPrefix(k, id+":") {
			delete(c.cache, k)
		}
	}
	c.cache[key] = prov
	return prov, nil
}
