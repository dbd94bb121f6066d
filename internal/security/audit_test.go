package security

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/secret"
)

func TestAuditChecks(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	os.MkdirAll(state, 0o700)
	cfgPath := filepath.Join(state, "talon.json")
	os.WriteFile(cfgPath, []byte("{}"), 0o600)
	base := func() *config.Config {
		c := config.Default()
		c.Gateway.Auth.Token = secret.New("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
		return c
	}
	ids := func(c *config.Config, tree map[string]any) map[string]string {
		if tree == nil {
			tree = map[string]any{}
		}
		out := map[string]string{}
		for _, f := range Audit(AuditInput{Config: c, Tree: tree, ConfigPath: cfgPath, StateDir: state}) {
			out[f.CheckID] = f.Severity
		}
		return out
	}
	clean := ids(base(), nil)
	for id, sev := range clean {
		if sev != Info {
			t.Errorf("secure default reports %s (%s)", id, sev)
		}
	}
	for _, tc := range []struct {
		id, sev string
		mut     func(*config.Config)
	}{
		{"tools.exec.ask_off", Warn, func(c *config.Config) { c.Tools.Exec.Ask = "off" }},
		{"tools.exec.interpreter_allowlisted", Warn, func(c *config.Config) { c.Tools.Exec.Allowlist = []string{"/usr/bin/python3.11"} }},
		{"tools.exec.interpreter_allowlisted", Warn, func(c *config.Config) { c.Tools.Exec.Allowlist = []string{"/usr/local/bin/*"} }},
		{"sandbox.off", Critical, func(c *config.Config) { c.Agents.Defaults.Sandbox.Mode = "off"; c.Tools.Exec.Security = "full" }},
		{"tools.fs.workspace_only_off", Critical, func(c *config.Config) { c.Tools.FS.WorkspaceOnly = false }},
		{"tools.web.fetch.private_network", Warn, func(c *config.Config) { c.Tools.Web.Fetch.AllowPrivateNetwork = true }},
		{"gateway.trusted_proxies_broad", Critical, func(c *config.Config) { c.Gateway.TrustedProxies = []string{"0.0.0.0/0"} }},
		{"gateway.origins_wildcard", Critical, func(c *config.Config) { c.Gateway.ControlUI.AllowedOrigins = []string{"*"} }},
		{"gateway.token_short", Warn, func(c *config.Config) { c.Gateway.Auth.Token = secret.New("short-but-valid-token-123") }},
		{"gateway.token_missing", Critical, func(c *config.Config) { c.Gateway.Auth.Token = secret.Secret{} }},
		{"gateway.auth_none", Warn, func(c *config.Config) { c.Gateway.Auth.Mode = "none" }},
		{"gateway.rate_limit_weak", Warn, func(c *config.Config) { c.Gateway.Auth.RateLimit.MaxAttempts = 1000 }},
		{"channels.telegram.dm.scope_main_multiuser", Warn, func(c *config.Config) {
			c.Session.DMScope = "main"
			c.Channels.Telegram = &config.Telegram{Enabled: true, ChannelAccess: config.ChannelAccess{DMPolicy: "allowlist", GroupPolicy: "allowlist", AllowFrom: []string{"1", "2"}, RequireMention: true}}
		}},
		{"channels.discord.group.open", Critical, func(c *config.Config) {
			c.Tools.Profile = "coding"
			c.Channels.Discord = &config.Discord{Enabled: true, ChannelAccess: config.ChannelAccess{DMPolicy: "pairing", GroupPolicy: "allowlist", RequireMention: true,
				Groups: map[string]config.ChannelGroup{"*": {RequireMention: true}}}}
		}},
		{"audit.disabled", Warn, func(c *config.Config) { c.Audit.Enabled = false }},
		{"tools.exec.helper_interpreter", Warn, func(c *config.Config) {
			c.Tools.Exec.Helpers = map[string][]string{"/usr/bin/make": {"/usr/bin/sh"}}
		}},
		{"tools.exec.configurable_opt_in", Info, func(c *config.Config) { c.Tools.Exec.DangerouslyAllowConfigurablePrograms = true }},
		{"models.weak_with_web", Critical, func(c *config.Config) {
			c.Models.Providers = map[string]config.Provider{"local": {Models: []config.ModelDef{{ID: "tiny", WeakToolUse: true}}}}
			c.Agents.Defaults.Model = "local/tiny"
			c.Agents.Defaults.Sandbox.Mode = "off"
		}},
		{"channels.slack.dm.wildcard", Critical, func(c *config.Config) {
			c.Channels.Slack = &config.Slack{Enabled: true, ChannelAccess: config.ChannelAccess{DMPolicy: "pairing", AllowFrom: []string{"*"}, GroupPolicy: "allowlist", RequireMention: true}}
		}},
		{"channels.slack.name_matching", Warn, func(c *config.Config) {
			c.Channels.Slack = &config.Slack{Enabled: true, ChannelAccess: config.ChannelAccess{DMPolicy: "pairing", GroupPolicy: "allowlist", RequireMention: true, DangerouslyAllowNameMatching: true}}
		}},
		{"channels.signal.group.no_mention", Warn, func(c *config.Config) {
			c.Channels.Signal = &config.Signal{Enabled: true, ChannelAccess: config.ChannelAccess{DMPolicy: "pairing", GroupPolicy: "allowlist", GroupAllowFrom: []string{"+15550001"}}}
		}},
		{"channels.telegram.webhook_secret_reused", Critical, func(c *config.Config) {
			c.Channels.Telegram = &config.Telegram{Enabled: true, TelegramAccount: config.TelegramAccount{WebhookURL: "https://x.example/tg", WebhookSecret: c.Gateway.Auth.Token},
				ChannelAccess: config.ChannelAccess{DMPolicy: "pairing", GroupPolicy: "allowlist", RequireMention: true}}
		}},
	} {
		c := base()
		tc.mut(c)
		if got := ids(c, nil)[tc.id]; got != tc.sev {
			t.Errorf("%s: severity %q, want %q", tc.id, got, tc.sev)
		}
	}
	// Plain-text API keys are flagged; ${VAR} references are not.
	c := base()
	c.Models.Providers = map[string]config.Provider{"openai": {API: "openai-completions"}}
	tree := map[string]any{"models": map[string]any{"providers": map[string]any{"openai": map[string]any{"apiKey": "sk-live-abc"}}}}
	if ids(c, tree)["secrets.plaintext"] != Warn {
		t.Error("plain-text api key not flagged")
	}
	tree["models"].(map[string]any)["providers"].(map[string]any)["openai"].(map[string]any)["apiKey"] = "${OPENAI_API_KEY}"
	if _, ok := ids(c, tree)["secrets.plaintext"]; ok {
		t.Error("${VAR} reference flagged")
	}
	// World-readable config is critical.
	os.Chmod(cfgPath, 0o644)
	if ids(base(), nil)["fs.config.perms"] != Critical {
		t.Error("world-readable config not critical")
	}
	// So are the secrets store and the WhatsApp device keys.
	os.WriteFile(filepath.Join(state, "secrets.json"), []byte("{}"), 0o644)
	os.MkdirAll(filepath.Join(state, "whatsapp"), 0o755)
	os.WriteFile(filepath.Join(state, "whatsapp", "default.db"), nil, 0o640)
	got := ids(base(), nil)
	if got["fs.secrets.perms"] != Critical || got["fs.whatsapp.perms"] != Critical || got["fs.whatsapp_store.perms"] != Warn {
		t.Errorf("secrets/whatsapp modes: %v", got)
	}
}

// TestAuditExecGuard: without the kernel's execute restriction, allowlisted
// programs that read configuration are reported, critically when the owner
// opted in to run them anyway.
func TestAuditExecGuard(t *testing.T) {
	dir := t.TempDir()
	c := config.Default()
	c.Gateway.Auth.Token = secret.New("0123456789abcdefghijklmnopqrstuvwxyzABCDEFG")
	c.Tools.Exec.Allowlist = []string{"/usr/bin/git", "/usr/bin/ls"}
	find := func(in AuditInput) map[string]string {
		in.Config, in.Tree, in.ConfigPath, in.StateDir = c, map[string]any{}, filepath.Join(dir, "talon.json"), dir
		out := map[string]string{}
		for _, f := range Audit(in) {
			out[f.CheckID] = f.Severity
		}
		return out
	}
	if got := find(AuditInput{NoExecGuard: true})["tools.exec.configurable_need_approval"]; got != Warn {
		t.Errorf("no landlock: %q", got)
	}
	c.Tools.Exec.DangerouslyAllowConfigurablePrograms = true
	if got := find(AuditInput{NoExecGuard: true})["tools.exec.configurable_unguarded"]; got != Critical {
		t.Errorf("no landlock, opted in: %q", got)
	}
	if got := find(AuditInput{}); got["tools.exec.configurable_unguarded"] != "" || got["tools.exec.configurable_need_approval"] != "" {
		t.Errorf("with landlock: %v", got)
	}
}
