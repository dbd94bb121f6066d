package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/store"
)

func (a *app) sessionsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sessions",
		Short: "List sessions and purge transcripts",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("sessions: missing subcommand (hint: talon sessions list|purge)")
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List sessions, most recent first",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				ss, err := st.ListSessions(cmd.Context(), store.ListSessionsOptions{Limit: 500})
				if err != nil {
					return err
				}
				if a.json {
					rows := make([]sessionRow, 0, len(ss))
					for _, s := range ss {
						rows = append(rows, sessionRowOf(s))
					}
					return a.printJSON(map[string]any{"sessions": rows})
				}
				if len(ss) == 0 {
					a.outf("no sessions\n")
				}
				for _, s := range ss {
					a.outf("%-48s %5d messages  $%s  %s\n", s.Key, s.MessageCount, ftoa(s.CostUSD, 4), s.UpdatedAt.Local().Format("2006-01-02 15:04"))
				}
				return nil
			})
		},
	}
	var olderThan int
	var key string
	purge := &cobra.Command{
		Use:   "purge (--older-than DAYS | --key SESSION_KEY)",
		Short: "Delete old transcripts now, or every transcript of one session (spend records stay)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			if (olderThan > 0) == (key != "") {
				return usagef("sessions purge: give exactly one of --older-than DAYS or --key SESSION_KEY")
			}
			if key != "" && !agent.ValidSessionKey(key) {
				return usagef("sessions purge: %q is not a session key", key)
			}
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				subject := key
				if key == "" {
					subject = fmt.Sprintf("older than %d days", olderThan)
				}
				done, err := a.intent(cmd.Context(), st, core.KindSessionPurge, subject, nil)
				if err != nil {
					return err
				}
				if key != "" {
					err := st.DeleteSession(cmd.Context(), key)
					done(err)
					if err != nil {
						return err
					}
					a.outf("deleted every transcript of %s\n", key)
					return nil
				}
				n, err := st.PruneMessages(cmd.Context(), time.Now().AddDate(0, 0, -olderThan))
				done(err)
				if err != nil {
					return err
				}
				a.outf("purged %d messages older than %d days (current contexts are kept)\n", n, olderThan)
				return nil
			})
		},
	}
	purge.Flags().IntVar(&olderThan, "older-than", 0, "delete transcripts older than this many days")
	purge.Flags().StringVar(&key, "key", "", "delete every transcript of this session")
	show := &cobra.Command{
		Use:   "show KEY",
		Short: "Print a session's transcript: who said what, with provenance, tool calls and each call's policy decision",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			key := args[0]
			if !agent.ValidSessionKey(key) {
				return usagef("sessions show: %q is not a session key (hint: talon sessions list)", key)
			}
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				sess, ok, err := st.Session(cmd.Context(), key)
				if err != nil {
					return err
				}
				if !ok {
					return fmt.Errorf("no session %s (hint: talon sessions list shows the keys)", key)
				}
				// The whole record of the current session id, compacted
				// messages included and marked: nothing is hidden here.
				ms, err := st.History(cmd.Context(), key, store.HistoryOptions{IncludeCompacted: true})
				if err != nil {
					return err
				}
				entries := transcriptOf(ms)
				if a.json {
					return a.printJSON(map[string]any{"session": sessionRowOf(sess), "messages": entries})
				}
				a.outf("session %s (id %s, %s, %d messages, $%s)\n", sess.Key, sess.ID, orStr(sess.Channel, "no channel"), sess.MessageCount, ftoa(sess.CostUSD, 4))
				printTranscript(a, entries)
				return nil
			})
		},
	}
	cmd.AddCommand(list, show, purge)
	return cmd
}
