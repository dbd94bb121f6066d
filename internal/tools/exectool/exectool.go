// Package exectool implements the exec tool.
//
// Invariant 5: a command is decided on its canonical parsed plan
// (execplan.Analyze), never on the raw string, and the plan that was
// decided is the plan that runs: the command is executed by an in-process
// POSIX shell interpreter (mvdan.cc/sh/v3/interp) whose exec hook refuses
// any program invocation that is not a segment of the decided plan, and
// runs each one by its resolved absolute path. The decided plan's hash
// travels with the call; if the plan differs at run time (a binary swapped
// on PATH, a different cwd) nothing runs. Children get a scrubbed
// environment (no secrets), their own process group, a timeout and capped
// output.
//
// With a sandbox spec, every program runs through the sandbox helper
// (Landlock, seccomp, no_new_privs, a private network namespace).
package exectool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy/execplan"
	"github.com/talonclaw/talon/internal/sandbox"
	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// SandboxPATH is the only search path commands are resolved on.
const SandboxPATH = "/usr/local/bin:/usr/bin:/bin"

// Limits.
const (
	defaultTimeout = 60 * time.Second
	maxTimeout     = 30 * time.Minute
	defaultYield   = 10 * time.Second
	outputHead     = 24 << 10
	outputTail     = 8 << 10
)

// Options configure the exec tool and its policy hook.
type Options struct {
	Config    func() *config.Config
	Workspace string
	// LookPath replaces the real binary lookup (tests).
	LookPath func(name, path string) (string, error)
	// Yield is how long exec waits before leaving a command running in the
	// background (default 10 s).
	Yield time.Duration
	// Processes holds background runs; nil makes a private table.
	Processes *Processes
	// Sandbox returns the confinement for a call of the given session, or
	// nil to run unconfined (agents.defaults.sandbox.mode off, or non-main
	// in the owner's main session).
	Sandbox func(sessionKey string) *sandbox.Spec
	// Self is the talon binary that serves as the sandbox helper
	// (os.Executable(); tests pass their own binary). Unconfined runs use
	// it too, for the execute restriction.
	Self string
	// ExecGuard reports whether the kernel can limit what a command
	// executes; nil asks the kernel (sandbox.ExecGuardAvailable).
	ExecGuard func() bool
	// GitIdentity returns the owner's git user.name and user.email
	// (ReadGitIdentity), used where a repository sets none; nil adds none.
	GitIdentity func() (name, email string)
}

func (o Options) execGuard() bool {
	if o.ExecGuard != nil {
		return o.ExecGuard()
	}
	return sandbox.ExecGuardAvailable()
}

func (o Options) procs() *Processes {
	if o.Processes != nil {
		return o.Processes
	}
	return &Processes{}
}

type args struct {
	Command    string `json:"command"`
	Workdir    string `json:"workdir"`
	TimeoutSec int    `json:"timeoutSec"`
}

func parseArgs(raw json.RawMessage) (args, error) {
	var a args
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil || strings.TrimSpace(a.Command) == "" {
		return a, errors.New("invalid arguments: want {command, workdir?, timeoutSec?}")
	}
	if strings.ContainsRune(a.Command, 0) || strings.ContainsRune(a.Workdir, 0) {
		return a, errors.New("invalid arguments: NUL byte")
	}
	return a, nil
}

// cwd resolves workdir inside the workspace.
func (o Options) cwd(workdir string) (string, error) {
	if workdir == "" {
		return o.Workspace, nil
	}
	p := workdir
	if !filepath.IsAbs(p) {
		p = filepath.Join(o.Workspace, p)
	}
	p = filepath.Clean(p)
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("workdir %s: %v", workdir, err)
	}
	ws, _ := filepath.EvalSymlinks(o.Workspace)
	if real != ws && !strings.HasPrefix(real, ws+string(filepath.Separator)) {
		return "", fmt.Errorf("workdir %s is outside the workspace", workdir)
	}
	return real, nil
}

func (o Options) planConfig() execplan.Config {
	e := o.Config().Tools.Exec
	return execplan.Config{Security: e.Security, Allowlist: e.Allowlist, SafeBins: e.SafeBins, PATH: SandboxPATH, LookPath: o.LookPath}
}

// canon is exec's parsed call: the arguments, the working directory and
// the canonical plan the decision was made on.
type canon struct {
	args args
	cwd  string
	plan *execplan.Plan
}

