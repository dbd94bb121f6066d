package migrate

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/cron"
)

// fixtureLiterals are the credentials written as literals in
// testdata/openclaw; none may ever appear in a Talon config or a report.
var fixtureLiterals = []string{
	"sk-fixture-literal-litellm-key-0123456789",
	"123456789:AAFixtureTelegramBotTokenValue0123456",
	"fixture-gateway-token-0123456789abcdefghij",
	"sk-or-v1-fixture-openrouter-0123456789abcdef",
	"fixture-socket-token",
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "openclaw", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func fixtureInput(t *testing.T) Input {
	return Input{
		Config:        readFixture(t, "openclaw.json"),
		ExecApprovals: readFixture(t, "exec-approvals.json"),
		CronJobs:      readFixture(t, "cron/jobs.json"),
		Home:          "/home/alex",
		NewToken:      func() (string, error) { return "generated-token-0123456789abcdefghijklmnop", nil },
	}
}

// mapJSON5 runs Map on a config given as JSON5 text.
func mapJSON5(t *testing.T, src string, mod ...func(*Input)) *Result {
	t.Helper()
	in := Input{Config: []byte(src), Home: "/home/alex", NewToken: func() (string, error) { return "generated-token-0123456789abcdefghijklmnop", nil }}
	for _, f := range mod {
		f(&in)
	}
	res, err := Map(in)
	if err != nil {
		t.Fatalf("Map: %v", err)
	}
	return res
}

// validated checks the result with Talon's validation, the planned secrets
// standing in for the store, and returns the config.
func validated(t *testing.T, res *Result) *config.Config {
	t.Helper()
	sec := map[string]string{}
	for _, s := range res.Secrets {
		sec[s.Name] = s.Value.Reveal()
	}
	c, err := config.Validate(res.Tree, func(name string) (string, bool) {
		if n, ok := strings.CutPrefix(name, "secret:"); ok {
			v, ok := sec[n]
			return v, ok
		}
		return "x-env-value-0123456789-0123456789", true
	})
	if err != nil {
		t.Fatalf("the result does not validate: %v\n%s", err, config.Render(res.Tree))
	}
	if ps := config.CheckReferences(c); len(ps) > 0 {
		t.Fatalf("the result has dangling references: %v", ps)
	}
	return c
}

func hasNote(notes []Note, key, contains string) bool {
	return slices.ContainsFunc(notes, func(n Note) bool { return n.Key == key && strings.Contains(n.Message, contains) })
}

func TestMapFixture(t *testing.T) {
	res, err := Map(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	c := validated(t, res)
	if c.Gateway.Bind != "loopback" || c.Gateway.Auth.Mode != "token" || c.Gateway.Auth.RateLimit.LockoutSec != 600 || c.Gateway.Auth.RateLimit.MaxAttempts != 5 {
		t.Errorf("gateway: %+v", c.Gateway)
	}
	if c.Agents.Defaults.Model != "litellm/llama-3.1-8b" || !slices.Equal(c.Agents.Defaults.Fallbacks, []string{"openrouter/qwen/qwen3-32b"}) || c.Agents.Defaults.MaxConcurrent != 2 {
		t.Errorf("agent defaults: %+v", c.Agents.Defaults)
	}
	p := c.Models.Providers["litellm"]
	if p.API != "openai-completions" || p.BaseURL != "http://127.0.0.1:4000/v1" || p.APIKey.Reveal() != "sk-fixture-literal-litellm-key-0123456789" || len(p.Models) != 1 || p.Models[0].MaxTokens != 32000 {
		t.Errorf("provider litellm: %+v", p)
	}
	if got := res.Tree["models"].(map[string]any)["providers"].(map[string]any)["openrouter"].(map[string]any)["apiKey"]; got != "${secret:OPENROUTER_API_KEY}" {
		t.Errorf("a reference to env.vars must become a secret reference, got %v", got)
	}
	e := c.Tools.Exec
	if e.Security != "allowlist" || e.Ask != "on-miss" || e.AskFallback != "deny" {
		t.Errorf("exec policy: %+v", e)
	}
	if want := []string{"/usr/bin/git", "/usr/bin/ls", "/home/alex/bin/*/rg"}; !slices.Equal(e.Allowlist, want) {
		t.Errorf("allowlist %q, want %q", e.Allowlist, want)
	}
	tg := c.Channels.Telegram
	if tg == nil || tg.DMPolicy != "allowlist" || !slices.Equal(tg.AllowFrom, []string{"123456789", "987654321"}) || tg.GroupPolicy != "allowlist" {
		t.Fatalf("telegram: %+v", tg)
	}
	if _, ok := tg.Groups["-1009876543210"]; ok {
		t.Error("a group with its own tool restriction was carried over (it would get every tool)")
	}
	if g, ok := tg.Groups["-1001234567890"]; !ok || !g.RequireMention || !slices.Equal(g.AllowFrom, tg.AllowFrom) {
		t.Errorf("allowed group: %+v", g)
	}
	if len(tg.GroupAllowFrom) != 0 {
		t.Errorf("a channel-level groupAllowFrom would admit unlisted groups: %q", tg.GroupAllowFrom)
	}
	if !slices.Equal(c.Commands.OwnerAllowFrom, []string{"telegram:123456789"}) {
		t.Errorf("owner: %q", c.Commands.OwnerAllowFrom)
	}
	var names []string
	for _, s := range res.Report.Secrets {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"GATEWAY_TOKEN", "LITELLM_API_KEY", "OPENROUTER_API_KEY", "TELEGRAM_BOT_TOKEN"}; !slices.Equal(names, want) {
		t.Errorf("secrets %q, want %q", names, want)
	}
	if len(res.Cron) != 2 || res.Cron[0].Schedule != "0 8 * * 1-5" || res.Cron[1].Schedule != "0 * * * *" {
		t.Errorf("cron jobs: %+v", res.Cron)
	}
	for _, want := range []struct{ key, contains string }{
		{"browser", "no browser"},
		{"plugins", "plugins"},
		{"exec-approvals.json:agents.coder", "one agent"},
		{"exec-approvals.json:agents.main.allowlist.3", "particular arguments"},
		{"exec-approvals.json:agents.main.allowlist.4", "not an absolute path"},
		{"models.providers.litellm.models.0.reasoning", "no Talon equivalent"},
		{"channels.telegram.streaming", "no Talon equivalent"},
		{"tools.deny", "browser, canvas"},
		{"agents.defaults.thinkingDefault", "no Talon equivalent"},
	} {
		if !hasNote(res.Report.Unmapped, want.key, want.contains) {
			t.Errorf("unmapped %s (%q) not reported; got %+v", want.key, want.contains, res.Report.Unmapped)
		}
	}
}

// TestInvariant10_MigrateNeverWritesLiteralCredentials: every literal
// credential of the OpenClaw install (provider key, bot token, gateway
// token, env.vars) ends up only in the planned secrets; the config and the
// report hold names.
func TestInvariant10_MigrateNeverWritesLiteralCredentials(t *testing.T) {
	res, err := Map(fixtureInput(t))
	if err != nil {
		t.Fatal(err)
	}
	rendered := string(config.Render(res.Tree))
	rep, _ := json.Marshal(res.Report)
	planned, _ := json.Marshal(res.Secrets)
	for _, lit := range fixtureLiterals {
		if strings.Contains(rendered, lit) {
			t.Errorf("literal %q written into the Talon config", lit)
		}
		if strings.Contains(string(rep), lit) {
			t.Errorf("literal %q in the report", lit)
		}
		if strings.Contains(string(planned), lit) {
			t.Errorf("literal %q printable from the planned secrets", lit)
		}
	}
	for _, ref := range []string{"${secret:LITELLM_API_KEY}", "${secret:TELEGRAM_BOT_TOKEN}", "${secret:GATEWAY_TOKEN}"} {
		if !strings.Contains(rendered, ref) {
			t.Errorf("config lacks %s", ref)
		}
	}
	// Secrets in every credential position, not only the fixture's.
	res = mapJSON5(t, `{channels: {
		slack: {botToken: "xoxb-lit-1", appToken: "xapp-lit-2", signingSecret: "lit-signing-3", dmPolicy: "pairing"},
		discord: {token: "lit-discord-4"},
		telegram: {botToken: "lit-tg-5", webhookUrl: "https://bot.example/tg", webhookSecret: "lit-hook-6",
			accounts: {work: {botToken: "lit-tg-7"}}}},
		gateway: {auth: {mode: "password", password: "lit-password-8"}}}`)
	rendered = string(config.Render(res.Tree))
	for i := 1; i <= 8; i++ {
		if strings.Contains(rendered, "lit-") {
			t.Fatalf("a literal credential reached the config:\n%s", rendered)
		}
	}
	if len(res.Secrets) != 8 {
		t.Errorf("planned %d secrets, want 8", len(res.Secrets))
	}
	validated(t, res)
}

// TestInvariant10_SecretRefsStayReferences: OpenClaw's env SecretRefs and
// ${VAR} strings map to ${VAR}; refs Talon cannot resolve are reported,
// never guessed.
func TestInvariant10_SecretRefsStayReferences(t *testing.T) {
	res := mapJSON5(t, `{models: {providers: {
		a: {baseUrl: "http://127.0.0.1:1/v1", apiKey: {source: "env", provider: "default", id: "A_KEY"}},
		b: {baseUrl: "http://127.0.0.1:2/v1", apiKey: "${B_KEY}"},
		c: {baseUrl: "http://127.0.0.1:3/v1", apiKey: {source: "exec", provider: "vault", id: "c/key"}},
		d: {baseUrl: "http://127.0.0.1:4/v1", apiKey: {source: "store", provider: "default", id: "D_KEY"}}}}}`)
	prov := res.Tree["models"].(map[string]any)["providers"].(map[string]any)
	if prov["a"].(map[string]any)["apiKey"] != "${A_KEY}" || prov["b"].(map[string]any)["apiKey"] != "${B_KEY}" {
		t.Errorf("env references: %v %v", prov["a"], prov["b"])
	}
	for _, k := range []string{"c", "d"} {
		if _, ok := prov[k].(map[string]any)["apiKey"]; ok {
			t.Errorf("provider %s: an unresolvable SecretRef was written", k)
		}
		if !hasNote(res.Report.Unmapped, "models.providers."+k+".apiKey", "SecretRef") {
			t.Errorf("provider %s: unresolvable SecretRef not reported", k)
		}
	}
	if len(res.Secrets) != 1 || res.Secrets[0].Name != "GATEWAY_TOKEN" {
		t.Errorf("only the generated gateway token may be planned: %+v", res.Secrets)
	}
}

// TestInvariant5_MigrateNeverWidensExec: settings Talon's audit calls
// critical are narrowed unless KeepUnsafe, each with a warning; the
// stricter of openclaw.json and exec-approvals.json wins.
func TestInvariant5_MigrateNeverWidensExec(t *testing.T) {
	keep := func(in *Input) { in.KeepUnsafe = true }
	approvals := func(doc string) func(*Input) { return func(in *Input) { in.ExecApprovals = []byte(doc) } }
	for _, tc := range []struct {
		name, src               string
		mod                     []func(*Input)
		security, ask, fallback string
		sandbox                 string
		workspaceOnly           bool
		warnKey                 string
	}{
		{"security full", `{tools: {exec: {security: "full", ask: "off"}}}`, nil, "allowlist", "on-miss", "deny", "all", true, "tools.exec.security"},
		{"mode full", `{tools: {exec: {mode: "full"}}}`, nil, "allowlist", "on-miss", "deny", "all", true, "tools.exec.security"},
		{"full kept", `{tools: {exec: {security: "full", ask: "off"}}}`, []func(*Input){keep}, "full", "off", "deny", "all", true, "tools.exec.security"},
		{"approvals stricter", `{tools: {exec: {security: "full", ask: "off"}}}`, []func(*Input){approvals(`{"defaults": {"security": "allowlist", "ask": "always"}}`)}, "allowlist", "always", "deny", "all", true, ""},
		{"approvals full fallback", `{}`, []func(*Input){approvals(`{"defaults": {"security": "allowlist", "askFallback": "full"}}`)}, "allowlist", "on-miss", "deny", "all", true, "tools.exec.askFallback"},
		{"config stricter", `{tools: {exec: {mode: "deny"}}}`, []func(*Input){approvals(`{"agents": {"main": {"security": "full"}}}`)}, "deny", "on-miss", "deny", "all", true, ""},
		{"mode allowlist", `{tools: {exec: {mode: "allowlist"}}}`, nil, "allowlist", "off", "deny", "all", true, ""},
		{"sandbox off", `{agents: {defaults: {sandbox: {mode: "off"}}}}`, nil, "allowlist", "on-miss", "deny", "all", true, "agents.defaults.sandbox.mode"},
		{"sandbox off kept", `{agents: {defaults: {sandbox: {mode: "off"}}}}`, []func(*Input){keep}, "allowlist", "on-miss", "deny", "off", true, "agents.defaults.sandbox.mode"},
		{"fs outside workspace", `{tools: {fs: {workspaceOnly: false}}}`, nil, "allowlist", "on-miss", "deny", "all", true, "tools.fs.workspaceOnly"},
		{"fs kept", `{tools: {fs: {workspaceOnly: false}}}`, []func(*Input){keep}, "allowlist", "on-miss", "deny", "all", false, "tools.fs.workspaceOnly"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := mapJSON5(t, tc.src, tc.mod...)
			c := validated(t, res)
			e := c.Tools.Exec
			if e.Security != tc.security || e.Ask != tc.ask || e.AskFallback != tc.fallback {
				t.Errorf("exec %s/%s/%s, want %s/%s/%s", e.Security, e.Ask, e.AskFallback, tc.security, tc.ask, tc.fallback)
			}
			if c.Agents.Defaults.Sandbox.Mode != tc.sandbox || c.Tools.FS.WorkspaceOnly != tc.workspaceOnly {
				t.Errorf("sandbox %s workspaceOnly %v", c.Agents.Defaults.Sandbox.Mode, c.Tools.FS.WorkspaceOnly)
			}
			if tc.warnKey != "" && !slices.ContainsFunc(res.Report.Warnings, func(n Note) bool { return n.Key == tc.warnKey }) {
				t.Errorf("no warning for %s: %+v", tc.warnKey, res.Report.Warnings)
			}
		})
	}
}

// TestInvariant5_MigrateAllowlistNeverWidens: an allowlist entry is carried
// over only as narrow or narrower than it was.
func TestInvariant5_MigrateAllowlistNeverWidens(t *testing.T) {
	res := mapJSON5(t, `{}`, func(in *Input) {
		in.ExecApprovals = []byte(`{"agents": {
			"main": {"allowlist": [{"pattern": "/usr/bin/git"}, {"pattern": "/opt/**/bin/tool"}, {"pattern": "/usr/bin/curl", "argPattern": "sha256:argv:1"}, {"pattern": "rg"}, "/usr/bin/jq"]},
			"*": {"allowlist": [{"pattern": "/usr/bin/git"}]},
			"research": {"allowlist": [{"pattern": "/usr/bin/python3"}]}}}`)
	})
	c := validated(t, res)
	if want := []string{"/usr/bin/git", "/opt/*/bin/tool", "/usr/bin/jq"}; !slices.Equal(c.Tools.Exec.Allowlist, want) {
		t.Errorf("allowlist %q, want %q", c.Tools.Exec.Allowlist, want)
	}
}

// TestInvariant3_MigrateNeverWidensChannelAccess: accounts and groups with
// their own access rules are left out rather than given the channel's;
// open DMs keep their meaning only as Talon's validation allows.
func TestInvariant3_MigrateNeverWidensChannelAccess(t *testing.T) {
	res := mapJSON5(t, `{channels: {
		telegram: {botToken: "${TG}", dmPolicy: "open", allowFrom: ["*"],
			accounts: {strict: {botToken: "${TG2}", dmPolicy: "disabled"}, plain: {botToken: "${TG3}"}, off: {enabled: false, botToken: "${TG4}"}}},
		signal: {account: "+15550000000", dmPolicy: "open", allowFrom: ["+15551111111"]},
		slack: {botToken: "${S}", appToken: "${A}", dm: {enabled: false}, dmPolicy: "open", allowFrom: ["*"],
			channels: {C1: {requireMention: false, users: ["U1"]}, C2: {enabled: false}, C3: {toolsBySender: {}}}},
		discord: {token: "${D}", guilds: {G1: {channels: {"111": {allow: true}, "222": {allow: false}}}, G2: {users: ["9"]}}},
		matrix: {homeserver: "https://m.example"}}}`)
	c := validated(t, res)
	tg := c.Channels.Telegram
	if tg.DMPolicy != "open" || !hasWarning(res, "channels.telegram.dmPolicy") {
		t.Errorf("open DM with \"*\" is valid in Talon and keeps its meaning, with a warning: %s %+v", tg.DMPolicy, res.Report.Warnings)
	}
	if _, ok := tg.Accounts["strict"]; ok {
		t.Error("an account with its own dmPolicy was given the channel's (open) one")
	}
	if _, ok := tg.Accounts["off"]; ok {
		t.Error("a disabled account was carried over")
	}
	if _, ok := tg.Accounts["plain"]; !ok {
		t.Error("a plain account was dropped")
	}
	if c.Channels.Signal.DMPolicy != "pairing" || !hasNote(res.Report.Unmapped, "channels.signal.dmPolicy", "Talon refuses") {
		t.Errorf("open DM without \"*\" must fall back to pairing and be reported: %s", c.Channels.Signal.DMPolicy)
	}
	sl := c.Channels.Slack
	if sl.DMPolicy != "disabled" {
		t.Errorf("slack dm.enabled false must disable DMs, got %s", sl.DMPolicy)
	}
	if g, ok := sl.Groups["C1"]; !ok || g.RequireMention || !slices.Equal(g.AllowFrom, []string{"U1"}) {
		t.Errorf("slack C1: %+v", sl.Groups)
	}
	if _, ok := sl.Groups["C2"]; ok {
		t.Error("a disabled slack channel was admitted")
	}
	if _, ok := sl.Groups["C3"]; ok {
		t.Error("a slack channel with its own tool rules was admitted")
	}
	dc := c.Channels.Discord
	if !slices.Equal(dc.Guilds, []string{"G1"}) {
		t.Errorf("discord guilds %q (G2 restricts users per guild and must be left out)", dc.Guilds)
	}
	if _, ok := dc.Groups["111"]; !ok {
		t.Error("discord channel 111 was not admitted")
	}
	if _, ok := dc.Groups["222"]; ok {
		t.Error("discord channel 222 (allow false) was admitted")
	}
	if !hasNote(res.Report.Unmapped, "channels.matrix", "no matrix") {
		t.Error("matrix not reported")
	}
}

func hasWarning(res *Result, key string) bool {
	return slices.ContainsFunc(res.Report.Warnings, func(n Note) bool { return n.Key == key })
}

// TestMigrateReportsEveryUnmappedKeyWithoutValues: every key of an
// unknown section is reported, by path only.
func TestMigrateReportsEveryUnmappedKeyWithoutValues(t *testing.T) {
	res := mapJSON5(t, `{
		gateway: {port: 18790, tls: {certPath: "/secret/cert-value"}, nosuch: {deep: "value-never-shown"}},
		hooks: {token: "hook-token-never-shown"},
		talk: {voice: "x"},
		agents: {entries: {coder: {model: "a/b"}}},
		tools: {exec: {pathPrepend: ["/opt/bin"]}, web: {search: {enabled: true}}}}`)
	for _, key := range []string{"gateway.tls", "gateway.nosuch", "hooks", "talk", "agents.entries", "tools.exec.pathPrepend", "tools.web.search"} {
		if !slices.ContainsFunc(res.Report.Unmapped, func(n Note) bool { return n.Key == key && n.Message != "" }) {
			t.Errorf("%s not reported: %+v", key, res.Report.Unmapped)
		}
	}
	rep, _ := json.Marshal(res.Report)
	for _, v := range []string{"value-never-shown", "hook-token-never-shown", "/secret/cert-value"} {
		if strings.Contains(string(rep), v) {
			t.Errorf("the report shows the value %q", v)
		}
	}
	if !slices.Contains(res.Report.Mapped, Mapping{From: "gateway.port", To: "gateway.port"}) {
		t.Errorf("gateway.port not in mapped: %+v", res.Report.Mapped)
	}
}

// TestInvariant14_MigrateBadInput: input that cannot be read is one error;
// values Talon refuses are dropped to Talon's defaults and reported.
func TestInvariant14_MigrateBadInput(t *testing.T) {
	for _, src := range []string{`{gateway: {port: 1`, `[1, 2]`, `{a: 1, a: 2}`} {
		if _, err := Map(Input{Config: []byte(src)}); !errors.Is(err, ErrBadInput) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v, want one line of ErrBadInput", src, err)
		}
	}
	if _, err := Map(Input{Config: []byte(`{}`), CronJobs: []byte(`{"jobs": 5}`)}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad jobs file: %v", err)
	}
	res := mapJSON5(t, `{gateway: {port: 70000, bind: "custom"}, session: {dmScope: "everyone"},
		models: {providers: {x: {baseUrl: "ftp://nope", api: "openai-completions"}, "Bad Id": {}}}}`)
	c := validated(t, res)
	if c.Gateway.Port != 18789 || c.Gateway.Bind != "loopback" || c.Session.DMScope != "per-channel-peer" {
		t.Errorf("refused values must fall back to defaults: %d %s %s", c.Gateway.Port, c.Gateway.Bind, c.Session.DMScope)
	}
	for _, key := range []string{"gateway.port", "session.dmScope", "models.providers.x.baseUrl", "models.providers.Bad Id"} {
		if !slices.ContainsFunc(res.Report.Unmapped, func(n Note) bool { return n.Key == key }) {
			t.Errorf("%s not reported: %+v", key, res.Report.Unmapped)
		}
	}
}

