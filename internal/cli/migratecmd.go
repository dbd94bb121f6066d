package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/migrate"
	"github.com/talonclaw/talon/internal/secretstore"
	"github.com/talonclaw/talon/internal/store"
)

// migrateCreatedBy is the creator of imported cron jobs. It is neither
// cron.ByCLI nor cron.ByOperator, so the jobs run untrusted (invariant 8):
// their text comes from another program's store, where a model may have
// written it.
const migrateCreatedBy = "migrate:openclaw"

func (a *app) migrateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Import the setup of another agent gateway",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("migrate: missing subcommand (hint: talon migrate openclaw --dry-run)")
		},
	}
	var o migrateOpts
	oc := &cobra.Command{
		Use:   "openclaw [--from DIR] [--dry-run] [--keep-unsafe] [--force]",
		Short: "Import an OpenClaw install: openclaw.json, exec approvals, cron jobs and workspace files (docs/migrate-openclaw.md)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.migrateOpenClaw(cmd.Context(), o)
		},
	}
	oc.Flags().StringVar(&o.from, "from", "", "OpenClaw state directory or openclaw.json (default $OPENCLAW_STATE_DIR, $OPENCLAW_CONFIG_PATH, ~/.openclaw)")
	oc.Flags().BoolVar(&o.dryRun, "dry-run", false, "print what would be done; write nothing")
	oc.Flags().BoolVar(&o.keepUnsafe, "keep-unsafe", false, "keep settings talon security audit calls critical (exec security full, sandbox off, file tools outside the workspace) instead of narrowing them")
	oc.Flags().BoolVar(&o.force, "force", false, "replace an existing Talon config (a backup is kept) and existing workspace files")
	cmd.AddCommand(oc)
	return cmd
}

type migrateOpts struct {
	from                      string
	dryRun, keepUnsafe, force bool
}

// migrateOutput is the --json shape: the report plus where it came from and
// went.
type migrateOutput struct {
	Source struct {
		Config    string `json:"config"`
		StateDir  string `json:"stateDir"`
		Workspace string `json:"workspace"`
	} `json:"source"`
	Target struct {
		Config    string `json:"config"`
		Workspace string `json:"workspace"`
	} `json:"target"`
	DryRun  bool `json:"dryRun"`
	Written bool `json:"written"`
	migrate.Report
}

// openClawPaths resolves OpenClaw's state directory and config file the way
// OpenClaw does: --from, else $OPENCLAW_STATE_DIR and $OPENCLAW_CONFIG_PATH,
// else ~/.openclaw.
func (a *app) openClawPaths(from string) (stateDir, cfgPath string, err error) {
	home := a.env.Home
	if from != "" {
		from = config.ExpandHome(from, home)
		if fi, err := os.Stat(from); err == nil && !fi.IsDir() {
			abs, _ := filepath.Abs(from)
			return filepath.Dir(abs), abs, nil
		}
		abs, _ := filepath.Abs(from)
		return abs, filepath.Join(abs, "openclaw.json"), nil
	}
	stateDir = a.env.get("OPENCLAW_STATE_DIR")
	if stateDir == "" {
		if home == "" {
			return "", "", errors.New("cannot find the OpenClaw install: HOME is not set (hint: talon migrate openclaw --from DIR)")
		}
		stateDir = filepath.Join(home, ".openclaw")
	}
	stateDir, _ = filepath.Abs(config.ExpandHome(stateDir, home))
	cfgPath = a.env.get("OPENCLAW_CONFIG_PATH")
	if cfgPath == "" {
		cfgPath = filepath.Join(stateDir, "openclaw.json")
	}
	cfgPath, _ = filepath.Abs(config.ExpandHome(cfgPath, home))
	return stateDir, cfgPath, nil
}

