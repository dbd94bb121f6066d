package router

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/talonclaw/talon/internal/access"
	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/approvals"
	"github.com/talonclaw/talon/internal/auditlog"
	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/redact"
	"github.com/talonclaw/talon/internal/store"
)

// Runner starts agent turns; *agent.Agent is one. Start must take the
// turn's place in its session's queue before it returns, so messages of
// one conversation are answered in the order they arrived.
type Runner interface {
	Start(ctx context.Context, req agent.TurnRequest) (string, error)
}

// RateNotice is the one message a sender gets when they go over a rate
// limit; after it they get silence until they slow down.
const RateNotice = "You are sending messages faster than I can take them; I will ignore messages for a little while."

// Router is the inbound pipeline: adapter → dedupe → access → rate limits
// → session → agent → reply to the same conversation. It is every
// adapter's Handler, and the agent's Outbound for the message tool.
//
// Rate limits come after the access check (invariant 3), and allowed and
// refused senders never share a bucket: allowed senders count against
// rateLimit.perSenderPerMinute and perChannelPerMinute (the owner is never
// refused by the latter); direct messages from refused senders count
// against the stricter strangersPerSenderPerMinute and
// strangersPerChannelPerMinute, checked before a pairing request is
// written or answered. So no number of strangers can silence the owner.
// The limiters are kept in bounded LRU sets (maxLimiters each): a flood of
// distinct sender ids cannot grow them.
type Router struct {
	Config func() *config.Config
	Access *access.Checker
	Agent  Runner
	// Scrub removes secrets from every outbound text (nil: none).
	Scrub func(string) string
	// Audit records outbound messages and pairing requests (nil: none).
	Audit auditlog.Func
	// OnPairing is told about each new pairing request (the gateway
	// turns it into an event for operators).
	OnPairing func(store.PairingRequest)
	// OnAlert is told about a turn's security alerts (the gateway sends
	// them to operators as security.alert).
	OnAlert func(agent.Event)
	// Journal stores every admitted message before Handle returns, and
	// follows its turn until the reply is delivered, so that kill -9 loses
	// no acknowledged message and Resume can finish what a crash
	// interrupted (invariant 14). nil: no journal (tests of routing only).
	Journal *store.Store
	Logger  *slog.Logger
	Now     func() time.Time
	// Approvals resolves the owner's answers to approval requests, taken
	// out of band (approvals.go); nil: /approve goes the normal way.
	Approvals *approvals.Manager

	mu       sync.Mutex
	ctx      context.Context // the gateway's; turns run under it
	adapters map[string]channels.Adapter
	order    []string
	counters map[string]*Counters
	dedupe   channels.Dedupe
	// Allowed senders' and refused senders' limiters, per sender and per
	// channel account.
	senders, accounts   limiters
	strangers, refusals limiters
	patterns            []string
	mention             []*regexp.Regexp
	// doneIDs are replied journal rows waiting to be marked done together
	// (queueDone, flushDone).
	doneMu    sync.Mutex
	doneIDs   []int64
	doneTimer *time.Timer

	// ending counts turns delivering their last reply; Stop waits for
	// them, so a reply the platform accepted gets its mark.
	ending atomic.Int64
	// reach is where approval requests were sent (approvals.go).
	reach reachState
}

// Counters are the Router's per-account counts, shown in status.
type Counters struct {
	Accepted         int64            `json:"accepted"`
	Duplicates       int64            `json:"duplicates"`
	IgnoredBots      int64            `json:"ignoredBots"`
	Denied           map[string]int64 `json:"denied"` // by access reason
	PairingRequests  int64            `json:"pairingRequests"`
	PairingDropped   int64            `json:"pairingDropped"`
	RateLimited      int64            `json:"rateLimited"`      // allowed senders over their limits
	StrangersLimited int64            `json:"strangersLimited"` // refused senders' messages dropped by their limits
	Replies          int64            `json:"replies"`
	ReplyErrors      int64            `json:"replyErrors"`
	TurnErrors       int64            `json:"turnErrors"`
}

