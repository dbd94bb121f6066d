package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/hub"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/secretstore"
	"github.com/talonclaw/talon/internal/security"
	"github.com/talonclaw/talon/internal/skills"
	"github.com/talonclaw/talon/internal/tools"
)

// skillRow is one line of `skills list --json` (docs/skills.md).
type skillRow struct {
	Name        string `json:"name"`
	Version     string `json:"version"`
	Source      string `json:"source"`
	Publisher   string `json:"publisher"`
	Fingerprint string `json:"fingerprint"`
	Trusted     bool   `json:"trusted"`
	// Status: verified, restricted (verified, unsigned and not trusted),
	// modified (fails verification: not loaded), local (a workspace skill:
	// never signed, always restricted).
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

func (a *app) skillsManager() (*skills.Manager, paths, error) {
	p, err := a.paths()
	if err != nil {
		return nil, p, err
	}
	return skills.NewManager(p.StateDir), p, nil
}

// skillsConfig loads the config when there is one (skills commands work
// without it, with defaults).
func (a *app) skillsConfig(p paths) *config.Config {
	cfg, _, err := a.loadConfig(p)
	if err != nil {
		return nil
	}
	return cfg
}

func entryRow(m *skills.Manager, e *skills.LockEntry) skillRow {
	r := skillRow{Name: e.Name, Version: e.Version, Source: e.Source, Publisher: e.PublisherKey, Fingerprint: e.Fingerprint, Trusted: e.Trusted()}
	if _, err := m.Verify(e); err != nil {
		r.Status, r.Error = "modified", err.Error()
	} else if e.Restricted() {
		r.Status = "restricted"
	} else {
		r.Status = "verified"
	}
	return r
}

func (a *app) skillsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "skills", Short: "Install, verify, scan, sign and publish skills (docs/skills.md)"}
	cmd.AddCommand(a.skillsKeygen(), a.skillsPack(), a.skillsInstall(), a.skillsList(), a.skillsInfo(), a.skillsVerify(),
		a.skillsScan(), a.skillsTrust(), a.skillsRemove(), a.skillsPublish())
	return cmd
}

func (a *app) skillsKeygen() *cobra.Command {
	var out string
	c := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Make a publisher key: the secret key to FILE (0600), the public key to FILE.pub and stdout",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("skills keygen: --out FILE is required")
			}
			k, err := skills.GenerateKey()
			if err != nil {
				return err
			}
			f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return fmt.Errorf("skills keygen: %v (hint: it never overwrites a key; pick another --out)", err)
			}
			_, err = f.WriteString(skills.EncodeSecretKey(k))
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(out)
				return fmt.Errorf("skills keygen: %w", err)
			}
			pub := skills.PublicKeyOf(k)
			if err := config.WriteFileAtomic(out+".pub", []byte(pub+"\n"), 0o644); err != nil {
				return fmt.Errorf("skills keygen: %w", err)
			}
			if a.json {
				return a.printJSON(map[string]string{"publicKey": pub, "secretKeyFile": out, "publicKeyFile": out + ".pub"})
			}
			a.outf("%s\n", pub)
			return nil
		},
	}
	c.Flags().StringVar(&out, "out", "", "file for the secret key (FILE.pub gets the public key)")
	return c
}

func readKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	k, err := skills.DecodeSecretKey(string(data))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return k, nil
}

func (a *app) skillsPack() *cobra.Command {
	var keyFile, out string
	c := &cobra.Command{
		Use:   "pack DIR --key FILE --out BUNDLE",
		Short: "Make a signed bundle of a skill folder",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if keyFile == "" || out == "" {
				return usagef("skills pack: --key FILE and --out BUNDLE are required")
			}
			k, err := readKey(keyFile)
			if err != nil {
				return fmt.Errorf("skills pack: %w", err)
			}
			b, _, err := skills.PackDir(args[0], k)
			if err != nil {
				return fmt.Errorf("skills pack: %v", err)
			}
			enc, err := b.Encode()
			if err != nil {
				return err
			}
			if err := config.WriteFileAtomic(out, enc, 0o644); err != nil {
				return fmt.Errorf("skills pack: %w", err)
			}
			findings := skills.Scan(b.Files)
			if a.json {
				return a.printJSON(map[string]any{"name": b.Meta.Name, "version": b.Meta.Version, "fingerprint": b.Meta.Fingerprint,
					"publisher": b.Meta.Publisher.Key, "files": len(b.Meta.Files), "out": out, "findings": nonNil(findings)})
			}
			a.outf("packed %s@%s (%d files, fingerprint %s) into %s\n", b.Meta.Name, b.Meta.Version, len(b.Meta.Files), b.Meta.Fingerprint, out)
			a.printFindings(findings)
			return nil
		},
	}
	c.Flags().StringVar(&keyFile, "key", "", "publisher secret key (talon skills keygen)")
	c.Flags().StringVar(&out, "out", "", "bundle file to write")
	return c
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (a *app) printFindings(fs []skills.Finding) {
	for _, f := range fs {
		loc := f.File
		if f.Line > 0 {
			loc = fmt.Sprintf("%s:%d", f.File, f.Line)
		}
		a.outf("%-8s %s  %s  %s\n", f.Severity, f.CheckID, loc, f.Detail)
	}
}

