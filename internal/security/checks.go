package security

import "strings"

// Check describes one check of `talon security audit`: the table
// docs/security-audit.md is generated from. Audit reports only ids listed
// here (a test runs every check and compares), and every check a config
// key's widens tag names must be listed here (another test).
type Check struct {
	// ID is the stable check id; "<channel>" and "<file>" stand for one
	// id segment (channels.<channel>.dm.open is channels.telegram.dm.open).
	ID string
	// Severity is the severity, with the conditions that raise or lower it.
	Severity string
	// Meaning says what the finding means for the owner.
	Meaning string
	// Fix says how to fix it by hand.
	Fix string
	// AutoFix is what `talon security audit --fix` changes; "" when it
	// changes nothing (no safe change exists).
	AutoFix string
	// Source is what the check looks at: config, files, kernel, summary,
	// or deep (only with --deep, against the running gateway).
	Source string
}

// Checks returns the check table, sorted by id.
func Checks() []Check {
	return []Check{
		{"agents.mention_pattern_matches_all", "warn", "A pattern in agents.defaults.mentionPatterns matches every message (it matches the empty text), so every message in every admitted group counts as a mention.", "Make the pattern match the agent's name only, e.g. `(?i)\\btalon\\b`.", "", "config"},
		{"agents.workspace_broad", "critical", "agents.defaults.workspace is `/`, the home directory, or a directory that contains Talon's state directory: the file tools and the sandbox's writable workspace then reach SSH keys, the secrets store, the config and the database.", "Point the workspace at a dedicated directory (the default is `$TALON_STATE_DIR/workspace`).", "", "config"},
		{"audit.disabled", "warn", "audit.enabled is false: decisions, approvals and tool runs leave no tamper-evident record.", "Set audit.enabled to true.", "", "config"},
		{"budgets.unset", "info; warn when strangers can reach the agent", "No USD budget (perSessionUsd, perDayUsd, perMonthUsd) is set: a runaway session, or anyone who can message the agent, can spend without bound.", "Set budgets.perDayUsd (and perMonthUsd).", "sets budgets.perDayUsd to 5 when strangers can reach the agent", "config"},
		{"channels.<channel>.dm.open", "critical", "dmPolicy is `open`: any stranger's direct message reaches the model.", "Use dmPolicy `pairing` or `allowlist`.", "", "config"},
		{"channels.<channel>.dm.scope_main_multiuser", "warn", "session.dmScope is `main` while several people can send direct messages: they share one session and can read each other's conversation.", "Set session.dmScope to `per-channel-peer`.", "", "config"},
		{"channels.<channel>.dm.wildcard", "critical", "`*` in allowFrom admits every sender to direct messages, whatever dmPolicy says.", "Remove `*`; list sender ids, or approve people through pairing.", "", "config"},
		{"channels.<channel>.group.no_mention", "warn; info for a single listed group", "requireMention is off: every message in an admitted group starts a turn (cost, and more untrusted input).", "Set requireMention to true.", "", "config"},
		{"channels.<channel>.group.open", "warn; critical when exec or file-writing tools are enabled", "The bot answers in any group: groupPolicy `open`, `*` in groups, or `*` in groupAllowFrom (directly or through an accessGroups entry named there as `@name`). Anyone who adds the bot to a group reaches the model.", "Use groupPolicy `allowlist` and list the groups in groups.", "sets groupPolicy `allowlist` when it is `open`", "config"},
		{"channels.<channel>.name_matching", "warn", "dangerouslyAllowNameMatching: allowFrom entries also match usernames and display names, which anyone can choose or copy.", "List sender ids and turn it off.", "", "config"},
		{"channels.<channel>.rate_limit_off", "info", "rateLimit.perSenderPerMinute or perChannelPerMinute is 0: allowed senders can start as many turns as they like.", "Set them (defaults 20 and 120).", "", "config"},
		{"channels.telegram.webhook_secret_reused", "critical", "A Telegram webhookSecret equals the gateway token: the secret travels to Telegram and back with every update and must not also unlock the gateway.", "Set a separate random webhookSecret.", "", "config"},
		{"config.invalid", "critical", "The config file has a problem Talon refuses (the gateway does not start); the rest of the file is still audited.", "Fix the key; `talon config validate` lists every problem.", "", "config"},
		{"deep.cross_site_accepted", "critical", "A WebSocket with a foreign Origin was accepted: any web page could drive the gateway.", "Check gateway.controlUi.allowedOrigins and any proxy in front.", "", "deep"},
		{"deep.cross_site_refused", "info", "A cross-site WebSocket was refused (403).", "", "", "deep"},
		{"deep.gateway_down", "info", "No gateway answered, so nothing was probed.", "Start it with `talon gateway run` and run --deep again.", "", "deep"},
		{"deep.no_auth_accepted", "warn; critical beyond loopback", "The gateway accepted a connection without credentials.", "Set gateway.auth.mode to `token`.", "", "deep"},
		{"deep.no_auth_refused", "info", "A connection without credentials was refused.", "", "", "deep"},
		{"deep.not_reachable", "info", "The gateway port does not answer on this address.", "", "", "deep"},
		{"deep.reachable_beyond_loopback", "critical", "bind is loopback, yet the port answers on another address of this host (another process, or a forwarder).", "Find what listens there.", "", "deep"},
		{"deep.vuln.<id>", "warn", "A module version built into this binary has a known vulnerability (matched by module version; govulncheck -mode binary narrows it to reachable code).", "`talon update`, or rebuild with the fixed version.", "", "deep"},
		{"deep.vulndb", "info", "The offline vulnerability database was read: its date, and how many known vulnerabilities affect this binary's modules.", "", "", "deep"},
		{"deep.vulndb_missing", "info", "No vulnerability database in the state dir, so known vulnerabilities were not checked.", "Unpack the release's vulndb.tar.gz into <state>/vulndb (or copy one built by `make vulndb`).", "", "deep"},
		{"deep.vulndb_skipped", "info", "This binary carries no build information, so its modules could not be checked.", "Use a release build.", "", "deep"},
		{"deep.vulndb_unreadable", "warn", "The vulnerability database in the state dir could not be read.", "Unpack the release's vulndb.tar.gz into <state>/vulndb again.", "", "deep"},
		{"deep.wrong_token_accepted", "critical", "The gateway accepted a wrong token.", "Report it: this is a bug.", "", "deep"},
		{"deep.wrong_token_refused", "info", "A wrong token was refused.", "", "", "deep"},
		{"egress.cleartext_credentials", "warn", "A provider, channel or search base URL that carries an API key or token is plain http to a host that is not loopback: the credential can be read on the way.", "Use https, or reach the service over loopback (an SSH tunnel or a local proxy).", "", "config"},
		{"egress.policy", "info", "Where outbound requests may go: web_fetch, web_search, providers and channels, and which private addresses each client may reach.", "List the sites the agent needs in tools.web.fetch.allowedHostnames.", "", "summary"},
		{"fs.<file>.perms", "warn; critical when other users can read or write it", "A state file or directory (state_dir, config, db, logs, log_file, secrets, secrets_key, audit_key, whatsapp, whatsapp_store) is readable or writable by other users of this machine.", "chmod 0600 (files) or 0700 (directories).", "chmod 0600 or 0700", "files"},
		{"fs.<file>.symlink", "warn", "A state file or directory is a symlink: whoever controls its target can swap Talon's state.", "Replace it with a regular file or directory you own.", "", "files"},
		{"fs.state_dir.synced", "warn", "The state directory is inside a file-sync folder (Dropbox, OneDrive, Google Drive, iCloud Drive, Nextcloud): the config, the secrets store and its key, the database and the logs are copied to that service and every synced device.", "Move it out (set TALON_STATE_DIR); only audit.exportFile belongs in a synced folder.", "", "files"},
		{"gateway.auth_none", "warn", "gateway.auth.mode is `none` on loopback: every local user and process can drive the agent.", "Set gateway.auth.mode to `token`.", "", "config"},
		{"gateway.bind_network", "info", "The gateway listens beyond loopback (bind lan, tailnet or custom): other machines can try to authenticate.", "Keep bind `loopback` unless other machines must connect; then use token auth with a long token.", "", "config"},
		{"gateway.bind_no_auth", "critical", "The gateway would listen beyond loopback without authentication (it refuses to start like this).", "Set gateway.auth.mode to `token`, or gateway.bind to `loopback`.", "", "config"},
		{"gateway.origins_missing", "info", "No extra browser origins for a non-loopback bind: browsers can reach the Control UI only through the gateway's own origin.", "List the origins you use in gateway.controlUi.allowedOrigins.", "", "config"},
		{"gateway.origins_wildcard", "critical", "gateway.controlUi.allowedOrigins contains `*` or `null`: any web page may open a WebSocket to the gateway.", "List exact origins.", "", "config"},
		{"gateway.password_missing", "critical", "gateway.auth.mode is `password` but no password is set (nor TALON_GATEWAY_PASSWORD).", "Set gateway.auth.password, or use mode `token`.", "", "config"},
		{"gateway.password_short", "warn beyond loopback (under 16 characters); critical under 8 characters", "The gateway password is short: on a network bind it can be guessed, rate limit or not.", "Use a passphrase of 16 or more characters, or gateway.auth.mode `token`.", "", "config"},
		{"gateway.rate_limit_weak", "warn", "The authentication lockout allows more than 100 failed attempts a minute, or locks out for under 60 s.", "Use the defaults (10 per 60 s, 300 s lockout).", "", "config"},
		{"gateway.token_missing", "critical", "Token auth is on but no token is set.", "Set gateway.auth.token, or TALON_GATEWAY_TOKEN.", "generates a 43-character token", "config"},
		{"gateway.token_short", "warn; critical beyond loopback", "The gateway token is under 32 characters (under 24 Talon refuses it): short tokens can be guessed.", "Use 32 or more random characters (`talon doctor --generate-token`).", "replaces it with a 43-character random token", "config"},
		{"gateway.trusted_proxies_broad", "critical", "gateway.trustedProxies covers a range wider than /16: any host in it can claim to be anyone, loopback included.", "List the exact address of your reverse proxy.", "", "config"},
		{"logging.debug", "info", "logging.level is `debug`: the log records more detail about messages and tool calls (still redacted).", "Use `info` outside debugging sessions.", "", "config"},
		{"logging.redaction_off", "warn", "logging.redactSensitive is `off`: tool arguments and output are logged as they are, secrets included.", "Set it to `tools`.", "sets it to `tools`", "config"},
		{"models.weak_with_web", "warn; critical with the sandbox off", "A model marked weakToolUse has web tools (a way in for injected text) without a full sandbox.", "Set agents.defaults.sandbox.mode `all`, deny group:web, or use a stronger model.", "", "config"},
		{"retention.transcripts_forever", "info", "retention.transcriptsDays is 0: every conversation is kept forever.", "Set a number of days (default 90).", "", "config"},
		{"sandbox.dangerous_bind", "critical", "A sandbox bind would expose something the sandbox must never see (/, /etc read-write, the home directory, ~/.ssh, the Docker socket, the state directory); Talon refuses it.", "Remove it from agents.defaults.sandbox.binds.", "", "config"},
		{"sandbox.layer_missing", "warn", "This kernel lacks a sandbox layer (Landlock, seccomp, user namespaces).", "Run Talon on a kernel with Landlock (5.13+, ABI 6 from 6.7) and unprivileged user namespaces.", "", "kernel"},
		{"sandbox.network", "warn", "agents.defaults.sandbox.network is on: confined commands reach the network directly, past netguard's checks, so a command can carry data out.", "Turn it off; fetch what commands need with web_fetch.", "turns it off", "config"},
		{"sandbox.non_main", "info", "sandbox.mode `non-main`: the owner's main session runs commands unsandboxed.", "Set it to `all`.", "", "config"},
		{"sandbox.off", "warn; critical with exec security `full`", "sandbox.mode `off`: commands run unconfined.", "Set it to `all`.", "", "config"},
		{"secrets.plaintext", "warn; info for gateway.auth.token (Talon writes it there on first run)", "A key of type secret (any token, password or API key, wherever it is) holds a literal value instead of a `${NAME}` or `${secret:NAME}` reference: it ends up in backups, screenshots and pasted configs.", "Store it with `talon secrets set NAME` and write `${secret:NAME}`, or use `${ENV_VAR}`.", "moves the value into the encrypted secrets store and writes `${secret:NAME}` in its place", "config"},
		{"skills.capability_excess", "warn", "An installed skill declares capabilities (tools, binaries, hosts, secrets, file writes) that the agent's policy does not allow; they are not granted, and the skill may not work as its author intended.", "Widen the policy only if you want the skill to do that, or remove the skill.", "", "files"},
		{"skills.lock_unreadable", "critical", "skills.lock in the state directory cannot be read or is damaged: no installed skill is loaded.", "Restore it from a backup, or remove it and reinstall the skills.", "", "files"},
		{"skills.modified", "critical", "An installed skill's files, manifest or signature no longer match skills.lock (a file was changed, added or removed): it is not loaded.", "Reinstall it (`talon skills install`) or remove it (`talon skills remove NAME`).", "", "files"},
		{"skills.registry_no_key", "warn", "skills.registry.url is set without skills.registry.publicKey: installing by name is refused until the registry's key is pinned.", "Set skills.registry.publicKey to the output of `talon hub key` on the registry.", "", "config"},
		{"skills.scan_critical", "critical", "The scanner found a critical pattern in an installed skill (download-and-execute, reverse shell, credential or agent-state theft, hidden text, executables).", "Read the skill; remove it unless every finding is a false positive.", "", "files"},
		{"skills.scan_warn", "warn", "The scanner found suspicious patterns in an installed skill (exfiltration endpoints, injection phrasing, encoded blobs, archives, install specs without a hash).", "Read the lines named and decide whether to keep the skill.", "", "files"},
		{"skills.unsigned", "info; warn when the owner trusted it", "An installed skill has no publisher signature (installed with --allow-unsigned). Untrusted, it is restricted: no exec, no network, no secrets.", "Prefer a signed bundle; trust an unsigned skill only after reading it.", "", "files"},
		{"skills.untrusted", "info", "A signed skill the owner has not trusted: its text reaches the model inside untrusted-content markers and taints the session.", "Review it and run `talon skills trust NAME@VERSION`.", "", "files"},
		{"surface.summary", "info", "What strangers can reach: the gateway's bind and each channel's DM and group policy.", "", "", "summary"},
		{"tools.exec.ask_fallback_allowlist", "info", "tools.exec.askFallback `allowlist`: Talon treats it like `deny` (only `full` runs a command nobody approved), but the name suggests otherwise.", "Set it to `deny` to say what happens.", "sets it to `deny`", "config"},
		{"tools.exec.ask_fallback_full", "warn; critical when strangers can reach the agent or the sandbox is off", "tools.exec.askFallback `full`: a command that needs approval runs anyway when no approver is reachable, so a hijacked model only has to wait until you are offline.", "Set it to `deny`.", "sets it to `deny`", "config"},
		{"tools.exec.ask_off", "warn; critical when strangers can reach the agent", "tools.exec.ask `off`: commands off the allowlist are refused without asking, or run if security is `full`.", "Use ask `on-miss`.", "", "config"},
		{"tools.exec.configurable_need_approval", "warn", "This kernel has no Landlock, so nothing limits what allowlisted programs that read configuration (git, make, npm, …) could start; they need approval each time.", "Run Talon on a kernel with Landlock (5.13+).", "", "kernel"},
		{"tools.exec.configurable_opt_in", "info", "tools.exec.dangerouslyAllowConfigurablePrograms is on: no effect while the kernel has Landlock, dangerous on one without it.", "Turn it off.", "", "config"},
		{"tools.exec.configurable_unguarded", "critical", "No Landlock and dangerouslyAllowConfigurablePrograms on: files the agent writes can make allowlisted programs start any program.", "Run Talon on a kernel with Landlock, or turn the setting off.", "", "kernel"},
		{"tools.exec.helper_interpreter", "warn; critical when strangers can reach the agent", "A shell, interpreter or command runner in tools.exec.helpers runs whatever the program's configuration says (a Makefile, package.json scripts), which the agent can write.", "Remove it; approve such commands one by one.", "removes it", "config"},
		{"tools.exec.interpreter_allowlisted", "warn; critical when strangers can reach the agent", "A shell, interpreter or command runner (sh, bash, python, node, perl, ruby, env, xargs, find, sudo, npx, …) or a wildcard that covers one is on tools.exec.allowlist: it runs arbitrary code without approval.", "Remove it; approve such commands one by one.", "removes it", "config"},
		{"tools.exec.safebin_interpreter", "warn; critical when strangers can reach the agent", "A shell, interpreter or command runner is in tools.exec.safeBins, the filters that run without approval even in a tainted session.", "Remove it; safe bins are read-only filters (jq, grep, cut, sort, …).", "removes it", "config"},
		{"tools.exec.security_full", "critical", "tools.exec.security `full`: exec runs any command; only approvals and the sandbox stand between a hijacked model and the host.", "Use `allowlist`.", "", "config"},
		{"tools.fs.workspace_only_off", "critical", "tools.fs.workspaceOnly is off: the file tools reach every file the user can.", "Turn it on.", "", "config"},
		{"tools.sessions.visibility_wide", "info; warn when strangers can reach the agent", "tools.sessions.visibility `agent` or `all`: the session tools of one conversation can read other conversations' transcripts.", "Use `tree` (the default) or `self`.", "sets it to `tree` when strangers can reach the agent", "config"},
		{"tools.web.fetch.local_hosts_listed", "info", "allowedHostnames lists hosts on your network: a page the agent reads can make it request them.", "Keep the list to what the agent needs.", "", "config"},
		{"tools.web.fetch.local_wildcard", "warn", "A wildcard in allowedHostnames covers local-network names: a page can make the agent request any host under it.", "List local hosts one by one.", "", "config"},
		{"tools.web.fetch.private_network", "warn", "tools.web.fetch.allowPrivateNetwork is on with no host list: a page can make the agent probe your network.", "Turn it off; list single hosts in allowedHostnames.", "", "config"},
		{"tools.web.fetch.private_network_with_list", "warn", "allowPrivateNetwork is on although allowedHostnames lists the hosts: it adds nothing now and opens the whole network the day the list is emptied.", "Turn allowPrivateNetwork off.", "", "config"},
	}
}

// KnownCheck reports whether id is a check of the table, so a finding
// reported anywhere (the CLI's --deep probes too) is documented.
func KnownCheck(id string) bool {
	_, ok := checkFor(id)
	return ok
}

// checkFor returns the table entry that covers a finding id, matching
// "<...>" segments against any one segment.
func checkFor(id string) (Check, bool) {
	for _, c := range Checks() {
		if idMatches(c.ID, id) {
			return c, true
		}
	}
	return Check{}, false
}

func idMatches(pattern, id string) bool {
	ps, is := strings.Split(pattern, "."), strings.Split(id, ".")
	if len(ps) != len(is) {
		return false
	}
	for i := range ps {
		if ps[i] != is[i] && !(strings.HasPrefix(ps[i], "<") && strings.HasSuffix(ps[i], ">")) {
			return false
		}
	}
	return true
}
