// Package telegram is the Telegram channel adapter: it receives updates from
// the Bot API by long polling (getUpdates, the default) or by webhook, turns
// them into channels.Messages, and sends replies as plain text.
//
// Invariants: in webhook mode the receiver refuses to start without a
// webhook secret, and every webhook request must carry it in the
// X-Telegram-Bot-Api-Secret-Token header (compared in constant time) or it
// is answered 401 and nothing in it is looked at (DESIGN §3 invariants 1
// and 3). Every outbound request goes through a netguard client
// (invariant 7). The bot token, which the Bot API puts in the URL path,
// never appears in an error or a log line (invariant 10). An update that
// does not parse is logged and skipped, never retried forever, and an
// update seen twice is handled once (invariant 14).
//
// The Bot API calls with a fixed shape (getMe, deleteWebhook, setWebhook,
// sendMessage, sendChatAction) go through github.com/go-telegram/bot. Three
// parts are done here instead, each for a reason given where it is done:
// the getUpdates loop (poll.go), the webhook receiver (webhook.go) and the
// decoding of inbound updates (inbound.go).
package telegram

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/config"
	"github.com/talonclaw/talon/internal/netguard"
	"github.com/talonclaw/talon/internal/redact"
)

// Defaults of the configuration.
const (
	DefaultAPIBaseURL    = "https://api.telegram.org"
	DefaultWebhookListen = "127.0.0.1:8787"
	DefaultPollTimeout   = 30 * time.Second
)

// Options configure an Adapter.
type Options struct {
	Account string                 // config account id ("default" for top-level credentials)
	Config  config.TelegramAccount // the bot's credentials and endpoints
	Handler channels.Handler       // receives every inbound Message (the Router decides access)
	// BatchHandler, if set, receives the messages of one getUpdates answer
	// together (Router.HandleBatch: one durable commit for the batch);
	// nil hands them to Handler one at a time.
	BatchHandler channels.BatchHandler
	Logger       *slog.Logger // nil: discard
	HTTPClient   *http.Client // nil: a netguard client allowed to reach APIBaseURL; else it must send through netguard
	// Scrub removes secrets from error texts, log lines and the status
	// (the process's one scrubber, redact.LiveScrubber.Scrub); nil: a
	// scrubber that knows this bot's token and webhook secret.
	Scrub func(string) string

	// PollTimeout is the getUpdates long-poll timeout (whole seconds);
	// 0 means DefaultPollTimeout.
	PollTimeout time.Duration
	// RetryBase is the first reconnect delay; 0 means 1s. Tests shorten it.
	RetryBase time.Duration
}

// Adapter is one Telegram bot.
type Adapter struct {
	account string
	cfg     config.TelegramAccount
	handler channels.Handler
	batch   channels.BatchHandler
	log     *slog.Logger
	client  *http.Client
	api     *bot.Bot // the library client, for the fixed-shape methods
	baseURL string   // APIBaseURL without a trailing slash
	token   string   // revealed once, here; only ever put in request URLs
	scrub   func(string) string
	webhook bool
	secret  [32]byte // sha256 of the webhook secret (webhook mode)

	pollTimeout time.Duration
	retryBase   time.Duration
	tracker     *channels.Tracker
	dedupe      channels.Dedupe

	deliverMu sync.Mutex // one update at a time into the handler, in order

	mu       sync.Mutex
	botID    int64
	botName  string // username, without @
	runCtx   context.Context
	cancel   context.CancelFunc
	started  bool
	wg       sync.WaitGroup
	srv      *http.Server
	listener net.Listener

	// Used only by the run goroutine (polling).
	offset int64 // next getUpdates offset: one past the last update handled
	acked  int64 // the offset of the last getUpdates that succeeded
}

var (
	_ channels.Adapter        = (*Adapter)(nil)
	_ channels.ButtonSender   = (*Adapter)(nil)
	_ channels.ActionAnswerer = (*Adapter)(nil)
	_ channels.ButtonCloser   = (*Adapter)(nil)
)

