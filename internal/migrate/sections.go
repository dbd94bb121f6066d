package migrate

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/talonclaw/talon/internal/tools"
)

var idRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

func (m *mapper) gateway() {
	m.copyScalar("gateway.port", "gateway.port")
	if v, ok := m.get("gateway.bind"); ok {
		switch s, _ := v.(string); s {
		case "loopback", "lan", "tailnet", "custom":
			m.set("gateway.bind", s, "gateway.bind")
		case "auto":
			m.set("gateway.bind", "loopback", "gateway.bind")
			m.warn("gateway.bind", `OpenClaw's "auto" has no Talon equivalent: bound to "loopback" (narrower); set "lan" or "tailnet" if other hosts must connect`)
		default:
			m.unmapped("gateway.bind", fmt.Sprintf("%q is not a bind mode Talon knows", s))
		}
	}
	m.copyScalar("gateway.customBindHost", "gateway.customBindHost")
	if v, ok := m.get("gateway.auth.mode"); ok {
		switch s, _ := v.(string); s {
		case "token", "password", "none":
			m.set("gateway.auth.mode", s, "gateway.auth.mode")
		case "trusted-proxy":
			m.set("gateway.auth.mode", "token", "gateway.auth.mode")
			m.warn("gateway.auth.mode", `Talon has no trusted-proxy auth: clients now need the gateway token (narrower)`)
			m.skip("gateway.auth.trustedProxy", "used only by trusted-proxy auth")
		default:
			m.unmapped("gateway.auth.mode", fmt.Sprintf("%q is not an auth mode Talon knows; token auth applies", s))
		}
	} else if _, hasPw := m.peek("gateway.auth.password"); hasPw {
		if _, hasTok := m.peek("gateway.auth.token"); !hasTok {
			m.set("gateway.auth.mode", "password", "gateway.auth.password")
		}
	}
	m.secretField("gateway.auth.token", "gateway.auth.token", "gateway", "token")
	m.secretField("gateway.auth.password", "gateway.auth.password", "gateway", "password")
	if v, ok := m.get("gateway.auth.rateLimit.maxAttempts"); ok {
		m.setInt("gateway.auth.rateLimit.maxAttempts", v, 1, "gateway.auth.rateLimit.maxAttempts")
	}
	for _, k := range [][2]string{{"windowMs", "windowSec"}, {"lockoutMs", "lockoutSec"}} {
		from := "gateway.auth.rateLimit." + k[0]
		if v, ok := m.get(from); ok {
			if f, ok := v.(float64); ok {
				m.set("gateway.auth.rateLimit."+k[1], math.Max(1, math.Ceil(f/1000)), from)
			}
		}
	}
	m.skip("gateway.auth.rateLimit.exemptLoopback", "Talon never exempts loopback from the lockout (stricter)")
	m.skip("gateway.auth.allowTailscale", "Talon does not accept Tailscale identity headers as authentication (stricter): clients use the token or password")
	m.skip("gateway.auth.identityScopes", "Talon grants scopes by token, not by proxy identity")
	m.copyScalar("gateway.controlUi.enabled", "gateway.controlUi.enabled")
	if l, ok := m.stringList("gateway.controlUi.allowedOrigins"); ok {
		m.set("gateway.controlUi.allowedOrigins", l, "gateway.controlUi.allowedOrigins")
	}
	if l, ok := m.stringList("gateway.trustedProxies"); ok {
		m.set("gateway.trustedProxies", l, "gateway.trustedProxies")
	}
	if v, ok := m.get("gateway.reload.mode"); ok {
		switch s, _ := v.(string); s {
		case "hot", "off":
			m.set("gateway.reload.mode", s, "gateway.reload.mode")
		default:
			m.unmapped("gateway.reload.mode", fmt.Sprintf("%q: Talon has hot and off; hot applies (live keys change at once, the rest at restart)", s))
		}
	}
	m.skip("gateway.mode", "Talon always runs the gateway; remote mode is a client setting")
	m.skip("gateway.remote", "client settings for a remote gateway, not the gateway's own")
	m.skip("gateway.tls", "Talon does not terminate TLS: put a reverse proxy in front and list it in gateway.trustedProxies")
	m.skip("gateway.tailscale", "Talon does not manage Tailscale Serve or Funnel")
	m.skip("gateway.roles", "Talon has no per-person roles; every client gets the scopes its token allows")
}

