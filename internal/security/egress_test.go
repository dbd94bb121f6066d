package security

import (
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
)

func egressFindings(c *config.Config) map[string]Finding {
	out := map[string]Finding{}
	for _, f := range Audit(AuditInput{Config: c, Tree: map[string]any{}}) {
		if strings.HasPrefix(f.CheckID, "egress.") || strings.HasPrefix(f.CheckID, "tools.web.") {
			out[f.CheckID] = f
		}
	}
	return out
}

// TestAuditExplainsEgress: the egress.policy finding states the effective
// policy: web_fetch on or off, its host list with ports, the private
// network, the search backend, and the provider and channel base URLs that
// are the only private addresses their clients may reach.
func TestAuditExplainsEgress(t *testing.T) {
	c := config.Default()
	c.Tools.Profile = "full"
	f := egressFindings(c)["egress.policy"]
	if f.Severity != Info || !strings.Contains(f.Detail, "web_fetch: any public host on ports 80 and 443") ||
		!strings.Contains(f.Detail, "web_fetch private network: closed") || !strings.Contains(f.Detail, "web_search: off") ||
		!strings.Contains(f.Detail, "clients: none") || !strings.Contains(f.Fix, "allowedHostnames") {
		t.Fatalf("default: %+v", f)
	}

	c.Tools.Web.Fetch.AllowedHostnames = []string{"docs.example.com", "wiki.lan:8080", "*.corp.example", "10.1.2.3"}
	c.Tools.Web.Search = config.WebSearch{Provider: "brave", APIKey: secret.New("k")}
	c.Models.Providers = map[string]config.Provider{
		"local":  {API: "openai-completions", BaseURL: "http://127.0.0.1:11434/v1"},
		"claude": {API: "anthropic-messages", APIKey: secret.New("k")},
	}
	c.Channels.Signal = &config.Signal{Enabled: true, SignalAccount: config.SignalAccount{HTTPURL: "http://127.0.0.1:8080"}}
	c.Channels.Telegram = &config.Telegram{Enabled: true}
	fs := egressFindings(c)
	d := fs["egress.policy"].Detail
	for _, want := range []string{
		"web_fetch: only docs.example.com (ports 80, 443), wiki.lan (port 8080, local network), *.corp.example (ports 80, 443), 10.1.2.3 (ports 80, 443, local network), redirects included",
		"web_fetch private network: only the listed hosts",
		"web_search: brave at https://api.search.brave.com",
		"model providers: claude https://api.anthropic.com, local http://127.0.0.1:11434",
		"channels: telegram https://api.telegram.org, signal http://127.0.0.1:8080",
		"private addresses reachable by provider, channel and search clients: only http://127.0.0.1:11434, http://127.0.0.1:8080",
		"cloud metadata endpoints are never reachable",
	} {
		if !strings.Contains(d, want) {
			t.Errorf("detail lacks %q:\n%s", want, d)
		}
	}
	if fs["egress.policy"].Fix != "" {
		t.Errorf("fix %q with a host list", fs["egress.policy"].Fix)
	}
	if l := fs["tools.web.fetch.local_hosts_listed"]; l.Severity != Info || !strings.Contains(l.Detail, "wiki.lan, 10.1.2.3") {
		t.Errorf("local hosts: %+v", l)
	}
	if _, ok := fs["tools.web.fetch.private_network_with_list"]; ok {
		t.Error("private_network_with_list without allowPrivateNetwork")
	}

	// What weakens the policy.
	c.Tools.Web.Fetch.AllowPrivateNetwork = true
	c.Tools.Web.Fetch.AllowedHostnames = append(c.Tools.Web.Fetch.AllowedHostnames, "*.home.arpa")
	c.Models.Providers["lan"] = config.Provider{API: "openai-completions", BaseURL: "http://192.168.1.20:8000/v1", APIKey: secret.New("k")}
	c.Models.Providers["keyless"] = config.Provider{API: "openai-completions", BaseURL: "http://192.168.1.21:8000/v1"}
	fs = egressFindings(c)
	if fs["tools.web.fetch.private_network_with_list"].Severity != Warn {
		t.Errorf("allowPrivateNetwork with a list: %+v", fs)
	}
	if _, ok := fs["tools.web.fetch.private_network"]; ok {
		t.Error("the list-less private_network warning also fired")
	}
	if w := fs["tools.web.fetch.local_wildcard"]; w.Severity != Warn || !strings.Contains(w.Detail, "*.home.arpa") {
		t.Errorf("local wildcard: %+v", w)
	}
	if w := fs["egress.cleartext_credentials"]; w.Severity != Warn || !strings.Contains(w.Title, "models.providers.lan.baseUrl") {
		t.Errorf("cleartext credentials: %+v", w)
	}
	if !strings.Contains(fs["egress.policy"].Detail, "web_fetch private network: open (allowPrivateNetwork)") {
		t.Errorf("detail: %s", fs["egress.policy"].Detail)
	}

	c.Tools.Deny = []string{"web_fetch", "web_search"}
	d = egressFindings(c)["egress.policy"].Detail
	if !strings.Contains(d, "web_fetch: off") || !strings.Contains(d, "web_search: off") {
		t.Errorf("denied tools: %s", d)
	}
}
