package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/protocol"
)

type agentFlags struct {
	local      bool
	message    string
	sessionKey string
	sender     string
	channel    string
	conn       connFlags
}

func (a *app) agentCmd() *cobra.Command {
	var f agentFlags
	cmd := &cobra.Command{
		Use:   "agent --message TEXT [--local]",
		Short: "Run one agent turn: embedded with --local, else through the running gateway",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(f.message) == "" {
				return usagef("agent: --message is required (hint: talon agent --local --message \"hi\")")
			}
			if f.sessionKey != "" && !agent.ValidSessionKey(f.sessionKey) {
				return usagef("agent: --session-key %q is not a session key (hint: keys look like agent:main:main)", f.sessionKey)
			}
			if f.local {
				return a.agentLocal(cmd.Context(), f)
			}
			return a.agentRemote(cmd.Context(), f)
		},
	}
	cmd.Flags().BoolVar(&f.local, "local", false, "run the turn in this process, without a gateway")
	cmd.Flags().StringVar(&f.message, "message", "", "the message to send")
	cmd.Flags().StringVar(&f.sessionKey, "session-key", "", "session to use (default: the owner's main session, or one derived from --sender and --channel)")
	cmd.Flags().StringVar(&f.sender, "sender", "", "sender id; anyone but \"owner\" counts as an untrusted sender")
	cmd.Flags().StringVar(&f.channel, "channel", "cli", "channel the message comes from")
	f.conn.register(cmd)
	cmd.Flags().Lookup("timeout").DefValue = "10m0s"
	_ = cmd.Flags().Set("timeout", "10m")
	return cmd
}

// turnRequest builds the request from the flags.
func (f agentFlags) turnRequest() agent.TurnRequest {
	req := agent.TurnRequest{SessionKey: f.sessionKey, Text: f.message, SenderID: orStr(f.sender, "owner"), Trust: policy.TrustOwner,
		Inbound: agent.Inbound{Channel: f.channel, PeerID: orStr(f.sender, "owner"), ChatType: "direct"}}
	if f.sender != "" && f.sender != "owner" {
		req.Trust = policy.TrustUntrusted
	}
	if req.SessionKey == "" && (f.sender == "" || f.sender == "owner") {
		req.SessionKey = agent.MainSessionKey("")
	}
	return req
}

func orStr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func (a *app) agentLocal(ctx context.Context, f agentFlags) error {
	env, err := a.openLocal(ctx)
	if err != nil {
		return err
	}
	defer env.close()
	ctx, cancel := context.WithTimeout(ctx, f.conn.timeout)
	defer cancel()
	sp := a.progress(ctx)
	if isTerminal(a.env.Stdin) {
		// A person is at the terminal: ask them instead of falling back.
		in := bufio.NewReader(a.env.Stdin)
		attachTerminalApprover(env.rt.approvals, func(ap pendingApproval) {
			go func() {
				sp.stop()
				d := a.askOnTerminal(ap, in)
				if _, err := env.rt.approvals.Resolve(context.WithoutCancel(ctx), ap.ID, d, "terminal"); err != nil {
					a.errf("talon: %s\n", humanError(err))
				}
			}()
		}, nil)
	}
	req := f.turnRequest()
	req.OnEvent = a.streamPrinter(sp)
	res, err := env.rt.agent.Run(ctx, req)
	return a.reportTurn(res, err)
}

// progress starts a progress line on stderr when it is a terminal and the
// output is not --json; it stops when ctx ends.
func (a *app) progress(ctx context.Context) *spinner {
	sp := &spinner{w: a.env.Stderr, on: !a.json && isTerminal(a.env.Stderr)}
	if sp.on {
		sp.start("thinking")
		go sp.run(ctx)
	}
	return sp
}

// askOnTerminal shows an approval request on stderr and reads the answer
// from in until it is one of once/always/deny; end of input denies.
func (a *app) askOnTerminal(ap pendingApproval, in *bufio.Reader) string {
	a.errf("\n[approval %s] %s wants to run: %s\n", ap.ID, ap.Tool, planText(ap))
	if ap.Reason != "" {
		a.errf("reason: %s\n", ap.Reason)
	}
	for {
		a.errf("allow? [o]nce / [a]lways / [d]eny: ")
		line, err := in.ReadString('\n')
		if d := parseApprovalAnswer(line); d != "" {
			return d
		}
		if err != nil {
			a.errf("\n")
			return approvals.Deny
		}
	}
}

// streamPrinter prints deltas as they come (not with --json) and tool calls
// on stderr.
func (a *app) streamPrinter(sp *spinner) func(agent.Event) {
	if a.json {
		return nil
	}
	printed := false
	return func(ev agent.Event) {
		sp.stop()
		defer func() {
			if ev.Type == "tool_result" {
				sp.start("thinking")
			}
		}()
		switch ev.Type {
		case "delta":
			a.outf("%s", ev.Text)
			printed = true
		case "message":
			a.outf("%s\n", ev.Text)
		case "tool_result":
			a.printToolResult(*ev.ToolCall)
		case "final":
			if !printed && ev.Text != "" {
				a.outf("%s", ev.Text)
			}
			a.outf("\n")
		}
	}
}