// Plan analyses the command once (execplan: the real shell parser, every
// binary resolved to its absolute path) and states what the configured
// exec policy found: refusals (forbidden constructs, a repository that
// would make git start a program) and reasons to ask (a binary not on the
// allowlist). A plan of safe bins only reads stdin and writes stdout; any
// other command may change the host and reach the network.
func (t tool) Plan(ctx context.Context, c core.Call) (*core.Plan, error) {
	o := t.o
	a, err := parseArgs(c.Args)
	if err != nil {
		return nil, err
	}
	cwd, err := o.cwd(a.Workdir)
	if err != nil {
		return nil, err
	}
	pc := o.planConfig()
	plan, err := execplan.Analyze(a.Command, cwd, pc)
	if err != nil {
		return nil, err
	}
	if reason := o.profileVerdict(ctx, plan, cwd); reason != "" && plan.Verdict != execplan.Deny {
		if strings.HasPrefix(reason, "ask: ") {
			if plan.Verdict == execplan.Allow {
				plan.Verdict, plan.Reason = execplan.Miss, strings.TrimPrefix(reason, "ask: ")
			}
		} else {
			plan.Verdict, plan.Reason = execplan.Deny, reason
		}
	}
	p := &core.Plan{Tool: "exec", Effects: core.Executes | core.ReadsPrivate, Args: c.Args, Canon: canon{a, cwd, plan},
		Summary: fmt.Sprintf("run %q in %s", a.Command, cwd)}
	switch plan.Verdict {
	case execplan.Deny:
		p.Findings = append(p.Findings, core.Finding{Severity: core.Refuse, Reason: plan.Reason})
	case execplan.Miss:
		p.Findings = append(p.Findings, core.Finding{Severity: core.NeedsApproval, Reason: plan.Reason})
	}
	if !onlySafeBins(plan, pc) {
		p.Effects |= core.WritesHost | core.Egress
	}
	for _, s := range plan.Segments {
		if s.Resolved != "" {
			p.Targets = append(p.Targets, core.Target{Kind: core.TargetBinary, Value: s.Resolved})
		}
		p.Detail = append(p.Detail, strings.Join(s.Argv, " "))
	}
	// The plan's hash covers execplan's, so an approval binds to the
	// resolved binaries too.
	p.Detail = append(p.Detail, "plan "+plan.Hash)
	return p.Seal(), nil
}

// noHome is the HOME of configuration checks: it does not exist.
const noHome = "/nonexistent/talon-home"

// profileVerdict applies the exec profiles to a plan: "" when nothing
// stands in the way, "ask: why" when a configurable program would run
// without the kernel's execute restriction, else why it is refused (the
// repository's configuration would make git start a program).
func (o Options) profileVerdict(ctx context.Context, plan *execplan.Plan, cwd string) string {
	guard := o.execGuard()
	for _, s := range plan.Segments {
		if s.Resolved == "" {
			continue
		}
		prof := o.profileFor(s.Resolved)
		if prof.configurable && !guard && !o.Config().Tools.Exec.DangerouslyAllowConfigurablePrograms {
			return fmt.Sprintf("ask: this kernel has no Landlock, so %s could start any program its configuration or the workspace names (hint: approve, or set tools.exec.dangerouslyAllowConfigurablePrograms)", filepath.Base(s.Resolved))
		}
		if prof.check != nil {
			// The check only reads configuration, with global config
			// off: a HOME that does not exist is enough, and costs no
			// directory per decision.
			_, why := prof.check(ctx, s.Resolved, cwd, mergeEnv(scrubbedEnv(o.Workspace), homeEnv(noHome), prof.env))
			if why != "" {
				return why
			}
		}
	}
	return ""
}

// onlySafeBins reports whether every program in the plan is a safe bin (or
// a builtin), so the call only transforms stdin to stdout.
func onlySafeBins(p *execplan.Plan, c execplan.Config) bool {
	for _, s := range p.Segments {
		if s.Resolved == "" {
			continue
		}
		if matchesAllowlist(s.Resolved, c.Allowlist) || !slices.Contains(c.SafeBins, filepath.Base(s.Argv[0])) {
			return false
		}
	}
	return true
}

func matchesAllowlist(p string, list []string) bool {
	for _, g := range list {
		if ok, _ := path.Match(strings.ToLower(g), strings.ToLower(p)); ok && strings.Contains(g, "/") {
			return true
		}
	}
	return false
}

// New returns the exec tool, and the process tool that manages its
// background runs.
func New(o Options) core.Tool { return tool{o, o.procs()} }

type tool struct {
	o     Options
	procs *Processes
}

