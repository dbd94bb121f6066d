package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/store"
)

// chatFlags are `talon chat`'s flags.
type chatFlags struct {
	local      bool
	sessionKey string
	conn       connFlags
}

func (a *app) chatCmd() *cobra.Command {
	var f chatFlags
	cmd := &cobra.Command{
		Use:   "chat [--local] [--session-key K]",
		Short: "Chat with the agent in the terminal: streaming replies, tool calls with their decisions, approvals inline",
		Long: `Chat with the agent in the terminal.

Type a message and press Enter. Commands: /new starts the session afresh,
/sessions lists sessions, /history shows this session's transcript, /quit
exits. Ctrl-C aborts the turn in progress; a second Ctrl-C (or Ctrl-D)
exits. When the agent asks to run something that needs approval and stdin
is a terminal, the question appears inline: answer o (allow once),
a (allow always) or d (deny).`,
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if f.sessionKey == "" {
				f.sessionKey = agent.MainSessionKey("")
			}
			if !agent.ValidSessionKey(f.sessionKey) {
				return usagef("chat: --session-key %q is not a session key (hint: keys look like agent:main:main)", f.sessionKey)
			}
			tty := isTerminal(a.env.Stdin)
			var be chatBackend
			var err error
			if f.local {
				be, err = a.localChat(cmd.Context(), tty)
			} else {
				be, err = a.remoteChat(cmd.Context(), f.conn, tty)
			}
			if err != nil {
				return err
			}
			defer be.close()
			s := &chatSession{app: a, be: be, key: f.sessionKey, tty: tty && !a.json, approver: tty}
			return s.run(cmd.Context())
		},
	}
	cmd.Flags().BoolVar(&f.local, "local", false, "run the agent in this process, without a gateway")
	cmd.Flags().StringVar(&f.sessionKey, "session-key", "", "session to chat in (default: the owner's main session, agent:main:main)")
	f.conn.register(cmd)
	return cmd
}

// chatEvent is one thing a turn did, the same whether it ran here or in
// the gateway.
type chatEvent struct {
	kind     string // delta | tool_call | tool_result | message | approval | final | error | aborted
	runID    string
	text     string
	call     *agent.ToolCallRecord
	approval *store.Approval
	plan     string // the approval's plan as rendered for people, if given
	result   *agent.TurnResult
}

// chatBackend runs turns and reads sessions, embedded or through a gateway.
type chatBackend interface {
	// start queues a turn; its events arrive on events().
	start(ctx context.Context, key, text string) (runID string, err error)
	events() <-chan chatEvent
	abort(key, runID string)
	resolve(ctx context.Context, id, decision string) error
	sessions(ctx context.Context) ([]sessionRow, error)
	history(ctx context.Context, key string) ([]transcriptEntry, error)
	reset(ctx context.Context, key string) error
	close()
}

// chatSession is one interactive chat: it reads lines, runs turns and
// renders their events.
type chatSession struct {
	app      *app
	be       chatBackend
	key      string
	tty      bool // draw prompts and the spinner (a terminal, not --json)
	approver bool // stdin is a terminal: approvals are asked here

	runID    string // the turn in progress, "" when idle
	waiting  []pendingApproval
	streamed bool // the current turn printed deltas
	spin     *spinner
}

