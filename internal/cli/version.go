package cli

import (
	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/version"
)

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the talon version",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			v := version.Get()
			if a.json {
				return a.printJSON(v)
			}
			commit := ""
			if v.Commit != "" {
				commit = " " + v.Commit
			}
			a.outf("talon %s%s (%s %s/%s)\n", v.Version, commit, v.Go, v.OS, v.Arch)
			return nil
		},
	}
}
