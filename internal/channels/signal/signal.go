// Package signal is the Signal channel adapter. It talks to a signal-cli
// daemon started with `signal-cli -a +1555… daemon --http 127.0.0.1:8080`
// (man page signal-cli-jsonrpc(5)): replies and typing indicators go out as
// JSON-RPC 2.0 requests (send, sendTyping) to POST <httpUrl>/api/v1/rpc, and
// incoming messages arrive as server-sent events ("event:receive", the data
// being {"account", "envelope"}) from GET <httpUrl>/api/v1/events, with
// ?account=<number> so a multi-account daemon sends only this number's
// messages.
//
// Guarantees: every request goes through netguard, allowed to reach only the
// configured daemon's origin (invariant 7); the adapter reports every
// message with the sender's stable id (the ACI uuid when signal-cli knows
// it, else the number) and never decides access itself (invariant 3);
// malformed events are logged and skipped without stopping the stream
// (invariant 14). signal-cli has no credentials of its own; an httpUrl
// carrying userinfo is refused without echoing it (invariant 10).
//
// Reconnects: the stream is reopened with jittered backoff when it ends or
// stays silent past the idle timeout (signal-cli writes a ":" keep-alive
// every 15 s). signal-cli releases up to 0.14.6 send events without ids and
// drop whatever arrives while no client is connected; newer ones give each
// event an id ("<daemon start ms>-<sequence>"), keep the last 1000, and
// replay those after the Last-Event-ID a reconnecting client sends, or all
// of them when the id is unknown (e.g. after a daemon restart). The
// adapter sends Last-Event-ID whenever it has seen one and drops replays
// it already handled by (sender, timestamp), which is what a Signal
// message's identity is.
package signal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
)

// DefaultHTTPURL is where signal-cli's HTTP daemon listens unless told
// otherwise.
const DefaultHTTPURL = "http://127.0.0.1:8080"

// Options configure an Adapter.
type Options struct {
	Account    string               // config account id ("default" for the top-level settings)
	Config     config.SignalAccount // daemon URL and the Signal number
	Handler    channels.Handler     // receives every inbound Message (the Router decides access)
	Logger     *slog.Logger         // nil: discard
	HTTPClient *http.Client         // nil: netguard clients limited to the daemon's origin; else it must send through netguard
	// Scrub removes secrets from error texts and the status (the
	// process's one scrubber, security.LiveScrubber.Scrub); nil: none
	// (signal-cli has no credential of Talon's to leak).
	Scrub func(string) string
}

// Adapter is one Signal number served by a signal-cli HTTP daemon.
type Adapter struct {
	o        Options
	base     string // httpUrl without a trailing slash
	baseText string // for messages
	number   string // the configured E.164 number, "" when the daemon has one account
	rpc      *http.Client
	events   *http.Client
	log      *slog.Logger
	tr       *channels.Tracker
	dedupe   channels.Dedupe
	rpcID    atomic.Int64

	// Tunables; tests shorten them.
	retry     channels.RetryPolicy
	backoff   channels.Backoff // between reconnects
	slowRetry time.Duration    // between attempts after a configuration error
	idle      time.Duration    // a stream silent this long is reopened

	mu          sync.Mutex
	me          self
	cancel      context.CancelFunc
	done        chan struct{}
	lastEventID string // touched only by the run goroutine
}

