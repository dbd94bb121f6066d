package security

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
)

// Severities of audit findings.
const (
	Info     = "info"
	Warn     = "warn"
	Critical = "critical"
)

// The audit (this file and audit_*.go) reports what in a setup widens what
// strangers or the agent can do. Its check table is Checks (checks.go); the
// config keys that widen exposure name their check in a widens tag
// (config.Widenings), and the tests prove that each named check fires, so a
// new widening key cannot go unchecked. Severities consider reachability:
// the same setting is worse when strangers can reach the agent.

// Finding is one result of `talon security audit`. CheckID is stable.
type Finding struct {
	CheckID  string `json:"checkId"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	Detail   string `json:"detail"`
	Fix      string `json:"fix"`
	// Fixable marks findings `--fix` can repair safely.
	Fixable bool `json:"fixable,omitempty"`
	// Path is the file a fs.* finding is about.
	Path string `json:"path,omitempty"`
	// Key is the config key a finding is about, when it is about one key
	// (secrets.plaintext: which secret --fix moves).
	Key string `json:"key,omitempty"`
}

// AuditInput is what the static audit looks at.
type AuditInput struct {
	Config *config.Config
	Tree   map[string]any // the config file as written (unsubstituted), for plain-text secrets
	// Lookup expands ${NAME} and ${secret:NAME} in Tree values, to measure
	// the gateway token and password as written even when validation
	// refused them. Nil expands nothing.
	Lookup     config.LookupEnv
	ConfigPath string
	StateDir   string
	Home       string
	// NoExecGuard: the kernel cannot limit which files a command executes
	// (no Landlock; sandbox.Capabilities.ExecGuard).
	NoExecGuard bool
	// SandboxMissing lists sandbox layers this kernel lacks (sandbox.Probe().Missing()).
	SandboxMissing []string
	// DangerousBind reports a sandbox bind that would be refused, "" if fine.
	DangerousBind func(path, mode string) string
	// Invalid holds the config's validation problems, when it has any.
	Invalid []config.Problem
	// Skills is the installed skills' state; nil checks only the config.
	Skills *SkillsAudit
}

// Audit runs the static checks. Findings are sorted by severity
// (critical first), then check id.
func Audit(in AuditInput) []Finding {
	c := in.Config
	var out []Finding
	add := func(id, sev, title, detail, fix string, fixable bool) {
		out = append(out, Finding{CheckID: id, Severity: sev, Title: title, Detail: detail, Fix: fix, Fixable: fixable})
	}
	keyed := func(key string) { out[len(out)-1].Key = key }

	// fs.*: the state directory and the files in it.
	permCheck := func(id, path string, dir bool) {
		fi, err := os.Lstat(path)
		if err != nil {
			return
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			add(id+".symlink", Warn, path+" is a symlink", "a symlink lets whoever controls its target swap Talon's state", "replace it with a regular file or directory owned by you", false)
			return
		}
		want := fs.FileMode(0o600)
		if dir {
			want = 0o700
		}
		perm := fi.Mode().Perm()
		if perm&^want == 0 {
			return
		}
		sev := Warn
		if perm&0o004 != 0 || perm&0o002 != 0 || perm&0o020 != 0 {
			sev = Critical
		}
		add(id+".perms", sev, fmt.Sprintf("%s is mode %04o", path, perm), "other users on this machine can read or change it (tokens, keys, transcripts)",
			fmt.Sprintf("chmod %04o %s (talon security audit --fix)", want, path), true)
		out[len(out)-1].Path = path
	}
	permCheck("fs.state_dir", in.StateDir, true)
	permCheck("fs.config", in.ConfigPath, false)
	permCheck("fs.db", filepath.Join(in.StateDir, "talon.db"), false)
	permCheck("fs.logs", filepath.Join(in.StateDir, "logs"), true)
	permCheck("fs.secrets", filepath.Join(in.StateDir, "secrets.json"), false)
	permCheck("fs.secrets_key", filepath.Join(in.StateDir, "secrets.key"), false)
	permCheck("fs.audit_key", filepath.Join(in.StateDir, "audit.key"), false)
	permCheck("fs.whatsapp", filepath.Join(in.StateDir, "whatsapp"), true)
	if dbs, _ := filepath.Glob(filepath.Join(in.StateDir, "whatsapp", "*.db")); len(dbs) > 0 {
		for _, d := range dbs {
			permCheck("fs.whatsapp_store", d, false)
		}
	}
	if logs, _ := filepath.Glob(filepath.Join(in.StateDir, "logs", "talon.log*")); len(logs) > 0 {
		for _, l := range logs {
			permCheck("fs.log_file", l, false)
		}
	}
	if f := c.Logging.File; f != "" {
		// A log file outside the state directory's logs/ is checked too.
		f = filepath.Clean(config.ExpandHome(f, in.Home))
		if m, _ := filepath.Match(filepath.Join(in.StateDir, "logs", "talon.log*"), f); !m {
			permCheck("fs.log_file", f, false)
		}
	}

	if name := syncedFolder(in.StateDir); name != "" {
		add("fs.state_dir.synced", Warn, "the state directory is in a synced folder", fmt.Sprintf("%s is inside %s: the config, the secrets store with its key, the database and the logs are copied to that service and every device it syncs to", in.StateDir, name),
			"move it out (set TALON_STATE_DIR) and keep only audit.exportFile in a synced folder", false)
		out[len(out)-1].Path = in.StateDir
	}

	for _, pr := range in.Invalid {
		add("config.invalid", Critical, "the config is invalid: "+pr.Path, pr.Message, orText(pr.Hint, "fix the key; talon config validate lists every problem"), false)
	}

	a := &auditor{in: in, c: c, add: add, keyed: keyed}
	a.reach = reachOf(c)
	loop := a.gateway()
	a.channels()
	a.exec()
	a.files()
	a.secrets()
	auditEgress(c, add)
	if c.Tools.Web.Fetch.AllowPrivateNetwork && len(c.Tools.Web.Fetch.AllowedHostnames) == 0 {
		add("tools.web.fetch.private_network", Warn, "web_fetch may reach private addresses", "tools.web.fetch.allowPrivateNetwork is on: a page can make the agent probe your network", "turn it off; list single hosts in allowedHostnames", false)
	}
	a.keeping()
	a.models()
	a.skills()

	// The attack surface, as one summary.
	var surface []string
	g := a.g
	if loop {
		surface = append(surface, "gateway: loopback only")
	} else {
		surface = append(surface, fmt.Sprintf("gateway: %s (auth %s)", g.Bind, g.Auth.Mode))
	}
	for _, x := range enabledChannels(c) {
		surface = append(surface, fmt.Sprintf("%s: direct messages %s, groups %s", x.name, x.DMPolicy, x.GroupPolicy))
	}
	if len(enabledChannels(c)) == 0 {
		surface = append(surface, "no chat channels: strangers cannot message the agent")
	}
	add("surface.summary", Info, "what strangers can reach", strings.Join(surface, "; "), "", false)

	rank := map[string]int{Critical: 0, Warn: 1, Info: 2}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Severity] != rank[out[j].Severity] {
			return rank[out[i].Severity] < rank[out[j].Severity]
		}
		return out[i].CheckID < out[j].CheckID
	})
	return out
}

// syncedFolder names the file-sync service whose folder holds path, or "".
func syncedFolder(path string) string {
	for _, seg := range strings.Split(filepath.ToSlash(path), "/") {
		l := strings.ToLower(seg)
		switch {
		case l == "dropbox" || strings.HasPrefix(l, "dropbox ("):
			return "Dropbox"
		case l == "onedrive" || strings.HasPrefix(l, "onedrive -") || strings.HasPrefix(l, "onedrive-"):
			return "OneDrive"
		case l == "google drive" || l == "googledrive" || l == "my drive" || strings.HasPrefix(l, "googledrive-"):
			return "Google Drive"
		case l == "cloudstorage":
			return "a macOS CloudStorage folder"
		case l == "icloud drive" || l == "mobile documents" || l == "icloud~com~apple~clouddocs" || l == "com~apple~clouddocs":
			return "iCloud Drive"
		case l == "nextcloud" || l == "owncloud":
			return seg
		}
	}
	return ""
}

// policyEnables reports whether tools.* enables the built-in tool of this
// name and group, as the policy decides it. The audit names the tools it
// asks about, with their groups, because its checks are about them.
func policyEnables(c *config.Config, tool, group string) bool {
	return policy.Enabled(c.Tools, tool, group)
}

func isRef(s string) bool { return strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") }

func treeString(tree map[string]any, path string) (string, bool) {
	var cur any = tree
	for _, p := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false
		}
		cur, ok = m[p]
		if !ok {
			return "", false
		}
	}
	s, ok := cur.(string)
	return s, ok
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// telegramAccounts lists the default and the extra Telegram accounts.
func telegramAccounts(t *config.Telegram) map[string]config.TelegramAccount {
	out := map[string]config.TelegramAccount{"default": t.TelegramAccount}
	for id, a := range t.Accounts {
		out[id] = a
	}
	return out
}