type limited struct {
	key      string
	lim      *rate.Limiter
	perMin   int
	noticed  bool
	lastSeen time.Time
}

// maxLimiters bounds each set of limiters.
const maxLimiters = 4096

// limiters holds rate limiters by key, at most maxLimiters, most recently
// used first. The least recently used is forgotten when the set is full,
// and any idle for a minute are forgotten as the set is used. A forgotten
// limiter comes back full, which is what a minute's rest gives anyway; a
// flood that cycles through more ids than the set holds only gets each
// id's burst back, and the per-account bucket behind it still caps it.
type limiters struct {
	byKey map[string]*list.Element
	order list.List // of *limited
}

// get returns the limiter at k, created if missing, and marks it used.
func (ls *limiters) get(k string, now time.Time) *limited {
	if ls.byKey == nil {
		ls.byKey = map[string]*list.Element{}
		ls.order.Init()
	}
	if e := ls.byKey[k]; e != nil {
		ls.order.MoveToFront(e)
		l := e.Value.(*limited)
		l.lastSeen = now
		return l
	}
	// Make room: forget the idle, and the least recently used when full.
	for e := ls.order.Back(); e != nil; e = ls.order.Back() {
		l := e.Value.(*limited)
		if ls.order.Len() < maxLimiters && now.Sub(l.lastSeen) <= time.Minute {
			break
		}
		delete(ls.byKey, l.key)
		ls.order.Remove(e)
	}
	l := &limited{key: k, lastSeen: now}
	ls.byKey[k] = ls.order.PushFront(l)
	return l
}

// Len is how many limiters the set holds.
func (ls *limiters) Len() int { return len(ls.byKey) }

// AccountStatus is one adapter's Status with the Router's counters.
type AccountStatus struct {
	channels.Status
	Access Counters `json:"access"`
}

func key(channel, account string) string { return channel + "/" + account }

// Add registers an adapter; call it before Start.
func (r *Router) Add(a channels.Adapter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.adapters == nil {
		r.adapters = map[string]channels.Adapter{}
		r.counters = map[string]*Counters{}
	}
	k := key(a.Channel(), a.Account())
	if _, dup := r.adapters[k]; !dup {
		r.order = append(r.order, k)
	}
	r.adapters[k] = a
	r.counters[k] = &Counters{Denied: map[string]int64{}}
}

// Start starts every adapter. An adapter that cannot start is reported
// in its Status and the error; the others run regardless.
func (r *Router) Start(ctx context.Context) error {
	r.mu.Lock()
	r.ctx = ctx
	list := r.list()
	r.mu.Unlock()
	var errs []error
	for _, a := range list {
		if err := a.Start(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s/%s: %w", a.Channel(), a.Account(), err))
		}
	}
	return errors.Join(errs...)
}

// Stop stops every adapter.
//
// It first waits (within ctx) for turns delivering their last reply, so
// that a reply the platform accepted is marked in the journal and not sent
// again after the restart. A turn the shutdown cut short leaves its
// message pending; the next start resumes it.
func (r *Router) Stop(ctx context.Context) error {
	for r.ending.Load() > 0 && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
	if r.Journal != nil {
		r.flushDone()
	}
	r.mu.Lock()
	list := r.list()
	r.mu.Unlock()
	var errs []error
	for _, a := range list {
		if err := a.Stop(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (r *Router) list() []channels.Adapter {
	out := make([]channels.Adapter, 0, len(r.order))
	for _, k := range r.order {
		out = append(out, r.adapters[k])
	}
	return out
}

// Status reports every adapter with its counters, in the order added.
func (r *Router) Status() []AccountStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]AccountStatus, 0, len(r.order))
	for _, k := range r.order {
		c := *r.counters[k]
		c.Denied = make(map[string]int64, len(r.counters[k].Denied))
		for reason, n := range r.counters[k].Denied {
			c.Denied[reason] = n
		}
		out = append(out, AccountStatus{Status: r.adapters[k].Status(), Access: c})
	}
	return out
}

