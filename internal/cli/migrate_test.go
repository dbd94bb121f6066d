package cli

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/policy"
)

// fixtureLiterals are the credentials testdata/openclaw holds as literals.
var fixtureLiterals = []string{
	"sk-fixture-literal-litellm-key-0123456789",
	"123456789:AAFixtureTelegramBotTokenValue0123456",
	"fixture-gateway-token-0123456789abcdefghij",
	"sk-or-v1-fixture-openrouter-0123456789abcdef",
}

// openClawFixture copies internal/migrate/testdata/openclaw into a temp
// dir and returns it.
func openClawFixture(t *testing.T) string {
	t.Helper()
	src := filepath.Join("..", "migrate", "testdata", "openclaw")
	dst := filepath.Join(t.TempDir(), "openclaw")
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// snapshot hashes every file under dir (path -> sha256, links by target).
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			out[p] = "link:" + l
			return nil
		}
		b, _ := os.ReadFile(p)
		h := sha256.Sum256(b)
		out[p] = hex.EncodeToString(h[:])
		return nil
	})
	return out
}

func migrateEnv(home, state string) []string {
	return []string{"HOME=" + home, "TALON_STATE_DIR=" + state, "TALON_CONFIG_PATH=", "TALON_SECRETS_KEY=", "TALON_GATEWAY_TOKEN=",
		"OPENCLAW_STATE_DIR=", "OPENCLAW_CONFIG_PATH=", "OPENCLAW_WORKSPACE_DIR="}
}

