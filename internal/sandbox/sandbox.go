package sandbox

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// HelperArg is the os.Args[1] value that makes the talon binary (or a test
// binary's TestMain) call [Main].
const HelperArg = "__sandbox-exec"

// specEnv carries the JSON-encoded [payload] from [Command] to [Main]. It is
// the helper's only environment variable: the program's environment travels
// inside the payload, so nothing the program's environment says (LD_PRELOAD,
// GODEBUG) can influence the helper before it is confined, and the variable
// never reaches the program.
const specEnv = "TALON_SANDBOX_SPEC"

// maxPayload keeps specEnv under the kernel's per-string limit for execve
// (MAX_ARG_STRLEN, 32 pages).
const maxPayload = 128<<10 - len(specEnv) - 2

// Spec describes what a sandboxed command may touch.
type Spec struct {
	// Workspace is the directory the command may read, write and execute
	// in. It is also the command's working directory. Required.
	Workspace string `json:"workspace"`
	// ReadOnly lists extra files or directories the command may read (not
	// execute: see Exec).
	ReadOnly []string `json:"readOnly,omitempty"`
	// ReadWrite lists extra files or directories the command may modify.
	ReadWrite []string `json:"readWrite,omitempty"`
	// Network lets the command use the host's network. When false the
	// command runs in a fresh network namespace with no usable interface.
	Network bool `json:"network,omitempty"`
	// Exec lists the only files (or directory trees) that may be executed:
	// the decided plan's binaries and the helpers their allowlist entries
	// grant. The program itself is always added, and so are the loaders
	// the kernel opens for each entry (an ELF file's PT_INTERP, a script's
	// #! interpreter and, for "#!/usr/bin/env NAME", NAME on the sandbox
	// PATH). Nothing else can be executed: not a shell started by a hook,
	// not a binary written into the workspace.
	Exec []string `json:"exec,omitempty"`
	// Unconfined applies only the execute restriction of Exec (and
	// no_new_privs, which Landlock needs): no namespaces, no seccomp, no
	// file-system or network restriction. It is what agents.defaults.
	// sandbox.mode "off" gets, so that even unconfined commands run only
	// the decided plan. Without Landlock it restricts nothing; callers
	// check [Capabilities.ExecGuard] first.
	Unconfined bool `json:"unconfined,omitempty"`
}

// payload is what travels from Command to Main.
type payload struct {
	Spec Spec     `json:"spec"`
	Path string   `json:"path"`
	Argv []string `json:"argv"`
	Env  []string `json:"env"`
}

// SystemReadOnly returns the paths every sandboxed command may read and
// execute: programs, libraries and /etc (resolver, ld.so, locale, CA
// certificates). Missing entries are skipped. Beyond these:
//   - /dev/null, /dev/zero and /dev/full are readable and writable,
//     /dev/urandom and /dev/random readable;
//   - of /proc only the program's own /proc/<pid> (bound when the sandbox is
//     entered, so the program's children cannot open their own
//     /proc/self) and a few system-wide files ([procReadOnly]). The whole of
//     /proc is not granted: Landlock does not stop a same-user process from
//     reading another's /proc/<pid>/environ, which holds the gateway's
//     secrets;
//   - with Spec.Network set, /run/systemd/resolve, because /etc/resolv.conf
//     is commonly a symlink into it and Landlock checks a symlink's target.
func SystemReadOnly() []string {
	return []string{"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc"}
}

// procReadOnly lists the /proc entries a sandboxed command may read.
// /proc/self resolves to the helper's pid, which the program inherits
// across execve.
func procReadOnly() []string {
	return []string{"/proc/self", "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg",
		"/proc/uptime", "/proc/version", "/proc/filesystems", "/proc/sys"}
}

func systemDevicesRW() []string { return []string{"/dev/null", "/dev/zero", "/dev/full"} }
func systemDevicesRO() []string { return []string{"/dev/urandom", "/dev/random"} }
func systemNetworkRO() []string { return []string{"/run/systemd/resolve"} }

// ErrDangerousBind reports a Spec path that would expose something the
// sandbox exists to protect (the home directory, SSH keys, the Docker
// socket, Talon's state, the whole filesystem, or writable system files).
var ErrDangerousBind = errors.New("dangerous sandbox path")

// ErrInvalidSpec reports a malformed Spec (empty workspace, relative path).
var ErrInvalidSpec = errors.New("invalid sandbox spec")

