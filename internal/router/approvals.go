package router

// Approvals in chat. The Router is an approvals.Reach: a request the policy
// escalated is sent to the owner's direct chat on every channel where
// commands.ownerAllowFrom names them — the rendered plan, the reason, the
// id and how to answer, with buttons where the adapter has them — and
// whoever it reached is told how it ended. Answers come back out of band:
// "/approve ID allow-once|allow-always|deny" and button presses are taken
// in HandleBatch before the journal and the session queues, so an answer
// never waits behind the turn it unblocks, and never reaches a model.
//
// Only the owner may answer (access.IsOwner: the platform's own sender id,
// listed in commands.ownerAllowFrom). Anyone else's answer changes nothing,
// is refused and audited; an admitted sender is told so, a stranger gets
// silence, and both count against their rate limits first, so refusals
// cannot flood the audit log. The bot's own messages (SenderIsBot) are
// dropped, so a hijacked model cannot answer by having the bot post
// "/approve ...".

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/store"
)

// ApprovalReach is the Router as an approvals.Reach: it puts requests in
// front of the owner in their direct chats.
func (r *Router) ApprovalReach() approvals.Reach { return (*ownerReach)(r) }

type ownerReach Router

// ownerChat is one place the owner is reached.
type ownerChat struct {
	channel, account string
	target           channels.Target
	buttons          string // the message with the buttons ("": none)
	text             string // what that message says
}

// reachState holds the chats each open request was sent to.
type reachState struct {
	mu   sync.Mutex
	sent map[string][]ownerChat // by approval id
}

// owner is one of the owner's identities with the adapter that reaches it.
type owner struct {
	ad     channels.Adapter
	userID string
}

// owners lists who reaches an owner entry of commands.ownerAllowFrom: one
// adapter per entry, the first account added of that channel.
func (o *ownerReach) owners() []owner {
	r := (*Router)(o)
	cfg := r.Config()
	var out []owner
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range cfg.Commands.OwnerAllowFrom {
		ch, id, ok := strings.Cut(e, ":")
		if !ok || id == "" {
			continue
		}
		ch = strings.ToLower(ch)
		if _, enabled := access.ChannelAccess(cfg, ch); !enabled {
			continue
		}
		for _, k := range r.order {
			if ad := r.adapters[k]; ad.Channel() == ch {
				out = append(out, owner{ad, id})
				break
			}
		}
	}
	return out
}

// target is the owner's direct chat on ow's platform.
func (ow owner) target(ctx context.Context) (channels.Target, error) {
	if d, ok := ow.ad.(channels.DirectOpener); ok {
		return d.OpenDirect(ctx, ow.userID)
	}
	return channels.Target{ChatID: ow.userID, ChatType: channels.ChatDirect}, nil
}

// Reachable implements approvals.Reach: an owner is named and one of their
// channels is running.
func (o *ownerReach) Reachable() bool { return len(o.owners()) > 0 }

// Offer implements approvals.Reach.
func (o *ownerReach) Offer(ctx context.Context, p approvals.Pending) bool {
	r := (*Router)(o)
	text := channels.ApprovalText(p, r.now())
	var reached []ownerChat
	for _, ow := range o.owners() {
		t, err := ow.target(ctx)
		if err != nil {
			r.log().Warn("channels: opening the owner's direct chat failed", "channel", ow.ad.Channel(), "account", ow.ad.Account(), "err", err)
			continue
		}
		msgID, sentText, err := r.sendButtons(ctx, ow.ad, t, text, channels.ApprovalButtons(p.ID), "approval-request")
		if err != nil {
			r.log().Warn("channels: sending an approval request to the owner failed", "channel", ow.ad.Channel(), "account", ow.ad.Account(), "id", p.ID, "err", err)
			continue
		}
		reached = append(reached, ownerChat{ow.ad.Channel(), ow.ad.Account(), t, msgID, sentText})
	}
	if len(reached) == 0 {
		return false
	}
	st := &r.reach
	st.mu.Lock()
	if st.sent == nil {
		st.sent = map[string][]ownerChat{}
	}
	st.sent[p.ID] = reached
	st.mu.Unlock()
	return true
}

