// Package discord connects Discord bots to Talon: the gateway WebSocket
// (through github.com/bwmarrin/discordgo) for inbound messages and the REST
// API for replies and typing indicators.
//
// Guarantees: every request and the gateway WebSocket go through netguard,
// to the configured apiBaseUrl and the gateway URL that API names (invariant
// 7); the bot token is revealed only into the Authorization header and the
// gateway IDENTIFY/RESUME payloads and never appears in errors, logs or
// Status (invariant 10); replies are sent with allowed_mentions {"parse":
// []}, so no text a model writes can ping @everyone, @here, a role or a
// user; malformed events are dropped without effect (invariant 14). The
// adapter decides nothing about access: it reports every message with
// Discord's own ids (and GuildID) and the Router decides (invariant 3).
//
// How discordgo is used without its package-level state: discordgo builds
// every URL from package variables (EndpointAPI, …) that point at
// https://discord.com/api/v9. Instead of changing them, each Adapter gives
// its Session an http.Client whose RoundTripper rewrites those URLs onto the
// account's apiBaseUrl (and then goes through netguard), so several accounts
// with different base URLs work side by side. The only discordgo REST call
// made is GET /gateway, from Session.Open; replies, typing and GET
// /users/@me are this package's own REST code, which maps Discord's 429
// answers (JSON retry_after and the Retry-After header) to
// channels.RateLimitError for channels.Retry. The WebSocket is dialled by a
// gorilla Dialer whose NetDialContext is netguard's.
//
// Reconnecting: discordgo's own reconnect loop cannot be cancelled and
// sleeps up to ten minutes between attempts, so ShouldReconnectOnError is
// off and the adapter runs its own loop: when discordgo reports a
// Disconnect, the loop calls Session.Open again after a jittered
// channels.Backoff; Open sends RESUME (discordgo keeps session_id and the
// sequence) and Discord replays what was missed. Messages are deduplicated
// by id, so a replay handled twice reaches the Handler once. Gateway close
// codes that Discord says must not be retried (4004 authentication failed,
// 4013/4014 invalid or disallowed intents, …) and a 401 from the REST API
// put the adapter in StateError and end the loop.
//
// Threads: a message in a thread has ThreadID = the thread's channel id and
// ChatID = its parent channel when the thread is known from the gateway
// (GUILD_CREATE, THREAD_CREATE), so allowlisting a channel covers its
// threads; an unknown thread has ChatID = ThreadID = the thread's id. Send
// posts to ThreadID when it is set, else to ChatID.
package discord

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

	"github.com/bwmarrin/discordgo"
	"github.com/gorilla/websocket"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/redact"
)

// DefaultAPIBaseURL is Discord's REST API.
const DefaultAPIBaseURL = "https://discord.com/api/v10"

// Intents the bot identifies with: guild and channel metadata (to tell
// threads from channels), guild and direct messages, and their content.
// MESSAGE_CONTENT is privileged: it must be enabled for the bot in the
// developer portal, or the gateway closes with 4014.
const intents = discordgo.IntentsGuilds | discordgo.IntentsGuildMessages |
	discordgo.IntentsDirectMessages | discordgo.IntentsMessageContent

// Options configure an Adapter.
type Options struct {
	Account    string                // config account id ("default" for top-level credentials)
	Config     config.DiscordAccount // the bot's token and API base URL
	Handler    channels.Handler      // receives every inbound Message
	Logger     *slog.Logger          // nil: discard
	HTTPClient *http.Client          // nil: a netguard client for the API base URL; else it must send through netguard
	// Scrub removes secrets from error texts, log lines and the status
	// (the process's one scrubber, redact.LiveScrubber.Scrub); nil: a
	// scrubber that knows this bot's token.
	Scrub func(string) string
}

// Adapter is one Discord bot account.
type Adapter struct {
	account string
	token   string // the bot token, kept only to build headers
	scrub   func(string) string
	base    *url.URL
	handler channels.Handler
	log     *slog.Logger
	client  *http.Client // REST, through netguard
	dial    netDialFunc  // gateway TCP dials, through netguard
	tracker *channels.Tracker
	dedupe  channels.Dedupe
	backoff channels.Backoff // reconnect pacing; tests shorten it
	// openTimeout bounds one Session.Open (dial, HELLO, IDENTIFY, READY).
	openTimeout time.Duration

	mu      sync.Mutex
	started bool
	cancel  context.CancelFunc
	done    chan struct{}
	runCtx  context.Context // the adapter's life; set by Start
	botID   string
	wsConn  net.Conn // the last gateway TCP connection dialled
}

type netDialFunc func(ctx context.Context, network, addr string) (net.Conn, error)

var _ channels.Adapter = (*Adapter)(nil)

