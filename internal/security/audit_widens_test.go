package security

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/sandbox"
)

// testEnv is the environment the audit tests expand ${NAME} with (each
// auditEnv has its own copy).
func testEnv() map[string]string {
	return map[string]string{
		"TALON_GATEWAY_TOKEN": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG",
		"TG_TOKEN":            "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
		"DISCORD_TOKEN":       "discord-token-value",
		"SLACK_BOT":           "xoxb-1-2-3",
		"SLACK_APP":           "xapp-1-2-3",
		"API_KEY":             "sk-test-key",
		"secret:TG_TOKEN":     "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghi",
	}
}

// auditEnv is a state directory and home with safe modes, for audits that
// must not find anything about files.
type auditEnv struct {
	home, state, cfgPath string
	env                  map[string]string
}

func (e auditEnv) lookup(name string) (string, bool) { v, ok := e.env[name]; return v, ok }

func newAuditEnv(t *testing.T) auditEnv {
	t.Helper()
	dir := t.TempDir()
	e := auditEnv{home: filepath.Join(dir, "home"), state: filepath.Join(dir, "home", ".talon"), env: testEnv()}
	e.cfgPath = filepath.Join(e.state, "talon.json")
	if err := os.MkdirAll(e.state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(e.home, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.cfgPath, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// auditTree audits a config file's tree the way the CLI does: validated
// when it can be, else the defaults with the problems (the audit also reads
// the raw tree).
func (e auditEnv) auditTree(t *testing.T, tree map[string]any) []Finding {
	t.Helper()
	in := AuditInput{Tree: tree, Lookup: e.lookup, ConfigPath: e.cfgPath, StateDir: e.state, Home: e.home,
		DangerousBind: func(path, mode string) string {
			s := sandbox.Spec{Workspace: "/"}
			if mode == "rw" {
				s.ReadWrite = []string{path}
			} else {
				s.ReadOnly = []string{path}
			}
			if err := s.Validate(e.home, e.state); err != nil {
				return err.Error()
			}
			return ""
		}}
	c, err := config.Validate(tree, e.lookup)
	var ve *config.ValidationError
	switch {
	case err == nil:
		in.Config = c
	case errors.As(err, &ve):
		in.Config, in.Invalid = config.Default(), ve.Problems
	default:
		t.Fatal(err)
	}
	out := Audit(in)
	for _, f := range out {
		if _, ok := checkFor(f.CheckID); !ok {
			t.Errorf("Audit reported %s, which is not in Checks() (checks.go)", f.CheckID)
		}
	}
	return out
}

func parseTree(t *testing.T, s string) map[string]any {
	t.Helper()
	tree, err := config.ParseTree([]byte(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return tree
}

// secureBase is a secure setup every widening trigger is applied to:
// loopback, token auth by reference, budgets set.
const secureBase = `{
  gateway: { auth: { token: "${TALON_GATEWAY_TOKEN}" } },
  budgets: { perSessionUsd: 1, perDayUsd: 5, perMonthUsd: 50 },
}`

// channelBase is a secure section for each channel: DMs only from one
// listed sender, no groups beyond listed ones, credentials by reference.
var channelBase = map[string]string{
	"telegram": `{ botToken: "${TG_TOKEN}", dmPolicy: "allowlist", allowFrom: ["1"] }`,
	"discord":  `{ token: "${DISCORD_TOKEN}", dmPolicy: "allowlist", allowFrom: ["1"] }`,
	"slack":    `{ botToken: "${SLACK_BOT}", appToken: "${SLACK_APP}", dmPolicy: "allowlist", allowFrom: ["1"] }`,
	"signal":   `{ account: "+15550000000", dmPolicy: "allowlist", allowFrom: ["1"] }`,
	"whatsapp": `{ dmPolicy: "allowlist", allowFrom: ["1"] }`,
}

var accountBase = map[string]string{
	"telegram": `{ botToken: "${TG_TOKEN}" }`,
	"discord":  `{ token: "${DISCORD_TOKEN}" }`,
	"slack":    `{ botToken: "${SLACK_BOT}", appToken: "${SLACK_APP}" }`,
	"signal":   `{ account: "+15550000001" }`,
}

// triggerContext is what some keys need around them before their value
// can matter (a channel's key needs the channel).
func triggerContext(t *testing.T, tree map[string]any, key string) {
	set := func(k, v string) {
		t.Helper()
		if err := config.SetPath(tree, k, config.ParseValue(v)); err != nil {
			t.Fatalf("context %s: %v", k, err)
		}
	}
	segs := strings.Split(key, ".")
	if segs[0] == "channels" && len(segs) > 2 {
		set("channels."+segs[1], channelBase[segs[1]])
		if len(segs) > 3 && segs[2] == "accounts" {
			set("channels."+segs[1]+".accounts."+segs[3], accountBase[segs[1]])
		}
		if segs[2] == "dmPolicy" {
			set("channels."+segs[1]+".allowFrom", `["*"]`) // "open" requires it
		}
		if segs[2] == "requireMention" {
			set("channels."+segs[1]+".groupAllowFrom", `["1"]`)
		}
	}
	switch {
	case strings.HasPrefix(key, "models.providers.x."):
		set("models.providers.x", `{ api: "openai-completions", apiKey: "${API_KEY}" }`)
	case key == "tools.web.search.baseUrl":
		set("tools.web.search", `{ provider: "brave", apiKey: "${API_KEY}" }`)
		set("tools.profile", `"full"`)
	case key == "gateway.auth.password":
		set("gateway.bind", `"lan"`)
		set("gateway.auth", `{ mode: "password" }`)
	case key == "session.dmScope":
		set("channels.telegram", channelBase["telegram"])
		set("channels.telegram.allowFrom", `["1", "2"]`)
	case key == "accessGroups":
		set("channels.telegram", channelBase["telegram"])
		set("channels.telegram.groupAllowFrom", `["@everyone"]`)
	case strings.HasPrefix(key, "budgets.perSessionUsd"), strings.HasPrefix(key, "budgets.perDayUsd"), strings.HasPrefix(key, "budgets.perMonthUsd"):
		set("budgets", `{ perSessionUsd: 0, perDayUsd: 0, perMonthUsd: 0 }`)
		set(key, `1`)
	}
}

// TestEveryWideningKeyIsReported: every config key whose widens tag names a
// check is reported by that check when set to its widening value in a
// secure setup, and not before. So a key that widens what strangers or the
// agent can do cannot exist without a check that reports it, and a tag
// cannot name a check that does not exist or does not fire.
func TestEveryWideningKeyIsReported(t *testing.T) {
	e := newAuditEnv(t)
	done := map[string]bool{}
	n := 0
	for _, w := range config.Widenings() {
		key := w.Key
		if w.From != "" {
			key = w.From
		}
		key = strings.ReplaceAll(key, "*", "x")
		for _, tr := range w.Triggers {
			if done[key+"="+tr.Value+"=>"+tr.Check] {
				continue
			}
			done[key+"="+tr.Value+"=>"+tr.Check] = true
			want := tr.Check
			if segs := strings.Split(key, "."); segs[0] == "channels" && len(segs) > 2 {
				want = strings.ReplaceAll(want, "<channel>", segs[1])
			}
			if _, ok := checkFor(want); !ok {
				t.Errorf("%s names check %s, which is not in Checks() (internal/security/checks.go)", w.Key, tr.Check)
				continue
			}
			tree := parseTree(t, secureBase)
			triggerContext(t, tree, key)
			if has(e.auditTree(t, tree), want) {
				t.Errorf("%s: %s is reported before %s is set to %s", w.Key, want, key, tr.Value)
				continue
			}
			if err := config.SetPath(tree, key, config.ParseValue(tr.Value)); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if !has(e.auditTree(t, tree), want) {
				t.Errorf("%s set to %s: the audit does not report %s", key, tr.Value, want)
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d triggers tried", n)
	}
}

// has reports whether findings include id ("<channel>" matches any).
func has(fs []Finding, id string) bool {
	return slices.ContainsFunc(fs, func(f Finding) bool { return idMatches(id, f.CheckID) })
}

// TestCheckTableIsComplete: the table has no duplicate ids, and every entry
// says what it means and (unless informational) how to fix it.
func TestCheckTableIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range Checks() {
		if seen[c.ID] {
			t.Errorf("%s listed twice", c.ID)
		}
		seen[c.ID] = true
		if c.Meaning == "" || c.Severity == "" || c.Source == "" {
			t.Errorf("%s: incomplete entry %+v", c.ID, c)
		}
		if c.Fix == "" && (strings.Contains(c.Severity, Warn) || strings.Contains(c.Severity, Critical)) {
			t.Errorf("%s can be %s but says no fix", c.ID, c.Severity)
		}
		sev := strings.Split(c.Severity, ";")[0]
		sev = strings.Fields(sev)[0]
		if sev != Info && sev != Warn && sev != Critical {
			t.Errorf("%s: severity %q does not start with info, warn or critical", c.ID, c.Severity)
		}
	}
	if !slices.IsSortedFunc(Checks(), func(a, b Check) int { return strings.Compare(a.ID, b.ID) }) {
		t.Error("Checks() is not sorted by id")
	}
}
