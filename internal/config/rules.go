package config

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Minimum secret lengths. A token is a bearer credential that may face the
// network, so it must be long enough that guessing is hopeless even without
// the lockout; a password is typed by a person.
const (
	MinTokenLen    = 24
	MinPasswordLen = 8
)

// checkRules applies the rules that involve more than one key. They run on
// the decoded config after the per-key checks, and skip any key that
// already has a problem so a bad value is reported once.
func checkRules(c *Config, ps *problems) {
	g := c.Gateway
	a := g.Auth
	if n := a.Token.Len(); n > 0 && n < MinTokenLen && !ps.at("gateway.auth.token") {
		ps.add("gateway.auth.token",
			fmt.Sprintf("too short (%d chars); use at least %d random characters", n, MinTokenLen),
			"talon doctor --generate-token")
	}
	if n := a.Password.Len(); n > 0 && n < MinPasswordLen && !ps.at("gateway.auth.password") {
		ps.add("gateway.auth.password",
			fmt.Sprintf("too short (%d chars); use at least %d characters", n, MinPasswordLen),
			`choose a longer password, or use gateway.auth.mode "token"`)
	}
	if g.Bind != "loopback" && a.Mode == "none" && !ps.at("gateway.bind") && !ps.at("gateway.auth.mode") {
		ps.add("gateway.auth.mode",
			fmt.Sprintf(`"none" is not allowed with gateway.bind %q: anyone who can reach the port could control the agent`, g.Bind),
			`set gateway.auth.mode to "token", or gateway.bind to "loopback"`)
	}

	for _, prog := range sortedKeys(c.Tools.Exec.Helpers) {
		p := "tools.exec.helpers." + prog
		if !strings.HasPrefix(prog, "/") && !ps.at(p) {
			ps.add(p, fmt.Sprintf("%s is not an absolute path", quoteShort(prog)), `name the program by its resolved path, e.g. "/usr/bin/make"`)
		}
		for i, h := range c.Tools.Exec.Helpers[prog] {
			hp := p + "." + strconv.Itoa(i)
			if (!strings.HasPrefix(h, "/") || h == "/" || strings.ContainsAny(h, "*?[")) && !ps.at(hp) {
				ps.add(hp, fmt.Sprintf("%s is not an absolute file or directory path", quoteShort(h)), `give the helper's absolute path, e.g. "/usr/bin/sh" or a directory "/usr/lib/git-core"`)
			}
		}
	}
	if l := g.Limits; l.MaxPreAuthConnsPerAddr > l.MaxPreAuthConns &&
		!ps.at("gateway.limits.maxPreAuthConnsPerAddr") && !ps.at("gateway.limits.maxPreAuthConns") {
		ps.add("gateway.limits.maxPreAuthConnsPerAddr",
			fmt.Sprintf("%d is more than gateway.limits.maxPreAuthConns (%d)", l.MaxPreAuthConnsPerAddr, l.MaxPreAuthConns),
			"lower it, or raise gateway.limits.maxPreAuthConns")
	}

	checkChannels(c, ps)
	for i, pat := range c.Agents.Defaults.MentionPatterns {
		p := "agents.defaults.mentionPatterns." + strconv.Itoa(i)
		if _, err := regexp.Compile(pat); err != nil && !ps.at(p) {
			ps.add(p, "not a valid regular expression: "+err.Error(), `use Go RE2 syntax, e.g. "(?i)\\btalon\\b"`)
		}
	}
	for i, id := range c.Commands.OwnerAllowFrom {
		p := "commands.ownerAllowFrom." + strconv.Itoa(i)
		if ch, rest, ok := strings.Cut(id, ":"); (!ok || ch == "" || rest == "") && !ps.at(p) {
			ps.add(p, fmt.Sprintf("%s does not name its channel", quoteShort(id)),
				`write it as "<channel>:<sender id>", e.g. "telegram:123456789"`)
		}
	}

	for _, id := range sortedKeys(c.Models.Providers) {
		seen := map[string]int{}
		for i, m := range c.Models.Providers[id].Models {
			base := "models.providers." + id + ".models."
			p := base + strconv.Itoa(i) + ".id"
			if m.ID == "" || ps.at(p) {
				continue
			}
			if j, dup := seen[m.ID]; dup {
				ps.add(p, fmt.Sprintf("duplicate model id %s (also at %s%d)", quoteShort(m.ID), base, j),
					"each model of a provider needs its own id")
				continue
			}
			seen[m.ID] = i
		}
	}
}

