package cli

import (
	"time"

	"github.com/spf13/cobra"
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
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				j, err := cron.Add(cmd.Context(), st, args[0], args[1], name, "", cron.ByCLI, time.Now())
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
				if err := st.RemoveCronJob(cmd.Context(), args[0]); err != nil {
					return err
				}
				a.outf("removed job %s\n", args[0])
				return nil
			})
		},
	}
	runs := &cobra.Command{
		Use:   "runs [id]",
		Short: "Show recent runs",
		Args:  rangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := ""
			if len(args) == 1 {
				id = args[0]
			}
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				rs, err := st.CronRuns(cmd.Context(), id, 50)
				if err != nil {
					return err
				}
				if a.json {
					if rs == nil {
						rs = []store.CronRun{}
					}
					return a.printJSON(map[string]any{"runs": rs})
				}
				for _, r := range rs {
					a.outf("%s  job %s  %s  missed %d  %s\n", r.StartedAt.Local().Format("2006-01-02 15:04:05"), r.JobID, r.Status, r.Missed, r.Error)
				}
				return nil
			})
		},
	}
	cmd.AddCommand(add, list, rm, runs)
	return cmd
}
