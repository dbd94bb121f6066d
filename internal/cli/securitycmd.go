package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/sandbox"
	"github.com/talonclaw/talon/internal/secretstore"
	"github.com/talonclaw/talon/internal/security"
	"github.com/talonclaw/talon/internal/store"
)

func (a *app) securityCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "security",
		Short: "Check this installation's security",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("security: missing subcommand (hint: talon security audit)")
		},
	}
	var deep, fix, strict bool
	audit := &cobra.Command{
		Use:   "audit [--deep] [--fix] [--strict]",
		Short: "Report what is unsafe in this setup; --fix repairs the safe subset; --deep probes the running gateway",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.securityAudit(cmd.Context(), deep, fix, strict)
		},
	}
	audit.Flags().BoolVar(&deep, "deep", false, "also probe the running gateway as an attacker would, and check this binary's modules against the offline vulnerability database")
	audit.Flags().BoolVar(&fix, "fix", false, "apply the safe fixes (they only narrow; docs/security-audit.md lists them), with a config backup")
	audit.Flags().BoolVar(&strict, "strict", false, "exit 1 when any finding is critical")
	cmd.AddCommand(audit)
	return cmd
}

func (a *app) auditInput(p paths) (security.AuditInput, error) {
	in := security.AuditInput{ConfigPath: p.Config, StateDir: p.StateDir, Home: a.env.Home, Lookup: a.env.Lookup, SandboxMissing: sandbox.Probe().Missing(), NoExecGuard: !sandbox.ExecGuardAvailable(),
		DangerousBind: func(path, mode string) string {
			s := sandbox.Spec{Workspace: "/"}
			if mode == "rw" {
				s.ReadWrite = []string{path}
			} else {
				s.ReadOnly = []string{path}
			}
			if err := s.Validate(a.env.Home, p.StateDir); err != nil {
				return err.Error()
			}
			return ""
		}}
	cfg, f, err := config.Load(p.Config, a.env.Lookup)
	if err == nil && cfg.Gateway.Auth.Token.IsZero() {
		cfg, _, err = a.loadConfig(p) // TALON_GATEWAY_TOKEN fills an unset token
	}
	var ve *config.ValidationError
	switch {
	case errors.Is(err, fs.ErrNotExist):
		in.Config, in.Tree = config.Default(), map[string]any{}
	case errors.As(err, &ve) && f != nil:
		// An invalid config is exactly what an audit must still look at:
		// report the problems, and audit what remains once the offending
		// keys are dropped (the raw file is checked too).
		in.Tree, in.Invalid = f.Tree, ve.Problems
		in.Config = config.Default()
		work := config.MergePatch(f.Tree, map[string]any{})
		for range 8 {
			c, verr := config.Validate(work, a.env.Lookup)
			if verr == nil {
				in.Config = c
				break
			}
			var v2 *config.ValidationError
			if !errors.As(verr, &v2) {
				break
			}
			for _, pr := range v2.Problems {
				if pr.Path == "" || config.UnsetPath(work, pr.Path) != nil {
					work = map[string]any{}
				}
			}
		}
	case err != nil:
		return in, err
	default:
		in.Config, in.Tree = cfg, f.Tree
	}
	in.Skills = a.skillsAudit(p, in.Config)
	return in, nil
}

