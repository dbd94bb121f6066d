// Package sandbox confines the commands Talon executes on behalf of the
// model.
//
// Invariant: a command started through [Command] runs as the calling user
// but can read only the default system paths ([SystemReadOnly]) and the
// paths listed in its [Spec], can write only Spec.Workspace and
// Spec.ReadWrite, cannot regain privileges, cannot use the kernel
// interfaces listed in the seccomp deny list, and, unless Spec.Network is
// set, has no network at all. The confinement is inherited by everything the
// command starts and cannot be undone from inside.
//
// The confinement is applied by a re-exec helper: Command builds an
// [exec.Cmd] that runs "talon __sandbox-exec" in fresh namespaces; the
// helper ([Main]) confines itself and execve()s the real program. Layers, in
// the order they are applied:
//
//  1. Namespaces (set up by Command, only when Spec.Network is false): a new
//     user namespace mapping the caller's uid/gid to themselves and a new
//     network namespace containing only a down loopback interface. Nothing
//     is routable, so no TCP, UDP or abstract unix socket reaches the host
//     (pathname unix sockets are filesystem objects; see layer 4).
//     Missing layer: if the kernel refuses unprivileged user namespaces,
//     Cmd.Start fails; the command never runs without network isolation.
//  2. PR_SET_NO_NEW_PRIVS: setuid/setgid bits and file capabilities are
//     ignored by every later execve. Then every capability set (bounding,
//     ambient, inheritable, permitted, effective) is emptied, so even a
//     gateway running as root starts programs without capabilities (no
//     CAP_NET_ADMIN on the host network when Spec.Network is set). Always
//     available; failure aborts.
//  3. Landlock (hand-written against golang.org/x/sys/unix; landlock_linux.go
//     says why not go-landlock): filesystem access is limited to the paths
//     above; with ABI >= 4 and Spec.Network false, TCP bind/connect are
//     denied as a second network barrier; with ABI >= 6 signals and abstract
//     unix sockets cannot reach processes outside the sandbox (so the model
//     cannot kill the gateway). ptrace of outside processes is denied at
//     every ABI, and other processes' /proc/<pid> directories are not in
//     the allowed paths at all (Landlock's ptrace check alone lets a
//     same-user process read another's /proc/<pid>/environ). Missing
//     layer: Landlock is best effort. On an older ABI the rights it lacks
//     are left unrestricted (e.g. truncate below ABI 3); on a kernel
//     without Landlock there is NO filesystem confinement.
//     Callers must consult [Probe] (security audit does) and may refuse to
//     run commands when Capabilities.LandlockABI is 0.
//  4. seccomp-bpf: the filter kills the process on a foreign syscall ABI
//     (i386, x32), returns EPERM for mount, namespace, module, keyring, bpf,
//     ptrace, io_uring, clock and similar interfaces (see deniedSyscalls),
//     EPERM for clone() with namespace flags and ENOSYS for clone3 (whose
//     flags a filter cannot inspect; libc falls back to clone), and EPERM
//     for socket(AF_UNIX): Landlock below ABI 9 does not check connect()
//     on pathname sockets, so without this the program could drive the
//     Docker socket or an ssh-agent. socketpair() still works; programs
//     that talk to unix sockets (nscd, systemd-resolved's varlink, D-Bus)
//     fall back or fail. Missing
//     layer: the helper fails closed (exit 126) if the filter cannot be
//     installed.
//  5. The helper execve()s the program with exactly the environment the
//     caller gave. The helper itself runs with a single private variable
//     holding the spec, so the program's environment (LD_PRELOAD, GODEBUG)
//     cannot act on it before confinement, and the program never sees it.
//
// What the sandbox does not do: it has no PID or mount namespace, so the
// program sees the real filesystem layout (it may stat paths it cannot
// open; Landlock does not hide names); it can open only its own
// /proc/<pid>, not its children's; it sets no resource limits; /tmp is not
// writable (point TMPDIR into the workspace).
// /etc is readable as a whole because the resolver, ld.so and locale need
// it; do not keep secrets there.
package sandbox
