// Package access decides who may reach the agent through a chat channel,
// before anything of their message is stored or shown to a model
// (invariant 3). It is the one choke point for inbound messages: the
// channel Router asks Check for every message and does only what the
// Decision says.
//
// Direct messages follow channels.<ch>.dmPolicy:
//
//	disabled   nobody
//	pairing    the owner, allowFrom and senders approved through pairing;
//	           an unknown sender gets one reply with a pairing code and
//	           their text goes nowhere (the default)
//	allowlist  the owner, allowFrom and approved senders; others are ignored
//	open       anyone (only with "*" in allowFrom, which config enforces)
//
// With nothing configured only the owner (commands.ownerAllowFrom) gets
// through. Group chats are checked first against groupPolicy, the groups
// allowlist and the sender allowlists, then against the mention rule;
// replying to the bot counts as a mention but never as an allowlisting,
// and a DM pairing approval grants nothing in groups.
//
// Trust feeds the tool policy: the owner is owner, senders allowlisted
// for DMs are trusted, everyone else (open DMs, every non-owner in a
// group) is untrusted, which taints the session.
package access

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/store"
)

// Pairing parameters (invariant 3).
const (
	CodeAlphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789" // no 0/O, 1/I
	CodeLength   = 8
	CodeTTL      = time.Hour
	MaxPending   = 3 // per channel account
)

// Request is what Check needs to know about one inbound message.
type Request struct {
	Channel        string
	Account        string
	SenderID       string
	SenderUsername string
	SenderName     string
	ChatID         string
	ChatType       string // direct | group | channel
	GuildID        string // Discord
	Mentioned      bool   // the platform's @mention or a mention pattern
	ReplyToBot     bool
}

// Reasons in a Decision. Allowed messages carry the first four.
const (
	ReasonOwner       = "owner"
	ReasonAllowlisted = "allowlisted"
	ReasonApproved    = "approved"
	ReasonOpen        = "open"

	ReasonDMDisabled      = "dm-disabled"
	ReasonNotAllowed      = "not-allowed"
	ReasonPairingCreated  = "pairing-created"
	ReasonPairingPending  = "pairing-pending"
	ReasonPairingFull     = "pairing-full"
	ReasonGroupDisabled   = "group-disabled"
	ReasonGroupNotAllowed = "group-not-allowed"
	ReasonSenderNotInList = "sender-not-allowed-in-group"
	ReasonNoMention       = "no-mention"
	ReasonNoChannel       = "channel-not-configured"
)

// Decision is Check's answer.
type Decision struct {
	Allow  bool
	Trust  string // policy.TrustOwner | TrustTrusted | TrustUntrusted, when allowed
	Reason string
	// Pairing is the request created for this message (Reason
	// ReasonPairingCreated): its code must be sent to the sender, once.
	Pairing *store.PairingRequest
}

// Checker applies the channel access rules.
type Checker struct {
	Store  *store.Store
	Config func() *config.Config
	Now    func() time.Time // nil: time.Now
}

func (c *Checker) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Check decides about one message. An error (the store failing) means the
// message must be dropped: access fails closed.
func (c *Checker) Check(ctx context.Context, r Request) (Decision, error) {
	return c.check(ctx, r, true)
}

// Lookup decides about one message like Check but changes nothing: where
// Check would create a pairing request it refuses with ReasonNotAllowed.
// The channel router asks it first, so that a flood of strangers is rate
// limited before any pairing request is written.
func (c *Checker) Lookup(ctx context.Context, r Request) (Decision, error) {
	return c.check(ctx, r, false)
}

// Admitted reports whether a message from r would be let through, without
// creating a pairing request.
func (c *Checker) Admitted(ctx context.Context, r Request) (bool, error) {
	d, err := c.Lookup(ctx, r)
	return d.Allow, err
}

func (c *Checker) check(ctx context.Context, r Request, pair bool) (Decision, error) {
	cfg := c.Config()
	ca, ok := ChannelAccess(cfg, r.Channel)
	if !ok {
		return Decision{Reason: ReasonNoChannel}, nil
	}
	owner := IsOwner(cfg, r.Channel, r.SenderID)
	if r.ChatType == "group" || r.ChatType == "channel" {
		return c.checkGroup(cfg, ca, r, owner), nil
	}
	switch {
	case ca.DMPolicy == "disabled":
		return Decision{Reason: ReasonDMDisabled}, nil
	case owner:
		return Decision{Allow: true, Trust: policy.TrustOwner, Reason: ReasonOwner}, nil
	case matchList(cfg, ca, ca.AllowFrom, r, false, false):
		return Decision{Allow: true, Trust: policy.TrustTrusted, Reason: ReasonAllowlisted}, nil
	}
	approved, err := c.Store.ChannelAllowed(ctx, r.Channel, r.Account, r.SenderID)
	if err != nil {
		return Decision{}, fmt.Errorf("access: %w", err)
	}
	switch {
	case approved:
		return Decision{Allow: true, Trust: policy.TrustTrusted, Reason: ReasonApproved}, nil
	case slices.Contains(ca.AllowFrom, "*"):
		// Anyone may talk (config allows "open" only with "*"), but a
		// stranger is no one we trust.
		return Decision{Allow: true, Trust: policy.TrustUntrusted, Reason: ReasonOpen}, nil
	case ca.DMPolicy != "pairing" || !pair:
		return Decision{Reason: ReasonNotAllowed}, nil
	}
	now := c.now()
	p, outcome, err := c.Store.CreatePairing(ctx, store.PairingRequest{
		Channel: r.Channel, Account: r.Account, SenderID: r.SenderID, ChatID: r.ChatID,
		CreatedAt: now, ExpiresAt: now.Add(CodeTTL),
	}, MaxPending, NewCode)
	if err != nil {
		return Decision{}, fmt.Errorf("access: %w", err)
	}
	switch outcome {
	case store.PairingCreated:
		return Decision{Reason: ReasonPairingCreated, Pairing: &p}, nil
	case store.PairingExists:
		return Decision{Reason: ReasonPairingPending}, nil
	default:
		return Decision{Reason: ReasonPairingFull}, nil
	}
}

