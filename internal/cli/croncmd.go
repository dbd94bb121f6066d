package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/cron"
	"github.com/talonclaw/talon/internal/store"
)

// cronCmd manages scheduled jobs in the store directly; a running gateway's
// scheduler picks changes up on its next check.
func (a *app) cronCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cron",
		Short: "Schedule agent turns (jobs run by the gateway, each in its own session cron:<id>)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("cron: missing subcommand (hint: talon cron list|add|rm|runs)")
		},
	}
	var name string
	add := &cobra.Command{
		Use:   "add <schedule> <message>",
		Short: "Add a job, e.g. talon cron add \"0 9 * * 1-5\" \"summarise my inbox\"",
		Args:  a.valueArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				done, err := a.intent(cmd.Context(), st, core.KindCronAdd, args[0], map[string]any{"name": name, "messageLength": len(args[1])})
				if err != nil {
					return err
				}
				j, err := cron.Add(cmd.Context(), st, args[0], args[1], name, "", cron.ByCLI, time.Now())
				done(err)
				if err != nil {
					return &UsageError{Err: err}
				}
				if a.json {
					return a.printJSON(j)
				}
				a.outf("added job %s; next run %s\n", j.ID, j.NextRunAt.Local().Format(time.RFC1123))
				return nil
			})
		},
	}
	add.Flags().StringVar(&name, "name", "", "a name for the job")
	add.Flags().SetInterspersed(false) // the message may start with "-"
	list := &cobra.Command{
		Use:   "list",
		Short: "List jobs",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				jobs, err := st.CronJobs(cmd.Context(), time.Time{})
				if err != nil {
					return err
				}
				if a.json {
					if jobs == nil {
						jobs = []store.CronJob{}
					}
					return a.printJSON(map[string]any{"jobs": jobs})
				}
				if len(jobs) == 0 {
					a.outf("no jobs\n")
				}
				for _, j := range jobs {
					a.outf("%s  %-15s next %s  by %s  %s\n", j.ID, j.Schedule, j.NextRunAt.Local().Format("2006-01-02 15:04"), j.CreatedBy, j.Message)
				}
				return nil
			})
		},
	}
	rm := &cobra.Command{
		Use:   "rm <id>",
		Short: "Remove a job",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				done, err := a.intent(cmd.Context(), st, core.KindCronRemove, args[0], nil)
				if err != nil {
					return err
				}
				err = st.RemoveCronJob(cmd.Context(), args[0])
				done(err)
				if err != nil {
					return err
				}
				a.outf("removed job %s\n", args[0])
				return nil
			})
		},
	}
	var runsLimit int
	runs := &cobra.Command{
		Use:   "runs [ID]",
		Short: "Show recent runs, newest first, each with its status and what it produced",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				return a.cronRuns(cmd.Context(), st, id, runsLimit)
			})
		},
	}
	runs.Flags().IntVarP(&runsLimit, "limit", "n", 20, "how many runs to show")
	cmd.AddCommand(add, list, rm, runs)
	return cmd
}

// cronRunJSON is one run in `talon cron runs --json`: the stored run and
// what the turn produced (its final reply and every tool call's decision).
type cronRunJSON struct {
	store.CronRun
	SessionKey string         `json:"sessionKey"`
	Output     string         `json:"output"`
	ToolCalls  []cronToolCall `json:"toolCalls"`
}

type cronToolCall struct {
	Name     string `json:"name"`
	Decision string `json:"decision"`
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
}

func (a *app) cronRuns(ctx context.Context, st *store.Store, id string, limit int) error {
	if limit <= 0 {
		limit = 20
	}
	rs, err := st.CronRuns(ctx, id, limit)
	if err != nil {
		return err
	}
	if id != "" && len(rs) == 0 {
		jobs, err := st.CronJobs(ctx, time.Time{})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(jobs, func(j store.CronJob) bool { return j.ID == id }) {
			return fmt.Errorf("no cron job %s (hint: talon cron list shows the ids)", id)
		}
	}
	out := make([]cronRunJSON, 0, len(rs))
	for _, r := range rs {
		cr := cronRunJSON{CronRun: r, SessionKey: agent.CronSessionKey(r.JobID), ToolCalls: []cronToolCall{}}
		if r.RunID != "" {
			ms, err := st.RunMessages(ctx, cr.SessionKey, r.RunID)
			if err != nil {
				return err
			}
			for _, m := range ms {
				switch m.Role {
				case "assistant":
					if m.Content != "" {
						cr.Output = m.Content // the last one is the reply
					}
				case "tool":
					var d struct{ Action, Reason, Outcome string }
					_ = json.Unmarshal(m.Decision, &d)
					cr.ToolCalls = append(cr.ToolCalls, cronToolCall{Name: m.ToolName, Decision: d.Action, Outcome: d.Outcome, Reason: d.Reason})
				}
			}
		}
		out = append(out, cr)
	}
	if a.json {
		return a.printJSON(map[string]any{"runs": out})
	}
	if len(out) == 0 {
		a.outf("no runs yet\n")
	}
	for _, r := range out {
		a.outf("%s  job %s  %s", r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.JobID, orStr(r.Status, "running"))
		if r.Missed > 0 {
			a.outf("  (%d missed runs skipped)", r.Missed)
		}
		a.outf("\n")
		if r.Error != "" {
			a.outf("    error: %s\n", r.Error)
		}
		for _, c := range r.ToolCalls {
			a.outf("    tool %s: %s -> %s", c.Name, c.Decision, c.Outcome)
			if c.Reason != "" && c.Outcome != "executed" {
				a.outf(" (%s)", c.Reason)
			}
			a.outf("\n")
		}
		if r.Output != "" {
			a.outf("    %s\n", oneBlock(r.Output))
		}
	}
	return nil
}
