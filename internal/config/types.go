package config

import "github.com/talonclaw/talon/internal/secret"

// The tags on these types are the single source of truth for the file format.
// See the package doc for the tag vocabulary; meta.go parses it.
//
//	json       key name (exact)
//	doc        one-line description, shown in docs, schema and rendered files
//	default    default value; lists are comma-separated
//	min, max   inclusive numeric bounds
//	enum       allowed values, separated by |
//	format     extra string check: ip, ip-or-cidr, http-url, origin,
//	           model-ref, e164 (applies to each element of a list)
//	keys       check for the keys of a map: id
//	required   "true": the key must be present and, for strings, non-empty
//	requiredIf "sibling=value": required when a sibling key has that value
//	reload     "live" if a change applies without a restart (inherited by
//	           everything below); anything else needs a restart

// Config is the whole configuration file.
type Config struct {
	Schema       string              `json:"$schema,omitempty" doc:"Location of a JSON Schema for editor completion; Talon ignores it." reload:"live" widens:"-: editor hint, ignored by Talon"`
	Gateway      Gateway             `json:"gateway" doc:"The gateway process: where it listens and how clients authenticate."`
	Models       Models              `json:"models" doc:"Model providers and the models they serve."`
	Agents       Agents              `json:"agents" doc:"Agent settings."`
	Session      Session             `json:"session" doc:"How conversations are split into sessions."`
	Tools        Tools               `json:"tools" doc:"Which tools the agent may use and how exec is confined." reload:"live"`
	Channels     Channels            `json:"channels" doc:"Chat channels the gateway connects to; a channel is configured when its section is present."`
	Commands     Commands            `json:"commands" doc:"Who the owner is."`
	AccessGroups map[string][]string `json:"accessGroups" doc:"Named lists of sender ids, used as \"@name\" in allowFrom and groupAllowFrom; entries may name their channel as \"<channel>:<id>\"." keys:"id" reload:"live" widens:"{everyone: ['*']} => channels.<channel>.group.open"`
	Budgets      Budgets             `json:"budgets" doc:"Hard spending limits; a turn that would exceed one is refused before the model is called." reload:"live"`
	Logging      Logging             `json:"logging" doc:"Log output."`
	Audit        Audit               `json:"audit" doc:"The append-only, hash-chained audit log."`
	Retention    Retention           `json:"retention" doc:"How long stored data is kept."`
	Skills       Skills              `json:"skills" doc:"Skills: the registry talon skills install NAME uses (docs/skills.md)."`
}

// Skills configures where skills come from.
type Skills struct {
	Registry SkillsRegistry `json:"registry" doc:"The skills registry (a talon hub serve, or another that speaks its API)."`
}

// SkillsRegistry names one registry and pins its key.
type SkillsRegistry struct {
	URL       string `json:"url" doc:"Base URL of the registry, e.g. \"https://hub.example\"; empty disables installing by name." format:"http-url" widens:"-: where skills are downloaded from; every bundle must still carry its publisher's signature and the countersignature of publicKey, and appear in the registry's signed log"`
	PublicKey string `json:"publicKey" doc:"The registry's ed25519 public key as printed by talon hub key (\"ed25519:...\"); bundles it did not countersign are refused." widens:"-: the registry key bundles must be countersigned with; it narrows what installs"`
}

// Gateway configures the listening gateway process.
type Gateway struct {
	Port            int           `json:"port" doc:"TCP port the gateway listens on." default:"18789" min:"1" max:"65535" widens:"-: the port number; who may connect is gateway.bind and gateway.auth"`
	Bind            string        `json:"bind" doc:"Interfaces to listen on: loopback (127.0.0.1 and ::1 only), lan (all interfaces), tailnet (the Tailscale address), custom (customBindHost)." default:"loopback" enum:"loopback|lan|tailnet|custom" widens:"'lan' => gateway.bind_network; 'tailnet' => gateway.bind_network; 'custom' => gateway.bind_network"`
	CustomBindHost  string        `json:"customBindHost" doc:"IP address to listen on when bind is \"custom\"." format:"ip" requiredIf:"bind=custom" widens:"-: used only with bind \"custom\", which gateway.bind_network reports"`
	Auth            GatewayAuth   `json:"auth" doc:"How clients authenticate to the gateway."`
	ControlUI       ControlUI     `json:"controlUi" doc:"The browser Control UI served by the gateway."`
	TrustedProxies  []string      `json:"trustedProxies" doc:"Reverse proxies (IP addresses or CIDR ranges) whose X-Forwarded-For header is believed; empty trusts none." format:"ip-or-cidr" reload:"live" widens:"['0.0.0.0/0'] => gateway.trusted_proxies_broad"`
	MaxPayloadBytes int           `json:"maxPayloadBytes" doc:"Largest WebSocket frame accepted from a client, in bytes." default:"26214400" min:"65536" widens:"-: a size bound on authenticated clients' frames"`
	TickIntervalMs  int           `json:"tickIntervalMs" doc:"Interval of the keep-alive tick sent to clients, in milliseconds." default:"15000" min:"1000" widens:"-: keep-alive timing"`
	Reload          GatewayReload `json:"reload" doc:"Reloading this file while the gateway runs." widens:"-: when changes apply, not what they allow"`
	Limits          GatewayLimits `json:"limits" doc:"Timeouts and connection caps that keep idle or unauthenticated clients from exhausting the gateway's sockets and file descriptors." widens:"-: bounds on unauthenticated connections; raising them costs sockets and memory, never access"`
}