func (a *app) securityAudit(ctx context.Context, deep, fix, strict bool) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	in, err := a.auditInput(p)
	if err != nil {
		return err
	}
	findings := security.Audit(in)
	var fixed []string
	if fix {
		if fixed, err = a.applyFixes(p, in, findings); err != nil {
			return err
		}
		a.auditFixes(ctx, p, fixed)
		if in, err = a.auditInput(p); err != nil {
			return err
		}
		findings = security.Audit(in)
	}
	if deep {
		findings = append(findings, a.deepProbe(ctx, in.Config)...)
		findings = append(findings, a.vulnFindings(p)...)
	}
	summary := map[string]int{security.Critical: 0, security.Warn: 0, security.Info: 0}
	for _, f := range findings {
		summary[f.Severity]++
	}
	if a.json {
		out := map[string]any{"findings": findings, "summary": summary}
		if fix {
			out["fixed"] = nonNilStrings(fixed)
		}
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else {
		for _, line := range fixed {
			a.outf("fixed: %s\n", line)
		}
		for _, sev := range []string{security.Critical, security.Warn, security.Info} {
			first := true
			for _, f := range findings {
				if f.Severity != sev {
					continue
				}
				if first {
					a.outf("\n%s\n", strings.ToUpper(sev))
					first = false
				}
				a.outf("  %-40s %s\n", f.CheckID, f.Title)
				if f.Detail != "" {
					a.outf("  %-40s %s\n", "", f.Detail)
				}
				if f.Fix != "" && sev != security.Info {
					a.outf("  %-40s fix: %s\n", "", f.Fix)
				}
			}
		}
		a.outf("\n%d critical, %d warn, %d info\n", summary[security.Critical], summary[security.Warn], summary[security.Info])
	}
	if strict && summary[security.Critical] > 0 {
		return &silentError{code: 1}
	}
	return nil
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// applyFixes repairs only what can be tightened without widening anything:
// file modes here, and the config changes of security.FixConfig (log
// redaction, open groups, a missing or weak token (announced), literal
// secrets moved into the secrets store, askFallback, runners in exec
// lists, sandbox network, session visibility, a budget). The config is
// backed up first and written atomically.
func (a *app) applyFixes(p paths, in security.AuditInput, findings []security.Finding) ([]string, error) {
	var done []string
	for _, f := range findings {
		if !f.Fixable || !strings.HasSuffix(f.CheckID, ".perms") {
			continue
		}
		path := f.Path
		want := fs.FileMode(0o600)
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			want = 0o700
		}
		if err := os.Chmod(path, want); err != nil {
			return done, fmt.Errorf("fixing %s: %w", path, err)
		}
		done = append(done, fmt.Sprintf("chmod %04o %s", want, path))
	}
	raw, err := os.ReadFile(p.Config)
	if errors.Is(err, fs.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return done, fmt.Errorf("reading config: %w", err)
	}
	tree, err := config.ParseTree(raw)
	if err != nil {
		return done, err
	}
	edits, err := security.FixConfig(tree, findings, security.FixDeps{
		NewToken: func() (string, error) {
			tok, err := newToken()
			return tok.Reveal(), err
		},
		StoreSecret: a.storeFixedSecret(p),
	})
	done = append(done, edits...)
	if err != nil {
		return done, err
	}
	if len(edits) == 0 {
		return done, nil
	}
	// The fixes may not add a problem; a config that was already invalid
	// (lan bind with auth none, say) is still tightened.
	if _, err := config.Validate(tree, a.env.Lookup); err != nil {
		before := map[string]bool{}
		for _, pr := range in.Invalid {
			before[pr.Path+"\x00"+pr.Message] = true
		}
		var ve *config.ValidationError
		if !errors.As(err, &ve) {
			return done, fmt.Errorf("the fixed config would be invalid; nothing was written: %w", err)
		}
		for _, pr := range ve.Problems {
			if !before[pr.Path+"\x00"+pr.Message] {
				return done, fmt.Errorf("the fixed config would be invalid; nothing was written: %w", err)
			}
		}
	}
	backup := p.Config + ".bak-" + strconv.FormatInt(time.Now().Unix(), 10)
	if err := config.WriteFileAtomic(backup, raw, 0o600); err != nil {
		return done, fmt.Errorf("backing up the config: %w", err)
	}
	if err := config.WriteFileAtomic(p.Config, config.Render(tree), 0o600); err != nil {
		return done, fmt.Errorf("writing config: %w", err)
	}
	return append(done, "config backed up to "+backup), nil
}

// storeFixedSecret keeps a secret --fix moves out of the config in the
// encrypted store, under name or, when name holds another value, name_2,
// name_3, ….
func (a *app) storeFixedSecret(p paths) func(name, value string) (string, error) {
	return func(name, value string) (string, error) {
		st, err := secretstore.Open(p.StateDir, a.env.get("TALON_SECRETS_KEY"))
		if err != nil {
			return "", err
		}
		for i := 1; ; i++ {
			n := name
			if i > 1 {
				n = fmt.Sprintf("%s_%d", name, i)
			}
			old, found, err := st.Get(n)
			if err != nil {
				return "", err
			}
			if found && old != value {
				continue
			}
			if !found {
				if err := st.Set(n, value); err != nil {
					return "", err
				}
			}
			return n, nil
		}
	}
}

