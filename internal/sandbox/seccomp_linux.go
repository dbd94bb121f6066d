//go:build linux && (amd64 || arm64)

package sandbox

import (
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deniedSyscalls returns the syscalls that fail with EPERM inside the
// sandbox: deniedArch plus, on every architecture, mounts and namespaces
// (escaping Landlock's view), kernel modules, kexec and reboot, keyrings, bpf, perf and userfaultfd
// (large kernel attack surface), ptrace and process_vm_* (reaching into
// other processes), file handles (bypassing path checks), io_uring (whose
// operations seccomp cannot see), and host-wide clock, swap, accounting,
// quota and syslog controls, and setsid/setpgid (so every descendant stays
// in the process group that is killed when the command ends). adjtimex and clock_adjtime stay allowed: their
// read-only form is used by time tools, and changing the clock needs
// CAP_SYS_TIME, which the helper drops.
func deniedSyscalls() []uintptr {
	return append([]uintptr{
		unix.SYS_PTRACE, unix.SYS_MOUNT, unix.SYS_UMOUNT2, unix.SYS_PIVOT_ROOT,
		unix.SYS_FSOPEN, unix.SYS_FSCONFIG, unix.SYS_FSMOUNT, unix.SYS_FSPICK,
		unix.SYS_MOVE_MOUNT, unix.SYS_OPEN_TREE, unix.SYS_OPEN_TREE_ATTR, unix.SYS_MOUNT_SETATTR,
		unix.SYS_BPF, unix.SYS_KEYCTL, unix.SYS_ADD_KEY, unix.SYS_REQUEST_KEY,
		unix.SYS_KEXEC_LOAD, unix.SYS_KEXEC_FILE_LOAD,
		unix.SYS_INIT_MODULE, unix.SYS_FINIT_MODULE, unix.SYS_DELETE_MODULE,
		unix.SYS_REBOOT, unix.SYS_SWAPON, unix.SYS_SWAPOFF,
		unix.SYS_SETNS, unix.SYS_UNSHARE,
		unix.SYS_PERF_EVENT_OPEN, unix.SYS_USERFAULTFD,
		unix.SYS_PROCESS_VM_READV, unix.SYS_PROCESS_VM_WRITEV,
		unix.SYS_OPEN_BY_HANDLE_AT, unix.SYS_NAME_TO_HANDLE_AT,
		unix.SYS_ACCT, unix.SYS_SETTIMEOFDAY, unix.SYS_CLOCK_SETTIME,
		unix.SYS_SYSLOG, unix.SYS_QUOTACTL, unix.SYS_QUOTACTL_FD,
		unix.SYS_LOOKUP_DCOOKIE, unix.SYS_VHANGUP,
		unix.SYS_IO_URING_SETUP, unix.SYS_IO_URING_ENTER, unix.SYS_IO_URING_REGISTER,
		// Leaving the process group would let a descendant outlive the
		// group kill that ends a command on timeout or abort.
		unix.SYS_SETSID, unix.SYS_SETPGID,
	}, deniedArch()...)
}

// cloneNamespaceFlags are refused in clone()'s flags argument. CLONE_NEWTIME
// is absent: in clone() its bit belongs to the exit signal.
const cloneNamespaceFlags = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET

// Offsets into struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offArg0 = 16 // low 32 bits on little-endian amd64 and arm64
)

func bpfStmt(code uint16, k uint32) unix.SockFilter {
	return unix.SockFilter{Code: code, K: k}
}

func bpfJump(code uint16, k uint32, jt, jf uint8) unix.SockFilter {
	return unix.SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// filter builds the seccomp program for this architecture.
func filter() []unix.SockFilter {
	const (
		ld    = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jge   = unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K
		jset  = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		ret   = unix.BPF_RET | unix.BPF_K
		kill  = unix.SECCOMP_RET_KILL_PROCESS
		allow = unix.SECCOMP_RET_ALLOW
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosy = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	p := []unix.SockFilter{
		bpfStmt(ld, offArch),
		bpfJump(jeq, auditArch, 1, 0),
		bpfStmt(ret, kill),
		bpfStmt(ld, offNr),
	}
	if x32Bit != 0 {
		p = append(p, bpfJump(jge, x32Bit, 0, 1), bpfStmt(ret, kill))
	}
	for _, nr := range deniedSyscalls() {
		p = append(p, bpfJump(jeq, uint32(nr), 0, 1), bpfStmt(ret, eperm))
	}
	p = append(p,
		bpfJump(jeq, unix.SYS_CLONE3, 0, 1),
		bpfStmt(ret, enosy),
		// clone(): refuse namespace flags.
		bpfJump(jeq, unix.SYS_CLONE, 0, 4),
		bpfStmt(ld, offArg0),
		bpfJump(jset, cloneNamespaceFlags, 0, 1),
		bpfStmt(ret, eperm),
		bpfStmt(ret, allow),
		// socket(AF_UNIX): Landlock before ABI 9 does not restrict
		// connect() to pathname sockets, which would reach the Docker
		// socket or an ssh-agent. socketpair() stays allowed.
		bpfJump(jeq, unix.SYS_SOCKET, 0, 4),
		bpfStmt(ld, offArg0),
		bpfJump(jeq, unix.AF_UNIX, 0, 1),
		bpfStmt(ret, eperm),
		bpfStmt(ret, allow),
		bpfStmt(ret, allow),
	)
	return p
}

// installSeccomp installs the filter on every thread of the process
// (TSYNC); the caller has set no_new_privs.
func installSeccomp() error {
	prog := filter()
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER,
		unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	if r != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): thread %d cannot be synchronized", r)
	}
	return nil
}
