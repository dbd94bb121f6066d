//go:build unix

package telegram_test

import (
	"syscall"
	"time"
)

// cpuTime is the CPU time (user and system) this process has used: the
// pipeline and the fake together. Unlike wall time it hardly depends on
// what else the machine runs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
