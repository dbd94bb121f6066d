//go:build whatsapp

package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/store/sqlstore"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/netguard"
)

// MaxLen is the longest text the adapter sends as one message, in runes.
// WhatsApp accepts far longer messages, but clients fold long ones behind
// "Read more"; 4000 keeps each chunk readable.
const MaxLen = 4000

// rateLimitWait is how long Send waits after WhatsApp answers 429
// (rate-overlimit): whatsmeow does not pass on a retry delay.
const rateLimitWait = 5 * time.Second

// Options configure an Adapter.
type Options struct {
	Account  string           // config account id; names the device store file ("default" when empty)
	StateDir string           // Talon's state directory; the store is <StateDir>/whatsapp/<Account>.db
	Handler  channels.Handler // receives every inbound Message
	Logger   *slog.Logger     // nil: discard
	// NetHooks put a pretend network under netguard for every connection
	// whatsmeow makes (tests only); netguard's checks (public addresses,
	// port 443) still apply.
	NetHooks *netguard.Hooks
	// Scrub removes secrets from error texts and the status (the
	// process's one scrubber, security.LiveScrubber.Scrub); nil: none (the
	// device keys never appear in text).
	Scrub func(string) string
}

func (o *Options) check() error {
	if o.Account == "" {
		o.Account = "default"
	}
	if err := validAccount(o.Account); err != nil {
		return err
	}
	if o.StateDir == "" {
		return errors.New("whatsapp: no state directory (hint: set Options.StateDir to Talon's state directory)")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Adapter is one linked WhatsApp account.
type Adapter struct {
	o     Options
	path  string
	log   *slog.Logger
	tr    *channels.Tracker
	dedup channels.Dedupe
	quote quotes
	// rateWait is the pause after WhatsApp's 429 (rateLimitWait; tests
	// shorten it).
	rateWait time.Duration

	// newClient makes the client for a stored device; tests replace it.
	newClient func(dev *store.Device) waClient

	mu        sync.Mutex
	running   bool
	cli       waClient
	container *sqlstore.Container
	handlerID uint32
	cancel    context.CancelFunc
	ctx       context.Context // lives from Start to Stop; the Handler's context
	wg        sync.WaitGroup
}

var _ channels.Adapter = (*Adapter)(nil)

// New validates o and makes an adapter; it does not touch the network or
// the device store.
func New(o Options) (*Adapter, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Handler == nil {
		return nil, errors.New("whatsapp: no message handler")
	}
	a := &Adapter{
		o:    o,
		path: storePath(o.StateDir, o.Account),
		log:  o.Logger.With("channel", "whatsapp", "account", o.Account),
		tr:   channels.NewTracker("whatsapp", o.Account, "socket", channels.Scrubber(o.Scrub)),

		rateWait: rateLimitWait,
	}
	a.newClient = func(dev *store.Device) waClient {
		cli := newWhatsmeow(dev, newLogger(a.log), o.NetHooks)
		cli.AutoReconnectHook = func(err error) bool {
			a.tr.Error(fmt.Errorf("whatsapp: reconnecting: %w", err))
			return true // whatsmeow waits 2 s longer after each failure
		}
		return realClient{cli}
	}
	return a, nil
}

func (a *Adapter) Channel() string         { return "whatsapp" }
func (a *Adapter) Account() string         { return a.o.Account }
func (a *Adapter) Status() channels.Status { return a.tr.Status() }

// Start opens the device store and connects in the background. It fails
// at once when the account was never linked.
func (a *Adapter) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.running {
		return errors.New("whatsapp: already started")
	}
	if _, err := os.Stat(a.path); errors.Is(err, fs.ErrNotExist) {
		a.tr.SetState(channels.StateError)
		a.tr.Error(errNotLinked)
		return errNotLinked
	}
	c, err := openStore(ctx, a.path, newLogger(a.log).Sub("Store"))
	if err != nil {
		return err
	}
	dev, err := linkedDevice(ctx, c)
	if err != nil {
		c.Close()
		a.tr.SetState(channels.StateError)
		a.tr.Error(err)
		return err
	}
	cli := a.newClient(dev)
	own, _ := cli.ownIDs()
	a.tr.SetBot(own.String(), cli.pushName())

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.container, a.cli, a.ctx, a.cancel, a.running = c, cli, runCtx, cancel, true
	a.handlerID = cli.AddEventHandler(a.onEvent)
	a.tr.SetState(channels.StateConnecting)
	a.wg.Add(1)
	go a.connect(runCtx, cli)
	return nil
}

// connect makes the first connection. whatsmeow retries network failures
// itself (InitialAutoReconnect) and reconnects after every later drop;
// what it gives up on (a failed handshake) is retried here with backoff.
func (a *Adapter) connect(ctx context.Context, cli waClient) {
	defer a.wg.Done()
	b := channels.Backoff{Base: 2 * time.Second, Max: 5 * time.Minute}
	for {
		err := cli.ConnectContext(ctx)
		if err == nil || errors.Is(err, whatsmeow.ErrAlreadyConnected) || ctx.Err() != nil {
			return
		}
		a.tr.Error(fmt.Errorf("whatsapp: connecting: %w", err))
		if a.tr.Status().State != channels.StateError {
			a.tr.SetState(channels.StateReconnecting)
		}
		a.log.Warn("whatsapp: connect failed", "err", err)
		if !channels.Sleep(ctx, b.Next()) {
			return
		}
	}
}

// onEvent receives whatsmeow's events. whatsmeow calls handlers one event
// at a time, in order, from its receive loop; the Handler is called right
// here, so messages reach it in order.
func (a *Adapter) onEvent(evt any) {
	a.mu.Lock()
	ctx, cli := a.ctx, a.cli
	a.mu.Unlock()
	if ctx == nil || ctx.Err() != nil {
		return
	}
	switch e := evt.(type) {
	case *events.Message:
		a.onMessage(ctx, cli, e)
	case *events.Connected:
		own, _ := cli.ownIDs()
		a.tr.SetBot(own.String(), cli.pushName())
		a.tr.SetState(channels.StateConnected)
		a.log.Info("whatsapp: connected", "jid", own.String())
	case *events.Disconnected:
		// whatsmeow reconnects by itself (EnableAutoReconnect).
		if a.tr.Status().State != channels.StateError {
			a.tr.SetState(channels.StateReconnecting)
		}
	case *events.KeepAliveTimeout:
		a.tr.Error(fmt.Errorf("whatsapp: keepalive timed out %d times since %s", e.ErrorCount, e.LastSuccess.Format(time.RFC3339)))
	case *events.LoggedOut:
		// whatsmeow has deleted the device from the store already.
		a.fail(fmt.Errorf("whatsapp: logged out by the phone or by WhatsApp (%s) (hint: talon channels login whatsapp)", e.Reason))
	case *events.StreamReplaced:
		a.fail(errors.New("whatsapp: another client connected with this device's keys (hint: run only one Talon per state directory)"))
	case *events.TemporaryBan:
		a.fail(fmt.Errorf("whatsapp: %s", e))
	case *events.ClientOutdated:
		a.fail(errors.New("whatsapp: WhatsApp says this client is outdated (hint: update Talon)"))
	case *events.ConnectFailure:
		a.tr.Error(fmt.Errorf("whatsapp: connect failure: %s %s", e.Reason, e.Message))
	case *events.CATRefreshError:
		a.fail(fmt.Errorf("whatsapp: %w", e.Error))
	}
}

// fail marks the adapter as unable to run; whatsmeow does not reconnect
// after these events.
func (a *Adapter) fail(err error) {
	a.tr.SetState(channels.StateError)
	a.tr.Error(err)
	a.log.Error(err.Error())
}

func (a *Adapter) onMessage(ctx context.Context, cli waClient, e *events.Message) {
	own, ownLID := cli.ownIDs()
	if e.Info.Sender.Server == types.HiddenUserServer && e.Info.SenderAlt.IsEmpty() {
		// Under LID addressing the server usually names the phone number
		// too; when it does not, whatsmeow may have learned it earlier.
		if pn := cli.pnForLID(ctx, e.Info.Sender.ToNonAD()); !pn.IsEmpty() {
			c := *e
			c.Info.SenderAlt = pn
			e = &c
		}
	}
	m, ok := convert(own, ownLID, e)
	if !ok {
		return
	}
	// whatsmeow can hand over a message twice (a retry receipt answered
	// after a reconnect); the key includes chat and sender because message
	// ids are chosen by the sending client.
	dk := e.Info.Chat.String() + "\x00" + e.Info.Sender.ToNonAD().String() + "\x00" + e.Info.ID
	if a.dedup.Seen(dk, time.Now()) {
		return
	}
	m.Account = a.o.Account
	a.quote.remember(m.ID, e.Info.Sender.ToNonAD(), e.Message)
	a.tr.Received()
	// The handler runs here, synchronously and in event order; a message
	// it could not store is only logged (whatsmeow's receipt is not held
	// back).
	if err := a.o.Handler(ctx, m); err != nil {
		a.dedup.Forget(dk)
		a.log.Error("whatsapp: message not stored; it is lost unless sent again", "id", m.ID, "err", err)
	}
}

// Stop disconnects and waits for the adapter's goroutines. whatsmeow's own
// goroutines end with the websocket.
func (a *Adapter) Stop(ctx context.Context) error {
	a.mu.Lock()
	if !a.running {
		a.mu.Unlock()
		return nil
	}
	cli, c, cancel, id := a.cli, a.container, a.cancel, a.handlerID
	a.running = false
	a.mu.Unlock()

	cancel()
	cli.RemoveEventHandler(id)
	cli.Disconnect()
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = fmt.Errorf("whatsapp: stop: %w", context.Cause(ctx))
	}
	if cerr := c.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("whatsapp: closing the device store: %w", cerr)
	}
	a.tr.SetState(channels.StateStopped)
	return err
}