// GatewayLimits bounds what a client that has not authenticated can hold.
// The timeouts of plain HTTP apply to requests and keep-alive connections
// only: a WebSocket that has completed its connect handshake is never cut by
// them.
type GatewayLimits struct {
	IdleTimeoutSec         int `json:"idleTimeoutSec" doc:"How long an HTTP keep-alive connection may sit idle between requests before the gateway closes it, in seconds." default:"30" min:"1" max:"3600"`
	ReadTimeoutSec         int `json:"readTimeoutSec" doc:"Time a client has to send one whole HTTP request (headers and body, a WebSocket upgrade included), in seconds." default:"10" min:"1" max:"300"`
	WriteTimeoutSec        int `json:"writeTimeoutSec" doc:"Time the gateway allows for writing one HTTP response, in seconds." default:"30" min:"1" max:"600"`
	HandshakeTimeoutSec    int `json:"handshakeTimeoutSec" doc:"Time a WebSocket client has after the upgrade to send its connect frame, in seconds; then the gateway closes it (1008)." default:"10" min:"1" max:"120" reload:"live"`
	MaxPreAuthConns        int `json:"maxPreAuthConns" doc:"Most connections held that have not authenticated: plain HTTP (health checks, Control UI files) and WebSockets before their connect. The gateway also keeps it at or below a quarter of its open-file limit. When full, the oldest idle one is closed to make room, so a client that completes its handshake promptly always gets in." default:"256" min:"1" max:"65536" reload:"live"`
	MaxPreAuthConnsPerAddr int `json:"maxPreAuthConnsPerAddr" doc:"Most unauthenticated connections from one client address (IPv6 grouped by /64; behind gateway.trustedProxies the forwarded address counts). Loopback clients and trusted proxies are bounded only by maxPreAuthConns. When full, that address's oldest idle connection is closed to make room." default:"32" min:"1" max:"65536" reload:"live"`
}

// GatewayAuth configures client authentication.
type GatewayAuth struct {
	Mode      string        `json:"mode" doc:"Authentication mode: token (a shared bearer token), password, or none (allowed only with bind \"loopback\")." default:"token" enum:"token|password|none" widens:"'none' => gateway.auth_none"`
	Token     secret.Secret `json:"token" doc:"Shared token for mode \"token\"; at least 24 random characters. Usually \"${TALON_GATEWAY_TOKEN}\"; generated on first run when unset." reload:"live" widens:"'short-token' => gateway.token_short"`
	Password  secret.Secret `json:"password" doc:"Password for mode \"password\"; at least 8 characters." reload:"live" widens:"'pass-1234' => gateway.password_short"`
	RateLimit RateLimit     `json:"rateLimit" doc:"Lockout after repeated failed authentication attempts, per client address and per Origin." reload:"live"`
}

// RateLimit configures the failed-authentication lockout.
type RateLimit struct {
	MaxAttempts int `json:"maxAttempts" doc:"Failed attempts allowed within windowSec before a lockout." default:"10" min:"1" widens:"1000 => gateway.rate_limit_weak"`
	WindowSec   int `json:"windowSec" doc:"Window in which failed attempts are counted, in seconds." default:"60" min:"1" widens:"1 => gateway.rate_limit_weak"`
	LockoutSec  int `json:"lockoutSec" doc:"How long a locked-out client is refused, in seconds." default:"300" min:"1" widens:"1 => gateway.rate_limit_weak"`
}

// ControlUI configures the browser Control UI.
type ControlUI struct {
	Enabled        bool     `json:"enabled" doc:"Serve the Control UI." default:"true" widens:"-: the Control UI connects like any client: same Origin check and authentication"`
	AllowedOrigins []string `json:"allowedOrigins" doc:"Extra browser origins (scheme://host[:port], no path) allowed to open a WebSocket; the gateway's own origin is always allowed." format:"origin" reload:"live" widens:"['*'] => gateway.origins_wildcard"`
}

// GatewayReload configures hot reload of the configuration file.
type GatewayReload struct {
	Mode string `json:"mode" doc:"hot: watch this file and apply changes to live keys at once; off: read it only at startup." default:"hot" enum:"hot|off"`
}

// Models configures model providers.
type Models struct {
	Providers map[string]Provider `json:"providers" doc:"Model providers by id (lowercase letters, digits, - and _); a model is referred to as \"<provider id>/<model id>\"." keys:"id"`
}

