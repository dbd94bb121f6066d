package config

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files and docs/configuration.md")

const testToken = "k3Yq9vT2mW8xR4pL6nB1cZ7dF5hJ0sG" // 31 chars

// testEnv is the environment the tests run with: only these variables.
func testEnv() LookupEnv {
	vars := map[string]string{
		"TALON_GATEWAY_TOKEN": testToken,
		"OLLAMA_KEY":          "ollama-key-value",
		"TELEGRAM_BOT_TOKEN":  "123456:telegram-bot-token-value",
		"HOST":                "127.0.0.1",
		"EMPTY":               "",
	}
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustParse(t testing.TB, src string) *Config {
	t.Helper()
	c, err := Parse([]byte(src), testEnv())
	if err != nil {
		t.Fatalf("Parse(%s):\n%v", src, err)
	}
	return c
}

func problemsOf(t *testing.T, err error) []Problem {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	return ve.Problems
}

// TestErrorsGolden checks the exact messages for every kind of problem,
// one file per case in testdata/errors (-update rewrites the .golden files).
func TestErrorsGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/errors/*.json5")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json5")
		t.Run(name, func(t *testing.T) {
			_, err := Parse(mustRead(t, file), testEnv())
			got := "ok\n"
			if err != nil {
				got = err.Error() + "\n"
			}
			golden := strings.TrimSuffix(file, ".json5") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want := string(mustRead(t, golden))
			if got != want {
				t.Errorf("%s: got\n%s\nwant\n%s", file, got, want)
			}
			for _, secret := range []string{testToken, "ollama-key-value", "telegram-bot-token-value", "hunter2hunter2", "1234567890123456"} {
				if strings.Contains(got, secret) {
					t.Errorf("error output reveals a secret value %q", secret)
				}
			}
		})
	}
}

// TestAcceptanceAllProblemsAtOnce: a config with an unknown key and a bad
// enum fails naming both key paths.
func TestAcceptanceAllProblemsAtOnce(t *testing.T) {
	_, err := Parse([]byte(`{gateway: {bnd: "lan"}, channels: {telegram: {dmPolicy: "opne"}}}`), testEnv())
	if err == nil {
		t.Fatal("accepted an unknown key and a bad enum")
	}
	ps := problemsOf(t, err)
	var paths []string
	for _, p := range ps {
		paths = append(paths, p.Path)
	}
	want := []string{"channels.telegram.dmPolicy", "gateway.bnd"}
	if !reflect.DeepEqual(paths, want) {
		t.Fatalf("problem paths = %q, want %q", paths, want)
	}
	msg := err.Error()
	for _, s := range []string{
		`config: gateway.bnd: unknown key "bnd" (hint: did you mean "bind"?)`,
		`config: channels.telegram.dmPolicy: "opne" is not one of pairing|allowlist|open|disabled (hint: did you mean "open"?)`,
	} {
		if !strings.Contains(msg, s) {
			t.Errorf("error lacks %q:\n%s", s, msg)
		}
	}
}

func TestExampleParses(t *testing.T) {
	c, err := Parse(mustRead(t, "testdata/example.json5"), testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if !c.Gateway.Auth.Token.Equal(testToken) {
		t.Error("token not substituted from the environment")
	}
	p := c.Models.Providers["local"]
	if p.BaseURL != "http://127.0.0.1:11434/v1" || p.APIKey.Reveal() != "ollama-key-value" || len(p.Models) != 1 {
		t.Errorf("provider = %+v", p)
	}
	m := p.Models[0]
	if m.ID != "qwen3" || m.ContextWindow != 32768 || m.MaxTokens != 8192 {
		t.Errorf("model = %+v (maxTokens should default to 8192)", m)
	}
	if c.Channels.Telegram == nil || c.Channels.Telegram.BotToken.Reveal() != "123456:telegram-bot-token-value" || !c.Channels.Telegram.Enabled {
		t.Errorf("telegram = %+v", c.Channels.Telegram)
	}
	s := c.Channels.Signal
	if s == nil || s.Account != "+15550000000" || s.GroupPolicy != "allowlist" || !s.Enabled {
		t.Errorf("signal = %+v (groupPolicy and enabled should default)", s)
	}
	if c.Budgets.PerMonthUSD != 50 || c.Tools.Exec.Allowlist[1] != "/usr/bin/git" {
		t.Errorf("budgets/tools = %+v %+v", c.Budgets, c.Tools.Exec)
	}

	// Without the variables, each reference is reported at its key.
	_, err = Parse(mustRead(t, "testdata/example.json5"), nil)
	var paths []string
	for _, p := range problemsOf(t, err) {
		paths = append(paths, p.Path)
	}
	want := []string{"channels.telegram.botToken", "gateway.auth.token", "models.providers.local.apiKey"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
}

func TestDefaults(t *testing.T) {
	d := Default()
	if d.Gateway.Port != 18789 || d.Gateway.Bind != "loopback" || d.Gateway.Auth.Mode != "token" ||
		d.Gateway.MaxPayloadBytes != 26214400 || d.Gateway.TickIntervalMs != 15000 || d.Gateway.Reload.Mode != "hot" ||
		d.Gateway.Auth.RateLimit != (RateLimit{10, 60, 300}) || !d.Gateway.ControlUI.Enabled ||
		d.Gateway.Limits != (GatewayLimits{IdleTimeoutSec: 30, ReadTimeoutSec: 10, WriteTimeoutSec: 30, HandshakeTimeoutSec: 10, MaxPreAuthConns: 256, MaxPreAuthConnsPerAddr: 32}) {
		t.Errorf("gateway defaults = %+v", d.Gateway)
	}
	if !d.Tools.FS.WorkspaceOnly || d.Tools.Profile != "coding" || d.Tools.Exec.AskFallback != "deny" ||
		!slices.Equal(d.Tools.Exec.SafeBins, []string{"jq", "grep", "cut", "sort", "uniq", "head", "tail", "tr", "wc"}) ||
		!d.Tools.Web.Fetch.Enabled || d.Tools.Web.Fetch.AllowPrivateNetwork {
		t.Errorf("tools defaults = %+v", d.Tools)
	}
	if d.Session.DMScope != "per-channel-peer" || d.Agents.Defaults.Workspace != "" || d.Agents.Defaults.MaxIterations != 16 ||
		d.Agents.Defaults.MaxConcurrent != 4 || d.Agents.Defaults.BootstrapMaxChars != 20000 ||
		d.Budgets.PerTurnToolCalls != 25 || d.Logging != (Logging{Level: "info", Format: "text", MaxSizeMB: 10, MaxFiles: 5, RedactSensitive: "tools"}) ||
		!d.Audit.Enabled || d.Retention.TranscriptsDays != 90 || d.Channels.Telegram != nil || d.Channels.Signal != nil {
		t.Errorf("defaults = %+v", d)
	}

	// An empty file is the defaults.
	if c := mustParse(t, "{}"); !reflect.DeepEqual(c, d) {
		t.Errorf("Parse({}) = %+v, want Default()", c)
	}
	// A present but empty section keeps its defaults.
	c := mustParse(t, `{tools: {fs: {}, exec: {}}, gateway: {auth: {}}}`)
	if !c.Tools.FS.WorkspaceOnly || c.Tools.Exec.Security != "allowlist" || c.Gateway.Auth.RateLimit.LockoutSec != 300 {
		t.Errorf("empty sections lost defaults: %+v %+v", c.Tools, c.Gateway.Auth)
	}
	// Defaults inside optional sections, map entries and list elements.
	c = mustParse(t, `{channels: {telegram: {}, signal: {account: "+15550000000"}},
		models: {providers: {p: {models: [{id: "m"}, {id: "n", cost: {input: 1}}]}}}}`)
	tg := c.Channels.Telegram
	if tg == nil || !tg.Enabled || tg.APIBaseURL != "https://api.telegram.org" || tg.DMPolicy != "pairing" || tg.GroupPolicy != "allowlist" {
		t.Errorf("telegram defaults = %+v", tg)
	}
	if s := c.Channels.Signal; s.HTTPURL != "http://127.0.0.1:8080" || s.DMPolicy != "pairing" {
		t.Errorf("signal defaults = %+v", s)
	}
	p := c.Models.Providers["p"]
	if p.API != "openai-completions" || p.Models[0].ContextWindow != 128000 || p.Models[1].MaxTokens != 8192 || p.Models[1].Cost.Input != 1 {
		t.Errorf("provider defaults = %+v", p)
	}
	// An explicit empty list replaces a default list.
	if c := mustParse(t, `{tools: {exec: {safeBins: []}}}`); len(c.Tools.Exec.SafeBins) != 0 {
		t.Errorf("safeBins = %q, want empty", c.Tools.Exec.SafeBins)
	}
	// Default() returns independent values.
	d.Tools.Exec.SafeBins[0] = "rm"
	if Default().Tools.Exec.SafeBins[0] != "jq" {
		t.Error("Default shares state between calls")
	}
}

func TestEnvSubstitution(t *testing.T) {
	tests := []struct {
		in, want string
		missing  []string
	}{
		{"plain", "plain", nil},
		{"${HOST}", "127.0.0.1", nil},
		{"http://${HOST}:1/${HOST}", "http://127.0.0.1:1/127.0.0.1", nil},
		{"$${HOST}", "${HOST}", nil},
		{"$$${HOST}", "$${HOST}", nil},
		{"${lower}", "${lower}", nil},
		{"${Mixed}", "${Mixed}", nil},
		{"${1X}", "${1X}", nil},
		{"${}", "${}", nil},
		{"${HOST", "${HOST", nil},
		{"$HOST", "$HOST", nil},
		{"${EMPTY}x", "x", nil},
		{"${NOPE}-${HOST}-${NOPE2}", "${NOPE}-127.0.0.1-${NOPE2}", []string{"NOPE", "NOPE2"}},
		{"${_X9}", "${_X9}", []string{"_X9"}},
	}
	for _, tt := range tests {
		got, missing := expandEnv(tt.in, testEnv())
		if got != tt.want || !slices.Equal(missing, tt.missing) {
			t.Errorf("expandEnv(%q) = %q, %q; want %q, %q", tt.in, got, missing, tt.want, tt.missing)
		}
	}
	// A substituted value is not substituted again.
	env := func(k string) (string, bool) { return "${HOST}", k == "X" }
	if got, _ := expandEnv("${X}", env); got != "${HOST}" {
		t.Errorf("double substitution: %q", got)
	}
}

// TestSecretsNeverPrinted covers the package guarantee: no error and no
// rendering of a Config shows a secret value.
func TestSecretsNeverPrinted(t *testing.T) {
	const val = "s3cr3t-value-that-must-not-leak-0123456789"
	src := `{gateway: {auth: {token: "` + val + `", password: "` + val + `"}},
		models: {providers: {p: {apiKey: "` + val + `"}}},
		channels: {telegram: {botToken: "` + val + `"}}}`
	c := mustParse(t, src)
	if out := c.Redacted(); bytes.Contains(out, []byte(val)) || !bytes.Contains(out, []byte(`"token": "***"`)) {
		t.Errorf("Redacted leaks or lacks ***:\n%s", out)
	}
	// Wrong types for secrets never echo the value.
	_, err := Parse([]byte(`{gateway: {auth: {token: 987654321987654321, password: true}}}`), nil)
	if err == nil || strings.Contains(err.Error(), "987654321") || strings.Contains(err.Error(), "true") {
		t.Errorf("error echoes a secret: %v", err)
	}
	// A variable's value is never echoed, even from a field that is not a
	// secret: the message shows the reference as written.
	_, err = Parse([]byte(`{gateway: {auth: {mode: "${TALON_GATEWAY_TOKEN}"}, customBindHost: "x${TALON_GATEWAY_TOKEN}"},
		gateway2: "${TALON_GATEWAY_TOKEN}"}`), testEnv())
	if err == nil || strings.Contains(err.Error(), testToken) ||
		!strings.Contains(err.Error(), `gateway.auth.mode: "${TALON_GATEWAY_TOKEN}" (expanded) is not one of token|password|none`) {
		t.Errorf("error = %v", err)
	}
	// A short secret is described by its length only.
	_, err = Parse([]byte(`{gateway: {auth: {token: "shortsecretvalue"}}}`), nil)
	if err == nil || strings.Contains(err.Error(), "shortsecretvalue") {
		t.Errorf("error echoes a secret: %v", err)
	}
}

func TestRules(t *testing.T) {
	ok := []string{
		`{gateway: {bind: "loopback", auth: {mode: "none"}}}`,
		`{gateway: {bind: "lan", auth: {mode: "token"}}}`, // token comes from the environment or first run
		`{gateway: {bind: "lan", auth: {token: "` + testToken + `"}}}`,
		`{gateway: {auth: {mode: "password", password: "12345678"}}}`,
		`{gateway: {bind: "custom", customBindHost: "192.168.1.10"}}`,
		`{gateway: {customBindHost: "10.0.0.1"}}`, // set but unused: allowed
		`{channels: {telegram: {dmPolicy: "open", allowFrom: ["*"]}}}`,
		`{channels: {signal: {dmPolicy: "allowlist"}}}`,
		`{gateway: {limits: {maxPreAuthConns: 8, maxPreAuthConnsPerAddr: 8}}}`,
	}
	for _, src := range ok {
		if _, err := Parse([]byte(src), nil); err != nil {
			t.Errorf("Parse(%s): %v", src, err)
		}
	}
	bad := map[string]string{
		`{gateway: {bind: "tailnet", auth: {mode: "none"}}}`:                   "gateway.auth.mode",
		`{gateway: {auth: {token: "23-chars-xxxxxxxxxxxxxx"}}}`:                "gateway.auth.token",
		`{gateway: {auth: {password: "1234567"}}}`:                             "gateway.auth.password",
		`{gateway: {bind: "custom"}}`:                                          "gateway.customBindHost",
		`{gateway: {bind: "custom", customBindHost: ""}}`:                      "gateway.customBindHost",
		`{channels: {signal: {dmPolicy: "open"}}}`:                             "channels.signal.dmPolicy",
		`{models: {providers: {p: {models: [{id: "a"}, {id: "a"}]}}}}`:         "models.providers.p.models.1.id",
		`{models: {providers: {p: {models: [{name: "x"}]}}}}`:                  "models.providers.p.models.0.id",
		`{gateway: {limits: {maxPreAuthConns: 8, maxPreAuthConnsPerAddr: 9}}}`: "gateway.limits.maxPreAuthConnsPerAddr",
		`{gateway: {limits: {maxPreAuthConns: 0}}}`:                            "gateway.limits.maxPreAuthConns",
		`{gateway: {limits: {idleTimeoutSec: 0}}}`:                             "gateway.limits.idleTimeoutSec",
	}
	for src, path := range bad {
		_, err := Parse([]byte(src), nil)
		if err == nil {
			t.Errorf("Parse(%s) accepted", src)
			continue
		}
		if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Path != path {
			t.Errorf("Parse(%s) = %v, want one problem at %s", src, err, path)
		}
	}
	// A bad value is reported once, not again by a rule that uses it.
	_, err := Parse([]byte(`{channels: {telegram: {dmPolicy: "open", allowFrom: "*"}}}`), nil)
	if ps := problemsOf(t, err); len(ps) != 1 || ps[0].Path != "channels.telegram.allowFrom" {
		t.Errorf("got %v", err)
	}
}

func TestValidateTreeKinds(t *testing.T) {
	// Trees built in Go (config.patch, tests) may hold Go ints and typed
	// slices; they mean the same as the JSON values.
	tree := map[string]any{
		"gateway": map[string]any{"port": 8080, "trustedProxies": []string{"10.0.0.1"}},
		"budgets": map[string]any{"perDayUsd": float32(2.5), "perTurnToolCalls": int64(3)},
	}
	c, err := Validate(tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Port != 8080 || c.Gateway.TrustedProxies[0] != "10.0.0.1" || c.Budgets.PerDayUSD != 2.5 || c.Budgets.PerTurnToolCalls != 3 {
		t.Errorf("got %+v %+v", c.Gateway, c.Budgets)
	}
	if _, ok := tree["gateway"].(map[string]any)["port"].(int); !ok {
		t.Error("Validate modified the tree")
	}
	_, err = Validate(map[string]any{"gateway": map[string]any{"port": make(chan int)}}, nil)
	if err == nil || !strings.Contains(err.Error(), "gateway.port: unsupported value") {
		t.Errorf("got %v", err)
	}
	if c, err := Validate(nil, nil); err != nil || !reflect.DeepEqual(c, Default()) {
		t.Errorf("Validate(nil) = %v, %v", c, err)
	}
}

func TestSyntaxPosition(t *testing.T) {
	_, err := ParseTree([]byte("{\n  a: 1,\n  b: 2 x\n}"))
	if err == nil || !strings.Contains(err.Error(), "line 3, column 8") {
		t.Errorf("got %v", err)
	}
	// Absurd nesting is refused before it reaches the recursive decoder.
	deep := strings.Repeat("[", 1<<20)
	_, err = ParseTree([]byte("{a: " + deep))
	if err == nil || !strings.Contains(err.Error(), "nested deeper than 256 levels at line 1, column 260") {
		t.Errorf("got %v", err)
	}
	ok := "{a: " + strings.Repeat("[", 255) + strings.Repeat("]", 255) + ", b: '[[[', /* [[[ */ c: \"\\\"[[\"}"
	if _, err := ParseTree([]byte(ok)); err != nil {
		t.Errorf("255 levels: %v", err)
	}
	// A UTF-8 byte order mark is accepted.
	if _, err := ParseTree([]byte("\xef\xbb\xbf{}")); err != nil {
		t.Error(err)
	}
}

