// Command talon is the Talon gateway and its command-line tools.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/talonclaw/talon/internal/cli"
	"github.com/talonclaw/talon/internal/sandbox"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == sandbox.HelperArg {
		// The hidden re-exec helper: confine this process, then become the
		// command. Never returns.
		sandbox.Main()
	}
	if err := run(); err != nil {
		if !cli.IsSilent(err) {
			for _, line := range strings.Split(strings.TrimSpace(err.Error()), "\n") {
				fmt.Fprintf(os.Stderr, "talon: %s\n", line)
			}
		}
		os.Exit(cli.ExitCode(err))
	}
}

func run() error {
	home, _ := os.UserHomeDir()
	env := cli.Env{Lookup: os.LookupEnv, Home: home, Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}
	return cli.Execute(context.Background(), env, os.Args[1:])
}
