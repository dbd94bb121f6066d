package execplan

import (
	"path"
	"slices"
	"strings"
)

// Paths that configure programs: files a program reads from the working
// tree or from HOME and obeys, so that writing one steers a program the
// owner allowed (git hooks and drivers, shell and tool rc files, editor
// task files). Writing them is a host-changing action that needs approval
// in every session, by the file tools (policy) and by exec (writerRule).
//
// Build files (Makefile, package.json scripts, setup.py) are not here: they
// are code the agent edits as its everyday work. Allowing make or npm is
// allowing that code to run; the kernel's execute restriction is what
// bounds it (make cannot start sh unless tools.exec.helpers grants it).

// configDirs are directory names whose contents configure programs.
var configDirs = map[string]bool{".git": true, ".vscode": true, ".cargo": true, ".devcontainer": true}

// configFiles are file names that configure programs.
var configFiles = map[string]bool{
	".gitattributes": true, ".gitmodules": true, ".gitconfig": true, ".git-credentials": true,
	".npmrc": true, ".yarnrc": true, ".yarnrc.yml": true, ".pnpmrc": true, ".envrc": true,
	".bashrc": true, ".bash_profile": true, ".bash_login": true, ".bash_logout": true, ".profile": true,
	".zshrc": true, ".zshenv": true, ".zprofile": true, ".zlogin": true, ".inputrc": true,
	".vimrc": true, ".exrc": true, ".nvimrc": true, ".curlrc": true, ".wgetrc": true, ".netrc": true,
	".pypirc": true, "pip.conf": true, "pip.ini": true, ".pdbrc": true, ".pre-commit-config.yaml": true,
	"sitecustomize.py": true, "usercustomize.py": true, ".hgrc": true, ".ssh": true,
}

// ConfigPaths returns every directory and file name ConfiguresPrograms
// knows, sorted.
func ConfigPaths() []string {
	var out []string
	for n := range configDirs {
		out = append(out, n)
	}
	for n := range configFiles {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ConfiguresPrograms reports whether writing p (relative or absolute, as a
// tool argument gives it) would change what a program reads as its
// configuration, and which part of p makes it so. Names compare without
// case: a case-insensitive file system maps .GIT to .git.
func ConfiguresPrograms(p string) (string, bool) {
	p = strings.ReplaceAll(p, "\\", "/")
	for _, part := range strings.Split(path.Clean("/"+p), "/") {
		lp := strings.ToLower(strings.TrimRight(part, ". "))
		if lp == "" {
			continue
		}
		if configDirs[lp] || configFiles[lp] {
			return part, true
		}
	}
	return "", false
}
