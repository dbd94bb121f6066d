//go:build unix

package logging

import "syscall"

// umask sets the process umask (process-wide: callers are not parallel).
func umask(m int) int { return syscall.Umask(m) }
