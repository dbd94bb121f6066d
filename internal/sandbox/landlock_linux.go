//go:build linux && (amd64 || arm64)

package sandbox

// Landlock is driven through golang.org/x/sys/unix rather than
// github.com/landlock-lsm/go-landlock: v0.11.0 imports
// kernel.org/.../libcap/psx (for all-threads enforcement) which is not in
// go.sum, and the helper needs none of it: it restricts the one locked OS
// thread that then calls execve, and execve discards the other threads.

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Filesystem access rights, grouped as the kernel introduced them.
const (
	fsABI1 = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR |
		unix.LANDLOCK_ACCESS_FS_REMOVE_DIR | unix.LANDLOCK_ACCESS_FS_REMOVE_FILE |
		unix.LANDLOCK_ACCESS_FS_MAKE_CHAR | unix.LANDLOCK_ACCESS_FS_MAKE_DIR |
		unix.LANDLOCK_ACCESS_FS_MAKE_REG | unix.LANDLOCK_ACCESS_FS_MAKE_SOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_FIFO | unix.LANDLOCK_ACCESS_FS_MAKE_BLOCK |
		unix.LANDLOCK_ACCESS_FS_MAKE_SYM
	fsABI2 = fsABI1 | unix.LANDLOCK_ACCESS_FS_REFER
	fsABI3 = fsABI2 | unix.LANDLOCK_ACCESS_FS_TRUNCATE
	fsABI5 = fsABI3 | unix.LANDLOCK_ACCESS_FS_IOCTL_DEV

	fsRead = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_READ_DIR
	// fsExec lets a file be executed (and read, as the loader must).
	// Landlock checks it when the kernel opens a file for execve: the
	// program, its ELF interpreter and a script's #! interpreter. Shared
	// libraries are opened and mapped by ld.so and need only read.
	fsExec = unix.LANDLOCK_ACCESS_FS_EXECUTE | fsRead
	// fsAll is every right; the execute right is then taken away from the
	// writable paths (see rulesFor).
	fsAll = ^uint64(0)
	// fsFileOnly are the rights the kernel accepts on a non-directory.
	fsFileOnly = unix.LANDLOCK_ACCESS_FS_EXECUTE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_TRUNCATE |
		unix.LANDLOCK_ACCESS_FS_IOCTL_DEV
	fsDevice = unix.LANDLOCK_ACCESS_FS_READ_FILE | unix.LANDLOCK_ACCESS_FS_WRITE_FILE |
		unix.LANDLOCK_ACCESS_FS_TRUNCATE

	netTCP = unix.LANDLOCK_ACCESS_NET_BIND_TCP | unix.LANDLOCK_ACCESS_NET_CONNECT_TCP
	scopes = unix.LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET | unix.LANDLOCK_SCOPE_SIGNAL
)

// rulesetAttr is struct landlock_ruleset_attr up to ABI 6.
type rulesetAttr struct {
	handledFS  uint64
	handledNet uint64
	scoped     uint64
}

func landlockABI() (int, error) {
	v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0, e
	}
	return int(v), nil
}

// handledFor returns the rights to restrict at this ABI: everything the
// kernel knows up to ABI 6, so nothing it can enforce is left open.
func handledFor(abi int, network, unconfined bool) rulesetAttr {
	var a rulesetAttr
	if unconfined {
		// sandbox.mode "off": only what may be executed is restricted.
		a.handledFS = unix.LANDLOCK_ACCESS_FS_EXECUTE
		return a
	}
	switch {
	case abi >= 5:
		a.handledFS = fsABI5
	case abi >= 3:
		a.handledFS = fsABI3
	case abi == 2:
		a.handledFS = fsABI2
	default:
		a.handledFS = fsABI1
	}
	if abi >= 4 && !network {
		a.handledNet = netTCP
	}
	if abi >= 6 {
		a.scoped = scopes
	}
	return a
}

type pathRule struct {
	path     string
	access   uint64
	optional bool // skip if missing (system paths differ between distros)
	// exact refuses a path that resolves elsewhere. Spec paths may lie in
	// the writable workspace, where a process from an earlier run could
	// have swapped a directory for a symlink to ~/.ssh; Command resolves
	// symlinks before the spec is sealed, so any symlink seen here is new.
	exact bool
}

