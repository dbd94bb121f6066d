package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/channels/discord"
	"github.com/talonclaw/talon/internal/channels/signal"
	"github.com/talonclaw/talon/internal/channels/slack"
	"github.com/talonclaw/talon/internal/channels/telegram"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/protocol"
	"github.com/talonclaw/talon/internal/router"
	"github.com/talonclaw/talon/internal/store"
)

// channelAccount is one configured account of one channel, before an
// adapter is made for it.
type channelAccount struct {
	Channel    string `json:"channel"`
	Account    string `json:"account"`
	Enabled    bool   `json:"enabled"`
	Mode       string `json:"mode"`
	Credential bool   `json:"credentialsSet"`
	DMPolicy   string `json:"dmPolicy"`
	Group      string `json:"groupPolicy"`
}

// channelAccounts lists every configured channel account, in a stable
// order: channels as access.Channels lists them, "default" first.
func channelAccounts(cfg *config.Config) []channelAccount {
	var out []channelAccount
	add := func(ch string, enabled bool, ca config.ChannelAccess, accts map[string]channelAccount) {
		for _, id := range slices.Sorted(maps.Keys(accts)) {
			a := accts[id]
			a.Channel, a.Account, a.Enabled, a.DMPolicy, a.Group = ch, id, enabled, ca.DMPolicy, ca.GroupPolicy
			out = append(out, a)
		}
	}
	c := cfg.Channels
	if t := c.Telegram; t != nil {
		add("telegram", t.Enabled, t.ChannelAccess, describe(t.TelegramAccount, !t.BotToken.IsZero(), t.Accounts, func(a config.TelegramAccount) channelAccount {
			mode := "polling"
			if a.WebhookURL != "" {
				mode = "webhook"
			}
			return channelAccount{Mode: mode, Credential: !a.BotToken.IsZero()}
		}))
	}
	if d := c.Discord; d != nil {
		add("discord", d.Enabled, d.ChannelAccess, describe(d.DiscordAccount, !d.Token.IsZero(), d.Accounts, func(a config.DiscordAccount) channelAccount {
			return channelAccount{Mode: "gateway", Credential: !a.Token.IsZero()}
		}))
	}
	if s := c.Slack; s != nil {
		add("slack", s.Enabled, s.ChannelAccess, describe(s.SlackAccount, !s.BotToken.IsZero(), s.Accounts, func(a config.SlackAccount) channelAccount {
			return channelAccount{Mode: a.Mode, Credential: !a.BotToken.IsZero()}
		}))
	}
	if s := c.Signal; s != nil {
		add("signal", s.Enabled, s.ChannelAccess, describe(s.SignalAccount, s.Account != "", s.Accounts, func(a config.SignalAccount) channelAccount {
			return channelAccount{Mode: "json-rpc", Credential: a.Account != ""}
		}))
	}
	if w := c.WhatsApp; w != nil {
		add("whatsapp", w.Enabled, w.ChannelAccess, map[string]channelAccount{"default": {Mode: "linked-device", Credential: true}})
	}
	return out
}

// describe lists a channel's accounts: the top-level credentials as
// "default" (when set, or when there is nothing else to show) and every
// entry of accounts.
func describe[T any](top T, topSet bool, more map[string]T, f func(T) channelAccount) map[string]channelAccount {
	m := map[string]channelAccount{}
	if topSet || len(more) == 0 {
		m["default"] = f(top)
	}
	for id, a := range more {
		m[id] = f(a)
	}
	return m
}

// account picks the credentials of one account: the top-level ones for
// "default", else the entry in accounts.
func account[T any](top T, more map[string]T, id string) T {
	if id == "default" {
		return top
	}
	return more[id]
}

