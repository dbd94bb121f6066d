//go:build unix

package release

import (
	"fmt"
	"os"
	"syscall"
)

// lockUpdate takes an exclusive, non-blocking lock on path, so two updates
// of one binary never interleave (one could otherwise rename the other's
// half-written download into place). The kernel drops it if the process
// dies.
func lockUpdate(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("cannot write beside the binary: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("another talon update of this binary is running (%s is locked)", path)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