// New validates the account and makes an adapter; it does not connect.
func New(o Options) (*Adapter, error) {
	if o.Config.Token.IsZero() {
		return nil, errors.New("discord: the bot token is empty; set channels.discord.token (usually \"${DISCORD_BOT_TOKEN}\")")
	}
	tok := o.Config.Token.Reveal()
	if strings.ContainsAny(tok, " \t\r\n") {
		return nil, errors.New("discord: the bot token contains spaces; set the bare token from the developer portal, without \"Bot \"")
	}
	if o.Handler == nil {
		return nil, errors.New("discord: no message handler")
	}
	raw := o.Config.APIBaseURL
	if raw == "" {
		raw = DefaultAPIBaseURL
	}
	base, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil || base.RawQuery != "" || base.Fragment != "" {
		return nil, fmt.Errorf("discord: apiBaseUrl %q is not an http(s) URL without credentials or query; the default is %s", raw, DefaultAPIBaseURL)
	}
	account := o.Account
	if account == "" {
		account = "default"
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	origin := base.Scheme + "://" + base.Host
	policy := netguard.Policy{
		AllowedOrigins:      []string{origin},
		Timeout:             30 * time.Second,
		MaxBodyBytes:        4 << 20,
		SameOriginRedirects: true,
	}
	client := o.HTTPClient
	if client == nil {
		client = policy.Client()
	} else if err := netguard.CheckClient(client); err != nil {
		return nil, fmt.Errorf("discord.New: %w", err)
	}
	key := "channels.discord."
	if account != "default" {
		key = "channels.discord.accounts." + account + "."
	}
	scrub := channels.Scrubber(o.Scrub, redact.Known{Name: key + "token", Value: tok})
	a := &Adapter{
		account:     account,
		token:       tok,
		scrub:       scrub,
		base:        base,
		handler:     o.Handler,
		log:         log.With("channel", "discord", "account", account),
		client:      client,
		dial:        policy.Transport().DialContext,
		tracker:     channels.NewTracker("discord", account, "gateway", scrub),
		backoff:     channels.Backoff{Base: time.Second, Max: 2 * time.Minute},
		openTimeout: 45 * time.Second,
	}
	return a, nil
}

// Channel is "discord".
func (a *Adapter) Channel() string { return "discord" }

// Account is the config account id.
func (a *Adapter) Account() string { return a.account }

// Status reports the connection state and counters.
func (a *Adapter) Status() channels.Status { return a.tracker.Status() }

// Start begins connecting in the background and returns. The adapter runs
// until Stop; ctx only carries values (cancelling it does not stop the
// adapter, so a request-scoped context can start one).
func (a *Adapter) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("discord: adapter already started")
	}
	a.started = true
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.runCtx, a.cancel, a.done = runCtx, cancel, make(chan struct{})
	a.tracker.SetState(channels.StateConnecting)
	go a.run(runCtx)
	return nil
}

// Stop disconnects and waits for the background work to end (or ctx).
func (a *Adapter) Stop(ctx context.Context) error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	a.closeConn()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("discord: stop: %w", context.Cause(ctx))
	}
}

// run is the connection supervisor: connect, wait for a disconnect,
// reconnect with backoff, until ctx ends or the credentials are refused.
func (a *Adapter) run(ctx context.Context) {
	defer close(a.done)
	var s *discordgo.Session
	defer func() {
		if s != nil {
			s.Close() // discordgo waits 1s here for the close frame
		}
		if a.tracker.Status().State != channels.StateError {
			a.tracker.SetState(channels.StateStopped)
		}
	}()
	lost := make(chan struct{}, 1)
	for attempt := 0; ; attempt++ {
		if attempt > 0 && !channels.Sleep(ctx, a.backoff.Next()) {
			return
		}
		if ctx.Err() != nil {
			return
		}
		if a.bot() == "" {
			if err := a.identifyBot(ctx); err != nil {
				if a.fatal(err) {
					return
				}
				continue
			}
		}
		if s == nil {
			s = a.session(lost)
		}
		select { // a stale signal from an earlier connection
		case <-lost:
		default:
		}
		err := a.open(ctx, s)
		if errors.Is(err, discordgo.ErrWSAlreadyOpen) {
			err = nil
		}
		if err != nil {
			if a.fatal(err) {
				return
			}
			continue
		}
		a.tracker.SetState(channels.StateConnected)
		a.log.Info("discord: connected to the gateway")
		a.backoff.Reset()
		select {
		case <-ctx.Done():
			return
		case <-lost:
		}
		a.log.Warn("discord: gateway connection lost; reconnecting")
		a.tracker.SetState(channels.StateReconnecting)
	}
}