// ensureToken gives token auth without a token a fresh one, stored as a
// secret: Talon would otherwise write a literal one on first run. It runs
// after validation, which may have turned an auth mode Talon refuses into
// the default, token.
func (m *mapper) ensureToken() bool {
	mode, _ := lookupPath(m.out, "gateway.auth.mode")
	if (mode != nil && mode != "token") || m.in.NewToken == nil {
		return false
	}
	if _, ok := lookupPath(m.out, "gateway.auth.token"); ok {
		return false
	}
	tok, err := m.in.NewToken()
	if err != nil {
		return false
	}
	n := m.planSecret("gateway.auth.token", "GATEWAY_TOKEN", tok)
	m.set("gateway.auth.token", "${secret:"+n+"}", "")
	m.warn("gateway.auth.token", "generated a new gateway token (stored as secret %s); clients need it: talon config get gateway.auth.token --reveal", n)
	return true
}

func (m *mapper) setInt(to string, v any, min float64, from string) {
	f, ok := v.(float64)
	if !ok || f != math.Trunc(f) {
		m.unmapped(from, "expected a whole number")
		return
	}
	m.set(to, math.Max(min, f), from)
}

// providerAPI maps OpenClaw's request adapters to Talon's wire protocols.
func (m *mapper) providerAPI(id, from string, v any, hasAPI bool) (string, bool) {
	s, _ := v.(string)
	if !hasAPI {
		switch {
		case id == "anthropic":
			return "anthropic-messages", true
		case id == "google" || id == "gemini":
			return "google-genai", true
		}
		return "openai-completions", true
	}
	switch s {
	case "openai-completions", "anthropic-messages":
		return s, true
	case "google-generative-ai":
		return "google-genai", true
	case "ollama":
		m.warn(from, "Ollama's native API becomes its OpenAI-compatible one (baseUrl ending in /v1)")
		return "openai-completions", true
	case "openai-responses":
		m.warn(from, "Talon speaks chat completions, not the Responses API: check that this endpoint serves /chat/completions (OpenAI's does)")
		return "openai-completions", true
	}
	return "", false
}

