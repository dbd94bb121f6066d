package security

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/config"
)

// auditor holds one audit run: the input, the findings sink and what the
// checks share (who can reach the agent, the gateway settings as written).
type auditor struct {
	in    AuditInput
	c     *config.Config
	add   func(id, sev, title, detail, fix string, fixable bool)
	keyed func(key string) // sets Key on the finding just added
	reach reach
	g     config.Gateway
}

// reach is who, besides the owner, can get a message to the model.
type reach int

const (
	// reachOwner: only the owner and senders the owner listed.
	reachOwner reach = iota
	// reachPairing: strangers can ask for access (DM pairing); the owner
	// decides who gets through.
	reachPairing
	// reachOpen: strangers reach the model without the owner's say (open
	// DMs, "*" senders, open groups).
	reachOpen
)

// strangers reports whether people the owner has not listed can reach the
// agent: openly, or by asking through pairing. Settings that are worse
// when strangers can reach the agent are raised on it.
func (a *auditor) strangers() bool { return a.reach >= reachPairing }

// channelAccess is the access settings of one enabled channel.
type channelAccess struct {
	name string
	config.ChannelAccess
}

func enabledChannels(c *config.Config) []channelAccess {
	var out []channelAccess
	cc := c.Channels
	if t := cc.Telegram; t != nil && t.Enabled {
		out = append(out, channelAccess{"telegram", t.ChannelAccess})
	}
	if d := cc.Discord; d != nil && d.Enabled {
		out = append(out, channelAccess{"discord", d.ChannelAccess})
	}
	if s := cc.Slack; s != nil && s.Enabled {
		out = append(out, channelAccess{"slack", s.ChannelAccess})
	}
	if s := cc.Signal; s != nil && s.Enabled {
		out = append(out, channelAccess{"signal", s.ChannelAccess})
	}
	if w := cc.WhatsApp; w != nil && w.Enabled {
		out = append(out, channelAccess{"whatsapp", w.ChannelAccess})
	}
	return out
}

// dmWildcard: "*" in allowFrom admits every sender to DMs (the access
// package matches "*" in DM lists only when written there directly).
func dmWildcard(x channelAccess) bool {
	return x.DMPolicy != "disabled" && slices.Contains(x.AllowFrom, "*")
}

// groupsOpen reports whether any group can reach the model, and how.
func groupsOpen(c *config.Config, x channelAccess) (bool, string) {
	if x.GroupPolicy == "disabled" {
		return false, ""
	}
	if x.GroupPolicy == "open" {
		return true, "groupPolicy \"open\""
	}
	if _, any := x.Groups["*"]; any {
		return true, "groups has \"*\""
	}
	// Under "allowlist" a non-empty groupAllowFrom admits any group those
	// senders speak in; "*" there (or in an access group named there)
	// admits every sender of every group.
	for _, e := range x.GroupAllowFrom {
		if e == "*" {
			return true, "groupAllowFrom has \"*\""
		}
		if n, ok := strings.CutPrefix(e, "@"); ok && slices.Contains(c.AccessGroups[n], "*") {
			return true, "groupAllowFrom names " + e + ", which has \"*\""
		}
	}
	return false, ""
}

func reachOf(c *config.Config) reach {
	r := reachOwner
	for _, x := range enabledChannels(c) {
		if open, _ := groupsOpen(c, x); open || x.DMPolicy == "open" || dmWildcard(x) {
			return reachOpen
		}
		if x.DMPolicy == "pairing" {
			r = reachPairing
		}
	}
	return r
}

// asWritten is a secret as the file has it, ${...} expanded, so a value
// validation refused is still measured; ok is false when the file does not
// set it or a reference cannot be expanded.
func (a *auditor) asWritten(key string) (string, bool) {
	s, ok := treeString(a.in.Tree, key)
	if !ok {
		return "", false
	}
	v, err := config.ExpandString(s, a.in.Lookup)
	if err != nil {
		return "", false
	}
	return v, true
}

