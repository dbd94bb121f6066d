package exectool

// Exec profiles: programs that read configuration, hooks, plugins or rc
// files from the working tree or from HOME run with those sources
// neutralised, so files the agent can write (with the file tools or an
// allowlisted cp or tar) cannot steer an allowlisted program into running
// something nobody decided (invariant 5).
//
// Three layers, each enough for a different part of the class:
//   - Every program gets an empty HOME of its own for the run (never the
//     workspace), so ~/.gitconfig, ~/.npmrc, ~/.curlrc and the like are
//     whatever Talon puts there: nothing.
//   - A profile sets the program's own switches: for git, system and
//     global config off and command-line overrides (which win over the
//     repository's .git/config) for hooks, fsmonitor, pager, editor,
//     credential helpers, ssh, gpg, transports and attributes.
//   - Settings that name a driver chosen by the tree (.gitattributes picks
//     filter/diff/merge drivers whose commands live in .git/config) cannot
//     be overridden by name, so the repository's effective configuration
//     is read before git runs and any key that runs a program refuses the
//     command, with the key named.
//
// Underneath, the kernel grants execute only to the plan's binaries and
// their helpers (sandbox.Spec.Exec), so even a source this file misses can
// start nothing else where Landlock exists.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/policy/execplan"
)

// profile neutralises one program's configuration sources.
type profile struct {
	// env is added last to the program's environment, so it wins.
	env []string
	// args are inserted after argv[0].
	args []string
	// helpers are the programs it may start itself (granted execute).
	helpers []string
	// configurable: it reads code-bearing configuration from the tree or
	// HOME. Without the kernel's execute restriction such a program is not
	// run without approval unless the owner opted in.
	configurable bool
	// check inspects the tree before each run; a non-empty reason refuses
	// the run.
	check func(ctx context.Context, bin, dir string, env []string) (extraArgs []string, reason string)
}

// configurablePrograms read configuration that can run code from the
// working tree or HOME (build files, hooks, rc files, plugins).
var configurablePrograms = []string{
	"git", "make", "gmake", "cmake", "ninja", "just", "npm", "npx", "yarn", "pnpm", "corepack",
	"pip", "pip3", "pipenv", "poetry", "uv", "tox", "pytest", "pre-commit", "cargo", "go",
	"mvn", "gradle", "ant", "bundle", "rake", "composer", "terraform", "ansible", "ansible-playbook",
	"hg", "svn", "direnv",
}

// gitHelperDir is where git's own git-* programs live on Debian, Ubuntu,
// Fedora and Arch (git --exec-path).
const gitHelperDir = "/usr/lib/git-core"

// gitOverrides win over the repository's own .git/config: command-line
// configuration is read last.
var gitOverrides = []string{
	"core.hooksPath=/dev/null",
	"core.fsmonitor=false",
	"core.pager=cat",
	"core.editor=false",
	"sequence.editor=false",
	"core.askPass=false",
	"core.sshCommand=false",
	"core.attributesFile=/dev/null",
	"credential.helper=", // an empty value empties the helper list
	"gpg.program=false",
	"gpg.ssh.program=false",
	"gpg.x509.program=false",
	"commit.gpgSign=false",
	"tag.gpgSign=false",
	"protocol.ext.allow=never",
	"protocol.fd.allow=never",
	"gc.auto=0",
	"maintenance.auto=false",
}

// gitRunsProgram reports whether a repository configuration key (as git
// config --list prints it: section and name lower case) names a program
// git would start, and cannot be neutralised by an override because its
// name is chosen by the tree (drivers) or scoped by URL.
func gitRunsProgram(key string) bool {
	k := strings.ToLower(key)
	sec, rest, _ := strings.Cut(k, ".")
	name := rest
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		name = rest[i+1:]
	}
	switch sec {
	case "filter":
		return name == "clean" || name == "smudge" || name == "process"
	case "diff":
		return name == "textconv" || name == "command" || k == "diff.external"
	case "merge":
		return name == "driver"
	case "difftool", "mergetool":
		return name == "cmd" || name == "path"
	case "credential":
		return name == "helper" && k != "credential.helper"
	case "remote":
		return name == "uploadpack" || name == "receivepack"
	case "submodule":
		return name == "update"
	case "pager":
		return true
	case "core":
		// Overridden above, except these.
		return k == "core.worktree" || k == "core.gitproxy" || k == "core.alternaterefscommand"
	case "uploadpack":
		return name == "packobjectshook"
	}
	return false
}

// ReadGitIdentity returns the owner's user.name and user.email from their
// own global git configuration (read by the gateway, with the gateway's
// HOME, which the agent cannot write). Options.GitIdentity supplies them
// when a repository sets none, so git commit works with global
// configuration off.
func ReadGitIdentity(bin string) (name, email string) {
	get := func(key string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "config", "--global", "--get", key).Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	return get("user.name"), get("user.email")
}

// gitCheck reads the repository's effective configuration (local and
// worktree files and their includes; system and global are off) and
// refuses the run if a key would start a program. It also supplies the
// owner's identity when the repository has none.
func (o Options) gitCheck(ctx context.Context, bin, dir string, env []string) ([]string, string) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "config", "--null", "--list", "--includes")
	cmd.Dir = dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && out.Len() == 0 {
			return o.identityArgs(nil), "" // no configuration at all (or not a repository)
		}
		// Its message could quote any file an include names: keep it out.
		return nil, "the repository's git configuration cannot be read (a broken or hostile include?); fix .git/config before running git"
	}
	keys := map[string]bool{}
	var bad []string
	for _, entry := range bytes.Split(out.Bytes(), []byte{0}) {
		key, _, _ := bytes.Cut(entry, []byte{'\n'})
		if len(key) == 0 {
			continue
		}
		k := string(key)
		keys[strings.ToLower(k)] = true
		if gitRunsProgram(k) {
			bad = append(bad, k)
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		bad = slices.Compact(bad)
		return nil, fmt.Sprintf("the repository's git configuration sets %s, which would make git start a program; Talon does not run git with it (remove it, e.g. git config --unset %s)",
			strings.Join(bad, ", "), bad[0])
	}
	return o.identityArgs(keys), ""
}