func TestCronSchedules(t *testing.T) {
	for _, tc := range []struct {
		sched map[string]any
		want  string
	}{
		{map[string]any{"kind": "cron", "expr": "*/5 * * * *"}, "*/5 * * * *"},
		{map[string]any{"kind": "cron", "expr": "not cron"}, ""},
		{map[string]any{"kind": "every", "everyMs": 900000.0}, "*/15 * * * *"},
		{map[string]any{"kind": "every", "everyMs": 3600000.0}, "0 * * * *"},
		{map[string]any{"kind": "every", "everyMs": 21600000.0}, "0 */6 * * *"},
		{map[string]any{"kind": "every", "everyMs": 86400000.0}, "0 0 * * *"},
		{map[string]any{"kind": "every", "everyMs": 30000.0}, ""},
		{map[string]any{"kind": "every", "everyMs": 420000.0}, ""},
		{map[string]any{"kind": "at", "at": "2026-12-24T09:00:00Z"}, ""},
		{map[string]any{"kind": "stream"}, ""},
	} {
		got, why := cronSchedule(tc.sched)
		if got != tc.want || (got == "" && why == "") {
			t.Errorf("%v: %q (%s), want %q", tc.sched, got, why, tc.want)
		}
	}
}

// TestInvariant8_MigratedCronJobsRunUntrusted pins the creator the CLI
// gives imported jobs to an untrusted one: their text comes from another
// program's store, where a model may have written it.
func TestInvariant8_MigratedCronJobsRunUntrusted(t *testing.T) {
	if got := cron.JobTrust("migrate:openclaw"); got == cron.JobTrust(cron.ByCLI) {
		t.Fatalf("imported jobs would run as the owner (%s)", got)
	}
	res := mapJSON5(t, `{}`, func(in *Input) {
		in.CronJobs = []byte(`{"jobs": [
			{"id": "a", "schedule": {"kind": "cron", "expr": "0 9 * * *"}, "payload": {"kind": "command", "command": "rm -rf ~"}},
			{"id": "b", "schedule": {"kind": "cron", "expr": "0 9 * * *"}, "payload": {"kind": "script", "script": "x"}},
			{"id": "c", "agentId": "ops", "schedule": {"kind": "cron", "expr": "0 9 * * *"}, "payload": {"kind": "agentTurn", "message": "hi"}},
			{"id": "d", "enabled": false, "schedule": {"kind": "cron", "expr": "0 9 * * *"}, "payload": {"kind": "agentTurn", "message": "hi"}},
			{"id": "e", "schedule": {"kind": "cron", "expr": "0 9 * * *"}, "trigger": {"script": "x"}, "payload": {"kind": "agentTurn", "message": "hi"}},
			{"id": "f", "schedule": {"kind": "cron", "expr": "0 9 * * *"}, "payload": {"kind": "systemEvent", "text": "tick"}}]}`)
	})
	if len(res.Cron) != 1 || res.Cron[0].Source != "f" || res.Cron[0].Message != "tick" {
		t.Errorf("only the system event may be imported: %+v %+v", res.Cron, res.Report.CronJobs)
	}
}