func (r *Router) count(m channels.Message, f func(*Counters)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c := r.counters[key(m.Channel, m.Account)]
	if c == nil {
		if r.counters == nil {
			r.counters = map[string]*Counters{}
		}
		c = &Counters{Denied: map[string]int64{}}
		r.counters[key(m.Channel, m.Account)] = c
	}
	f(c)
}

func (r *Router) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Router) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Handle is the Handler every adapter is given. Nothing of a message from
// a sender the access rules refuse is stored, logged or shown to a model.
//
// An admitted message is written to the Journal, in a durable commit,
// before Handle returns nil; its turn is then queued as before. An error
// means the message was not stored (the journal write or the access check
// failed): the adapter must not acknowledge it, and it is handled afresh
// when the platform delivers it again.
func (r *Router) Handle(ctx context.Context, m channels.Message) error {
	return r.HandleBatch(ctx, []channels.Message{m})[0]
}

// HandleBatch handles ms in order exactly as Handle handles each, but
// stores every admitted message of the batch in one durable commit
// instead of one each: errs[i] is Handle's result for ms[i]. An adapter
// that receives messages in batches (Telegram's getUpdates) acknowledges
// the prefix of ms whose errors are nil. Per-sender order is kept: the
// turns are dispatched in ms's order after the commit.
func (r *Router) HandleBatch(ctx context.Context, ms []channels.Message) []error {
	errs := make([]error, len(ms))
	type admitted struct {
		i     int
		trust string
		row   store.Inbound
	}
	var adm []admitted
	for i, m := range ms {
		// Answers to approval requests never queue (approvals.go).
		if handled, err := r.outOfBand(ctx, m); handled {
			errs[i] = err
			continue
		}
		ok, trust, row, err := r.admit(ctx, m)
		errs[i] = err
		if ok {
			adm = append(adm, admitted{i, trust, row})
		}
	}
	if len(adm) == 0 {
		return errs
	}
	ids := make([]int64, len(adm))
	dups := make([]bool, len(adm))
	if r.Journal != nil {
		rows := make([]store.Inbound, len(adm))
		for k, a := range adm {
			rows[k] = a.row
		}
		var err error
		ids, dups, err = r.Journal.JournalInboundBatch(context.WithoutCancel(ctx), rows)
		if err != nil {
			r.log().Error("channels: journaling the message failed; not acknowledged", "messages", len(rows), "err", err)
			for _, a := range adm {
				m := ms[a.i]
				r.count(m, func(c *Counters) { c.Denied["journal"]++ })
				if m.ID != "" {
					r.dedupe.Forget(key(m.Channel, m.Account) + "/" + m.ID)
				}
				errs[a.i] = err
			}
			return errs
		}
	}
	for k, a := range adm {
		m := ms[a.i]
		if dups[k] {
			// Stored before a restart and delivered again because the
			// platform was never told: Resume runs it, not this.
			r.count(m, func(c *Counters) { c.Duplicates++ })
			continue
		}
		r.count(m, func(c *Counters) { c.Accepted++ })
		r.safeDispatch(m, a.trust, ids[k])
	}
	return errs
}

// safeDispatch dispatches one stored message; a panic drops it (it is in
// the journal, so the next start resumes it) instead of the gateway.
func (r *Router) safeDispatch(m channels.Message, trust string, id int64) {
	defer func() {
		if p := recover(); p != nil {
			r.log().Error("channels: panic while dispatching a message; dropped", "channel", m.Channel, "account", m.Account, "panic", fmt.Sprint(p))
			r.count(m, func(c *Counters) { c.Denied["panic"]++ })
		}
	}()
	r.dispatch(m, trust, id, false)
}