func (m *mapper) models() {
	v, ok := m.peek("models.providers")
	if !ok {
		m.skip("models.mode", "Talon uses exactly the providers and models in its config")
		return
	}
	m.skip("models.mode", "Talon uses exactly the providers and models in its config")
	provs, ok := v.(map[string]any)
	if !ok {
		m.unmapped("models.providers", "expected an object")
		return
	}
	for _, id := range sortedKeys(provs) {
		base := "models.providers." + id
		if !idRe.MatchString(id) {
			m.unmapped(base, "a Talon provider id is lowercase letters, digits, - and _")
			continue
		}
		if _, ok := provs[id].(map[string]any); !ok {
			m.unmapped(base, "expected an object")
			continue
		}
		av, hasAPI := m.get(base + ".api")
		api, ok := m.providerAPI(id, base+".api", av, hasAPI)
		if !ok {
			m.unmapped(base, fmt.Sprintf("Talon speaks openai-completions, anthropic-messages and google-genai; %v is none of them", av))
			continue
		}
		to := "models.providers." + id
		m.set(to+".api", api, base+".api")
		if bv, ok := m.get(base + ".baseUrl"); ok {
			if b, ok := bv.(string); ok {
				b = m.str(base+".baseUrl", b)
				if s, _ := av.(string); s == "ollama" && !strings.HasSuffix(strings.TrimRight(b, "/"), "/v1") {
					b = strings.TrimRight(b, "/") + "/v1"
				}
				m.set(to+".baseUrl", b, base+".baseUrl")
			}
		} else if !slices.Contains([]string{"openai", "anthropic", "google", "gemini"}, id) {
			m.warn(to+".baseUrl", "no baseUrl: Talon will call the protocol's public endpoint (%s); set baseUrl if this provider lives elsewhere", api)
		}
		m.secretField(base+".apiKey", to+".apiKey", id, "api", "key")
		if sv, ok := m.peek(base + ".apiKey"); ok {
			if s, ok := sv.(string); ok && envRefOnly.MatchString("${"+s+"}") && !strings.Contains(s, "${") {
				m.warn(base+".apiKey", "looks like an environment variable name; it was stored as a literal key: if it names a variable, set %s.apiKey to \"${%s}\"", to, s)
			}
		}
		defMax, hasDefMax := m.get(base + ".maxTokens")
		mv, ok := m.peek(base + ".models")
		if !ok {
			continue
		}
		list, _ := mv.([]any)
		var out []any
		for i, e := range list {
			mb := fmt.Sprintf("%s.models.%d", base, i)
			mm, ok := e.(map[string]any)
			if !ok {
				m.unmapped(mb, "expected an object")
				continue
			}
			def := map[string]any{}
			if s, ok := mm["id"].(string); ok && s != "" {
				def["id"] = s
				m.used[mb+".id"] = true
			} else {
				m.unmapped(mb, "a model needs an id")
				continue
			}
			for _, k := range []string{"name", "contextWindow", "maxTokens"} {
				if x, ok := mm[k]; ok {
					def[k] = x
					m.used[mb+"."+k] = true
				}
			}
			if _, ok := def["maxTokens"]; !ok && hasDefMax {
				def["maxTokens"] = defMax
			}
			if c, ok := mm["cost"].(map[string]any); ok {
				cost := map[string]any{}
				for _, k := range []string{"input", "output"} {
					if x, ok := c[k]; ok {
						cost[k] = x
						m.used[mb+".cost."+k] = true
					}
				}
				if len(cost) > 0 {
					def["cost"] = cost
				}
			}
			out = append(out, def)
		}
		if out != nil {
			m.set(to+".models", out, base+".models")
		}
	}
}

// ensureModel makes sure a model reference has a provider and a model entry
// in the result: OpenClaw knows many providers and models by name, Talon
// only those its config lists.
func (m *mapper) ensureModel(ref, from string) {
	pid, mid, ok := strings.Cut(ref, "/")
	if !ok || pid == "" || mid == "" {
		return
	}
	provs, _ := lookupPath(m.out, "models.providers")
	pm, _ := provs.(map[string]any)
	p, ok := pm[pid].(map[string]any)
	if !ok {
		api := map[string]string{"openai": "openai-completions", "anthropic": "anthropic-messages", "google": "google-genai", "gemini": "google-genai"}[pid]
		if api == "" {
			return // the reference check reports it
		}
		env := strings.ToUpper(pid) + "_API_KEY"
		p = map[string]any{"api": api, "apiKey": "${" + env + "}"}
		setSegs(m.out, []string{"models", "providers", pid}, p)
		m.warn("models.providers."+pid, "added for %s, which OpenClaw knew by name; its key is read from ${%s}", from, env)
	}
	models, _ := p["models"].([]any)
	for _, e := range models {
		if mm, ok := e.(map[string]any); ok && mm["id"] == mid {
			return
		}
	}
	p["models"] = append(models, map[string]any{"id": mid})
	m.warn("models.providers."+pid+".models", "added model %s for %s with Talon's default context window and price 0: set its cost for budgets", mid, from)
}