func (a *app) skillsInstall() *cobra.Command {
	var allowUnsigned, accept, downgrade bool
	c := &cobra.Command{
		Use:   "install SOURCE",
		Short: "Install a skill from a bundle file, a folder, or NAME[@VERSION] from the configured registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, p, err := a.skillsManager()
			if err != nil {
				return err
			}
			if err := ensureStateDir(p.StateDir); err != nil {
				return err
			}
			src := args[0]
			opts := skills.InstallOptions{AllowUnsigned: allowUnsigned, AcceptCapabilities: accept, AllowDowngrade: downgrade}
			var b *skills.Bundle
			if fi, err := os.Stat(src); err == nil && fi.IsDir() {
				files, modes, err := skills.ReadDir(src, skills.DefaultLimits)
				if err != nil {
					return fmt.Errorf("skills install: %v", err)
				}
				if b, _, err = skills.NewBundle(files, modes, nil); err != nil {
					return fmt.Errorf("skills install: %v", err)
				}
				opts.Source = "directory"
			} else if err == nil {
				data, err := os.ReadFile(src)
				if err != nil {
					return fmt.Errorf("skills install: %w", err)
				}
				if b, err = skills.DecodeBundle(data, skills.DefaultLimits); err != nil {
					return fmt.Errorf("skills install: %v", err)
				}
				opts.Source = "bundle"
			} else {
				name, version, _ := strings.Cut(src, "@")
				if !skills.ValidName(name) || (version != "" && !skills.ValidVersion(version)) {
					return usagef("skills install: %q is not a file, a folder or NAME[@VERSION]", src)
				}
				cfg := a.skillsConfig(p)
				if cfg == nil || cfg.Skills.Registry.URL == "" {
					return fmt.Errorf("skills install: no registry is configured (hint: talon config set skills.registry.url URL and skills.registry.publicKey KEY)")
				}
				reg := cfg.Skills.Registry
				client, err := hub.NewClient(reg.URL, reg.PublicKey)
				if err != nil {
					return fmt.Errorf("skills install: %v", err)
				}
				lock, err := m.ReadLock()
				if err != nil {
					return err
				}
				got, err := client.Fetch(cmd.Context(), name, version, lock.Registries[reg.PublicKey])
				if err != nil {
					return fmt.Errorf("skills install: %s: %v", src, err)
				}
				b = got.Bundle
				opts.Source, opts.Registry, opts.RegistryKey, opts.Log = "registry", reg.URL, reg.PublicKey, got.Log
			}
			done, err := a.intent(cmd.Context(), nil, core.KindSkillInstall, b.Meta.Name+"@"+b.Meta.Version,
				map[string]any{"fingerprint": b.Meta.Fingerprint, "source": opts.Source, "signed": b.Signed()})
			if err != nil {
				return err
			}
			res, err := m.Install(b, opts)
			done(err)
			var ce *skills.ConsentError
			if errors.As(err, &ce) {
				a.errf("%s@%s would add capabilities:\n", b.Meta.Name, b.Meta.Version)
				for _, l := range ce.Diff.Lines() {
					a.errf("  %s\n", l)
				}
				return fmt.Errorf("skills install: not installed: the update adds capabilities (hint: review them and rerun with --accept-capabilities)")
			}
			if err != nil {
				return fmt.Errorf("skills install: %v", strings.TrimPrefix(err.Error(), "skills.Install: "))
			}
			e := res.Entry
			row := entryRow(m, &e)
			var diff []string
			if res.Diff != nil {
				diff = res.Diff.Lines()
			}
			if a.json {
				return a.printJSON(map[string]any{"name": row.Name, "version": row.Version, "source": row.Source, "publisher": row.Publisher,
					"fingerprint": row.Fingerprint, "trusted": row.Trusted, "status": row.Status, "previous": res.Previous,
					"capabilities": e.Capabilities, "capabilityDiff": nonNil(diff), "findings": nonNil(res.Findings)})
			}
			who := "unsigned"
			if e.Signed {
				who = "signed by " + e.PublisherKey
			}
			a.outf("installed %s@%s (%s, %s; fingerprint %s)\n", e.Name, e.Version, opts.Source, who, e.Fingerprint)
			for _, l := range diff {
				a.outf("  %s\n", l)
			}
			if e.Restricted() {
				a.outf("restricted until trusted: no exec, no network, no secrets (talon skills trust %s@%s)\n", e.Name, e.Version)
			}
			a.printFindings(res.Findings)
			return nil
		},
	}
	c.Flags().BoolVar(&allowUnsigned, "allow-unsigned", false, "install a bundle or folder without a publisher signature (restricted until trusted)")
	c.Flags().BoolVar(&accept, "accept-capabilities", false, "accept an update that adds capabilities (they are listed first)")
	c.Flags().BoolVar(&downgrade, "allow-downgrade", false, "install a version older than the one installed")
	return c
}

