package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
	"github.com/talonclaw/talon/internal/tools/exectool"
	"github.com/talonclaw/talon/internal/tools/fstools"
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
	store     *store.Store
	agent     *agent.Agent
	approvals *approvals.Manager
	cfg       atomic.Pointer[config.Config]
}

func (a *app) newRuntime(ctx context.Context, p paths, cfg *config.Config, st *store.Store, log *slog.Logger) (*runtime, error) {
	ws := a.workspaceDir(p, cfg)
	if err := agent.EnsureWorkspace(ws); err != nil {
		return nil, err
	}
	rt := &runtime{store: st}
	rt.cfg.Store(cfg)
	// Nobody can approve until a gateway connects approvers (gateway run
	// sets HasApprover); agent --local falls back to tools.exec.askFallback.
	rt.approvals = &approvals.Manager{Store: st, HasApprover: func() bool { return false },
		OnAllowAlways: func(context.Context, store.Approval) error {
			return fmt.Errorf("allow-always is recorded for this call only until the exec tool lands")
		}}
	reg := agent.NewRegistry()
	for _, t := range fstools.Tools(fstools.Options{Workspace: ws, WorkspaceOnly: func() bool { return rt.cfg.Load().Tools.FS.WorkspaceOnly }}) {
		if err := reg.Register(t); err != nil {
			return nil, err
		}
	}
	execOpts := exectool.Options{Config: rt.cfg.Load, Workspace: ws}
	for _, t := range []agent.Tool{web.NewFetch(web.FetchOptions{Config: rt.cfg.Load}), exectool.New(execOpts)} {
		if err := reg.Register(t); err != nil {
			return nil, err
		}
	}
	ag, err := agent.New(agent.Options{
		Config:    rt.cfg.Load,
		Store:     st,
		Models:    &agent.ConfigModels{},
		Tools:     reg,
		Policy:    &policy.Rules{Config: rt.cfg.Load, Exec: execOpts.Decide},
		Approvals: rt.approvals,
		Logger:    log,
		Workspace: ws,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	rt.agent = ag
	return rt, nil
}