// readOptional reads a file that may be missing (nil, nil then).
func readOptional(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// migrateLookup resolves ${VAR} from the environment and ${secret:NAME}
// from the secrets store without creating anything: a dry run must not
// even create the store's key.
func (a *app) migrateLookup(p paths) config.LookupEnv {
	var st *secretstore.Store
	opened := false
	return func(name string) (string, bool) {
		n, ok := strings.CutPrefix(name, "secret:")
		if !ok {
			return a.env.Lookup(name)
		}
		if !opened {
			opened = true
			envKey := a.env.get("TALON_SECRETS_KEY")
			_, keyErr := os.Stat(filepath.Join(p.StateDir, "secrets.key"))
			if _, err := os.Stat(secretstore.FilePath(p.StateDir)); err == nil && (envKey != "" || keyErr == nil) {
				st, _ = secretstore.Open(p.StateDir, envKey)
			}
		}
		if st == nil {
			return "", false
		}
		v, found, err := st.Get(n)
		return v, err == nil && found
	}
}

func (a *app) migrateOpenClaw(ctx context.Context, o migrateOpts) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	srcState, srcCfg, err := a.openClawPaths(o.from)
	if err != nil {
		return err
	}
	raw, err := os.ReadFile(srcCfg)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("migrate: no OpenClaw config at %s (hint: talon migrate openclaw --from DIR, the directory holding openclaw.json)", srcCfg)
	}
	if err != nil {
		return fmt.Errorf("migrate: reading %s: %w", srcCfg, err)
	}
	approvals, err := readOptional(filepath.Join(srcState, "exec-approvals.json"))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	jobs, err := readOptional(filepath.Join(srcState, "cron", "jobs.json"))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// Current OpenClaw versions keep approvals and jobs in their state
	// database; the JSON files are the legacy form (not yet imported by
	// openclaw doctor) and win when present.
	dbApprovals, dbJobs, dbNotes, err := openClawDB(ctx, filepath.Join(srcState, "state", "openclaw.sqlite"))
	if err != nil {
		return fmt.Errorf("migrate: %w (nothing was changed)", err)
	}
	where := map[string]string{"openclaw.json": srcCfg, "exec-approvals.json": filepath.Join(srcState, "exec-approvals.json"),
		"cron/jobs.json": filepath.Join(srcState, "cron", "jobs.json")}
	if approvals == nil {
		approvals = dbApprovals
		where["exec-approvals.json"] = "exec approvals in " + filepath.Join(srcState, "state", "openclaw.sqlite")
	}
	if jobs == nil {
		jobs = dbJobs
		where["cron/jobs.json"] = "cron jobs in " + filepath.Join(srcState, "state", "openclaw.sqlite")
	}
	dotEnv, err := readOptional(filepath.Join(srcState, ".env"))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	in := migrate.Input{Config: raw, ExecApprovals: approvals, CronJobs: jobs, Home: a.env.Home, KeepUnsafe: o.keepUnsafe, Lookup: a.migrateLookup(p)}
	if dotEnv != nil {
		in.DotEnv = migrate.ParseDotEnv(dotEnv)
	}
	if a.env.get("TALON_GATEWAY_TOKEN") == "" {
		in.NewToken = func() (string, error) {
			t, err := newToken()
			return t.Reveal(), err
		}
	}
	res, err := migrate.Map(in)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "migrate: bad input: ")
		for label, path := range where {
			if rest, ok := strings.CutPrefix(msg, label+": "); ok {
				msg = path + ": " + rest
			}
		}
		return fmt.Errorf("migrate: %s (nothing was changed)", msg)
	}
	res.Report.Unmapped = append(res.Report.Unmapped, dbNotes...)
	out := migrateOutput{DryRun: o.dryRun, Report: res.Report}
	out.Source.Config, out.Source.StateDir = srcCfg, srcState
	out.Source.Workspace = openClawWorkspace(res.Workspace, a.env.get("OPENCLAW_WORKSPACE_DIR"), srcState, &out.Report)
	out.Target.Config = p.Config
	out.Target.Workspace = a.workspaceDir(p, config.Default())
	entries := workspaceEntries(out.Source.Workspace)
	out.Files = migrate.PlanFiles(entries, agent.BootstrapFiles, func(name string) bool {
		_, err := os.Lstat(filepath.Join(out.Target.Workspace, name))
		return err == nil
	}, o.force)
	_, cfgErr := os.Stat(p.Config)
	exists := cfgErr == nil
	if exists && !o.force {
		if !o.dryRun {
			return fmt.Errorf("migrate: %s already exists; nothing was changed (hint: --force replaces it and keeps a backup; --dry-run shows what would change)", p.Config)
		}
		out.Warnings = append(out.Warnings, migrate.Note{Key: p.Config, Message: "already exists: without --force nothing would be written"})
	}
	if !o.dryRun {
		if err := a.applyMigration(ctx, p, res, &out, exists); err != nil {
			return err
		}
		out.Written = true
	}
	return a.printMigration(out)
}

