package logging

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

const (
	fileMode fs.FileMode = 0o600
	dirMode  fs.FileMode = 0o700
)

// rotatingFile is an append-only log file that is rotated by size:
// path -> path.1 -> path.2 … -> path.N, the oldest dropped. It is safe for
// concurrent use; each Write lands whole in one file.
type rotatingFile struct {
	path     string
	maxSize  int64
	maxFiles int

	mu     sync.Mutex
	f      *os.File // nil after Close, or after a failed reopen
	size   int64
	closed bool
}

func openRotating(path string, maxSize int64, maxFiles int) (*rotatingFile, error) {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, dirMode); err != nil {
			return nil, err
		}
		// MkdirAll's mode passes through the umask; make it exact.
		if err := os.Chmod(dir, dirMode); err != nil {
			return nil, err
		}
	}
	r := &rotatingFile{path: path, maxSize: maxSize, maxFiles: maxFiles}
	if err := r.open(); err != nil {
		return nil, err
	}
	return r, nil
}

// open opens (creating 0600) the current file for appending.
func (r *rotatingFile) open() error {
	f, err := os.OpenFile(r.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	// Exactly 0600 whatever the umask, and tighten a file an older
	// version (or a person) left looser.
	if err := f.Chmod(fileMode); err != nil {
		f.Close()
		return err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("%s is not a regular file", r.path)
	}
	r.f, r.size = f, st.Size()
	return nil
}

// Write appends p to the current file, rotating first if p would take the
// file past maxSize. If rotation fails, p is still written (to the current
// file, or to a new one) and the error is returned.
func (r *rotatingFile) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, os.ErrClosed
	}
	var rotErr error
	if r.f != nil && r.size > 0 && r.size+int64(len(p)) > r.maxSize {
		rotErr = r.rotate()
	}
	if r.f == nil {
		if err := r.open(); err != nil {
			return 0, errors.Join(rotErr, err)
		}
	}
	n, err := r.f.Write(p)
	r.size += int64(n)
	return n, errors.Join(rotErr, err)
}

// rotate shifts path.i to path.i+1 (dropping path.maxFiles) and path to
// path.1, then opens a new path. Renamed files keep their 0600 mode.
func (r *rotatingFile) rotate() error {
	var errs []error
	if err := r.f.Close(); err != nil {
		errs = append(errs, err)
	}
	r.f = nil
	if err := os.Remove(r.numbered(r.maxFiles)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for i := r.maxFiles - 1; i >= 1; i-- {
		if err := os.Rename(r.numbered(i), r.numbered(i+1)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := os.Rename(r.path, r.numbered(1)); err != nil {
		errs = append(errs, err)
	}
	if err := r.open(); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("logging: rotate %s: %w", r.path, err)
	}
	return nil
}

func (r *rotatingFile) numbered(i int) string { return fmt.Sprintf("%s.%d", r.path, i) }

// Close closes the file; later Writes fail with os.ErrClosed.
func (r *rotatingFile) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}
