//go:build linux && (amd64 || arm64)

package sandbox

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"
)

// evalBPF runs a classic-BPF seccomp program over a seccomp_data built from
// arch, nr and arg0, supporting the instructions filter() emits.
func evalBPF(t *testing.T, prog []unix.SockFilter, arch uint32, nr int32, arg0 uint64) uint32 {
	t.Helper()
	data := make([]byte, 64)
	binary.LittleEndian.PutUint32(data[0:], uint32(nr))
	binary.LittleEndian.PutUint32(data[4:], arch)
	binary.LittleEndian.PutUint64(data[16:], arg0)
	var acc uint32
	for pc := 0; pc < len(prog); pc++ {
		ins := prog[pc]
		switch ins.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			acc = binary.LittleEndian.Uint32(data[ins.K:])
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += int(pick(acc == ins.K, ins.Jt, ins.Jf))
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += int(pick(acc >= ins.K, ins.Jt, ins.Jf))
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			pc += int(pick(acc&ins.K != 0, ins.Jt, ins.Jf))
		case unix.BPF_RET | unix.BPF_K:
			return ins.K
		default:
			t.Fatalf("pc %d: unsupported instruction %#x", pc, ins.Code)
		}
	}
	t.Fatal("program fell off the end")
	return 0
}

func pick(c bool, a, b uint8) uint8 {
	if c {
		return a
	}
	return b
}

func TestFilterProgram(t *testing.T) {
	prog := filter()
	if len(prog) > 4096 {
		t.Fatalf("filter has %d instructions, kernel limit is 4096", len(prog))
	}
	const (
		allow = unix.SECCOMP_RET_ALLOW
		kill  = unix.SECCOMP_RET_KILL_PROCESS
		eperm = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosy = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	)
	type call struct {
		name string
		arch uint32
		nr   int32
		arg0 uint64
		want uint32
	}
	calls := []call{
		{"read", auditArch, unix.SYS_READ, 0, allow},
		{"execve", auditArch, unix.SYS_EXECVE, 0, allow},
		{"clone thread", auditArch, unix.SYS_CLONE, unix.CLONE_VM | unix.CLONE_THREAD | unix.CLONE_SIGHAND, allow},
		{"clone newuser", auditArch, unix.SYS_CLONE, unix.CLONE_NEWUSER | uint64(unix.SIGCHLD), eperm},
		{"clone newns", auditArch, unix.SYS_CLONE, unix.CLONE_NEWNS, eperm},
		{"clone3", auditArch, unix.SYS_CLONE3, 0, enosy},
		{"socket inet", auditArch, unix.SYS_SOCKET, unix.AF_INET, allow},
		{"socket unix", auditArch, unix.SYS_SOCKET, unix.AF_UNIX, eperm},
		{"socketpair unix", auditArch, unix.SYS_SOCKETPAIR, unix.AF_UNIX, allow},
		{"write after checks", auditArch, unix.SYS_WRITE, unix.AF_UNIX, allow},
		{"foreign arch", unix.AUDIT_ARCH_I386, unix.SYS_READ, 0, kill},
		{"foreign arch denied nr", unix.AUDIT_ARCH_I386, 11, 0, kill},
	}
	if x32Bit != 0 {
		calls = append(calls, call{"x32", auditArch, int32(x32Bit | unix.SYS_READ), 0, kill})
	}
	for _, nr := range deniedSyscalls() {
		calls = append(calls, call{"denied", auditArch, int32(nr), 0, eperm})
	}
	for _, c := range calls {
		if got := evalBPF(t, prog, c.arch, c.nr, c.arg0); got != c.want {
			t.Errorf("%s (nr %d): got %#x, want %#x", c.name, c.nr, got, c.want)
		}
	}
}