func TestPlanFiles(t *testing.T) {
	known := []string{"AGENTS.md", "SOUL.md", "USER.md", "MEMORY.md"}
	entries := []WorkspaceEntry{
		{Name: "AGENTS.md", Regular: true, Size: 10},
		{Name: "SOUL.md", Regular: true, Size: 10},
		{Name: "USER.md", Regular: false}, // a symbolic link
		{Name: "MEMORY.md", Regular: true, Size: MaxFileBytes + 1},
		{Name: "HEARTBEAT.md", Regular: true, Size: 5},
		{Name: "memory", Dir: true},
		{Name: "notes.txt", Regular: true},
	}
	exists := func(n string) bool { return n == "SOUL.md" }
	got := map[string]string{}
	for _, n := range PlanFiles(entries, known, exists, false) {
		got[n.Name] = n.Action
	}
	want := map[string]string{"AGENTS.md": "copy", "SOUL.md": "keep-existing", "USER.md": "skip", "MEMORY.md": "skip", "HEARTBEAT.md": "skip"}
	if len(got) != len(want) {
		t.Errorf("plan %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s, want %s", k, got[k], v)
		}
	}
	for _, n := range PlanFiles(entries, known, exists, true) {
		if n.Name == "SOUL.md" && n.Action != "overwrite" {
			t.Errorf("--force: SOUL.md %s", n.Action)
		}
		if n.Name == "USER.md" && n.Action != "skip" {
			t.Errorf("--force must never follow a link: USER.md %s", n.Action)
		}
	}
}