// newAdapter makes the adapter of one channel account. scrub is the
// process's one scrubber (nil: the adapter scrubs its own credentials).
func (a *app) newAdapter(p paths, cfg *config.Config, ch, id string, h channels.Handler, batch channels.BatchHandler, scrub func(string) string, log *slog.Logger) (channels.Adapter, error) {
	if _, ok := access.ChannelAccess(cfg, ch); !ok {
		return nil, fmt.Errorf("channels.%s is not configured or not enabled", ch)
	}
	c := cfg.Channels
	switch ch {
	case "telegram":
		return telegram.New(telegram.Options{Account: id, Config: account(c.Telegram.TelegramAccount, c.Telegram.Accounts, id), Handler: h, BatchHandler: batch, Scrub: scrub, Logger: log})
	case "discord":
		return discord.New(discord.Options{Account: id, Config: account(c.Discord.DiscordAccount, c.Discord.Accounts, id), Handler: h, Scrub: scrub, Logger: log})
	case "slack":
		return slack.New(slack.Options{Account: id, Config: account(c.Slack.SlackAccount, c.Slack.Accounts, id), Handler: h, Scrub: scrub, Logger: log})
	case "signal":
		return signal.New(signal.Options{Account: id, Config: account(c.Signal.SignalAccount, c.Signal.Accounts, id), Handler: h, Scrub: scrub, Logger: log})
	case "whatsapp":
		return whatsappAdapter(p.StateDir, id, h, scrub, log)
	}
	return nil, fmt.Errorf("unknown channel %q", ch)
}

// journalKeep is how long a done inbound journal row is kept: long enough
// to recognise a platform's redelivery of it after a restart.
const journalKeep = 7 * 24 * time.Hour

// startChannels makes an adapter for every enabled channel account with
// credentials and starts them under the router. A channel that cannot be
// made is reported and skipped: one bad token must not keep the gateway
// (and the other channels) down.
func (a *app) startChannels(ctx context.Context, p paths, rt *runtime, log *slog.Logger) {
	cfg := rt.cfg.Load()
	for _, ca := range channelAccounts(cfg) {
		if !ca.Enabled || !ca.Credential {
			if ca.Enabled {
				log.Warn("channels: account has no credentials; not started", "channel", ca.Channel, "account", ca.Account)
			}
			continue
		}
		ad, err := a.newAdapter(p, cfg, ca.Channel, ca.Account, rt.router.Handle, rt.router.HandleBatch, rt.secrets.live.Scrub, log.With("channel", ca.Channel, "account", ca.Account))
		if err != nil {
			log.Error("channels: cannot start", "channel", ca.Channel, "account", ca.Account, "err", err)
			a.errf("talon: %s/%s: %v\n", ca.Channel, ca.Account, err)
			continue
		}
		rt.router.Add(ad)
	}
	// Messages stored before a crash but not answered go first, so they
	// keep their place ahead of anything new from the same sender
	// (invariant 14).
	if n, err := rt.router.PruneJournal(ctx, journalKeep); err != nil {
		log.Warn("channels: pruning the inbound journal failed", "err", err)
	} else if n > 0 {
		log.Debug("channels: pruned the inbound journal", "rows", n)
	}
	maxAge := time.Duration(cfg.Channels.ResumeMaxAgeMinutes) * time.Minute
	if turns, notes, err := rt.router.Resume(ctx, maxAge); err != nil {
		log.Error("channels: resuming unanswered messages failed; they are tried again at the next start", "err", err)
	} else if turns+notes > 0 {
		log.Info("channels: resumed messages received before a restart", "turns", turns, "notes", notes)
	}
	if err := rt.router.Start(ctx); err != nil {
		log.Error("channels: some channels did not start", "err", err)
		a.errf("talon: %v\n", err)
	}
}

// bootstrapOwner writes entry as commands.ownerAllowFrom when the config
// has no owner yet: the first person the owner approves through pairing is
// the owner themselves, in the usual first-run flow.
func (a *app) bootstrapOwner(p paths, onChange func(*config.Config)) func(context.Context, string) (bool, error) {
	return func(_ context.Context, entry string) (bool, error) {
		cfg, _, err := a.loadConfig(p)
		if err != nil {
			return false, err
		}
		if len(cfg.Commands.OwnerAllowFrom) > 0 {
			return false, nil
		}
		next, err := a.editConfig(p, "commands.ownerAllowFrom", []any{entry})
		if err != nil {
			return false, err
		}
		if onChange != nil {
			onChange(next)
		}
		return true, nil
	}
}

