package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/logging"
	"github.com/talonclaw/talon/internal/secret"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/version"
)

func (a *app) gatewayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run and manage the gateway daemon",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("gateway: missing subcommand (hint: talon gateway run)")
		},
	}
	var port int
	var bind string
	run := &cobra.Command{
		Use:   "run",
		Short: "Run the gateway in the foreground until SIGINT/SIGTERM",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("port") && (port < 0 || port > 65535) {
				return usagef("--port: %d is not a port number (0..65535; 0 picks a free one)", port)
			}
			if cmd.Flags().Changed("bind") {
				switch bind {
				case "loopback", "lan", "tailnet", "custom":
				default:
					return usagef("--bind: %q is not one of loopback|lan|tailnet|custom", bind)
				}
			}
			return a.runGateway(cmd.Context(), cmd.Flags().Changed("port"), port, bind)
		},
	}
	run.Flags().IntVar(&port, "port", 0, "port to listen on (default gateway.port, 18789; 0 picks a free port)")
	run.Flags().StringVar(&bind, "bind", "", "where to listen: loopback|lan|tailnet|custom (default gateway.bind)")
	cmd.AddCommand(run)
	cmd.AddCommand(a.gatewayServiceCmds()...)
	return cmd
}

func (a *app) runGateway(ctx context.Context, portSet bool, port int, bind string) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	if err := ensureStateDir(p.StateDir); err != nil {
		return err
	}
	created, tok, err := ensureConfig(p)
	if err != nil {
		return err
	}
	if created {
		a.errf("talon: wrote a new config with a fresh gateway token to %s\n", p.Config)
	}
	cfg, _, err := a.loadConfig(p)
	if err != nil {
		return err
	}
	if bind != "" {
		cfg.Gateway.Bind = bind
	}
	if portSet {
		// 0 picks a free port; the listening line tells which.
		cfg.Gateway.Port = port
	}

	sec, err := a.newSecretSet(p, cfg)
	if err != nil {
		return err
	}

	logFile := cfg.Logging.File
	if logFile == "" {
		logFile = p.LogFile
	}
	logger, err := logging.New(logging.Options{
		Level:           cfg.Logging.Level,
		Format:          cfg.Logging.Format,
		File:            logFile,
		MaxSizeBytes:    int64(cfg.Logging.MaxSizeMB) << 20,
		MaxFiles:        cfg.Logging.MaxFiles,
		Stderr:          a.env.Stderr,
		RedactSensitive: cfg.Logging.RedactSensitive != "off",
		Scrub:           sec.live.Scrub,
	})
	if err != nil {
		return err
	}
	defer logger.Close()

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	sys, err := a.newSystem(ctx, p, cfg, sec, logger, created, tok)
	if err != nil {
		return err
	}
	return sys.Run(ctx)
}

// System is the gateway process, in the style of tailscale's tsd.System:
// it owns every part — store, secrets and the scrubber, the audit log,
// approvals, the agent, the channel router and its adapters, the cron
// scheduler and the gateway — makes each with what it needs, in dependency
// order, and runs and stops them. Parts that must reach a part made after
// them (approvals and the router reach operators through the gateway) are
// given the System's own methods, which find that part once it exists;
// nothing is wired by assigning another part's fields afterwards.
//
// Run starts the parts and serves until ctx ends; stopping is two-phase:
// no new turns, running turns drain until a deadline (then are
// cancelled), the channels stop, background processes are killed, and the
// store closes last, so nothing writes after it.
type System struct {
	app    *app
	paths  paths
	log    *logging.Logger
	sec    *secretSet
	store  *store.Store
	rt     *runtime
	sched  *cron.Scheduler
	gw     atomic.Pointer[gateway.Gateway]
	drain  time.Duration // how long running turns may finish at stop
	closed bool
}

