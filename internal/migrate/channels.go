package migrate

import (
	"fmt"
	"slices"
	"strings"
)

// accessKeys are OpenClaw's per-account access overrides. Talon applies the
// channel's access settings to every account, so an account that overrides
// one is not carried over (it could end up wider than it was).
var accessKeys = []string{"dmPolicy", "allowFrom", "groupPolicy", "groupAllowFrom", "groups", "dm", "guilds", "channels", "direct", "requireMention"}

func (m *mapper) channels() {
	v, ok := m.peek("channels")
	if !ok {
		return
	}
	chs, ok := v.(map[string]any)
	if !ok {
		m.unmapped("channels", "expected an object")
		return
	}
	defGroupPolicy := ""
	if v, ok := m.get("channels.defaults.groupPolicy"); ok {
		defGroupPolicy, _ = v.(string)
	}
	for _, ch := range sortedKeys(chs) {
		if ch == "defaults" || ch == "modelByChannel" {
			continue
		}
		if _, ok := chs[ch].(map[string]any); !ok {
			continue
		}
		switch ch {
		case "telegram":
			m.telegram()
		case "discord":
			m.discord()
		case "slack":
			m.slack()
		case "signal":
			m.signal()
		case "whatsapp":
			m.whatsapp()
		default:
			m.unmapped("channels."+ch, "Talon has no "+ch+" channel")
			continue
		}
		m.channelAccess(ch, defGroupPolicy)
	}
}

// senderIDs normalises an OpenClaw sender list for Talon: the channel's own
// prefix is dropped, accessGroup:NAME becomes @NAME.
func (m *mapper) senderIDs(ch, from string) ([]any, bool) {
	l, ok := m.stringList(from)
	if !ok {
		return nil, false
	}
	out := []any{}
	for _, e := range l {
		s := e.(string)
		if g, ok := strings.CutPrefix(s, "accessGroup:"); ok {
			out = append(out, "@"+g)
			continue
		}
		for _, p := range []string{ch + ":", map[string]string{"telegram": "tg:"}[ch]} {
			if p != "" {
				s = strings.TrimPrefix(s, p)
			}
		}
		if strings.HasPrefix(s, "@") {
			m.warn(from, "%q left out: a username is not an id, and Talon reads \"@name\" as an access group", s)
			continue
		}
		if s == "*" {
			m.warn(from, `"*" kept: it admits every sender (talon security audit reports it as critical)`)
		}
		out = append(out, s)
	}
	return out, true
}

// channelAccess maps the access settings every channel has.
func (m *mapper) channelAccess(ch, defGroupPolicy string) {
	base, to := "channels."+ch, "channels."+ch
	m.copyScalar(base+".enabled", to+".enabled")
	dmDisabled := false
	if v, ok := m.get(base + ".dm.enabled"); ok && v == false {
		dmDisabled = true
	}
	if v, ok := m.get(base + ".dmPolicy"); ok {
		s, _ := v.(string)
		if s == "open" {
			m.warn(to+".dmPolicy", `kept "open": any stranger's direct message reaches the model (talon security audit reports it as critical)`)
		}
		if !dmDisabled {
			m.set(to+".dmPolicy", s, base+".dmPolicy")
		}
	}
	if dmDisabled {
		m.set(to+".dmPolicy", "disabled", base+".dm.enabled")
	}
	allow, hasAllow := m.senderIDs(ch, base+".allowFrom")
	if hasAllow {
		m.set(to+".allowFrom", allow, base+".allowFrom")
	}
	gp := defGroupPolicy
	if v, ok := m.get(base + ".groupPolicy"); ok {
		gp, _ = v.(string)
	}
	if gp != "" {
		m.set(to+".groupPolicy", gp, base+".groupPolicy")
	}
	if l, ok := m.senderIDs(ch, base+".groupAllowFrom"); ok {
		m.set(to+".groupAllowFrom", l, base+".groupAllowFrom")
	} else if hasAllow && len(allow) > 0 && gp != "disabled" && ch != "discord" && ch != "slack" {
		// OpenClaw checks group senders against allowFrom when
		// groupAllowFrom is unset; Talon does not. A channel-level
		// groupAllowFrom would also admit unlisted groups for those
		// senders under "allowlist", so the list goes to each listed
		// group instead (channel-level only under "open", which admits
		// every group anyway).
		if gp == "open" {
			m.set(to+".groupAllowFrom", allow, base+".allowFrom")
			m.warn(to+".groupAllowFrom", "set to allowFrom: OpenClaw checks group senders against allowFrom when groupAllowFrom is unset, Talon only against groupAllowFrom")
		} else if gv, ok := lookupPath(m.out, to+".groups"); ok {
			gs, _ := gv.(map[string]any)
			for _, id := range sortedKeys(gs) {
				if g, ok := gs[id].(map[string]any); ok && g["allowFrom"] == nil {
					g["allowFrom"] = allow
				}
			}
			if len(gs) > 0 {
				m.warn(to+".groups", "each group's allowFrom set to the channel's allowFrom: OpenClaw checks group senders against allowFrom when groupAllowFrom is unset, Talon does not")
			}
		}
	}
	m.copyScalar(base+".requireMention", to+".requireMention")
	m.copyScalar(base+".dangerouslyAllowNameMatching", to+".dangerouslyAllowNameMatching")
	if v, ok := m.get(base + ".direct"); ok {
		d, _ := v.(map[string]any)
		for _, id := range sortedKeys(d) {
			e, _ := d[id].(map[string]any)
			_, t1 := e["tools"]
			_, t2 := e["toolsBySender"]
			if !t1 && !t2 {
				m.unmapped(base+".direct."+id, "per-chat settings have no Talon equivalent")
				continue
			}
			// The chat had fewer tools than the agent; Talon cannot say
			// so per chat, so the sender is not admitted by allowFrom:
			// the owner can approve them again (pairing) knowing that.
			if l, ok := lookupPath(m.out, to+".allowFrom"); ok {
				kept := slices.DeleteFunc(slices.Clone(l.([]any)), func(x any) bool { return x == id })
				if len(kept) != len(l.([]any)) {
					m.set(to+".allowFrom", kept, base+".allowFrom")
				}
			}
			m.unmapped(base+".direct."+id, "this chat had its own tool restrictions, which Talon cannot express per chat; "+id+" was left out of allowFrom so it does not get more than it had")
		}
	}
	m.skip(base+".mentionPatterns", "Talon's mention patterns are agents.defaults.mentionPatterns (regular expressions); not carried over")
}