// admit runs everything before the journal: bots, dedupe, access, the
// rate limits. ok means the message is to be stored and dispatched with
// trust; otherwise it was dropped (err nil) or could not be checked (err:
// not acknowledged, so the platform offers it again).
func (r *Router) admit(ctx context.Context, m channels.Message) (ok bool, trust string, row store.Inbound, err error) {
	dkey := key(m.Channel, m.Account) + "/" + m.ID
	defer func() {
		// One malformed message must not take the gateway and every other
		// conversation down with it (invariant 14). It is dropped (nil):
		// redelivering it would only panic again.
		if p := recover(); p != nil {
			r.log().Error("channels: panic while handling a message; dropped", "channel", m.Channel, "account", m.Account, "panic", fmt.Sprint(p))
			r.count(m, func(c *Counters) { c.Denied["panic"]++ })
			ok, err = false, nil
		}
		if err != nil && m.ID != "" {
			r.dedupe.Forget(dkey)
		}
	}()
	if m.SenderIsBot {
		r.count(m, func(c *Counters) { c.IgnoredBots++ })
		return false, "", row, nil
	}
	now := r.now()
	if m.ID != "" && r.dedupe.Seen(dkey, now) {
		r.count(m, func(c *Counters) { c.Duplicates++ })
		return false, "", row, nil
	}
	cfg := r.Config()
	req := access.Request{Channel: m.Channel, Account: m.Account, SenderID: m.SenderID, SenderUsername: m.SenderUsername,
		SenderName: m.SenderName, ChatID: m.ChatID, ChatType: m.ChatType, GuildID: m.GuildID,
		Mentioned: m.MentionsBot || r.mentioned(cfg, m.Text), ReplyToBot: m.ReplyToBot}
	// Access first, without side effects; limits after, in separate
	// buckets for allowed and refused senders (invariant 3).
	d, err := r.Access.Lookup(ctx, req)
	if err == nil && !d.Allow && m.ChatType != channels.ChatGroup && m.ChatType != channels.ChatChannel {
		if !r.allowStranger(cfg, m, now) {
			r.count(m, func(c *Counters) { c.StrangersLimited++ })
			return false, "", row, nil
		}
		// Within the strangers' limits: decide again, now allowed to
		// issue a pairing code (at most access.MaxPending per channel).
		d, err = r.Access.Check(ctx, req)
	}
	if err != nil {
		// Fail closed: a message we cannot check goes nowhere, and is not
		// acknowledged, so the platform offers it again.
		r.log().Error("channels: access check failed; message not accepted", "channel", m.Channel, "account", m.Account, "err", err)
		r.count(m, func(c *Counters) { c.Denied["error"]++ })
		return false, "", row, fmt.Errorf("channels: access check: %w", err)
	}
	if !d.Allow {
		r.denied(ctx, m, d)
		return false, "", row, nil
	}
	if !r.allowRate(ctx, cfg, m, now, d.Reason == access.ReasonOwner) {
		return false, "", row, nil
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return false, "", row, fmt.Errorf("channels: journal: %w", err)
	}
	return true, d.Trust, store.Inbound{Channel: m.Channel, Account: m.Account, MessageID: m.ID, SenderID: m.SenderID,
		ChatID: m.ChatID, Message: raw, Trust: d.Trust, ReceivedAt: now}, nil
}

// denied handles a refused message: only a new pairing request gets an
// answer (its code), everything else is counted and dropped.
func (r *Router) denied(ctx context.Context, m channels.Message, d access.Decision) {
	switch d.Reason {
	case access.ReasonPairingFull:
		r.count(m, func(c *Counters) { c.PairingDropped++ })
	case access.ReasonPairingCreated:
		r.count(m, func(c *Counters) { c.PairingRequests++ })
	default:
		r.count(m, func(c *Counters) { c.Denied[d.Reason]++ })
	}
	if d.Pairing == nil {
		return
	}
	p := *d.Pairing
	if r.Audit != nil {
		// Who asked and the code; never their name or text.
		r.Audit(ctx, core.KindPairingRequest, m.Channel+":"+m.SenderID, p.Code,
			map[string]any{"channel": p.Channel, "account": p.Account, "expiresAt": p.ExpiresAt})
	}
	if r.OnPairing != nil {
		r.OnPairing(p)
	}
	if err := r.deliver(ctx, m.Channel, m.Account, channels.TargetOf(m), access.PairingMessage(m.Channel, p.Code), "pairing"); err != nil {
		r.log().Warn("channels: sending the pairing code failed", "channel", m.Channel, "account", m.Account, "err", err)
	}
}