// fatal records err and reports whether it ends the adapter (bad
// credentials or a configuration Discord refuses); other errors are
// retried.
func (a *Adapter) fatal(err error) bool {
	err = a.scrubErr(err)
	a.tracker.Error(err)
	var fe *fatalError
	if errors.As(err, &fe) {
		a.log.Error("discord: giving up", "err", err)
		a.tracker.SetState(channels.StateError)
		return true
	}
	a.log.Warn("discord: connect failed; will retry", "err", err)
	if a.tracker.Status().State == channels.StateConnected {
		a.tracker.SetState(channels.StateReconnecting)
	}
	return false
}

// fatalError is a failure that reconnecting cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// session makes the discordgo Session of this adapter.
func (a *Adapter) session(lost chan<- struct{}) *discordgo.Session {
	s, _ := discordgo.New("Bot " + a.token) // New never fails
	// Identify with the bare token, as Discord documents; RESUME sends
	// Session.Token ("Bot …"), which the gateway accepts too.
	s.Identify.Token = a.token
	s.Identify.Intents = intents
	s.Identify.Compress = false
	s.Compress = false
	s.Identify.Properties.Browser = "talon"
	s.Identify.Properties.Device = "talon"
	// discordgo's reconnect loop cannot be cancelled; run does it instead.
	s.ShouldReconnectOnError = false
	s.ShouldReconnectVoiceOnSessionError = false
	s.ShouldRetryOnRateLimit = false
	s.MaxRestRetries = 0
	// Handlers run in the receive loop, in order.
	s.SyncEvents = true
	// discordgo logs through the package-level log (and would print the
	// IDENTIFY payload, token included, at debug level): silence it; the
	// adapter logs what matters itself.
	s.LogLevel = -1
	s.UserAgent = "DiscordBot (https://github.com/talonclaw/talon, 1)"
	c := *a.client
	c.Transport = &rewriter{next: a.client.Transport, base: a.base, ctx: a.lifeCtx} // netguard's (checked in New)
	s.Client = &c
	s.Dialer = &websocket.Dialer{
		NetDialContext:   a.dialGateway,
		HandshakeTimeout: 15 * time.Second,
		Proxy:            nil, // netguard ignores proxies; so does the gateway
	}
	// Keep only what conversion needs: channels and threads (to tell a
	// thread from its parent, a group DM from a DM).
	s.State.TrackChannels = true
	s.State.TrackThreads = true
	s.State.TrackEmojis = false
	s.State.TrackMembers = false
	s.State.TrackThreadMembers = false
	s.State.TrackRoles = false
	s.State.TrackVoice = false
	s.State.TrackPresences = false
	s.State.TrackStickers = false
	s.State.MaxMessageCount = 0
	s.AddHandler(func(_ *discordgo.Session, r *discordgo.Ready) {
		if r.User != nil && r.User.ID != "" {
			a.setBot(r.User.ID, r.User.Username)
		}
	})
	s.AddHandler(func(_ *discordgo.Session, _ *discordgo.Disconnect) {
		select {
		case lost <- struct{}{}:
		default:
		}
	})
	s.AddHandler(func(s *discordgo.Session, mc *discordgo.MessageCreate) {
		a.onMessage(s, mc.Message)
	})
	s.AddHandler(func(_ *discordgo.Session, ic *discordgo.InteractionCreate) {
		a.onInteraction(ic.Interaction) // buttons.go
	})
	return s
}

// open runs Session.Open, which has no context: when ctx ends or the open
// takes too long, the TCP connection it reads from is closed under it.
func (a *Adapter) open(ctx context.Context, s *discordgo.Session) error {
	octx, cancel := context.WithTimeout(ctx, a.openTimeout)
	defer cancel()
	stop := context.AfterFunc(octx, a.closeConn)
	err := s.Open()
	stop()
	if err == nil {
		// Even if the watchdog fired just as Open succeeded, the
		// Disconnect that follows the closed connection reconnects.
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return gatewayCloseError(ce)
	}
	var re *discordgo.RESTError
	if errors.As(err, &re) && re.Response != nil {
		return fmt.Errorf("discord: asking %s for the gateway URL: HTTP %d", a.base.Redacted(), re.Response.StatusCode)
	}
	return fmt.Errorf("discord: connecting to the gateway: %w", err)
}

// gatewayCloseError explains a gateway close code; the codes Discord says
// not to reconnect after are fatal.
func gatewayCloseError(ce *websocket.CloseError) error {
	hint := ""
	switch ce.Code {
	case 4004:
		hint = "authentication failed: the bot token was refused; check channels.discord.token"
	case 4010, 4011:
		hint = "sharding is required or invalid; this bot is in too many guilds for one connection"
	case 4012:
		hint = "invalid API version"
	case 4013:
		hint = "invalid intents"
	case 4014:
		hint = "disallowed intents: enable the Message Content intent for the bot in the Discord developer portal"
	default:
		return fmt.Errorf("discord: the gateway closed the connection (%d %s)", ce.Code, ce.Text)
	}
	return &fatalError{fmt.Errorf("discord: the gateway closed the connection (%d): %s", ce.Code, hint)}
}