// gateway checks who can connect to the gateway. It reports whether the
// gateway is loopback-only.
func (a *auditor) gateway() bool {
	c, add := a.c, a.add
	// The file's own values count even when validation refused them,
	// since that is what someone is trying to run.
	g := c.Gateway
	if b, ok := treeString(a.in.Tree, "gateway.bind"); ok {
		g.Bind = b
	}
	if m, ok := treeString(a.in.Tree, "gateway.auth.mode"); ok {
		g.Auth.Mode = m
	}
	if os, ok := treeStrings(a.in.Tree, "gateway.controlUi.allowedOrigins"); ok {
		g.ControlUI.AllowedOrigins = os
	}
	a.g = g
	loop := g.Bind == "loopback"
	switch {
	case !loop && g.Auth.Mode == "none":
		add("gateway.bind_no_auth", Critical, "gateway reachable beyond loopback without authentication", fmt.Sprintf("gateway.bind is %q and gateway.auth.mode is \"none\"; the gateway refuses to start like this", g.Bind),
			"set gateway.auth.mode to \"token\" or gateway.bind to \"loopback\"", false)
	case g.Auth.Mode == "none":
		add("gateway.auth_none", Warn, "gateway authentication is off", "every local user and process can drive the agent", "set gateway.auth.mode to \"token\"", false)
	}
	if !loop && g.Auth.Mode != "none" {
		add("gateway.bind_network", Info, "the gateway listens beyond loopback", fmt.Sprintf("gateway.bind %q: other machines can try to authenticate (auth %s)", g.Bind, orText(g.Auth.Mode, "token")),
			"keep bind \"loopback\" unless other machines must connect", false)
	}
	if g.Auth.Mode == "token" || g.Auth.Mode == "" {
		n := g.Auth.Token.Len()
		if v, ok := a.asWritten("gateway.auth.token"); ok && v != "" {
			n = len(v)
		}
		switch {
		case n == 0:
			add("gateway.token_missing", Critical, "no gateway token", "token auth is on but no token is set", "talon security audit --fix generates one", true)
		case n < 32:
			sev := Warn
			if !loop || n < config.MinTokenLen {
				sev = Critical
			}
			detail := fmt.Sprintf("the token has %d characters; short tokens can be guessed", n)
			if n < config.MinTokenLen {
				detail += fmt.Sprintf(" (Talon refuses under %d, so the gateway does not start)", config.MinTokenLen)
			}
			add("gateway.token_short", sev, "gateway token too short", detail, "talon security audit --fix replaces it with 43 random characters", true)
		}
	}
	if g.Auth.Mode == "password" {
		n := g.Auth.Password.Len()
		if v, ok := a.asWritten("gateway.auth.password"); ok && v != "" {
			n = len(v)
		}
		switch {
		case n == 0:
			add("gateway.password_missing", Critical, "no gateway password", "gateway.auth.mode is \"password\" but no password is set", "set gateway.auth.password (\"${TALON_GATEWAY_PASSWORD}\") or use mode \"token\"", false)
		case n < config.MinPasswordLen:
			add("gateway.password_short", Critical, "gateway password too short", fmt.Sprintf("the password has %d characters (Talon refuses under %d)", n, config.MinPasswordLen),
				"use a passphrase of 16 or more characters, or gateway.auth.mode \"token\"", false)
		case n < 16 && !loop:
			add("gateway.password_short", Warn, "gateway password too short for a network bind", fmt.Sprintf("the password has %d characters and gateway.bind is %q: anyone on that network can try to guess it", n, g.Bind),
				"use a passphrase of 16 or more characters, or gateway.auth.mode \"token\"", false)
		}
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
	if rl := g.Auth.RateLimit; rl.WindowSec > 0 && (rl.MaxAttempts*60/rl.WindowSec > 100 || rl.LockoutSec < 60) {
		add("gateway.rate_limit_weak", Warn, "authentication rate limit is weak", fmt.Sprintf("%d attempts per %d s, lockout %d s", rl.MaxAttempts, rl.WindowSec, rl.LockoutSec), "use the defaults (10 per 60 s, 300 s lockout)", false)
	}
	return loop
}

// channels checks who can reach the model through each channel.
func (a *auditor) channels() {
	c, add := a.c, a.add
	fsOrExec := policyEnables(c, "exec", "group:runtime") || policyEnables(c, "write", "group:fs")
	for _, x := range enabledChannels(c) {
		if x.DMPolicy == "open" {
			add("channels."+x.name+".dm.open", Critical, x.name+" accepts direct messages from anyone", "dmPolicy \"open\": strangers reach the model", "use dmPolicy \"pairing\" or \"allowlist\"", false)
		}
		if x.DMPolicy != "open" && dmWildcard(x) {
			add("channels."+x.name+".dm.wildcard", Critical, x.name+" lets anyone send direct messages", "\"*\" in allowFrom admits every sender, whatever dmPolicy says", "remove \"*\" and list sender ids, or approve people through pairing", false)
		}
		if open, how := groupsOpen(c, x); open {
			sev := Warn
			if fsOrExec {
				sev = Critical
			}
			add("channels."+x.name+".group.open", sev, x.name+" answers in any group", how+": anyone who adds the bot to a group reaches the model; with exec or file tools enabled that is critical",
				"talon security audit --fix sets groupPolicy \"allowlist\" (and list the groups you want in groups)", x.GroupPolicy == "open")
		}
		// The channel's requireMention applies to groups without their
		// own entry: open policy, "*", or admitted by groupAllowFrom.
		_, anyGroup := x.Groups["*"]
		if !x.RequireMention && x.GroupPolicy != "disabled" && (x.GroupPolicy == "open" || anyGroup || len(x.GroupAllowFrom) > 0) {
			add("channels."+x.name+".group.no_mention", Warn, x.name+" answers every group message", "requireMention is off: every message in an admitted group starts a turn (cost, and more untrusted input)", "set requireMention to true", false)
		} else if x.GroupPolicy != "disabled" {
			for _, id := range sortedKeys(x.Groups) {
				if g := x.Groups[id]; !g.RequireMention && id != "*" {
					add("channels."+x.name+".group.no_mention", Info, x.name+" answers every message in group "+id, "groups."+id+".requireMention is off: every message there starts a turn", "set it to true unless everyone in that group may drive the agent", false)
					break
				}
			}
		}
		if x.DangerouslyAllowNameMatching {
			add("channels."+x.name+".name_matching", Warn, x.name+" matches allowFrom against names", "dangerouslyAllowNameMatching: usernames and display names can be chosen or copied by anyone", "list sender ids instead and turn it off", false)
		}
		if c.Session.DMScope == "main" && (x.DMPolicy == "open" || len(x.AllowFrom) > 1 || x.DMPolicy == "pairing") {
			add("channels."+x.name+".dm.scope_main_multiuser", Warn, "several people share one session", "session.dmScope \"main\" with more than one sender: one person can read another's conversation", "set session.dmScope to \"per-channel-peer\"", false)
		}
		if x.RateLimit.PerSenderPerMinute == 0 || x.RateLimit.PerChannelPerMinute == 0 {
			add("channels."+x.name+".rate_limit_off", Info, x.name+" has no rate limit for allowed senders", "rateLimit.perSenderPerMinute or perChannelPerMinute is 0: allowed senders can start as many turns as they like", "set them (defaults 20 and 120)", false)
		}
	}
	if t := c.Channels.Telegram; t != nil && t.Enabled {
		for id, acct := range telegramAccounts(t) {
			if acct.WebhookURL != "" && acct.WebhookSecret.Reveal() == a.g.Auth.Token.Reveal() {
				add("channels.telegram.webhook_secret_reused", Critical, "the Telegram webhook secret is the gateway token", "account "+id+": the webhook secret travels to Telegram and back on every update; it must not also unlock the gateway", "set a separate random webhookSecret", false)
			}
		}
	}
	for i, pat := range c.Agents.Defaults.MentionPatterns {
		if re, err := regexp.Compile(pat); err == nil && re.MatchString("") {
			add("agents.mention_pattern_matches_all", Warn, "a mention pattern matches every message", fmt.Sprintf("agents.defaults.mentionPatterns.%d %q matches empty text, so every group message counts as mentioning the agent", i, pat),
				"make it match the agent's name only, e.g. \"(?i)\\\\btalon\\\\b\"", false)
			break
		}
	}
}

// files checks what the file tools and the sandbox's workspace reach.
func (a *auditor) files() {
	c, add := a.c, a.add
	if !c.Tools.FS.WorkspaceOnly {
		add("tools.fs.workspace_only_off", Critical, "file tools can reach every file", "tools.fs.workspaceOnly is off", "turn it on", false)
	}
	if w := c.Agents.Defaults.Workspace; w != "" {
		ws := filepath.Clean(config.ExpandHome(w, a.in.Home))
		var why string
		switch {
		case ws == "/":
			why = "it is the root directory"
		case a.in.Home != "" && ws == filepath.Clean(a.in.Home):
			why = "it is the home directory (SSH keys, shell rc files, other programs' credentials)"
		case a.in.StateDir != "" && within(filepath.Clean(a.in.StateDir), ws):
			why = "it contains Talon's state directory (the config, the secrets store and its key, the database)"
		}
		if why != "" {
			add("agents.workspace_broad", Critical, "the agent's workspace is "+ws, "agents.defaults.workspace: "+why+"; the file tools and confined commands may write everywhere in it",
				"point the workspace at a dedicated directory (the default is $TALON_STATE_DIR/workspace)", false)
		}
	}
	sb := c.Agents.Defaults.Sandbox
	switch {
	case sb.Mode == "off":
		sev := Warn
		if c.Tools.Exec.Security == "full" {
			sev = Critical
		}
		add("sandbox.off", sev, "commands run unsandboxed", "agents.defaults.sandbox.mode \"off\"", "set it to \"all\"", false)
	case sb.Mode == "non-main":
		add("sandbox.non_main", Info, "the owner's main session runs commands unsandboxed", "agents.defaults.sandbox.mode \"non-main\"", "set it to \"all\"", false)
	}
	if sb.Network && sb.Mode != "off" {
		add("sandbox.network", Warn, "confined commands may use the network", "agents.defaults.sandbox.network is on: a command reaches any host directly, past netguard, and can carry data out",
			"talon security audit --fix turns it off; fetch what commands need with web_fetch", true)
	}
	for _, m := range a.in.SandboxMissing {
		add("sandbox.layer_missing", Warn, "a sandbox layer is unavailable on this kernel", m, "run Talon on a kernel with Landlock (5.13+, ABI 6 from 6.7) and unprivileged user namespaces", false)
	}
	if a.in.DangerousBind != nil {
		for _, b := range sb.Binds {
			if why := a.in.DangerousBind(b.Path, b.Mode); why != "" {
				add("sandbox.dangerous_bind", Critical, "dangerous sandbox bind "+b.Path, why, "remove it from agents.defaults.sandbox.binds", false)
			}
		}
	}
	if v := c.Tools.Sessions.Visibility; v == "agent" || v == "all" {
		sev, fixable := Info, false
		if a.strangers() {
			sev, fixable = Warn, true
		}
		add("tools.sessions.visibility_wide", sev, "session tools can read other conversations", fmt.Sprintf("tools.sessions.visibility %q: a conversation's session tools can read the transcripts of others (invariant 4), including the owner's when someone else is talking", v),
			"use \"tree\" (the default) or \"self\"", fixable)
	}
}

// within reports whether path is dir or below it.
func within(path, dir string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

// keeping checks spending, logging and retention.
func (a *auditor) keeping() {
	c, add := a.c, a.add
	if c.Logging.RedactSensitive == "off" {
		add("logging.redaction_off", Warn, "logs are not redacted", "tool arguments and output are logged as they are, secrets included", "talon security audit --fix turns redaction on", true)
	}
	if c.Logging.Level == "debug" {
		add("logging.debug", Info, "debug logging is on", "logging.level \"debug\" records more about messages and tool calls (still redacted)", "use \"info\" outside debugging sessions", false)
	}
	if c.Budgets.PerDayUSD == 0 && c.Budgets.PerMonthUSD == 0 && c.Budgets.PerSessionUSD == 0 {
		if a.strangers() {
			add("budgets.unset", Warn, "no spending limit while others can message the agent", "budgets are unset and strangers can reach the agent (open or pairing channels): their messages start turns you pay for, without bound",
				"talon security audit --fix sets budgets.perDayUsd to 5; or talon config set budgets.perDayUsd N", true)
		} else {
			add("budgets.unset", Info, "no spending limit", "a runaway session can spend without bound", "talon config set budgets.perDayUsd 5", false)
		}
	}
	if !c.Audit.Enabled {
		add("audit.disabled", Warn, "the audit log is off", "audit.enabled false: decisions, approvals and tool runs leave no tamper-evident record", "set audit.enabled to true", false)
	}
	if c.Retention.TranscriptsDays == 0 {
		add("retention.transcripts_forever", Info, "transcripts are kept forever", "retention.transcriptsDays 0: every conversation stays in the database", "set a number of days (default 90)", false)
	}
}

// models checks a model the owner marked as weak at following tool rules,
// with web tools (a way in for injected text) and no sandbox.
func (a *auditor) models() {
	c, add := a.c, a.add
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
		if !weak[ref] || (!policyEnables(c, "web_fetch", "group:web") && !policyEnables(c, "web_search", "group:web")) || c.Agents.Defaults.Sandbox.Mode == "all" {
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
}

func treeStrings(tree map[string]any, path string) ([]string, bool) {
	v, ok := config.GetPath(tree, path)
	if !ok {
		return nil, false
	}
	l, ok := v.([]any)
	if !ok {
		return nil, false
	}
	var out []string
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}