// Built-in strangers' limits, for a config made in code (the config file
// always has them, at least 1).
const (
	defaultStrangersPerSender  = 2
	defaultStrangersPerChannel = 20
)

// allowStranger applies the refused senders' limits to a direct message
// from a sender the access rules refuse: per sender, then per channel
// account. Over them the message is dropped without an answer.
func (r *Router) allowStranger(cfg *config.Config, m channels.Message, now time.Time) bool {
	ca, _ := access.ChannelAccess(cfg, m.Channel)
	perSender, perChannel := ca.RateLimit.StrangersPerSenderPerMinute, ca.RateLimit.StrangersPerChannelPerMinute
	if perSender <= 0 {
		perSender = defaultStrangersPerSender
	}
	if perChannel <= 0 {
		perChannel = defaultStrangersPerChannel
	}
	acct := key(m.Channel, m.Account)
	r.mu.Lock()
	defer r.mu.Unlock()
	return take(r.strangers.get(acct+"/"+m.SenderID, now), perSender, now) && take(r.refusals.get(acct, now), perChannel, now)
}

// allowRate applies the allowed senders' limits: per sender, then per
// channel account, which the owner's messages spend but are never refused
// by. The first refused message of a streak gets RateNotice in a DM; the
// rest are dropped silently.
func (r *Router) allowRate(ctx context.Context, cfg *config.Config, m channels.Message, now time.Time, owner bool) bool {
	ca, _ := access.ChannelAccess(cfg, m.Channel)
	rl := ca.RateLimit
	acct := key(m.Channel, m.Account)
	r.mu.Lock()
	l := r.senders.get(acct+"/"+m.SenderID, now)
	ok := take(l, rl.PerSenderPerMinute, now)
	if ok {
		ok = take(r.accounts.get(acct, now), rl.PerChannelPerMinute, now) || owner
	}
	notice := false
	if ok {
		l.noticed = false
	} else if !l.noticed {
		l.noticed, notice = true, m.ChatType == channels.ChatDirect
	}
	r.mu.Unlock()
	if ok {
		return true
	}
	r.count(m, func(c *Counters) { c.RateLimited++ })
	if notice {
		_ = r.deliver(ctx, m.Channel, m.Account, channels.TargetOf(m), RateNotice, "rate-notice")
	}
	return false
}

// take spends one token of l (perMin per minute, bursts of perMin); 0 is
// unlimited.
func take(l *limited, perMin int, now time.Time) bool {
	if perMin <= 0 {
		return true
	}
	if l.lim == nil || l.perMin != perMin {
		l.lim, l.perMin = rate.NewLimiter(rate.Limit(float64(perMin)/60), perMin), perMin
	}
	return l.lim.AllowN(now, 1)
}

// mentioned reports whether text matches agents.defaults.mentionPatterns
// (compiled once per distinct list; config validation rejects bad ones).
func (r *Router) mentioned(cfg *config.Config, text string) bool {
	pats := cfg.Agents.Defaults.MentionPatterns
	if len(pats) == 0 {
		return false
	}
	r.mu.Lock()
	if !slices.Equal(pats, r.patterns) {
		r.patterns, r.mention = slices.Clone(pats), nil
		for _, p := range pats {
			if re, err := regexp.Compile(p); err == nil {
				r.mention = append(r.mention, re)
			}
		}
	}
	res := r.mention
	r.mu.Unlock()
	for _, re := range res {
		if re.MatchString(text) {
			return true
		}
	}
	return false
}

