//go:build linux && (amd64 || arm64)

package sandbox

import (
	"bufio"
	"bytes"
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
)

// loaderPATH is where "#!/usr/bin/env NAME" finds NAME: the sandbox PATH
// the exec tool gives every command.
const loaderPATH = "/usr/local/bin:/usr/bin:/bin"

// execClosure returns the symlink-free paths in list plus the loaders the
// kernel opens when each file is executed: an ELF file's PT_INTERP and a
// script's #! interpreter (and for "#!/usr/bin/env NAME", NAME on
// loaderPATH), followed to a small depth. Directories are kept as they
// are. Paths that cannot be resolved are kept cleaned, so the helper
// reports them instead of silently dropping a grant.
func execClosure(list []string) []string {
	seen := map[string]bool{}
	var out []string
	var add func(p string, depth int)
	add = func(p string, depth int) {
		if p == "" || !filepath.IsAbs(p) {
			return
		}
		r := resolve(p)
		if seen[r] {
			return
		}
		seen[r] = true
		out = append(out, r)
		if depth >= 4 {
			return
		}
		for _, l := range loadersOf(r) {
			add(l, depth+1)
		}
	}
	for _, p := range list {
		add(p, 0)
	}
	return out
}

// loadersOf returns what the kernel opens to execute the regular file p.
func loadersOf(p string) []string {
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return nil
	}
	defer f.Close()
	head := make([]byte, 256)
	n, _ := f.Read(head)
	head = head[:n]
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		ef, err := elf.NewFile(f)
		if err != nil {
			return nil
		}
		defer ef.Close()
		for _, prog := range ef.Progs {
			if prog.Type != elf.PT_INTERP {
				continue
			}
			b := make([]byte, prog.Filesz)
			if _, err := prog.ReadAt(b, 0); err != nil {
				return nil
			}
			return []string{string(bytes.TrimRight(b, "\x00"))}
		}
		return nil
	case bytes.HasPrefix(head, []byte("#!")):
		line, _, _ := bufio.NewReader(bytes.NewReader(head[2:])).ReadLine()
		fields := strings.Fields(string(line))
		if len(fields) == 0 {
			return nil
		}
		out := []string{fields[0]}
		if filepath.Base(fields[0]) == "env" {
			for _, arg := range fields[1:] {
				if strings.HasPrefix(arg, "-") || strings.Contains(arg, "=") {
					continue
				}
				if found := lookPath(arg); found != "" {
					out = append(out, found)
				}
				break
			}
		}
		return out
	}
	return nil
}

// lookPath finds name on loaderPATH without consulting the environment.
func lookPath(name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	for _, dir := range filepath.SplitList(loaderPATH) {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}
