package router

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/channels"
)

// DefaultResumeMaxAge is how old a journaled message may be and still be
// answered after a restart, when the config does not say.
const DefaultResumeMaxAge = time.Hour

// ResumeNote is what the sender of a message too old to answer after a
// restart is told, once; %s is the time it arrived (HH:MM, the gateway's
// time zone).
const ResumeNote = "Your message from %s was not processed because the gateway restarted; please send it again."

// Resume finishes what a crash interrupted (invariant 14): every message
// in the Journal that is not done, in the order it arrived. A message whose
// reply was already delivered is only marked done; one older than maxAge
// gets ResumeNote instead of an answer; a sender the access rules no
// longer admit gets nothing; every other is run as a turn again, without
// storing its user message twice. A message of an account that is not
// added (not configured, or its adapter could not be made) stays pending. Call it once at start, after the
// adapters are added and before Start, so that resumed turns take their
// places in their sessions' queues before any new message. It returns how
// many turns it started and notes it sent.
func (r *Router) Resume(ctx context.Context, maxAge time.Duration) (turns, notes int, err error) {
	if r.Journal == nil {
		return 0, 0, nil
	}
	r.mu.Lock()
	if r.ctx == nil {
		r.ctx = ctx
	}
	r.mu.Unlock()
	pending, err := r.Journal.PendingInbound(ctx)
	if err != nil {
		return 0, 0, err
	}
	if maxAge <= 0 {
		maxAge = DefaultResumeMaxAge
	}
	now := r.now()
	cfg := r.Config()
	for _, in := range pending {
		var m channels.Message
		if err := json.Unmarshal(in.Message, &m); err != nil {
			r.log().Error("channels: a journaled message does not decode; dropped", "id", in.ID, "err", err)
			r.done(ctx, in.ID, false)
			continue
		}
		if r.adapter(m.Channel, m.Account) == nil {
			// Its account is not running (no longer configured, or it
			// could not be made this time): left for a later start.
			continue
		}
		r.dedupe.Seen(key(m.Channel, m.Account)+"/"+m.ID, now)
		switch {
		case !in.ReplySentAt.IsZero():
			r.done(ctx, in.ID, true)
			continue
		case now.Sub(in.ReceivedAt) > maxAge:
			text := fmt.Sprintf(ResumeNote, in.ReceivedAt.Local().Format("15:04"))
			if err := r.deliverThen(ctx, m.Channel, m.Account, channels.TargetOf(m), text, "resume-note", func() { r.done(ctx, in.ID, true) }); err != nil {
				// Left pending: the next start tries again.
				r.log().Warn("channels: sending the restart note failed", "id", in.ID, "err", err)
				continue
			}
			notes++
			continue
		}
		// The sender's standing now, not when it arrived: an owner may
		// have revoked them meanwhile.
		d, err := r.Access.Lookup(ctx, access.Request{Channel: m.Channel, Account: m.Account, SenderID: m.SenderID,
			SenderUsername: m.SenderUsername, SenderName: m.SenderName, ChatID: m.ChatID, ChatType: m.ChatType, GuildID: m.GuildID,
			Mentioned: m.MentionsBot || r.mentioned(cfg, m.Text), ReplyToBot: m.ReplyToBot})
		if err != nil {
			return turns, notes, fmt.Errorf("channels: resume: access check: %w", err)
		}
		if !d.Allow {
			r.done(ctx, in.ID, false)
			continue
		}
		turns++
		r.dispatch(m, d.Trust, in.ID, true)
	}
	return turns, notes, nil
}

// PruneJournal deletes journal rows done more than keep ago; they are kept
// that long so a platform's late redelivery is still known.
func (r *Router) PruneJournal(ctx context.Context, keep time.Duration) (int64, error) {
	if r.Journal == nil {
		return 0, nil
	}
	return r.Journal.PruneInbound(ctx, r.now().Add(-keep))
}