func (o Options) identityArgs(repoKeys map[string]bool) []string {
	if o.GitIdentity == nil {
		return nil
	}
	name, email := o.GitIdentity()
	var args []string
	if name != "" && !repoKeys["user.name"] {
		args = append(args, "-c", "user.name="+name)
	}
	if email != "" && !repoKeys["user.email"] {
		args = append(args, "-c", "user.email="+email)
	}
	return args
}

// profileFor returns the profile of the program at resolved (a symlink-free
// absolute path), or the empty profile.
func (o Options) profileFor(resolved string) profile {
	base := path.Base(resolved)
	var p profile
	p.configurable = slices.Contains(configurablePrograms, base)
	switch base {
	case "git":
		p.env = []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "GIT_ATTR_NOSYSTEM=1",
			"GIT_TERMINAL_PROMPT=0", "GIT_PAGER=cat", "GIT_OPTIONAL_LOCKS=0"}
		for _, kv := range gitOverrides {
			p.args = append(p.args, "-c", kv)
		}
		if fi, err := os.Stat(gitHelperDir); err == nil && fi.IsDir() {
			p.helpers = append(p.helpers, gitHelperDir)
		}
		p.check = o.gitCheck
	case "npm", "npx", "yarn", "pnpm":
		p.env = []string{"npm_config_userconfig=/dev/null", "npm_config_globalconfig=/dev/null",
			"npm_config_ignore_scripts=true", "npm_config_update_notifier=false", "npm_config_fund=false"}
	case "pip", "pip3", "pipenv", "poetry":
		p.env = []string{"PIP_CONFIG_FILE=/dev/null", "PIP_NO_INPUT=1", "PIP_DISABLE_PIP_VERSION_CHECK=1"}
	case "go":
		// A go.mod toolchain line would download and run another Go.
		p.env = []string{"GOTOOLCHAIN=local", "GOFLAGS=", "GOENV=off"}
	case "make", "gmake":
		p.env = []string{"MAKEFLAGS=", "MAKEFILES="}
	}
	for _, glob := range slices.Sorted(maps.Keys(o.Config().Tools.Exec.Helpers)) {
		if ok, _ := path.Match(glob, resolved); ok {
			p.helpers = append(p.helpers, o.Config().Tools.Exec.Helpers[glob]...)
		}
	}
	return p
}

// runHome makes the empty HOME (and TMPDIR) of one program run.
func runHome() (string, func(), error) {
	dir, err := os.MkdirTemp("", "talon-run-")
	if err != nil {
		return "", nil, fmt.Errorf("exec: per-run home: %w", err)
	}
	return dir, func() { _ = os.RemoveAll(dir) }, nil
}

// homeEnv points every home- and XDG-based configuration lookup at home.
func homeEnv(home string) []string {
	return []string{"HOME=" + home, "TMPDIR=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"), "XDG_DATA_HOME=" + filepath.Join(home, ".local", "share"),
		"XDG_STATE_HOME=" + filepath.Join(home, ".local", "state")}
}

// mergeEnv returns the lists joined with later values winning, each
// variable once: the sandbox helper hands the list to execve as it is, and
// getenv would find the first of two.
func mergeEnv(lists ...[]string) []string {
	idx := map[string]int{}
	var out []string
	for _, l := range lists {
		for _, kv := range l {
			k, _, _ := strings.Cut(kv, "=")
			if i, ok := idx[k]; ok {
				out[i] = kv
				continue
			}
			idx[k] = len(out)
			out = append(out, kv)
		}
	}
	return out
}

// tarExtractTail returns the options that keep an extraction from writing
// paths that configure programs (.git, rc files: execplan.ConfigPaths),
// whatever the archive holds, or nil when argv does not extract. They go
// last (before "--"), after any --anchored or --no-wildcards of the
// model's, and restate the matching they rely on.
func tarExtractTail(argv []string) []string {
	extract := false
	for i, arg := range argv[1:] {
		if arg == "--" {
			break
		}
		switch {
		case strings.HasPrefix(arg, "--"):
			if strings.HasPrefix("--extract", arg) && len(arg) > 3 || strings.HasPrefix("--get", arg) && len(arg) > 3 {
				extract = true
			}
		case strings.HasPrefix(arg, "-"):
			extract = extract || strings.ContainsRune(arg[1:], 'x')
		case i == 0:
			extract = strings.ContainsRune(arg, 'x') // old style: tar xf a.tar
		}
	}
	if !extract {
		return nil
	}
	tail := []string{"--no-anchored", "--wildcards", "--ignore-case"}
	for _, name := range execplan.ConfigPaths() {
		tail = append(tail, "--exclude="+name)
	}
	return tail
}

// withTail inserts tail before a "--" in argv, or appends it.
func withTail(argv, tail []string) []string {
	if len(tail) == 0 {
		return argv
	}
	if i := slices.Index(argv, "--"); i > 0 {
		return slices.Concat(argv[:i], tail, argv[i:])
	}
	return append(argv, tail...)
}