// dialGateway dials the gateway through netguard, bounded by the adapter's
// life, and remembers the connection so that open and Stop can close it.
func (a *Adapter) dialGateway(ctx context.Context, network, addr string) (net.Conn, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(a.lifeCtx(), cancel)()
	c, err := a.dial(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.wsConn = c
	a.mu.Unlock()
	return c, nil
}

// closeConn closes the last gateway connection, which makes any read
// discordgo is blocked in fail.
func (a *Adapter) closeConn() {
	a.mu.Lock()
	c := a.wsConn
	a.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// lifeCtx is the adapter's run context (Background before Start).
func (a *Adapter) lifeCtx() context.Context {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.runCtx == nil {
		return context.Background()
	}
	return a.runCtx
}

func (a *Adapter) bot() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.botID
}

func (a *Adapter) setBot(id, name string) {
	a.mu.Lock()
	a.botID = id
	a.mu.Unlock()
	a.tracker.SetBot(id, name)
}

// identifyBot asks GET /users/@me who the bot is; a 401 there is fatal.
func (a *Adapter) identifyBot(ctx context.Context) error {
	var u struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Bot      bool   `json:"bot"`
	}
	if err := a.do(ctx, http.MethodGet, "/users/@me", nil, &u); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden) {
			return &fatalError{fmt.Errorf("discord: the bot token was refused (%v); check channels.discord.token", errors.Unwrap(err))}
		}
		return fmt.Errorf("discord: GET /users/@me: %w", err)
	}
	if u.ID == "" {
		return errors.New("discord: GET /users/@me answered without a user id")
	}
	a.setBot(u.ID, u.Username)
	return nil
}

// onMessage converts and delivers one MESSAGE_CREATE; it runs in
// discordgo's receive loop.
func (a *Adapter) onMessage(s *discordgo.Session, m *discordgo.Message) {
	if m == nil {
		return
	}
	var ch *discordgo.Channel
	if s.State != nil {
		ch, _ = s.State.Channel(m.ChannelID)
	}
	msg, ok := toMessage(a.bot(), m, ch)
	if !ok {
		return
	}
	if a.dedupe.Seen(msg.ID, time.Now()) {
		return
	}
	msg.Account = a.account
	a.tracker.Received()
	// Discord has no per-message acknowledgement to hold back: the
	// handler runs here, synchronously and in event order (SyncEvents),
	// and a message it could not store is only logged. What arrives
	// while the gateway is down is not redelivered (Discord's resume
	// replays only a live session's recent events).
	if err := a.handler(a.lifeCtx(), msg); err != nil {
		a.dedupe.Forget(msg.ID)
		a.log.Error("discord: message not stored; it is lost unless sent again", "id", msg.ID, "err", err)
	}
}

// scrubErr passes err's text through the scrubber. When that changes it,
// the chain is cut (it holds a secret) and the classification that callers
// branch on is kept.
func (a *Adapter) scrubErr(err error) error {
	if err == nil {
		return nil
	}
	msg := a.scrub(err.Error())
	if msg == err.Error() {
		return err
	}
	red := errors.New(msg)
	var fe *fatalError
	var rl *channels.RateLimitError
	switch {
	case errors.As(err, &fe):
		return &fatalError{red}
	case channels.IsPermanent(err):
		return channels.Permanent(red)
	case errors.As(err, &rl):
		return &channels.RateLimitError{RetryAfter: rl.RetryAfter, Err: red}
	}
	return red
}

// rewriter sends discordgo's requests for https://discord.com/api/v*/… to
// the configured API base URL, with the adapter's life as their context
// (discordgo makes them without one). Other requests pass unchanged.
type rewriter struct {
	next http.RoundTripper
	base *url.URL
	ctx  func() context.Context
}

func (rw *rewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	u := req.URL
	if u.Host != "discord.com" || !strings.HasPrefix(u.Path, "/api/") {
		return rw.next.RoundTrip(req)
	}
	rest := strings.TrimPrefix(u.Path, "/api/")
	if v, after, ok := strings.Cut(rest, "/"); ok && strings.HasPrefix(v, "v") {
		rest = after // drop discordgo's version; the base URL has its own
	}
	nu := *rw.base
	nu.Path = strings.TrimRight(rw.base.Path, "/") + "/" + rest
	nu.RawPath = ""
	nu.RawQuery = u.RawQuery
	r2 := req.Clone(rw.ctx())
	r2.URL = &nu
	r2.Host = ""
	return rw.next.RoundTrip(r2)
}