// Settled implements approvals.Reach: each chat the request reached gets
// the note.
func (o *ownerReach) Settled(ctx context.Context, a store.Approval, note string) {
	r := (*Router)(o)
	st := &r.reach
	st.mu.Lock()
	chats := st.sent[a.ID]
	delete(st.sent, a.ID)
	st.mu.Unlock()
	for _, c := range chats {
		if bc, ok := r.adapter(c.channel, c.account).(channels.ButtonCloser); ok && c.buttons != "" {
			if err := bc.CloseButtons(ctx, c.target, c.buttons, c.text); err != nil {
				r.log().Warn("channels: taking the buttons off an answered request failed", "channel", c.channel, "id", a.ID, "err", err)
			}
		}
		if err := r.deliver(ctx, c.channel, c.account, c.target, note, "approval-note"); err != nil {
			r.log().Warn("channels: telling the owner how an approval ended failed", "channel", c.channel, "id", a.ID, "err", err)
		}
	}
}

// NotifyOwner sends text to the owner's direct chat on every channel that
// reaches them (the gateway's notes about approvals a restart voided). It
// reports how many chats it reached.
func (r *Router) NotifyOwner(ctx context.Context, text, kind string) int {
	n := 0
	for _, ow := range (*ownerReach)(r).owners() {
		t, err := ow.target(ctx)
		if err != nil {
			r.log().Warn("channels: opening the owner's direct chat failed", "channel", ow.ad.Channel(), "account", ow.ad.Account(), "err", err)
			continue
		}
		if r.deliver(ctx, ow.ad.Channel(), ow.ad.Account(), t, text, kind) == nil {
			n++
		}
	}
	return n
}

// sendButtons is deliver with buttons where the adapter has them (text
// alone, which says how to answer, where not); it returns the id of the
// message with the buttons ("" without) and the text as sent.
func (r *Router) sendButtons(ctx context.Context, a channels.Adapter, t channels.Target, text string, buttons []channels.Button, kind string) (msgID, sent string, err error) {
	bs, ok := a.(channels.ButtonSender)
	if !ok {
		return "", "", r.deliver(ctx, a.Channel(), a.Account(), t, text, kind)
	}
	if r.Scrub != nil {
		text = r.Scrub(text)
	}
	text = redact.RedactFormats(text)
	d, err := bs.SendButtons(ctx, t, text, buttons)
	if n := len(d.MessageIDs); n > 0 && err == nil {
		msgID = d.MessageIDs[n-1]
	}
	m := channels.Message{Channel: a.Channel(), Account: a.Account()}
	if err != nil {
		r.count(m, func(c *Counters) { c.ReplyErrors++ })
	} else {
		r.count(m, func(c *Counters) { c.Replies++ })
	}
	if r.Audit != nil {
		sum := sha256.Sum256([]byte(text))
		data := map[string]any{"kind": kind, "account": a.Account(), "length": len(text), "sha256": hex.EncodeToString(sum[:]), "buttons": len(buttons)}
		if err != nil {
			data["error"] = err.Error()
		}
		r.Audit(context.WithoutCancel(ctx), core.KindMessageOut, "talon", a.Channel()+":"+t.ChatID, data)
	}
	return msgID, text, err
}

// approvalAnswer is an answer to a request parsed from a message: a
// "/approve" command or a button press.
type approvalAnswer struct {
	id, decision string
	via          string // "command" or "button"
	usage        bool   // malformed: tell the sender how to write it
}