// TestMigrateOpenClawFixture: the realistic install becomes a Talon config
// that talon config validate accepts and talon security audit finds nothing
// critical in; cron jobs and workspace files arrive; no literal credential
// reaches talon.json (invariant 10).
func TestMigrateOpenClawFixture(t *testing.T) {
	src := openClawFixture(t)
	home := t.TempDir()
	state := filepath.Join(home, "state")
	env := migrateEnv(home, state)
	out, errOut, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", src, "--json")
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Written  bool `json:"written"`
		Unmapped []struct{ Key, Message string }
		Secrets  []struct{ From, Name string }
		CronJobs []struct{ ID, Action string } `json:"cronJobs"`
		Files    []struct{ Name, Action string }
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || !rep.Written {
		t.Fatalf("report: %v\n%s", err, out)
	}
	for _, lit := range fixtureLiterals {
		if strings.Contains(out, lit) || strings.Contains(errOut, lit) {
			t.Errorf("the report prints the literal %q", lit)
		}
	}
	if _, _, code := runTalonEnv(t, env, "config", "validate"); code != 0 {
		o, e, _ := runTalonEnv(t, env, "config", "validate")
		t.Fatalf("talon config validate: exit %d\n%s%s", code, o, e)
	}
	aout, aerr, code := runTalonEnv(t, env, "security", "audit", "--json")
	if code != 0 {
		t.Fatalf("audit: exit %d %s", code, aerr)
	}
	var audit struct {
		Findings []struct{ CheckID, Severity string }
	}
	if err := json.Unmarshal([]byte(aout), &audit); err != nil {
		t.Fatal(err)
	}
	for _, f := range audit.Findings {
		if f.Severity == "critical" {
			t.Errorf("critical finding %s in the migrated setup", f.CheckID)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(state, "talon.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lit := range fixtureLiterals {
		if strings.Contains(string(cfg), lit) {
			t.Errorf("invariant 10: literal %q in talon.json", lit)
		}
	}
	if fi, _ := os.Stat(filepath.Join(state, "talon.json")); fi.Mode().Perm() != 0o600 {
		t.Errorf("talon.json mode %v", fi.Mode().Perm())
	}
	// The secrets resolve (the gateway will find them).
	gout, gerr, code := runTalonEnv(t, env, "config", "get", "models.providers.litellm.apiKey", "--reveal")
	if code != 0 || strings.TrimSpace(gout) != "sk-fixture-literal-litellm-key-0123456789" {
		t.Errorf("provider key does not resolve from the store: %d %q %s", code, gout, gerr)
	}
	cout, _, _ := runTalonEnv(t, env, "cron", "list", "--json")
	var jobs struct {
		Jobs []struct{ Schedule, Message, CreatedBy string }
	}
	_ = json.Unmarshal([]byte(cout), &jobs)
	if len(jobs.Jobs) != 2 {
		t.Fatalf("cron jobs: %s", cout)
	}
	for _, j := range jobs.Jobs {
		// Invariant 8: imported text runs untrusted, never as the owner.
		if j.CreatedBy != migrateCreatedBy || cron.JobTrust(j.CreatedBy) == policy.TrustOwner {
			t.Errorf("job %q created by %q runs as %s", j.Message, j.CreatedBy, cron.JobTrust(j.CreatedBy))
		}
	}
	for _, name := range []string{"AGENTS.md", "SOUL.md", "USER.md", "IDENTITY.md", "TOOLS.md", "MEMORY.md"} {
		want, _ := os.ReadFile(filepath.Join(src, "workspace", name))
		got, err := os.ReadFile(filepath.Join(state, "workspace", name))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s not copied: %v", name, err)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "workspace", "HEARTBEAT.md")); err == nil {
		t.Error("HEARTBEAT.md copied though Talon does not read it")
	}

	// Again without --force: refused, nothing changes, no job twice.
	before := snapshot(t, home)
	_, errOut, code = runTalonEnv(t, env, "migrate", "openclaw", "--from", src)
	if code != 1 || !strings.Contains(errOut, "--force") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Errorf("second run: exit %d %q", code, errOut)
	}
	if after := snapshot(t, home); !mapsEqual(before, after) {
		t.Error("a refused migration changed files")
	}
	// With --force: a backup, the same jobs (not doubled).
	if out, errOut, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", src, "--force"); code != 0 {
		t.Fatalf("--force: %d %s %s", code, out, errOut)
	}
	baks, _ := filepath.Glob(filepath.Join(state, "talon.json.bak-*"))
	if len(baks) != 1 {
		t.Errorf("backups: %v", baks)
	}
	cout, _, _ = runTalonEnv(t, env, "cron", "list", "--json")
	_ = json.Unmarshal([]byte(cout), &jobs)
	if len(jobs.Jobs) != 2 {
		t.Errorf("jobs doubled by a second migration: %s", cout)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInvariant14_MigrateDryRunChangesNothing: --dry-run on a fresh and on
// an existing Talon install leaves every file byte-identical (not even the
// secrets key is created) and prints the plan.
func TestInvariant14_MigrateDryRunChangesNothing(t *testing.T) {
	src := openClawFixture(t)
	home := t.TempDir()
	state := filepath.Join(home, "state")
	env := migrateEnv(home, state)
	srcBefore := snapshot(t, src)
	out, errOut, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", src, "--dry-run")
	if code != 0 || !strings.Contains(out, "dry run: nothing was written") || !strings.Contains(out, "LITELLM_API_KEY") {
		t.Fatalf("dry run: %d\n%s\n%s", code, out, errOut)
	}
	if _, err := os.Stat(state); err == nil {
		t.Fatal("a dry run created the state directory")
	}
	// A state directory that exists but has no secrets yet: the dry run
	// must not create the secrets key while it looks names up.
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "talon.json"), []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	before := snapshot(t, home)
	if _, _, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", src, "--dry-run", "--force"); code != 0 {
		t.Fatal("dry run failed")
	}
	if after := snapshot(t, home); !mapsEqual(before, after) {
		t.Errorf("a dry run over a state dir without secrets changed it: %v", after)
	}
	if _, _, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", src, "--force"); code != 0 {
		t.Fatal("migrate failed")
	}
	before = snapshot(t, home)
	for _, args := range [][]string{{"--dry-run"}, {"--dry-run", "--force"}, {"--dry-run", "--force", "--keep-unsafe", "--json"}} {
		out, errOut, code := runTalonEnv(t, env, append([]string{"migrate", "openclaw", "--from", src}, args...)...)
		if code != 0 {
			t.Fatalf("%v: %d %s %s", args, code, out, errOut)
		}
		if after := snapshot(t, home); !mapsEqual(before, after) {
			for k := range after {
				if before[k] != after[k] {
					t.Errorf("%v changed %s", args, k)
				}
			}
		}
	}
	if !mapsEqual(srcBefore, snapshot(t, src)) {
		t.Error("the migration changed the OpenClaw install")
	}
}

// TestInvariant14_MigrateBadInputChangesNothing: a broken openclaw.json or
// a missing install is one clear line and nothing is written.
func TestInvariant14_MigrateBadInputChangesNothing(t *testing.T) {
	home := t.TempDir()
	state := filepath.Join(home, "state")
	env := migrateEnv(home, state)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "openclaw.json"), []byte("{gateway: {port: 1,\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		from, want string
	}{
		{src, "nothing was changed"},
		{filepath.Join(home, "nowhere"), "no OpenClaw config"},
	} {
		out, errOut, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", tc.from)
		if code != 1 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || out != "" {
			t.Errorf("--from %s: exit %d out %q err %q", tc.from, code, out, errOut)
		}
	}
	if _, err := os.Stat(state); err == nil {
		t.Error("bad input created the state directory")
	}
}

