package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/netguard"
)

// The doctor's online checks: one minimal model call through the same
// provider code turns use, and each channel account's cheapest "who am I"
// call with its credentials. Every request goes through netguard with the
// probed origin as the only private address allowed; every message is
// scrubbed of the credential it used (a Telegram token sits in the URL, and
// Go's errors quote URLs).

const probeTimeout = 20 * time.Second

// modelProbe sends a one-token request to each model of the chain.
func (a *app) modelProbe(ctx context.Context, cfg *config.Config, scrub func(string) string) []check {
	if cfg.Agents.Defaults.Model == "" {
		return []check{{"model.probe", "warn", "no model configured, nothing to probe", "set agents.defaults.model (see talon onboard)"}}
	}
	models, err := (&agent.ConfigModels{}).Models(cfg)
	if err != nil {
		return []check{{"model.probe", "fail", scrub(stripGoPrefixes(err.Error())), "fix the model settings, then `talon config validate`"}}
	}
	var out []check
	for _, m := range models {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		start := time.Now()
		_, err := m.Provider.Chat(pctx, llm.Request{Model: m.ModelID, MaxTokens: 1,
			Messages: []llm.Message{{Role: llm.RoleUser, Content: "ping"}}}, nil)
		cancel()
		base := cfg.Models.Providers[m.ProviderID].BaseURL
		if err == nil {
			out = append(out, check{"model.probe", "ok", fmt.Sprintf("%s answered in %s", m.Ref, time.Since(start).Round(time.Millisecond)), ""})
			continue
		}
		hint := fmt.Sprintf("check models.providers.%s (baseUrl %s) and that the server is running", m.ProviderID, orStr(base, "the API's default"))
		var ae *llm.APIError
		if errors.As(err, &ae) {
			switch {
			case ae.Status == 401 || ae.Status == 403:
				hint = fmt.Sprintf("the key was refused: check models.providers.%s.apiKey", m.ProviderID)
			case ae.Status == 404:
				hint = fmt.Sprintf("not found: check the model id %q and models.providers.%s.baseUrl", m.ModelID, m.ProviderID)
			}
		}
		out = append(out, check{"model.probe", "fail", m.Ref + ": " + scrub(stripGoPrefixes(err.Error())), hint})
	}
	return out
}

// channelProbe is one account's credential check.
type channelProbe struct {
	id     string // "telegram", "slack.accounts.work", …
	secret string // what to scrub from messages
	do     func(ctx context.Context) (string, error)
}

