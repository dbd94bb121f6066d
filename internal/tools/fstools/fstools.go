// Package fstools implements the file tools the model sees: read, write and
// edit (DESIGN §2 argument schemas).
//
// Invariant 6: with tools.fs.workspaceOnly on (the default), every file
// access goes through an os.Root opened on the workspace, so no path — "..",
// an absolute path elsewhere, a symlink pointing out, or a symlink swapped in
// between check and use — reaches a file outside it; the kernel-level
// openat2/RESOLVE_BENEATH semantics of os.Root close the race. Reads and
// writes are size-capped, binary files are refused, writes are atomic
// (temporary file, fsync, rename).
package fstools

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"
)

// Options configure the file tools.
type Options struct {
	// Workspace is the absolute workspace directory.
	Workspace string
	// WorkspaceOnly reports tools.fs.workspaceOnly at call time (it can
	// change on hot reload). Nil means always on.
	WorkspaceOnly func() bool
	// MaxReadBytes caps how much of a file read and edit load (default 2 MiB).
	MaxReadBytes int64
	// MaxWriteBytes caps write content and edit results (default 5 MiB).
	MaxWriteBytes int
}

func (o Options) maxRead() int64 {
	if o.MaxReadBytes > 0 {
		return o.MaxReadBytes
	}
	return 2 << 20
}

func (o Options) maxWrite() int {
	if o.MaxWriteBytes > 0 {
		return o.MaxWriteBytes
	}
	return 5 << 20
}

// ErrOutside is returned for a path that leaves the workspace.
var ErrOutside = errors.New("path is outside the workspace")

// open resolves path for a tool call and returns the root to use and the
// name inside it. With workspaceOnly off, the root is "/" and the path must
// be absolute or relative to the workspace.
func (o Options) open(path string) (*os.Root, string, error) {
	if path == "" {
		return nil, "", errors.New("path is empty")
	}
	if strings.ContainsRune(path, 0) {
		return nil, "", errors.New("path contains a NUL byte")
	}
	if len(path) > 4096 {
		return nil, "", errors.New("path is longer than 4096 bytes")
	}
	only := o.WorkspaceOnly == nil || o.WorkspaceOnly()
	if !only {
		abs := path
		if !filepath.IsAbs(abs) {
			abs = filepath.Join(o.Workspace, abs)
		}
		r, err := os.OpenRoot("/")
		if err != nil {
			return nil, "", err
		}
		return r, strings.TrimPrefix(filepath.Clean(abs), "/"), nil
	}
	rel := path
	if filepath.IsAbs(path) {
		r, err := filepath.Rel(o.Workspace, filepath.Clean(path))
		if err != nil || r == ".." || strings.HasPrefix(r, "../") {
			return nil, "", fmt.Errorf("%w (hint: use a path relative to the workspace %s)", ErrOutside, o.Workspace)
		}
		rel = r
	}
	if clean := filepath.Clean(rel); clean == ".." || strings.HasPrefix(clean, "../") {
		return nil, "", fmt.Errorf("%w (hint: use a path relative to the workspace)", ErrOutside)
	}
	r, err := os.OpenRoot(o.Workspace)
	if err != nil {
		return nil, "", fmt.Errorf("opening the workspace: %w", err)
	}
	return r, rel, nil
}

// explain turns os.Root's errors into messages for the model.
func explain(path string, err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "path escapes from parent"):
		return fmt.Errorf("%s: %w (a symlink or \"..\" leads out of it)", path, ErrOutside)
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%s: no such file", path)
	case errors.Is(err, os.ErrPermission):
		return fmt.Errorf("%s: permission denied", path)
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", path, pe.Err)
	}
	return fmt.Errorf("%s: %v", path, err)
}

// readFile reads a regular file through the root, capped, refusing binary
// content.
func (o Options) readFile(root *os.Root, name, shown string) ([]byte, os.FileMode, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, 0, explain(shown, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, explain(shown, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, fmt.Errorf("%s: not a regular file", shown)
	}
	max := o.maxRead()
	if fi.Size() > max {
		return nil, 0, fmt.Errorf("%s: file is %d bytes, more than the %d-byte limit", shown, fi.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, 0, explain(shown, err)
	}
	if int64(len(b)) > max {
		return nil, 0, fmt.Errorf("%s: file grew past the %d-byte limit while reading", shown, max)
	}
	if isBinary(b) {
		return nil, 0, fmt.Errorf("%s: binary file (not text); it is not shown", shown)
	}
	return b, fi.Mode().Perm(), nil
}

func isBinary(b []byte) bool {
	head := b
	if len(head) > 8192 {
		head = head[:8192]
	}
	if bytes.IndexByte(head, 0) >= 0 {
		return true
	}
	// Allow a UTF-8 sequence cut at the sampling boundary.
	for len(head) > 0 && !utf8.Valid(head) {
		if len(b) > 8192 && len(head) > 8188 {
			head = head[:len(head)-1]
			continue
		}
		return true
	}
	return false
}

// writeAtomic replaces name with data: a temporary file in the same
// directory, fsync, rename. An existing file keeps its permission bits.
func writeAtomic(root *os.Root, name string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(name)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	var tmp string
	var f *os.File
	var err error
	for i := 0; i < 100; i++ {
		tmp = filepath.Join(dir, fmt.Sprintf(".%s.talon-tmp-%d-%d", filepath.Base(name), os.Getpid(), i))
		f, err = root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if !errors.Is(err, os.ErrExist) {
			break
		}
	}
	if err != nil {
		return err
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = root.Chmod(tmp, perm)
	}
	if werr == nil {
		werr = root.Rename(tmp, name)
	}
	if werr != nil {
		root.Remove(tmp)
		return werr
	}
	return nil
}