// openClawWorkspace picks OpenClaw's workspace: the configured one, else
// $OPENCLAW_WORKSPACE_DIR, else the state directory's. A configured one that
// does not exist (an install copied elsewhere) falls back, with a note.
func openClawWorkspace(configured, env, stateDir string, rep *migrate.Report) string {
	def := filepath.Join(stateDir, "workspace")
	for _, c := range []string{configured, env} {
		if c == "" {
			continue
		}
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
		rep.Warnings = append(rep.Warnings, migrate.Note{Key: "agents.defaults.workspace", Message: c + " does not exist; the files are taken from " + def})
		break
	}
	return def
}

// workspaceEntries lists the top of OpenClaw's workspace without following
// symbolic links.
func workspaceEntries(dir string) []migrate.WorkspaceEntry {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []migrate.WorkspaceEntry
	for _, de := range des {
		fi, err := os.Lstat(filepath.Join(dir, de.Name()))
		if err != nil {
			continue
		}
		out = append(out, migrate.WorkspaceEntry{Name: de.Name(), Regular: fi.Mode().IsRegular(), Dir: fi.IsDir(), Size: fi.Size()})
	}
	return out
}

// applyMigration writes the result: secrets first (the config refers to
// them), then the config (atomically, after a backup of the old one), then
// cron jobs and workspace files.
func (a *app) applyMigration(ctx context.Context, p paths, res *migrate.Result, out *migrateOutput, exists bool) error {
	if err := ensureStateDir(p.StateDir); err != nil {
		return err
	}
	if len(res.Secrets) > 0 {
		st, err := secretstore.Open(p.StateDir, a.env.get("TALON_SECRETS_KEY"))
		if err != nil {
			return fmt.Errorf("migrate: opening the secrets store: %w", err)
		}
		for _, s := range res.Secrets {
			if s.Reuse {
				continue
			}
			if err := st.Set(s.Name, s.Value.Reveal()); err != nil {
				return fmt.Errorf("migrate: storing secret %s: %w (the config was not written)", s.Name, err)
			}
		}
	}
	if exists {
		old, err := os.ReadFile(p.Config)
		if err != nil {
			return fmt.Errorf("migrate: reading %s: %w", p.Config, err)
		}
		backup := p.Config + ".bak-" + strconv.FormatInt(time.Now().Unix(), 10)
		if err := config.WriteFileAtomic(backup, old, 0o600); err != nil {
			return fmt.Errorf("migrate: backing up the config: %w", err)
		}
		out.Warnings = append(out.Warnings, migrate.Note{Key: p.Config, Message: "replaced; the old file is " + backup})
	}
	if err := config.WriteFileAtomic(p.Config, config.Render(res.Tree), 0o600); err != nil {
		return fmt.Errorf("migrate: writing %s: %w", p.Config, err)
	}
	if len(res.Cron) > 0 {
		if err := a.importCron(ctx, p, res.Cron, out); err != nil {
			return err
		}
	}
	if err := copyWorkspaceFiles(out.Source.Workspace, out.Target.Workspace, out.Files); err != nil {
		return err
	}
	a.auditMigration(ctx, p, out)
	return nil
}

// importCron adds the jobs; a job with the same schedule and message as an
// existing one (an earlier migration) is not added twice.
func (a *app) importCron(ctx context.Context, p paths, jobs []migrate.CronJob, out *migrateOutput) error {
	st, err := store.Open(ctx, p.DB)
	if err != nil {
		return fmt.Errorf("migrate: opening the store: %w", err)
	}
	defer st.Close()
	have, err := st.CronJobs(ctx, time.Time{})
	if err != nil {
		return err
	}
	for _, j := range jobs {
		i := slices.IndexFunc(out.CronJobs, func(n migrate.CronNote) bool { return n.ID == j.Source && n.Action == "add" })
		if slices.ContainsFunc(have, func(h store.CronJob) bool { return h.Schedule == j.Schedule && h.Message == j.Message }) {
			if i >= 0 {
				out.CronJobs[i].Action, out.CronJobs[i].Reason = "exists", "the same job is already scheduled"
			}
			continue
		}
		if _, err := cron.Add(ctx, st, j.Schedule, j.Message, j.Name, "", migrateCreatedBy, time.Now()); err != nil {
			if i >= 0 {
				out.CronJobs[i].Action, out.CronJobs[i].Reason = "skip", err.Error()
			}
		}
	}
	return nil
}