// group maps one OpenClaw group entry to a Talon groups entry; a group
// with its own tool policy or sender policy is left out (Talon could only
// give it the agent's full tool set).
func (m *mapper) group(ch, from string, g map[string]any, users string) (map[string]any, bool) {
	if g["enabled"] == false {
		m.unmapped(from, "disabled in OpenClaw; not carried over")
		return nil, false
	}
	for _, k := range []string{"tools", "toolsBySender", "skills", "roles"} {
		if _, ok := g[k]; ok {
			m.unmapped(from, "has its own "+k+" restriction, which Talon cannot express per group; left out so it does not get more than it had. Add it to groups by hand if the agent's tools are fine there")
			return nil, false
		}
	}
	if gp, ok := g["groupPolicy"].(string); ok && gp != "allowlist" {
		m.unmapped(from, "has its own groupPolicy "+gp+", which Talon cannot express per group; left out")
		return nil, false
	}
	out := map[string]any{}
	m.used[from] = true
	if rm, ok := g["requireMention"].(bool); ok {
		out["requireMention"] = rm
	}
	if users != "" {
		if _, ok := g[users]; ok {
			if l, ok := m.senderIDs(ch, from+"."+users); ok {
				out["allowFrom"] = l
			}
		}
	}
	for _, k := range sortedKeys(g) {
		switch k {
		case "requireMention", "enabled", users, "groupPolicy":
		case "systemPrompt", "topics", "ingest", "errorPolicy", "disableAudioPreflight", "presenceEvents", "ignoreOtherMentions", "replyToMode", "allowBots", "botLoopProtection":
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: from + "." + k, Message: "no per-group Talon equivalent"})
		default:
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: from + "." + k, Message: "no Talon equivalent"})
		}
	}
	return out, true
}

func (m *mapper) groups(ch, from, to, users string) {
	v, ok := m.get(from)
	if !ok {
		return
	}
	gs, ok := v.(map[string]any)
	if !ok {
		m.unmapped(from, "expected an object")
		return
	}
	out := map[string]any{}
	for _, id := range sortedKeys(gs) {
		g, _ := gs[id].(map[string]any)
		if e, ok := m.group(ch, from+"."+id, g, users); ok {
			out[id] = e
		}
	}
	setSegs(m.out, append(strings.Split(to, "."), "groups"), out)
	m.to = append(m.to, Mapping{From: from, To: to + ".groups"})
}