// New validates the configuration and makes an adapter; it does not
// connect.
func New(o Options) (*Adapter, error) {
	if o.Account == "" {
		o.Account = "default"
	}
	key := "channels.telegram."
	if o.Account != "default" {
		key = "channels.telegram.accounts." + o.Account + "."
	}
	c := o.Config
	if o.Handler == nil {
		return nil, errors.New("telegram.New: no message handler")
	}
	if o.HTTPClient != nil {
		if err := netguard.CheckClient(o.HTTPClient); err != nil {
			return nil, fmt.Errorf("telegram.New: %w", err)
		}
	}
	token := c.BotToken.Reveal()
	if token == "" {
		return nil, fmt.Errorf("telegram: %sbotToken is empty (hint: set it to the token from @BotFather, e.g. \"${TELEGRAM_BOT_TOKEN}\")", key)
	}
	if !validToken(token) {
		// The token itself is never quoted in the message.
		return nil, fmt.Errorf("telegram: %sbotToken does not look like a bot token (hint: it is <bot id>:<secret> as @BotFather gives it, with no spaces or slashes)", key)
	}
	if c.APIBaseURL == "" {
		c.APIBaseURL = DefaultAPIBaseURL
	}
	base := strings.TrimRight(c.APIBaseURL, "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil, fmt.Errorf("telegram: %sapiBaseUrl %q is not an http(s) base URL (hint: leave it empty for %s)", key, c.APIBaseURL, DefaultAPIBaseURL)
	}
	a := &Adapter{
		account: o.Account,
		cfg:     c,
		handler: o.Handler,
		batch:   o.BatchHandler,
		log:     o.Logger,
		client:  o.HTTPClient,
		baseURL: base,
		token:   token,
		scrub: channels.Scrubber(o.Scrub, redact.Known{Name: key + "botToken", Value: token},
			redact.Known{Name: key + "webhookSecret", Value: c.WebhookSecret.Reveal()}),
		pollTimeout: o.PollTimeout,
		retryBase:   o.RetryBase,
	}
	if c.WebhookURL != "" {
		if err := checkWebhook(key, c); err != nil {
			return nil, err
		}
		if a.cfg.WebhookListen == "" {
			a.cfg.WebhookListen = DefaultWebhookListen
		}
		if _, _, err := net.SplitHostPort(a.cfg.WebhookListen); err != nil {
			return nil, fmt.Errorf("telegram: %swebhookListen %q is not host:port (hint: e.g. %s behind a TLS reverse proxy)", key, a.cfg.WebhookListen, DefaultWebhookListen)
		}
		a.webhook = true
		a.secret = digest(c.WebhookSecret.Reveal())
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	a.log = a.log.With("channel", "telegram", "account", a.account)
	if a.pollTimeout <= 0 {
		a.pollTimeout = DefaultPollTimeout
	}
	a.pollTimeout = max(a.pollTimeout.Truncate(time.Second), time.Second)
	if a.retryBase <= 0 {
		a.retryBase = time.Second
	}
	if a.client == nil {
		a.client = netguard.Policy{
			AllowedOrigins: []string{base},
			// Long enough for a long poll plus a slow answer.
			Timeout:             a.pollTimeout + 30*time.Second,
			MaxBodyBytes:        16 << 20,
			SameOriginRedirects: true,
		}.Client()
	}
	mode := "polling"
	if a.webhook {
		mode = "webhook"
	}
	a.tracker = channels.NewTracker("telegram", a.account, mode, a.scrub)

	a.api, err = bot.New(token,
		bot.WithServerURL(base),
		bot.WithHTTPClient(a.pollTimeout, a.client),
		bot.WithSkipGetMe(), // Start calls getMe itself, to report a bad token as a state
		bot.WithDefaultHandler(func(context.Context, *bot.Bot, *models.Update) {}),
		bot.WithErrorsHandler(func(err error) {
			a.log.Warn("telegram client", "err", a.scrub(err.Error()))
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("telegram.New: %s", a.scrub(err.Error()))
	}
	return a, nil
}

// checkWebhook refuses a webhook without a usable secret: without it anyone
// who learns the URL could inject updates as any sender.
func checkWebhook(key string, c config.TelegramAccount) error {
	u, err := url.Parse(c.WebhookURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("telegram: %swebhookUrl %q is not an https URL (hint: Telegram only posts to https; leave it empty for long polling)", key, c.WebhookURL)
	}
	if c.WebhookSecret.IsZero() {
		return fmt.Errorf("telegram: webhook mode needs %swebhookSecret (hint: set 1-256 characters of A-Z a-z 0-9 _ -, e.g. \"${secret:TELEGRAM_WEBHOOK_SECRET}\"; without it anyone who finds the URL could post fake updates)", key)
	}
	if !config.TelegramWebhookSecretOK(c.WebhookSecret.Reveal()) {
		return fmt.Errorf("telegram: %swebhookSecret must be 1-256 characters of A-Z a-z 0-9 _ - (hint: Telegram rejects other characters)", key)
	}
	return nil
}

// validToken checks the shape <digits>:<rest> with nothing that would
// change the meaning of the request URL.
func validToken(t string) bool {
	id, rest, ok := strings.Cut(t, ":")
	if !ok || id == "" || rest == "" {
		return false
	}
	if _, err := strconv.ParseUint(id, 10, 64); err != nil {
		return false
	}
	return !strings.ContainsAny(rest, "/?#% \t\r\n")
}

// Channel implements channels.Adapter.
func (a *Adapter) Channel() string { return "telegram" }

// Account implements channels.Adapter.
func (a *Adapter) Account() string { return a.account }

// Status implements channels.Adapter.
func (a *Adapter) Status() channels.Status { return a.tracker.Status() }

// Start implements channels.Adapter. In webhook mode it binds WebhookListen
// before returning, so a bad address is an error here.
func (a *Adapter) Start(ctx context.Context) error {
	if a.webhook && a.cfg.WebhookSecret.IsZero() {
		return errors.New("telegram: refusing to start a webhook without webhookSecret")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("telegram: already started")
	}
	// The adapter outlives the Start call's context: Stop ends it.
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if a.webhook {
		ln, err := net.Listen("tcp", a.cfg.WebhookListen)
		if err != nil {
			cancel()
			return fmt.Errorf("telegram: webhook listener: %v (hint: check webhookListen)", err)
		}
		a.listener = ln
		a.srv = &http.Server{
			Handler:           a.WebhookHandler(),
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       30 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			BaseContext:       func(net.Listener) context.Context { return runCtx },
			ErrorLog:          slog.NewLogLogger(a.log.Handler(), slog.LevelDebug),
		}
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				a.tracker.Error(fmt.Errorf("telegram: webhook server: %v", err))
				a.log.Error("webhook server", "err", err)
			}
		}()
	}
	a.runCtx, a.cancel, a.started = runCtx, cancel, true
	a.tracker.SetState(channels.StateConnecting)
	a.wg.Add(1)
	go a.run(runCtx)
	return nil
}

// Stop implements channels.Adapter: it ends the poll (or closes the webhook
// receiver), confirms the updates already handled, and waits for the
// background work, or for ctx.
func (a *Adapter) Stop(ctx context.Context) error {
	a.mu.Lock()
	if !a.started {
		a.mu.Unlock()
		return nil
	}
	a.started = false
	cancel, srv := a.cancel, a.srv
	a.mu.Unlock()

	cancel()
	var err error
	if srv != nil {
		if e := srv.Shutdown(ctx); e != nil {
			srv.Close()
			err = e
		}
	}
	done := make(chan struct{})
	go func() { a.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("telegram: stop: %w", context.Cause(ctx))
	}
	a.tracker.SetState(channels.StateStopped)
	return err
}

// WebhookAddr is the address the webhook receiver listens on ("" before
// Start or in polling mode); useful with WebhookListen "127.0.0.1:0".
func (a *Adapter) WebhookAddr() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.listener == nil {
		return ""
	}
	return a.listener.Addr().String()
}

