//go:build !linux || !(amd64 || arm64)

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
)

// errUnsupported is returned by Command where the sandbox is not
// implemented; Talon must not run commands unconfined there.
var errUnsupported = errors.New("sandbox: not supported on this platform")

// Probe reports that no layer is available.
func Probe() Capabilities { return Capabilities{} }

// ExecGuardAvailable reports false: there is no execute restriction here.
func ExecGuardAvailable() bool { return false }

// Command always fails on this platform.
func Command(ctx context.Context, self string, spec Spec, path string, argv []string, env []string) (*exec.Cmd, error) {
	return nil, fmt.Errorf("sandbox.Command: %w", errUnsupported)
}

// Main always fails on this platform.
func Main() {
	fmt.Fprintln(os.Stderr, "talon sandbox: not supported on this platform")
	os.Exit(126)
}
