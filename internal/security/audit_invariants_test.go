package security

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/config"
)

// TestInvariant1_AuditReportsWeakGatewayCredentials: a gateway that others
// can reach must not open to a guessable credential. A short password on a
// network bind and a token Talon refuses are each reported by name ("too
// short", never "missing"), with a fix; a long token is not.
func TestInvariant1_AuditReportsWeakGatewayCredentials(t *testing.T) {
	e := newAuditEnv(t)
	e.env["PW"] = "hunter2pass"
	for _, tc := range []struct {
		file, id, sev, title string
	}{
		{`{gateway: {bind: "lan", auth: {mode: "password", password: "${PW}"}}}`, "gateway.password_short", Warn, "gateway password too short for a network bind"},
		{`{gateway: {bind: "tailnet", auth: {mode: "password", password: "abc"}}}`, "gateway.password_short", Critical, "gateway password too short"},
		{`{gateway: {bind: "lan", auth: {mode: "password"}}}`, "gateway.password_missing", Critical, "no gateway password"},
		{`{gateway: {auth: {token: "abc123abc123"}}}`, "gateway.token_short", Critical, "gateway token too short"},
		{`{gateway: {bind: "lan", auth: {token: "abcdefghijklmnopqrstuvwxyz12"}}}`, "gateway.token_short", Critical, "gateway token too short"},
		{`{gateway: {auth: {token: "abcdefghijklmnopqrstuvwxyz12"}}}`, "gateway.token_short", Warn, "gateway token too short"},
	} {
		fs := e.auditTree(t, parseTree(t, tc.file))
		var found bool
		for _, f := range fs {
			if f.CheckID == "gateway.token_missing" && tc.id != "gateway.token_missing" {
				t.Errorf("%s: reported as a missing token", tc.file)
			}
			if f.CheckID == tc.id {
				found = true
				if f.Severity != tc.sev || f.Title != tc.title || f.Fix == "" {
					t.Errorf("%s: %+v, want %s %q with a fix", tc.file, f, tc.sev, tc.title)
				}
			}
		}
		if !found {
			t.Errorf("%s: %s not reported", tc.file, tc.id)
		}
	}
	for _, ok := range []string{
		`{gateway: {bind: "lan", auth: {token: "${TALON_GATEWAY_TOKEN}"}}}`,
		`{gateway: {auth: {mode: "password", password: "${PW}"}}}`, // loopback: 11 characters are enough
	} {
		for _, f := range e.auditTree(t, parseTree(t, ok)) {
			if strings.HasPrefix(f.CheckID, "gateway.") && f.Severity != Info {
				t.Errorf("%s: %s %s", ok, f.CheckID, f.Severity)
			}
		}
	}
}

// TestInvariant10_AuditReportsEveryLiteralSecret: whatever key of type
// secret holds a literal (found from the types, so keys added later are
// covered), the audit reports it with one check id, at warn (the generated
// gateway token: info), with a fix that names a ${secret:NAME}; and the
// audit's own output never contains the secret.
func TestInvariant10_AuditReportsEveryLiteralSecret(t *testing.T) {
	e := newAuditEnv(t)
	keys := config.SecretKeys()
	if len(keys) < 10 {
		t.Fatalf("only %d secret keys", len(keys))
	}
	for _, k := range keys {
		key := strings.ReplaceAll(k, "*", "x")
		const literal = "Lit3ralSecretValue-do-not-print-0123456789"
		tree := parseTree(t, secureBase)
		triggerContext(t, tree, key)
		if err := config.SetPath(tree, key, literal); err != nil {
			t.Fatal(err)
		}
		fs := e.auditTree(t, tree)
		out, _ := json.Marshal(fs)
		if strings.Contains(string(out), literal) {
			t.Errorf("%s: the audit output contains the secret", key)
		}
		var f *Finding
		for i := range fs {
			if fs[i].CheckID == config.SecretLiteralCheck && fs[i].Key == key {
				f = &fs[i]
			}
		}
		want := Warn
		if key == "gateway.auth.token" {
			want = Info
		}
		switch {
		case f == nil:
			t.Errorf("%s: a literal is not reported", key)
		case f.Severity != want:
			t.Errorf("%s: severity %s, want %s", key, f.Severity, want)
		case want == Warn && (!f.Fixable || !strings.Contains(f.Fix, "${secret:"+SecretName(key)+"}")):
			t.Errorf("%s: fix %q", key, f.Fix)
		}
	}
	// References are not literals.
	tree := parseTree(t, `{gateway: {auth: {token: "${TALON_GATEWAY_TOKEN}"}}, tools: {web: {search: {provider: "brave", apiKey: "${secret:API_KEY}"}}}}`)
	e.env["secret:API_KEY"] = "k"
	if has(e.auditTree(t, tree), config.SecretLiteralCheck) {
		t.Error("a reference is reported as a literal")
	}
}

