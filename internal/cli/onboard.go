package cli

import (
	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/agent"
)

func (a *app) onboardCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "onboard",
		Short: "Create the state directory, a config with a fresh token, and the workspace templates",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.paths()
			if err != nil {
				return err
			}
			if err := ensureStateDir(p.StateDir); err != nil {
				return err
			}
			created, _, err := ensureConfig(p)
			if err != nil {
				return err
			}
			cfg, _, err := a.loadConfig(p)
			if err != nil {
				return err
			}
			ws := a.workspaceDir(p, cfg)
			if err := agent.EnsureWorkspace(ws); err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"stateDir": p.StateDir, "config": p.Config, "configCreated": created, "workspace": ws})
			}
			if created {
				a.outf("created %s with a fresh gateway token\n", p.Config)
			} else {
				a.outf("config %s already exists; left as it is\n", p.Config)
			}
			a.outf("workspace %s (AGENTS.md, SOUL.md, USER.md, IDENTITY.md, TOOLS.md, MEMORY.md)\n", ws)
			if cfg.Agents.Defaults.Model == "" {
				a.outf("\nnext: add a model, for example a local Ollama:\n")
				a.outf("  talon config set models.providers.local '{api: \"openai-completions\", baseUrl: \"http://127.0.0.1:11434/v1\", models: [{id: \"qwen3\", contextWindow: 32768}]}'\n")
				a.outf("  talon config set agents.defaults.model local/qwen3\n")
				a.outf("then: talon agent --local --message \"hello\"\n")
			}
			return nil
		},
	}
}