// Provider is one model provider endpoint.
type Provider struct {
	API     string        `json:"api" doc:"Wire protocol of the provider: openai-completions (OpenAI and every compatible server: Ollama, vLLM, OpenRouter), anthropic-messages, google-genai." default:"openai-completions" enum:"openai-completions|anthropic-messages|google-genai" widens:"-: the provider's wire protocol"`
	BaseURL string        `json:"baseUrl" doc:"Base URL of the provider's API (http or https), e.g. \"http://127.0.0.1:11434/v1\"; empty uses the protocol's public endpoint." format:"http-url" widens:"'http://203.0.113.7/v1' => egress.cleartext_credentials"`
	APIKey  secret.Secret `json:"apiKey" doc:"API key sent to the provider; usually \"${SOME_ENV_VAR}\"."`
	Models  []ModelDef    `json:"models" doc:"Models this provider serves." widens:"-: model descriptions and prices; weakToolUse makes the audit stricter (models.weak_with_web), never looser"`
}

// ModelDef describes one model of a provider.
type ModelDef struct {
	ID            string    `json:"id" doc:"Model id as the provider's API expects it." required:"true"`
	Name          string    `json:"name" doc:"Display name; empty shows the id."`
	ContextWindow int       `json:"contextWindow" doc:"Context window, in tokens." default:"128000" min:"1"`
	MaxTokens     int       `json:"maxTokens" doc:"Most tokens requested per response." default:"8192" min:"1"`
	Cost          ModelCost `json:"cost" doc:"Price, for budgets and usage reports."`
	WeakToolUse   bool      `json:"weakToolUse" doc:"This model follows tool rules and resists injected text poorly (small local models); talon security audit then warns when it has web tools without a full sandbox." default:"false"`
}

// ModelCost is a model's price in USD per million tokens.
type ModelCost struct {
	Input  float64 `json:"input" doc:"USD per million input tokens." default:"0" min:"0"`
	Output float64 `json:"output" doc:"USD per million output tokens." default:"0" min:"0"`
}

// Agents configures agents.
type Agents struct {
	Defaults AgentDefaults   `json:"defaults" doc:"Settings for every agent."`
	List     []AgentOverride `json:"list" doc:"Per-agent settings, by agent id. They can only narrow what the defaults and tools.* allow." reload:"live" widens:"-: per-agent settings can only narrow what the defaults and tools.* allow"`
}

// AgentOverride narrows one agent's settings.
type AgentOverride struct {
	ID     string     `json:"id" doc:"Agent id (\"main\" is the default agent)." required:"true"`
	Tools  AgentTools `json:"tools" doc:"Tool restrictions for this agent."`
	Skills []string   `json:"skills" doc:"When set, only these skills (by name) are offered to this agent; unset offers every loaded skill, [] none."`
}

// AgentTools can only take tools away from an agent.
type AgentTools struct {
	Allow []string `json:"allow" doc:"When set, only these tools or groups (of those tools.* enables) are enabled for this agent."`
	Deny  []string `json:"deny" doc:"Tools or groups removed for this agent."`
}

// AgentDefaults are the settings every agent starts from.
type AgentDefaults struct {
	Model             string   `json:"model" doc:"Primary model as \"<provider id>/<model id>\"." format:"model-ref" widens:"-: which model answers; models.weak_with_web reports a model marked weak that has web tools"`
	Fallbacks         []string `json:"fallbacks" doc:"Models tried in order when the primary fails, each \"<provider id>/<model id>\"." format:"model-ref" widens:"-: as agents.defaults.model"`
	Workspace         string   `json:"workspace" doc:"The agent's working directory, created 0700; file tools stay inside it when tools.fs.workspaceOnly is on. ~ is the home directory; empty is $TALON_STATE_DIR/workspace." widens:"'/' => agents.workspace_broad"`
	MaxConcurrent     int      `json:"maxConcurrent" doc:"Most agent turns running at the same time." default:"4" min:"1" widens:"-: how many of the owner's turns run at once; budgets bound spending"`
	BootstrapMaxChars int      `json:"bootstrapMaxChars" doc:"Most characters of workspace bootstrap files (AGENTS.md and the like) put into the prompt; 0 includes none." default:"20000" min:"0" widens:"-: how much of the workspace's own files go into the prompt"`
	MaxIterations     int      `json:"maxIterations" doc:"Most model calls in one turn; each round of tool calls takes one." default:"16" min:"1" widens:"-: a bound on one turn's model calls; budgets bound spending"`
	TurnTimeoutSec    int      `json:"turnTimeoutSec" doc:"Longest one turn may run, model calls and tools included, in seconds." default:"600" min:"1" widens:"-: a bound on one turn's duration"`
	MentionPatterns   []string `json:"mentionPatterns" doc:"Regular expressions (Go RE2 syntax) that count as mentioning the agent in group chats, besides the platform's own @mention, e.g. \"(?i)\\\\btalon\\\\b\"." reload:"live" widens:"['.*'] => agents.mention_pattern_matches_all"`
	Sandbox           Sandbox  `json:"sandbox" doc:"Confinement of exec'd commands (Linux: Landlock, seccomp, no_new_privs, a private network namespace)."`
}