// parseAnswer reports whether m is an answer to an approval request (then
// the Router handles it itself) and parses it.
func parseAnswer(m channels.Message) (approvalAnswer, bool) {
	if m.Action != nil {
		rest, ok := strings.CutPrefix(m.Action.Data, channels.ApprovalPrefix)
		id, decision, ok2 := strings.Cut(rest, ":")
		if !ok || !ok2 || !approvals.ValidID(id) || !approvals.ValidDecision(decision) {
			return approvalAnswer{via: "button", usage: true}, true
		}
		return approvalAnswer{id: id, decision: decision, via: "button"}, true
	}
	// Every inbound message passes here: decide without allocating.
	t := strings.TrimLeft(m.Text, " \t\r\n")
	if len(t) < len("/approve") || !strings.EqualFold(t[:len("/approve")], "/approve") {
		return approvalAnswer{}, false
	}
	f := strings.Fields(t)
	cmd, _, _ := strings.Cut(f[0], "@") // Telegram's "/approve@botname" in groups
	if !strings.EqualFold(cmd, "/approve") {
		return approvalAnswer{}, false
	}
	if len(f) != 3 || !approvals.ValidDecision(strings.ToLower(f[2])) {
		return approvalAnswer{via: "command", usage: true}, true
	}
	return approvalAnswer{id: strings.ToLower(f[1]), decision: strings.ToLower(f[2]), via: "command"}, true
}

// approvalUsage is the answer to a malformed /approve.
const approvalUsage = "Usage: /approve ID allow-once|allow-always|deny (the id is in the approval request)."

// outOfBand handles a message that answers an approval request, before
// dedupe's journal and the session queues: handled reports whether m was
// one (then it never becomes a turn); err means its answer was not
// recorded and the adapter must not acknowledge it.
func (r *Router) outOfBand(ctx context.Context, m channels.Message) (handled bool, err error) {
	ans, ok := parseAnswer(m)
	if !ok || (r.Approvals == nil && m.Action == nil) {
		// Without approvals here /approve goes the normal way; the turn
		// answers that approvals are answered elsewhere.
		return false, nil
	}
	defer func() {
		if p := recover(); p != nil {
			r.log().Error("channels: panic while handling an approval answer; dropped", "channel", m.Channel, "account", m.Account, "panic", fmt.Sprint(p))
			handled, err = true, nil
		}
	}()
	if m.SenderIsBot {
		r.count(m, func(c *Counters) { c.IgnoredBots++ })
		return true, nil
	}
	now := r.now()
	dkey := key(m.Channel, m.Account) + "/" + m.ID
	if m.ID != "" && r.dedupe.Seen(dkey, now) {
		r.count(m, func(c *Counters) { c.Duplicates++ })
		return true, nil
	}
	cfg := r.Config()
	actor := m.Channel + ":" + m.SenderID
	if _, enabled := access.ChannelAccess(cfg, m.Channel); !enabled || !access.IsOwner(cfg, m.Channel, m.SenderID) {
		r.refuseAnswer(ctx, m, ans, now)
		return true, nil
	}
	// reply answers the sender: a button press through the platform's
	// acknowledgement (the presser alone sees it), a command in the chat.
	reply := func(text string) {
		if m.Action != nil {
			if aa, ok := r.adapter(m.Channel, m.Account).(channels.ActionAnswerer); ok {
				if err := aa.AnswerAction(ctx, *m.Action, text); err != nil {
					r.log().Warn("channels: answering a button press failed", "channel", m.Channel, "err", err)
				}
				return
			}
		}
		if err := r.deliver(ctx, m.Channel, m.Account, channels.TargetOf(m), text, "approval-answer"); err != nil {
			r.log().Warn("channels: answering an approval command failed", "channel", m.Channel, "err", err)
		}
	}
	if ans.usage {
		if m.Action != nil {
			reply("That button is not an approval.")
		} else {
			reply(approvalUsage)
		}
		return true, nil
	}
	if r.Approvals == nil {
		reply("Approvals are not running here.")
		return true, nil
	}
	by := "chat:" + actor
	waiting := r.Approvals.Waiting(ans.id)
	a, rerr := r.Approvals.Resolve(ctx, ans.id, ans.decision, by)
	switch {
	case errors.Is(rerr, store.ErrNoApproval):
		reply(fmt.Sprintf("There is no approval %s.", ans.id))
		return true, nil
	case errors.Is(rerr, store.ErrApprovalResolved):
		reply(fmt.Sprintf("Approval %s was already answered or has expired; nothing changed.", ans.id))
		return true, nil
	case rerr != nil:
		// Not recorded: not acknowledged either, so the platform offers
		// it again.
		if m.ID != "" {
			r.dedupe.Forget(dkey)
		}
		r.log().Error("channels: recording an approval answer failed", "channel", m.Channel, "id", ans.id, "err", rerr)
		return true, fmt.Errorf("channels: approval answer: %w", rerr)
	}
	if r.Audit != nil {
		r.Audit(context.WithoutCancel(ctx), core.KindApprovalResolve, by, a.Tool,
			map[string]any{"id": a.ID, "decision": a.Decision, "planHash": a.PlanHash, "session": a.SessionKey, "via": ans.via})
	}
	r.log().Info("approval resolved in chat", "channel", m.Channel, "id", a.ID, "decision", a.Decision, "tool", a.Tool)
	// The waiting request tells the owner's chats how it ended
	// (Settled); a button press gets its acknowledgement, and a command
	// nobody waits for is confirmed here.
	if m.Action != nil || !waiting {
		reply(fmt.Sprintf("Approval %s: %s", a.ID, decisionNote(a.Decision)))
	}
	return true, nil
}