func (m *mapper) agents() {
	aliases := map[string]string{}
	if v, ok := m.get("agents.defaults.models"); ok {
		if mm, ok := v.(map[string]any); ok {
			for ref, e := range mm {
				if o, ok := e.(map[string]any); ok {
					if a, ok := o["alias"].(string); ok {
						aliases[a] = ref
					}
				}
			}
		}
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: "agents.defaults.models", Message: "Talon has no model aliases or per-model settings; aliases in the model chain were resolved"})
	}
	resolve := func(s string) string {
		if r, ok := aliases[s]; ok {
			return r
		}
		return s
	}
	var primary string
	var fallbacks []any
	if v, ok := m.get("agents.defaults.model"); ok {
		switch t := v.(type) {
		case string:
			primary = resolve(t)
		case map[string]any:
			primary, _ = t["primary"].(string)
			primary = resolve(primary)
			if fl, ok := t["fallbacks"].([]any); ok {
				for _, f := range fl {
					if s, ok := f.(string); ok {
						fallbacks = append(fallbacks, resolve(s))
					}
				}
			}
		}
	}
	if primary != "" {
		m.ensureModel(primary, "agents.defaults.model")
		m.set("agents.defaults.model", primary, "agents.defaults.model")
	}
	if fallbacks != nil {
		for _, f := range fallbacks {
			m.ensureModel(f.(string), "agents.defaults.model.fallbacks")
		}
		m.set("agents.defaults.fallbacks", fallbacks, "agents.defaults.model")
	}
	m.skip("agents.defaults.workspace", "Talon keeps its own workspace; the workspace files (AGENTS.md, SOUL.md, …) are copied into it")
	m.copyScalar("agents.defaults.maxConcurrent", "agents.defaults.maxConcurrent")
	m.copyScalar("agents.defaults.bootstrapMaxChars", "agents.defaults.bootstrapMaxChars")
	m.copyScalar("agents.defaults.timeoutSeconds", "agents.defaults.turnTimeoutSec")
	if v, ok := m.get("agents.defaults.sandbox.mode"); ok {
		switch s, _ := v.(string); s {
		case "all", "non-main":
			m.set("agents.defaults.sandbox.mode", s, "agents.defaults.sandbox.mode")
			m.warn("agents.defaults.sandbox.mode", "Talon's sandbox is Landlock, seccomp and a private network namespace on the host, not a container: OpenClaw's docker settings do not carry over")
		case "off":
			if m.in.KeepUnsafe {
				m.set("agents.defaults.sandbox.mode", "off", "agents.defaults.sandbox.mode")
				m.warn("agents.defaults.sandbox.mode", `kept "off" (--keep-unsafe): commands run unconfined`)
			} else {
				m.warn("agents.defaults.sandbox.mode", `OpenClaw had "off"; Talon keeps its default "all" (commands run confined). Pass --keep-unsafe to keep "off"`)
			}
		default:
			m.unmapped("agents.defaults.sandbox.mode", fmt.Sprintf("%v is not a sandbox mode Talon knows; Talon's default all applies", v))
		}
	}
}

func (m *mapper) session() {
	if v, ok := m.get("session.dmScope"); ok {
		if s, ok := v.(string); ok {
			m.set("session.dmScope", s, "session.dmScope")
		}
	}
	if v, ok := m.get("session.identityLinks"); ok {
		if links, ok := v.(map[string]any); ok {
			out := map[string]any{}
			for _, k := range sortedKeys(links) {
				if l, ok := m.stringList("session.identityLinks." + k); ok {
					out[k] = l
				}
			}
			m.set("session.identityLinks", out, "session.identityLinks")
		}
	}
}

// toolNames keeps the entries of an OpenClaw tool list that name a Talon
// tool or group (or are a pattern); the rest are reported.
func (m *mapper) toolNames(from string) ([]any, bool) {
	l, ok := m.stringList(from)
	if !ok {
		return nil, false
	}
	known := map[string]bool{}
	for _, t := range tools.Catalog() {
		known[t.Name], known[t.Group] = true, true
	}
	var out []any
	var gone []string
	for _, e := range l {
		s := e.(string)
		if known[s] || strings.ContainsAny(s, "*?[") {
			out = append(out, s)
			continue
		}
		gone = append(gone, s)
	}
	if len(gone) > 0 {
		m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: from, Message: "entries Talon has no tool for were left out: " + strings.Join(gone, ", ")})
	}
	if out == nil {
		out = []any{}
	}
	return out, true
}