// TestInvariant10_MigrateNeverFollowsWorkspaceLinks: a workspace file that
// is a symbolic link (to a private key, say) is not copied into Talon's
// workspace, whose files go into the model's prompt.
func TestInvariant10_MigrateNeverFollowsWorkspaceLinks(t *testing.T) {
	src := openClawFixture(t)
	home := t.TempDir()
	state := filepath.Join(home, "state")
	private := filepath.Join(home, "id_ed25519")
	if err := os.WriteFile(private, []byte("PRIVATE-KEY-MATERIAL"), 0o600); err != nil {
		t.Fatal(err)
	}
	ws := filepath.Join(src, "workspace")
	_ = os.Remove(filepath.Join(ws, "USER.md"))
	if err := os.Symlink(private, filepath.Join(ws, "USER.md")); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runTalonEnv(t, migrateEnv(home, state), "migrate", "openclaw", "--from", src)
	if code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	if _, err := os.Lstat(filepath.Join(state, "workspace", "USER.md")); err == nil {
		t.Error("a symbolic link in the OpenClaw workspace was copied")
	}
	_ = filepath.WalkDir(state, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, _ := os.ReadFile(p); strings.Contains(string(b), "PRIVATE-KEY-MATERIAL") {
				t.Errorf("the linked file's content reached %s", p)
			}
		}
		return nil
	})
	if !strings.Contains(out, "not a regular file") {
		t.Errorf("the skipped link is not reported:\n%s", out)
	}
}