func TestMigrateAccessGroups(t *testing.T) {
	res := mapJSON5(t, `{accessGroups: {
		ops: {type: "message.senders", members: {"*": ["42"], telegram: ["987654321", "telegram:5"], discord: ["discord:123"]}},
		room: {type: "discord.channelAudience", guildId: "1", channelId: "2"}},
		channels: {telegram: {botToken: "${TG}", allowFrom: ["accessGroup:ops"]}}}`)
	c := validated(t, res)
	want := []string{"42", "discord:123", "telegram:5", "telegram:987654321"}
	got := slices.Clone(c.AccessGroups["ops"])
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("ops = %q, want %q", got, want)
	}
	if !slices.Equal(c.Channels.Telegram.AllowFrom, []string{"@ops"}) {
		t.Errorf("allowFrom %q", c.Channels.Telegram.AllowFrom)
	}
	if _, ok := c.AccessGroups["room"]; ok || !hasNote(res.Report.Unmapped, "accessGroups.room", "discord.channelAudience") {
		t.Error("a discord audience group must be reported, not mapped")
	}
}

// TestInvariant1_MigrateLanWithoutAuth: an OpenClaw gateway on the LAN
// without auth becomes token auth with a fresh token in the secrets store.
func TestInvariant1_MigrateLanWithoutAuth(t *testing.T) {
	res := mapJSON5(t, `{gateway: {bind: "lan", auth: {mode: "none"}}}`)
	c := validated(t, res)
	if c.Gateway.Bind != "lan" || c.Gateway.Auth.Mode != "token" || c.Gateway.Auth.Token.Reveal() != "generated-token-0123456789abcdefghijklmnop" {
		t.Errorf("gateway %s/%s token %d chars", c.Gateway.Bind, c.Gateway.Auth.Mode, c.Gateway.Auth.Token.Len())
	}
	if !hasNote(res.Report.Unmapped, "gateway.auth.mode", "Talon refuses") || !hasWarning(res, "gateway.auth.token") {
		t.Errorf("report: %+v %+v", res.Report.Unmapped, res.Report.Warnings)
	}
	if strings.Contains(string(config.Render(res.Tree)), "generated-token") {
		t.Error("the generated token was written as a literal")
	}
}

