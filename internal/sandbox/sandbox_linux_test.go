//go:build linux && (amd64 || arm64)

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Test-binary modes, run inside the sandbox as the program.
const (
	modeSyscalls = "__sandbox-test-syscalls"
	modeDial     = "__sandbox-test-dial"
	modeIfaces   = "__sandbox-test-ifaces"
	modeUnix     = "__sandbox-test-unix"
)

func TestMain(m *testing.M) {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case HelperArg:
			Main()
		case modeSyscalls:
			probeSyscalls()
			os.Exit(0)
		case modeIfaces:
			ifs, err := net.Interfaces()
			if err != nil {
				fmt.Println("interfaces error:", err)
				os.Exit(1)
			}
			for _, i := range ifs {
				fmt.Printf("%s up=%v\n", i.Name, i.Flags&net.FlagUp != 0)
			}
			os.Exit(0)
		case modeUnix:
			if _, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0); err != nil {
				fmt.Println("socketpair error:", err)
			}
			c, err := net.DialTimeout("unix", os.Args[2], 2*time.Second)
			if err != nil {
				fmt.Println("dial error:", err)
				os.Exit(1)
			}
			b := make([]byte, 64)
			n, _ := c.Read(b)
			fmt.Printf("dial ok: %s\n", b[:n])
			os.Exit(0)
		case modeDial:
			c, err := net.DialTimeout("tcp", os.Args[2], 2*time.Second)
			if err != nil {
				fmt.Println("dial error:", err)
				os.Exit(1)
			}
			c.Close()
			fmt.Println("dial ok")
			os.Exit(0)
		}
	}
	os.Exit(m.Run())
}

// probeSyscalls calls denied syscalls and prints name=errno for each.
func probeSyscalls() {
	errno := func(e error) string {
		var en unix.Errno
		if errors.As(e, &en) {
			return unix.ErrnoName(en)
		}
		if e == nil {
			return "ok"
		}
		return e.Error()
	}
	_, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
	fmt.Printf("ptrace=%s\n", errno(errOrNil(e)))
	fmt.Printf("mount=%s\n", errno(unix.Mount("none", "/tmp", "tmpfs", 0, "")))
	_, err := unix.KeyctlInt(unix.KEYCTL_GET_KEYRING_ID, unix.KEY_SPEC_SESSION_KEYRING, 0, 0, 0)
	fmt.Printf("keyctl=%s\n", errno(err))
	fmt.Printf("unshare=%s\n", errno(unix.Unshare(unix.CLONE_NEWUSER)))
	_, _, e = unix.RawSyscall(unix.SYS_BPF, 0, 0, 0)
	fmt.Printf("bpf=%s\n", errno(errOrNil(e)))
	_, _, e = unix.RawSyscall(unix.SYS_CLONE3, 0, 0, 0)
	fmt.Printf("clone3=%s\n", errno(errOrNil(e)))
	_, err = unix.Setsid()
	fmt.Printf("setsid=%s\n", errno(err))
	fmt.Printf("setpgid=%s\n", errno(unix.Setpgid(0, 0)))
	cmd := exec.Command("/usr/bin/true")
	cmd.SysProcAttr = namespaceAttr()
	fmt.Printf("clone_newuser=%s\n", errno(cmd.Run()))
}

func errOrNil(e unix.Errno) error {
	if e == 0 {
		return nil
	}
	return e
}

type result struct {
	out  string
	code int
}

// run starts argv[0] confined by spec and returns combined output and exit
// code.
func run(t testing.TB, spec Spec, argv []string, env []string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd, err := Command(ctx, os.Args[0], spec, argv[0], argv, env)
	if err != nil {
		t.Fatalf("Command: %v", err)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err = cmd.Run()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatalf("run %v: %v", argv, err)
		}
		code = ee.ExitCode()
	}
	if _, bench := t.(*testing.B); !bench {
		t.Logf("%q -> exit %d: %q", argv, code, buf.String())
	}
	return result{buf.String(), code}
}

