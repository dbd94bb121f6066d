package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/slack-go/slack/socketmode"

	"github.com/talonclaw/talon/internal/channels"
)

// maxFrame caps one Socket Mode message; an events_api envelope with a
// 40,000-character message and its blocks stays well under it.
const maxFrame = 4 << 20

// disconnectError is Slack's "disconnect" message: the server is about to
// close this connection (refresh_requested, warning) or Socket Mode was
// turned off for the app (link_disabled).
type disconnectError struct{ reason string }

func (e *disconnectError) Error() string {
	if e.reason == "link_disabled" {
		return "slack: socket mode: Slack disabled the connection (link_disabled); hint: turn Socket Mode on in the app's settings"
	}
	return fmt.Sprintf("slack: socket mode: Slack asked to reconnect (%s)", e.reason)
}

// runSocket keeps a Socket Mode connection up until ctx ends: a dropped
// connection or Slack's disconnect message is followed by a new one after
// a jittered backoff (reset once a connection says hello); bad
// credentials put the adapter in StateError and are retried slowly.
func (a *Adapter) runSocket(ctx context.Context) {
	for {
		err := a.socketSession(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait time.Duration
		var de *disconnectError
		switch {
		case isAuthError(err), errors.As(err, &de) && de.reason == "link_disabled":
			a.tracker.Error(err)
			a.tracker.SetState(channels.StateError)
			wait = a.authBackoff.Next()
		default:
			if !errors.As(err, &de) {
				a.tracker.Error(err)
			}
			if a.tracker.Status().State != channels.StateError {
				a.tracker.SetState(channels.StateReconnecting)
			}
			wait = a.backoff.Next()
			var rl *channels.RateLimitError
			if errors.As(err, &rl) {
				wait = max(wait, rl.RetryAfter)
			}
		}
		a.log.Warn("slack: socket mode: connection ended", "err", err, "retry_in", wait)
		if !channels.Sleep(ctx, wait) {
			return
		}
	}
}

// socketSession makes one connection and reads it until it ends.
func (a *Adapter) socketSession(ctx context.Context) error {
	if err := a.identify(ctx); err != nil {
		return err
	}
	var open struct {
		URL string `json:"url"`
	}
	if err := a.call(ctx, "apps.connections.open", a.cfg.AppToken, nil, &open); err != nil {
		return err
	}
	wsURL, err := a.checkSocketURL(open.URL)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	c, _, err := websocket.Dial(dctx, wsURL.String(), &websocket.DialOptions{HTTPClient: a.client})
	cancel()
	if err != nil {
		// The URL's query holds a connection ticket: keep it out of errors.
		msg := err.Error()
		if q := wsURL.RawQuery; q != "" {
			msg = strings.ReplaceAll(msg, q, "REDACTED")
		}
		return fmt.Errorf("slack: socket mode: dial %s://%s%s: %s", wsURL.Scheme, wsURL.Host, wsURL.Path, msg)
	}
	defer c.CloseNow()
	c.SetReadLimit(maxFrame)

	sctx, stop := context.WithCancel(ctx)
	var keepalive sync.WaitGroup
	defer keepalive.Wait()
	defer stop()
	keepalive.Go(func() { a.keepalive(sctx, c) })

	for {
		typ, data, err := c.Read(sctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("slack: socket mode: connection lost: %w", err)
		}
		if typ != websocket.MessageText {
			continue
		}
		var env socketmode.Request
		if err := json.Unmarshal(data, &env); err != nil {
			a.log.Warn("slack: socket mode: malformed message", "err", err)
			continue
		}
		// An events_api envelope (and an interactive or slash_commands
		// one: an answer to an approval request) is acknowledged only
		// after the handler took its message
		// (invariant 14): Slack redelivers what is not
		// acknowledged within a few seconds, and the dedupe makes a
		// redelivery of what was stored harmless. Everything else is
		// acknowledged at once.
		if env.Type == socketmode.RequestTypeEventsAPI || env.Type == socketmode.RequestTypeInteractive || env.Type == socketmode.RequestTypeSlashCommands {
			var err error
			switch env.Type {
			case socketmode.RequestTypeInteractive:
				err = a.deliverActions(sctx, env.Payload) // buttons.go
			case socketmode.RequestTypeSlashCommands:
				var sc slashCommand
				if err = json.Unmarshal(env.Payload, &sc); err == nil {
					err = a.deliverSlash(sctx, sc) // buttons.go
				}
			default:
				var cb *callback
				if cb, err = parseCallback(env.Payload); err == nil {
					err = a.deliver(sctx, cb)
				}
			}
			var ns *notStoredError
			if errors.As(err, &ns) {
				a.log.Warn("slack: socket mode: message not stored; not acknowledged, Slack redelivers it", "envelope_id", env.EnvelopeID, "err", err)
				continue
			}
			if err != nil {
				a.log.Warn("slack: socket mode: bad event", "envelope_id", env.EnvelopeID, "err", err)
			}
		}
		if env.EnvelopeID != "" {
			ack, _ := json.Marshal(socketmode.Response{EnvelopeID: env.EnvelopeID})
			if err := c.Write(sctx, websocket.MessageText, ack); err != nil {
				return fmt.Errorf("slack: socket mode: ack: %w", err)
			}
		}
		switch env.Type {
		case socketmode.RequestTypeHello:
			a.backoff.Reset()
			a.authBackoff.Reset()
			a.tracker.SetState(channels.StateConnected)
			a.log.Info("slack: socket mode: connected", "app_id", env.ConnectionInfo.AppID)
		case socketmode.RequestTypeDisconnect:
			c.Close(websocket.StatusNormalClosure, "")
			return &disconnectError{reason: env.Reason}
		case socketmode.RequestTypeEventsAPI, socketmode.RequestTypeInteractive, socketmode.RequestTypeSlashCommands:
			// Handled above, before the ack.
		}
	}
}

// keepalive pings the server; a connection that does not answer in time
// is closed, which ends the read loop and starts a reconnect.
func (a *Adapter) keepalive(ctx context.Context, c *websocket.Conn) {
	t := time.NewTicker(a.pingEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, max(a.pingEvery/2, time.Second))
		err := c.Ping(pctx)
		cancel()
		if err != nil && ctx.Err() == nil {
			a.log.Warn("slack: socket mode: ping failed; reconnecting", "err", err)
			c.CloseNow()
			return
		}
	}
}

// checkSocketURL accepts the URL apps.connections.open returned: wss, or
// ws only to the API's own host (a local test or proxy).
func (a *Adapter) checkSocketURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return nil, errors.New("slack: apps.connections.open: the answer has no usable url")
	}
	switch {
	case u.Scheme == "wss":
	case u.Scheme == "ws" && u.Host == a.base.Host:
	default:
		return nil, fmt.Errorf("slack: apps.connections.open: refusing Socket Mode URL with scheme %q on %s; want wss", u.Scheme, u.Host)
	}
	return u, nil
}