// chatLines reads stdin line by line in the background.
func chatLines(r io.Reader) <-chan string {
	ch := make(chan string)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func (s *chatSession) run(ctx context.Context) error {
	a := s.app
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sig)
	lines := chatLines(a.env.Stdin)
	s.spin = &spinner{w: a.env.Stderr, on: s.tty}
	tick := time.NewTicker(120 * time.Millisecond)
	defer tick.Stop()
	if s.tty {
		a.errf("talon chat: session %s. /help lists commands; Ctrl-C aborts a turn, Ctrl-D exits.\n", s.key)
	}
	armed := false // a Ctrl-C at the prompt arms exit; a second one exits
	var queue []string
	eof := false
	s.prompt()
	for {
		select {
		case <-ctx.Done():
			return nil
		case sg := <-sig:
			if sg == syscall.SIGTERM {
				s.abortTurn()
				return nil
			}
			if s.runID != "" {
				s.spin.stop()
				a.errf("\n^C aborting the turn (Ctrl-C again to exit)\n")
				s.abortTurn()
				queue = nil
				armed = true
				continue
			}
			if armed {
				a.errf("\n")
				return nil
			}
			armed = true
			a.errf("\n(Ctrl-C again or /quit to exit)\n")
			s.prompt()
		case <-tick.C:
			s.spin.tick()
		case ev := <-s.be.events():
			switch {
			case ev.kind == "closed":
				s.spin.stop()
				return errors.New(ev.text + " (hint: is `talon gateway run` still running? `talon chat --local` needs no gateway)")
			case ev.approval != nil:
				// Approvals of other sessions are not this chat's to
				// answer here; say where they can be answered.
				if ev.approval.SessionKey != s.key {
					if ev.kind == "approval" && !a.json {
						s.spin.stop()
						a.errf("\n  [approval %s] %s in session %s is waiting (talon approvals resolve %s allow-once|allow-always|deny)\n",
							ev.approval.ID, ev.approval.Tool, ev.approval.SessionKey, ev.approval.ID)
						s.prompt()
					}
					continue
				}
			case ev.runID != s.runID:
				continue
			}
			s.render(ev)
		case line, ok := <-lines:
			if !ok {
				lines = nil
				eof = true
				if s.runID == "" && len(queue) == 0 {
					if s.tty {
						a.errf("\n")
					}
					return nil
				}
				continue
			}
			armed = false
			if len(s.waiting) > 0 {
				s.answer(ctx, line)
				continue
			}
			if s.runID != "" {
				// Typed ahead while a turn runs: it goes next, in order.
				queue = append(queue, line)
				if s.tty {
					a.errf("(queued; Ctrl-C aborts the running turn)\n")
				}
				continue
			}
			if quit := s.handle(ctx, line); quit {
				return nil
			}
		}
		for s.runID == "" && len(queue) > 0 {
			line := queue[0]
			queue = queue[1:]
			if quit := s.handle(ctx, line); quit {
				return nil
			}
		}
		if eof && s.runID == "" && len(queue) == 0 {
			return nil
		}
	}
}

// handle takes one line typed at the idle prompt: a /command or a message
// that starts a turn. It reports whether the chat should end.
func (s *chatSession) handle(ctx context.Context, line string) bool {
	a := s.app
	text := strings.TrimSpace(line)
	if text == "" {
		s.prompt()
		return false
	}
	if strings.HasPrefix(text, "/") {
		if quit := s.command(ctx, text); quit {
			return true
		}
		s.prompt()
		return false
	}
	runID, err := s.be.start(ctx, s.key, text)
	if err != nil {
		a.errf("talon: %s\n", humanError(err))
		s.prompt()
		return false
	}
	s.runID, s.streamed = runID, false
	s.spin.start("thinking")
	return false
}

func (s *chatSession) prompt() {
	if s.tty && s.runID == "" && len(s.waiting) == 0 {
		s.app.outf("you> ")
	}
}

func (s *chatSession) abortTurn() {
	if s.runID != "" {
		s.be.abort(s.key, s.runID)
	}
}