func TestDuplicateKeys(t *testing.T) {
	tests := []struct {
		src   string
		paths []string
	}{
		{`{a: 1, b: {c: 1, c: 2}, "a": 3}`, []string{"a", "b.c"}},
		{`{a: [{x: 1, 'x': 2}, {x: 1}]}`, []string{"a.0.x"}},
		{`{a: 1, /* a: 2 */ b: 3}`, nil},
		{`{a: 1, // a: 2` + "\n" + ` b: "a: 1, a: 2"}`, nil},
		{`{"a\u0062": 1, ab: 2}`, []string{"ab"}},
		// The decoder ends a block comment at the first '/' after any '*';
		// the duplicate scanner must agree about what is comment.
		{`{a: 1 /* x*y / , a: 2}`, []string{"a"}},
	}
	for _, tt := range tests {
		var got []string
		_, err := ParseTree([]byte(tt.src))
		if err != nil {
			for _, p := range problemsOf(t, err) {
				if !strings.Contains(p.Message, "duplicate key") {
					t.Errorf("%s: %v", tt.src, err)
				}
				got = append(got, p.Path)
			}
		}
		if !slices.Equal(got, tt.paths) {
			t.Errorf("%s: duplicates at %q, want %q (%v)", tt.src, got, tt.paths, err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "talon.json")
	if _, _, err := Load(path, nil); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	src := []byte(`{gateway: {port: 1234, auth: {token: "${TALON_GATEWAY_TOKEN}"}}}`)
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	c, f, err := Load(path, testEnv())
	if err != nil {
		t.Fatal(err)
	}
	if c.Gateway.Port != 1234 || f.Path != path || !bytes.Equal(f.Raw, src) || len(f.Hash) != 64 {
		t.Errorf("Load = %+v %+v", c.Gateway, f)
	}
	if tok, _ := GetPath(f.Tree, "gateway.auth.token"); tok != "${TALON_GATEWAY_TOKEN}" {
		t.Errorf("File.Tree is substituted: %v", tok)
	}
	// An invalid file still returns the File.
	if err := os.WriteFile(path, []byte(`{gateway: {prot: 1}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	c, f, err = Load(path, nil)
	var ve *ValidationError
	if c != nil || f == nil || f.Tree == nil || !errors.As(err, &ve) || !strings.Contains(err.Error(), path) {
		t.Errorf("Load(invalid) = %v, %v, %v", c, f, err)
	}
}

func TestExpandHome(t *testing.T) {
	for in, want := range map[string]string{
		"~":           "/home/u",
		"~/":          "/home/u",
		"~/.talon/ws": "/home/u/.talon/ws",
		"~other/x":    "~other/x",
		"/abs/~/x":    "/abs/~/x",
		"rel":         "rel",
		"":            "",
	} {
		if got := ExpandHome(in, "/home/u"); got != want {
			t.Errorf("ExpandHome(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDiff(t *testing.T) {
	old := mustParse(t, `{gateway: {port: 1000, auth: {token: "`+testToken+`"}}, models: {providers: {a: {}, b: {baseUrl: "http://x"}}}}`)
	new := mustParse(t, `{gateway: {port: 1001, auth: {token: "`+testToken+`x"}, trustedProxies: []},
		logging: {level: "debug", format: "json"}, tools: {exec: {allowlist: ["/bin/ls"]}},
		budgets: {perDayUsd: 3}, models: {providers: {b: {baseUrl: "http://y"}, c: {}}},
		channels: {telegram: {}}}`)
	live, restart := Diff(old, new)
	wantLive := []string{"budgets.perDayUsd", "gateway.auth.token", "logging.level", "tools.exec.allowlist"}
	wantRestart := []string{"channels.telegram", "gateway.port", "logging.format", "models.providers.a", "models.providers.b.baseUrl", "models.providers.c"}
	if !slices.Equal(live, wantLive) || !slices.Equal(restart, wantRestart) {
		t.Errorf("Diff:\nlive    %q, want %q\nrestart %q, want %q", live, wantLive, restart, wantRestart)
	}
	if l, r := Diff(old, old); l != nil || r != nil {
		t.Errorf("Diff(x, x) = %q %q", l, r)
	}
	if l, r := Diff(nil, Default()); l != nil || r != nil {
		t.Errorf("Diff(nil, Default()) = %q %q", l, r)
	}
}

// TestTagsWellFormed walks every type: a malformed tag or an unsupported
// field type panics in fieldsOf.
func TestTagsWellFormed(t *testing.T) {
	var walk func(t reflect.Type, path string)
	seen := 0
	walk = func(typ reflect.Type, path string) {
		for _, f := range fieldsOf(typ) {
			seen++
			p := joinPath(path, f.name)
			if f.doc == "" {
				t.Errorf("%s has no doc tag", p)
			}
			if f.enum != nil && (!f.hasDefault || !slices.Contains(f.enum, f.def)) {
				t.Errorf("%s: default %q is not in its enum", p, f.def)
			}
			for _, e := range []reflect.Type{f.typ} {
				switch f.kind {
				case kStruct:
					walk(e, p)
				case kPtrStruct:
					walk(e.Elem(), p)
				case kMap, kSlice:
					if kindOf(e.Elem()) == kStruct {
						walk(e.Elem(), p)
					}
				}
			}
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if seen < 70 {
		t.Errorf("walked only %d fields", seen)
	}
}

func TestRedactTree(t *testing.T) {
	tree, err := ParseTree([]byte(`{
		gateway: {port: 1, auth: {token: "inline-secret", password: "${PW}"}},
		models: {providers: {p: {apiKey: "pre${KEY}", baseUrl: "http://x"}, q: {apiKey: ""}}},
		channels: {telegram: {botToken: 12345, allowFrom: ["a"]}},
		tokne: {deep: ["inline-secret-2", "${OK}", 7]},
	}`))
	if err != nil {
		t.Fatal(err)
	}
	before := deepCopy(tree)
	got := RedactTree(tree)
	want := map[string]any{
		"gateway": map[string]any{"port": 1.0, "auth": map[string]any{"token": "***", "password": "${PW}"}},
		"models": map[string]any{"providers": map[string]any{
			"p": map[string]any{"apiKey": "***", "baseUrl": "http://x"},
			"q": map[string]any{"apiKey": ""},
		}},
		"channels": map[string]any{"telegram": map[string]any{"botToken": "***", "allowFrom": []any{"a"}}},
		"tokne":    map[string]any{"deep": []any{"***", "${OK}", "***"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RedactTree =\n%#v\nwant\n%#v", got, want)
	}
	if !reflect.DeepEqual(tree, before) {
		t.Error("RedactTree modified its input")
	}
}