func requireLayers(t testing.TB, landlock, userns bool) Capabilities {
	t.Helper()
	c := Probe()
	if !c.Seccomp {
		t.Skip("seccomp unavailable on this kernel")
	}
	if landlock && c.LandlockABI == 0 {
		t.Skip("landlock unavailable on this kernel")
	}
	if userns && !c.UserNS {
		t.Skip("unprivileged user namespaces unavailable")
	}
	return c
}

func TestProbe(t *testing.T) {
	c := Probe()
	t.Logf("capabilities: %+v missing: %q", c, c.Missing())
}

func TestFilesystem(t *testing.T) {
	requireLayers(t, true, true)
	ws := t.TempDir()
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("s3cret"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ws, "in"), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Workspace: ws, Exec: []string{"/usr/bin"}}

	t.Run("workspace read", func(t *testing.T) {
		r := run(t, spec, []string{"/usr/bin/cat", filepath.Join(ws, "in")}, nil)
		if r.code != 0 || r.out != "hello" {
			t.Fatalf("got %d %q", r.code, r.out)
		}
	})
	t.Run("workspace write", func(t *testing.T) {
		r := run(t, spec, []string{"/bin/sh", "-c", "echo written > out && mkdir d && mv out d/out"}, nil)
		if r.code != 0 {
			t.Fatalf("got %d %q", r.code, r.out)
		}
		b, err := os.ReadFile(filepath.Join(ws, "d", "out"))
		if err != nil || string(b) != "written\n" {
			t.Fatalf("workspace file: %q %v", b, err)
		}
	})
	t.Run("outside read", func(t *testing.T) {
		r := run(t, spec, []string{"/usr/bin/cat", secret}, nil)
		if r.code == 0 || strings.Contains(r.out, "s3cret") || !strings.Contains(r.out, "Permission denied") {
			t.Fatalf("read outside workspace: %d %q", r.code, r.out)
		}
	})
	t.Run("outside write", func(t *testing.T) {
		r := run(t, spec, []string{"/bin/sh", "-c", "echo x > " + filepath.Join(outside, "new")}, nil)
		if r.code == 0 {
			t.Fatalf("write outside workspace succeeded: %q", r.out)
		}
		if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
			t.Fatal("file created outside workspace")
		}
	})
	t.Run("usr write", func(t *testing.T) {
		target := "/usr/talon-sandbox-test-" + strconv.Itoa(os.Getpid())
		r := run(t, spec, []string{"/bin/sh", "-c", "echo x > " + target}, nil)
		if _, err := os.Stat(target); err == nil {
			os.Remove(target)
			t.Fatal("file created in /usr")
		}
		if r.code == 0 {
			t.Fatalf("write to /usr succeeded: %q", r.out)
		}
	})
	t.Run("home read", func(t *testing.T) {
		home, err := os.UserHomeDir()
		if err != nil {
			t.Skip("no home directory")
		}
		f, err := os.CreateTemp(home, ".talon-sandbox-test-*")
		if err != nil {
			t.Skipf("cannot create a file in home: %v", err)
		}
		f.WriteString("homesecret")
		f.Close()
		t.Cleanup(func() { os.Remove(f.Name()) })
		r := run(t, spec, []string{"/usr/bin/cat", f.Name()}, nil)
		if r.code == 0 || strings.Contains(r.out, "homesecret") {
			t.Fatalf("read in home: %d %q", r.code, r.out)
		}
	})
	t.Run("extra read-only", func(t *testing.T) {
		s := spec
		s.ReadOnly = []string{outside}
		r := run(t, s, []string{"/usr/bin/cat", secret}, nil)
		if r.code != 0 || r.out != "s3cret" {
			t.Fatalf("read-only path: %d %q", r.code, r.out)
		}
		r = run(t, s, []string{"/bin/sh", "-c", "echo x >> " + secret}, nil)
		if r.code == 0 {
			t.Fatalf("wrote to read-only path: %q", r.out)
		}
		s.ReadOnly = []string{secret} // a single file
		r = run(t, s, []string{"/usr/bin/cat", secret}, nil)
		if r.code != 0 || r.out != "s3cret" {
			t.Fatalf("read-only file: %d %q", r.code, r.out)
		}
	})
	t.Run("inherited by children", func(t *testing.T) {
		r := run(t, spec, []string{"/bin/sh", "-c", "/bin/sh -c '/usr/bin/cat " + secret + "'"}, nil)
		if r.code == 0 || strings.Contains(r.out, "s3cret") {
			t.Fatalf("grandchild read outside workspace: %d %q", r.code, r.out)
		}
	})
	t.Run("dev null", func(t *testing.T) {
		r := run(t, spec, []string{"/bin/sh", "-c", "echo x > /dev/null && head -c 4 /dev/urandom | wc -c"}, nil)
		if r.code != 0 || strings.TrimSpace(r.out) != "4" {
			t.Fatalf("got %d %q", r.code, r.out)
		}
	})
}

