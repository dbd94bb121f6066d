// Package cli is the talon command tree. It owns the process's contact with
// the outside world (arguments, environment, standard streams) and hands
// explicit values to the packages below; nothing under internal/ reads the
// environment itself.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/config"
)

// Env is everything the commands take from the process environment, read once
// in main (the one envknob-style place).
type Env struct {
	Lookup config.LookupEnv
	Home   string
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// GOOS picks the service manager of `gateway install` (default
	// runtime.GOOS; tests render the other platform's unit).
	GOOS string
}

func (e Env) get(name string) string {
	if e.Lookup == nil {
		return ""
	}
	v, _ := e.Lookup(name)
	return v
}

// UsageError marks a mistake in how talon was invoked; main exits 2 for it.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usagef(format string, args ...any) error {
	return &UsageError{Err: fmt.Errorf(format, args...)}
}

// ExitCode maps an error from Execute to the process exit status: 0 success,
// 1 failure, 2 usage.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// errSilent is returned when the command already printed its failure.
type silentError struct{ code int }

func (e *silentError) Error() string { return "" }

// IsSilent reports whether err was already reported to the user.
func IsSilent(err error) bool {
	var se *silentError
	return errors.As(err, &se)
}

type app struct {
	env   Env
	json  bool
	debug bool
}

// Execute runs talon with args (without the program name).
func Execute(ctx context.Context, env Env, args []string) error {
	a := &app{env: env}
	a.env.Lookup = a.secretAwareLookup(env.Lookup)
	root := a.rootCmd()
	listSubcommands(root)
	root.SetArgs(args)
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	_, err := root.ExecuteContextC(ctx)
	if err != nil && isCobraUsage(err) {
		err = &UsageError{Err: err}
	}
	return forPeople(err, a.debug)
}

// isCobraUsage recognises the errors cobra produces for bad invocations.
func isCobraUsage(err error) bool {
	var ue *UsageError
	if errors.As(err, &ue) {
		return false
	}
	m := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "accepts ", "requires at least", "requires at most", "flag needs an argument", "invalid argument"} {
		if strings.HasPrefix(m, p) || strings.Contains(m, p) {
			return true
		}
	}
	return false
}

func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "talon",
		Short:         "Talon: a self-hosted personal AI agent gateway that stays safe when the model is hijacked",
		SilenceUsage:  true,
		SilenceErrors: true,
		CompletionOptions: cobra.CompletionOptions{
			DisableDefaultCmd: true,
		},
	}
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print machine-readable JSON")
	root.PersistentFlags().BoolVar(&a.debug, "debug", false, "show errors with their full Go call chain")
	root.AddCommand(a.chatCmd(), a.logsCmd(), a.completionCmd())
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: fmt.Errorf("%w (hint: talon %s --help)", err, strings.TrimPrefix(c.CommandPath(), "talon "))}
	})
	root.AddCommand(a.versionCmd(), a.gatewayCmd(), a.healthCmd(), a.statusCmd(), a.configCmd(), a.doctorCmd(),
		a.agentCmd(), a.usageCmd(), a.onboardCmd(), a.approvalsCmd(), a.cronCmd(), a.securityCmd(), a.secretsCmd(), a.auditCmd(), a.sessionsCmd(),
		a.pairingCmd(), a.channelsCmd(), a.updateCmd(), a.releaseCmd(), a.migrateCmd())
	root.AddCommand(a.skillsCmd())
	root.AddCommand(a.hubCmd())
	return root
}

// printJSON writes v as indented JSON to stdout.
func (a *app) printJSON(v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(a.env.Stdout, "%s\n", b)
	return err
}

// outf and errf are how commands print text for people, and the one place
// where text from the model, tools or strangers is made safe for a
// terminal (visible): nothing printed through them can move the cursor,
// write the clipboard or reorder what a person reads.
func (a *app) outf(format string, args ...any) {
	io.WriteString(a.env.Stdout, visible(fmt.Sprintf(format, args...)))
}

func (a *app) errf(format string, args ...any) {
	io.WriteString(a.env.Stderr, visible(fmt.Sprintf(format, args...)))
}

// exactArgs is cobra.ExactArgs with a usage error that names the command.
func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s: want %d argument(s), got %d (hint: %s)", cmdName(c), n, len(args), c.UseLine())
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%s: want %d to %d arguments, got %d (hint: %s)", cmdName(c), lo, hi, len(args), c.UseLine())
		}
		return nil
	}
}

func ftoa(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

// listSubcommands makes every command that only groups others answer a
// missing or unknown subcommand with the list of what exists.
func listSubcommands(cmd *cobra.Command) {
	for _, c := range cmd.Commands() {
		listSubcommands(c)
	}
	if !cmd.HasSubCommands() {
		return
	}
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	avail := strings.Join(names, ", ")
	path := cmd.CommandPath()
	prefix := strings.TrimPrefix(path, "talon ") + ": "
	if !cmd.HasParent() {
		prefix = ""
	}
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return usagef("%sunknown command %q (available: %s; hint: %s --help)", prefix, args[0], avail, path)
		}
		return nil
	}
	if cmd.HasParent() {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			return usagef("%smissing subcommand (available: %s)", prefix, avail)
		}
	} else {
		cmd.RunE = func(c *cobra.Command, args []string) error { return c.Help() }
	}
}

// valueArgs is exactArgs(n) for a command whose arguments are values that
// may start with "-" (`config set budgets.perDayUsd -5`): flag parsing
// stops at the first argument (SetInterspersed(false) on the command), and
// flags written after the n values are parsed here.
func (a *app) valueArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) > n {
			fs := c.Flags()
			if err := fs.Parse(args[n:]); err != nil {
				return usagef("%s: %v (hint: %s; quote a value that has spaces)", cmdName(c), err, c.UseLine())
			}
			if rest := fs.Args(); len(rest) > 0 {
				return usagef("%s: want %d argument(s), got %d (hint: %s; quote a value that has spaces)", cmdName(c), n, n+len(rest), c.UseLine())
			}
			args = args[:n]
		}
		return exactArgs(n)(c, args)
	}
}

// cmdName is the command's path without the program name, for messages
// that main already prefixes with "talon: ".
func cmdName(c *cobra.Command) string { return strings.TrimPrefix(c.CommandPath(), "talon ") }