func (m *mapper) tools() {
	if v, ok := m.get("tools.profile"); ok {
		if s, ok := v.(string); ok {
			m.set("tools.profile", s, "tools.profile")
		}
	}
	allow, hasAllow := m.toolNames("tools.allow")
	if also, ok := m.toolNames("tools.alsoAllow"); ok {
		allow, hasAllow = append(allow, also...), true
	}
	if hasAllow {
		m.set("tools.allow", allow, "tools.allow")
	}
	if deny, ok := m.toolNames("tools.deny"); ok {
		m.set("tools.deny", deny, "tools.deny")
	}
	if v, ok := m.get("tools.fs.workspaceOnly"); ok {
		if b, ok := v.(bool); ok {
			switch {
			case b:
				m.set("tools.fs.workspaceOnly", true, "tools.fs.workspaceOnly")
			case m.in.KeepUnsafe:
				m.set("tools.fs.workspaceOnly", false, "tools.fs.workspaceOnly")
				m.warn("tools.fs.workspaceOnly", "kept false (--keep-unsafe): the file tools reach every file the user can")
			default:
				m.warn("tools.fs.workspaceOnly", "OpenClaw had false; Talon keeps its default true (file tools stay in the workspace). Pass --keep-unsafe to keep false")
			}
		}
	}
	m.copyScalar("tools.web.fetch.enabled", "tools.web.fetch.enabled")
	m.skip("tools.web.search", "Talon's web_search is configured with tools.web.search.provider and apiKey (brave or searxng); it stays off")
	if v, ok := m.get("tools.sessions.visibility"); ok {
		if s, ok := v.(string); ok {
			m.set("tools.sessions.visibility", s, "tools.sessions.visibility")
		}
	}
	m.skip("tools.elevated", "Talon has no elevated mode: a command off the allowlist needs the owner's approval")
	m.execPolicy()
}

func (m *mapper) commands() {
	l, ok := m.stringList("commands.ownerAllowFrom")
	if !ok {
		return
	}
	var out []any
	for _, e := range l {
		s := e.(string)
		if s == "*" {
			m.warn("commands.ownerAllowFrom", `"*" left out: Talon's owner list names exact ids`)
			continue
		}
		if !strings.Contains(s, ":") {
			// OpenClaw takes bare channel-native ids; with one channel
			// there is only one place the id can be from.
			chv, _ := lookupPath(m.out, "channels")
			chs, _ := chv.(map[string]any)
			if len(chs) != 1 {
				m.warn("commands.ownerAllowFrom", "%q left out: Talon needs \"<channel>:<id>\" here", s)
				continue
			}
			ch := sortedKeys(chs)[0]
			m.warn("commands.ownerAllowFrom", "%q became \"%s:%s\" (the only channel)", s, ch, s)
			s = ch + ":" + s
		}
		out = append(out, s)
	}
	if out != nil {
		m.set("commands.ownerAllowFrom", out, "commands.ownerAllowFrom")
	}
}

func (m *mapper) accessGroups() {
	v, ok := m.get("accessGroups")
	if !ok {
		return
	}
	groups, ok := v.(map[string]any)
	if !ok {
		m.unmapped("accessGroups", "expected an object")
		return
	}
	out := map[string]any{}
	for _, name := range sortedKeys(groups) {
		from := "accessGroups." + name
		g, _ := groups[name].(map[string]any)
		if typ, _ := g["type"].(string); typ != "message.senders" {
			m.unmapped(from, fmt.Sprintf("%q groups have no Talon equivalent; only message.senders carries over", typ))
			continue
		}
		if !idRe.MatchString(name) {
			m.unmapped(from, "a Talon access group name is lowercase letters, digits, - and _")
			continue
		}
		members, _ := g["members"].(map[string]any)
		ids := []any{}
		for _, ch := range sortedKeys(members) {
			l, _ := members[ch].([]any)
			for _, id := range l {
				if s, ok := id.(string); ok && s != "" {
					if s == "*" {
						m.warn(from, `"*" kept: the group admits anyone wherever it is used`)
						ids = append(ids, s)
						continue
					}
					if ch == "*" || strings.HasPrefix(s, ch+":") {
						ids = append(ids, s) // shared entries apply on every channel
						continue
					}
					ids = append(ids, ch+":"+s)
				}
			}
		}
		out[name] = ids
		m.used[from] = true
		m.to = append(m.to, Mapping{From: from, To: "accessGroups." + name})
	}
	if len(out) > 0 {
		setSegs(m.out, []string{"accessGroups"}, out)
	}
}

