//go:build linux && (amd64 || arm64)

package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Probe reports what this kernel supports. It starts (and immediately
// fails to exec) one child process to test namespace creation.
func Probe() Capabilities {
	var c Capabilities
	if v, err := landlockABI(); err == nil {
		c.LandlockABI = v
	}
	c.Seccomp = seccompAvailable()
	c.UserNS = userNSAvailable()
	return c
}

// ExecGuardAvailable reports, without starting a process, whether the
// kernel can limit what a command executes (Landlock ABI >= 1).
func ExecGuardAvailable() bool {
	v, err := landlockABI()
	return err == nil && v >= 1
}

func seccompAvailable() bool {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return false
	}
	action := uint32(unix.SECCOMP_RET_ERRNO)
	_, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_GET_ACTION_AVAIL, 0, uintptr(unsafe.Pointer(&action)))
	return e == 0
}

// userNSAvailable clones a child into new user and network namespaces and
// has it execve "/", which fails with EACCES only after the clone and the
// uid/gid mapping succeeded. (os/exec would refuse "/" before forking.)
func userNSAvailable() bool {
	pid, err := syscall.ForkExec("/", []string{"/"}, &syscall.ProcAttr{Env: []string{}, Sys: namespaceAttr()})
	if err == nil {
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, 0, nil)
		return true
	}
	return errors.Is(err, unix.EACCES)
}

func namespaceAttr() *syscall.SysProcAttr {
	uid, gid := os.Getuid(), os.Getgid()
	return &syscall.SysProcAttr{
		Cloneflags:  unix.CLONE_NEWUSER | unix.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: uid, HostID: uid, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: gid, HostID: gid, Size: 1}},
	}
}

// Command returns a command that runs path with argv confined by spec.
// self is the talon binary (os.Args[0] in tests); it is started with
// [HelperArg] and must call [Main]. env is the program's complete
// environment: nil means empty, never the caller's. The working directory
// is spec.Workspace. Cancelling ctx kills the whole process group.
//
// Command checks only that the paths are absolute; call [Spec.Validate]
// first to refuse dangerous paths.
func Command(ctx context.Context, self string, spec Spec, path string, argv []string, env []string) (*exec.Cmd, error) {
	if spec.Workspace == "" || !filepath.IsAbs(spec.Workspace) {
		return nil, fmt.Errorf("sandbox.Command: workspace %q: %w: want an absolute path", spec.Workspace, ErrInvalidSpec)
	}
	for _, p := range append(append([]string(nil), spec.ReadOnly...), spec.ReadWrite...) {
		if !filepath.IsAbs(p) {
			return nil, fmt.Errorf("sandbox.Command: %q: %w: want an absolute path", p, ErrInvalidSpec)
		}
	}
	if !filepath.IsAbs(path) {
		return nil, fmt.Errorf("sandbox.Command: program %q: %w: want an absolute path", path, ErrInvalidSpec)
	}
	if len(argv) == 0 {
		argv = []string{path}
	}
	// Seal the spec with symlink-free paths; the helper refuses any path
	// that resolves differently by the time it runs.
	spec.Workspace = resolve(spec.Workspace)
	spec.ReadOnly = resolveAll(spec.ReadOnly)
	spec.ReadWrite = resolveAll(spec.ReadWrite)
	spec.Exec = execClosure(append([]string{path}, spec.Exec...))
	data, err := json.Marshal(payload{Spec: spec, Path: path, Argv: argv, Env: withoutSpecEnv(env)})
	if err != nil {
		return nil, fmt.Errorf("sandbox.Command: %w", err)
	}
	if len(data) > maxPayload {
		return nil, fmt.Errorf("sandbox.Command: %w: arguments and environment take %d bytes, limit %d", ErrInvalidSpec, len(data), maxPayload)
	}
	cmd := exec.CommandContext(ctx, self, HelperArg)
	cmd.Env = []string{specEnv + "=" + string(data)}
	cmd.Dir = spec.Workspace
	attr := &syscall.SysProcAttr{}
	if !spec.Network && !spec.Unconfined {
		attr = namespaceAttr()
	}
	attr.Setpgid = true
	// Pdeathsig fires when the forking OS thread exits; the Go runtime
	// only retires threads whose goroutine exited while locked, which
	// Talon does not do.
	attr.Pdeathsig = unix.SIGKILL
	cmd.SysProcAttr = attr
	cmd.Cancel = func() error {
		// The helper made itself leader of a new process group.
		return unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
	}
	return cmd, nil
}

