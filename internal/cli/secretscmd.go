package cli

import (
	"bufio"
	"strings"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/secretstore"
)

// secretAwareLookup resolves ${secret:NAME} from the encrypted store and
// everything else from the process environment.
func (a *app) secretAwareLookup(next config.LookupEnv) config.LookupEnv {
	return func(name string) (string, bool) {
		n, ok := strings.CutPrefix(name, "secret:")
		if !ok {
			if next == nil {
				return "", false
			}
			return next(name)
		}
		p, err := a.paths()
		if err != nil {
			return "", false
		}
		st, err := secretstore.Open(p.StateDir, a.env.get("TALON_SECRETS_KEY"))
		if err != nil {
			return "", false
		}
		v, found, err := st.Get(n)
		if err != nil || !found {
			return "", false
		}
		return v, true
	}
}

func (a *app) secretsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Keep secrets encrypted in the state dir; use them in config as ${secret:NAME}",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("secrets: missing subcommand (hint: talon secrets set|list|rm)")
		},
	}
	open := func() (*secretstore.Store, error) {
		p, err := a.paths()
		if err != nil {
			return nil, err
		}
		if err := ensureStateDir(p.StateDir); err != nil {
			return nil, err
		}
		return secretstore.Open(p.StateDir, a.env.get("TALON_SECRETS_KEY"))
	}
	set := &cobra.Command{
		Use:   "set NAME [VALUE]",
		Short: "Store a secret (without VALUE it is read from standard input, keeping it out of shell history)",
		Args:  rangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !secretstore.NamePattern.MatchString(args[0]) {
				return usagef("secrets set: %q is not a secret name (use A-Z, 0-9 and _, e.g. GITHUB_TOKEN)", args[0])
			}
			val := ""
			if len(args) == 2 {
				val = args[1]
			} else if a.env.Stdin != nil {
				line, _ := bufio.NewReader(a.env.Stdin).ReadString('\n')
				val = strings.TrimRight(line, "\r\n")
			}
			st, err := open()
			if err != nil {
				return err
			}
			// The name only: the value never reaches the log.
			done, err := a.intent(cmd.Context(), nil, core.KindSecretSet, args[0], nil)
			if err != nil {
				return err
			}
			err = st.Set(args[0], val)
			done(err)
			if err != nil {
				return err
			}
			a.outf("stored %s (use it as \"${secret:%s}\")\n", args[0], args[0])
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List secret names (never values)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			names, err := st.List()
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"names": names})
			}
			for _, n := range names {
				a.outf("%s\n", n)
			}
			return nil
		},
	}
	rm := &cobra.Command{
		Use:   "rm NAME",
		Short: "Delete a secret",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := open()
			if err != nil {
				return err
			}
			done, err := a.intent(cmd.Context(), nil, core.KindSecretRemove, args[0], nil)
			if err != nil {
				return err
			}
			err = st.Remove(args[0])
			done(err)
			if err != nil {
				return err
			}
			a.outf("removed %s\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(set, list, rm)
	return cmd
}