func (a *app) newSystem(ctx context.Context, p paths, cfg *config.Config, sec *secretSet, logger *logging.Logger, created bool, tok secret.Secret) (*System, error) {
	sys := &System{app: a, paths: p, log: logger, sec: sec, drain: 20 * time.Second}
	st, err := store.Open(ctx, p.DB)
	if err != nil {
		return nil, err
	}
	sys.store = st
	rt, err := a.newRuntime(ctx, p, cfg, st, sec, logger.Logger, approverHooks{
		HasApprover: sys.hasApprover, NotifyApprovals: sys.notifyApprovals,
		OnPairing: sys.notifyPairing, OnAlert: sys.notifyAlert, ChatApprovers: true})
	if err != nil {
		st.Close()
		return nil, err
	}
	sys.rt = rt
	sys.sched = &cron.Scheduler{Store: st, Agent: rt.agent, Logger: logger.Logger}
	logFile := cfg.Logging.File
	if logFile == "" {
		logFile = p.LogFile
	}
	g, err := gateway.New(gateway.Options{
		Agent:     rt.agent,
		Approvals: rt.approvals,
		Audit:     rt.audit,
		AuditTail: func(ctx context.Context, n int) (any, error) {
			if rt.auditLog == nil {
				return nil, errors.New("the audit log is off (audit.enabled)")
			}
			return rt.auditLog.Tail(ctx, n)
		},
		AuditVerify:   consoleVerify(rt),
		SecurityAudit: a.consoleAudit(p, rt),
		SkillsStatus: func(_ context.Context, agentID string) (any, error) {
			return rt.skills.Status(agentID, p.StateDir), nil
		},
		OnConfig:   rt.setConfig,
		Pairing:    &access.Pairing{Store: st, BootstrapOwner: a.bootstrapOwner(p, rt.setConfig)},
		Channels:   rt.router,
		Config:     cfg,
		ConfigPath: p.Config,
		Env:        a.env.Lookup,
		Store:      st,
		Logger:     logger,
		LogFile:    logFile,
		Scrub:      rt.secrets.live.Scrub,
		Version:    version.Current(),
		StateDir:   p.StateDir,
		Ready: func(addr net.Addr) {
			host, portStr, _ := net.SplitHostPort(addr.String())
			a.outf("gateway listening on ws://%s\n", net.JoinHostPort(host, portStr))
			uiHost := host
			if uiHost == "0.0.0.0" || uiHost == "::" {
				uiHost = "127.0.0.1"
			}
			ui := "http://" + net.JoinHostPort(uiHost, portStr) + "/"
			if created && !tok.IsZero() {
				// Only on the run that generated the token, and only in the
				// URL fragment, which browsers never send to a server.
				a.errf("talon: control ui: %s#token=%s\n", ui, tok.Reveal())
			} else if t := cfg.Gateway.Auth.Token; cfg.Gateway.Auth.Mode == "token" && !t.IsZero() && isTerminal(a.env.Stderr) {
				// A person at a terminal gets a link to click; a service's
				// log (not a terminal) never gets the token.
				a.errf("talon: control ui: %s#token=%s\n", ui, t.Reveal())
			} else {
				a.errf("talon: control ui: %s (token: talon config get gateway.auth.token --reveal)\n", ui)
			}
			go releaseStartupMemory(ctx)
		},
	})
	if err != nil {
		st.Close()
		return nil, err
	}
	sys.gw.Store(g)
	return sys, nil
}

// The System's hooks for parts made before the gateway.
func (s *System) hasApprover() bool {
	g := s.gw.Load()
	return g != nil && g.HasApprover()
}

func (s *System) notifyApprovals(event string, payload any) {
	if g := s.gw.Load(); g != nil {
		g.NotifyApprovals(event, payload)
	}
}

func (s *System) notifyPairing(r store.PairingRequest) {
	if g := s.gw.Load(); g != nil {
		g.NotifyPairing(r)
	}
}

func (s *System) notifyAlert(ev agent.Event) {
	if g := s.gw.Load(); g != nil {
		g.NotifyAlert(ev)
	}
}

// Run starts every part and serves until ctx ends, then stops them.
func (s *System) Run(ctx context.Context) error {
	defer s.stop(ctx)
	for _, p := range s.parts() {
		if p.start != nil {
			p.start(ctx)
		}
	}
	return s.gw.Load().Run(ctx)
}

// part is one piece of the running process with its start and stop (nil:
// nothing to do). Parts start in order and stop in reverse order.
type part struct {
	name  string
	start func(ctx context.Context)
	stop  func(ctx context.Context) error
}