func (a *Adapter) client() (waClient, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if !a.running {
		return nil, channels.Permanent(errors.New("whatsapp: not started"))
	}
	return a.cli, nil
}

// target parses a reply target's chat id.
func target(chatID string) (types.JID, error) {
	jid, err := types.ParseJID(chatID)
	if err != nil || jid.IsEmpty() || jid.User == "" {
		return types.EmptyJID, channels.Permanent(fmt.Errorf("whatsapp: %q is not a chat id (hint: a JID like 491701234567@s.whatsapp.net or …@g.us)", chatID))
	}
	if jid.Server != types.GroupServer && !isUserServer(jid.Server) {
		return types.EmptyJID, channels.Permanent(fmt.Errorf("whatsapp: cannot send to %s (only people and groups)", jid.Server))
	}
	return jid.ToNonAD(), nil
}

// Send delivers text to t.ChatID in chunks of at most MaxLen runes; the
// first chunk quotes t.ReplyTo when set. Each chunk keeps its message id
// across retries, so a retry after a lost acknowledgement cannot show up
// twice.
func (a *Adapter) Send(ctx context.Context, t channels.Target, text string) (channels.Delivery, error) {
	var d channels.Delivery
	cli, err := a.client()
	if err != nil {
		return d, err
	}
	to, err := target(t.ChatID)
	if err != nil {
		a.tr.SendFailed(err)
		return d, err
	}
	for i, chunk := range channels.Chunk(text, MaxLen, nil) {
		msg := &waE2E.Message{Conversation: proto.String(chunk)}
		if i == 0 && t.ReplyTo != "" {
			msg = &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{
				Text:        proto.String(chunk),
				ContextInfo: a.quote.context(t.ReplyTo, to),
			}}
		}
		id := cli.GenerateMessageID()
		err := channels.Retry(ctx, channels.RetryPolicy{}, func(ctx context.Context) error {
			resp, err := cli.SendMessage(ctx, to, msg, whatsmeow.SendRequestExtra{ID: id})
			if err != nil {
				return sendError(err, a.rateWait)
			}
			if resp.ID != "" {
				id = resp.ID
			}
			return nil
		})
		if err != nil {
			err = fmt.Errorf("whatsapp: sending to %s: %w", to, err)
			a.tr.SendFailed(err)
			return d, err
		}
		d.MessageIDs = append(d.MessageIDs, id)
		a.tr.Sent()
	}
	return d, nil
}