// dispatch starts the agent turn for an admitted message and sends what
// it says back to the conversation. id is the message's journal row (0:
// none); resume says the turn may have started before a restart.
func (r *Router) dispatch(m channels.Message, trust string, id int64, resume bool) {
	cfg := r.Config()
	r.mu.Lock()
	ctx := r.ctx
	r.mu.Unlock()
	if ctx == nil {
		ctx = context.Background()
	}
	in := agent.Inbound{Channel: m.Channel, AccountID: m.Account, PeerID: peerID(cfg, m.Channel, m.SenderID), ChatType: m.ChatType}
	switch m.ChatType {
	case channels.ChatGroup, channels.ChatChannel:
		in.GroupID, in.ThreadID, in.TopicID = m.ChatID, m.ThreadID, m.TopicID
	default:
		in.ChatType = "direct"
	}
	if m.Forwarded || (m.ReplyTo != nil && m.ReplyTo.Text != "" && !m.ReplyToBot && m.ReplyTo.SenderID != m.SenderID) {
		// Someone else's words: whatever the sender's standing, the
		// content is untrusted and taints the session.
		trust = policy.TrustUntrusted
	}
	target := channels.TargetOf(m)
	typingCtx, stopTyping := context.WithCancel(ctx)
	req := agent.TurnRequest{Inbound: in, Text: envelope(m), SenderID: m.Channel + ":" + m.SenderID, Trust: trust, Resume: resume,
		OnEvent: func(ev agent.Event) {
			switch ev.Type {
			case "final", "refused", "error", "aborted":
				stopTyping()
			}
			r.onEvent(ctx, m, target, trust, id, ev)
		}}
	if a := r.adapter(m.Channel, m.Account); a != nil {
		req.OnStart = func() { go r.typing(typingCtx, a, target) }
	}
	if id > 0 {
		// A journaled message's run id is derived from its row, so a
		// resumed turn finds its user message in the transcript.
		req.RunID = fmt.Sprintf("run_in%d", id)
		req.Journaled = true
	}
	if _, err := r.Agent.Start(ctx, req); err != nil {
		stopTyping()
		r.count(m, func(c *Counters) { c.TurnErrors++ })
		r.log().Error("channels: starting the turn failed", "channel", m.Channel, "account", m.Account, "err", err)
		r.done(ctx, id, false)
	}
}

// typingEvery is how often "typing" is shown again while a turn runs: the
// platforms clear it after about five seconds. typingDelay is how long a
// turn runs before it is first shown: a reply faster than that needs no
// indicator, and the request it saves counts against the platform's rate
// limits (Telegram's is per bot).
const (
	typingEvery = 4 * time.Second
	typingDelay = 300 * time.Millisecond
)