// Sandbox configures how exec'd commands are confined.
type Sandbox struct {
	Mode    string        `json:"mode" doc:"off: commands run unconfined; non-main: confined except in the owner's main session; all: always confined. Where the kernel lacks a layer, talon security audit says so." default:"all" enum:"off|non-main|all" reload:"live" widens:"'off' => sandbox.off; 'non-main' => sandbox.non_main"`
	Network bool          `json:"network" doc:"Let confined commands use the network; off gives them a private network namespace with nothing in it." default:"false" reload:"live" widens:"true => sandbox.network"`
	Binds   []SandboxBind `json:"binds" doc:"Extra paths confined commands may see besides the workspace and system directories. /, /etc read-write, the home directory, ~/.ssh, the Docker socket and the state directory are refused." reload:"live" widens:"[{path: '/etc', mode: 'rw'}] => sandbox.dangerous_bind"`
}

// SandboxBind is one extra path visible inside the sandbox.
type SandboxBind struct {
	Path string `json:"path" doc:"Absolute path." required:"true"`
	Mode string `json:"mode" doc:"ro: read-only; rw: read-write." default:"ro" enum:"ro|rw"`
}

// Session configures session routing.
type Session struct {
	DMScope       string              `json:"dmScope" doc:"Which direct messages share a session: main (all of them), per-peer (one per sender), per-channel-peer (one per sender per channel), per-account-channel-peer (also per bot account)." default:"per-channel-peer" enum:"main|per-peer|per-channel-peer|per-account-channel-peer" widens:"'main' => channels.<channel>.dm.scope_main_multiuser"`
	IdentityLinks map[string][]string `json:"identityLinks" doc:"One person's ids on several channels, merged into one peer for dmScope: name -> [\"telegram:123\", \"signal:+15550000000\"]." keys:"id" reload:"live" widens:"-: merges the sessions of ids the owner names; who may talk is still decided per sender id by dmPolicy and allowFrom"`
}

// Tools configures the agent's tools. Every change applies live.
type Tools struct {
	Profile  string       `json:"profile" doc:"Base tool set: minimal, coding (files and exec), messaging, full." default:"coding" enum:"minimal|coding|messaging|full" widens:"-: the base tool set. Exec, file and web tools have their own settings, each checked; message, cron and sessions_send need approval for non-owners and in tainted sessions whatever the profile (invariant 8); models.weak_with_web and egress.policy consider which tools are on"`
	Allow    []string     `json:"allow" doc:"Tools or tool groups added to the profile." widens:"-: as tools.profile"`
	Deny     []string     `json:"deny" doc:"Tools or tool groups removed; deny wins over allow." widens:"-: only removes tools"`
	Exec     Exec         `json:"exec" doc:"The exec tool (shell commands)."`
	FS       FS           `json:"fs" doc:"The file tools (read, write, edit, apply_patch)."`
	Web      Web          `json:"web" doc:"The web tools."`
	Sessions SessionTools `json:"sessions" doc:"The session tools (sessions_list, sessions_history, sessions_send)."`
}

// SessionTools configures what the session tools may see.
type SessionTools struct {
	Visibility string `json:"visibility" doc:"Which other sessions the session tools can see: self (only the calling session), tree (the calling session and sessions of the same conversation tree: for now the same as self), agent (every session of the same agent), all (every session)." default:"tree" enum:"self|tree|agent|all" reload:"live" widens:"'all' => tools.sessions.visibility_wide; 'agent' => tools.sessions.visibility_wide"`
}