// TestSymlinkSwap: a spec path inside the writable workspace that is
// replaced by a symlink after Command sealed the spec is refused; a symlink
// present when Command runs is resolved (Validate judged its target).
func TestSymlinkSwap(t *testing.T) {
	requireLayers(t, true, true)
	ws, outside := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(outside, "id_ed25519"), []byte("private-key"), 0o600)
	data := filepath.Join(ws, "data")
	os.Mkdir(data, 0o700)

	ctx := context.Background()
	spec := Spec{Workspace: ws, ReadOnly: []string{data}}
	cmd, err := Command(ctx, os.Args[0], spec, "/usr/bin/cat", []string{"cat", filepath.Join(data, "id_ed25519")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(data)
	if err := os.Symlink(outside, data); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 126 || strings.Contains(string(out), "private-key") || !strings.Contains(string(out), "changed after") {
		t.Fatalf("swapped symlink: %v %q", err, out)
	}

	// Built with the symlink already there: Command resolves it.
	r := run(t, spec, []string{"/usr/bin/cat", filepath.Join(outside, "id_ed25519")}, nil)
	if r.code != 0 || r.out != "private-key" {
		t.Fatalf("pre-existing symlink: %d %q", r.code, r.out)
	}
}

func TestNetwork(t *testing.T) {
	requireLayers(t, false, true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		network bool
		want    string
	}{{false, "dial error"}, {true, "dial ok"}} {
		t.Run(fmt.Sprintf("network=%v", tc.network), func(t *testing.T) {
			spec := Spec{Workspace: t.TempDir(), ReadOnly: []string{filepath.Dir(self)}, Network: tc.network}
			r := run(t, spec, []string{self, modeDial, ln.Addr().String()}, nil)
			if !strings.Contains(r.out, tc.want) {
				t.Fatalf("got %d %q, want %q", r.code, r.out, tc.want)
			}
			if tc.network {
				return
			}
			// The namespace layer on its own: only a down loopback.
			r = run(t, spec, []string{self, modeIfaces}, nil)
			if r.code != 0 || r.out != "lo up=false\n" {
				t.Fatalf("interfaces in sandbox: %d %q, want only a down lo", r.code, r.out)
			}
		})
	}
}

// TestUnixSockets checks that a pathname unix socket outside the workspace
// (think /run/docker.sock or $SSH_AUTH_SOCK) cannot be reached, with or
// without network.
func TestUnixSockets(t *testing.T) {
	requireLayers(t, false, true)
	sock := filepath.Join(t.TempDir(), "agent.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("outside-secret"))
			c.Close()
		}
	}()
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, network := range []bool{false, true} {
		spec := Spec{Workspace: t.TempDir(), ReadOnly: []string{filepath.Dir(self)}, Network: network}
		r := run(t, spec, []string{self, modeUnix, sock}, nil)
		if r.code == 0 || strings.Contains(r.out, "outside-secret") || strings.Contains(r.out, "socketpair error") {
			t.Errorf("network=%v: %d %q", network, r.code, r.out)
		}
	}
}

