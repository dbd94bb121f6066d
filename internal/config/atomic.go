package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at path with data so that a reader, or
// a crash, sees either the old content or the new, never a mix. The data
// goes to a temporary file in the same directory, created exclusively with
// perm from its first byte (the config holds secrets: it must never exist
// with looser permissions, not even briefly), is synced, then renamed over
// path, and the directory is synced. On any error before the rename the
// old file is untouched and the temporary file is removed.
//
// path must be a regular file or not exist; a symlink or directory there is
// an error rather than being replaced.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return fmt.Errorf("config.WriteFileAtomic: %s exists and is not a regular file", path)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var f *os.File
	for range 10 {
		var rnd [8]byte
		_, _ = rand.Read(rnd[:])
		tmp := filepath.Join(dir, "."+base+".tmp-"+hex.EncodeToString(rnd[:]))
		f, err = os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm.Perm())
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if err != nil && !renamed {
			f.Close()
			os.Remove(tmp)
		}
	}()
	// The umask may have narrowed perm at creation; set it exactly. It can
	// only have become stricter, never looser, in between.
	if err = f.Chmod(perm.Perm()); err != nil {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("config.WriteFileAtomic: %w", err)
	}
	renamed = true
	// The new file is in place; a failure to sync the directory only means
	// the rename might not survive a power cut, so report it but do not
	// remove anything.
	if d, derr := os.Open(dir); derr == nil {
		derr = d.Sync()
		d.Close()
		if derr != nil {
			return fmt.Errorf("config.WriteFileAtomic: syncing %s: %w", dir, derr)
		}
	}
	return nil
}