// run is the background loop of both modes: learn who the bot is, then
// poll (or register the webhook and wait), reconnecting with jittered
// backoff. A rejected token is StateError and retried only slowly.
func (a *Adapter) run(ctx context.Context) {
	defer a.wg.Done()
	defer a.confirm()
	bo := channels.Backoff{Base: a.retryBase}
	for {
		var err error
		if a.webhook {
			err = a.serveWebhookMode(ctx, &bo)
		} else {
			err = a.poll(ctx, &bo)
		}
		if ctx.Err() != nil {
			return
		}
		a.tracker.Error(err)
		wait := bo.Next()
		var rl *channels.RateLimitError
		switch {
		case errors.Is(err, errUnauthorized):
			a.tracker.SetState(channels.StateError)
			a.log.Error("bot token rejected; retrying slowly", "err", err)
			wait = max(wait, 100*a.retryBase)
		case errors.As(err, &rl):
			a.tracker.SetState(channels.StateReconnecting)
			wait = max(wait, rl.RetryAfter)
		default:
			a.tracker.SetState(channels.StateReconnecting)
			a.log.Warn("connection failed; reconnecting", "err", err, "in", wait)
		}
		if !channels.Sleep(ctx, wait) {
			return
		}
	}
}

// identify calls getMe and records the bot's id and username, which the
// mention and reply-to-bot checks need.
func (a *Adapter) identify(ctx context.Context) error {
	me, err := a.api.GetMe(ctx)
	if err != nil {
		return a.apiError("getMe", err)
	}
	if me == nil || me.ID == 0 {
		return errors.New("telegram: getMe: empty answer")
	}
	a.mu.Lock()
	a.botID, a.botName = me.ID, me.Username
	a.mu.Unlock()
	a.tracker.SetBot(strconv.FormatInt(me.ID, 10), me.Username)
	return nil
}