func (tool) Spec() core.Spec {
	return core.Spec{Name: "exec", Group: "group:runtime", Description: "Run a shell command in the workspace. Commands are checked against the owner's allowlist; others need approval.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"command":{"type":"string"},"workdir":{"type":"string"},"timeoutSec":{"type":"integer","minimum":1,"maximum":1800}},"required":["command"],"additionalProperties":false}`)}
}

// Run analyses the command again and runs it only if the result is the
// plan that was decided: a binary or the working directory that changed in
// between (a TOCTOU swap) stops it.
func (t tool) Run(ctx context.Context, call core.Call, decided *core.Plan) (core.Result, error) {
	var c canon
	ok := false
	if decided != nil {
		c, ok = decided.Canon.(canon)
	}
	if !ok || c.plan == nil {
		return core.Result{}, errors.New("exec: not a plan of exec")
	}
	a := c.args
	cwd, err := t.o.cwd(a.Workdir)
	if err != nil {
		return core.Result{}, err
	}
	plan, err := execplan.Analyze(a.Command, cwd, t.o.planConfig())
	if err != nil {
		return core.Result{}, err
	}
	if cwd != c.cwd || plan.Hash != c.plan.Hash {
		return core.Result{}, errors.New("the command's plan changed since it was decided (a binary or the working directory changed); nothing ran")
	}
	if plan.Verdict == execplan.Deny {
		return core.Result{}, fmt.Errorf("refused: %s", plan.Reason)
	}
	timeout := defaultTimeout
	if a.TimeoutSec > 0 {
		timeout = min(time.Duration(a.TimeoutSec)*time.Second, maxTimeout)
	}
	// The run has its own deadline, not the turn's: a long command keeps
	// going in the background after the call yields.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	p := &process{ID: "p" + newProcID(), SessionKey: call.Actor.SessionKey, Command: a.Command, Started: time.Now(), out: &capped{}, done: make(chan struct{}), cancel: cancel, timeout: timeout,
		cwd: cwd}
	for _, s := range plan.Segments {
		argv := slices.Clone(s.Argv)
		if s.Resolved != "" && len(argv) > 0 {
			argv[0] = s.Resolved
		}
		p.argv = append(p.argv, argv)
	}
	var spec *sandbox.Spec
	if t.o.Sandbox != nil {
		spec = t.o.Sandbox(call.Actor.SessionKey)
	}
	p.sandboxed = spec != nil
	go func() {
		defer cancel()
		p.code, p.err = t.o.run(rctx, plan, cwd, p.out, spec, call.Env)
		p.deadline = rctx.Err() == context.DeadlineExceeded
		close(p.done)
	}()
	yield := t.o.Yield
	if yield <= 0 {
		yield = defaultYield
	}
	select {
	case <-p.done:
		return p.result(), nil
	case <-time.After(yield):
	case <-ctx.Done():
		cancel()
		<-p.done
		return core.Result{}, context.Cause(ctx)
	}
	t.procs.add(p)
	d := p.detail()
	d["background"] = true
	return core.Result{Content: p.out.String() + fmt.Sprintf("\n[still running after %s as process %s; use process {action: poll|log|kill, sessionId: %q}]", yield, p.ID, p.ID),
		Detail: d}, nil
}

// scrubbedEnv is the whole environment a command gets: no inherited
// variables, so no secrets.
func scrubbedEnv(home string) []string {
	// TMPDIR is the workspace: /tmp is not writable inside the sandbox.
	return []string{"PATH=" + SandboxPATH, "HOME=" + home, "TMPDIR=" + home, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "TERM=dumb", "NO_COLOR=1", "PAGER=cat", "GIT_PAGER=cat"}
}

