package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/store"
)

func (a *app) approvalsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List and resolve tool calls waiting for approval",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("approvals: missing subcommand (hint: talon approvals list|resolve)")
		},
	}
	var lf connFlags
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show pending approvals (--all: resolved ones too)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), lf.timeout)
			defer cancel()
			c, err := a.dial(ctx, lf, protocol.ScopeApprovals)
			if err != nil {
				return err
			}
			defer c.Close()
			var out struct {
				Approvals []store.Approval `json:"approvals"`
			}
			if err := c.Call(ctx, "exec.approval.list", map[string]any{"all": all}, &out); err != nil {
				return fmt.Errorf("exec.approval.list: %w", err)
			}
			if a.json {
				return a.printJSON(out)
			}
			if len(out.Approvals) == 0 {
				a.outf("no pending approvals\n")
				return nil
			}
			for _, ap := range out.Approvals {
				// The plan as a person reads it (control characters
				// escaped, so a hijacked model cannot forge lines here).
				plan := strings.ReplaceAll(approvals.Render(ap.Tool, json.RawMessage(ap.Args)), "\n", "\n      ")
				a.outf("%s  %-8s %s\n      %s\n      why: %s\n      session %s, expires %s\n", ap.ID, ap.Status, ap.Decision, plan,
					approvals.Visible(ap.Reason), approvals.Visible(ap.SessionKey), ap.ExpiresAt.Local().Format(time.Kitchen))
			}
			return nil
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include resolved and expired approvals")
	lf.register(list)
	var rf connFlags
	resolve := &cobra.Command{
		Use:   "resolve <id> allow-once|allow-always|deny",
		Short: "Decide a pending approval",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[1] {
			case "allow-once", "allow-always", "deny":
			default:
				return usagef("approvals resolve: %q is not one of allow-once|allow-always|deny", args[1])
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), rf.timeout)
			defer cancel()
			c, err := a.dial(ctx, rf, protocol.ScopeApprovals)
			if err != nil {
				return err
			}
			defer c.Close()
			var out struct {
				Approval store.Approval `json:"approval"`
			}
			if err := c.Call(ctx, "exec.approval.resolve", map[string]any{"id": args[0], "decision": args[1]}, &out); err != nil {
				return fmt.Errorf("exec.approval.resolve: %w", err)
			}
			if a.json {
				b, _ := json.Marshal(out)
				a.outf("%s\n", b)
				return nil
			}
			a.outf("approval %s: %s\n", out.Approval.ID, out.Approval.Decision)
			return nil
		},
	}
	rf.register(resolve)
	cmd.AddCommand(list, resolve)
	return cmd
}