// deepProbe attacks the running gateway the way a stranger would and
// reports what it saw.
func (a *app) deepProbe(ctx context.Context, cfg *config.Config) []security.Finding {
	var out []security.Finding
	add := func(id, sev, title, detail string) {
		out = append(out, security.Finding{CheckID: id, Severity: sev, Title: title, Detail: detail})
	}
	port := strconv.Itoa(cfg.Gateway.Port)
	host := "127.0.0.1"
	if cfg.Gateway.Bind == "custom" {
		host = cfg.Gateway.CustomBindHost
	}
	url := "ws://" + net.JoinHostPort(host, port) + "/"
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 2*time.Second); err != nil {
		add("deep.gateway_down", security.Info, "no gateway answered at "+url, "start it with talon gateway run, then run --deep again")
		return out
	} else {
		c.Close()
	}
	refused := func(err error) bool {
		var pe *protocol.Error
		return errors.As(err, &pe) && (pe.Code == protocol.CodeUnauthorized || pe.Code == protocol.CodeAuthRateLimited)
	}
	// 1. No credentials.
	if c, err := gateway.Dial(ctx, url, gateway.DialOptions{ClientID: "talon-audit"}); err == nil {
		c.Close()
		sev := security.Warn
		if cfg.Gateway.Bind != "loopback" {
			sev = security.Critical
		}
		add("deep.no_auth_accepted", sev, "the gateway accepted a connection without credentials", "auth mode "+cfg.Gateway.Auth.Mode)
	} else if refused(err) {
		add("deep.no_auth_refused", security.Info, "a connection without credentials was refused", err.Error())
	}
	// 2. A wrong token.
	if cfg.Gateway.Auth.Mode != "none" {
		if c, err := gateway.Dial(ctx, url, gateway.DialOptions{Token: "talon-audit-wrong-token-0123456789", ClientID: "talon-audit"}); err == nil {
			c.Close()
			add("deep.wrong_token_accepted", security.Critical, "the gateway accepted a wrong token", "")
		} else if refused(err) {
			add("deep.wrong_token_refused", security.Info, "a wrong token was refused", err.Error())
		}
	}
	// 3. A cross-site page.
	probe := netguard.Policy{AllowedOrigins: []string{"http://" + net.JoinHostPort(host, port)}, MaxRedirects: -1}.Client()
	_, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"https://evil.example"}}, HTTPClient: probe})
	switch {
	case err == nil:
		add("deep.cross_site_accepted", security.Critical, "a cross-site web page could open a WebSocket", "Origin https://evil.example was accepted")
	case resp != nil && resp.StatusCode == http.StatusForbidden:
		add("deep.cross_site_refused", security.Info, "a cross-site WebSocket was refused (403)", "")
	}
	// 4. Reachability from this host's other addresses.
	if cfg.Gateway.Bind == "loopback" {
		addrs, _ := net.InterfaceAddrs()
		for _, ad := range addrs {
			ipn, ok := ad.(*net.IPNet)
			if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
				continue
			}
			c, err := net.DialTimeout("tcp", net.JoinHostPort(ipn.IP.String(), port), time.Second)
			if err == nil {
				c.Close()
				add("deep.reachable_beyond_loopback", security.Critical, "the gateway port answers on "+ipn.IP.String(), "bind is loopback, yet something listens on this port on another address")
			} else {
				add("deep.not_reachable", security.Info, "not reachable on "+ipn.IP.String(), "")
			}
		}
	}
	return out
}

// auditFixes records what --fix changed in the audit log, when there is one.
func (a *app) auditFixes(ctx context.Context, p paths, fixed []string) {
	if len(fixed) == 0 {
		return
	}
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
	for _, f := range fixed {
		_, _ = l.Append(ctx, core.KindAuditFix, "cli", "security audit --fix", map[string]any{"change": f})
	}
}
