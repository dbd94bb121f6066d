package cli

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/gateway"
	"github.com/talonclaw/talon/internal/store"
)

func (a *app) usageCmd() *cobra.Command {
	var days int
	cmd := &cobra.Command{
		Use:   "usage",
		Short: "Report model spend and tokens by day, session and model",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.usage(cmd.Context(), days)
		},
	}
	cmd.Flags().IntVar(&days, "days", 30, "how many days back to report")
	return cmd
}

func (a *app) usage(ctx context.Context, days int) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	cfg, _, err := a.loadConfig(p)
	if err != nil {
		return err
	}
	if _, err := os.Stat(p.DB); errors.Is(err, fs.ErrNotExist) {
		if a.json {
			return a.printJSON(map[string]any{"days": days, "total": map[string]any{"costUsd": 0}, "byDay": []any{}, "bySession": []any{}, "byModel": []any{}})
		}
		a.outf("no usage recorded yet\n")
		return nil
	}
	st, err := store.Open(ctx, p.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	rep, perr := gateway.UsageStatus(ctx, st, cfg.Budgets, days, time.Now())
	if perr != nil {
		return perr
	}
	if a.json {
		return a.printJSON(rep)
	}
	limit := func(v float64) string {
		if v <= 0 {
			return "no limit"
		}
		return "limit $" + ftoa(v, 2)
	}
	today := rep["today"].(map[string]any)
	month := rep["month"].(map[string]any)
	a.outf("today      $%s (%s)\n", ftoa(today["costUsd"].(float64), 4), limit(cfg.Budgets.PerDayUSD))
	a.outf("this month $%s (%s)\n", ftoa(month["costUsd"].(float64), 4), limit(cfg.Budgets.PerMonthUSD))
	if r := rep["reserved"].(map[string]any); r["calls"].(int) > 0 {
		a.outf("in flight  $%s reserved by %d model calls (their worst case; not spent yet)\n", ftoa(r["costUsd"].(float64), 4), r["calls"])
	}
	for _, sec := range []struct{ title, key string }{{"by day", "byDay"}, {"by session", "bySession"}, {"by model", "byModel"}} {
		rows := rep[sec.key].([]map[string]any)
		if len(rows) == 0 {
			continue
		}
		a.outf("\n%s (last %d days):\n", sec.title, days)
		for _, r := range rows {
			a.outf("  %-44s $%-10s %8d in %8d out %5d calls\n", r["key"], ftoa(r["costUsd"].(float64), 4), r["inputTokens"], r["outputTokens"], r["calls"])
		}
	}
	return nil
}
