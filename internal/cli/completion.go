package cli

import (
	"github.com/spf13/cobra"
)

// completionCmd prints a shell completion script (cobra's generators).
func (a *app) completionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a shell completion script.

  bash:  source <(talon completion bash)      (or save it under /etc/bash_completion.d/)
  zsh:   talon completion zsh > "${fpath[1]}/_talon"
  fish:  talon completion fish > ~/.config/fish/completions/talon.fish`,
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.env.Stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.env.Stdout)
			case "fish":
				return root.GenFishCompletion(a.env.Stdout, true)
			}
			return usagef("completion: %q is not one of bash|zsh|fish", args[0])
		},
	}
}