// TestMigrateKeepUnsafe: exec security full is narrowed by default and kept
// only with --keep-unsafe; the audit then reports it.
func TestMigrateKeepUnsafe(t *testing.T) {
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "openclaw.json"), []byte(`{tools: {exec: {security: "full", ask: "off"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args     []string
		security string
	}{
		{nil, "allowlist"},
		{[]string{"--keep-unsafe"}, "full"},
	} {
		home := t.TempDir()
		env := migrateEnv(home, filepath.Join(home, "state"))
		out, errOut, code := runTalonEnv(t, env, append([]string{"migrate", "openclaw", "--from", src}, tc.args...)...)
		if code != 0 || !strings.Contains(out, "tools.exec.security") {
			t.Fatalf("%v: %d %s %s", tc.args, code, out, errOut)
		}
		got, _, _ := runTalonEnv(t, env, "config", "get", "tools.exec.security")
		if strings.TrimSpace(got) != tc.security {
			t.Errorf("%v: security %q, want %s", tc.args, got, tc.security)
		}
		aout, _, _ := runTalonEnv(t, env, "security", "audit", "--json")
		critical := strings.Contains(aout, `"tools.exec.security_full"`)
		if critical != (tc.security == "full") {
			t.Errorf("%v: audit security_full finding %v", tc.args, critical)
		}
	}
}

// TestMigrateOpenClawDatabase: current OpenClaw keeps exec approvals and
// cron jobs in state/openclaw.sqlite (shapes as OpenClaw 2026.9.6 writes
// them, seen by running its doctor on the fixture). The migration reads
// them from a copy: the database, its WAL and the open writer's state are
// untouched; OpenClaw's own jobs (a declaration key) are left out.
func TestMigrateOpenClawDatabase(t *testing.T) {
	src := openClawFixture(t)
	for _, f := range []string{"exec-approvals.json", "cron/jobs.json"} {
		if err := os.Remove(filepath.Join(src, f)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(src, "state"), 0o700); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(src, "state", "openclaw.sqlite")+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	for _, q := range []string{
		`CREATE TABLE exec_approvals_config (config_key TEXT NOT NULL PRIMARY KEY, raw_json TEXT NOT NULL, socket_path TEXT, has_socket_token INTEGER NOT NULL,
			default_security TEXT, default_ask TEXT, default_ask_fallback TEXT, auto_allow_skills INTEGER, agent_count INTEGER NOT NULL, allowlist_count INTEGER NOT NULL, updated_at_ms INTEGER NOT NULL) STRICT`,
		`CREATE TABLE cron_jobs (store_key TEXT NOT NULL, job_id TEXT NOT NULL, declaration_key TEXT, owner_agent_id TEXT, name TEXT NOT NULL, description TEXT,
			enabled INTEGER NOT NULL, agent_id TEXT, payload_kind TEXT NOT NULL, job_json TEXT NOT NULL, state_json TEXT NOT NULL DEFAULT '{}',
			sort_order INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL, PRIMARY KEY (store_key, job_id)) STRICT`,
		`INSERT INTO exec_approvals_config VALUES ('current', '{"version": 1, "socket": {"path": "/x.sock", "token": "sock-token"}, "defaults": {},
			"agents": {"*": {"allowlist": [{"pattern": "/usr/bin/git", "lastUsedAt": 1796545414231, "id": "e9e180a7"}]}}}', '/x.sock', 1, NULL, NULL, NULL, NULL, 1, 1, 1796545414237)`,
		`INSERT INTO cron_jobs (store_key, job_id, declaration_key, name, enabled, payload_kind, job_json, sort_order, updated_at) VALUES
			('default', 'job-morning-brief', NULL, 'Morning brief', 1, 'agentTurn', '{"id":"job-morning-brief","name":"Morning brief","enabled":true,"schedule":{"kind":"cron","expr":"0 8 * * 1-5","tz":"Europe/Berlin"},"sessionTarget":"isolated","payload":{"kind":"agentTurn","message":"Summarise my calendar and open tasks for today."},"wakeMode":"now","createdAtMs":1796545549771,"state":{}}', 0, 1),
			('default', 'job-hourly-check', NULL, 'Hourly inbox check', 1, 'agentTurn', '{"id":"job-hourly-check","name":"Hourly inbox check","enabled":true,"schedule":{"kind":"every","everyMs":3600000,"anchorMs":1796545549742},"payload":{"kind":"agentTurn","message":"Check the inbox folder."},"wakeMode":"now","sessionTarget":"isolated","createdAtMs":1796545549776,"state":{}}', 1, 1),
			('default', 'job-paused', NULL, 'Paused', 0, 'agentTurn', '{"id":"job-paused","name":"Paused","enabled":true,"schedule":{"kind":"cron","expr":"0 9 * * *"},"payload":{"kind":"agentTurn","message":"paused"}}', 2, 1),
			('default', 'skill-review', 'skills.workshop.review', 'Skill review', 1, 'agentTurn', '{"id":"skill-review","schedule":{"kind":"every","everyMs":604800000},"payload":{"kind":"agentTurn","message":"review skills"}}', 3, 1)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	home := t.TempDir()
	state := filepath.Join(home, "state")
	env := migrateEnv(home, state)
	before := snapshot(t, src)
	out, errOut, code := runTalonEnv(t, env, "migrate", "openclaw", "--from", src, "--json")
	if code != 0 {
		t.Fatalf("%d %s %s", code, out, errOut)
	}
	if !mapsEqual(before, snapshot(t, src)) {
		t.Error("reading OpenClaw's database changed its files")
	}
	if strings.Contains(out, "sock-token") {
		t.Error("the approvals socket token reached the report")
	}
	if !strings.Contains(out, `"cron_jobs:skill-review"`) {
		t.Errorf("OpenClaw's own job not reported:\n%s", out)
	}
	got, _, _ := runTalonEnv(t, env, "config", "get", "tools.exec.allowlist", "--json")
	if !strings.Contains(got, "/usr/bin/git") {
		t.Errorf("allowlist from the database: %s", got)
	}
	cout, _, _ := runTalonEnv(t, env, "cron", "list", "--json")
	var jobs struct {
		Jobs []struct{ Name, Schedule string }
	}
	_ = json.Unmarshal([]byte(cout), &jobs)
	var names []string
	for _, j := range jobs.Jobs {
		names = append(names, j.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Hourly inbox check", "Morning brief"}) {
		t.Errorf("jobs %q (a disabled row and OpenClaw's own job must stay out)", names)
	}
}

// TestMigrateFindsOpenClawLikeOpenClaw: without --from the install is
// found through $OPENCLAW_STATE_DIR and $OPENCLAW_CONFIG_PATH, else at
// ~/.openclaw; --from also takes the config file itself.
func TestMigrateFindsOpenClawLikeOpenClaw(t *testing.T) {
	src := openClawFixture(t)
	other := filepath.Join(t.TempDir(), "elsewhere.json")
	if err := os.WriteFile(other, []byte(`{gateway: {port: 19999}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	if err := os.Rename(src, filepath.Join(home, ".openclaw")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, nil, filepath.Join(home, ".openclaw", "openclaw.json")},
		{[]string{"OPENCLAW_STATE_DIR=" + filepath.Join(home, ".openclaw")}, nil, filepath.Join(home, ".openclaw", "openclaw.json")},
		{[]string{"OPENCLAW_CONFIG_PATH=" + other}, nil, other},
		{[]string{"OPENCLAW_CONFIG_PATH=" + other}, []string{"--from", filepath.Join(home, ".openclaw")}, filepath.Join(home, ".openclaw", "openclaw.json")},
		{nil, []string{"--from", other}, other},
	} {
		env := append(migrateEnv(home, filepath.Join(home, "state")), tc.env...)
		out, errOut, code := runTalonEnv(t, env, append([]string{"migrate", "openclaw", "--dry-run", "--json"}, tc.args...)...)
		var rep struct{ Source struct{ Config string } }
		if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Source.Config != tc.want {
			t.Errorf("%v %v: exit %d config %q, want %q %s", tc.env, tc.args, code, rep.Source.Config, tc.want, errOut)
		}
	}
}