// FuzzMap: whatever the files hold, Map does not panic, and a result it
// returns passes Talon's validation and holds no literal it was given as
// a credential.
func FuzzMap(f *testing.F) {
	// The fixture is exercised by TestMapFixture; as a fuzz seed its size
	// stalls the mutator.
	f.Add([]byte(`{channels: {discord: {token: "lit-x", guilds: {g: {channels: {c: 5, d: {allow: true}}}}}, slack: {channels: {a: 1}}}}`), []byte(`{"agents": {"main": {"allowlist": [5, "x", {"pattern": "/a/**"}]}}}`), []byte(`[{"schedule": 1}]`))
	f.Add([]byte(`{models: {providers: {a: {models: [1, {id: 2}], apiKey: {source: "env"}}}}, agents: {defaults: {model: {primary: 5, fallbacks: [1, "a/b"]}}}}`), []byte(nil), []byte(nil))
	f.Fuzz(func(t *testing.T, cfg, approvals, jobs []byte) {
		in := Input{Config: cfg, ExecApprovals: approvals, CronJobs: jobs, Home: "/home/u",
			NewToken: func() (string, error) { return "generated-token-0123456789abcdefghijklmnop", nil }}
		if len(approvals) == 0 {
			in.ExecApprovals = nil
		}
		if len(jobs) == 0 {
			in.CronJobs = nil
		}
		res, err := Map(in)
		if err != nil {
			return
		}
		validated(t, res)
	})
}

