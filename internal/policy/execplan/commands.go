package execplan

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// isDangerousVar reports whether setting name changes which code runs: the
// command search path, the dynamic loader, the shell's startup files and
// option state, or glibc's module loading. Case is ignored (zsh ties path to
// PATH, and refusing path= costs nothing).
func isDangerousVar(name string) bool {
	u := strings.ToUpper(name)
	switch u {
	case "PATH", "BASH_ENV", "ENV", "IFS", "PS4", "SHELLOPTS", "BASHOPTS",
		"PROMPT_COMMAND", "GCONV_PATH", "BASH_XTRACEFD", "BASH_LOADABLES_PATH",
		"EXECIGNORE", "LOCPATH", "NLSPATH", "HOSTALIASES":
		return true
	}
	return strings.HasPrefix(u, "LD_") || strings.HasPrefix(u, "DYLD_") || strings.HasPrefix(u, "BASH_FUNC_")
}

// builtinRule decides shell builtins that must not be looked up in PATH.
// ok is false for anything else (including builtins that behave like their
// PATH namesakes, such as echo, printf without -v, test and kill).
func builtinRule(argv []string) (reason string, sev severity, ok bool) {
	name := argv[0]
	switch name {
	case "eval", "exec", "source", ".", "builtin", "command", "enable", "trap",
		"alias", "unalias", "hash", "fc", "bind", "complete", "compgen", "compopt",
		"mapfile", "readarray", "coproc":
		return fmt.Sprintf("shell builtin %s runs code or changes how commands resolve; not allowed", name), sevAlways, true
	case "export", "declare", "typeset", "local", "readonly", "nameref":
		for _, arg := range argv[1:] {
			if n, _, _ := strings.Cut(arg, "="); isDangerousVar(strings.TrimSuffix(n, "+")) {
				return fmt.Sprintf("setting %s is not allowed", n), sevAlways, true
			}
		}
		return fmt.Sprintf("%s changes shell state and is not allowed", name), sevDeny, true
	case "set", "shopt":
		return fmt.Sprintf("%s changes shell options and is not allowed", name), sevDeny, true
	case "cd", "pushd", "popd", ":", "true", "false":
		// Harmless on their own; a cd makes every later relative command
		// path unresolvable (see resolve).
		return "", sevMiss, true
	case "printf":
		for i, arg := range argv[1:] {
			if arg == "--" || !strings.HasPrefix(arg, "-") {
				break
			}
			if strings.HasPrefix(arg, "-v") {
				v := strings.TrimPrefix(arg, "-v")
				if v == "" && i+2 < len(argv) {
					v = argv[i+2]
				}
				if isDangerousVar(v) {
					return fmt.Sprintf("setting %s is not allowed", v), sevAlways, true
				}
				return "printf -v assigns a shell variable and is not allowed", sevDeny, true
			}
		}
	case "read", "getopts":
		for _, arg := range argv[1:] {
			if isDangerousVar(arg) {
				return fmt.Sprintf("setting %s is not allowed", arg), sevAlways, true
			}
		}
	}
	return "", sevMiss, false
}

// ruleResult is what the command-specific rules found.
type ruleResult struct {
	findings []finding
	wrapped  []*wrappedCmd // commands this one runs, analysed as their own segments
	decided  bool          // verdict already fixed: skip the allowlist check
	runner   bool          // never a safe bin
}

func (r *ruleResult) miss(format string, args ...any) {
	r.findings = append(r.findings, finding{sevMiss, fmt.Sprintf(format, args...)})
}

func (r *ruleResult) deny(format string, args ...any) {
	r.findings = append(r.findings, finding{sevDeny, fmt.Sprintf(format, args...)})
}

func (r *ruleResult) always(format string, args ...any) {
	r.findings = append(r.findings, finding{sevAlways, fmt.Sprintf(format, args...)})
}

// wrappedCmd is a command run by a wrapper (nice, env, xargs, find -exec …).
type wrappedCmd struct {
	argv     []string
	env      []string
	cwd      string // when the wrapper changes directory
	root     string // chroot directory
	openArgs bool   // more arguments are appended at run time (xargs)
	findings []finding
}

