package security

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
)

// defaultBaseURLs are the endpoints used when a base URL is left empty, by
// provider api, search provider or channel.
var defaultBaseURLs = map[string]string{
	"openai-completions": "https://api.openai.com/v1",
	"anthropic-messages": "https://api.anthropic.com",
	"google-genai":       "https://generativelanguage.googleapis.com",
	"brave":              "https://api.search.brave.com",
	"telegram":           "https://api.telegram.org",
	"discord":            "https://discord.com/api/v10",
	"slack":              "https://slack.com/api/",
	"signal":             "http://127.0.0.1:8080",
}

// baseURL is one configured endpoint an outbound client talks to.
type baseURL struct {
	key  string // config key, e.g. models.providers.local.baseUrl
	url  string
	cred bool // requests carry an API key or token
}

// auditEgress explains the effective egress policy (invariant 7) as one
// info finding, and warns about the combinations that weaken it.
func auditEgress(c *config.Config, add func(id, sev, title, detail, fix string, fixable bool)) {
	var parts []string
	wf := c.Tools.Web.Fetch
	fetchOn := wf.Enabled && policyEnables(c, "web_fetch", "group:web")
	var entries []netguard.HostEntry
	var local, localWild []string
	for _, s := range wf.AllowedHostnames {
		e, err := netguard.ParseHostEntry(s)
		if err != nil {
			continue // reported as config.invalid
		}
		entries = append(entries, e)
		if e.Local != "" {
			local = append(local, hostEntryText(e))
			if e.Wildcard {
				localWild = append(localWild, hostEntryText(e))
			}
		}
	}
	switch {
	case !fetchOn:
		parts = append(parts, "web_fetch: off")
	case len(wf.AllowedHostnames) > 0:
		var hs []string
		for _, e := range entries {
			t := hostEntryText(e) + " (" + portsText(e.Ports)
			if e.Local != "" {
				t += ", local network"
			}
			hs = append(hs, t+")")
		}
		if len(hs) == 0 {
			hs = append(hs, "nothing (every entry is invalid)")
		}
		parts = append(parts, "web_fetch: only "+strings.Join(hs, ", ")+", redirects included")
	default:
		parts = append(parts, "web_fetch: any public host on ports 80 and 443")
	}
	if fetchOn {
		switch {
		case wf.AllowPrivateNetwork:
			parts = append(parts, "web_fetch private network: open (allowPrivateNetwork)")
		case len(wf.AllowedHostnames) > 0:
			parts = append(parts, "web_fetch private network: only the listed hosts")
		default:
			parts = append(parts, "web_fetch private network: closed")
		}
	}

	var urls []baseURL
	ws := c.Tools.Web.Search
	if ws.Provider != "off" && ws.Provider != "" && policyEnables(c, "web_search", "group:web") {
		u := ws.BaseURL
		if u == "" && ws.Provider == "brave" {
			u = defaultBaseURLs["brave"]
		}
		parts = append(parts, fmt.Sprintf("web_search: %s at %s", ws.Provider, orText(originOf(u), "(no baseUrl)")))
		urls = append(urls, baseURL{"tools.web.search.baseUrl", u, !ws.APIKey.IsZero()})
	} else {
		parts = append(parts, "web_search: off")
	}

	var prov []string
	for _, id := range sortedKeys(c.Models.Providers) {
		p := c.Models.Providers[id]
		u := orText(p.BaseURL, defaultBaseURLs[p.API])
		prov = append(prov, id+" "+originOf(u))
		urls = append(urls, baseURL{"models.providers." + id + ".baseUrl", u, !p.APIKey.IsZero()})
	}
	if len(prov) > 0 {
		parts = append(parts, "model providers: "+strings.Join(prov, ", "))
	}
	var chans []string
	addChan := func(name, key, u string, cred bool) {
		u = orText(u, defaultBaseURLs[name])
		chans = append(chans, name+" "+originOf(u))
		urls = append(urls, baseURL{key, u, cred})
	}
	cc := c.Channels
	if t := cc.Telegram; t != nil && t.Enabled {
		accts := telegramAccounts(t)
		for _, id := range sortedKeys(accts) {
			a := accts[id]
			addChan("telegram", accountKey("channels.telegram", id, "apiBaseUrl"), a.APIBaseURL, !a.BotToken.IsZero())
		}
	}
	if d := cc.Discord; d != nil && d.Enabled {
		addChan("discord", "channels.discord.apiBaseUrl", d.APIBaseURL, !d.Token.IsZero())
		for _, id := range sortedKeys(d.Accounts) {
			addChan("discord", accountKey("channels.discord", id, "apiBaseUrl"), d.Accounts[id].APIBaseURL, !d.Accounts[id].Token.IsZero())
		}
	}
	if s := cc.Slack; s != nil && s.Enabled {
		addChan("slack", "channels.slack.apiBaseUrl", s.APIBaseURL, !s.BotToken.IsZero())
		for _, id := range sortedKeys(s.Accounts) {
			addChan("slack", accountKey("channels.slack", id, "apiBaseUrl"), s.Accounts[id].APIBaseURL, !s.Accounts[id].BotToken.IsZero())
		}
	}
	if s := cc.Signal; s != nil && s.Enabled {
		addChan("signal", "channels.signal.httpUrl", s.HTTPURL, false)
		for _, id := range sortedKeys(s.Accounts) {
			addChan("signal", accountKey("channels.signal", id, "httpUrl"), s.Accounts[id].HTTPURL, false)
		}
	}
	if w := cc.WhatsApp; w != nil && w.Enabled {
		chans = append(chans, "whatsapp WhatsApp's servers on port 443")
	}
	if len(chans) > 0 {
		parts = append(parts, "channels: "+strings.Join(slices.Compact(chans), ", "))
	}
	var privateOrigins []string
	for _, b := range urls {
		if o := originOf(b.url); o != "" && isLocalOrigin(b.url) && !slices.Contains(privateOrigins, o) {
			privateOrigins = append(privateOrigins, o)
		}
	}
	if len(privateOrigins) > 0 {
		parts = append(parts, "private addresses reachable by provider, channel and search clients: only "+strings.Join(privateOrigins, ", ")+" (each by its own client)")
	} else {
		parts = append(parts, "private addresses reachable by provider, channel and search clients: none")
	}
	parts = append(parts, "always: cloud metadata endpoints are never reachable, a redirect to another origin carries no credential header, environment proxies are ignored")
	fix := ""
	if fetchOn && len(wf.AllowedHostnames) == 0 {
		fix = "to limit web_fetch to the sites the agent needs, list them in tools.web.fetch.allowedHostnames"
	}
	add("egress.policy", Info, "where outbound requests may go", strings.Join(parts, "; "), fix, false)

	// What weakens it.
	if fetchOn && wf.AllowPrivateNetwork && len(wf.AllowedHostnames) > 0 {
		add("tools.web.fetch.private_network_with_list", Warn, "allowPrivateNetwork is on although allowedHostnames lists the hosts",
			"listed hosts may already resolve to private addresses; allowPrivateNetwork adds nothing now and opens your whole network to web_fetch the day the list is emptied",
			"turn tools.web.fetch.allowPrivateNetwork off", false)
	}
	if fetchOn && len(localWild) > 0 {
		add("tools.web.fetch.local_wildcard", Warn, "a wildcard in allowedHostnames covers local-network names", strings.Join(localWild, ", ")+
			": a page the agent reads can make it request any host under that domain", "list the local hosts the agent needs one by one", false)
	}
	if fetchOn && len(local) > 0 {
		add("tools.web.fetch.local_hosts_listed", Info, "web_fetch may reach hosts on your network", strings.Join(local, ", ")+
			": a page the agent reads can make it request these (GET only; the answers go to the model)", "keep the list to what the agent needs", false)
	}
	for _, b := range urls {
		u, err := url.Parse(b.url)
		if err != nil || u.Scheme != "http" || !b.cred || isLoopbackHost(u.Hostname()) {
			continue
		}
		add("egress.cleartext_credentials", Warn, b.key+" sends credentials without TLS", b.url+" is plain http to a host that is not loopback: the key or token can be read on the way",
			"use https, or reach the service over loopback (an SSH tunnel or a local proxy)", false)
	}
}

func hostEntryText(e netguard.HostEntry) string {
	if e.Wildcard {
		return "*." + e.Host
	}
	return e.Host
}

func portsText(ports []int) string {
	ss := make([]string, len(ports))
	for i, p := range ports {
		ss[i] = strconv.Itoa(p)
	}
	if len(ss) == 1 {
		return "port " + ss[0]
	}
	return "ports " + strings.Join(ss, ", ")
}

// originOf is scheme://host[:port] of a URL, or the text itself when it is
// not one (a description such as WhatsApp's).
func originOf(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return s
	}
	return u.Scheme + "://" + u.Host
}

// isLocalOrigin reports whether a base URL's host is on the local network
// (loopback, private, a .local/.lan/... name).
func isLocalOrigin(s string) bool {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return false
	}
	e, err := netguard.ParseHostEntry(u.Host)
	return err == nil && e.Local != ""
}

func isLoopbackHost(h string) bool {
	h = strings.TrimSuffix(strings.ToLower(h), ".")
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(h)
	return err == nil && ip.Unmap().IsLoopback()
}

func accountKey(channel, id, key string) string {
	if id == "default" {
		return channel + "." + key
	}
	return channel + ".accounts." + id + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