// parts are the System's parts in start order. The gateway is started
// last by Run (it serves until ctx ends) and has stopped serving before
// any part stops, so stopping in reverse is the two-phase stop: no new
// turns and running turns drain until the deadline (then are cancelled),
// background processes are killed, the channels stop, and the store
// closes last — nothing writes after it.
func (s *System) parts() []part {
	rt, st, logger := s.rt, s.store, s.log
	var orphans []store.Approval
	return []part{
		{name: "store", stop: func(context.Context) error { return st.Close() }},
		{name: "approvals", start: func(ctx context.Context) {
			// Approvals left pending by an earlier process belong to
			// turns that died with it: expire them before anything new is
			// asked, so no approver acts on a request that can no longer
			// run anything. The owner is told once the channels run; the
			// turns themselves are resumed from the inbound journal and
			// ask again.
			var err error
			if orphans, err = st.ExpireOrphanedApprovals(ctx, time.Now()); err != nil {
				logger.Logger.Warn("expiring approvals left by an earlier run failed", "err", err)
			}
			for _, ap := range orphans {
				rt.audit(ctx, core.KindApprovalResolve, "system", ap.Tool,
					map[string]any{"id": ap.ID, "decision": "expired", "reason": "orphaned by a restart", "planHash": ap.PlanHash, "session": ap.SessionKey})
			}
		}},
		{name: "channels", start: func(ctx context.Context) {
			s.app.startChannels(ctx, s.paths, rt, logger.Logger)
			if len(orphans) > 0 {
				go rt.router.NotifyOwner(ctx, orphanNote(orphans), "approval-note")
			}
		}, stop: func(ctx context.Context) error {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return rt.router.Stop(rctx)
		}},
		{name: "processes", stop: func(context.Context) error { rt.procs.KillAll(); return nil }},
		{name: "agent", stop: func(ctx context.Context) error {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.drain)
			defer cancel()
			return rt.agent.Shutdown(sctx)
		}},
		{name: "retention", start: func(ctx context.Context) { go pruneLoop(ctx, st, rt, logger.Logger) }},
		{name: "secrets", start: func(ctx context.Context) {
			go s.sec.watch(ctx, config.DefaultWatchInterval, rt.cfg.Load, func(err error) {
				logger.Warn("secrets: the scrubber keeps the values it knew", "err", err)
			})
		}},
		{name: "scheduler", start: func(ctx context.Context) { go s.sched.Run(ctx) }},
	}
}

// stop stops every part in reverse order, once.
func (s *System) stop(ctx context.Context) {
	if s.closed {
		return
	}
	s.closed = true
	ps := s.parts()
	for i := len(ps) - 1; i >= 0; i-- {
		if ps[i].stop == nil {
			continue
		}
		if err := ps[i].stop(ctx); err != nil {
			s.log.Warn("gateway: stopping "+ps[i].name, "err", err)
		}
	}
}

// pruneLoop signs an audit checkpoint and applies retention.transcriptsDays
// once an hour: old transcripts
// of finished session ids and compacted messages are deleted; the current
// context of every session and all spend records stay.
func pruneLoop(ctx context.Context, st *store.Store, rt *runtime, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if rt.auditLog != nil {
			// A signed checkpoint each hour pins the chain so far.
			rec, err := rt.auditLog.Checkpoint(ctx)
			if err != nil && ctx.Err() == nil {
				log.Warn("audit: checkpoint failed", "err", err)
			}
			if days := rt.cfg.Load().Audit.RetentionDays; days > 0 {
				if n, err := rt.auditLog.TruncateBefore(ctx, time.Now().AddDate(0, 0, -days)); err != nil && ctx.Err() == nil {
					log.Warn("audit: retention failed", "err", err)
				} else if n > 0 {
					log.Info("audit: retention removed old records behind a signed truncation", "count", n, "olderThanDays", days)
				}
			}
			if f := rt.cfg.Load().Audit.ExportFile; err == nil && f != "" {
				if err := auditlog.Export(config.ExpandHome(f, rt.home), rec); err != nil {
					log.Warn("audit: exporting the checkpoint failed", "file", f, "err", err)
				}
			}
		}
		// Done inbound journal rows hold only ids; a week of them
		// recognises a platform's late redelivery.
		if _, err := rt.router.PruneJournal(ctx, journalKeep); err != nil && ctx.Err() == nil {
			log.Warn("retention: pruning the inbound journal failed", "err", err)
		}
		if days := rt.cfg.Load().Retention.TranscriptsDays; days > 0 {
			n, err := st.PruneMessages(ctx, time.Now().AddDate(0, 0, -days))
			if err != nil && ctx.Err() == nil {
				log.Warn("retention: pruning transcripts failed", "err", err)
			} else if n > 0 {
				log.Info("retention: pruned old transcript messages", "count", n, "olderThanDays", days)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// orphanNote tells the owner which approval requests a restart voided.
func orphanNote(orphans []store.Approval) string {
	var b strings.Builder
	b.WriteString("The gateway restarted while these approval requests were waiting; they are void and nothing of them ran:")
	for _, ap := range orphans {
		fmt.Fprintf(&b, "\n- %s: %s", ap.ID, approvals.Render(ap.Tool, json.RawMessage(ap.Args)))
	}
	b.WriteString("\nA chat message whose turn was waiting is answered again now; if it still needs one of these, it asks again with a new id.")
	return b.String()
}
