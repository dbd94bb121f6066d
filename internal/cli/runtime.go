package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/policy/execplan"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/sandbox"
	"github.com/talonclaw/talon/internal/skills"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/tools"
	"github.com/talonclaw/talon/internal/tools/exectool"
	"github.com/talonclaw/talon/internal/tools/fstools"
	"github.com/talonclaw/talon/internal/tools/sessiontools"
	"github.com/talonclaw/talon/internal/tools/skilltool"
	"github.com/talonclaw/talon/internal/tools/web"
)

// workspaceDir resolves agents.defaults.workspace ("" is the state dir's
// workspace).
func (a *app) workspaceDir(p paths, cfg *config.Config) string {
	w := cfg.Agents.Defaults.Workspace
	if w == "" {
		return filepath.Join(p.StateDir, "workspace")
	}
	w = config.ExpandHome(w, a.env.Home)
	if !filepath.IsAbs(w) {
		w = filepath.Join(p.StateDir, w)
	}
	return w
}

// runtime is the agent with what it stands on, for gateway run and agent
// --local.
type runtime struct {
	auditLog  *auditlog.Log
	home      string
	procs     *exectool.Processes
	env       config.LookupEnv
	store     *store.Store
	agent     *agent.Agent
	approvals *approvals.Manager
	cfg       atomic.Pointer[config.Config]
	app       *app
	// router connects the chat channels (gateway run starts them); it is
	// the message tool's way to other conversations.
	router *router.Router
	// secrets feeds the one scrubber everything shares (invariant 10).
	secrets *secretSet
	// skills is the agent's skill library (skill_read, the prompt list,
	// skills.status).
	skills *skilltool.Library
	log    *slog.Logger
}

// setConfig installs a new config (hot reload, config.patch, an edit made
// by Talon itself) and brings the scrubber up to date with its secrets.
func (rt *runtime) setConfig(c *config.Config) {
	rt.cfg.Store(c)
	if err := rt.secrets.update(c); err != nil {
		rt.log.Warn("secrets: the scrubber keeps the values it knew", "err", err)
	}
}

// approverHooks connect the runtime to the parts that reach approvers and
// operators (the gateway, in gateway run): the System passes its own
// methods, which find the gateway once it exists. The zero value reaches
// nobody (agent --local, chat --local: tools.exec.askFallback applies).
type approverHooks struct {
	HasApprover     func() bool
	NotifyApprovals func(event string, payload any)
	OnPairing       func(store.PairingRequest)
	OnAlert         func(agent.Event)
	// ChatApprovers makes the owner's chats approvers too.
	ChatApprovers bool
}