// interpreter reports whether base names a program that runs code given on
// its command line, in a script file, or on stdin.
func interpreter(base string) bool {
	switch base {
	case "sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "csh", "tcsh", "rc",
		"busybox", "toybox", "node", "nodejs", "deno", "bun", "irb", "awk", "gawk", "mawk", "nawk",
		"luajit", "wish", "expect", "rscript", "r", "pwsh", "powershell", "osascript", "jshell",
		"groovy", "julia", "guile", "racket", "gdb", "lldb", "ed", "ex", "vi", "vim", "nvim", "emacs",
		"su", "pkexec", "runuser", "script", "flock", "ionice", "taskset", "chrt", "unshare",
		"nsenter", "systemd-run", "at", "batch", "crontab", "parallel", "valgrind", "ltrace",
		"firejail", "bwrap", "proot", "faketime", "torsocks", "proxychains", "proxychains4",
		"eatmydata", "unbuffer", "rlwrap", "screen", "tmux", "make", "gmake", "npx", "uvx", "pipx":
		return true
	}
	// The dynamic loader runs any ELF file given as its argument.
	if strings.HasPrefix(base, "ld-linux") || strings.HasPrefix(base, "ld-musl") || strings.HasPrefix(base, "ld.so") {
		return true
	}
	for _, p := range []string{"python", "pypy", "perl", "ruby", "php", "lua", "tclsh", "node"} {
		if rest, ok := strings.CutPrefix(base, p); ok && strings.Trim(rest, "0123456789.-") == "" {
			return true
		}
	}
	return false
}

// special applies the rules for interpreters, wrappers and programs with
// options that run commands.
func (a *analyzer) special(argv []string, resolved string, depth int) ruleResult {
	var r ruleResult
	bases := []string{strings.ToLower(path.Base(argv[0]))}
	if resolved != "" {
		bases = append(bases, strings.ToLower(path.Base(resolved)))
	}
	for _, base := range bases {
		if interpreter(base) {
			r.runner = true
			if len(argv) == 2 && argv[1] == "--version" {
				return r
			}
			r.miss("%s runs code (inline, from a script or from stdin) and needs approval", argv[0])
			r.decided = true
			return r
		}
	}
	switch bases[len(bases)-1] {
	case "env":
		a.envRule(argv, &r)
	case "nice", "nohup", "timeout", "stdbuf", "setsid", "sudo", "doas", "chroot", "watch", "strace", "time", "xargs":
		a.wrapperRule(bases[len(bases)-1], argv, &r)
	case "find":
		findRule(argv, &r)
	case "git":
		gitRule(argv, &r)
	case "ssh", "scp", "sftp", "rsync":
		sshRule(bases[len(bases)-1], argv, &r)
	case "tar", "bsdtar", "gtar":
		tarRule(argv, &r)
	case "sed", "gsed":
		sedRule(argv, &r)
	case "zip":
		r.runner = true
		for _, arg := range argv[1:] {
			if arg == "-TT" || strings.HasPrefix(arg, "-TT=") || isLongPrefix(arg, "unzip-command") {
				r.miss("zip %s runs a command; needs approval", arg)
			}
		}
	case "wget":
		r.runner = true
		for _, arg := range argv[1:] {
			if _, ok := anyLongPrefix(arg, "use-askpass", "execute", "config"); ok || arg == "-e" || strings.HasPrefix(arg, "-e") && !strings.HasPrefix(arg, "--") {
				r.miss("wget %s can run commands or load a config; needs approval", arg)
			}
		}
	case "curl":
		r.runner = true
		for _, arg := range argv[1:] {
			if _, ok := anyLongPrefix(arg, "config"); ok || arg == "-K" || strings.HasPrefix(arg, "-K") {
				r.miss("curl %s loads a config file; needs approval", arg)
			}
		}
	}
	writerRule(bases[len(bases)-1], argv, &r)
	if bases[0] != bases[len(bases)-1] {
		// Invoked under another name (a symlink such as /usr/bin/vi ->
		// vim, or busybox applets): the name decides too.
		switch bases[0] {
		case "env", "nice", "nohup", "timeout", "stdbuf", "setsid", "sudo", "doas", "chroot",
			"watch", "strace", "time", "xargs", "find", "git", "ssh", "scp", "sftp", "rsync", "tar", "sed":
			if !r.runner {
				r.runner = true
				r.miss("%s resolves to %s under another name and needs approval", argv[0], resolved)
			}
		}
	}
	return r
}