// copyWorkspaceFiles copies the planned files. Each is opened without
// following a symbolic link and checked again to be a regular file, so a
// file swapped for a link after planning is not followed either.
func copyWorkspaceFiles(src, dst string, plan []migrate.FileNote) error {
	for i, f := range plan {
		if f.Action != "copy" && f.Action != "overwrite" {
			continue
		}
		b, err := readRegular(filepath.Join(src, f.Name))
		if err != nil {
			plan[i].Action, plan[i].Reason = "skip", err.Error()
			continue
		}
		if err := os.MkdirAll(dst, 0o700); err != nil {
			return fmt.Errorf("migrate: creating %s: %w", dst, err)
		}
		if err := config.WriteFileAtomic(filepath.Join(dst, f.Name), b, 0o600); err != nil {
			return fmt.Errorf("migrate: writing %s: %w", f.Name, err)
		}
	}
	return nil
}

func readRegular(path string) ([]byte, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("not read: %w", err)
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, migrate.MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > migrate.MaxFileBytes {
		return nil, errors.New("larger than 1 MiB")
	}
	return b, nil
}

// auditMigration records the migration in the audit log, when there is
// one (names and counts only, never values).
func (a *app) auditMigration(ctx context.Context, p paths, out *migrateOutput) {
	if _, err := os.Stat(p.DB); err != nil {
		return
	}
	st, err := store.Open(ctx, p.DB)
	if err != nil {
		return
	}
	defer st.Close()
	l, err := auditlog.Open(st, filepath.Join(p.StateDir, "audit.key"))
	if err != nil {
		return
	}
	names := []string{}
	for _, s := range out.Secrets {
		names = append(names, s.Name)
	}
	_, _ = l.Append(ctx, core.KindMigrate, "cli", "talon migrate openclaw", map[string]any{
		"from": out.Source.Config, "config": out.Target.Config, "secrets": names,
		"warnings": len(out.Warnings), "unmapped": len(out.Unmapped), "cronJobs": len(out.CronJobs),
	})
}

func (a *app) printMigration(out migrateOutput) error {
	if a.json {
		return a.printJSON(out)
	}
	a.outf("OpenClaw config %s\n", out.Source.Config)
	a.outf("mapped %d keys into %s\n", len(out.Mapped), out.Target.Config)
	for _, s := range out.Secrets {
		state := "stored in the secrets store"
		if !s.Stored {
			state = "already in the secrets store"
		}
		if out.DryRun {
			state = "would be stored in the secrets store"
		}
		a.outf("  secret %s: %s as %s (the config says \"${secret:%s}\")\n", s.From, state, s.Name, s.Name)
	}
	section := func(title string, notes []migrate.Note) {
		if len(notes) == 0 {
			return
		}
		a.outf("\n%s\n", title)
		for _, n := range notes {
			if n.Key == "" {
				a.outf("  %s\n", n.Message)
				continue
			}
			a.outf("  %s: %s\n", n.Key, n.Message)
		}
	}
	section("WARNINGS (settings narrowed or changed)", out.Warnings)
	section("NOT MAPPED", out.Unmapped)
	if len(out.CronJobs) > 0 {
		a.outf("\nCRON JOBS (imported jobs run untrusted: re-add one with talon cron add to run it as the owner)\n")
		for _, j := range out.CronJobs {
			a.outf("  %-13s %s %q", j.Action, j.ID, j.Schedule)
			if j.Reason != "" {
				a.outf("  (%s)", j.Reason)
			}
			a.outf("\n")
		}
	}
	if len(out.Files) > 0 {
		a.outf("\nWORKSPACE FILES %s -> %s\n", out.Source.Workspace, out.Target.Workspace)
		for _, f := range out.Files {
			a.outf("  %-13s %s", f.Action, f.Name)
			if f.Reason != "" {
				a.outf("  (%s)", f.Reason)
			}
			a.outf("\n")
		}
	}
	if out.DryRun {
		a.outf("\ndry run: nothing was written\n")
	} else {
		a.outf("\nwrote %s; check it with talon config validate and talon security audit\n", out.Target.Config)
	}
	return nil
}