func rulesFor(s Spec) []pathRule {
	var rules []pathRule
	// Execute is granted only here: the plan's binaries, their helpers and
	// loaders (resolved by Command). Every other rule below lacks it, so
	// nothing written into the workspace and no other system program
	// (a shell started by a git hook) can be executed.
	for _, p := range s.Exec {
		rules = append(rules, pathRule{p, fsExec, true, false}) // missing: nothing to grant
	}
	if s.Unconfined {
		return rules
	}
	for _, p := range SystemReadOnly() {
		rules = append(rules, pathRule{p, fsRead, true, false})
	}
	for _, p := range procReadOnly() {
		rules = append(rules, pathRule{p, fsRead, true, false})
	}
	for _, p := range systemDevicesRO() {
		rules = append(rules, pathRule{p, unix.LANDLOCK_ACCESS_FS_READ_FILE, true, false})
	}
	for _, p := range systemDevicesRW() {
		rules = append(rules, pathRule{p, fsDevice, true, false})
	}
	if s.Network {
		for _, p := range systemNetworkRO() {
			rules = append(rules, pathRule{p, fsRead, true, false})
		}
	}
	for _, p := range s.ReadOnly {
		rules = append(rules, pathRule{p, fsRead, false, true})
	}
	rules = append(rules, pathRule{s.Workspace, fsAll &^ unix.LANDLOCK_ACCESS_FS_EXECUTE, false, true})
	for _, p := range s.ReadWrite {
		rules = append(rules, pathRule{p, fsAll &^ unix.LANDLOCK_ACCESS_FS_EXECUTE, false, true})
	}
	return rules
}

// applyLandlock restricts the calling thread. Without Landlock it does
// nothing (best effort; Probe reports it). no_new_privs must already be set.
func applyLandlock(s Spec) error {
	abi, err := landlockABI()
	if err != nil || abi < 1 {
		return nil
	}
	attr := handledFor(abi, s.Network, s.Unconfined)
	size := unsafe.Sizeof(attr)
	if attr.scoped == 0 {
		size = unsafe.Offsetof(attr.scoped) // pre-ABI-6 kernels know 16 bytes
	}
	fd, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, uintptr(unsafe.Pointer(&attr)), size, 0)
	if e != 0 {
		return fmt.Errorf("landlock_create_ruleset: %w", e)
	}
	defer unix.Close(int(fd))
	for _, r := range rulesFor(s) {
		if err := addPathRule(int(fd), r, attr.handledFS); err != nil {
			return err
		}
	}
	if _, _, e := unix.Syscall(unix.SYS_LANDLOCK_RESTRICT_SELF, fd, 0, 0); e != 0 {
		return fmt.Errorf("landlock_restrict_self: %w", e)
	}
	return nil
}

func addPathRule(rulesetFD int, r pathRule, handled uint64) error {
	pfd, err := unix.Open(r.path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if r.optional && errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("open %s: %w", r.path, err)
	}
	defer unix.Close(pfd)
	if r.exact {
		real, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(pfd))
		if err != nil {
			return fmt.Errorf("resolve %s: %w", r.path, err)
		}
		if real != filepath.Clean(r.path) {
			return fmt.Errorf("%s now resolves to %s: refusing a path that changed after the spec was built", r.path, real)
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", r.path, err)
	}
	access := r.access & handled
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		access &= fsFileOnly
	}
	if access == 0 {
		return nil
	}
	rule := unix.LandlockPathBeneathAttr{Allowed_access: access, Parent_fd: int32(pfd)}
	_, _, e := unix.Syscall6(unix.SYS_LANDLOCK_ADD_RULE, uintptr(rulesetFD), unix.LANDLOCK_RULE_PATH_BENEATH,
		uintptr(unsafe.Pointer(&rule)), 0, 0, 0)
	if e != 0 {
		return fmt.Errorf("landlock_add_rule %s: %w", r.path, e)
	}
	return nil
}
