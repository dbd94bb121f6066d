// Package slack connects a Slack app to Talon, in Socket Mode (a WebSocket
// the adapter opens, mode "socket") or through the HTTP Events API (Slack
// posts to a receiver the adapter serves, mode "http").
//
// Invariant (DESIGN.md §3, 3 and 7): in http mode no request body is looked
// at before its X-Slack-Signature has been verified against the signing
// secret (HMAC-SHA256, constant-time compare) and its
// X-Slack-Request-Timestamp found within five minutes of now; anything
// else gets 401 and changes nothing, so a forged or replayed request never
// becomes a Message. The adapter refuses to be made in http mode without a
// signing secret. Every outbound request, the Web API and the Socket Mode
// WebSocket alike, goes through a netguard client.
//
// The adapter reports every message it sees; who may talk to the agent is
// the Router's decision. It drops only the bot's own messages, other
// integrations' bot_message posts, and edits, deletions and other system
// subtypes. A message that Slack delivers twice (a retried delivery, or the
// same message as both a message and an app_mention event) is handled once.
//
// Slack has no typing indicator for bots (the RTM "typing" event is gone
// with RTM), so Typing does nothing.
package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/redact"
)

// Defaults of config.SlackAccount.
const (
	DefaultAPIBaseURL    = "https://slack.com/api/"
	DefaultWebhookListen = "127.0.0.1:8788"
)

// Options configure an Adapter.
type Options struct {
	Account    string              // config account id ("default" for the top-level credentials)
	Config     config.SlackAccount // the account's settings
	Handler    channels.Handler    // receives every inbound Message
	Logger     *slog.Logger        // nil: discard
	HTTPClient *http.Client        // nil: a netguard client allowed to reach APIBaseURL; else it must send through netguard
	// Scrub removes secrets from error texts, log lines and the status
	// (the process's one scrubber, redact.LiveScrubber.Scrub); nil: a
	// scrubber that knows this app's tokens and signing secret.
	Scrub func(string) string
}

// Adapter is one Slack app.
type Adapter struct {
	account string
	mode    string
	cfg     config.SlackAccount
	base    *url.URL // Web API base, ending in "/"
	handler channels.Handler
	log     *slog.Logger
	client  *http.Client
	tracker *channels.Tracker

	seen channels.Dedupe // event ids and channel:ts keys already handled

	// handleMu makes the Handler see messages one at a time, in order of
	// arrival, also when the Events API posts them concurrently.
	handleMu sync.Mutex

	botMu     sync.Mutex
	botUserID string // from auth.test; "" until known

	// Tunables; tests shorten them.
	backoff     channels.Backoff // reconnects after a dropped connection
	authBackoff channels.Backoff // retries after bad credentials (slow)
	pingEvery   time.Duration    // WebSocket keepalive pings
	retry       channels.RetryPolicy

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	runCtx  context.Context // lives from Start to Stop; handed to the Handler
	wg      sync.WaitGroup
	srv     *http.Server
	addr    net.Addr // where the Events API receiver listens (http mode)
}

var _ channels.Adapter = (*Adapter)(nil)

// New validates o and returns a stopped adapter.
func New(o Options) (*Adapter, error) {
	c := o.Config
	if c.Mode == "" {
		c.Mode = "socket"
	}
	if c.APIBaseURL == "" {
		c.APIBaseURL = DefaultAPIBaseURL
	}
	if c.WebhookListen == "" {
		c.WebhookListen = DefaultWebhookListen
	}
	if o.Account == "" {
		o.Account = "default"
	}
	if o.Handler == nil {
		return nil, errors.New("slack.New: no message handler")
	}
	if c.BotToken.IsZero() {
		return nil, errors.New("slack.New: botToken is not set; hint: set channels.slack.botToken to the app's xoxb- bot token")
	}
	switch c.Mode {
	case "socket":
		if c.AppToken.IsZero() {
			return nil, errors.New(`slack.New: socket mode needs an app-level token; hint: set channels.slack.appToken (xapp-…, scope connections:write) or use mode "http" with a signingSecret`)
		}
	case "http":
		if c.SigningSecret.IsZero() {
			return nil, errors.New("slack.New: http mode needs a signing secret to verify Slack's requests; hint: set channels.slack.signingSecret (Basic Information → App Credentials)")
		}
		if _, _, err := net.SplitHostPort(c.WebhookListen); err != nil {
			return nil, fmt.Errorf("slack.New: webhookListen %q is not host:port; hint: e.g. %q", c.WebhookListen, DefaultWebhookListen)
		}
	default:
		return nil, fmt.Errorf(`slack.New: mode %q is not socket or http`, c.Mode)
	}
	base, err := url.Parse(c.APIBaseURL)
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("slack.New: apiBaseUrl %q is not an http(s) URL; hint: leave it unset for %s", c.APIBaseURL, DefaultAPIBaseURL)
	}
	base.RawQuery, base.Fragment = "", ""
	if !strings.HasSuffix(base.Path, "/") {
		base.Path += "/"
	}
	client := o.HTTPClient
	if client == nil {
		client = netguard.Policy{
			AllowedOrigins:      []string{base.Scheme + "://" + base.Host},
			Timeout:             30 * time.Second,
			MaxBodyBytes:        4 << 20,
			SameOriginRedirects: true,
		}.Client()
	} else if err := netguard.CheckClient(client); err != nil {
		return nil, fmt.Errorf("slack.New: %w", err)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	key := "channels.slack."
	if o.Account != "default" && o.Account != "" {
		key = "channels.slack.accounts." + o.Account + "."
	}
	scrub := channels.Scrubber(o.Scrub, redact.Known{Name: key + "botToken", Value: c.BotToken.Reveal()},
		redact.Known{Name: key + "appToken", Value: c.AppToken.Reveal()},
		redact.Known{Name: key + "signingSecret", Value: c.SigningSecret.Reveal()})
	a := &Adapter{
		account:     o.Account,
		mode:        c.Mode,
		cfg:         c,
		base:        base,
		handler:     o.Handler,
		log:         log.With("channel", "slack", "account", o.Account),
		client:      client,
		tracker:     channels.NewTracker("slack", o.Account, c.Mode, scrub),
		seen:        channels.Dedupe{TTL: 2 * time.Hour},
		backoff:     channels.Backoff{Base: time.Second, Max: 2 * time.Minute},
		authBackoff: channels.Backoff{Base: 5 * time.Minute, Max: 30 * time.Minute},
		pingEvery:   30 * time.Second,
	}
	return a, nil
}

