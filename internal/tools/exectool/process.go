package exectool

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/core"
)

// Processes is the table of background runs. Every action is scoped to the
// calling session: one session never sees or kills another's processes.
type Processes struct {
	mu    sync.Mutex
	procs map[string]*process
}

type process struct {
	ID, SessionKey, Command string
	Started                 time.Time
	out                     *capped
	done                    chan struct{}
	cancel                  context.CancelFunc
	timeout                 time.Duration
	code                    int
	err                     error
	deadline                bool
	// argv and cwd are the canonical plan that ran, for the audit log.
	argv      [][]string
	cwd       string
	sandboxed bool
}

func newProcID() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (p *process) running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

func (p *process) result() core.Result {
	text := p.out.String()
	var r core.Result
	switch {
	case p.deadline:
		r = core.Result{Content: text + fmt.Sprintf("\n[killed after %s (timeoutSec)]", p.timeout), IsError: true}
	case p.err != nil:
		r = core.Result{Content: text + "\n[error: " + p.err.Error() + "]", IsError: true}
	case p.code != 0:
		r = core.Result{Content: text + fmt.Sprintf("\n[exit status %d]", p.code), IsError: true}
	default:
		r = core.Result{Content: text}
	}
	r.Detail = p.detail()
	r.Detail["exitCode"] = p.code
	if p.deadline {
		r.Detail["timedOut"] = true
	}
	if p.err != nil {
		r.Detail["error"] = p.err.Error()
	}
	return r
}

// detail is what the audit log keeps of a run: the canonical argv of each
// segment (argv[0] resolved to its path), the working directory and
// whether it was confined.
func (p *process) detail() map[string]any {
	return map[string]any{"process": p.ID, "argv": p.argv, "cwd": p.cwd, "sandboxed": p.sandboxed}
}

func (ps *Processes) add(p *process) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.procs == nil {
		ps.procs = map[string]*process{}
	}
	// Forget finished runs older than an hour.
	for id, q := range ps.procs {
		if !q.running() && time.Since(q.Started) > time.Hour {
			delete(ps.procs, id)
		}
	}
	ps.procs[p.ID] = p
}

func (ps *Processes) get(session, id string) (*process, bool) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	p, ok := ps.procs[id]
	if !ok || p.SessionKey != session {
		return nil, false
	}
	return p, true
}

// KillAll stops every background run (gateway shutdown).
func (ps *Processes) KillAll() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, p := range ps.procs {
		p.cancel()
	}
}

// ProcessTool returns the process tool for the exec tool's table.
func ProcessTool(o Options) core.Tool { return processTool{o.procs()} }

type processTool struct{ ps *Processes }

func (processTool) Spec() core.Spec {
	return core.Spec{Name: "process", Group: "group:runtime", Description: "Manage commands exec left running in the background: list, poll (status and new output), log (all output), kill.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"action":{"type":"string","enum":["list","poll","log","kill"]},"sessionId":{"type":"string"}},"required":["action"],"additionalProperties":false}`)}
}

type processArgs struct {
	Action    string `json:"action"`
	SessionID string `json:"sessionId"`
}

// Plan: list, poll and log read runs' output (the owner's data); kill
// changes the host.
func (processTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a processArgs
	if err := json.Unmarshal(c.Args, &a); err != nil {
		return nil, fmt.Errorf("invalid arguments: %v", err)
	}
	p := &core.Plan{Tool: "process", Effects: core.ReadsPrivate, Args: c.Args, Canon: a, Summary: a.Action + " " + a.SessionID}
	switch a.Action {
	case "list", "poll", "log":
	case "kill":
		p.Effects |= core.WritesHost
	default:
		return nil, fmt.Errorf("invalid arguments: action must be list, poll, log or kill")
	}
	if a.Action != "list" && a.SessionID == "" {
		return nil, fmt.Errorf("invalid arguments: %s needs sessionId", a.Action)
	}
	return p.Seal(), nil
}

func (t processTool) Run(ctx context.Context, c core.Call, plan *core.Plan) (core.Result, error) {
	a := plan.Canon.(processArgs)
	if a.Action == "list" {
		t.ps.mu.Lock()
		var lines []string
		for _, p := range t.ps.procs {
			if p.SessionKey == c.Actor.SessionKey {
				state := "running"
				if !p.running() {
					state = "finished"
				}
				lines = append(lines, fmt.Sprintf("%s  %-8s  since %s  %s", p.ID, state, p.Started.UTC().Format(time.TimeOnly), p.Command))
			}
		}
		t.ps.mu.Unlock()
		sort.Strings(lines)
		if len(lines) == 0 {
			return core.Result{Content: "no background processes in this session"}, nil
		}
		return core.Result{Content: strings.Join(lines, "\n")}, nil
	}
	p, ok := t.ps.get(c.Actor.SessionKey, a.SessionID)
	if !ok {
		return core.Result{}, fmt.Errorf("no process %q in this session", a.SessionID)
	}
	switch a.Action {
	case "poll", "log":
		if p.running() {
			return core.Result{Content: p.out.String() + "\n[still running]"}, nil
		}
		return p.result(), nil
	case "kill":
		p.cancel()
		<-p.done
		return core.Result{Content: "killed " + p.ID}, nil
	}
	return core.Result{}, fmt.Errorf("action must be list, poll, log or kill")
}