func (a *Adapter) identity() (int64, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.botID, a.botName
}

// allowedUpdates are the update kinds the adapter asks for: messages, and
// button presses (callback queries: answers to approval requests); edits,
// reactions and the rest are not conversation.
var allowedUpdates = []string{"message", "channel_post", "callback_query"}

// serveWebhookMode registers the webhook and then waits; the receiver runs
// in its own goroutine from Start.
func (a *Adapter) serveWebhookMode(ctx context.Context, bo *channels.Backoff) error {
	if err := a.identify(ctx); err != nil {
		return err
	}
	_, err := a.api.SetWebhook(ctx, &bot.SetWebhookParams{
		URL:            a.cfg.WebhookURL,
		SecretToken:    a.cfg.WebhookSecret.Reveal(),
		AllowedUpdates: allowedUpdates,
		// One request at a time keeps updates in order; a personal
		// agent does not need Telegram's parallel deliveries.
		MaxConnections: 1,
	})
	if err != nil {
		return a.apiError("setWebhook", err)
	}
	bo.Reset()
	a.tracker.SetState(channels.StateConnected)
	a.log.Info("webhook registered", "listen", a.WebhookAddr())
	<-ctx.Done()
	return ctx.Err()
}

// deliver hands one raw update to the handler unless it was seen before or
// is not a message. Bad updates are logged and dropped (nil). An error is
// the handler's: the update was not stored and must not be confirmed to
// Telegram; it is forgotten here so its redelivery is handled.
// deliverBatch hands the updates of one getUpdates answer to the handler
// together and returns how many of them, from the first, were handled (or
// deliberately skipped), so the offset may pass exactly those; err is the
// first update's error that stopped it.
func (a *Adapter) deliverBatch(ctx context.Context, ids []int64, raws []json.RawMessage) (int, error) {
	if a.batch == nil {
		for i := range raws {
			if err := a.deliver(ctx, ids[i], raws[i]); err != nil {
				return i, err
			}
		}
		return len(raws), nil
	}
	a.deliverMu.Lock()
	defer a.deliverMu.Unlock()
	var ms []channels.Message
	var at []int // ms[k] came from raws[at[k]]
	var keys []string
	botID, botName := a.identity()
	for i, raw := range raws {
		dk := "update:" + strconv.FormatInt(ids[i], 10)
		if a.dedupe.Seen(dk, time.Now()) {
			a.log.Debug("duplicate update dropped", "update_id", ids[i])
			continue
		}
		m, ok, err := parseUpdate(raw, botID, botName)
		if err != nil {
			a.log.Warn("update skipped: it does not parse", "update_id", ids[i], "err", err)
			continue
		}
		if !ok {
			continue
		}
		m.Channel, m.Account = "telegram", a.account
		a.tracker.Received()
		ms, at, keys = append(ms, m), append(at, i), append(keys, dk)
	}
	if len(ms) == 0 {
		return len(raws), nil
	}
	errs := a.batch(ctx, ms)
	for k, err := range errs {
		if err != nil {
			// This one and every later one stay unconfirmed; forget them
			// so the next fetch hands them over again.
			for _, dk := range keys[k:] {
				a.dedupe.Forget(dk)
			}
			return at[k], err
		}
	}
	return len(raws), nil
}

func (a *Adapter) deliver(ctx context.Context, id int64, raw []byte) error {
	a.deliverMu.Lock()
	defer a.deliverMu.Unlock()
	dk := "update:" + strconv.FormatInt(id, 10)
	if a.dedupe.Seen(dk, time.Now()) {
		a.log.Debug("duplicate update dropped", "update_id", id)
		return nil
	}
	botID, botName := a.identity()
	m, ok, err := parseUpdate(raw, botID, botName)
	if err != nil {
		a.log.Warn("update skipped: it does not parse", "update_id", id, "err", err)
		return nil
	}
	if !ok {
		return nil
	}
	m.Channel, m.Account = "telegram", a.account
	a.tracker.Received()
	if err := a.handler(ctx, m); err != nil {
		a.dedupe.Forget(dk)
		return err
	}
	return nil
}