func (a *app) skillsList() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List installed and workspace skills with their publisher, fingerprint and status",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			rows, err := a.skillRows()
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"skills": nonNil(rows)})
			}
			if len(rows) == 0 {
				a.outf("no skills installed (talon skills install SOURCE)\n")
			}
			for _, r := range rows {
				fp := r.Fingerprint
				if len(fp) > 16 {
					fp = fp[:16]
				}
				trust := ""
				if r.Trusted {
					trust = " trusted"
				}
				a.outf("%-24s %-10s %-9s %-10s %s%s\n", r.Name, r.Version, r.Source, r.Status, fp, trust)
			}
			return nil
		},
	}
}

func (a *app) skillRows() ([]skillRow, error) {
	m, p, err := a.skillsManager()
	if err != nil {
		return nil, err
	}
	lock, err := m.ReadLock()
	if err != nil {
		return nil, err
	}
	var rows []skillRow
	for _, e := range lock.Entries() {
		rows = append(rows, entryRow(m, e))
	}
	if cfg := a.skillsConfig(p); cfg != nil {
		cat := skills.Load(skills.LoadOptions{Workspace: a.workspaceDir(p, cfg)})
		for _, l := range cat.Skills {
			if l.Source == skills.SourceWorkspace {
				rows = append(rows, skillRow{Name: l.Name, Version: l.Version, Source: l.Source, Status: "local"})
			}
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows, nil
}

// skillsAgentPolicy is what the config lets agentID do, in the terms
// skill capabilities are compared in.
func (a *app) skillsAgentPolicy(p paths, cfg *config.Config, agentID string) skills.AgentPolicy {
	ap := skills.AgentPolicy{WorkspaceOnly: cfg.Tools.FS.WorkspaceOnly}
	for _, spec := range tools.Catalog() {
		if policy.Enabled(cfg.Tools, spec.Name, spec.Group) && policy.AgentEnables(cfg, agentID, spec.Name, spec.Group) {
			ap.Tools = append(ap.Tools, spec.Name)
		}
	}
	sort.Strings(ap.Tools)
	ap.Bins = append(slices.Clone(cfg.Tools.Exec.Allowlist), cfg.Tools.Exec.SafeBins...)
	ap.Hosts = slices.Clone(cfg.Tools.Web.Fetch.AllowedHostnames)
	if st, err := secretstore.Open(p.StateDir, a.env.get("TALON_SECRETS_KEY")); err == nil {
		ap.Secrets, _ = st.List()
	}
	return ap
}

func (a *app) skillsInfo() *cobra.Command {
	return &cobra.Command{
		Use:   "info NAME",
		Short: "Show an installed skill: publisher, fingerprint, capabilities, scan findings, and what exceeds the agent's policy",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, p, err := a.skillsManager()
			if err != nil {
				return err
			}
			lock, err := m.ReadLock()
			if err != nil {
				return err
			}
			e := lock.Skills[args[0]]
			if e == nil {
				return fmt.Errorf("skills info: no skill %q is installed (hint: talon skills list)", args[0])
			}
			row := entryRow(m, e)
			info := map[string]any{"name": row.Name, "version": row.Version, "source": row.Source, "publisher": row.Publisher,
				"fingerprint": row.Fingerprint, "trusted": row.Trusted, "status": row.Status, "registry": e.Registry,
				"registryKey": e.RegistryKey, "restricted": e.Restricted(), "capabilities": e.Capabilities, "installedAt": e.InstalledAt}
			if row.Error != "" {
				info["error"] = row.Error
			}
			var excess []skills.Excess
			if v, err := m.Verify(e); err == nil {
				info["description"] = v.Skill.Description
				info["files"] = len(v.Meta.Files)
				files, _, _ := skills.ReadDir(v.Dir, skills.DefaultLimits)
				info["findings"] = nonNil(skills.Scan(files))
				if cfg := a.skillsConfig(p); cfg != nil {
					caps := e.Capabilities
					if e.Restricted() {
						caps = caps.Restricted()
					}
					excess = caps.Exceeds(a.skillsAgentPolicy(p, cfg, "main"))
				}
			}
			info["exceeds"] = nonNil(excess)
			if a.json {
				return a.printJSON(info)
			}
			a.outf("%s@%s  %s  %s\n", row.Name, row.Version, row.Source, row.Status)
			if d, ok := info["description"].(string); ok {
				a.outf("  %s\n", d)
			}
			a.outf("  publisher   %s\n  fingerprint %s\n  trusted     %v\n", orNone(row.Publisher), row.Fingerprint, row.Trusted)
			for _, l := range (skills.CapDiff{Added: e.Capabilities}).Lines() {
				a.outf("  capability  %s\n", strings.TrimPrefix(l, "+ "))
			}
			for _, x := range excess {
				a.outf("  exceeds     %s\n", x)
			}
			if row.Error != "" {
				a.outf("  error       %s\n", row.Error)
			}
			return nil
		},
	}
}

func orNone(s string) string {
	if s == "" {
		return "(unsigned)"
	}
	return s
}

func (a *app) skillsVerify() *cobra.Command {
	return &cobra.Command{
		Use:   "verify [NAME]",
		Short: "Re-check installed skills against skills.lock and their signatures (exit 1 when any fails)",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := a.skillsManager()
			if err != nil {
				return err
			}
			lock, err := m.ReadLock()
			if err != nil {
				return err
			}
			entries := lock.Entries()
			if len(args) == 1 {
				e := lock.Skills[args[0]]
				if e == nil {
					return fmt.Errorf("skills verify: no skill %q is installed (hint: talon skills list)", args[0])
				}
				entries = []*skills.LockEntry{e}
			}
			type res struct {
				Name        string `json:"name"`
				Version     string `json:"version"`
				Fingerprint string `json:"fingerprint"`
				OK          bool   `json:"ok"`
				Error       string `json:"error,omitempty"`
			}
			out := []res{}
			failed := 0
			for _, e := range entries {
				r := res{Name: e.Name, Version: e.Version, Fingerprint: e.Fingerprint, OK: true}
				if _, err := m.Verify(e); err != nil {
					r.OK, r.Error = false, err.Error()
					failed++
				}
				out = append(out, r)
			}
			if a.json {
				if err := a.printJSON(map[string]any{"ok": failed == 0, "skills": out}); err != nil {
					return err
				}
			} else {
				for _, r := range out {
					if r.OK {
						a.outf("ok      %s@%s\n", r.Name, r.Version)
					} else {
						a.outf("FAILED  %s@%s: %s\n", r.Name, r.Version, r.Error)
					}
				}
			}
			if failed > 0 {
				if a.json {
					return &silentError{code: 1}
				}
				return fmt.Errorf("skills verify: %d skill(s) failed verification and will not be loaded (hint: talon skills install it again, or talon skills remove it)", failed)
			}
			return nil
		},
	}
}