func TestProcStatus(t *testing.T) {
	requireLayers(t, false, true)
	for _, network := range []bool{false, true} {
		r := run(t, Spec{Workspace: t.TempDir(), Network: network}, []string{"/usr/bin/cat", "/proc/self/status"}, nil)
		if r.code != 0 {
			t.Fatalf("cat /proc/self/status: %d %q", r.code, r.out)
		}
		want := []string{"NoNewPrivs:\t1", "Seccomp:\t2",
			"CapInh:\t0000000000000000", "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000",
			"CapAmb:\t0000000000000000"}
		if os.Geteuid() == 0 {
			// Only a privileged helper can shrink the bounding set; for
			// others it does not matter under no_new_privs.
			want = append(want, "CapBnd:\t0000000000000000")
		}
		for _, want := range want {
			if !strings.Contains(r.out, want+"\n") {
				t.Errorf("network=%v: /proc/self/status lacks %q", network, want)
			}
		}
	}
}

func TestSeccompDenies(t *testing.T) {
	requireLayers(t, false, true)
	self, err := filepath.Abs(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	spec := Spec{Workspace: t.TempDir(), ReadOnly: []string{filepath.Dir(self)}}
	r := run(t, spec, []string{self, modeSyscalls}, nil)
	if r.code != 0 {
		t.Fatalf("probe: %d %q", r.code, r.out)
	}
	for _, want := range []string{"ptrace=EPERM", "mount=EPERM", "keyctl=EPERM", "unshare=EPERM", "setsid=EPERM", "setpgid=EPERM",
		"bpf=EPERM", "clone3=ENOSYS", "clone_newuser=EPERM"} {
		if !strings.Contains(r.out, want+"\n") {
			t.Errorf("want %s in:\n%s", want, r.out)
		}
	}
	r = run(t, spec, []string{"/usr/bin/unshare", "-U", "true"}, nil)
	if r.code == 0 || !strings.Contains(r.out, "Operation not permitted") {
		t.Errorf("unshare -U: %d %q", r.code, r.out)
	}
}

func TestSignalScope(t *testing.T) {
	c := requireLayers(t, true, true)
	if c.LandlockABI < 6 {
		t.Skipf("landlock ABI %d < 6 has no signal scoping", c.LandlockABI)
	}
	r := run(t, Spec{Workspace: t.TempDir()}, []string{"/bin/sh", "-c", "kill -0 " + strconv.Itoa(os.Getpid())}, nil)
	if r.code == 0 {
		t.Fatalf("sandboxed command could signal the gateway: %q", r.out)
	}
}

// TestOtherProcesses checks that the program cannot open the gateway's
// /proc files, with and without the user namespace.
func TestOtherProcesses(t *testing.T) {
	requireLayers(t, true, true)
	pid := strconv.Itoa(os.Getpid())
	for _, network := range []bool{false, true} {
		spec := Spec{Workspace: t.TempDir(), Network: network}
		for _, f := range []string{"environ", "cmdline", "mem", "fd/0"} {
			r := run(t, spec, []string{"/usr/bin/head", "-c", "64", "/proc/" + pid + "/" + f}, nil)
			if r.code == 0 {
				t.Errorf("network=%v: read /proc/%s/%s: %q", network, pid, f, r.out)
			}
		}
		r := run(t, spec, []string{"/usr/bin/head", "-c", "64", "/proc/self/environ", "/proc/cpuinfo"}, nil)
		if r.code != 0 {
			t.Errorf("network=%v: own /proc files: %d %q", network, r.code, r.out)
		}
	}
}

func TestEnvironment(t *testing.T) {
	requireLayers(t, false, true)
	t.Setenv("TALON_PARENT_ONLY", "leak")
	r := run(t, Spec{Workspace: t.TempDir()}, []string{"/usr/bin/env"}, []string{"FOO=bar", specEnv + "=forged"})
	if r.code != 0 {
		t.Fatalf("env: %d %q", r.code, r.out)
	}
	if strings.TrimSpace(r.out) != "FOO=bar" {
		t.Fatalf("program environment = %q, want only FOO=bar", r.out)
	}
}

func TestHelperErrors(t *testing.T) {
	requireLayers(t, false, true)
	ws := t.TempDir()
	r := run(t, Spec{Workspace: ws}, []string{filepath.Join(ws, "missing")}, nil)
	if r.code != 126 || !strings.HasPrefix(r.out, "talon sandbox: exec ") || strings.Count(r.out, "\n") != 1 {
		t.Fatalf("got %d %q", r.code, r.out)
	}
	r = run(t, Spec{Workspace: ws, ReadOnly: []string{filepath.Join(ws, "nope")}}, []string{"/usr/bin/true"}, nil)
	if r.code != 126 || !strings.Contains(r.out, "landlock") {
		t.Fatalf("missing read-only path: %d %q", r.code, r.out)
	}
	cmd := exec.Command(os.Args[0], HelperArg)
	cmd.Env = []string{}
	out, _ := cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 126 || !strings.Contains(string(out), "missing "+specEnv) {
		t.Fatalf("helper without spec: %d %q", cmd.ProcessState.ExitCode(), out)
	}
	// Started without the namespaces Command sets up, the helper refuses
	// a no-network spec rather than run with the host's network.
	if checkNoInterfaces() == nil {
		t.Log("host has only loopback; skipping the missing-namespace check")
	} else {
		cmd := exec.Command(os.Args[0], HelperArg)
		cmd.Env = []string{specEnv + `={"spec":{"workspace":"` + ws + `"},"path":"/usr/bin/true","argv":["true"]}`}
		out, _ := cmd.CombinedOutput()
		if cmd.ProcessState.ExitCode() != 126 || !strings.Contains(string(out), "network namespace not isolated") {
			t.Fatalf("helper outside a network namespace: %d %q", cmd.ProcessState.ExitCode(), out)
		}
	}
	cmd = exec.Command(os.Args[0], HelperArg)
	cmd.Env = []string{specEnv + `={"spec":{"workspace":"/"},"path":"/usr/bin/true","argv":["true"],"extra":1}`}
	out, _ = cmd.CombinedOutput()
	if cmd.ProcessState.ExitCode() != 126 || !strings.Contains(string(out), "unknown field") {
		t.Fatalf("helper with unknown spec field: %d %q", cmd.ProcessState.ExitCode(), out)
	}
	if _, err := Command(context.Background(), os.Args[0], Spec{Workspace: "rel"}, "/usr/bin/true", nil, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("relative workspace: %v", err)
	}
	huge := []string{"X=" + strings.Repeat("x", 200<<10)}
	if _, err := Command(context.Background(), os.Args[0], Spec{Workspace: ws}, "/usr/bin/true", nil, huge); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("oversized environment: %v", err)
	}
	if _, err := Command(context.Background(), os.Args[0], Spec{Workspace: ws}, "true", nil, nil); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("relative program: %v", err)
	}
}