// resolve returns p without symlinks, or cleaned if it cannot be resolved
// (the helper then reports the missing path).
func resolve(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

func resolveAll(ps []string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = resolve(p)
	}
	return out
}

// Main confines the current process as described by the spec in its
// environment and execve()s the program. It never returns: on any failure
// it prints one line to stderr and exits 126.
func Main() {
	// Landlock, no_new_privs and seccomp below are applied to this OS
	// thread, and execve from this thread carries them into the program.
	runtime.LockOSThread()
	if err := confineAndExec(); err != nil {
		fmt.Fprintf(os.Stderr, "talon sandbox: %v\n", err)
	}
	os.Exit(126)
}

func confineAndExec() error {
	raw, ok := os.LookupEnv(specEnv)
	if !ok {
		return errors.New("missing " + specEnv + " (only talon starts " + HelperArg + ")")
	}
	var p payload
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("decode spec: %w", err)
	}
	if p.Path == "" || len(p.Argv) == 0 || p.Spec.Workspace == "" {
		return errors.New("decode spec: empty path, argv or workspace")
	}
	env := withoutSpecEnv(p.Env)
	if p.Spec.Unconfined {
		// sandbox.mode "off": only the execute restriction.
		if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
			return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
		}
		if err := applyLandlock(p.Spec); err != nil {
			return fmt.Errorf("landlock: %w", err)
		}
		if err := unix.Exec(p.Path, p.Argv, env); err != nil {
			return fmt.Errorf("exec %s: %w", p.Path, err)
		}
		return nil
	}
	if !p.Spec.Network {
		// Fail closed if started without the namespaces Command asks for.
		if err := checkNoInterfaces(); err != nil {
			return err
		}
	}

	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	if err := dropCapabilities(); err != nil {
		return fmt.Errorf("drop capabilities: %w", err)
	}
	if err := applyLandlock(p.Spec); err != nil {
		return fmt.Errorf("landlock: %w", err)
	}
	if err := installSeccomp(); err != nil {
		return fmt.Errorf("seccomp: %w", err)
	}
	if err := unix.Exec(p.Path, p.Argv, env); err != nil {
		return fmt.Errorf("exec %s: %w", p.Path, err)
	}
	return nil
}

// checkNoInterfaces fails unless loopback is the only network interface,
// which holds in the fresh network namespace Command creates.
func checkNoInterfaces() error {
	b, err := os.ReadFile("/proc/self/net/dev")
	if err != nil {
		return fmt.Errorf("check network namespace: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	for _, l := range lines[min(2, len(lines)):] { // two header lines
		name, _, _ := strings.Cut(strings.TrimSpace(l), ":")
		if name != "lo" {
			return fmt.Errorf("network namespace not isolated: interface %q present (start the helper through sandbox.Command)", name)
		}
	}
	return nil
}

// dropCapabilities empties this thread's bounding, ambient, inheritable,
// permitted and effective capability sets, so a program started by root (or
// by uid 0 inside the user namespace) gets no capabilities from execve.
// Other users hold none here and cannot drop the bounding set (EPERM),
// which is harmless: their execve grants nothing under no_new_privs.
func dropCapabilities() error {
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil && !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("clear ambient: %w", err)
	}
	root := os.Geteuid() == 0
	for c := 0; c < 64; c++ {
		err := unix.Prctl(unix.PR_CAPBSET_DROP, uintptr(c), 0, 0, 0)
		if errors.Is(err, unix.EINVAL) {
			break // past the kernel's last capability
		}
		if err != nil {
			if !root && errors.Is(err, unix.EPERM) {
				break
			}
			return fmt.Errorf("bounding set cap %d: %w", c, err)
		}
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("capset: %w", err)
	}
	return nil
}