// channelProbes lists a probe for every enabled channel account.
func channelProbes(cfg *config.Config) []channelProbe {
	var ps []channelProbe
	ch := cfg.Channels
	if t := ch.Telegram; t != nil && t.Enabled {
		add := func(id string, acc config.TelegramAccount) {
			tok := acc.BotToken.Reveal()
			ps = append(ps, channelProbe{id, tok, func(ctx context.Context) (string, error) {
				var r struct {
					OK          bool   `json:"ok"`
					Description string `json:"description"`
					Result      struct {
						Username string `json:"username"`
					} `json:"result"`
				}
				if err := probeJSON(ctx, http.MethodGet, strings.TrimRight(acc.APIBaseURL, "/")+"/bot"+tok+"/getMe", nil, nil, &r); err != nil {
					return "", err
				}
				if !r.OK {
					return "", errors.New("getMe refused: " + orStr(r.Description, "no reason given"))
				}
				return "bot @" + r.Result.Username, nil
			}})
		}
		if !t.BotToken.IsZero() {
			add("telegram", t.TelegramAccount)
		}
		for _, id := range sortedKeysOf(t.Accounts) {
			add("telegram.accounts."+id, t.Accounts[id])
		}
	}
	if d := ch.Discord; d != nil && d.Enabled {
		add := func(id string, acc config.DiscordAccount) {
			tok := acc.Token.Reveal()
			ps = append(ps, channelProbe{id, tok, func(ctx context.Context) (string, error) {
				var r struct {
					Username string `json:"username"`
				}
				if err := probeJSON(ctx, http.MethodGet, strings.TrimRight(acc.APIBaseURL, "/")+"/users/@me", http.Header{"Authorization": {"Bot " + tok}}, nil, &r); err != nil {
					return "", err
				}
				return "bot " + r.Username, nil
			}})
		}
		if !d.Token.IsZero() {
			add("discord", d.DiscordAccount)
		}
		for _, id := range sortedKeysOf(d.Accounts) {
			add("discord.accounts."+id, d.Accounts[id])
		}
	}
	if s := ch.Slack; s != nil && s.Enabled {
		add := func(id string, acc config.SlackAccount) {
			tok := acc.BotToken.Reveal()
			ps = append(ps, channelProbe{id, tok, func(ctx context.Context) (string, error) {
				var r struct {
					OK    bool   `json:"ok"`
					Error string `json:"error"`
					User  string `json:"user"`
					Team  string `json:"team"`
				}
				base := acc.APIBaseURL
				if !strings.HasSuffix(base, "/") {
					base += "/"
				}
				if err := probeJSON(ctx, http.MethodPost, base+"auth.test", http.Header{"Authorization": {"Bearer " + tok}}, []byte{}, &r); err != nil {
					return "", err
				}
				if !r.OK {
					return "", errors.New("auth.test refused: " + orStr(r.Error, "no reason given"))
				}
				return fmt.Sprintf("app user %s in %s", r.User, r.Team), nil
			}})
		}
		if !s.BotToken.IsZero() {
			add("slack", s.SlackAccount)
		}
		for _, id := range sortedKeysOf(s.Accounts) {
			add("slack.accounts."+id, s.Accounts[id])
		}
	}
	if s := ch.Signal; s != nil && s.Enabled {
		add := func(id string, acc config.SignalAccount) {
			ps = append(ps, channelProbe{id, "", func(ctx context.Context) (string, error) {
				type rpcAnswer struct {
					Result json.RawMessage `json:"result"`
					Error  *struct {
						Code    int    `json:"code"`
						Message string `json:"message"`
					} `json:"error"`
				}
				rpc := func(method string, out *rpcAnswer) error {
					body := []byte(`{"jsonrpc":"2.0","id":"doctor","method":"` + method + `"}`)
					return probeJSON(ctx, http.MethodPost, strings.TrimRight(acc.HTTPURL, "/")+"/api/v1/rpc", http.Header{"Content-Type": {"application/json"}}, body, out)
				}
				var v rpcAnswer
				if err := rpc("version", &v); err != nil {
					return "", err
				}
				var ver struct{ Version string }
				_ = json.Unmarshal(v.Result, &ver)
				var l rpcAnswer
				if err := rpc("listAccounts", &l); err != nil {
					return "", err
				}
				if l.Error != nil {
					// Single-account mode (signal-cli -a NUMBER daemon)
					// has no listAccounts; the daemon serves one account.
					return fmt.Sprintf("signal-cli %s answers (single-account mode)", ver.Version), nil
				}
				var accts []struct {
					Number string `json:"number"`
				}
				_ = json.Unmarshal(l.Result, &accts)
				for _, a := range accts {
					if a.Number == acc.Account {
						return fmt.Sprintf("signal-cli %s serves %s", ver.Version, a.Number), nil
					}
				}
				return "", fmt.Errorf("signal-cli at %s does not serve %s (register or link it with signal-cli first)", acc.HTTPURL, acc.Account)
			}})
		}
		if s.HTTPURL != "" && s.Account != "" {
			add("signal", s.SignalAccount)
		}
		for _, id := range sortedKeysOf(s.Accounts) {
			add("signal.accounts."+id, s.Accounts[id])
		}
	}
	return ps
}

func (a *app) channelChecks(ctx context.Context, cfg *config.Config, scrub func(string) string) []check {
	var out []check
	for _, p := range channelProbes(cfg) {
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		who, err := p.do(pctx)
		cancel()
		clean := func(s string) string {
			if p.secret != "" {
				s = strings.ReplaceAll(s, p.secret, "***")
				s = strings.ReplaceAll(s, url.PathEscape(p.secret), "***")
			}
			return scrub(s)
		}
		id := "channel." + p.id
		if err != nil {
			out = append(out, check{id, "fail", clean(stripGoPrefixes(err.Error())), "check channels." + p.id + " (its credentials and API base URL)"})
			continue
		}
		out = append(out, check{id, "ok", "credentials accepted: " + clean(who), ""})
	}
	return out
}

// probeJSON makes one request through netguard, allowed to reach exactly
// rawURL's origin, and decodes a JSON answer of at most 1 MiB. Any status
// but 2xx is an error naming it.
func probeJSON(ctx context.Context, method, rawURL string, h http.Header, body []byte, out any) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" {
		return fmt.Errorf("bad URL")
	}
	hc := netguard.Policy{AllowedOrigins: []string{u.Scheme + "://" + u.Host}, Timeout: probeTimeout, MaxBodyBytes: 1 << 20, MaxRedirects: -1}.Client()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, rd)
	if err != nil {
		return err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := hc.Do(req)
	if err != nil {
		// *url.Error quotes the URL; say where without it.
		var ue *url.Error
		if errors.As(err, &ue) {
			return fmt.Errorf("%s %s://%s: %v", method, u.Scheme, u.Host, ue.Err)
		}
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The APIs say why in JSON, under one of these names.
		var why struct{ Description, Error, Message string }
		_ = json.Unmarshal(b, &why)
		reason := cut(orStr(why.Description, orStr(why.Error, why.Message)), 200)
		if reason != "" {
			reason = ": " + reason
		}
		return fmt.Errorf("HTTP %d from %s://%s%s", resp.StatusCode, u.Scheme, u.Host, reason)
	}
	return json.Unmarshal(b, out)
}

func sortedKeysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