var _ channels.Adapter = (*Adapter)(nil)

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{1,14}$`)

// New validates o and makes an adapter; it connects nothing until Start.
func New(o Options) (*Adapter, error) {
	if o.Handler == nil {
		return nil, errors.New("signal: no message handler (a bug: the channel router must pass one)")
	}
	if o.Account == "" {
		o.Account = "default"
	}
	if o.HTTPClient != nil {
		if err := netguard.CheckClient(o.HTTPClient); err != nil {
			return nil, fmt.Errorf("signal.New: %w", err)
		}
	}
	raw := strings.TrimSpace(o.Config.HTTPURL)
	if raw == "" {
		raw = DefaultHTTPURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, fmt.Errorf("signal: httpUrl %q is not an http(s) URL (hint: the address of `signal-cli daemon --http`, e.g. %s)", oneLine(raw, 100), DefaultHTTPURL)
	}
	if u.User != nil {
		// Do not echo it: the userinfo may be a password.
		return nil, errors.New("signal: httpUrl must not carry a user name or password (hint: signal-cli has no authentication; put it on loopback)")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("signal: httpUrl %s must not have a query or fragment (hint: e.g. %s)", u.Redacted(), DefaultHTTPURL)
	}
	if n := o.Config.Account; n != "" && !e164.MatchString(n) {
		return nil, fmt.Errorf("signal: account %q is not a phone number in E.164 form (hint: e.g. \"+15550000000\")", oneLine(n, 40))
	}
	a := &Adapter{
		o:         o,
		base:      strings.TrimRight(u.String(), "/"),
		number:    o.Config.Account,
		log:       o.Logger,
		tr:        channels.NewTracker("signal", o.Account, "http", channels.Scrubber(o.Scrub)),
		retry:     channels.RetryPolicy{},
		backoff:   channels.Backoff{Base: time.Second, Max: time.Minute},
		slowRetry: time.Minute,
		idle:      60 * time.Second,
		me:        self{Number: o.Config.Account},
	}
	a.baseText = a.base
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("channel", "signal", "account", o.Account)
	if o.HTTPClient != nil {
		a.rpc, a.events = o.HTTPClient, o.HTTPClient
	} else {
		origin := []string{u.Scheme + "://" + u.Host}
		a.rpc = netguard.Policy{AllowedOrigins: origin, Timeout: 60 * time.Second, MaxBodyBytes: maxRPCBody, SameOriginRedirects: true}.Client()
		ev := netguard.Policy{AllowedOrigins: origin, Timeout: 30 * time.Second, MaxBodyBytes: 1 << 62}.Client()
		// The event stream lasts until Stop: no deadline for the whole
		// request (the header wait stays bounded by the policy's Timeout),
		// and the idle watchdog ends a stream that went silent.
		ev.Timeout = 0
		a.events = ev
	}
	if a.number != "" {
		a.tr.SetBot(a.number, a.number)
	}
	return a, nil
}

// Channel is "signal".
func (a *Adapter) Channel() string { return "signal" }

// Account is the config account id.
func (a *Adapter) Account() string { return a.o.Account }

// Status reports the connection state and counters.
func (a *Adapter) Status() channels.Status { return a.tr.Status() }

func (a *Adapter) endpoint(path string) string { return a.base + path }

func (a *Adapter) self() self {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.me
}

// learn records what the daemon told about the bot's own identity.
func (a *Adapter) learn(number, uuid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.me.Number == "" && number != "" {
		a.me.Number = number
	}
	if a.me.UUID == "" && uuid != "" && (number == "" || number == a.me.Number) {
		a.me.UUID = uuid
		a.log.Debug("signal: learnt the account's uuid", "uuid", uuid)
	}
	id := a.me.UUID
	if id == "" {
		id = a.me.Number
	}
	a.tr.SetBot(id, a.me.Number)
}

// Start begins connecting in the background and returns at once; the
// daemon check, the event stream and the reconnects run until ctx ends or
// Stop is called. Progress and failures are in Status.
func (a *Adapter) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cancel != nil {
		return errors.New("signal: already started")
	}
	ctx, cancel := context.WithCancel(ctx)
	a.cancel, a.done = cancel, make(chan struct{})
	a.tr.SetState(channels.StateConnecting)
	go a.run(ctx, a.done)
	return nil
}

// Stop cancels the background work and waits for it to end (or for ctx).
func (a *Adapter) Stop(ctx context.Context) error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.cancel, a.done = nil, nil
	a.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("signal: stop: %w", context.Cause(ctx))
	}
	a.tr.SetState(channels.StateStopped)
	if a.o.HTTPClient == nil {
		// Our own clients: leave no idle connections (and their
		// goroutines) behind.
		a.rpc.CloseIdleConnections()
		a.events.CloseIdleConnections()
	}
	return nil
}

// errConfig marks failures that need the owner to fix something (wrong
// account, a proxy refusing, the wrong host): the adapter reports
// StateError and retries only slowly.
type errConfig struct{ err error }

func (e errConfig) Error() string { return e.err.Error() }
func (e errConfig) Unwrap() error { return e.err }

func (a *Adapter) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	bo := a.backoff
	everConnected := false
	for {
		opened, err := a.session(ctx, &everConnected)
		if ctx.Err() != nil {
			return
		}
		wait := bo.Next()
		var ce errConfig
		switch {
		case errors.As(err, &ce):
			a.tr.Error(err)
			a.tr.SetState(channels.StateError)
			a.log.Error("signal: cannot run", "err", err)
			wait = a.slowRetry
		case opened:
			// The stream worked and then ended: come back quickly.
			bo.Reset()
			wait = bo.Next()
			if err != nil {
				a.tr.Error(err)
			}
			a.log.Info("signal: event stream ended; reconnecting", "err", err, "in", wait)
			a.tr.SetState(channels.StateReconnecting)
		default:
			a.tr.Error(err)
			a.log.Warn("signal: connecting failed", "err", err, "retry_in", wait)
			if everConnected {
				a.tr.SetState(channels.StateReconnecting)
			} else {
				a.tr.SetState(channels.StateConnecting)
			}
		}
		if !channels.Sleep(ctx, wait) {
			return
		}
	}
}

// hint is how to start the daemon this adapter expects.
func (a *Adapter) hint() string {
	n := a.number
	if n == "" {
		n = "+1555…"
	}
	host := "127.0.0.1:8080"
	if u, err := url.Parse(a.base); err == nil {
		host = u.Host
	}
	return fmt.Sprintf("hint: start `signal-cli -a %s daemon --http %s`", n, host)
}

// session checks the daemon, learns who the bot is, then reads the event
// stream until it fails. opened reports whether the stream was opened.
func (a *Adapter) session(ctx context.Context, everConnected *bool) (opened bool, err error) {
	if err := a.probe(ctx); err != nil {
		return false, err
	}
	return a.stream(ctx, everConnected)
}

type versionResult struct {
	Version string `json:"version"`
}

type accountEntry struct {
	Number string `json:"number"`
	UUID   string `json:"uuid"`
	ACI    string `json:"aci"`
}

type userStatus struct {
	Recipient    string `json:"recipient"`
	Number       string `json:"number"`
	UUID         string `json:"uuid"`
	IsRegistered bool   `json:"isRegistered"`
}

// probe asks the daemon its version (every mode has it), then which
// accounts it serves (multi-account mode only), then, while the bot's uuid
// is unknown, the account's own user status.
func (a *Adapter) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var v versionResult
	if err := a.call(pctx, "version", nil, &v); err != nil {
		var he *httpError
		var re *rpcError
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &he) && (he.Status == http.StatusUnauthorized || he.Status == http.StatusForbidden || he.Status == http.StatusMisdirectedRequest):
			return errConfig{err}
		case errors.As(err, &he) || errors.As(err, &re) || channels.IsPermanent(err):
			return fmt.Errorf("signal: %s does not answer like signal-cli's HTTP daemon: %w (%s)", a.baseText, err, a.hint())
		}
		return fmt.Errorf("signal: cannot reach signal-cli at %s: %w (%s)", a.baseText, err, a.hint())
	}
	a.log.Debug("signal: daemon answers", "version", v.Version)

	var accts []accountEntry
	switch err := a.call(pctx, "listAccounts", nil, &accts); {
	case err == nil:
		var mine *accountEntry
		for i, e := range accts {
			if e.Number == a.number || (a.number == "" && len(accts) == 1) {
				mine = &accts[i]
			}
		}
		switch {
		case mine != nil:
			a.learn(mine.Number, cmpOr(mine.ACI, mine.UUID))
		case a.number != "":
			return errConfig{fmt.Errorf("signal: signal-cli at %s has no account %s (hint: register or link it: `signal-cli -a %s register` or `signal-cli link`)", a.baseText, a.number, a.number)}
		case len(accts) == 0:
			return errConfig{fmt.Errorf("signal: signal-cli at %s has no accounts (hint: register or link one: `signal-cli link`)", a.baseText)}
		default:
			return errConfig{fmt.Errorf("signal: signal-cli at %s serves %d accounts (hint: set channels.signal.account to the number to use)", a.baseText, len(accts))}
		}
	case isRPCCode(err, codeMethodNotFound):
		// A single-account daemon (-a NUMBER daemon) has no listAccounts.
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		return fmt.Errorf("signal: listAccounts: %w", err)
	}

	if me := a.self(); me.UUID == "" && me.Number != "" {
		// Best effort: the uuid makes mentions and replies by uuid match.
		// It is also learnt from the account's own envelopes later.
		var st []userStatus
		if err := a.call(pctx, "getUserStatus", a.withAccount(map[string]any{"recipient": []string{me.Number}}), &st); err == nil {
			for _, s := range st {
				if s.Number == me.Number || s.Recipient == me.Number {
					a.learn(me.Number, s.UUID)
				}
			}
		} else {
			a.log.Debug("signal: getUserStatus failed; the uuid will be learnt from messages", "err", err)
		}
	}
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// withAccount adds the account param, which a multi-account daemon needs
// and a single-account daemon ignores.
func (a *Adapter) withAccount(p map[string]any) map[string]any {
	if a.number != "" {
		p["account"] = a.number
	}
	return p
}

func (a *Adapter) eventsURL() string {
	u := a.endpoint("/api/v1/events")
	if a.number != "" {
		// signal-cli URL-decodes the query: "+" must travel as %2B.
		u += "?account=" + url.QueryEscape(a.number)
	}
	return u
}

// errIdle ends a stream that stayed silent past the idle timeout.
var errIdle = errors.New("no data or keep-alive from signal-cli within the idle timeout")

const maxEvent = 8 << 20 // one event's data; a receive envelope is a few KB

func (a *Adapter) stream(ctx context.Context, everConnected *bool) (opened bool, err error) {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := http.NewRequestWithContext(sctx, http.MethodGet, a.eventsURL(), nil)
	if err != nil {
		return false, errConfig{fmt.Errorf("signal: events: %w", err)}
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if a.lastEventID != "" {
		req.Header.Set("Last-Event-ID", a.lastEventID)
	}
	resp, err := a.events.Do(req)
	if err != nil {
		return false, fmt.Errorf("signal: cannot reach signal-cli at %s: events: %w (%s)", a.baseText, err, a.hint())
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		herr := classifyHTTP("events", resp, nil)
		switch resp.StatusCode {
		case http.StatusBadRequest:
			// signal-cli answers 400 when ?account= names no account it has.
			return false, errConfig{fmt.Errorf("signal: signal-cli at %s has no account %s (HTTP 400 from /api/v1/events) (hint: register or link it, or fix channels.signal.account)", a.baseText, a.number)}
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusMisdirectedRequest, http.StatusNotFound:
			return false, errConfig{herr}
		}
		return false, herr
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "text/event-stream") {
		return false, errConfig{fmt.Errorf("signal: events: %s answers with %q, not an event stream (hint: is httpUrl signal-cli's --http address?)", a.baseText, ct)}
	}
	*everConnected = true
	a.tr.SetState(channels.StateConnected)
	a.log.Info("signal: connected", "url", a.baseText, "resume", a.lastEventID != "")

	idle := time.AfterFunc(a.idle, func() { cancel(errIdle) })
	defer idle.Stop()
	r := newSSEReader(resp.Body, maxEvent)
	for {
		ev, err := r.Next(func() { idle.Reset(a.idle) })
		if err != nil {
			if c := context.Cause(sctx); errors.Is(c, errIdle) {
				err = errIdle
			}
			if ctx.Err() != nil {
				return true, ctx.Err()
			}
			if r.retry > 0 {
				a.log.Debug("signal: server asked for a reconnection delay", "retry", r.retry)
			}
			return true, fmt.Errorf("signal: event stream: %w", err)
		}
		if ev.Type == "" || ev.Type == "receive" {
			a.handle(ctx, []byte(ev.Data))
		}
		if ev.ID != "" {
			a.lastEventID = ev.ID
		}
	}
}

// handle converts one receive event and passes it to the handler.
func (a *Adapter) handle(ctx context.Context, data []byte) {
	n, err := parseNotification(data)
	if err != nil {
		a.log.Warn("signal: skipping a malformed event", "err", err)
		return
	}
	if a.number != "" && n.Account != "" && n.Account != a.number {
		return // another account of a multi-account daemon
	}
	if n.Exception != nil {
		a.log.Warn("signal: signal-cli could not read a message", "type", n.Exception.Type, "err", n.Exception.Message)
		return
	}
	if e := n.Envelope; e != nil && e.SourceNumber != "" && e.SourceUUID != "" && e.SourceNumber == a.self().Number {
		a.learn(e.SourceNumber, e.SourceUUID)
	}
	m, ok := convert(n, a.self(), a.o.Account)
	if !ok || m.SenderIsBot {
		return
	}
	if a.dedupe.Seen(m.ID, time.Now()) {
		a.log.Debug("signal: dropping a redelivered message", "id", m.ID)
		return
	}
	a.tr.Received()
	// signal-cli has no per-message acknowledgement to hold back: the
	// handler runs here, synchronously and in event order, and a message
	// it could not store is only logged. What the daemon emitted while the
	// gateway was not listening is not delivered again.
	if err := a.o.Handler(ctx, m); err != nil {
		a.dedupe.Forget(m.ID)
		a.log.Error("signal: message not stored; it is lost unless sent again", "id", m.ID, "err", err)
	}
}

// sendParams are the params of signal-cli's send and sendTyping methods
// (the CLI options in camelCase).
type sendParams struct {
	Account        string   `json:"account,omitempty"`
	Recipient      []string `json:"recipient,omitempty"`
	GroupID        string   `json:"groupId,omitempty"`
	Message        string   `json:"message,omitempty"`
	QuoteTimestamp int64    `json:"quoteTimestamp,omitempty"`
	QuoteAuthor    string   `json:"quoteAuthor,omitempty"`
}

type sendResult struct {
	Timestamp int64 `json:"timestamp"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// address fills the recipient or group of p from t.
