package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/store"
)

func (a *app) auditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check and read the tamper-evident audit log",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("audit: missing subcommand (hint: talon audit verify|tail|checkpoint)")
		},
	}
	withLog := func(ctx context.Context, fn func(*auditlog.Log) error) error {
		p, err := a.paths()
		if err != nil {
			return err
		}
		if _, err := os.Stat(p.DB); errors.Is(err, fs.ErrNotExist) {
			return errors.New("no state yet: nothing has been recorded (hint: talon gateway run)")
		}
		st, err := store.Open(ctx, p.DB)
		if err != nil {
			return err
		}
		defer st.Close()
		l, err := auditlog.Open(st, filepath.Join(p.StateDir, "audit.key"))
		if err != nil {
			return err
		}
		return fn(l)
	}
	var exported string
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Check the hash chain and checkpoint signatures; name the first bad record",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), func(l *auditlog.Log) error {
				res, err := l.Verify(cmd.Context())
				if err != nil {
					return err
				}
				if res.OK && exported != "" {
					cps, err := auditlog.ReadExported(exported)
					if err != nil {
						return err
					}
					ex, err := l.VerifyExported(cmd.Context(), cps)
					if err != nil {
						return err
					}
					ex.Records = res.Records
					ex.Checkpoints += res.Checkpoints
					res = ex
				}
				if a.json {
					if err := a.printJSON(res); err != nil {
						return err
					}
				} else if res.OK {
					a.outf("audit log ok: %d records, %d checkpoints\n", res.Records, res.Checkpoints)
				}
				if !res.OK {
					if !a.json {
						a.errf("talon: audit log tampered: %s\n", res.Reason)
					}
					return &silentError{code: 1}
				}
				return nil
			})
		},
	}
	var n int
	tail := &cobra.Command{
		Use:   "tail",
		Short: "Print the latest audit records",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), func(l *auditlog.Log) error {
				recs, err := l.Tail(cmd.Context(), n)
				if err != nil {
					return err
				}
				if a.json {
					if recs == nil {
						recs = []auditlog.Record{}
					}
					return a.printJSON(map[string]any{"records": recs})
				}
				for _, r := range recs {
					a.outf("%6d %s %-18s %-24s %s %s\n", r.Seq, r.TS.Local().Format("2006-01-02 15:04:05"), r.Kind, r.Actor, r.Subject, r.Data)
				}
				return nil
			})
		},
	}
	tail.Flags().IntVarP(&n, "n", "n", 20, "how many records")
	verify.Flags().StringVar(&exported, "exported", "", "also check the log against checkpoints exported to this file (audit.exportFile, talon audit checkpoint --export)")
	var exportTo string
	checkpoint := &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign a checkpoint of the log now (the gateway does so hourly); --export appends it to a file",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withLog(cmd.Context(), func(l *auditlog.Log) error {
				rec, err := l.Checkpoint(cmd.Context())
				if err != nil {
					return err
				}
				if exportTo != "" {
					if err := auditlog.Export(exportTo, rec); err != nil {
						return err
					}
				}
				if a.json {
					return a.printJSON(rec)
				}
				a.outf("checkpoint %d signed%s\n", rec.Seq, map[bool]string{true: ", exported to " + exportTo}[exportTo != ""])
				return nil
			})
		},
	}
	checkpoint.Flags().StringVar(&exportTo, "export", "", "append the signed checkpoint to this file (JSON lines, 0600)")
	cmd.AddCommand(verify, tail, checkpoint)
	return cmd
}