// sendError sorts whatsmeow's send errors for channels.Retry: WhatsApp's
// 429 (rate-overlimit) waits wait; errors retrying cannot fix are
// permanent; the rest (not connected, timeouts, 5xx) are retried with
// backoff.
func sendError(err error, wait time.Duration) error {
	switch {
	case errors.Is(err, whatsmeow.ErrIQRateOverLimit):
		return &channels.RateLimitError{RetryAfter: wait, Err: err}
	case errors.Is(err, whatsmeow.ErrRecipientADJID), errors.Is(err, whatsmeow.ErrUnknownServer),
		errors.Is(err, whatsmeow.ErrBroadcastListUnsupported), errors.Is(err, whatsmeow.ErrNotLoggedIn),
		errors.Is(err, whatsmeow.ErrNotInGroup), errors.Is(err, whatsmeow.ErrGroupNotFound),
		errors.Is(err, whatsmeow.ErrIQBadRequest), errors.Is(err, whatsmeow.ErrIQNotAuthorized),
		errors.Is(err, whatsmeow.ErrIQForbidden), errors.Is(err, whatsmeow.ErrIQNotFound),
		errors.Is(err, whatsmeow.ErrIQNotAcceptable), errors.Is(err, whatsmeow.ErrIQGone):
		return channels.Permanent(err)
	case errors.Is(err, whatsmeow.ErrServerReturnedError):
		// SendMessage reports the acknowledgement's error code as
		// "server returned error <code>".
		code, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(err.Error(), whatsmeow.ErrServerReturnedError.Error())))
		switch {
		case code == 429:
			return &channels.RateLimitError{RetryAfter: wait, Err: err}
		case code >= 400 && code < 500 && code != 408:
			return channels.Permanent(err)
		}
	}
	return err
}