// optSpec describes a getopt-style command line.
type optSpec struct {
	argShort   string          // short options that take a value
	noArgShort string          // short flags
	longArg    map[string]bool // long options that take a value (--x=v or --x v)
	longNoArg  map[string]bool // long flags (a =value is tolerated)
	numeric    bool            // -10 style numbers are flags (nice, head, tail)
}

func set(words ...string) map[string]bool {
	m := make(map[string]bool, len(words))
	for _, w := range words {
		m[w] = true
	}
	return m
}

// opt is one parsed option.
type opt struct {
	name  string // "x" for -x, "long" for --long
	long  bool
	value string
	has   bool // value present
}

// parseOpts parses options from args until the first operand (or "--").
// It returns the options, the index of the first operand, and an error
// naming an unrecognised option.
func parseOpts(args []string, sp optSpec) ([]opt, int, error) {
	var opts []opt
	i := 0
	for i < len(args) {
		arg := args[i]
		if arg == "--" {
			return opts, i + 1, nil
		}
		if arg == "-" || !strings.HasPrefix(arg, "-") {
			return opts, i, nil
		}
		if strings.HasPrefix(arg, "--") {
			name, val, has := strings.Cut(arg[2:], "=")
			switch {
			case sp.longArg[name]:
				if !has {
					if i+1 >= len(args) {
						return opts, i, fmt.Errorf("option --%s needs a value", name)
					}
					i++
					val, has = args[i], true
				}
			case sp.longNoArg[name]:
			default:
				return opts, i, fmt.Errorf("unrecognised option --%s", name)
			}
			opts = append(opts, opt{name: name, long: true, value: val, has: has})
			i++
			continue
		}
		if sp.numeric && isDigits(arg[1:]) {
			opts = append(opts, opt{name: arg[1:]})
			i++
			continue
		}
		cluster := arg[1:]
		for j := 0; j < len(cluster); j++ {
			c := cluster[j]
			switch {
			case strings.IndexByte(sp.argShort, c) >= 0:
				val := cluster[j+1:]
				if val == "" {
					if i+1 >= len(args) {
						return opts, i, fmt.Errorf("option -%c needs a value", c)
					}
					i++
					val = args[i]
				}
				opts = append(opts, opt{name: string(c), value: val, has: true})
				j = len(cluster)
			case strings.IndexByte(sp.noArgShort, c) >= 0:
				opts = append(opts, opt{name: string(c)})
			default:
				return opts, i, fmt.Errorf("unrecognised option -%c", c)
			}
		}
		i++
	}
	return opts, i, nil
}

// envRule handles env(1): assignments go to the wrapped command's Env.
func (a *analyzer) envRule(argv []string, r *ruleResult) {
	r.runner = true
	args := argv[1:]
	// -S splits a string into a new command line: refuse in any spelling,
	// including abbreviations of --split-string, before option parsing.
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" || !strings.HasPrefix(arg, "-") {
			break
		}
		if arg == "-u" || arg == "-C" || arg == "--unset" || arg == "--chdir" {
			i++ // skip the value
			continue
		}
		if isLongPrefix(arg, "split-string") || (!strings.HasPrefix(arg, "--") && strings.ContainsAny(arg[1:], "SP")) {
			r.always("env -S/-P re-splits or re-resolves the command and is not allowed")
			return
		}
	}
	sp := optSpec{
		argShort:   "uC",
		noArgShort: "i0v",
		longArg:    set("unset", "chdir"),
		longNoArg:  set("ignore-environment", "null", "debug", "ignore-signal", "default-signal", "block-signal", "list-signal-handling"),
	}
	opts, i, err := parseOpts(args, sp)
	if err != nil {
		r.miss("env: %v", err)
		r.decided = true
		return
	}
	w := &wrappedCmd{}
	for _, o := range opts {
		if o.name == "C" || o.name == "chdir" {
			w.cwd = o.value
			if !filepath.IsAbs(w.cwd) {
				w.cwd = filepath.Join(a.cwd, w.cwd)
			}
		}
	}
	for ; i < len(args); i++ {
		name, _, ok := strings.Cut(args[i], "=")
		if !ok || name == "" {
			break
		}
		if isDangerousVar(name) {
			r.always("setting %s is not allowed", name)
		}
		w.env = append(w.env, args[i])
		w.findings = append(w.findings, finding{sevMiss, fmt.Sprintf("environment assignment %s= needs approval", name)})
	}
	if i >= len(args) {
		return // env alone prints the environment
	}
	w.argv = args[i:]
	r.wrapped = append(r.wrapped, w)
}