// newRuntime builds the runtime, each part given what it needs when it is
// made, in dependency order: audit log, approvals, agent, router, tools.
// sec is the process's secret set (made before the logger, which scrubs
// with it too).
func (a *app) newRuntime(ctx context.Context, p paths, cfg *config.Config, st *store.Store, sec *secretSet, log *slog.Logger, hooks approverHooks) (*runtime, error) {
	ws := a.workspaceDir(p, cfg)
	if err := agent.EnsureWorkspace(ws); err != nil {
		return nil, err
	}
	rt := &runtime{store: st, env: a.env.Lookup, home: a.env.Home, app: a, secrets: sec, log: log}
	rt.cfg.Store(cfg)
	if hooks.HasApprover == nil {
		hooks.HasApprover = func() bool { return false }
	}
	if cfg.Audit.Enabled {
		l, err := auditlog.Open(st, filepath.Join(p.StateDir, "audit.key"))
		if err != nil {
			return nil, fmt.Errorf("opening the audit log: %w", err)
		}
		rt.auditLog = l
	}
	rt.approvals = &approvals.Manager{Store: st, HasApprover: hooks.HasApprover, Notify: hooks.NotifyApprovals, Audit: rt.audit,
		OnAllowAlways: func(_ context.Context, ap store.Approval) error { return rt.allowAlways(p, ws, ap) }}
	rt.procs = &exectool.Processes{}
	self, _ := os.Executable()
	guard := sandbox.ExecGuardAvailable()
	gitID := sync.OnceValues(func() (string, string) { return exectool.ReadGitIdentity("git") })
	reg := agent.NewRegistry()
	// Skills (issue 15): the prompt's list, and skill_read below.
	lib := &skilltool.Library{Manager: skills.NewManager(p.StateDir), Workspace: ws, Config: rt.cfg.Load,
		Policy: func(agentID string) skills.AgentPolicy { return a.skillsAgentPolicy(p, rt.cfg.Load(), agentID) },
		HasEnv: func(name string) bool { _, ok := a.env.Lookup("secret:" + name); return ok }}
	rt.skills = lib
	ag, err := agent.New(agent.Options{
		Config:      rt.cfg.Load,
		Store:       st,
		Models:      &agent.ConfigModels{},
		Tools:       reg,
		Policy:      &policy.Rules{Config: rt.cfg.Load},
		Scrub:       sec.live.Scrub,
		ScrubStream: sec.live.Stream,
		Audit:       rt.audit,
		Approvals:   rt.approvals,
		Logger:      log,
		Workspace:   ws,
		Skills:      lib,
		SecretValue: func(name string) (string, bool) { return a.env.Lookup("secret:" + name) },
	})
	if err != nil {
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	rt.agent = ag
	// With ChatApprovers the owner's chats are approvers too: the router
	// takes answers typed or pressed there out of band, and is one of the
	// approvals' reaches.
	var chatApprovals *approvals.Manager
	if hooks.ChatApprovers {
		chatApprovals = rt.approvals
	}
	rt.router = &router.Router{Config: rt.cfg.Load, Access: &access.Checker{Store: st, Config: rt.cfg.Load}, Agent: ag,
		Scrub: sec.live.Scrub, Audit: rt.audit, Logger: log, Journal: st, OnPairing: hooks.OnPairing, OnAlert: hooks.OnAlert,
		Approvals: chatApprovals}
	if hooks.ChatApprovers {
		rt.approvals.AddReach(rt.router.ApprovalReach())
	}
	// The tools: built once the agent exists, as sessions_send starts
	// turns through it.
	err = reg.Register(tools.Builtin(tools.Deps{
		FS: fstools.Options{Workspace: ws, WorkspaceOnly: func() bool { return rt.cfg.Load().Tools.FS.WorkspaceOnly }},
		Exec: exectool.Options{Config: rt.cfg.Load, Workspace: ws, Processes: rt.procs, Self: self,
			ExecGuard: func() bool { return guard }, GitIdentity: gitID,
			Sandbox: func(sessionKey string) *sandbox.Spec { return rt.sandboxSpec(p, ws, sessionKey) }},
		Fetch:    web.FetchOptions{Config: rt.cfg.Load},
		Search:   web.SearchOptions{Config: rt.cfg.Load},
		Sessions: sessiontools.Options{Config: rt.cfg.Load, Store: st, Sender: ag, ValidKey: agent.ValidSessionKey},
		Outbound: rt.router,
		Store:    st,
		Skills:   lib,
	})...)
	if err != nil {
		return nil, err
	}
	return rt, nil
}

// allowAlways adds the resolved binaries of an approved exec call to
// tools.exec.allowlist in the config file (validated, written atomically),
// so the same programs run without asking next time. Structural denials
// and interpreter rules still apply: allow-always never widens those.
func (rt *runtime) allowAlways(p paths, ws string, ap store.Approval) error {
	if ap.Tool != "exec" {
		return fmt.Errorf("allow-always applies to exec only")
	}
	var a struct {
		Command string `json:"command"`
		Workdir string `json:"workdir"`
	}
	if err := json.Unmarshal([]byte(ap.Args), &a); err != nil {
		return err
	}
	cfg := rt.cfg.Load()
	plan, err := execplan.Analyze(a.Command, ws, execplan.Config{Security: cfg.Tools.Exec.Security, Allowlist: cfg.Tools.Exec.Allowlist,
		SafeBins: cfg.Tools.Exec.SafeBins, PATH: exectool.SandboxPATH})
	if err != nil {
		return err
	}
	list := slices.Clone(cfg.Tools.Exec.Allowlist)
	for _, s := range plan.Segments {
		if s.Resolved != "" && !slices.Contains(list, s.Resolved) {
			list = append(list, s.Resolved)
		}
	}
	items := make([]any, len(list))
	for i, v := range list {
		items[i] = v
	}
	next, err := rt.app.editConfig(p, "tools.exec.allowlist", items)
	if err != nil {
		return err
	}
	cur := *cfg
	cur.Tools.Exec.Allowlist = next.Tools.Exec.Allowlist
	rt.setConfig(&cur)
	return nil
}

// sandboxSpec applies agents.defaults.sandbox to one exec call: nil runs it
// unconfined (mode off, or non-main in the owner's main session). A bind
// that Validate refuses makes the spec refuse everything (Workspace empty,
// which sandbox.Command rejects with the reason), so a bad bind never
// widens anything and never fails silently.
func (rt *runtime) sandboxSpec(p paths, ws, sessionKey string) *sandbox.Spec {
	sb := rt.cfg.Load().Agents.Defaults.Sandbox
	switch sb.Mode {
	case "off":
		return nil
	case "non-main":
		if sessionKey == agent.MainSessionKey("") {
			return nil
		}
	}
	spec := sandbox.Spec{Workspace: ws, Network: sb.Network}
	for _, b := range sb.Binds {
		one := sandbox.Spec{Workspace: ws}
		if b.Mode == "rw" {
			one.ReadWrite = []string{b.Path}
		} else {
			one.ReadOnly = []string{b.Path}
		}
		if err := one.Validate(rt.home, p.StateDir); err != nil {
			return &sandbox.Spec{Workspace: "refused: agents.defaults.sandbox.binds: " + err.Error()}
		}
		spec.ReadOnly = append(spec.ReadOnly, one.ReadOnly...)
		spec.ReadWrite = append(spec.ReadWrite, one.ReadWrite...)
	}
	return &spec
}

// audit appends to the audit log; a failure is logged by the caller's
// logger only through the returned error being dropped here on purpose:
// the audited action already happened, and refusing to continue would let
// a full disk stop every turn. The record is durable when it returns.
func (rt *runtime) audit(ctx context.Context, kind, actor, subject string, data any) error {
	if rt.auditLog == nil || !rt.cfg.Load().Audit.Enabled {
		return nil // the owner turned the log off (audit.disabled says so)
	}
	_, err := rt.auditLog.Append(ctx, kind, actor, subject, data)
	return err
}

// withStore opens the state database for one command.
func (a *app) withStore(ctx context.Context, fn func(*store.Store) error) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	if err := ensureStateDir(p.StateDir); err != nil {
		return err
	}
	st, err := store.Open(ctx, p.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(st)
}