// Exec configures the exec tool's policy.
type Exec struct {
	Security                             string              `json:"security" doc:"deny: no commands; allowlist: only binaries in allowlist and safeBins; full: any command (still subject to taint rules)." default:"allowlist" enum:"deny|allowlist|full" widens:"'full' => tools.exec.security_full"`
	Ask                                  string              `json:"ask" doc:"When to ask the owner for approval: off, on-miss (when a command is not allowed by security), always." default:"on-miss" enum:"off|on-miss|always" widens:"'off' => tools.exec.ask_off"`
	AskFallback                          string              `json:"askFallback" doc:"What an approval request becomes when no approver is reachable, or nobody answers within askTimeoutSec." default:"deny" enum:"deny|allowlist|full" widens:"'full' => tools.exec.ask_fallback_full; 'allowlist' => tools.exec.ask_fallback_allowlist"`
	AskTimeoutSec                        int                 `json:"askTimeoutSec" doc:"How long an approval request waits for an answer (from an operator client, the owner's chat or a terminal) before askFallback applies, in seconds. The turn's own limit, agents.defaults.turnTimeoutSec, still applies." default:"300" min:"1" widens:"-: how long a request waits; what happens then is askFallback"`
	Allowlist                            []string            `json:"allowlist" doc:"Globs of resolved absolute binary paths that may run, e.g. \"/usr/bin/git\"; allow-always approvals are added here." widens:"['/usr/bin/python3'] => tools.exec.interpreter_allowlisted; ['/usr/bin/*'] => tools.exec.interpreter_allowlisted"`
	SafeBins                             []string            `json:"safeBins" doc:"Read-only filters (by name) that may run without approval, even in a tainted session." default:"jq,grep,cut,sort,uniq,head,tail,tr,wc" widens:"['node'] => tools.exec.safebin_interpreter"`
	Helpers                              map[string][]string `json:"helpers" doc:"Programs an allowed binary may start itself, by the binary's resolved path: {\"/usr/bin/make\": [\"/usr/bin/sh\"]}. Only the decided plan's binaries, these helpers and their loaders can be executed (Landlock's execute right); built in, /usr/bin/git may start /usr/lib/git-core/*. A helper that is a shell or an interpreter lets the program run whatever its configuration says." widens:"{'/usr/bin/make': ['/usr/bin/sh']} => tools.exec.helper_interpreter"`
	DangerouslyAllowConfigurablePrograms bool                `json:"dangerouslyAllowConfigurablePrograms" doc:"Where the kernel has no Landlock (talon doctor says so), still run allowlisted programs that read configuration, hooks or rc files from the workspace (git, make, npm, pip, …) without approval. Dangerous: files the agent writes can then make them start any program." default:"false" widens:"true => tools.exec.configurable_opt_in"`
}

// FS configures the file tools.
type FS struct {
	WorkspaceOnly bool `json:"workspaceOnly" doc:"Keep file tools inside the agent workspace (no .., no symlink escape)." default:"true" widens:"false => tools.fs.workspace_only_off"`
}

// Web configures the web tools.
type Web struct {
	Fetch  WebFetch  `json:"fetch" doc:"The web_fetch tool."`
	Search WebSearch `json:"search" doc:"The web_search tool."`
}

// WebSearch configures the web_search tool.
type WebSearch struct {
	Provider string        `json:"provider" doc:"Search backend: off, brave (the Brave Search API, needs apiKey) or searxng (a SearXNG instance at baseUrl with the JSON format enabled)." default:"off" enum:"off|brave|searxng" reload:"live" widens:"-: which backend web_search queries; egress.policy names it and egress.cleartext_credentials checks its URL"`
	APIKey   secret.Secret `json:"apiKey" doc:"Brave Search API key; usually \"${BRAVE_API_KEY}\"." reload:"live"`
	BaseURL  string        `json:"baseUrl" doc:"Base URL of the search API: the SearXNG instance, or a Brave-compatible endpoint (default https://api.search.brave.com)." format:"http-url" reload:"live" widens:"'http://203.0.113.7' => egress.cleartext_credentials"`
}

// WebFetch configures the web_fetch tool.
type WebFetch struct {
	Enabled             bool     `json:"enabled" doc:"Offer web_fetch to the agent." default:"true" widens:"-: web_fetch reaches public hosts only and taints the session (invariant 8); egress.policy describes it, allowPrivateNetwork and allowedHostnames widen it and are checked"`
	AllowPrivateNetwork bool     `json:"allowPrivateNetwork" doc:"Allow fetching loopback, private and CGNAT addresses of any host (dangerous: exposes the local network). Cloud metadata endpoints and link-local IPv4 stay closed." default:"false" widens:"true => tools.web.fetch.private_network"`
	AllowedHostnames    []string `json:"allowedHostnames" doc:"If not empty, the only hosts web_fetch may reach, redirects included; every other host is refused. Each entry is a host name (\"docs.example.com\"), \"*.example.com\" for every name below example.com (not example.com itself), or an IP address (IPv6 in brackets), optionally with \":port\". An entry without a port allows ports 80 and 443; one with a port allows that port only (list \"wiki.lan\" and \"wiki.lan:8080\" for all three). A listed host may resolve to a private address; cloud metadata endpoints stay closed. web_search is not affected (it reaches its configured backend)." format:"fetch-host" widens:"['*.home.lan'] => tools.web.fetch.local_wildcard"`
}

// Channels configures chat channels. A nil channel is not configured.
type Channels struct {
	Telegram *Telegram `json:"telegram,omitempty" doc:"Telegram bots (the Bot API)."`
	Discord  *Discord  `json:"discord,omitempty" doc:"Discord bots (the gateway WebSocket and REST API)."`
	Slack    *Slack    `json:"slack,omitempty" doc:"Slack apps (Socket Mode or the HTTP Events API)."`
	Signal   *Signal   `json:"signal,omitempty" doc:"Signal, through a signal-cli HTTP daemon (JSON-RPC and server-sent events)."`
	WhatsApp *WhatsApp `json:"whatsapp,omitempty" doc:"WhatsApp as a linked device (only in binaries built with the whatsapp tag)."`
	// ResumeMaxAgeMinutes bounds what a restart answers (invariant 14).
	ResumeMaxAgeMinutes int `json:"resumeMaxAgeMinutes" doc:"After a crash or restart, messages that were received but not yet answered are answered if they are at most this many minutes old; an older one gets a short note asking to send it again, instead of a late answer." default:"60" min:"1" widens:"-: how late a reply to an already admitted message may come"`
}

