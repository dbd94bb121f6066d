//go:build unix

package skills

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// exclusive holds an advisory lock on skills.lock's companion file while
// the lockfile is read, changed and written, so two installs at once do
// not lose each other's entry.
func (m *Manager) exclusive() (unlock func(), err error) {
	if err := os.MkdirAll(m.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("skills: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(m.StateDir, LockName+".lck"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("skills: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("skills: locking %s: %w", f.Name(), err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