// accounts carries the extra bots of a channel. account maps one account's
// credentials from a source prefix to a Talon prefix.
func (m *mapper) accounts(ch string, account func(from, to, id string)) {
	base := "channels." + ch + ".accounts"
	v, ok := m.get(base)
	if !ok {
		m.skip("channels."+ch+".defaultAccount", "Talon's default account is the channel's top-level credentials")
		return
	}
	m.skip("channels."+ch+".defaultAccount", "Talon's default account is the channel's top-level credentials")
	accts, ok := v.(map[string]any)
	if !ok {
		m.unmapped(base, "expected an object")
		return
	}
	for _, id := range sortedKeys(accts) {
		from := base + "." + id
		a, _ := accts[id].(map[string]any)
		if a["enabled"] == false {
			m.unmapped(from, "disabled in OpenClaw; not carried over")
			continue
		}
		skip := ""
		for _, k := range accessKeys {
			if _, ok := a[k]; ok {
				skip = k
				break
			}
		}
		if skip != "" {
			m.unmapped(from, fmt.Sprintf("has its own %s; Talon applies the channel's access settings to every account, which could admit more than this account did. Add the account by hand if the channel's settings fit", skip))
			continue
		}
		to := "channels." + ch + ".accounts." + id
		if id == "default" {
			if _, taken := lookupPath(m.out, "channels."+ch+".token"); !taken {
				if _, taken := lookupPath(m.out, "channels."+ch+".botToken"); !taken {
					to = "channels." + ch
				}
			}
		}
		if to != "channels."+ch && !idRe.MatchString(id) {
			m.unmapped(from, "a Talon account id is lowercase letters, digits, - and _")
			continue
		}
		account(from, to, id)
		m.used[from] = true
		for _, k := range sortedKeys(a) {
			if !m.used[from+"."+k] {
				m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: from + "." + k, Message: reasonFor(from + "." + k)})
			}
		}
	}
}

func (m *mapper) telegram() {
	account := func(from, to, id string) {
		name := []string{"telegram", "bot", "token"}
		if id != "" && id != "default" {
			name = []string{"telegram", id, "bot", "token"}
		}
		m.secretField(from+".botToken", to+".botToken", name...)
		m.skip(from+".tokenFile", "Talon does not read token files: run talon secrets set TELEGRAM_BOT_TOKEN < FILE and set botToken to \"${secret:TELEGRAM_BOT_TOKEN}\"")
		m.copyScalar(from+".apiRoot", to+".apiBaseUrl")
		m.copyScalar(from+".webhookUrl", to+".webhookUrl")
		m.secretField(from+".webhookSecret", to+".webhookSecret", append(name[:len(name)-2:len(name)-2], "webhook", "secret")...)
		h, hasH := m.get(from + ".webhookHost")
		p, hasP := m.get(from + ".webhookPort")
		if hasH || hasP {
			host, _ := h.(string)
			if host == "" || host == "0.0.0.0" {
				host = "127.0.0.1"
				if hasH {
					m.warn(to+".webhookListen", "the webhook receiver listens on 127.0.0.1 (narrower than %v): put a TLS reverse proxy in front", h)
				}
			}
			port := 8787.0
			if f, ok := p.(float64); ok {
				port = f
			}
			m.set(to+".webhookListen", fmt.Sprintf("%s:%d", host, int(port)), from+".webhookPort")
		}
		m.skip(from+".webhookPath", "Talon's Telegram webhook receiver answers on its own path")
		m.skip(from+".webhookCertPath", "Talon does not terminate TLS: put a reverse proxy in front")
		m.skip(from+".proxy", "Talon sends every request through its network guard; set apiBaseUrl to reach the Bot API through a proxy")
	}
	account("channels.telegram", "channels.telegram", "")
	m.groups("telegram", "channels.telegram.groups", "channels.telegram", "allowFrom")
	m.accounts("telegram", account)
	m.envToken("telegram", "botToken", "tokenFile", "TELEGRAM_BOT_TOKEN")
}

// envToken writes OpenClaw's environment fallback for the default
// account's token when the config names none: OpenClaw reads the variable
// itself, Talon needs the reference spelled out.
func (m *mapper) envToken(ch, key, fileKey, env string) {
	base := "channels." + ch
	if v, _ := m.peek(base + ".enabled"); v == false {
		return
	}
	if _, ok := lookupPath(m.out, base+"."+key); ok {
		return
	}
	if _, ok := m.peek(base + "." + fileKey); ok && fileKey != "" {
		return
	}
	m.set(base+"."+key, "${"+env+"}", "")
	m.warn(base+"."+key, "OpenClaw reads the default account's token from %s when the config has none; Talon now says so: \"${%s}\"", env, env)
}