func (a *app) skillsScan() *cobra.Command {
	var strict bool
	c := &cobra.Command{
		Use:   "scan PATH",
		Short: "Scan a skill folder, bundle or file for malicious patterns (exit 1 only with --strict and a critical finding)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := scanInput(args[0])
			if err != nil {
				return fmt.Errorf("skills scan: %v", err)
			}
			fs := skills.Scan(files)
			if a.json {
				if err := a.printJSON(map[string]any{"findings": nonNil(fs)}); err != nil {
					return err
				}
			} else if len(fs) == 0 {
				a.outf("no findings in %d file(s)\n", len(files))
			} else {
				a.printFindings(fs)
			}
			if strict && skills.Worst(fs) == skills.SevCritical {
				if a.json {
					return &silentError{code: 1}
				}
				return fmt.Errorf("skills scan: critical findings")
			}
			return nil
		},
	}
	c.Flags().BoolVar(&strict, "strict", false, "exit 1 when a finding is critical")
	return c
}

// scanInput reads what `skills scan` looks at: a folder, a bundle, or one
// file.
func scanInput(path string) (map[string][]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		files, _, err := skills.ReadDir(path, skills.DefaultLimits)
		return files, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) > 2 && data[0] == 0x1f && data[1] == 0x8b {
		b, err := skills.DecodeBundle(data, skills.DefaultLimits)
		if err != nil {
			return nil, err
		}
		return b.Files, nil
	}
	return map[string][]byte{filepath.Base(path): data}, nil
}