// typing shows "typing" in t's chat from typingDelay after the turn starts
// until ctx ends (the turn's last event). A request already sent is let
// finish, not cancelled: cancelling it would cost the connection.
func (r *Router) typing(ctx context.Context, a channels.Adapter, t channels.Target) {
	delay := time.NewTimer(typingDelay)
	defer delay.Stop()
	select {
	case <-ctx.Done():
		return
	case <-delay.C:
	}
	tick := time.NewTicker(typingEvery)
	defer tick.Stop()
	for {
		if ctx.Err() != nil {
			return
		}
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		_ = a.Typing(sctx, t)
		cancel()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Replied rows are marked done in batches: at doneBatchMax rows, or
// doneBatchWait after the first.
const (
	doneBatchMax  = 64
	doneBatchWait = 10 * time.Millisecond
)

// queueDone adds replied row id to the next batch of done marks.
func (r *Router) queueDone(id int64) {
	r.doneMu.Lock()
	r.doneIDs = append(r.doneIDs, id)
	full := len(r.doneIDs) >= doneBatchMax
	if !full && r.doneTimer == nil {
		r.doneTimer = time.AfterFunc(doneBatchWait, r.flushDone)
	}
	r.doneMu.Unlock()
	if full {
		r.flushDone()
	}
}

// flushDone marks the queued rows done in one write. A failure leaves them
// pending; their replies are in the sent log, so the next start marks them
// without sending anything again.
func (r *Router) flushDone() {
	r.doneMu.Lock()
	ids := r.doneIDs
	r.doneIDs = nil
	if r.doneTimer != nil {
		r.doneTimer.Stop()
		r.doneTimer = nil
	}
	r.doneMu.Unlock()
	if len(ids) == 0 {
		return
	}
	if err := r.Journal.MarkInboundRepliedDone(context.Background(), ids, r.now()); err != nil {
		r.log().Error("channels: marking replied messages done failed; the next start will", "messages", len(ids), "err", err)
	}
}

// finalSendTimeout bounds sending a finished turn's reply once the gateway
// is stopping.
const finalSendTimeout = 30 * time.Second

// done marks journal row id done (replied: its reply was delivered).
func (r *Router) done(ctx context.Context, id int64, replied bool) {
	if id <= 0 || r.Journal == nil {
		return
	}
	if !replied && ctx.Err() != nil {
		// The gateway is stopping, which is why the turn ended without a
		// reply: the message stays pending and is resumed at the next
		// start.
		return
	}
	if replied {
		// At once: a kill -9 from here on must not send the reply again
		// (store.MarkInboundSent). The journal row is marked done with
		// others a few milliseconds later, in one write.
		if err := r.Journal.MarkInboundSent(id); err == nil {
			r.queueDone(id)
			return
		} else {
			r.log().Warn("channels: recording a sent reply failed; marking it in the journal now", "id", id, "err", err)
		}
	}
	if err := r.Journal.MarkInboundDone(context.WithoutCancel(ctx), id, replied, r.now()); err != nil {
		r.log().Error("channels: marking the message done failed; it will be resumed after a restart", "id", id, "err", err)
	}
}

func (r *Router) onEvent(ctx context.Context, m channels.Message, target channels.Target, trust string, id int64, ev agent.Event) {
	var text string
	end := false
	switch ev.Type {
	case "final", "refused", "error", "aborted":
		end = true
		if ev.Type != "final" && ev.Type != "refused" && ctx.Err() != nil {
			// The gateway is stopping and cut the turn short: no
			// apology, no mark; the message is resumed at the next start.
			return
		}
		r.ending.Add(1)
		defer r.ending.Add(-1)
	}
	switch ev.Type {
	case "alert":
		if r.OnAlert != nil {
			r.OnAlert(ev)
		}
	case "message":
		text = ev.Text
	case "final", "refused":
		if ev.Result != nil {
			text = ev.Result.Reply
		}
	case "error":
		r.count(m, func(c *Counters) { c.TurnErrors++ })
		if trust == policy.TrustOwner {
			text = "Sorry, that failed: " + ev.Text
		}
	}
	if strings.TrimSpace(text) == "" {
		if end {
			r.done(ctx, id, false)
		}
		return
	}
	var sent func()
	dctx := ctx
	if end {
		// A finished turn's reply is sent even while the gateway stops
		// (Stop waits for it): cancelling the send after the platform
		// accepted it would leave it unmarked, and send it again after
		// the restart.
		var cancel context.CancelFunc
		dctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finalSendTimeout)
		defer cancel()
		// The reply's delivery is recorded right after the platform
		// accepted it, before anything else (the audit record): a
		// resumed message with the mark is not answered again. Between
		// the platform's answer and this commit a kill -9 makes the
		// reply go out twice; nothing can close that window, only keep
		// it to one fsync.
		sent = func() { r.done(ctx, id, true) }
	}
	if err := r.deliverThen(dctx, m.Channel, m.Account, target, text, "reply", sent); err != nil {
		r.log().Warn("channels: sending the reply failed", "channel", m.Channel, "account", m.Account, "err", err)
		if end {
			// A reply that could not be sent (after Send's retries) also
			// ends the message: running the turn again would answer
			// twice in the transcript.
			r.done(ctx, id, false)
		}
	}
}

// envelope is the text the agent sees. In groups it names the speaker, so
// the model can tell members apart; quotes and forwards are labelled.
func envelope(m channels.Message) string {
	var b strings.Builder
	if m.ChatType != channels.ChatDirect && m.ChatType != "" {
		name := m.SenderName
		if m.SenderUsername != "" {
			name = strings.TrimSpace(name + " @" + m.SenderUsername)
		}
		fmt.Fprintf(&b, "[%s %s, from %s (id %s)]\n", m.Channel, m.ChatType, oneLine(name), m.SenderID)
	}
	if m.Forwarded {
		b.WriteString("[forwarded message]\n")
	}
	b.WriteString(m.Text)
	for _, at := range m.Attachments {
		fmt.Fprintf(&b, "\n[attachment: %s %s %s, %d bytes]", at.Kind, oneLine(at.Name), at.MIME, at.Size)
	}
	if q := m.ReplyTo; q != nil && q.Text != "" {
		who := "id " + q.SenderID
		if m.ReplyToBot {
			who = "you"
		}
		fmt.Fprintf(&b, "\n\n[in reply to a message from %s]\n%s", who, q.Text)
	}
	return b.String()
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// peerID merges one person's ids across channels (session.identityLinks).
func peerID(cfg *config.Config, channel, sender string) string {
	want := channel + ":" + sender
	for name, ids := range cfg.Session.IdentityLinks {
		for _, id := range ids {
			if strings.EqualFold(id, want) {
				return name
			}
		}
	}
	return sender
}

func (r *Router) adapter(channel, account string) channels.Adapter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.adapters[key(channel, account)]
}

// deliver sends text (scrubbed) and records it: the audit log keeps the
// target, the length and a hash, never the text.
func (r *Router) deliver(ctx context.Context, channel, account string, t channels.Target, text, kind string) error {
	return r.deliverThen(ctx, channel, account, t, text, kind, nil)
}

// deliverThen is deliver that calls sent (when not nil) as soon as the
// platform accepted the text, before the text is counted and audited.
func (r *Router) deliverThen(ctx context.Context, channel, account string, t channels.Target, text, kind string, sent func()) error {
	a := r.adapter(channel, account)
	if a == nil {
		return fmt.Errorf("channels: %s account %q is not connected", channel, account)
	}
	if r.Scrub != nil {
		text = r.Scrub(text)
	}
	text = redact.RedactFormats(text)
	_, err := a.Send(ctx, t, text)
	if err == nil && sent != nil {
		sent()
	}
	m := channels.Message{Channel: channel, Account: account}
	if err != nil {
		r.count(m, func(c *Counters) { c.ReplyErrors++ })
	} else {
		r.count(m, func(c *Counters) { c.Replies++ })
	}
	if r.Audit != nil {
		sum := sha256.Sum256([]byte(text))
		data := map[string]any{"kind": kind, "account": account, "thread": t.ThreadID + t.TopicID, "length": len(text), "sha256": hex.EncodeToString(sum[:])}
		if err != nil {
			data["error"] = err.Error()
		}
		r.Audit(context.WithoutCancel(ctx), core.KindMessageOut, "talon", channel+":"+t.ChatID, data)
	}
	return err
}

// Send is the message tool's way out (agent.Outbound): channel is
// "telegram" or "telegram:<account>", target a chat id ("group:<id>" for
// Signal groups).
func (r *Router) Send(ctx context.Context, channel, target, text string) error {
	ch, account, ok := strings.Cut(channel, ":")
	if !ok {
		account = "default"
	}
	t := channels.Target{ChatID: target, ChatType: channels.ChatDirect}
	if id, ok := strings.CutPrefix(target, "group:"); ok {
		t = channels.Target{ChatID: id, ChatType: channels.ChatGroup}
	}
	if t.ChatID == "" {
		return errors.New("message: target is empty (hint: a chat id of the channel)")
	}
	return r.deliver(ctx, strings.ToLower(ch), account, t, text, "message-tool")
}

// Notify sends text to a direct chat of a channel account (the pairing
// approval notice).
func (r *Router) Notify(ctx context.Context, channel, account, chatID, text string) error {
	return r.deliver(ctx, channel, account, channels.Target{ChatID: chatID, ChatType: channels.ChatDirect}, text, "notify")
}