func (m *mapper) discord() {
	account := func(from, to, id string) {
		name := []string{"discord", "bot", "token"}
		if id != "" && id != "default" {
			name = []string{"discord", id, "bot", "token"}
		}
		m.secretField(from+".token", to+".token", name...)
		m.skip(from+".proxy", "Talon sends every request through its network guard")
	}
	account("channels.discord", "channels.discord", "")
	v, ok := m.get("channels.discord.guilds")
	if ok {
		guilds, _ := v.(map[string]any)
		var ids []any
		groups := map[string]any{}
		for _, gid := range sortedKeys(guilds) {
			from := "channels.discord.guilds." + gid
			g, _ := guilds[gid].(map[string]any)
			for _, k := range []string{"tools", "toolsBySender", "roles", "users"} {
				if _, ok := g[k]; ok {
					m.unmapped(from, "has its own "+k+" restriction, which Talon cannot express per guild; left out so it does not get more than it had")
					g = nil
					break
				}
			}
			if g == nil {
				continue
			}
			ids = append(ids, gid)
			m.used[from] = true
			chans, _ := g["channels"].(map[string]any)
			if len(chans) == 0 {
				m.warn(from, "Talon admits guild channels by channel id: list the channels of this guild under channels.discord.groups (none admitted yet)")
			}
			for _, cid := range sortedKeys(chans) {
				c, ok := chans[cid].(map[string]any)
				if !ok {
					m.unmapped(from+".channels."+cid, "expected an object")
					continue
				}
				if c["allow"] == false {
					m.unmapped(from+".channels."+cid, "not allowed in OpenClaw")
					continue
				}
				if _, ok := c["requireMention"]; !ok {
					if rm, ok := g["requireMention"].(bool); ok {
						c["requireMention"] = rm
					}
				}
				delete(c, "allow")
				if e, ok := m.group("discord", from+".channels."+cid, c, "users"); ok {
					groups[cid] = e
				}
			}
			for _, k := range sortedKeys(g) {
				if k != "channels" && k != "requireMention" {
					m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: from + "." + k, Message: "no Talon equivalent"})
				}
			}
		}
		if ids != nil {
			m.set("channels.discord.guilds", ids, "channels.discord.guilds")
		}
		if len(groups) > 0 {
			setSegs(m.out, []string{"channels", "discord", "groups"}, groups)
			m.to = append(m.to, Mapping{From: "channels.discord.guilds", To: "channels.discord.groups"})
		}
	}
	m.accounts("discord", account)
	m.envToken("discord", "token", "", "DISCORD_BOT_TOKEN")
}

func (m *mapper) slack() {
	account := func(from, to, id string) {
		pre := []string{"slack"}
		if id != "" && id != "default" {
			pre = []string{"slack", id}
		}
		if v, ok := m.get(from + ".mode"); ok {
			switch s, _ := v.(string); s {
			case "socket", "http":
				m.set(to+".mode", s, from+".mode")
			default:
				m.unmapped(from+".mode", fmt.Sprintf("%q: Talon has socket and http modes", s))
			}
		}
		m.secretField(from+".botToken", to+".botToken", append(pre, "bot", "token")...)
		m.secretField(from+".appToken", to+".appToken", append(pre, "app", "token")...)
		m.secretField(from+".signingSecret", to+".signingSecret", append(pre, "signing", "secret")...)
		m.skip(from+".userToken", "Talon acts as the bot only, never as a user")
		m.skip(from+".webhookPath", "Talon's Events API receiver answers on its own path (webhookListen)")
	}
	account("channels.slack", "channels.slack", "")
	m.groups("slack", "channels.slack.channels", "channels.slack", "users")
	m.accounts("slack", account)
}

func (m *mapper) signal() {
	account := func(from, to, id string) {
		m.copyScalar(from+".account", to+".account")
		m.skip(from+".accountUuid", "Talon names the account by its number")
		v, ok := m.get(from + ".transport")
		if !ok {
			return
		}
		t, _ := v.(map[string]any)
		url, _ := t["url"].(string)
		if url == "" {
			if host, ok := t["httpHost"].(string); ok {
				port := 8080.0
				if p, ok := t["httpPort"].(float64); ok {
					port = p
				}
				url = fmt.Sprintf("http://%s:%d", host, int(port))
			}
		}
		if url == "" {
			m.unmapped(from+".transport", "OpenClaw runs signal-cli itself; Talon needs a signal-cli HTTP daemon: start signal-cli daemon --http and set httpUrl")
			return
		}
		if kind, _ := t["kind"].(string); kind == "managed-native" {
			m.warn(to+".httpUrl", "OpenClaw started signal-cli itself; Talon expects a signal-cli daemon --http already running at %s", url)
		}
		m.set(to+".httpUrl", url, from+".transport")
	}
	account("channels.signal", "channels.signal", "")
	m.groups("signal", "channels.signal.groups", "channels.signal", "")
	m.accounts("signal", account)
}

func (m *mapper) whatsapp() {
	m.warn("channels.whatsapp", "WhatsApp needs a binary built with the whatsapp tag and linking again (talon channels login whatsapp); OpenClaw's linked session does not carry over")
	m.groups("whatsapp", "channels.whatsapp.groups", "channels.whatsapp", "")
	if v, ok := m.get("channels.whatsapp.accounts"); ok {
		if a, ok := v.(map[string]any); ok && len(a) > 0 {
			m.unmapped("channels.whatsapp.accounts", "Talon links one WhatsApp account")
		}
	}
}
