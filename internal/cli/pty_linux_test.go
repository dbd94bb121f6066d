package cli

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptyProc is a talon process whose stdin, stdout and stderr are the slave
// side of a pseudo-terminal, as when a person runs it in a terminal. The
// test reads what the terminal shows and types into it.
type ptyProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	master *os.File
	mu     sync.Mutex
	buf    strings.Builder
	seen   int // expect's read position in buf
	exited chan struct{}
}

// openPTY opens a new pseudo-terminal pair with /dev/ptmx.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// startPTY runs `talon args...` on a new terminal, as the leader of its own
// session with the terminal as its controlling tty (so Ctrl-C typed into
// it sends SIGINT).
func startPTY(t *testing.T, env []string, args ...string) *ptyProc {
	t.Helper()
	m, s, err := openPTY()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	cmd := exec.Command("talon", args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	p := &ptyProc{t: t, cmd: cmd, master: m, exited: make(chan struct{})}
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := m.Read(b)
			p.mu.Lock()
			p.buf.Write(b[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-p.exited
		m.Close()
	})
	return p
}

// expect waits until the terminal shows want after what earlier expects
// matched, and moves past it. The timeout is a generous upper bound.
func (p *ptyProc) expect(want string) string {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		p.mu.Lock()
		all := p.buf.String()
		p.mu.Unlock()
		if i := strings.Index(all[p.seen:], want); i >= 0 {
			got := all[p.seen : p.seen+i+len(want)]
			p.seen += i + len(want)
			return got
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("terminal never showed %q; it shows:\n%s", want, all[p.seen:])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// output is everything the terminal showed so far.
func (p *ptyProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// typeText writes to the terminal as a person typing.
func (p *ptyProc) typeText(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *ptyProc) wait() int {
	p.t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(60 * time.Second):
		p.t.Fatalf("talon did not exit; terminal:\n%s", p.output())
		return -1
	}
}