// TestInvariant10_MigrateEnvFilesBecomeSecrets: values OpenClaw loads from
// its own files (env.vars, the state dir's .env) and the config refers to
// go into the secrets store; process environment references stay; the
// default-account token fallbacks are spelled out.
func TestInvariant10_MigrateEnvFilesBecomeSecrets(t *testing.T) {
	dot := ParseDotEnv([]byte("# tokens\nexport DISCORD_BOT_TOKEN=\"dot-discord-1\"\nTELEGRAM_BOT_TOKEN='123:dot-tg-2'\nUNUSED=dot-unused-3 # note\nbad line\n"))
	if dot["UNUSED"] != "dot-unused-3" || dot["TELEGRAM_BOT_TOKEN"] != "123:dot-tg-2" || len(dot) != 3 {
		t.Fatalf("ParseDotEnv: %v", dot)
	}
	res := mapJSON5(t, `{env: {vars: {A_KEY: "env-vars-4", IDLE: "env-vars-5"}},
		models: {providers: {a: {baseUrl: "http://127.0.0.1:1/v1", apiKey: "${A_KEY}"}, b: {baseUrl: "http://127.0.0.1:2/v1", apiKey: "${FROM_PROCESS}"}}},
		channels: {telegram: {dmPolicy: "pairing"}, discord: {dmPolicy: "pairing"}}}`, func(in *Input) { in.DotEnv = dot })
	rendered := string(config.Render(res.Tree))
	for _, lit := range []string{"dot-discord-1", "dot-tg-2", "dot-unused-3", "env-vars-4", "env-vars-5"} {
		if strings.Contains(rendered, lit) {
			t.Errorf("literal %q in the config", lit)
		}
	}
	for _, ref := range []string{`"${secret:A_KEY}"`, `"${FROM_PROCESS}"`, `"${secret:TELEGRAM_BOT_TOKEN}"`, `"${secret:DISCORD_BOT_TOKEN}"`} {
		if !strings.Contains(rendered, ref) {
			t.Errorf("config lacks %s:\n%s", ref, rendered)
		}
	}
	var names []string
	for _, s := range res.Secrets {
		names = append(names, s.Name)
	}
	slices.Sort(names)
	if want := []string{"A_KEY", "DISCORD_BOT_TOKEN", "GATEWAY_TOKEN", "TELEGRAM_BOT_TOKEN"}; !slices.Equal(names, want) {
		t.Errorf("secrets %q, want %q (unreferenced values stay out of the store)", names, want)
	}
	if !hasNote(res.Report.Unmapped, "env.vars.IDLE", "no migrated key refers to it") {
		t.Errorf("unreferenced env.vars not reported: %+v", res.Report.Unmapped)
	}
	validated(t, res)
}

