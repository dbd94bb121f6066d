package sandbox

import "golang.org/x/sys/unix"

const (
	auditArch = unix.AUDIT_ARCH_X86_64
	// x32Bit marks x32 syscalls, which also report AUDIT_ARCH_X86_64.
	x32Bit = 0x40000000
)

// deniedArch returns the amd64-only syscalls denied with EPERM: raw I/O port
// access and uselib.
func deniedArch() []uintptr { return []uintptr{unix.SYS_IOPL, unix.SYS_IOPERM, unix.SYS_USELIB} }