func decisionNote(d string) string {
	switch d {
	case approvals.AllowOnce:
		return "Allowed once."
	case approvals.AllowAlways:
		return "Allowed always."
	default:
		return "Denied."
	}
}

// refuseAnswer handles an answer from someone who is not the owner: it
// changes nothing. Within the sender's rate limits it is audited, and an
// admitted sender is told; a stranger is not answered (only a button press
// is acknowledged, which the platform requires and the presser alone sees).
func (r *Router) refuseAnswer(ctx context.Context, m channels.Message, ans approvalAnswer, now time.Time) {
	cfg := r.Config()
	d, err := r.Access.Lookup(ctx, access.Request{Channel: m.Channel, Account: m.Account, SenderID: m.SenderID, SenderUsername: m.SenderUsername,
		SenderName: m.SenderName, ChatID: m.ChatID, ChatType: m.ChatType, GuildID: m.GuildID, Mentioned: true})
	admitted := err == nil && d.Allow
	if admitted {
		if !r.allowRate(ctx, cfg, m, now, false) {
			return
		}
	} else if !r.allowStranger(cfg, m, now) {
		r.count(m, func(c *Counters) { c.StrangersLimited++ })
		return
	}
	r.count(m, func(c *Counters) { c.Denied["not-owner-approval"]++ })
	r.log().Warn("channels: approval answer from someone who is not the owner refused", "channel", m.Channel, "account", m.Account, "via", ans.via)
	if r.Audit != nil {
		r.Audit(context.WithoutCancel(ctx), core.KindApprovalRefused, m.Channel+":"+m.SenderID, ans.id,
			map[string]any{"decision": ans.decision, "via": ans.via, "chat": m.ChatID, "admitted": admitted})
	}
	const refusal = "Only the owner can answer approval requests; nothing changed."
	if m.Action != nil {
		if aa, ok := r.adapter(m.Channel, m.Account).(channels.ActionAnswerer); ok {
			_ = aa.AnswerAction(ctx, *m.Action, refusal)
		}
		return
	}
	if admitted {
		_ = r.deliver(ctx, m.Channel, m.Account, channels.TargetOf(m), refusal, "approval-refused")
	}
}