// wrapperRule handles programs that run the rest of their command line as
// a command: the wrapper must be allowlisted itself, and the wrapped command
// is analysed as its own segment.
func (a *analyzer) wrapperRule(base string, argv []string, r *ruleResult) {
	r.runner = true
	var sp optSpec
	positional := 0
	missOpts := map[string]string{}
	switch base {
	case "nice":
		sp = optSpec{argShort: "n", longArg: set("adjustment"), numeric: true}
	case "nohup":
	case "timeout":
		sp = optSpec{argShort: "sk", noArgShort: "v", longArg: set("signal", "kill-after"), longNoArg: set("preserve-status", "foreground", "verbose")}
		positional = 1
	case "stdbuf":
		sp = optSpec{argShort: "ioe", longArg: set("input", "output", "error")}
	case "setsid":
		sp = optSpec{noArgShort: "cfw", longNoArg: set("ctty", "fork", "wait")}
	case "sudo":
		sp = optSpec{argShort: "ugCDhpRrtTU", noArgShort: "AbEeHiKklnPSsVv",
			longArg:   set("user", "group", "close-from", "chdir", "host", "prompt", "chroot", "role", "type", "command-timeout", "other-user"),
			longNoArg: set("askpass", "background", "preserve-env", "edit", "set-home", "login", "remove-timestamp", "reset-timestamp", "list", "non-interactive", "preserve-groups", "stdin", "shell", "version", "validate")}
		for _, o := range []string{"b", "background", "E", "preserve-env", "e", "edit", "i", "login", "s", "shell", "D", "chdir", "R", "chroot", "C", "close-from", "l", "list", "K", "k", "v", "validate", "V", "h", "host"} {
			missOpts[o] = "sudo option needs approval"
		}
	case "doas":
		sp = optSpec{argShort: "uC", noArgShort: "ns"}
		missOpts["s"] = "doas -s runs a shell"
		missOpts["C"] = "doas -C needs approval"
	case "chroot":
		sp = optSpec{longArg: set("userspec", "groups"), longNoArg: set("skip-chdir")}
		positional = 1
	case "watch":
		sp = optSpec{argShort: "nq", noArgShort: "bcCdegptwrx",
			longArg:   set("interval", "equexit"),
			longNoArg: set("beep", "color", "no-color", "differences", "errexit", "chgexit", "precise", "no-title", "no-wrap", "no-rerun", "exec")}
	case "strace":
		sp = optSpec{argShort: "eopsuaPSXIbE", noArgShort: "cCdDfFhiqrtTvVwxyzkZn"}
		for _, o := range []string{"o", "p", "u", "P", "E", "b"} {
			missOpts[o] = "strace option needs approval"
		}
	case "time":
		sp = optSpec{argShort: "fo", noArgShort: "apqvV", longArg: set("format", "output"), longNoArg: set("append", "portability", "verbose", "quiet")}
		missOpts["o"] = "time -o writes a file"
		missOpts["output"] = "time --output writes a file"
	case "xargs":
		sp = optSpec{argShort: "adEILnPs", noArgShort: "0prtxeil",
			longArg:   set("arg-file", "delimiter", "max-lines", "max-args", "max-procs", "max-chars", "process-slot-var"),
			longNoArg: set("null", "interactive", "no-run-if-empty", "verbose", "exit", "open-tty", "show-limits", "eof", "replace")}
		missOpts["process-slot-var"] = "xargs --process-slot-var sets an environment variable"
	}
	args := argv[1:]
	opts, i, err := parseOpts(args, sp)
	if err != nil {
		r.miss("%s: %v; cannot tell which command it runs", base, err)
		r.decided = true
		return
	}
	w := &wrappedCmd{openArgs: base == "xargs"}
	watchExec := false
	for _, o := range opts {
		if m, ok := missOpts[o.name]; ok {
			r.miss("%s (%s)", m, o.name)
		}
		if base == "watch" && (o.name == "x" || o.name == "exec") {
			watchExec = true
		}
	}
	if base == "sudo" {
		for ; i < len(args); i++ {
			name, _, ok := strings.Cut(args[i], "=")
			if !ok || name == "" || strings.ContainsAny(name, "/-") {
				break
			}
			if isDangerousVar(name) {
				r.always("setting %s is not allowed", name)
			}
			w.env = append(w.env, args[i])
			w.findings = append(w.findings, finding{sevMiss, fmt.Sprintf("environment assignment %s= needs approval", name)})
		}
	}
	if i+positional > len(args) {
		r.miss("%s: missing operand", base)
		return
	}
	if base == "chroot" {
		root := args[i]
		if !filepath.IsAbs(root) {
			root = filepath.Join(a.cwd, root)
		}
		w.root = filepath.Clean(root)
	}
	i += positional
	if i >= len(args) {
		switch base {
		case "xargs":
			w.argv = []string{"echo"}
		case "chroot", "sudo", "doas":
			r.miss("%s without a command runs a shell", base)
			return
		default:
			return
		}
	} else {
		w.argv = args[i:]
	}
	if base == "watch" && !watchExec {
		r.miss("watch runs its arguments through sh -c; needs approval")
		r.decided = true
		return
	}
	r.wrapped = append(r.wrapped, w)
}