func (a *app) skillsTrust() *cobra.Command {
	return &cobra.Command{
		Use:   "trust NAME@VERSION",
		Short: "Trust this exact version (and fingerprint) of an installed skill: its text reaches the model unmarked and an unsigned one is no longer restricted",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, version, ok := strings.Cut(args[0], "@")
			if !ok || name == "" || version == "" {
				return usagef("skills trust: want NAME@VERSION, e.g. weather@1.2.0")
			}
			m, _, err := a.skillsManager()
			if err != nil {
				return err
			}
			done, err := a.intent(cmd.Context(), nil, core.KindSkillTrust, args[0], nil)
			if err != nil {
				return err
			}
			e, err := m.Trust(name, version)
			done(err)
			if err != nil {
				return fmt.Errorf("skills trust: %v", err)
			}
			if a.json {
				return a.printJSON(entryRow(m, e))
			}
			a.outf("trusted %s@%s (fingerprint %s)\n", e.Name, e.Version, e.Fingerprint)
			return nil
		},
	}
}

func (a *app) skillsRemove() *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Uninstall a managed skill",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, _, err := a.skillsManager()
			if err != nil {
				return err
			}
			done, err := a.intent(cmd.Context(), nil, core.KindSkillRemove, args[0], nil)
			if err != nil {
				return err
			}
			err = m.Remove(args[0])
			done(err)
			if err != nil {
				return fmt.Errorf("skills remove: %v", err)
			}
			a.outf("removed %s\n", args[0])
			return nil
		},
	}
}

func (a *app) skillsPublish() *cobra.Command {
	var registry, token string
	c := &cobra.Command{
		Use:   "publish BUNDLE --registry URL --token TOKEN",
		Short: "Publish a signed bundle to a registry",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if registry == "" || token == "" {
				return usagef("skills publish: --registry URL and --token TOKEN are required")
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("skills publish: %w", err)
			}
			client, err := hub.NewClient(registry, "")
			if err != nil {
				return usagef("skills publish: %v", err)
			}
			p, err := client.Publish(cmd.Context(), data, token)
			if err != nil {
				return fmt.Errorf("skills publish: %v", err)
			}
			if a.json {
				return a.printJSON(p)
			}
			a.outf("published %s@%s (fingerprint %s, log index %d)\n", p.Name, p.Version, p.Fingerprint, p.LogIndex)
			a.printFindings(p.Findings)
			return nil
		},
	}
	c.Flags().StringVar(&registry, "registry", "", "registry base URL")
	c.Flags().StringVar(&token, "token", "", "publisher token (talon hub token create)")
	return c
}

// skillsAudit is the skills part of `talon security audit`: every
// installed skill verified, scanned and compared with the main agent's
// policy.
func (a *app) skillsAudit(p paths, cfg *config.Config) *security.SkillsAudit {
	m := skills.NewManager(p.StateDir)
	lock, err := m.ReadLock()
	if err != nil {
		return &security.SkillsAudit{LockError: err.Error()}
	}
	sa := &security.SkillsAudit{}
	ap := a.skillsAgentPolicy(p, cfg, "main")
	for _, e := range lock.Entries() {
		st := security.SkillState{Name: e.Name, Version: e.Version, Source: e.Source, Signed: e.Signed, Trusted: e.Trusted()}
		v, err := m.Verify(e)
		if err != nil {
			st.VerifyError = err.Error()
			sa.Skills = append(sa.Skills, st)
			continue
		}
		files, _, _ := skills.ReadDir(v.Dir, skills.DefaultLimits)
		for _, f := range skills.Scan(files) {
			s := fmt.Sprintf("%s %s:%d", f.CheckID, f.File, f.Line)
			switch f.Severity {
			case skills.SevCritical:
				st.Critical = append(st.Critical, s)
			case skills.SevWarn:
				st.Warn = append(st.Warn, s)
			}
		}
		caps := e.Capabilities
		if e.Restricted() {
			caps = caps.Restricted()
		}
		for _, x := range caps.Exceeds(ap) {
			st.Exceeds = append(st.Exceeds, x.String())
		}
		sa.Skills = append(sa.Skills, st)
	}
	return sa
}