// TestInvariant8_MigrateKeepsTheDefaultAgentsRestrictions: OpenClaw's
// default agent is Talon's agent, so its own tool restrictions must come
// along (dropping them would widen what the agent may do); other agents
// are reported.
func TestInvariant8_MigrateKeepsTheDefaultAgentsRestrictions(t *testing.T) {
	res := mapJSON5(t, `{
		tools: {profile: "full", exec: {security: "full"}},
		agents: {defaults: {model: "a/m1"}, entries: {
			helper: {default: true, model: "a/m2", sandbox: {mode: "all"},
				tools: {profile: "messaging", deny: ["exec", "browser"], allow: ["group:messaging", "read"], exec: {security: "deny"}, fs: {workspaceOnly: true}}},
			coder: {tools: {profile: "full"}}}},
		models: {providers: {a: {baseUrl: "http://127.0.0.1:9/v1", models: [{id: "m1"}, {id: "m2"}]}}}}`)
	c := validated(t, res)
	if c.Tools.Profile != "messaging" || c.Tools.Exec.Security != "deny" || c.Agents.Defaults.Model != "a/m2" {
		t.Errorf("profile %s exec %s model %s", c.Tools.Profile, c.Tools.Exec.Security, c.Agents.Defaults.Model)
	}
	if len(c.Agents.List) != 1 || c.Agents.List[0].ID != "main" || !slices.Equal(c.Agents.List[0].Tools.Deny, []string{"exec"}) ||
		!slices.Equal(c.Agents.List[0].Tools.Allow, []string{"group:messaging", "read"}) {
		t.Errorf("agents.list %+v", c.Agents.List)
	}
	if !hasNote(res.Report.Unmapped, "agents.entries.coder", "one agent") {
		t.Errorf("another agent not reported: %+v", res.Report.Unmapped)
	}
}