// findRule: -exec and friends run commands; -delete and -fprint* change
// files.
func findRule(argv []string, r *ruleResult) {
	r.runner = true
	for i := 1; i < len(argv); i++ {
		switch argv[i] {
		case "-delete", "-fprint", "-fprint0", "-fprintf", "-fls":
			r.miss("find %s changes files and needs approval", argv[i])
		case "-exec", "-execdir", "-ok", "-okdir":
			j := i + 1
			for j < len(argv) && argv[j] != ";" && argv[j] != "+" {
				j++
			}
			if j >= len(argv) {
				r.miss("find %s without a terminating ; or +", argv[i])
				return
			}
			w := &wrappedCmd{argv: argv[i+1 : j]}
			if len(w.argv) == 0 {
				r.miss("find %s without a command", argv[i])
			} else {
				if (argv[i] == "-execdir" || argv[i] == "-okdir") && strings.Contains(w.argv[0], "/") && !strings.HasPrefix(w.argv[0], "/") {
					w.findings = append(w.findings, finding{sevMiss, "find " + argv[i] + " runs a relative command path from each found directory; needs approval"})
				}
				if strings.Contains(w.argv[0], "{}") {
					w.findings = append(w.findings, finding{sevMiss, "find runs the found files themselves; needs approval"})
				}
				r.wrapped = append(r.wrapped, w)
			}
			i = j
		}
	}
}

// isLongPrefix reports whether arg is --x or --x=… where x is an
// abbreviation (getopt_long accepts unambiguous prefixes) of long.
func isLongPrefix(arg, long string) bool {
	name, ok := strings.CutPrefix(arg, "--")
	if !ok {
		return false
	}
	name, _, _ = strings.Cut(name, "=")
	return len(name) >= 3 && strings.HasPrefix(long, name)
}

func anyLongPrefix(arg string, longs ...string) (string, bool) {
	for _, l := range longs {
		if isLongPrefix(arg, l) {
			return l, true
		}
	}
	return "", false
}