func (a *Adapter) Channel() string         { return "slack" }
func (a *Adapter) Account() string         { return a.account }
func (a *Adapter) Status() channels.Status { return a.tracker.Status() }

// Addr is where the Events API receiver listens once Start has run in http
// mode (useful with a ":0" webhookListen); nil otherwise.
func (a *Adapter) Addr() net.Addr {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.addr
}

// Start connects in the background. In http mode it binds webhookListen
// first and fails if it cannot.
func (a *Adapter) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("slack: adapter already started")
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.tracker.SetState(channels.StateConnecting)
	if a.mode == "http" {
		ln, err := net.Listen("tcp", a.cfg.WebhookListen)
		if err != nil {
			cancel()
			a.tracker.SetState(channels.StateStopped)
			return fmt.Errorf("slack: listen on webhookListen %s: %w; hint: pick a free address", a.cfg.WebhookListen, err)
		}
		a.addr = ln.Addr()
		a.srv = &http.Server{
			Handler:           a.EventsHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
			BaseContext:       func(net.Listener) context.Context { return runCtx },
		}
		srv := a.srv
		a.wg.Go(func() {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.tracker.Error(fmt.Errorf("slack: events receiver: %w", err))
				a.tracker.SetState(channels.StateError)
			}
		})
		a.wg.Go(func() { a.runHTTP(runCtx) })
	} else {
		a.wg.Go(func() { a.runSocket(runCtx) })
	}
	a.started = true
	a.cancel = cancel
	a.runCtx = runCtx
	return nil
}

// Stop disconnects and waits for the background work to end (or ctx).
func (a *Adapter) Stop(ctx context.Context) error {
	a.mu.Lock()
	if !a.started {
		a.mu.Unlock()
		return nil
	}
	a.started = false
	cancel, srv := a.cancel, a.srv
	a.srv, a.runCtx = nil, nil
	a.mu.Unlock()

	cancel()
	var err error
	if srv != nil {
		if err = srv.Shutdown(ctx); err != nil {
			srv.Close()
		}
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("slack: stop: %w", context.Cause(ctx))
	}
	a.tracker.SetState(channels.StateStopped)
	if err != nil {
		return fmt.Errorf("slack: stop: %w", err)
	}
	return nil
}

// Typing does nothing: Slack offers bots no typing indicator.
func (a *Adapter) Typing(ctx context.Context, target channels.Target) error { return nil }

// handlerContext is the context messages are handed over with: the
// adapter's, which outlives one connection or request (the Router may start
// work with it); before Start, fallback without its cancellation.
func (a *Adapter) handlerContext(fallback context.Context) context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runCtx != nil {
		return a.runCtx
	}
	return context.WithoutCancel(fallback)
}

func (a *Adapter) botUser() string {
	a.botMu.Lock()
	defer a.botMu.Unlock()
	return a.botUserID
}

// identify calls auth.test once the bot user id is not known yet.
func (a *Adapter) identify(ctx context.Context) error {
	if a.botUser() != "" {
		return nil
	}
	me, err := a.authTest(ctx)
	if err != nil {
		return err
	}
	a.botMu.Lock()
	a.botUserID = me.UserID
	a.botMu.Unlock()
	a.tracker.SetBot(me.UserID, me.User)
	a.log.Info("slack: authenticated", "bot_user", me.UserID, "team", me.TeamID)
	return nil
}

// runHTTP learns who the bot is, retrying until it works; the receiver
// itself is already serving.
func (a *Adapter) runHTTP(ctx context.Context) {
	for {
		err := a.identify(ctx)
		if err == nil {
			a.tracker.SetState(channels.StateConnected)
			return
		}
		if ctx.Err() != nil {
			return
		}
		a.tracker.Error(err)
		wait := a.backoff.Next()
		if isAuthError(err) {
			a.tracker.SetState(channels.StateError)
			wait = a.authBackoff.Next()
		}
		a.log.Warn("slack: auth.test failed", "err", err, "retry_in", wait)
		if !channels.Sleep(ctx, wait) {
			return
		}
	}
}
