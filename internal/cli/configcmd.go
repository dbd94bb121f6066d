package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
)

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Read, change and check the configuration",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("config: missing subcommand (hint: talon config get|set|unset|validate|schema)")
		},
	}
	var reveal bool
	get := &cobra.Command{
		Use:   "get [path]",
		Short: "Print the effective config, or one value by dotted path (secrets as *** unless --reveal)",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := ""
			if len(args) == 1 {
				path = args[0]
			}
			return a.configGet(path, reveal)
		},
	}
	get.Flags().BoolVar(&reveal, "reveal", false, "print secret values instead of ***")
	set := &cobra.Command{
		Use:   "set <path> <value>",
		Short: "Set one value (JSON5 literal or plain string); refuses a value that makes the config invalid",
		Args:  a.valueArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.configSet(args[0], args[1])
		},
	}
	// The value may look like a flag (-5, "-x"): after the path, every
	// word is an argument, except the global flags valueArgs knows.
	set.Flags().SetInterspersed(false)
	unset := &cobra.Command{
		Use:   "unset <path>",
		Short: "Remove one key, so its default applies",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.configEdit(args[0], func(tree map[string]any) error {
				return config.UnsetPath(tree, args[0])
			}, func(raw []byte) ([]byte, bool) { return config.UnsetInText(raw, args[0]) })
		},
	}
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check the config file and report every problem at once",
		Args:  exactArgs(0),
		RunE:  func(cmd *cobra.Command, args []string) error { return a.configValidate() },
	}
	schema := &cobra.Command{
		Use:   "schema",
		Short: "Print the config's JSON Schema",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := a.env.Stdout.Write(config.Schema())
			return err
		},
	}
	cmd.AddCommand(get, set, unset, validate, schema)
	return cmd
}

func (a *app) configGet(path string, reveal bool) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	cfg, f, err := a.loadConfig(p)
	if err != nil {
		return err
	}
	var val any
	found := false
	if reveal && path != "" {
		// The file's own value with ${VAR} resolved, so secrets show as set.
		if v, ok := config.GetPath(f.Tree, path); ok {
			if s, isStr := v.(string); isStr {
				if v, err = config.ExpandString(s, a.env.Lookup); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
			}
			val, found = v, true
		} else if path == "gateway.auth.token" && !cfg.Gateway.Auth.Token.IsZero() {
			val, found = cfg.Gateway.Auth.Token.Reveal(), true // from TALON_GATEWAY_TOKEN
		}
	}
	if !found {
		var eff map[string]any
		if err := json.Unmarshal(cfg.Redacted(), &eff); err != nil {
			return fmt.Errorf("config get: %w", err)
		}
		if path == "" {
			val, found = eff, true
		} else {
			val, found = config.GetPath(eff, path)
		}
	}
	if !found {
		return fmt.Errorf("config get: %s is not set and has no default (hint: talon config schema lists the keys)", path)
	}
	if s, ok := val.(string); ok && !a.json {
		a.outf("%s\n", s)
		return nil
	}
	return a.printJSON(val)
}

func (a *app) configSet(path, value string) error {
	v := config.ParseValue(value)
	return a.configEdit(path, func(tree map[string]any) error {
		return config.SetPath(tree, path, v)
	}, func(raw []byte) ([]byte, bool) { return config.SetInText(raw, path, v) })
}

// configEdit applies edit to the file's tree, validates the result and
// writes it atomically, changing only the edited value's text when
// textEdit can (comments and layout stay). An invalid result changes
// nothing.
func (a *app) configEdit(path string, edit func(map[string]any) error, textEdit func([]byte) ([]byte, bool)) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	if err := ensureStateDir(p.StateDir); err != nil {
		return err
	}
	if _, _, err := ensureConfig(p); err != nil {
		return err
	}
	raw, err := os.ReadFile(p.Config)
	if err != nil {
		return fmt.Errorf("reading config: %w", err)
	}
	before, _ := config.Parse(raw, a.env.Lookup)
	tree, err := config.ParseTree(raw)
	if err != nil {
		return err
	}
	if err := edit(tree); err != nil {
		return &UsageError{Err: fmt.Errorf("config: %s: %w", path, err)}
	}
	after, err := config.Validate(tree, a.env.Lookup)
	if err != nil {
		return fmt.Errorf("%w\nnothing was written", err)
	}
	// The key path only (a value may be a secret). A config edit is how a
	// broken setup is repaired, so a log that cannot be written only
	// warns here.
	done, err := a.intent(context.Background(), nil, core.KindConfigChange, path, map[string]any{"via": "config set"})
	if err != nil {
		a.errf("talon: warning: %v; writing the config anyway\n", err)
	}
	err = config.WriteFileAtomic(p.Config, config.RenderEdit(raw, tree, textEdit), 0o600)
	done(err)
	if err != nil {
		return fmt.Errorf("writing config: %w", err)
	}
	note := ""
	if before != nil {
		live, restart := config.Diff(before, after)
		switch {
		case len(restart) > 0:
			note = " (a running gateway needs a restart for this)"
		case len(live) > 0:
			note = " (a running gateway applies this live)"
		}
	}
	if a.json {
		return a.printJSON(map[string]any{"ok": true, "path": path, "file": p.Config})
	}
	a.outf("updated %s in %s%s\n", path, p.Config, note)
	return nil
}

func (a *app) configValidate() error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	cfg, _, err := config.Load(p.Config, a.env.Lookup)
	if err == nil {
		// Each key may be valid while naming something that is not there.
		if refs := config.CheckReferences(cfg); len(refs) > 0 {
			err = &config.ValidationError{Problems: refs}
		}
	}
	if a.json {
		out := map[string]any{"valid": err == nil, "path": p.Config, "problems": []config.Problem{}}
		var ve *config.ValidationError
		if errors.As(err, &ve) {
			out["problems"] = ve.Problems
		} else if err != nil {
			out["problems"] = []config.Problem{{Message: err.Error()}}
		}
		if perr := a.printJSON(out); perr != nil {
			return perr
		}
		if err != nil {
			return &silentError{code: 1}
		}
		return nil
	}
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("config: %s does not exist (hint: run `talon onboard` to create one)", p.Config)
		}
		return err
	}
	a.outf("config ok: %s\n", p.Config)
	return nil
}