// gitSubcommands are built-in git commands that do not run configurable
// commands from their arguments. Anything else may be an alias (a "!"
// alias runs a shell) and needs approval.
var gitSubcommands = set("status", "log", "diff", "show", "branch", "checkout", "switch", "restore",
	"add", "commit", "push", "pull", "fetch", "clone", "merge", "rebase", "reset", "rev-parse",
	"ls-files", "ls-tree", "ls-remote", "cat-file", "tag", "stash", "remote", "blame", "grep",
	"describe", "init", "mv", "rm", "shortlog", "reflog", "worktree", "cherry-pick", "revert",
	"apply", "format-patch", "am", "clean", "notes", "gc", "fsck", "count-objects", "show-ref",
	"for-each-ref", "symbolic-ref", "name-rev", "merge-base", "rev-list", "version", "help",
	"range-diff", "whatchanged", "sparse-checkout", "cherry", "diff-tree", "diff-files",
	"diff-index", "hash-object", "check-ignore", "check-attr", "annotate", "bundle", "archive")

var gitMissSubcommands = set("config", "submodule", "filter-branch", "bisect", "difftool", "mergetool",
	"daemon", "instaweb", "send-email", "credential", "upload-pack", "receive-pack", "upload-archive",
	"shell", "p4", "svn", "cvsserver", "cvsimport", "archimport", "quiltimport", "web--browse", "hook",
	"fsmonitor--daemon", "run-command")

func gitRule(argv []string, r *ruleResult) {
	r.runner = true
	i := 1
	for ; i < len(argv); i++ {
		arg := argv[i]
		if !strings.HasPrefix(arg, "-") {
			break
		}
		switch {
		case arg == "-c" || strings.HasPrefix(arg, "-c") && !strings.HasPrefix(arg, "--"):
			r.miss("git -c sets configuration (which can run commands) and needs approval")
			if arg == "-c" {
				i++
			}
		case arg == "-C":
			i++
		case strings.HasPrefix(arg, "--config-env"), strings.HasPrefix(arg, "--exec-path"):
			r.miss("git %s needs approval", arg)
		case strings.HasPrefix(arg, "--git-dir") || strings.HasPrefix(arg, "--work-tree"):
			// A repository chosen on the command line brings its own
			// config (core.fsmonitor, hooks, aliases) that runs commands.
			r.miss("git %s points at another repository and needs approval", arg)
			if !strings.Contains(arg, "=") {
				i++
			}
		case arg == "--namespace":
			i++
		}
	}
	if i >= len(argv) {
		return
	}
	sub := argv[i]
	switch {
	case gitMissSubcommands[sub]:
		r.miss("git %s can run configured commands and needs approval", sub)
		return
	case !gitSubcommands[sub]:
		r.miss("git %s is not a known built-in subcommand (it may be an alias) and needs approval", sub)
		return
	}
	for _, arg := range argv[i+1:] {
		if arg == "--" {
			break
		}
		if l, ok := anyLongPrefix(arg, "upload-pack", "receive-pack", "exec", "extcmd", "output", "template", "config", "open-files-in-pager", "ext-diff", "textconv"); ok {
			r.miss("git %s --%s can run or write arbitrary files and needs approval", sub, l)
		}
		if strings.Contains(arg, "ext::") || strings.Contains(arg, "fd::") {
			r.miss("git ext:: and fd:: transports run commands; needs approval")
		}
		short := strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--")
		switch sub {
		case "clone", "fetch", "pull", "ls-remote", "archive":
			if short && strings.ContainsAny(arg[1:], "uc") {
				r.miss("git %s %s sets an upload program or configuration; needs approval", sub, arg)
			}
		case "rebase":
			if short && strings.ContainsAny(arg[1:], "x") {
				r.miss("git rebase -x runs commands; needs approval")
			}
		case "grep":
			if short && strings.ContainsAny(arg[1:], "O") {
				r.miss("git grep -O runs a pager command; needs approval")
			}
		}
	}
}

