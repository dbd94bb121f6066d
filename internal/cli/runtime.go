package cli

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
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
	store *store.Store
	agent *agent.Agent
	cfg   atomic.Pointer[config.Config]
}

func (a *app) newRuntime(ctx context.Context, p paths, cfg *config.Config, st *store.Store, log *slog.Logger) (*runtime, error) {
	ws := a.workspaceDir(p, cfg)
	if err := agent.EnsureWorkspace(ws); err != nil {
		return nil, err
	}
	rt := &runtime{store: st}
	rt.cfg.Store(cfg)
	ag, err := agent.New(agent.Options{
		Config:    rt.cfg.Load,
		Store:     st,
		Models:    &agent.ConfigModels{},
		Tools:     agent.NewRegistry(),
		Policy:    policy.AllowAll{},
		Logger:    log,
		Workspace: ws,
	})
	if err != nil {
		return nil, fmt.Errorf("starting the agent: %w", err)
	}
	rt.agent = ag
	return rt, nil
}