// ChannelAccess is who may reach the agent through a channel. Every channel
// section has these keys; they apply to all of its accounts.
type ChannelAccess struct {
	DMPolicy                     string                  `json:"dmPolicy" doc:"Who may talk to the agent in direct messages: pairing (unknown senders get a code the owner approves), allowlist (only allowFrom and approved senders), open (anyone; needs \"*\" in allowFrom), disabled. With nothing in allowFrom only the owner (commands.ownerAllowFrom) gets through." default:"pairing" enum:"pairing|allowlist|open|disabled" reload:"live" widens:"'open' => channels.<channel>.dm.open"`
	AllowFrom                    []string                `json:"allowFrom" doc:"Sender ids allowed to talk to the agent in direct messages; \"@name\" includes accessGroups.name, \"*\" means anyone. Ids are the platform's numeric or opaque ids, never display names." reload:"live" widens:"['*'] => channels.<channel>.dm.wildcard"`
	GroupPolicy                  string                  `json:"groupPolicy" doc:"Group chats: allowlist (only groups listed in groups, or any group for the senders in groupAllowFrom), open (any group), disabled. Always mention-gated unless requireMention is off." default:"allowlist" enum:"allowlist|open|disabled" reload:"live" widens:"'open' => channels.<channel>.group.open"`
	GroupAllowFrom               []string                `json:"groupAllowFrom" doc:"When set, only these senders (ids, \"@name\", \"*\") can trigger the agent in groups; replying to the bot does not bypass it. Approving a DM pairing adds nothing here." reload:"live" widens:"['*'] => channels.<channel>.group.open"`
	Groups                       map[string]ChannelGroup `json:"groups" doc:"Allowed groups by chat id (\"*\" is any group), each with its own settings." reload:"live" widens:"{'*': {}} => channels.<channel>.group.open; {'-100123': {requireMention: false}} => channels.<channel>.group.no_mention"`
	RequireMention               bool                    `json:"requireMention" doc:"In groups without an entry in groups (open policy, or admitted by groupAllowFrom), answer only messages that mention the bot or match agents.defaults.mentionPatterns." default:"true" reload:"live" widens:"false => channels.<channel>.group.no_mention"`
	DangerouslyAllowNameMatching bool                    `json:"dangerouslyAllowNameMatching" doc:"Also match allowFrom entries against usernames and display names. Dangerous: names can be changed or copied by anyone." default:"false" reload:"live" widens:"true => channels.<channel>.name_matching"`
	RateLimit                    ChannelRateLimit        `json:"rateLimit" doc:"Inbound message limits, applied after the access check: allowed senders and refused ones (strangers) have separate limits, so strangers cannot use up the owner's. An allowed sender's first message over a limit gets one polite notice, the rest are dropped." reload:"live"`
}

// ChannelGroup configures one allowed group chat.
type ChannelGroup struct {
	RequireMention bool     `json:"requireMention" doc:"Answer only messages that mention the bot in this group (this replaces the channel's requireMention)." default:"true"`
	AllowFrom      []string `json:"allowFrom" doc:"When set, only these senders can trigger the agent in this group."`
}

// ChannelRateLimit limits inbound messages of one channel.
type ChannelRateLimit struct {
	PerSenderPerMinute           int `json:"perSenderPerMinute" doc:"Messages one allowed sender may send per minute (bursts up to this many); 0 is unlimited." default:"20" min:"0" widens:"0 => channels.<channel>.rate_limit_off"`
	PerChannelPerMinute          int `json:"perChannelPerMinute" doc:"Messages all allowed senders of one channel account may send per minute; the owner's count toward it but are never refused by it; 0 is unlimited." default:"120" min:"0" widens:"0 => channels.<channel>.rate_limit_off"`
	StrangersPerSenderPerMinute  int `json:"strangersPerSenderPerMinute" doc:"Direct messages one sender the access rules refuse (a stranger, a pairing request) may send per minute; more are dropped unanswered before any pairing code is issued. Counted apart from allowed senders." default:"2" min:"1" widens:"-: at least 1; strangers over it are dropped before the access check answers, and never reach the model"`
	StrangersPerChannelPerMinute int `json:"strangersPerChannelPerMinute" doc:"Direct messages all refused senders of one channel account may send per minute together; more are dropped unanswered. Counted apart from allowed senders, so a flood of strangers never delays the owner." default:"20" min:"1" widens:"-: as strangersPerSenderPerMinute"`
}