func sshRule(base string, argv []string, r *ruleResult) {
	r.runner = true
	argLetters := "BbcDEeFIiJLlmOoPpQRSWw"
	bad := "oF"
	switch base {
	case "scp", "sftp":
		argLetters = "cDFiJloPSsX"
		bad = "oFSD"
	case "rsync":
		for _, arg := range argv[1:] {
			if _, ok := anyLongPrefix(arg, "rsh", "rsync-path"); ok {
				r.miss("rsync %s runs a program; needs approval", arg)
			} else if strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--") && strings.ContainsAny(arg, "e") {
				r.miss("rsync -e runs a program; needs approval")
			}
		}
		return
	}
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" || !strings.HasPrefix(arg, "-") {
			return
		}
		for j := 1; j < len(arg); j++ {
			c := arg[j]
			if strings.IndexByte(bad, c) >= 0 {
				r.miss("%s -%c can run local commands (ProxyCommand, config files); needs approval", base, c)
				return
			}
			if strings.IndexByte(argLetters, c) >= 0 {
				if j == len(arg)-1 {
					i++
				}
				break
			}
		}
	}
}

func tarRule(argv []string, r *ruleResult) {
	r.runner = true
	deny := func(what string) { r.deny("tar %s runs a command and is not allowed", what) }
	argLetters := "bCfFgHIKLNTVX"
	for i := 1; i < len(argv); i++ {
		arg := argv[i]
		if arg == "--" {
			return
		}
		if l, ok := anyLongPrefix(arg, "to-command", "use-compress-program", "checkpoint-action", "info-script", "new-volume-script", "rsh-command", "rmt-command"); ok {
			deny("--" + l)
			continue
		}
		switch {
		case i == 1 && !strings.HasPrefix(arg, "-"):
			// Old-style bundled options (tar xIf prog file): each letter
			// that takes a value consumes the next argument.
			for j := 0; j < len(arg); j++ {
				if arg[j] == 'I' || arg[j] == 'F' {
					deny("-" + string(arg[j]))
				} else if strings.IndexByte(argLetters, arg[j]) >= 0 {
					i++
				}
			}
		case strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--"):
			for j := 1; j < len(arg); j++ {
				if arg[j] == 'I' || arg[j] == 'F' {
					deny("-" + string(arg[j]))
					break
				}
				if strings.IndexByte(argLetters, arg[j]) >= 0 {
					if j == len(arg)-1 {
						i++
					}
					break
				}
			}
		}
	}
}

// sedRule allows sed only with scripts that cannot execute commands or
// touch files other than its operands.
func sedRule(argv []string, r *ruleResult) {
	r.runner = true
	for _, arg := range argv[1:] {
		if arg == "--" {
			break
		}
		if _, ok := anyLongPrefix(arg, "in-place", "file"); ok {
			r.miss("sed %s edits or reads files; needs approval", arg)
			return
		}
	}
	sp := optSpec{argShort: "efl", noArgShort: "nrsuzE",
		longArg:   set("expression", "line-length"),
		longNoArg: set("quiet", "silent", "debug", "posix", "sandbox", "null-data", "separate", "unbuffered", "regexp-extended", "follow-symlinks")}
	opts, i, err := parseOpts(argv[1:], sp)
	if err != nil {
		r.miss("sed: %v", err)
		r.decided = true
		return
	}
	var scripts []string
	for _, o := range opts {
		switch o.name {
		case "f":
			r.miss("sed -f reads a script file; needs approval")
			return
		case "e", "expression":
			scripts = append(scripts, o.value)
		}
	}
	if len(scripts) == 0 {
		if i >= len(argv)-1 {
			r.miss("sed without a script")
			return
		}
		scripts = append(scripts, argv[1+i])
	}
	for _, s := range scripts {
		if why := sedScriptUnsafe(s); why != "" {
			r.miss("sed script %s; needs approval", why)
			return
		}
	}
}

