package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/release"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/version"
)

// updateCmd is `talon update`: the only way to replace the talon binary.
// It is an operator command; no tool or gateway method can run it.
func (a *app) updateCmd() *cobra.Command {
	var check, yes bool
	var manifestURL, to string
	c := &cobra.Command{
		Use:   "update [--check] [--yes] [--manifest-url URL] [--to VERSION]",
		Short: "Install a newer signed release over this binary (verified, with rollback)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.update(cmd.Context(), check, yes, manifestURL, to)
		},
	}
	c.Flags().BoolVar(&check, "check", false, "only report whether a newer release is available")
	c.Flags().BoolVar(&yes, "yes", false, "install without asking")
	c.Flags().StringVar(&manifestURL, "manifest-url", "", "release manifest to use (default: TALON_UPDATE_MANIFEST_URL, else the one compiled in)")
	c.Flags().StringVar(&to, "to", "", "install only this exact version")
	return c
}

func (a *app) update(ctx context.Context, check, yes bool, manifestURL, to string) error {
	if manifestURL == "" {
		manifestURL = a.env.get("TALON_UPDATE_MANIFEST_URL")
	}
	if manifestURL == "" {
		manifestURL = release.DefaultManifestURL()
	}
	if manifestURL == "" {
		return usagef("update: no manifest URL (hint: talon update --manifest-url https://…/manifest.json)")
	}
	roots, err := release.RootKeys()
	if err != nil {
		return fmt.Errorf("update: compiled-in root keys: %w", err)
	}
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		return fmt.Errorf("update: cannot find this binary: %w", err)
	}
	current := version.Current()
	u := &release.Updater{Net: netguard.Policy{}, Roots: roots, Now: time.Now, Exe: exe, Current: current, GOOS: goruntime.GOOS, GOARCH: goruntime.GOARCH}
	plan, err := u.Check(ctx, manifestURL, to)
	if err != nil {
		if !check {
			a.auditUpdate(ctx, core.KindUpdateRefused, manifestURL, map[string]any{"from": current, "reason": err.Error()})
		}
		return fmt.Errorf("update: %w", err)
	}
	if check {
		if a.json {
			return a.printJSON(map[string]any{
				"current": current, "latest": plan.Version, "channel": plan.Channel, "updateAvailable": plan.Newer,
				"minimumVersion": plan.MinimumVersion, "belowMinimum": plan.BelowMinimum,
				"issuedAt": plan.IssuedAt, "expiresAt": plan.ExpiresAt, "signingKeyId": plan.SigningKeyID,
				"artifact": plan.Artifact,
			})
		}
		if plan.Newer {
			a.outf("talon %s is available (running %s, channel %s); install it with: talon update --yes\n", plan.Version, current, plan.Channel)
		} else {
			a.outf("talon %s is up to date (channel %s)\n", current, plan.Channel)
		}
		if plan.BelowMinimum {
			a.outf("warning: %s is below the minimum safe version %s: update now\n", current, plan.MinimumVersion)
		}
		return nil
	}
	if !plan.Newer {
		a.outf("talon %s is up to date (channel %s)\n", current, plan.Channel)
		return nil
	}
	if !yes {
		a.errf("install talon %s over %s (running %s)? [y/N] ", plan.Version, exe, current)
		line, _ := bufio.NewReader(a.env.Stdin).ReadString('\n')
		if ans := strings.ToLower(strings.TrimSpace(line)); ans != "y" && ans != "yes" {
			return errors.New("update: not confirmed; nothing was changed (hint: talon update --yes)")
		}
	}
	res, err := u.Install(ctx, plan)
	data := map[string]any{"from": current, "to": plan.Version, "sha256": plan.Artifact.SHA256, "size": plan.Artifact.Size, "signingKeyId": plan.SigningKeyID, "rootKeyId": plan.RootKeyID}
	switch {
	case errors.Is(err, release.ErrHealthCheck):
		data["reason"] = err.Error()
		a.auditUpdate(ctx, core.KindUpdateRollback, manifestURL, data)
		return fmt.Errorf("update: %w", err)
	case err != nil:
		data["reason"] = err.Error()
		a.auditUpdate(ctx, core.KindUpdateRefused, manifestURL, data)
		return fmt.Errorf("update: %w", err)
	}
	a.auditUpdate(ctx, core.KindUpdateInstalled, manifestURL, data)
	if a.json {
		return a.printJSON(map[string]any{"updated": true, "from": res.From, "to": res.To, "binary": res.Exe, "previous": res.Previous})
	}
	a.outf("updated talon %s → %s at %s (previous binary kept at %s)\n", res.From, res.To, res.Exe, res.Previous)
	a.outf("a running gateway still runs %s: restart it to use %s (talon gateway restart, or your service manager)\n", res.From, res.To)
	return nil
}

// auditUpdate appends an update record to the audit log, creating the state
// directory and database if needed: replacing the binary is a side effect
// like any other (invariant 12). A failure to audit is reported, not fatal,
// because the binary has already been handled by then.
func (a *app) auditUpdate(ctx context.Context, kind, subject string, data map[string]any) {
	p, err := a.paths()
	if err == nil {
		err = ensureStateDir(p.StateDir)
	}
	var st *store.Store
	if err == nil {
		st, err = store.Open(ctx, p.DB)
	}
	if err == nil {
		defer st.Close()
		var l *auditlog.Log
		if l, err = auditlog.Open(st, filepath.Join(p.StateDir, "audit.key")); err == nil {
			_, err = l.Append(ctx, kind, "cli", subject, data)
		}
	}
	if err != nil {
		a.errf("warning: could not write the audit record %s: %v\n", kind, err)
	}
}
