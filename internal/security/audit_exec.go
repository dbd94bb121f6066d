package security

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
)

// runners are programs that run code or other programs they are given:
// shells, interpreters, and wrappers that execute their arguments (env,
// xargs, find -exec, sudo, nohup, timeout, …) or a package they fetch (npx,
// uvx). On any exec list that skips
// approval they let a command run anything.
func runners() []string {
	return []string{
		"sh", "bash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "ash", "busybox", "toybox",
		"python", "pypy", "perl", "ruby", "node", "nodejs", "deno", "bun", "php", "lua", "luajit", "tclsh", "wish",
		"expect", "pwsh", "powershell", "rscript", "julia", "osascript", "guile", "racket", "sbcl", "irb", "jshell",
		"awk", "gawk", "mawk", "nawk", "sed", "gsed",
		"env", "xargs", "find", "parallel", "watch", "flock", "nohup", "timeout", "nice", "ionice", "stdbuf",
		"setsid", "chroot", "unshare", "nsenter", "strace", "ltrace", "gdb", "script", "time", "command", "exec",
		"sudo", "doas", "su", "pkexec", "runuser", "ssh",
		// They fetch a package and run it.
		"npx", "pnpx", "bunx", "uvx", "pipx",
	}
}

// Runner reports whether an exec list entry names, or as a glob covers, a
// shell, an interpreter or a command runner. entry is a path glob
// ("/usr/bin/python3.11", "/usr/local/bin/*") or a bare name ("node"); a
// version suffix counts ("python3.11", "perl5"). It is the one test every
// exec list (tools.exec.allowlist, safeBins, helpers) goes through.
func Runner(entry string) (string, bool) {
	base := strings.ToLower(path.Base(strings.TrimSpace(entry)))
	for _, r := range runners() {
		if base == r {
			return r, true
		}
		if rest, ok := strings.CutPrefix(base, r); ok && rest != "" && strings.Trim(rest, "0123456789.-") == "" {
			return r, true
		}
		if strings.ContainsAny(base, "*?[") {
			if ok, _ := path.Match(base, r); ok {
				return r, true
			}
		}
	}
	return "", false
}

// execList is one exec list that lets commands run without approval.
type execList struct {
	key     string
	checkID string
	entries []string
	owner   map[string]string // entry -> the program it belongs to (helpers)
}

// exec checks the exec tool's policy and, with one function, every exec
// list for runners; a runner is worse when strangers can reach the agent.
func (a *auditor) exec() {
	c, add := a.c, a.add
	e := c.Tools.Exec
	if e.Security == "full" {
		add("tools.exec.security_full", Critical, "exec runs any command", "tools.exec.security \"full\": only approvals and the sandbox stand between a hijacked model and the host", "use \"allowlist\"", false)
	}
	if e.Ask == "off" {
		sev := Warn
		if a.strangers() {
			sev = Critical
		}
		add("tools.exec.ask_off", sev, "exec never asks", "commands off the allowlist are refused without asking, or run if security is full", "use ask \"on-miss\"", false)
	}
	switch e.AskFallback {
	case "full":
		sev := Warn
		if a.strangers() || c.Agents.Defaults.Sandbox.Mode == "off" {
			sev = Critical
		}
		add("tools.exec.ask_fallback_full", sev, "commands run when nobody answers an approval",
			"tools.exec.askFallback \"full\": a command that needs approval runs anyway when no approver is reachable, so a hijacked model only has to wait until you are offline",
			"talon security audit --fix sets it to \"deny\"", true)
	case "allowlist":
		add("tools.exec.ask_fallback_allowlist", Info, "askFallback \"allowlist\" behaves like \"deny\"",
			"Talon runs a command nobody approved only with askFallback \"full\"; \"allowlist\" refuses it, but reads as if it allowed something",
			"talon security audit --fix sets it to \"deny\"", true)
	}

	sev := Warn
	if a.strangers() {
		sev = Critical
	}
	helperEntries, helperOwner := []string{}, map[string]string{}
	for _, prog := range slices.Sorted(maps.Keys(e.Helpers)) {
		for _, h := range e.Helpers[prog] {
			helperEntries = append(helperEntries, h)
			helperOwner[h] = prog
		}
	}
	for _, l := range []execList{
		{"tools.exec.allowlist", "tools.exec.interpreter_allowlisted", e.Allowlist, nil},
		{"tools.exec.safeBins", "tools.exec.safebin_interpreter", e.SafeBins, nil},
		{"tools.exec.helpers", "tools.exec.helper_interpreter", helperEntries, helperOwner},
	} {
		for _, entry := range l.entries {
			r, ok := Runner(entry)
			if !ok {
				continue
			}
			what := entry
			if prog := l.owner[entry]; prog != "" {
				what = prog + " may start " + entry
			}
			how := "runs arbitrary code"
			if strings.ContainsAny(entry, "*?[") {
				how = "is a wildcard that covers " + r + ", which runs arbitrary code"
			}
			add(l.checkID, sev, fmt.Sprintf("%s: %s", l.key, what), fmt.Sprintf("%s %s without approval, even in a tainted session; a shell, interpreter or command runner must be approved command by command", entry, how),
				"talon security audit --fix removes it; approve such commands one by one", true)
			a.keyed(l.key)
		}
	}

	configurable := []string{"git", "make", "gmake", "npm", "npx", "yarn", "pnpm", "pip", "pip3", "cargo", "go", "mvn", "gradle", "bundle", "rake", "composer"}
	var steerable []string
	for _, al := range e.Allowlist {
		if slices.Contains(configurable, strings.ToLower(path.Base(al))) {
			steerable = append(steerable, al)
		}
	}
	switch {
	case e.DangerouslyAllowConfigurablePrograms && a.in.NoExecGuard && len(steerable) > 0:
		add("tools.exec.configurable_unguarded", Critical, "allowlisted programs can be steered into running anything",
			fmt.Sprintf("this kernel has no Landlock and tools.exec.dangerouslyAllowConfigurablePrograms is on: files the agent writes can make %s start any program", strings.Join(steerable, ", ")),
			"run Talon on a kernel with Landlock, or turn the setting off (such commands then ask first)", false)
	case a.in.NoExecGuard && len(steerable) > 0:
		add("tools.exec.configurable_need_approval", Warn, "allowlisted programs that read configuration will ask first",
			fmt.Sprintf("this kernel has no Landlock, so nothing limits what %s could start; they need approval each time", strings.Join(steerable, ", ")),
			"run Talon on a kernel with Landlock (5.13+)", false)
	case e.DangerouslyAllowConfigurablePrograms:
		add("tools.exec.configurable_opt_in", Info, "tools.exec.dangerouslyAllowConfigurablePrograms is on",
			"it has no effect while the kernel limits what commands execute (Landlock), and becomes dangerous on a kernel without it", "turn it off", false)
	}
}