// defaultAgent returns the id of OpenClaw's default agent entry: the one
// marked default, else "main"; "" when there is none. Talon's one agent
// (main) is that agent.
func (m *mapper) defaultAgent() string {
	v, _ := m.peek("agents.entries")
	entries, _ := v.(map[string]any)
	for _, id := range sortedKeys(entries) {
		if e, ok := entries[id].(map[string]any); ok && e["default"] == true {
			return id
		}
	}
	if _, ok := entries["main"].(map[string]any); ok {
		return "main"
	}
	return ""
}

// entryOverlay applies the default agent's own settings, which override
// the defaults for that agent in OpenClaw: they are moved over the
// defaults before mapping (model, workspace, sandbox mode, tool profile,
// exec policy, file tools), except the tool allow and deny lists, which
// OpenClaw layers on top of the global ones and Talon expresses the same
// way as agents.list. The entry's other keys are reported.
func (m *mapper) entryOverlay() {
	id := m.defaultAgent()
	if id == "" {
		return
	}
	base := "agents.entries." + id
	moves := [][2]string{
		{"model", "agents.defaults.model"},
		{"workspace", "agents.defaults.workspace"},
		{"sandbox.mode", "agents.defaults.sandbox.mode"},
		{"bootstrapMaxChars", "agents.defaults.bootstrapMaxChars"},
		{"tools.profile", "tools.profile"},
		{"tools.exec.mode", "tools.exec.mode"},
		{"tools.exec.security", "tools.exec.security"},
		{"tools.exec.ask", "tools.exec.ask"},
		{"tools.exec.safeBins", "tools.exec.safeBins"},
		{"tools.fs.workspaceOnly", "tools.fs.workspaceOnly"},
	}
	for _, mv := range moves {
		v, ok := m.get(base + "." + mv[0])
		if !ok {
			continue
		}
		if old, had := m.peek(mv[1]); had && mv[1] != "agents.defaults.workspace" {
			_ = old
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: mv[1], Message: "the default agent (" + base + ") overrides it"})
		}
		setSegs(m.src, strings.Split(mv[1], "."), v)
		if mv[0] != "workspace" { // only says where the files are
			m.warn(mv[1], "taken from %s.%s: OpenClaw's default agent is Talon's agent", base, mv[0])
		}
	}
	tools := map[string]any{}
	if l, ok := m.toolNames(base + ".tools.allow"); ok {
		tools["allow"] = l
	}
	if l, ok := m.toolNames(base + ".tools.alsoAllow"); ok {
		if prev, had := tools["allow"].([]any); had {
			tools["allow"] = append(prev, l...)
		} else {
			m.rep.Unmapped = append(m.rep.Unmapped, Note{Key: base + ".tools.alsoAllow", Message: "adds to the global tool set, which Talon's per-agent lists cannot do; the global tools.* apply"})
		}
	}
	if l, ok := m.toolNames(base + ".tools.deny"); ok {
		tools["deny"] = l
	}
	if len(tools) > 0 {
		setSegs(m.out, []string{"agents", "list"}, []any{map[string]any{"id": "main", "tools": tools}})
		m.to = append(m.to, Mapping{From: base + ".tools", To: "agents.list.0.tools"})
	}
	m.used[base+".default"] = true
	m.defaultEntry = base
}