// Typing shows "typing…" in the chat. WhatsApp shows it only while the
// account is online; the adapter does not mark itself online, which would
// silence the owner's phone notifications.
func (a *Adapter) Typing(ctx context.Context, t channels.Target) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	to, err := target(t.ChatID)
	if err != nil {
		return err
	}
	if err := cli.SendChatPresence(ctx, to, types.ChatPresenceComposing, types.ChatPresenceMediaText); err != nil {
		return fmt.Errorf("whatsapp: typing in %s: %w", to, err)
	}
	return nil
}

// quotes remembers who wrote recent inbound messages and what they said,
// so that a reply can quote them the way WhatsApp clients expect (the
// quoted author and message travel with the reply).
type quotes struct {
	mu    sync.Mutex
	byID  map[string]quoted
	order []string
}

type quoted struct {
	author types.JID
	msg    *waE2E.Message
}

const maxQuotes = 512

func (q *quotes) remember(id string, author types.JID, msg *waE2E.Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.byID == nil {
		q.byID = map[string]quoted{}
	}
	if _, ok := q.byID[id]; !ok {
		q.order = append(q.order, id)
	}
	q.byID[id] = quoted{author: author, msg: quotable(msg)}
	for len(q.order) > maxQuotes {
		delete(q.byID, q.order[0])
		q.order = q.order[1:]
	}
	if cap(q.order) > 4*maxQuotes {
		q.order = append([]string(nil), q.order...)
	}
}

// quotable is the part of msg a quote shows: its text (media are not
// re-sent).
func quotable(msg *waE2E.Message) *waE2E.Message {
	text, _, _ := content(msg)
	return &waE2E.Message{Conversation: proto.String(text)}
}

// context is the ContextInfo of a reply to message id in chat to.
func (q *quotes) context(id string, to types.JID) *waE2E.ContextInfo {
	ci := &waE2E.ContextInfo{StanzaID: proto.String(id)}
	q.mu.Lock()
	r, ok := q.byID[id]
	q.mu.Unlock()
	switch {
	case ok:
		ci.Participant = proto.String(r.author.String())
		ci.QuotedMessage = r.msg
	case to.Server != types.GroupServer:
		// In a direct chat the quoted message can only be the other
		// person's (or ours, which we do not quote).
		ci.Participant = proto.String(to.String())
		ci.QuotedMessage = &waE2E.Message{Conversation: proto.String("")}
	}
	return ci
}
