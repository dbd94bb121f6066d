package agent

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
)

// TestInvariant7_ProviderClientReachesOnlyConfiguredOrigins: the provider
// HTTP client may reach the configured base URL on loopback and nothing else
// private — not another port of the same host, not the metadata address.
func TestInvariant7_ProviderClientReachesOnlyConfiguredOrigins(t *testing.T) {
	var hits, canaryHits atomic.Int32
	provider := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer provider.Close()
	canary := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { canaryHits.Add(1) }))
	defer canary.Close()
	cfg := config.Default()
	cfg.Models.Providers = map[string]config.Provider{"local": {API: "openai-completions", BaseURL: provider.URL + "/v1", Models: []config.ModelDef{{ID: "m"}}}}
	cfg.Agents.Defaults.Model = "local/m"
	c := &ConfigModels{}
	if _, err := c.Models(cfg); err != nil {
		t.Fatal(err)
	}
	resp, err := c.client.Get(provider.URL + "/v1/models")
	if err != nil {
		t.Fatalf("configured provider unreachable: %v", err)
	}
	resp.Body.Close()
	for _, u := range []string{canary.URL + "/", "http://169.254.169.254/latest/meta-data/", "http://localhost" + provider.URL[len("http://127.0.0.1"):] + "/"} {
		if _, err := c.client.Get(u); !errors.Is(err, netguard.ErrBlocked) {
			t.Errorf("%s: %v, want ErrBlocked", u, err)
		}
	}
	if hits.Load() != 1 || canaryHits.Load() != 0 {
		t.Fatalf("provider hits %d, canary hits %d", hits.Load(), canaryHits.Load())
	}
}
