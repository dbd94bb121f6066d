package config

import (
	"fmt"
	"strconv"
	"strings"
)

// channelNames are the channels a "<channel>:<id>" sender reference may
// name.
const channelNames = "telegram, discord, slack, signal, whatsapp"

// CheckReferences reports keys that refer to something the config does not
// define: the model chain's providers and models, the channels the owner's
// ids name, the access groups allowFrom lists name. Load accepts such a
// config (each key is valid on its own, and the gateway still starts);
// `talon config validate` and `talon doctor` report these so a check never
// says ok for a config that cannot work. ${secret:NAME} references to
// secrets the store does not have are load errors already.
func CheckReferences(c *Config) []Problem {
	var ps problems
	d := c.Agents.Defaults
	refs := append([]string{d.Model}, d.Fallbacks...)
	for i, ref := range refs {
		path := "agents.defaults.model"
		if i > 0 {
			path = "agents.defaults.fallbacks." + strconv.Itoa(i-1)
		}
		if ref == "" {
			continue
		}
		pid, mid, ok := strings.Cut(ref, "/")
		if !ok || pid == "" || mid == "" {
			ps.add(path, fmt.Sprintf("%s is not \"<provider>/<model>\"", quoteShort(ref)), `e.g. "local/qwen3"`)
			continue
		}
		p, ok := c.Models.Providers[pid]
		if !ok {
			known := strings.Join(sortedKeys(c.Models.Providers), ", ")
			if known == "" {
				known = "none"
			}
			ps.add(path, fmt.Sprintf("provider %s does not exist (models.providers has: %s)", quoteShort(pid), known),
				fmt.Sprintf("add models.providers.%s, or name a configured provider", pid))
			continue
		}
		found := false
		var ids []string
		for _, m := range p.Models {
			found = found || m.ID == mid
			ids = append(ids, m.ID)
		}
		if !found {
			ps.add(path, fmt.Sprintf("model %s is not listed in models.providers.%s.models (listed: %s)", quoteShort(mid), pid, orNone(ids)),
				fmt.Sprintf("add {id: %q, contextWindow: …} to models.providers.%s.models", mid, pid))
		}
	}
	configured := map[string]bool{"telegram": c.Channels.Telegram != nil, "discord": c.Channels.Discord != nil,
		"slack": c.Channels.Slack != nil, "signal": c.Channels.Signal != nil, "whatsapp": c.Channels.WhatsApp != nil}
	for i, id := range c.Commands.OwnerAllowFrom {
		ch, _, ok := strings.Cut(id, ":")
		if !ok {
			continue // a load error already
		}
		p := "commands.ownerAllowFrom." + strconv.Itoa(i)
		if _, known := configured[ch]; !known {
			ps.add(p, fmt.Sprintf("channel %s does not exist (channels: %s)", quoteShort(ch), channelNames), "fix the channel name")
		} else if !configured[ch] {
			ps.add(p, fmt.Sprintf("channel %s is not configured, so this owner id can never reach the agent", ch), fmt.Sprintf("configure channels.%s, or remove the entry", ch))
		}
	}
	for _, acc := range c.channelAccess() {
		for _, list := range []struct {
			key     string
			entries []string
		}{{"allowFrom", acc.a.AllowFrom}, {"groupAllowFrom", acc.a.GroupAllowFrom}} {
			for i, e := range list.entries {
				name, isGroup := strings.CutPrefix(e, "@")
				if !isGroup {
					continue
				}
				if _, ok := c.AccessGroups[name]; !ok {
					ps.add(fmt.Sprintf("channels.%s.%s.%d", acc.name, list.key, i), fmt.Sprintf("access group %s does not exist", quoteShort(name)),
						fmt.Sprintf("define accessGroups.%s, or fix the name", name))
				}
			}
		}
	}
	return ps.list
}

type namedAccess struct {
	name string
	a    ChannelAccess
}

func (c *Config) channelAccess() []namedAccess {
	var out []namedAccess
	ch := c.Channels
	if ch.Telegram != nil {
		out = append(out, namedAccess{"telegram", ch.Telegram.ChannelAccess})
	}
	if ch.Discord != nil {
		out = append(out, namedAccess{"discord", ch.Discord.ChannelAccess})
	}
	if ch.Slack != nil {
		out = append(out, namedAccess{"slack", ch.Slack.ChannelAccess})
	}
	if ch.Signal != nil {
		out = append(out, namedAccess{"signal", ch.Signal.ChannelAccess})
	}
	if ch.WhatsApp != nil {
		out = append(out, namedAccess{"whatsapp", ch.WhatsApp.ChannelAccess})
	}
	return out
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