// printToolResult shows one tool call's decision and outcome on stderr.
func (a *app) printToolResult(c agent.ToolCallRecord) {
	a.errf("talon: tool %s %s: %s", c.Name, c.Decision, c.Outcome)
	if c.Reason != "" && c.Outcome != "executed" {
		a.errf(" (%s)", c.Reason)
	}
	a.errf("\n")
}

// turnJSON is DESIGN §2's `talon agent --json` shape, with "error" added only
// when the turn failed.
type turnJSON struct {
	*agent.TurnResult
	Error string `json:"error,omitempty"`
}

func (a *app) reportTurn(res *agent.TurnResult, err error) error {
	if a.json && res != nil {
		out := turnJSON{TurnResult: res}
		if err != nil {
			out.Error = err.Error()
		}
		if perr := a.printJSON(out); perr != nil {
			return perr
		}
		if err != nil {
			return &silentError{code: 1}
		}
		return nil
	}
	var be *agent.BudgetError
	if errors.As(err, &be) {
		return fmt.Errorf("budget: %s", be.Message)
	}
	var ae *llm.APIError
	if errors.As(err, &ae) {
		return fmt.Errorf("%w\n(hint: `talon doctor` probes the model endpoint and says what to fix)", err)
	}
	return err
}

// agentRemote sends the turn through the running gateway with chat.send and
// follows its chat events to the end.
func (a *app) agentRemote(ctx context.Context, f agentFlags) error {
	ctx, cancel := context.WithTimeout(ctx, f.conn.timeout)
	defer cancel()
	scopes := []string{protocol.ScopeWrite}
	var in *bufio.Reader
	if isTerminal(a.env.Stdin) {
		// A person at the terminal answers this turn's approvals here.
		scopes = append(scopes, protocol.ScopeApprovals)
		in = bufio.NewReader(a.env.Stdin)
	}
	c, err := a.dial(ctx, f.conn, scopes...)
	if err != nil {
		return err
	}
	defer c.Close()
	req := f.turnRequest()
	var started struct {
		RunID      string `json:"runId"`
		SessionKey string `json:"sessionKey"`
	}
	params := map[string]any{"message": f.message, "idempotencyKey": fmt.Sprintf("cli-%d", time.Now().UnixNano())}
	if req.SessionKey != "" {
		params["sessionKey"] = req.SessionKey
	}
	if err := c.Call(ctx, "chat.send", params, &started); err != nil {
		return fmt.Errorf("chat.send: %w", err)
	}
	res := &agent.TurnResult{SessionKey: started.SessionKey, RunID: started.RunID, ToolCalls: []agent.ToolCallRecord{}}
	printed := false
	sp := a.progress(ctx)
	defer sp.stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("no reply within %s (hint: --timeout)", f.conn.timeout)
		case ev, ok := <-c.Events():
			if !ok {
				return errors.New("the gateway closed the connection before the turn ended")
			}
			b, _ := json.Marshal(ev.Payload)
			if ev.Event == approvals.EventRequested && in != nil {
				var ap pendingApproval
				if json.Unmarshal(b, &ap) == nil && ap.SessionKey == started.SessionKey {
					sp.stop()
					go func() {
						d := a.askOnTerminal(ap, in)
						if err := c.Call(ctx, "exec.approval.resolve", map[string]any{"id": ap.ID, "decision": d}, nil); err != nil {
							a.errf("talon: %s\n", humanError(err))
						}
					}()
				}
				continue
			}
			if ev.Event == "agent" && !a.json {
				// Tool calls of this turn, as talon agent --local shows them.
				var t struct {
					RunID  string `json:"runId"`
					Stream string `json:"stream"`
					Data   struct {
						Phase string                `json:"phase"`
						Call  *agent.ToolCallRecord `json:"call"`
					} `json:"data"`
				}
				if json.Unmarshal(b, &t) == nil && t.RunID == started.RunID && t.Stream == "tool" && t.Data.Phase == "tool_result" && t.Data.Call != nil {
					sp.stop()
					a.printToolResult(*t.Data.Call)
				}
				continue
			}
			if ev.Event != "chat" {
				continue
			}
			var p gatewayChatEvent
			if json.Unmarshal(b, &p) != nil || p.RunID != started.RunID {
				continue
			}
			sp.stop()
			switch p.State {
			case "delta":
				if !a.json {
					a.outf("%s", p.DeltaText)
					printed = true
				}
			case "final":
				res.Reply += p.reply()
				if p.Message.ToolCalls != nil {
					res.ToolCalls = p.Message.ToolCalls
				}
				if p.Usage != nil {
					res.Usage = *p.Usage
				}
				res.Model, res.StopReason = p.Message.Model, p.StopReason
				if !a.json {
					if !printed {
						a.outf("%s", res.Reply)
					}
					a.outf("\n")
				}
				return a.reportTurn(res, nil)
			case "error", "aborted":
				msg := orStr(p.ErrorMessage, "the turn was "+p.State)
				res.StopReason = p.State
				if p.StopReason == "budget" {
					res.Reply, res.StopReason = msg, "budget"
				}
				return a.reportTurn(res, errors.New(msg))
			}
		}
	}
}