// sedScriptUnsafe returns why a sed script is not plainly a text filter
// (it executes, reads or writes files), or "" if it is.
func sedScriptUnsafe(s string) string {
	i := 0
	n := len(s)
	skipRegex := func(delim byte) bool {
		for i < n {
			c := s[i]
			if c == '\\' {
				i += 2
				continue
			}
			if c == '\n' {
				return false
			}
			i++
			if c == delim {
				return true
			}
		}
		return false
	}
	address := func() bool {
		switch {
		case i < n && s[i] >= '0' && s[i] <= '9':
			for i < n && (s[i] >= '0' && s[i] <= '9' || s[i] == '~') {
				i++
			}
		case i < n && s[i] == '$':
			i++
		case i < n && s[i] == '/':
			i++
			if !skipRegex('/') {
				return false
			}
			for i < n && (s[i] == 'I' || s[i] == 'M') {
				i++
			}
		case i+1 < n && s[i] == '\\':
			d := s[i+1]
			i += 2
			if !skipRegex(d) {
				return false
			}
		}
		return true
	}
	for steps := 0; i < n && steps <= n; steps++ {
		c := s[i]
		if c == ' ' || c == '\t' || c == '\n' || c == ';' || c == '}' {
			i++
			continue
		}
		if !address() {
			return "has an unterminated address"
		}
		if i < n && s[i] == ',' {
			i++
			if i < n && (s[i] == '+' || s[i] == '~') {
				i++
			}
			if !address() {
				return "has an unterminated address"
			}
		}
		for i < n && (s[i] == ' ' || s[i] == '!') {
			i++
		}
		if i >= n {
			return "ends with an address"
		}
		c = s[i]
		i++
		switch c {
		case '{', '=', 'd', 'D', 'g', 'G', 'h', 'H', 'x', 'n', 'N', 'p', 'P', 'z', 'F':
		case 'q', 'Q', 'l', 'L':
			for i < n && s[i] >= '0' && s[i] <= '9' {
				i++
			}
		case ':', 'b', 't', 'T', 'a', 'i', 'c', '#':
			// Label or text up to the end of the line (labels also end at ;
			// in GNU sed, but reading further only skips more).
			for i < n && s[i] != '\n' && !(c != 'a' && c != 'i' && c != 'c' && c != '#' && s[i] == ';') {
				i++
			}
		case 's', 'y':
			if i >= n || s[i] == '\n' || s[i] == '\\' {
				return "has a malformed s command"
			}
			d := s[i]
			i++
			if !skipRegex(d) || !skipRegex(d) {
				return "has an unterminated s or y command"
			}
			if c == 'y' {
				continue
			}
			for i < n && strings.IndexByte("gpiImM0123456789", s[i]) >= 0 {
				i++
			}
			if i < n && strings.IndexByte("ew", s[i]) >= 0 {
				return "uses the s///" + string(s[i]) + " flag (execute or write a file)"
			}
		case 'e', 'r', 'R', 'w', 'W', 'v':
			if c == 'v' {
				continue
			}
			return fmt.Sprintf("uses the %c command (execute, or read or write a file)", c)
		default:
			return fmt.Sprintf("uses an unrecognised command %q", c)
		}
	}
	return ""
}

// fileWriters are programs whose operands name files they create or change.
var fileWriters = set("cp", "mv", "ln", "install", "rsync", "tee", "touch", "truncate", "dd", "patch",
	"unzip", "mkdir", "chmod", "sed", "gsed", "tar", "bsdtar", "gtar", "curl", "wget")

// writerRule: a write to a path that configures programs (ConfiguresPrograms)
// needs approval in every session. Only operands are seen: a directory
// copied whole (cp -r dir/. .) or an archive's members are not, which is
// why tar extracts with such paths excluded (exectool) and git reads its
// repository configuration before it runs.
func writerRule(base string, argv []string, r *ruleResult) {
	if !fileWriters[base] {
		return
	}
	if base == "sed" || base == "gsed" {
		inPlace := false
		for _, arg := range argv[1:] {
			if arg == "--" {
				break
			}
			if strings.HasPrefix(arg, "-i") || isLongPrefix(arg, "in-place") || (strings.HasPrefix(arg, "-") && !strings.HasPrefix(arg, "--") && strings.Contains(arg, "i")) {
				inPlace = true
			}
		}
		if !inPlace {
			return
		}
	}
	for _, arg := range argv[1:] {
		cand := arg
		if _, v, ok := strings.Cut(arg, "="); ok && (strings.HasPrefix(arg, "--") || strings.HasPrefix(arg, "of=")) {
			cand = v
		}
		if part, ok := ConfiguresPrograms(cand); ok {
			r.miss("%s writes to %s, which configures programs (%s); that changes the host and needs approval", base, arg, part)
			return
		}
	}
}