// render prints one event of the current turn.
func (s *chatSession) render(ev chatEvent) {
	a := s.app
	if a.json {
		s.renderJSON(ev)
	}
	switch ev.kind {
	case "delta":
		s.spin.stop()
		if !a.json {
			if !s.streamed && s.tty {
				a.outf("talon> ")
			}
			a.outf("%s", ev.text)
		}
		s.streamed = true
	case "message":
		s.spin.stop()
		if !a.json {
			a.outf("%s\n", ev.text)
		}
	case "tool_call":
		s.spin.stop()
		if !a.json {
			s.endLine()
			a.outf("  [tool] %s %s: %s, running\n", ev.call.Name, shortArgs(ev.call.Args), ev.call.Decision)
		}
		s.spin.start("running " + ev.call.Name)
	case "tool_result":
		s.spin.stop()
		if !a.json {
			s.endLine()
			c := ev.call
			a.outf("  [tool] %s %s: %s -> %s", c.Name, shortArgs(c.Args), c.Decision, c.Outcome)
			if c.Reason != "" && c.Outcome != "executed" {
				a.outf(" (%s)", c.Reason)
			}
			a.outf("\n")
		}
		s.spin.start("thinking")
	case "approval":
		s.spin.stop()
		if !s.approver {
			if !a.json {
				a.errf("  [approval] %s is waiting for approval %s (talon approvals resolve %s allow-once|allow-always|deny)\n", ev.approval.Tool, ev.approval.ID, ev.approval.ID)
			}
			return
		}
		s.waiting = append(s.waiting, pendingApproval{Approval: *ev.approval, Plan: ev.plan})
		if len(s.waiting) == 1 {
			s.askApproval()
		}
	case "approval_resolved":
		for i, w := range s.waiting {
			if w.ID == ev.approval.ID {
				s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
				if ev.approval.Status == "expired" {
					a.errf("\n  [approval %s] expired without an answer\n", w.ID)
				} else {
					a.errf("\n  [approval %s] answered elsewhere: %s by %s\n", w.ID, ev.approval.Decision, ev.approval.ResolvedBy)
				}
				if i == 0 && len(s.waiting) > 0 {
					s.askApproval()
				}
				break
			}
		}
	case "final", "error", "aborted":
		s.spin.stop()
		if !a.json {
			switch {
			case ev.kind == "final" && !s.streamed && ev.text != "":
				if s.tty {
					a.outf("talon> ")
				}
				a.outf("%s\n", ev.text)
			case ev.kind == "final":
				a.outf("\n")
			case ev.kind == "aborted":
				s.endLine()
				a.errf("(turn aborted)\n")
			default:
				s.endLine()
				a.errf("talon: %s\n", ev.text)
			}
		}
		s.runID, s.waiting = "", nil
		s.prompt()
	}
}

// endLine ends a streamed line before something else is printed.
func (s *chatSession) endLine() {
	if s.streamed {
		s.app.outf("\n")
		s.streamed = false
	}
}

// chatEventJSON is one line of `talon chat --json`.
type chatEventJSON struct {
	Type     string                `json:"type"`
	RunID    string                `json:"runId,omitempty"`
	Text     string                `json:"text,omitempty"`
	ToolCall *agent.ToolCallRecord `json:"toolCall,omitempty"`
	Approval *store.Approval       `json:"approval,omitempty"`
	Result   *agent.TurnResult     `json:"result,omitempty"`
}

func (s *chatSession) renderJSON(ev chatEvent) {
	b, _ := json.Marshal(chatEventJSON{Type: ev.kind, RunID: ev.runID, Text: ev.text, ToolCall: ev.call, Approval: ev.approval, Result: ev.result})
	s.app.outf("%s\n", b)
}

func (s *chatSession) askApproval() {
	ap := s.waiting[0]
	s.endLine()
	a := s.app
	a.errf("\n  [approval %s] %s wants to run: %s\n", ap.ID, ap.Tool, planText(ap))
	if ap.Reason != "" {
		a.errf("  reason: %s\n", ap.Reason)
	}
	a.errf("  allow? [o]nce / [a]lways / [d]eny: ")
}

// answer takes a line as the answer to the first waiting approval.
func (s *chatSession) answer(ctx context.Context, line string) {
	decision := parseApprovalAnswer(line)
	a := s.app
	if decision == "" {
		a.errf("  please answer o (allow once), a (allow always) or d (deny): ")
		return
	}
	ap := s.waiting[0]
	s.waiting = s.waiting[1:]
	if err := s.be.resolve(ctx, ap.ID, decision); err != nil {
		a.errf("  talon: %s\n", humanError(err))
	} else {
		a.errf("  %s: %s\n", ap.ID, decision)
	}
	if len(s.waiting) > 0 {
		s.askApproval()
		return
	}
	if s.runID != "" {
		s.spin.start("thinking")
	}
}

