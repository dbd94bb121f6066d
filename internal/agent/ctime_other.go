//go:build unix && !linux && !darwin && !freebsd && !netbsd && !openbsd && !dragonfly

package agent

import "syscall"

// ctimeOf: not read here; size, modification time and inode still tell
// versions apart.
func ctimeOf(*syscall.Stat_t) int64 { return 0 }