// run executes the plan with the interpreter. Every program invocation
// must match a not-yet-used segment of the plan exactly (argv), and runs
// that segment's resolved path, with its profile applied (profiles.go), an
// empty HOME of its own, and execute rights for nothing but itself, its
// helpers and their loaders.
func (o Options) run(ctx context.Context, plan *execplan.Plan, cwd string, out *capped, spec *sandbox.Spec, inject []string) (int, error) {
	file, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(plan.Raw), "")
	if err != nil {
		return -1, err
	}
	var mu sync.Mutex
	used := make([]bool, len(plan.Segments))
	handler := func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc {
		return func(ctx context.Context, argv []string) error {
			mu.Lock()
			idx := -1
			for i, s := range plan.Segments {
				if !used[i] && s.Resolved != "" && slices.Equal(s.Argv, argv) {
					idx = i
					break
				}
			}
			if idx >= 0 {
				used[idx] = true
			}
			mu.Unlock()
			if idx < 0 {
				return fmt.Errorf("refused: %q is not part of the decided plan", strings.Join(argv, " "))
			}
			hc := interp.HandlerCtx(ctx)
			seg := plan.Segments[idx]
			cmd, cleanup, err := o.command(ctx, seg, argv, hc.Dir, spec, inject)
			if err != nil {
				fmt.Fprintf(hc.Stderr, "talon: %v\n", err)
				return interp.ExitStatus(126)
			}
			defer cleanup()
			cmd.Stdin, cmd.Stdout, cmd.Stderr = hc.Stdin, hc.Stdout, hc.Stderr
			cmd.WaitDelay = 2 * time.Second
			err = cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return interp.ExitStatus(uint8(ee.ExitCode()))
			}
			return err
		}
	}
	r, err := interp.New(
		interp.Dir(cwd),
		interp.Env(expand.ListEnviron(scrubbedEnv(o.Workspace)...)),
		interp.StdIO(nil, out, out),
		interp.ExecHandlers(handler),
		interp.OpenHandler(func(ctx context.Context, p string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
			return nil, fmt.Errorf("refused: redirection to %s", p)
		}),
	)
	if err != nil {
		return -1, err
	}
	err = r.Run(ctx, file)
	var status interp.ExitStatus
	if errors.As(err, &status) {
		return int(status), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// command builds the process for one segment of the plan.
func (o Options) command(ctx context.Context, seg execplan.Segment, argv []string, dir string, spec *sandbox.Spec, inject []string) (*exec.Cmd, func(), error) {
	prof := o.profileFor(seg.Resolved)
	home, cleanup, err := runHome()
	if err != nil {
		return nil, nil, err
	}
	// Injected values (an active skill's granted secrets) come after the
	// scrubbed base and before the command's own assignments, the per-run
	// HOME and the program's profile, which they never override.
	env := mergeEnv(scrubbedEnv(o.Workspace), Injectable(inject), seg.Env, homeEnv(home), prof.env)
	argv = slices.Clone(argv)
	if len(prof.args) > 0 || prof.check != nil {
		extra := slices.Clone(prof.args)
		if prof.check != nil {
			more, why := prof.check(ctx, seg.Resolved, dir, env)
			if why != "" {
				cleanup()
				return nil, nil, errors.New("refused: " + why)
			}
			extra = append(extra, more...)
		}
		argv = slices.Concat(argv[:1], extra, argv[1:])
	}
	if b := filepath.Base(seg.Resolved); b == "tar" || b == "gtar" {
		argv = withTail(argv, tarExtractTail(argv))
	}
	guard := o.execGuard()
	var cmd *exec.Cmd
	switch {
	case spec != nil:
		s := *spec
		s.ReadWrite = append(slices.Clone(s.ReadWrite), home)
		s.Exec = append([]string{seg.Resolved}, prof.helpers...)
		cmd, err = sandbox.Command(ctx, o.Self, s, seg.Resolved, argv, env)
	case guard:
		// sandbox.mode off: unconfined, but still only the plan runs.
		if o.Self == "" {
			err = errors.New("exec: the execute restriction needs the talon binary (Options.Self)")
			break
		}
		s := sandbox.Spec{Workspace: o.Workspace, Unconfined: true, Exec: append([]string{seg.Resolved}, prof.helpers...)}
		cmd, err = sandbox.Command(ctx, o.Self, s, seg.Resolved, argv, env)
	default:
		cmd = exec.CommandContext(ctx, seg.Resolved, argv[1:]...)
		cmd.Args[0] = argv[0]
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	}
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	cmd.Dir = dir
	return cmd, cleanup, nil
}

// capped keeps the head and the tail of the output.
type capped struct {
	mu      sync.Mutex
	head    []byte
	tail    []byte
	dropped int
}

func (c *capped) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := len(p)
	if room := outputHead - len(c.head); room > 0 {
		k := min(room, len(p))
		c.head = append(c.head, p[:k]...)
		p = p[k:]
	}
	if len(p) > 0 {
		c.tail = append(c.tail, p...)
		if over := len(c.tail) - outputTail; over > 0 {
			c.dropped += over
			c.tail = c.tail[over:]
		}
	}
	return n, nil
}

func (c *capped) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := string(c.head)
	if c.dropped > 0 {
		s += fmt.Sprintf("\n[… %d bytes of output omitted …]\n", c.dropped)
	}
	return strings.ToValidUTF8(s+string(c.tail), "\uFFFD")
}

// envName is a valid name for an injected variable.
var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,63}$`)

// Injectable keeps the NAME=value pairs that may be injected into a
// command: well-formed names that steer neither the shell, the loader nor
// the sandbox (PATH, HOME, TMPDIR, LD_*, DYLD_*, … are never injected).
func Injectable(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(k) || strings.HasPrefix(k, "LD_") || strings.HasPrefix(k, "DYLD_") || strings.HasPrefix(k, "GIT_") {
			continue
		}
		switch k {
		case "PATH", "HOME", "TMPDIR", "SHELL", "ENV", "BASH_ENV", "IFS", "LANG", "LC_ALL", "TERM", "PAGER", "GIT_PAGER", "NO_COLOR", "PWD", "USER":
			continue
		}
		out = append(out, kv)
	}
	return out
}