// parseApprovalAnswer maps what a person types to a decision ("" when it
// is none of them). Anything unclear is asked again, never taken as yes.
func parseApprovalAnswer(line string) string {
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "o", "once", "y", "yes", "allow", "allow-once":
		return "allow-once"
	case "a", "always", "allow-always":
		return "allow-always"
	case "d", "n", "no", "deny":
		return "deny"
	}
	return ""
}

// command runs a /command; it reports whether the chat should end.
func (s *chatSession) command(ctx context.Context, text string) bool {
	a := s.app
	name, _, _ := strings.Cut(text, " ")
	switch name {
	case "/quit", "/exit", "/q":
		return true
	case "/help":
		a.outf("/new        start this session afresh (the old transcript is kept)\n/sessions   list sessions\n/history    show this session's transcript\n/quit       exit\n")
	case "/new", "/reset":
		if err := s.be.reset(ctx, s.key); err != nil {
			a.errf("talon: %s\n", humanError(err))
			return false
		}
		a.outf("started a new session under %s\n", s.key)
	case "/sessions":
		rows, err := s.be.sessions(ctx)
		if err != nil {
			a.errf("talon: %s\n", humanError(err))
			return false
		}
		if len(rows) == 0 {
			a.outf("no sessions\n")
		}
		for _, r := range rows {
			mark := " "
			if r.Key == s.key {
				mark = "*"
			}
			a.outf("%s %-44s %4d messages  $%s\n", mark, r.Key, r.MessageCount, ftoa(r.CostUSD, 4))
		}
	case "/history":
		entries, err := s.be.history(ctx, s.key)
		if err != nil {
			a.errf("talon: %s\n", humanError(err))
			return false
		}
		printTranscript(a, entries)
	default:
		a.errf("unknown command %s (commands: /new /sessions /history /help /quit)\n", name)
	}
	return false
}

// planText is what an approval question shows: the manager's rendering of
// the plan when it gives one, else the exact arguments, never shortened
// (the person approves all of it). outf/errf make either visible.
func planText(ap pendingApproval) string {
	if ap.Plan != "" {
		return ap.Plan
	}
	return string(ap.Args)
}

// shortArgs renders tool arguments on one line, cut to a readable length.
func shortArgs(raw json.RawMessage) string {
	s := strings.Join(strings.Fields(string(raw)), " ")
	if len(s) > 160 {
		s = s[:157] + "..."
	}
	return s
}

// spinner draws a progress line on stderr while the model thinks (only on
// a terminal, never with --json). It is safe for concurrent use: `talon
// agent` ticks it from its own goroutine while the turn prints.
type spinner struct {
	w       io.Writer
	on      bool
	mu      sync.Mutex
	label   string
	started time.Time
	frame   int
	active  bool
}

const spinFrames = `|/-\`

func (sp *spinner) start(label string) {
	if !sp.on {
		return
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	sp.label, sp.started, sp.active = visible(label), time.Now(), true
	sp.draw()
}

func (sp *spinner) tick() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.active {
		sp.frame++
		sp.draw()
	}
}

func (sp *spinner) draw() {
	fmt.Fprintf(sp.w, "\r\033[K%s %s... %ds", spinFrames[sp.frame%len(spinFrames):][:1], sp.label, int(time.Since(sp.started).Seconds()))
}

func (sp *spinner) stop() {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.active {
		fmt.Fprint(sp.w, "\r\033[K")
		sp.active = false
	}
}

// run ticks until ctx ends.
func (sp *spinner) run(ctx context.Context) {
	t := time.NewTicker(120 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			sp.stop()
			return
		case <-t.C:
			sp.tick()
		}
	}
}

// isTerminal reports whether r (a reader or writer) is a terminal.
func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && termIsTerminal(f)
}