// Telegram configures the Telegram channel. The top-level credentials are
// the account "default"; accounts adds more bots.
type Telegram struct {
	Enabled bool `json:"enabled" doc:"Connect this channel." default:"true" widens:"-: a channel admits only whom dmPolicy, allowFrom, groupPolicy and groups admit, each checked"`
	TelegramAccount
	ChannelAccess
	Accounts map[string]TelegramAccount `json:"accounts" doc:"More bots by account id; each uses the channel's access settings." keys:"id"`
}

// TelegramAccount is one Telegram bot.
type TelegramAccount struct {
	BotToken      secret.Secret `json:"botToken" doc:"Bot token from @BotFather; usually \"${TELEGRAM_BOT_TOKEN}\" or \"${secret:TELEGRAM_BOT_TOKEN}\"."`
	APIBaseURL    string        `json:"apiBaseUrl" doc:"Bot API base URL (change it for a self-hosted Bot API server or a proxy)." default:"https://api.telegram.org" format:"http-url" widens:"'http://203.0.113.7' => egress.cleartext_credentials"`
	WebhookURL    string        `json:"webhookUrl" doc:"Public HTTPS URL Telegram posts updates to; empty uses long polling (the default)." format:"http-url" widens:"-: webhook mode requires webhookSecret (validation); channels.telegram.webhook_secret_reused checks it is not the gateway token"`
	WebhookSecret secret.Secret `json:"webhookSecret" doc:"Secret Telegram sends with every webhook request (1-256 of A-Z a-z 0-9 _ -); webhook mode refuses to start without it."`
	WebhookListen string        `json:"webhookListen" doc:"Address the webhook receiver listens on (put a TLS reverse proxy in front)." default:"127.0.0.1:8787" widens:"-: every request must carry webhookSecret, which validation requires"`
}

// Discord configures the Discord channel.
type Discord struct {
	Enabled bool `json:"enabled" doc:"Connect this channel." default:"true" widens:"-: a channel admits only whom dmPolicy, allowFrom, groupPolicy and groups admit, each checked"`
	DiscordAccount
	ChannelAccess
	Guilds   []string                  `json:"guilds" doc:"Guild (server) ids the bot answers in; empty is any guild whose channel passes groupPolicy." reload:"live" widens:"-: only narrows where the bot answers"`
	Accounts map[string]DiscordAccount `json:"accounts" doc:"More bots by account id; each uses the channel's access settings." keys:"id"`
}

// DiscordAccount is one Discord bot.
type DiscordAccount struct {
	Token      secret.Secret `json:"token" doc:"Bot token from the Discord developer portal; usually \"${DISCORD_BOT_TOKEN}\"."`
	APIBaseURL string        `json:"apiBaseUrl" doc:"REST API base URL; the gateway WebSocket URL is asked from it." default:"https://discord.com/api/v10" format:"http-url" widens:"'http://203.0.113.7' => egress.cleartext_credentials"`
}

// Slack configures the Slack channel.
type Slack struct {
	Enabled bool `json:"enabled" doc:"Connect this channel." default:"true" widens:"-: a channel admits only whom dmPolicy, allowFrom, groupPolicy and groups admit, each checked"`
	SlackAccount
	ChannelAccess
	Accounts map[string]SlackAccount `json:"accounts" doc:"More Slack apps by account id; each uses the channel's access settings." keys:"id"`
}

// SlackAccount is one Slack app.
type SlackAccount struct {
	Mode          string        `json:"mode" doc:"socket: Socket Mode over a WebSocket (needs appToken); http: the Events API posts to webhookListen (needs signingSecret)." default:"socket" enum:"socket|http" widens:"-: the transport; http mode requires signingSecret (validation)"`
	BotToken      secret.Secret `json:"botToken" doc:"Bot token (xoxb-…); usually \"${SLACK_BOT_TOKEN}\"."`
	AppToken      secret.Secret `json:"appToken" doc:"App-level token (xapp-…) for Socket Mode."`
	SigningSecret secret.Secret `json:"signingSecret" doc:"Signing secret that verifies Events API requests in http mode."`
	APIBaseURL    string        `json:"apiBaseUrl" doc:"Web API base URL." default:"https://slack.com/api/" format:"http-url" widens:"'http://203.0.113.7' => egress.cleartext_credentials"`
	WebhookListen string        `json:"webhookListen" doc:"Address the Events API receiver listens on in http mode (put a TLS reverse proxy in front)." default:"127.0.0.1:8788" widens:"-: every request must carry a valid Slack signature (signingSecret, required by validation)"`
}

// Signal configures the Signal channel.
type Signal struct {
	Enabled bool `json:"enabled" doc:"Connect this channel." default:"true" widens:"-: a channel admits only whom dmPolicy, allowFrom, groupPolicy and groups admit, each checked"`
	SignalAccount
	ChannelAccess
	Accounts map[string]SignalAccount `json:"accounts" doc:"More Signal numbers by account id; each uses the channel's access settings." keys:"id"`
}