func (a *Adapter) address(t channels.Target) (sendParams, error) {
	p := sendParams{Account: a.number}
	if t.ChatID == "" {
		return p, channels.Permanent(errors.New("signal: no chat id to send to"))
	}
	group := t.ChatType == channels.ChatGroup || t.ChatType == channels.ChatChannel
	if t.ChatType == "" {
		// A direct chat id is a number or a uuid; a group id is base64.
		group = !e164.MatchString(t.ChatID) && !uuidRE.MatchString(t.ChatID)
	}
	if group {
		p.GroupID = t.ChatID
	} else {
		p.Recipient = []string{t.ChatID}
	}
	return p, nil
}

// splitID splits a message id "<author>:<timestamp>".
func splitID(id string) (author string, ts int64, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i <= 0 {
		return "", 0, false
	}
	ts, err := strconv.ParseInt(id[i+1:], 10, 64)
	if err != nil || ts <= 0 {
		return "", 0, false
	}
	return id[:i], ts, true
}

// Send delivers text in chunks of at most channels.SignalMaxLen characters;
// the first chunk quotes t.ReplyTo when set. Each chunk is retried on rate
// limits and transient errors.
func (a *Adapter) Send(ctx context.Context, t channels.Target, text string) (channels.Delivery, error) {
	var d channels.Delivery
	base, err := a.address(t)
	if err != nil {
		a.tr.SendFailed(err)
		return d, err
	}
	chunks := channels.Chunk(text, channels.SignalMaxLen, nil)
	if len(chunks) == 0 {
		return d, channels.Permanent(errors.New("signal: nothing to send (the text is empty)"))
	}
	for i, c := range chunks {
		p := base
		p.Message = c
		if i == 0 && t.ReplyTo != "" {
			if author, ts, ok := splitID(t.ReplyTo); ok {
				p.QuoteTimestamp, p.QuoteAuthor = ts, author
			}
		}
		var res sendResult
		err := channels.Retry(ctx, a.retry, func(ctx context.Context) error {
			return a.call(ctx, "send", p, &res)
		})
		if err != nil {
			a.tr.SendFailed(err)
			return d, err
		}
		a.tr.Sent()
		me := a.self()
		d.MessageIDs = append(d.MessageIDs, cmpOr(me.UUID, me.Number)+":"+strconv.FormatInt(res.Timestamp, 10))
	}
	return d, nil
}

// Typing sends a typing-started indicator (Signal clients show it for about
// 15 seconds).
func (a *Adapter) Typing(ctx context.Context, t channels.Target) error {
	p, err := a.address(t)
	if err != nil {
		return err
	}
	return a.call(ctx, "sendTyping", p, nil)
}
