package security

import (
	"fmt"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
)

// Severities of audit findings.
const (
	Info     = "info"
	Warn     = "warn"
	Critical = "critical"
)

// Finding is one result of `talon security audit`. CheckID is stable.
type Finding struct {
	CheckID  string `json:"checkId"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Fix      string `json:"fix"`
	// Fixable marks findings `--fix` can repair safely.
	Fixable bool `json:"fixable,omitempty"`
	// Path is the file a fs.* finding is about.
	Path string `json:"path,omitempty"`
}

// AuditInput is what the static audit looks at.
type AuditInput struct {
	Config     *config.Config
	Tree       map[string]any // the config file as written (unsubstituted), for plain-text secrets
	ConfigPath string
	StateDir   string
	Home       string
	// NoExecGuard: the kernel cannot limit which files a command executes
	// (no Landlock; sandbox.Capabilities.ExecGuard).
	NoExecGuard bool
	// SandboxMissing lists sandbox layers this kernel lacks (sandbox.Probe().Missing()).
	SandboxMissing []string
	// DangerousBind reports a sandbox bind that would be refused, "" if fine.
	DangerousBind func(path, mode string) string
	// Invalid holds the config's validation problems, when it has any.
	Invalid []config.Problem
}

var interpreters = []string{"sh", "bash", "dash", "zsh", "ksh", "fish", "python", "python2", "python3", "perl", "ruby", "node", "deno", "bun", "php", "lua", "env", "xargs", "awk", "gawk", "busybox", "sudo"}

// Audit runs the static checks. Findings are sorted by severity
// (critical first), then check id.
func Audit(in AuditInput) []Finding {
	c := in.Config
	var out []Finding
	add := func(id, sev, title, detail, fix string, fixable bool) {
		out = append(out, Finding{CheckID: id, Severity: sev, Title: title, Detail: detail, Fix: fix, Fixable: fixable})
	}

	// fs.*: the state directory and the files in it.
	permCheck := func(id, path string, dir bool) {
		fi, err := os.Lstat(path)
		if err != nil {
			return
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			add(id+".symlink", Warn, path+" is a symlink", "a symlink lets whoever controls its target swap Talon's state", "replace it with a regular file or directory owned by you", false)
			return
		}
		want := fs.FileMode(0o600)
		if dir {
			want = 0o700
		}
		perm := fi.Mode().Perm()
		if perm&^want == 0 {
			return
		}
		sev := Warn
		if perm&0o004 != 0 || perm&0o002 != 0 || perm&0o020 != 0 {
			sev = Critical
		}
		add(id+".perms", sev, fmt.Sprintf("%s is mode %04o", path, perm), "other users on this machine can read or change it (tokens, keys, transcripts)",
			fmt.Sprintf("chmod %04o %s (talon security audit --fix)", want, path), true)
		out[len(out)-1].Path = path
	}
	permCheck("fs.state_dir", in.StateDir, true)
	permCheck("fs.config", in.ConfigPath, false)
	permCheck("fs.db", filepath.Join(in.StateDir, "talon.db"), false)
	permCheck("fs.logs", filepath.Join(in.StateDir, "logs"), true)
	permCheck("fs.secrets", filepath.Join(in.StateDir, "secrets.json"), false)
	permCheck("fs.secrets_key", filepath.Join(in.StateDir, "secrets.key"), false)
	permCheck("fs.audit_key", filepath.Join(in.StateDir, "audit.key"), false)
	permCheck("fs.whatsapp", filepath.Join(in.StateDir, "whatsapp"), true)
	if dbs, _ := filepath.Glob(filepath.Join(in.StateDir, "whatsapp", "*.db")); len(dbs) > 0 {
		for _, d := range dbs {
			permCheck("fs.whatsapp_store", d, false)
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(in.StateDir, "logs", "talon.log*")); len(logs) > 0 {
		for _, l := range logs {
			permCheck("fs.log_file", l, false)
		}
	}

	for _, pr := range in.Invalid {
		add("config.invalid", Critical, "the config is invalid: "+pr.Path, pr.Message, orText(pr.Hint, "fix the key; talon config validate lists every problem"), false)
	}

	// gateway.*: the file's own values count even when validation refused
	// them, since that is what someone is trying to run.
	g := c.Gateway
	if b, ok := treeString(in.Tree, "gateway.bind"); ok {
		g.Bind = b
	}
	if m, ok := treeString(in.Tree, "gateway.auth.mode"); ok {
		g.Auth.Mode = m
	}
	loop := g.Bind == "loopback"
	switch {
	case !loop && g.Auth.Mode == "none":
		add("gateway.bind_no_auth", Critical, "gateway reachable beyond loopback without authentication", fmt.Sprintf("gateway.bind is %q and gateway.auth.mode is \"none\"; the gateway refuses to start like this", g.Bind),
			"set gateway.auth.mode to \"token\" or gateway.bind to \"loopback\"", false)
	case g.Auth.Mode == "none":
		add("gateway.auth_none", Warn, "gateway authentication is off", "every local user and process can drive the agent", "set gateway.auth.mode to \"token\"", false)
	}
	if g.Auth.Mode == "token" || g.Auth.Mode == "" {
		switch {
		case g.Auth.Token.IsZero():
			add("gateway.token_missing", Critical, "no gateway token", "token auth is on but no token is set", "talon security audit --fix generates one", true)
		case g.Auth.Token.Len() < 32:
			add("gateway.token_short", Warn, fmt.Sprintf("gateway token has only %d characters", g.Auth.Token.Len()), "short tokens can be guessed", "talon security audit --fix replaces it with 43 random characters", true)
		}
	}
	if s, ok := treeString(in.Tree, "gateway.auth.password"); ok && !isRef(s) {
		add("gateway.password_in_config", Warn, "gateway password is written in the config file", "anyone who can read the file can log in", "use \"${TALON_GATEWAY_PASSWORD}\" or token auth", false)
	}
	for _, o := range g.ControlUI.AllowedOrigins {
		if o == "*" || o == "null" {
			add("gateway.origins_wildcard", Critical, "any web page may connect to the gateway", fmt.Sprintf("gateway.controlUi.allowedOrigins contains %q", o), "list exact origins", false)
		}
	}
	if !loop && len(g.ControlUI.AllowedOrigins) == 0 {
		add("gateway.origins_missing", Info, "no allowed origins for a non-loopback bind", "browsers can reach the Control UI only through the gateway's own origin", "list the origins you use in gateway.controlUi.allowedOrigins", false)
	}
	for _, p := range g.TrustedProxies {
		if pfx, err := netip.ParsePrefix(p); err == nil && pfx.Bits() < 16 {
			add("gateway.trusted_proxies_broad", Critical, "trusted proxies cover "+p, "any host in that range can claim to be anyone, including loopback", "list the exact address of your reverse proxy", false)
		}
	}
	if rl := g.Auth.RateLimit; rl.MaxAttempts > 100 || rl.LockoutSec < 60 {
		add("gateway.rate_limit_weak", Warn, "authentication rate limit is weak", fmt.Sprintf("%d attempts per %d s, lockout %d s", rl.MaxAttempts, rl.WindowSec, rl.LockoutSec), "use the defaults (10 per 60 s, 300 s lockout)", false)
	}

	// channels.*
	type ch struct {
		name string
		config.ChannelAccess
	}
	var chans []ch
	cc := c.Channels
	if t := cc.Telegram; t != nil && t.Enabled {
		chans = append(chans, ch{"telegram", t.ChannelAccess})
	}
	if d := cc.Discord; d != nil && d.Enabled {
		chans = append(chans, ch{"discord", d.ChannelAccess})
	}
	if s := cc.Slack; s != nil && s.Enabled {
		chans = append(chans, ch{"slack", s.ChannelAccess})
	}
	if s := cc.Signal; s != nil && s.Enabled {
		chans = append(chans, ch{"signal", s.ChannelAccess})
	}
	if w := cc.WhatsApp; w != nil && w.Enabled {
		chans = append(chans, ch{"whatsapp", w.ChannelAccess})
	}
	strangers := false
	fsOrExec := policyEnables(c, "exec") || policyEnables(c, "write")
	for _, x := range chans {
		if x.DMPolicy == "open" {
			strangers = true
			add("channels."+x.name+".dm.open", Critical, x.name+" accepts direct messages from anyone", "dmPolicy \"open\": strangers reach the model", "use dmPolicy \"pairing\" or \"allowlist\"", false)
		}
		if x.DMPolicy == "pairing" {
			strangers = true
		}
		if x.DMPolicy != "open" && x.DMPolicy != "disabled" && slices.Contains(x.AllowFrom, "*") {
			strangers = true
			add("channels."+x.name+".dm.wildcard", Critical, x.name+" lets anyone send direct messages", "\"*\" in allowFrom admits every sender, whatever dmPolicy says", "remove \"*\" and list sender ids, or approve people through pairing", false)
		}
		_, anyGroup := x.Groups["*"]
		if x.GroupPolicy == "open" || (x.GroupPolicy == "allowlist" && anyGroup) {
			strangers = true
			sev := Warn
			if fsOrExec {
				sev = Critical
			}
			detail := "groupPolicy \"open\""
			if x.GroupPolicy != "open" {
				detail = "groups has \"*\""
			}
			add("channels."+x.name+".group.open", sev, x.name+" answers in any group", detail+": anyone who adds the bot to a group reaches the model; with exec or file tools enabled that is critical",
				"talon security audit --fix sets groupPolicy \"allowlist\" (and list the groups you want in groups)", x.GroupPolicy == "open")
		}
		if !x.RequireMention && x.GroupPolicy != "disabled" && (len(x.Groups) > 0 || len(x.GroupAllowFrom) > 0 || x.GroupPolicy == "open") {
			add("channels."+x.name+".group.no_mention", Warn, x.name+" answers every group message", "requireMention is off: every message in an admitted group starts a turn (cost, and more untrusted input)", "set requireMention to true", false)
		}
		if x.DangerouslyAllowNameMatching {
			add("channels."+x.name+".name_matching", Warn, x.name+" matches allowFrom against names", "dangerouslyAllowNameMatching: usernames and display names can be chosen or copied by anyone", "list sender ids instead and turn it off", false)
		}
		if c.Session.DMScope == "main" && (x.DMPolicy == "open" || len(x.AllowFrom) > 1 || x.DMPolicy == "pairing") {
			add("channels."+x.name+".dm.scope_main_multiuser", Warn, "several people share one session", "session.dmScope \"main\" with more than one sender: one person can read another's conversation", "set session.dmScope to \"per-channel-peer\"", false)
		}
		if x.RateLimit.PerSenderPerMinute == 0 {
			add("channels."+x.name+".rate_limit_off", Info, x.name+" has no per-sender rate limit", "one sender can start as many turns as they like", "set rateLimit.perSenderPerMinute (default 20)", false)
		}
	}
	if t := cc.Telegram; t != nil && t.Enabled {
		for id, a := range telegramAccounts(t) {
			if a.WebhookURL != "" && a.WebhookSecret.Reveal() == g.Auth.Token.Reveal() {
				add("channels.telegram.webhook_secret_reused", Critical, "the Telegram webhook secret is the gateway token", "account "+id+": the webhook secret travels to Telegram and back on every update; it must not also unlock the gateway", "set a separate random webhookSecret", false)
			}
		}
	}

	// tools.*
	e := c.Tools.Exec
	if e.Security == "full" {
		add("tools.exec.security_full", Critical, "exec runs any command", "tools.exec.security \"full\": only approvals and the sandbox stand between a hijacked model and the host", "use \"allowlist\"", false)
	}
	if e.Ask == "off" {
		sev := Warn
		if strangers {
			sev = Critical
		}
		add("tools.exec.ask_off", sev, "exec never asks", "commands off the allowlist are refused without asking, or run if security is full", "use ask \"on-miss\"", false)
	}
	for _, a := range e.Allowlist {
		base := strings.ToLower(filepath.Base(a))
		for _, i := range interpreters {
			if base == i || (strings.HasPrefix(base, i) && strings.Trim(strings.TrimPrefix(base, i), "0123456789.") == "") || strings.HasSuffix(a, "/*") {
				add("tools.exec.interpreter_allowlisted", Warn, a+" is on the exec allowlist", "an interpreter or a wildcard runs arbitrary code", "remove it; approve such commands one by one", false)
				break
			}
		}
	}
	configurable := []string{"git", "make", "gmake", "npm", "npx", "yarn", "pnpm", "pip", "pip3", "cargo", "go", "mvn", "gradle", "bundle", "rake", "composer"}
	var steerable []string
	for _, a := range e.Allowlist {
		if slices.Contains(configurable, strings.ToLower(filepath.Base(a))) {
			steerable = append(steerable, a)
		}
	}
	switch {
	case e.DangerouslyAllowConfigurablePrograms && in.NoExecGuard && len(steerable) > 0:
		add("tools.exec.configurable_unguarded", Critical, "allowlisted programs can be steered into running anything",
			fmt.Sprintf("this kernel has no Landlock and tools.exec.dangerouslyAllowConfigurablePrograms is on: files the agent writes can make %s start any program", strings.Join(steerable, ", ")),
			"run Talon on a kernel with Landlock, or turn the setting off (such commands then ask first)", false)
	case in.NoExecGuard && len(steerable) > 0:
		add("tools.exec.configurable_need_approval", Warn, "allowlisted programs that read configuration will ask first",
			fmt.Sprintf("this kernel has no Landlock, so nothing limits what %s could start; they need approval each time", strings.Join(steerable, ", ")),
			"run Talon on a kernel with Landlock (5.13+)", false)
	case e.DangerouslyAllowConfigurablePrograms:
		add("tools.exec.configurable_opt_in", Info, "tools.exec.dangerouslyAllowConfigurablePrograms is on",
			"it has no effect while the kernel limits what commands execute (Landlock), and becomes dangerous on a kernel without it", "turn it off", false)
	}
	for _, prog := range slices.Sorted(maps.Keys(e.Helpers)) {
		for _, h := range e.Helpers[prog] {
			base := strings.ToLower(filepath.Base(h))
			for _, i := range interpreters {
				if base == i || (strings.HasPrefix(base, i) && strings.Trim(strings.TrimPrefix(base, i), "0123456789.") == "") {
					add("tools.exec.helper_interpreter", Warn, prog+" may start "+h,
						"a shell or interpreter as a helper runs whatever the program's configuration says (a Makefile, package.json scripts), which the agent can write",
						"remove it from tools.exec.helpers and approve such commands one by one", false)
					break
				}
			}
		}
	}
	sb := c.Agents.Defaults.Sandbox
	switch {
	case sb.Mode == "off":
		sev := Warn
		if e.Security == "full" {
			sev = Critical
		}
		add("sandbox.off", sev, "commands run unsandboxed", "agents.defaults.sandbox.mode \"off\"", "set it to \"all\"", false)
	case sb.Mode == "non-main":
		add("sandbox.non_main", Info, "the owner's main session runs commands unsandboxed", "agents.defaults.sandbox.mode \"non-main\"", "set it to \"all\"", false)
	}
	for _, m := range in.SandboxMissing {
		add("sandbox.layer_missing", Warn, "a sandbox layer is unavailable on this kernel", m, "run Talon on a kernel with Landlock (5.13+, ABI 6 from 6.7) and unprivileged user namespaces", false)
	}
	if in.DangerousBind != nil {
		for _, b := range sb.Binds {
			if why := in.DangerousBind(b.Path, b.Mode); why != "" {
				add("sandbox.dangerous_bind", Critical, "dangerous sandbox bind "+b.Path, why, "remove it from agents.defaults.sandbox.binds", false)
			}
		}
	}
	if !c.Tools.FS.WorkspaceOnly {
		add("tools.fs.workspace_only_off", Critical, "file tools can reach every file", "tools.fs.workspaceOnly is off", "turn it on", false)
	}
	auditEgress(c, add)
	if c.Tools.Web.Fetch.AllowPrivateNetwork && len(c.Tools.Web.Fetch.AllowedHostnames) == 0 {
		add("tools.web.fetch.private_network", Warn, "web_fetch may reach private addresses", "tools.web.fetch.allowPrivateNetwork is on: a page can make the agent probe your network", "turn it off; list single hosts in allowedHostnames", false)
	}
	if c.Logging.RedactSensitive == "off" {
		add("logging.redaction_off", Warn, "logs are not redacted", "tool arguments and output are logged as they are, secrets included", "talon security audit --fix turns redaction on", true)
	}
	if c.Budgets.PerDayUSD == 0 && c.Budgets.PerMonthUSD == 0 && c.Budgets.PerSessionUSD == 0 {
		add("budgets.unset", Info, "no spending limit", "a runaway session can spend without bound", "talon config set budgets.perDayUsd 5", false)
	}

	// secrets.plaintext: credentials written in the file instead of ${VAR}.
	for _, p := range []string{"gateway.auth.token"} {
		if s, ok := treeString(in.Tree, p); ok && s != "" && !isRef(s) {
			add("secrets.plaintext", Info, p+" is written in the config file", "the file is 0600; keep it that way", "or use \"${TALON_GATEWAY_TOKEN}\"", false)
		}
	}
	for id, prov := range c.Models.Providers {
		p := "models.providers." + id + ".apiKey"
		if s, ok := treeString(in.Tree, p); ok && s != "" && !isRef(s) {
			add("secrets.plaintext", Warn, p+" is written in the config file", "API keys in files end up in backups and screenshots", fmt.Sprintf("use \"${%s_API_KEY}\"", strings.ToUpper(id)), false)
		}
		_ = prov
	}
	for _, p := range []string{"channels.telegram.botToken", "channels.telegram.webhookSecret", "channels.discord.token",
		"channels.slack.botToken", "channels.slack.appToken", "channels.slack.signingSecret"} {
		if s, ok := treeString(in.Tree, p); ok && s != "" && !isRef(s) {
			add("secrets.plaintext", Warn, p+" is written in the config file", "bot tokens in files end up in backups and screenshots", "use \"${secret:NAME}\" (talon secrets set NAME) or \"${ENV_VAR}\"", false)
		}
	}

	if !c.Audit.Enabled {
		add("audit.disabled", Warn, "the audit log is off", "audit.enabled false: decisions, approvals and tool runs leave no tamper-evident record", "set audit.enabled to true", false)
	}
	// A model the owner marked as weak at following tool rules, with web
	// tools (a way in for injected text) and no sandbox.
	weak := map[string]bool{}
	for id, pr := range c.Models.Providers {
		for _, m := range pr.Models {
			if m.WeakToolUse {
				weak[id+"/"+m.ID] = true
			}
		}
	}
	refs := append([]string{c.Agents.Defaults.Model}, c.Agents.Defaults.Fallbacks...)
	for _, ref := range refs {
		if !weak[ref] || (!policyEnables(c, "web_fetch") && !policyEnables(c, "web_search")) || c.Agents.Defaults.Sandbox.Mode == "all" {
			continue
		}
		sev := Warn
		if c.Agents.Defaults.Sandbox.Mode == "off" {
			sev = Critical
		}
		add("models.weak_with_web", sev, ref+" is marked weak at tool use and has web tools without a full sandbox",
			"a model that follows injected instructions easily reads web pages and runs commands outside the sandbox", "set agents.defaults.sandbox.mode \"all\", deny group:web, or use a stronger model", false)
		break
	}

	// The attack surface, as one summary.
	var surface []string
	if loop {
		surface = append(surface, "gateway: loopback only")
	} else {
		surface = append(surface, fmt.Sprintf("gateway: %s (auth %s)", g.Bind, g.Auth.Mode))
	}
	for _, x := range chans {
		surface = append(surface, fmt.Sprintf("%s: direct messages %s, groups %s", x.name, x.DMPolicy, x.GroupPolicy))
	}
	if len(chans) == 0 {
		surface = append(surface, "no chat channels: strangers cannot message the agent")
	}
	add("surface.summary", Info, "what strangers can reach", strings.Join(surface, "; "), "", false)

	rank := map[string]int{Critical: 0, Warn: 1, Info: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Severity] != rank[out[j].Severity] {
			return rank[out[i].Severity] < rank[out[j].Severity]
		}
		return out[i].CheckID < out[j].CheckID
	})
	return out
}

// policyEnables reports whether tools.* enables the tool, as the policy
// decides it.
func policyEnables(c *config.Config, tool string) bool { return policy.Enabled(c.Tools, tool) }

func isRef(s string) bool { return strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") }

func treeString(tree map[string]any, path string) (string, bool) {
	var cur any = tree
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur, ok = m[p]
		if !ok {
			return "", false
		}
	}
	s, ok := cur.(string)
	return s, ok
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// telegramAccounts lists the default and the extra Telegram accounts.
func telegramAccounts(t *config.Telegram) map[string]config.TelegramAccount {
	out := map[string]config.TelegramAccount{"default": t.TelegramAccount}
	for id, a := range t.Accounts {
		out[id] = a
	}
	return out
}