// Validate reports every problem with s at once. home is the user's home
// directory and stateDir Talon's state directory; either may be empty. A
// path is refused when it equals or contains a protected location (/, the
// home and state directories, the Docker socket, ~/.ssh and similar
// credential directories) or lies inside one of the latter two; a writable
// path is also refused in system directories (/etc, /usr, /dev, ...). Both
// the path as written and its symlink-free form are checked. Subdirectories
// of the state directory are allowed because the default workspace is one.
func (s Spec) Validate(home, stateDir string) error {
	// exact: refused only if the entry is this path or an ancestor of it.
	// tree: also refused if the entry lies inside it.
	type protected struct {
		path string
		tree bool
	}
	var prot []protected
	add := func(p string, tree bool) {
		if p == "" || !filepath.IsAbs(p) {
			return
		}
		for _, q := range withResolved(p) {
			prot = append(prot, protected{q, tree})
		}
	}
	add("/", false)
	add("/var/run/docker.sock", true)
	add("/run/docker.sock", true)
	// Not a tree: Talon's default workspace lives inside the state dir.
	add(stateDir, false)
	if home != "" {
		add(home, false)
		for _, d := range []string{".ssh", ".gnupg", ".aws", ".kube", ".docker", ".netrc", ".config/gcloud"} {
			add(filepath.Join(home, d), true)
		}
	}
	rwProt := append([]protected(nil), prot...)
	for _, d := range []string{"/etc", "/usr", "/bin", "/sbin", "/lib", "/lib64", "/boot", "/dev", "/proc", "/sys"} {
		for _, q := range withResolved(d) {
			rwProt = append(rwProt, protected{q, true})
		}
	}

	var errs []error
	check := func(key, p string, rw bool) {
		if p == "" || !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("sandbox: %s %q: %w: want an absolute path", key, p, ErrInvalidSpec))
			return
		}
		list := prot
		if rw {
			list = rwProt
		}
		for _, c := range withResolved(p) {
			for _, pr := range list {
				if within(pr.path, c) || (pr.tree && within(c, pr.path)) {
					errs = append(errs, fmt.Errorf("sandbox: %s %q: %w: exposes %s", key, p, ErrDangerousBind, pr.path))
					return
				}
			}
		}
	}
	check("workspace", s.Workspace, true)
	for i, p := range s.ReadOnly {
		check(fmt.Sprintf("readOnly[%d]", i), p, false)
	}
	for i, p := range s.ReadWrite {
		check(fmt.Sprintf("readWrite[%d]", i), p, true)
	}
	for i, p := range s.Exec {
		check(fmt.Sprintf("exec[%d]", i), p, false)
	}
	return errors.Join(errs...)
}

// withResolved returns the cleaned p and, if different, its symlink-free
// form.
func withResolved(p string) []string {
	p = filepath.Clean(p)
	out := []string{p}
	if r, err := filepath.EvalSymlinks(p); err == nil && r != p {
		out = append(out, r)
	}
	return out
}

// within reports whether p is dir or lies below it.
func within(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// Capabilities reports which confinement layers this kernel offers.
type Capabilities struct {
	// LandlockABI is the kernel's Landlock ABI version; 0 means no
	// filesystem confinement at all.
	LandlockABI int `json:"landlockABI"`
	// Seccomp reports whether seccomp filters can be installed. Without
	// it, sandboxed commands refuse to start.
	Seccomp bool `json:"seccomp"`
	// UserNS reports whether unprivileged user and network namespaces can
	// be created. Without it, commands with Spec.Network false refuse to
	// start.
	UserNS bool `json:"userNS"`
}

// ExecGuard reports whether the kernel can limit which files a command
// executes (Landlock's execute right, present from ABI 1). Without it a
// program on the allowlist can start any program: callers must refuse
// programs known to run configured code unless the owner opted in.
func (c Capabilities) ExecGuard() bool { return c.LandlockABI >= 1 }

// Missing describes each absent or partial layer in one line, for
// `talon security audit`; it is empty when everything the sandbox uses is
// available.
func (c Capabilities) Missing() []string {
	var m []string
	switch {
	case c.LandlockABI == 0:
		m = append(m, "landlock unavailable: sandboxed commands can read and write every file the user can, and an allowlisted program can start any other program (git, make and npm are refused unless tools.exec.dangerouslyAllowConfigurablePrograms is set)")
	case c.LandlockABI < 4:
		m = append(m, fmt.Sprintf("landlock ABI %d < 4: no TCP restriction beyond the network namespace", c.LandlockABI))
	case c.LandlockABI < 6:
		m = append(m, fmt.Sprintf("landlock ABI %d < 6: sandboxed commands can signal the user's other processes", c.LandlockABI))
	}
	if !c.Seccomp {
		m = append(m, "seccomp unavailable: sandboxed commands cannot run")
	}
	if !c.UserNS {
		m = append(m, "unprivileged user namespaces unavailable: commands without network access cannot run")
	}
	return m
}

// withoutSpecEnv returns env without any specEnv entry.
func withoutSpecEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if strings.HasPrefix(kv, specEnv+"=") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