// SignalAccount is one Signal number served by signal-cli.
type SignalAccount struct {
	HTTPURL string `json:"httpUrl" doc:"Base URL of the signal-cli HTTP daemon (signal-cli daemon --http)." default:"http://127.0.0.1:8080" format:"http-url" widens:"-: the owner's signal-cli daemon; egress.policy lists it"`
	Account string `json:"account" doc:"The Signal account (phone number in E.164 form, e.g. \"+15550000000\")." format:"e164" widens:"-: which number the bot is"`
}

// WhatsApp configures the WhatsApp channel.
type WhatsApp struct {
	Enabled bool `json:"enabled" doc:"Connect this channel." default:"true" widens:"-: a channel admits only whom dmPolicy, allowFrom, groupPolicy and groups admit, each checked"`
	ChannelAccess
}

// Commands configures who counts as the owner.
type Commands struct {
	OwnerAllowFrom []string `json:"ownerAllowFrom" doc:"The owner's sender ids as \"<channel>:<id>\" (e.g. \"telegram:123456789\"); the owner may always DM the agent and approve commands. The first approved pairing fills it when empty." reload:"live" widens:"-: names the owner's own ids; every entry is an exact id (\"*\" is no wildcard here), and only the owner adds one"`
}

// Budgets are hard spending limits. Every change applies live.
type Budgets struct {
	PerSessionUSD    float64 `json:"perSessionUsd" doc:"Most USD one session may spend; 0 is unlimited." default:"0" min:"0" widens:"0 => budgets.unset"`
	PerDayUSD        float64 `json:"perDayUsd" doc:"Most USD spent per day across all sessions; 0 is unlimited." default:"0" min:"0" widens:"0 => budgets.unset"`
	PerMonthUSD      float64 `json:"perMonthUsd" doc:"Most USD spent per calendar month across all sessions; 0 is unlimited." default:"0" min:"0" widens:"0 => budgets.unset"`
	PerTurnToolCalls int     `json:"perTurnToolCalls" doc:"Most tool calls in one agent turn." default:"25" min:"1" widens:"-: bounded by agents.defaults.maxIterations; the USD budgets bound spending (budgets.unset)"`
	PerSessionTokens int     `json:"perSessionTokens" doc:"Most tokens (input plus output) one session may use; 0 is unlimited." default:"0" min:"0" widens:"-: an optional extra limit; budgets.unset asks for the USD budgets"`
	PerDayTokens     int     `json:"perDayTokens" doc:"Most tokens (input plus output) used per day across all sessions; 0 is unlimited." default:"0" min:"0" widens:"-: as perSessionTokens"`
}

// Logging configures log output.
type Logging struct {
	Level           string `json:"level" doc:"Least severe level written." default:"info" enum:"debug|info|warn|error" reload:"live" widens:"'debug' => logging.debug"`
	Format          string `json:"format" doc:"Line format of the log file." default:"text" enum:"text|json" widens:"-: the line format"`
	File            string `json:"file" doc:"Log file path; empty is $TALON_STATE_DIR/logs/talon.log." widens:"-: fs.log_file checks the mode of the file it names"`
	MaxSizeMB       int    `json:"maxSizeMb" doc:"Size at which the log file is rotated, in MB." default:"10" min:"1" widens:"-: rotation size; logs are redacted (logging.redaction_off)"`
	MaxFiles        int    `json:"maxFiles" doc:"Rotated log files kept." default:"5" min:"1" widens:"-: how many rotated logs are kept; logs are redacted (logging.redaction_off)"`
	RedactSensitive string `json:"redactSensitive" doc:"off: log tool arguments and output as they are; tools: redact secrets and known credential formats in them." default:"tools" enum:"off|tools" reload:"live" widens:"'off' => logging.redaction_off"`
}

// Audit configures the audit log.
type Audit struct {
	Enabled       bool   `json:"enabled" doc:"Write every decision and side effect to the audit log." default:"true" widens:"false => audit.disabled"`
	RetentionDays int    `json:"retentionDays" doc:"Days audit records are kept; older ones are removed hourly behind a signed truncation record, so the rest still verifies. 0 keeps them forever." default:"365" min:"0" reload:"live" widens:"-: audit records are the evidence of what happened; keeping them longer narrows nothing and hides nothing"`
	ExportFile    string `json:"exportFile" doc:"Also append each hourly signed checkpoint to this file (JSON lines, 0600), ideally on another disk or a synced folder; talon audit verify --exported FILE then also detects deleted newest records." reload:"live" widens:"-: the file receives signed checkpoints (hashes), no record content"`
}

// Retention configures how long data is kept.
type Retention struct {
	TranscriptsDays int `json:"transcriptsDays" doc:"Days session transcripts are kept; 0 keeps them forever." default:"90" min:"0" widens:"0 => retention.transcripts_forever"`
}

// Default returns a Config with every default applied.
func Default() *Config {
	c := new(Config)
	applyDefaults(reflectValue(c))
	return c
}