// TestInvariant5_AuditFindsRunnersOnEveryExecList: a shell, interpreter or
// command runner on any list that lets commands run without approval
// (allowlist, safeBins, helpers) is reported by the same test, critically
// when strangers can reach the agent; plain tools are not.
func TestInvariant5_AuditFindsRunnersOnEveryExecList(t *testing.T) {
	e := newAuditEnv(t)
	runnersToTry := []string{"sh", "bash", "python3.12", "node", "perl", "ruby", "env", "xargs", "find", "sudo", "busybox", "awk", "nodejs", "pwsh", "timeout", "npx", "uvx"}
	plain := []string{"jq", "grep", "git", "ls", "cat", "shred", "envsubst", "nodemon-not", "findmnt", "python-config-x"}
	for _, list := range []struct{ key, id, format string }{
		{"tools.exec.allowlist", "tools.exec.interpreter_allowlisted", `["/usr/bin/%s"]`},
		{"tools.exec.safeBins", "tools.exec.safebin_interpreter", `["%s"]`},
		{"tools.exec.helpers", "tools.exec.helper_interpreter", `{"/usr/bin/make": ["/usr/bin/%s"]}`},
	} {
		for _, strangers := range []bool{false, true} {
			for _, name := range append(append([]string{}, runnersToTry...), plain...) {
				tree := parseTree(t, secureBase)
				if strangers {
					triggerContext(t, tree, "channels.telegram.dmPolicy")
					config.SetPath(tree, "channels.telegram.dmPolicy", "pairing")
				}
				config.SetPath(tree, list.key, config.ParseValue(strings.ReplaceAll(list.format, "%s", name)))
				got := bySeverity(e.auditTree(t, tree))[list.id]
				want := ""
				if _, isRunner := Runner(name); isRunner {
					want = Warn
					if strangers {
						want = Critical
					}
				}
				isListed := false
				for _, r := range runnersToTry {
					isListed = isListed || r == name
				}
				if isListed && want == "" {
					t.Errorf("Runner(%q) is false", name)
				}
				if !isListed && want != "" {
					t.Errorf("Runner(%q) is true", name)
				}
				if got != want {
					t.Errorf("%s %s (strangers %v): %q, want %q", list.key, name, strangers, got, want)
				}
			}
		}
	}
}

// TestInvariant11_AuditWarnsUnsetBudgetsWhenStrangersReach: with no USD
// budget, spending is bounded by nothing; that is info for an owner-only
// setup and a warning (with a fix that sets one) when strangers can reach
// the agent.
func TestInvariant11_AuditWarnsUnsetBudgetsWhenStrangersReach(t *testing.T) {
	e := newAuditEnv(t)
	for _, tc := range []struct {
		file, sev string
	}{
		{`{gateway: {auth: {token: "${TALON_GATEWAY_TOKEN}"}}}`, Info},
		{`{gateway: {auth: {token: "${TALON_GATEWAY_TOKEN}"}}, channels: {telegram: {botToken: "${TG_TOKEN}", dmPolicy: "allowlist", allowFrom: ["1"]}}}`, Info},
		{`{gateway: {auth: {token: "${TALON_GATEWAY_TOKEN}"}}, channels: {telegram: {botToken: "${TG_TOKEN}"}}}`, Warn}, // pairing, the default
		{`{gateway: {auth: {token: "${TALON_GATEWAY_TOKEN}"}}, channels: {discord: {token: "${DISCORD_TOKEN}", dmPolicy: "allowlist", groupPolicy: "open"}}}`, Warn},
		{`{gateway: {auth: {token: "${TALON_GATEWAY_TOKEN}"}}, budgets: {perDayUsd: 5}, channels: {telegram: {botToken: "${TG_TOKEN}"}}}`, ""},
	} {
		tree := parseTree(t, tc.file)
		fs := e.auditTree(t, tree)
		if got := bySeverity(fs)["budgets.unset"]; got != tc.sev {
			t.Errorf("%s: budgets.unset %q, want %q", tc.file, got, tc.sev)
		}
		if tc.sev == Warn {
			if _, err := FixConfig(tree, fs, FixDeps{}); err != nil {
				t.Fatal(err)
			}
			if v, _ := config.GetPath(tree, "budgets.perDayUsd"); v != float64(5) {
				t.Errorf("%s: --fix set perDayUsd to %v", tc.file, v)
			}
		}
	}
}

// TestAuditStateDirInSyncedFolder: a state directory in a file-sync folder
// sends the secrets store and its key to the sync service; the audit says
// so, and not for an ordinary path.
func TestAuditStateDirInSyncedFolder(t *testing.T) {
	for path, want := range map[string]string{
		"/home/a/Dropbox/talon":                              "Dropbox",
		"/Users/a/Library/Mobile Documents/x/.talon":         "iCloud Drive",
		"/home/a/OneDrive - Contoso/talon":                   "OneDrive",
		"/home/a/.talon":                                     "",
		"/home/a/dropbox-notes/.talon":                       "",
		"/Users/a/Library/CloudStorage/GoogleDrive-a/.talon": "a macOS CloudStorage folder",
	} {
		if got := syncedFolder(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
	dir := filepath.Join(t.TempDir(), "Dropbox", "talon")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	c := config.Default()
	got := bySeverity(Audit(AuditInput{Config: c, Tree: map[string]any{}, StateDir: dir, ConfigPath: filepath.Join(dir, "talon.json")}))
	if got["fs.state_dir.synced"] != Warn {
		t.Errorf("state dir in Dropbox: %v", got)
	}
}