func (a *app) pairingCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pairing",
		Short: "List, approve and reject chat senders asking to talk to the agent",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("pairing: missing subcommand (hint: talon pairing list|approve|reject)")
		},
	}
	var channel string
	var all bool
	list := &cobra.Command{
		Use:   "list",
		Short: "Show pending pairing requests (--all: resolved and expired ones too)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				reqs, err := st.ListPairing(cmd.Context(), channel, all, time.Now())
				if err != nil {
					return err
				}
				if reqs == nil {
					reqs = []store.PairingRequest{}
				}
				if a.json {
					return a.printJSON(map[string]any{"requests": reqs})
				}
				if len(reqs) == 0 {
					a.outf("no pending pairing requests\n")
				}
				for _, r := range reqs {
					a.outf("%-9s %s  %-8s sender %s (account %s), expires %s\n", r.Channel, r.Code, r.Status, r.SenderID, r.Account,
						r.ExpiresAt.Local().Format("15:04"))
				}
				return nil
			})
		},
	}
	list.Flags().StringVar(&channel, "channel", "", "only this channel")
	list.Flags().BoolVar(&all, "all", false, "include approved, rejected and expired requests")
	var notify bool
	approve := &cobra.Command{
		Use:   "approve <channel> <code>",
		Short: "Let the sender of a pairing code talk to the agent in direct messages",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.resolvePairing(cmd.Context(), args[0], args[1], true, notify)
		},
	}
	approve.Flags().BoolVar(&notify, "notify", false, "tell the sender they were approved")
	reject := &cobra.Command{
		Use:   "reject <channel> <code>",
		Short: "Refuse a pairing request",
		Args:  exactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.resolvePairing(cmd.Context(), args[0], args[1], false, false)
		},
	}
	cmd.AddCommand(list, approve, reject)
	return cmd
}

// resolvePairing approves or rejects a code in the state database. The
// running gateway sees the change with the sender's next message.
func (a *app) resolvePairing(ctx context.Context, channel, code string, approve, notify bool) error {
	p, err := a.paths()
	if err != nil {
		return err
	}
	return a.withStore(ctx, func(st *store.Store) error {
		pr := &access.Pairing{Store: st, BootstrapOwner: a.bootstrapOwner(p, nil)}
		done, err := a.intent(ctx, st, core.KindPairingResolve, channel+":"+code, map[string]any{"approve": approve})
		if err != nil {
			return err
		}
		var res access.Resolution
		if approve {
			res, err = pr.Approve(ctx, channel, code, "cli")
		} else {
			res, err = pr.Reject(ctx, channel, code, "cli")
		}
		done(err)
		if err != nil {
			if res.Request.Code == "" && !errors.Is(err, store.ErrNoPairing) {
				return usagef("pairing: %v", err)
			}
			return fmt.Errorf("pairing: %w (hint: talon pairing list)", errors.Unwrap(err))
		}
		r := res.Request
		out := map[string]any{"ok": true, "request": r, "ownerSet": res.OwnerSet}
		if approve && notify {
			if err := a.notifyPaired(ctx, p, r); err != nil {
				out["notifyError"] = err.Error()
				a.errf("talon: approved, but the message to the sender failed: %v\n", err)
			} else {
				out["notified"] = true
			}
		}
		if a.json {
			return a.printJSON(out)
		}
		verb := "rejected"
		if approve {
			verb = "approved"
		}
		a.outf("%s %s sender %s on %s (account %s)\n", verb, r.Code, r.SenderID, r.Channel, r.Account)
		if res.OwnerSet {
			a.outf("they are the owner now: commands.ownerAllowFrom = [%q]\n", r.Channel+":"+r.SenderID)
		}
		return nil
	})
}