func (c *Checker) checkGroup(cfg *config.Config, ca config.ChannelAccess, r Request, owner bool) Decision {
	if ca.GroupPolicy == "disabled" {
		return Decision{Reason: ReasonGroupDisabled}
	}
	if r.Channel == "discord" && r.GuildID != "" {
		if d := cfg.Channels.Discord; d != nil && len(d.Guilds) > 0 && !slices.Contains(d.Guilds, r.GuildID) {
			return Decision{Reason: ReasonGroupNotAllowed}
		}
	}
	g, listed := ca.Groups[r.ChatID]
	if !listed {
		g, listed = ca.Groups["*"]
	}
	if ca.GroupPolicy == "allowlist" && !listed && len(ca.GroupAllowFrom) == 0 {
		return Decision{Reason: ReasonGroupNotAllowed}
	}
	senders := ca.GroupAllowFrom
	if listed && len(g.AllowFrom) > 0 {
		senders = g.AllowFrom
	}
	if len(senders) > 0 && !owner && !matchList(cfg, ca, senders, r, true, false) {
		return Decision{Reason: ReasonSenderNotInList}
	}
	requireMention := ca.RequireMention
	if listed {
		requireMention = g.RequireMention
	}
	if requireMention && !r.Mentioned && !r.ReplyToBot {
		return Decision{Reason: ReasonNoMention}
	}
	if owner {
		return Decision{Allow: true, Trust: policy.TrustOwner, Reason: ReasonOwner}
	}
	// Whoever else speaks in a group is untrusted, allowlisted or not:
	// anyone in the group can put words in front of the model.
	reason := ReasonOpen
	if len(senders) > 0 {
		reason = ReasonAllowlisted
	}
	return Decision{Allow: true, Trust: policy.TrustUntrusted, Reason: reason}
}

// IsOwner reports whether sender on channel is listed in
// commands.ownerAllowFrom as "<channel>:<id>".
func IsOwner(cfg *config.Config, channel, sender string) bool {
	if sender == "" {
		return false
	}
	for _, e := range cfg.Commands.OwnerAllowFrom {
		if ch, id, ok := strings.Cut(e, ":"); ok && strings.EqualFold(ch, channel) && id == sender {
			return true
		}
	}
	return false
}

// matchList reports whether the sender matches an entry of list: "*"
// (when wildcard is set), the sender id, "<channel>:<id>", or "@group"
// (accessGroups, one level).
// Usernames and display names match only with dangerouslyAllowNameMatching.
func matchList(cfg *config.Config, ca config.ChannelAccess, list []string, r Request, wildcard, nested bool) bool {
	for _, e := range list {
		switch {
		case e == "*":
			if wildcard {
				return true
			}
			continue
		case strings.HasPrefix(e, "@") && !nested:
			if members, ok := cfg.AccessGroups[e[1:]]; ok {
				if matchList(cfg, ca, members, r, wildcard, true) {
					return true
				}
				continue
			}
		}
		id := e
		if ch, rest, ok := strings.Cut(e, ":"); ok && knownChannel(ch) {
			if !strings.EqualFold(ch, r.Channel) {
				continue
			}
			id = rest
		}
		if id == r.SenderID && id != "" {
			return true
		}
		if ca.DangerouslyAllowNameMatching && nameMatches(id, r) {
			return true
		}
	}
	return false
}

func nameMatches(entry string, r Request) bool {
	e := strings.TrimPrefix(entry, "@")
	if e == "" {
		return false
	}
	return strings.EqualFold(e, r.SenderUsername) || strings.EqualFold(e, r.SenderName)
}

// Channels lists the channel names Talon knows, in display order.
var Channels = []string{"telegram", "discord", "slack", "signal", "whatsapp"}

func knownChannel(ch string) bool { return slices.Contains(Channels, strings.ToLower(ch)) }

// ChannelAccess returns the access settings of a configured, enabled
// channel.
func ChannelAccess(cfg *config.Config, channel string) (config.ChannelAccess, bool) {
	c := cfg.Channels
	switch channel {
	case "telegram":
		if c.Telegram != nil && c.Telegram.Enabled {
			return c.Telegram.ChannelAccess, true
		}
	case "discord":
		if c.Discord != nil && c.Discord.Enabled {
			return c.Discord.ChannelAccess, true
		}
	case "slack":
		if c.Slack != nil && c.Slack.Enabled {
			return c.Slack.ChannelAccess, true
		}
	case "signal":
		if c.Signal != nil && c.Signal.Enabled {
			return c.Signal.ChannelAccess, true
		}
	case "whatsapp":
		if c.WhatsApp != nil && c.WhatsApp.Enabled {
			return c.WhatsApp.ChannelAccess, true
		}
	}
	return config.ChannelAccess{}, false
}

// NewCode returns a fresh pairing code: CodeLength characters of
// CodeAlphabet from crypto/rand (32 symbols, so no modulo bias).
func NewCode() string {
	var b [CodeLength]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = CodeAlphabet[int(b[i])%len(CodeAlphabet)]
	}
	return string(b[:])
}

// ValidCode reports whether s looks like a pairing code (case-insensitive).
func ValidCode(s string) bool {
	if len(s) != CodeLength {
		return false
	}
	for _, r := range strings.ToUpper(s) {
		if !strings.ContainsRune(CodeAlphabet, r) {
			return false
		}
	}
	return true
}