func TestMigrateOwnerIDs(t *testing.T) {
	res := mapJSON5(t, `{commands: {ownerAllowFrom: ["*", 42, "telegram:7"]}, channels: {telegram: {botToken: "${T}"}}}`)
	if c := validated(t, res); !slices.Equal(c.Commands.OwnerAllowFrom, []string{"telegram:42", "telegram:7"}) {
		t.Errorf("owners %q", c.Commands.OwnerAllowFrom)
	}
	res = mapJSON5(t, `{commands: {ownerAllowFrom: ["42", "slack:U1"]}, channels: {telegram: {botToken: "${T}"}, slack: {botToken: "${S}", appToken: "${A}"}}}`)
	if c := validated(t, res); !slices.Equal(c.Commands.OwnerAllowFrom, []string{"slack:U1"}) {
		t.Errorf("a bare id with two channels must be left out: %q", c.Commands.OwnerAllowFrom)
	}
}

// TestMapOnboardedConfig: the file OpenClaw 2026.9.6's own onboarding
// writes (openclaw onboard --non-interactive with a custom provider, run
// offline; key and token replaced) migrates to a valid config with its
// literals in the secrets store.
func TestMapOnboardedConfig(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "openclaw-onboarded", "openclaw.json"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Map(Input{Config: b, Home: "/home/alex"})
	if err != nil {
		t.Fatal(err)
	}
	c := validated(t, res)
	if c.Agents.Defaults.Model != "custom-127-0-0-1-11434/qwen3" || c.Tools.Profile != "full" || c.Tools.Exec.Security != "allowlist" {
		t.Errorf("model %s profile %s exec %s", c.Agents.Defaults.Model, c.Tools.Profile, c.Tools.Exec.Security)
	}
	rendered := string(config.Render(res.Tree))
	for _, lit := range []string{"sk-onboarded-literal-key-0123456789", "onboarded-gateway-token-0123456789abcdef"} {
		if strings.Contains(rendered, lit) {
			t.Errorf("literal %q in the config", lit)
		}
	}
	if res.Workspace != "/home/alex/.openclaw/workspace" {
		t.Errorf("workspace %q", res.Workspace)
	}
}

// TestInvariant3_MigratePerChatToolLimitsNotWidened: a DM chat OpenClaw
// gave fewer tools is not admitted with the agent's full set.
func TestInvariant3_MigratePerChatToolLimitsNotWidened(t *testing.T) {
	res := mapJSON5(t, `{channels: {telegram: {botToken: "${T}", dmPolicy: "allowlist", allowFrom: ["111", "222"],
		direct: {"222": {tools: {deny: ["exec"]}}, "111": {systemPrompt: "hi"}}}}}`)
	c := validated(t, res)
	if !slices.Equal(c.Channels.Telegram.AllowFrom, []string{"111"}) {
		t.Errorf("allowFrom %q: 222 had fewer tools and must not be admitted with all of them", c.Channels.Telegram.AllowFrom)
	}
	if !hasNote(res.Report.Unmapped, "channels.telegram.direct.222", "left out of allowFrom") {
		t.Errorf("not reported: %+v", res.Report.Unmapped)
	}
}
