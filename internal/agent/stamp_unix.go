//go:build unix

package agent

import (
	"io/fs"
	"syscall"
)

// fileStamp identifies one version of a file: if any field differs, the
// content may have.
type fileStamp struct {
	size, mtime, ctime int64
	ino, dev           uint64
}

func stampOf(fi fs.FileInfo) (fileStamp, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.Mode().IsRegular() {
		return fileStamp{}, false
	}
	return fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano(), ctime: ctimeOf(st), ino: uint64(st.Ino), dev: uint64(st.Dev)}, true
}
