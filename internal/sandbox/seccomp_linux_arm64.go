package sandbox

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_AARCH64
	x32Bit    = 0 // no second syscall ABI under this audit arch
)

// deniedArch returns no extra syscalls: arm64 has no I/O port or uselib
// calls.
func deniedArch() []uintptr { return nil }