// notifyPaired sends the approval notice through a one-off adapter.
func (a *app) notifyPaired(ctx context.Context, p paths, r store.PairingRequest) error {
	cfg, _, err := a.loadConfig(p)
	if err != nil {
		return err
	}
	ad, err := a.newAdapter(p, cfg, r.Channel, r.Account, func(context.Context, channels.Message) error { return nil }, nil, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = ad.Send(ctx, channels.Target{ChatID: r.ChatID, ChatType: channels.ChatDirect}, access.ApprovedMessage)
	return err
}

func (a *app) channelsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "channels",
		Short: "Show and link chat channels",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			return usagef("channels: missing subcommand (hint: talon channels list|status|login|logout)")
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the configured channel accounts (no network)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.paths()
			if err != nil {
				return err
			}
			cfg, _, err := a.loadConfig(p)
			if err != nil {
				return err
			}
			accts := channelAccounts(cfg)
			if accts == nil {
				accts = []channelAccount{}
			}
			if a.json {
				return a.printJSON(map[string]any{"channels": accts})
			}
			if len(accts) == 0 {
				a.outf("no channels configured (hint: add one under channels in %s; see docs/channels.md)\n", p.Config)
			}
			for _, c := range accts {
				state := "enabled"
				if !c.Enabled {
					state = "disabled"
				} else if !c.Credential {
					state = "no credentials"
				}
				a.outf("%-9s %-10s %-14s mode %-13s dmPolicy %-9s groupPolicy %s\n", c.Channel, c.Account, state, c.Mode, c.DMPolicy, c.Group)
			}
			return nil
		},
	}
	var sf connFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "Connection state and counters of each channel account, from the running gateway",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), sf.timeout)
			defer cancel()
			c, err := a.dial(ctx, sf, protocol.ScopeRead)
			if err != nil {
				return err
			}
			defer c.Close()
			var out struct {
				Channels []router.AccountStatus `json:"channels"`
			}
			if err := c.Call(ctx, "channels.status", nil, &out); err != nil {
				return fmt.Errorf("channels.status: %w", err)
			}
			if a.json {
				if out.Channels == nil {
					out.Channels = []router.AccountStatus{}
				}
				return a.printJSON(out)
			}
			if len(out.Channels) == 0 {
				a.outf("no channels running\n")
			}
			for _, s := range out.Channels {
				a.outf("%-9s %-10s %-12s in %d, out %d, accepted %d, pairing %d (+%d dropped), rate-limited %d, denied %d\n",
					s.Channel, s.Account, s.State, s.Received, s.Sent, s.Access.Accepted, s.Access.PairingRequests, s.Access.PairingDropped,
					s.Access.RateLimited, sum(s.Access.Denied))
				if s.LastError != "" {
					a.outf("          last error %s: %s\n", s.LastErrorAt.Local().Format("15:04:05"), s.LastError)
				}
			}
			return nil
		},
	}
	sf.register(status)
	login := &cobra.Command{
		Use:   "login <channel>",
		Short: "Link an account that logs in interactively (whatsapp: scan a QR code)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.channelLogin(cmd.Context(), args[0], true)
		},
	}
	logout := &cobra.Command{
		Use:   "logout <channel>",
		Short: "Unlink an interactively linked account and delete its device store",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.channelLogin(cmd.Context(), args[0], false)
		},
	}
	cmd.AddCommand(list, status, login, logout)
	return cmd
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

func (a *app) channelLogin(ctx context.Context, ch string, login bool) error {
	switch strings.ToLower(ch) {
	case "whatsapp":
	case "telegram", "discord", "slack":
		return usagef("channels login: %s uses a bot token, not a login (hint: talon secrets set %s_BOT_TOKEN, then reference it in channels.%s)",
			ch, strings.ToUpper(ch), ch)
	case "signal":
		return usagef("channels login: signal is linked in signal-cli (hint: signal-cli link -n talon, then run signal-cli daemon --http)")
	default:
		return usagef("channels login: unknown channel %q (hint: one of %s)", ch, strings.Join(access.Channels, ", "))
	}
	p, err := a.paths()
	if err != nil {
		return err
	}
	if err := ensureStateDir(p.StateDir); err != nil {
		return err
	}
	if login {
		return whatsappLogin(ctx, p.StateDir, "default", func(code string) {
			a.outf("Scan this with WhatsApp (Settings → Linked devices → Link a device):\n%s\n", code)
		})
	}
	return whatsappLogout(ctx, p.StateDir, "default")
}

// editConfig sets one key of the config file (validated, written
// atomically) and returns the new config; an invalid result changes
// nothing. Secrets from the environment are applied as loadConfig does.
func (a *app) editConfig(p paths, path string, value any) (*config.Config, error) {
	raw, err := os.ReadFile(p.Config)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	tree, err := config.ParseTree(raw)
	if err != nil {
		return nil, err
	}
	if err := config.SetPath(tree, path, value); err != nil {
		return nil, err
	}
	if _, err := config.Validate(tree, a.env.Lookup); err != nil {
		return nil, fmt.Errorf("%w\nnothing was written", err)
	}
	out := config.RenderEdit(raw, tree, func(b []byte) ([]byte, bool) { return config.SetInText(b, path, value) })
	if err := config.WriteFileAtomic(p.Config, out, 0o600); err != nil {
		return nil, fmt.Errorf("writing config: %w", err)
	}
	cfg, _, err := a.loadConfig(p)
	return cfg, err
}