func TestCancelKillsGroup(t *testing.T) {
	requireLayers(t, false, true)
	ctx, cancel := context.WithCancel(context.Background())
	cmd, err := Command(ctx, os.Args[0], Spec{Workspace: t.TempDir(), Exec: []string{"/usr/bin/sleep"}}, "/bin/sh", []string{"/bin/sh", "-c", "sleep 60 & sleep 60; wait"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if live := liveGroupMembers(t, cmd.Process.Pid); len(live) < 2 {
		t.Fatalf("want sh and its background sleep running, got %v", live)
	}
	start := time.Now()
	cancel()
	cmd.Wait()
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// No live member of the process group remains (zombies reparented to
	// a non-reaping init are dead).
	deadline := time.Now().Add(5 * time.Second)
	for {
		live := liveGroupMembers(t, cmd.Process.Pid)
		if len(live) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process group %d still has live members: %v", cmd.Process.Pid, live)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// liveGroupMembers lists "pid state" for non-zombie processes in group pgid.
func liveGroupMembers(t *testing.T, pgid int) []string {
	t.Helper()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var live []string
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:]) // state ppid pgrp ...
		if len(fields) > 2 && fields[2] == strconv.Itoa(pgid) && fields[0] != "Z" {
			live = append(live, f+" "+fields[0])
		}
	}
	return live
}

func BenchmarkSandboxedSpawn(b *testing.B) {
	requireLayers(b, false, true)
	spec := Spec{Workspace: b.TempDir()}
	for b.Loop() {
		if r := run(b, spec, []string{"/usr/bin/true"}, nil); r.code != 0 {
			b.Fatalf("true: %d %q", r.code, r.out)
		}
	}
}