// checkChannels applies the rules every channel shares, and the ones that
// keep a webhook from ever running unauthenticated.
func checkChannels(c *Config, ps *problems) {
	ch := c.Channels
	if t := ch.Telegram; t != nil {
		checkOpenDM(ps, "channels.telegram", t.DMPolicy, t.AllowFrom)
		checkTelegram(ps, "channels.telegram", t.Enabled, t.TelegramAccount)
		for _, id := range sortedKeys(t.Accounts) {
			checkTelegram(ps, "channels.telegram.accounts."+id, t.Enabled, t.Accounts[id])
		}
	}
	if d := ch.Discord; d != nil {
		checkOpenDM(ps, "channels.discord", d.DMPolicy, d.AllowFrom)
	}
	if s := ch.Slack; s != nil {
		checkOpenDM(ps, "channels.slack", s.DMPolicy, s.AllowFrom)
		checkSlack(ps, "channels.slack", s.Enabled, s.SlackAccount)
		for _, id := range sortedKeys(s.Accounts) {
			checkSlack(ps, "channels.slack.accounts."+id, s.Enabled, s.Accounts[id])
		}
	}
	if s := ch.Signal; s != nil {
		checkOpenDM(ps, "channels.signal", s.DMPolicy, s.AllowFrom)
	}
	if w := ch.WhatsApp; w != nil {
		checkOpenDM(ps, "channels.whatsapp", w.DMPolicy, w.AllowFrom)
	}
}

// TelegramWebhookSecretOK reports whether s meets Telegram's rule for
// secret_token: 1-256 characters of A-Z a-z 0-9 _ -. A loop, not the
// regexp ^[A-Za-z0-9_-]{1,256}$: compiling that at package init cost
// every process 3,300 allocations and 240 kB (the counted repetition
// unrolls into 256 copies), twice, since the adapter checks it as well.
func TelegramWebhookSecretOK(s string) bool {
	if len(s) < 1 || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

func checkTelegram(ps *problems, path string, enabled bool, a TelegramAccount) {
	if !enabled || a.WebhookURL == "" || ps.at(path+".webhookUrl") || ps.at(path+".webhookSecret") {
		return
	}
	sec := a.WebhookSecret.Reveal()
	switch {
	case sec == "":
		ps.add(path+".webhookSecret", "required when webhookUrl is set: without it anyone could post fake updates to the webhook",
			"set webhookSecret to a random string (A-Z a-z 0-9 _ -), or remove webhookUrl to use long polling")
	case !TelegramWebhookSecretOK(sec):
		ps.add(path+".webhookSecret", "must be 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)",
			"use a random string of letters and digits, e.g. from: talon doctor --generate-token")
	case len(sec) < 16:
		ps.add(path+".webhookSecret", fmt.Sprintf("too short (%d chars); use at least 16 random characters", len(sec)),
			"talon doctor --generate-token")
	}
}

func checkSlack(ps *problems, path string, enabled bool, a SlackAccount) {
	if !enabled || ps.at(path+".mode") {
		return
	}
	if a.Mode == "http" && a.SigningSecret.IsZero() && !ps.at(path+".signingSecret") {
		ps.add(path+".signingSecret", `required with mode "http": it is what proves a request comes from Slack`,
			`set signingSecret from the app's Basic Information page, or use mode "socket"`)
	}
}

// checkOpenDM requires an explicit "*" in allowFrom for an open DM policy,
// so that letting every stranger talk to the agent is never an accident.
func checkOpenDM(ps *problems, path, policy string, allowFrom []string) {
	p := path + ".dmPolicy"
	if policy != "open" || slices.Contains(allowFrom, "*") || ps.at(p) || ps.at(path+".allowFrom") {
		return
	}
	ps.add(p, fmt.Sprintf(`"open" requires "*" in %s.allowFrom`, path),
		`add "*" to allowFrom to let anyone talk to the agent, or use "pairing"`)
}
