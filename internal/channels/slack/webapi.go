package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/secret"
)

// APIError is a Web API answer with "ok": false.
type APIError struct {
	Method string // e.g. "chat.postMessage"
	Code   string // Slack's error code, e.g. "channel_not_found"
	Needed string // the missing scope, for missing_scope
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("slack: %s: %s", e.Method, e.Code)
	if hint := e.hint(); hint != "" {
		msg += "; hint: " + hint
	}
	return msg
}

func (e *APIError) hint() string {
	switch e.Code {
	case "invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive":
		if e.Method == "apps.connections.open" {
			return "check channels.slack.appToken (an xapp- app-level token with connections:write)"
		}
		return "check channels.slack.botToken (the xoxb- bot token of an installed app)"
	case "not_allowed_token_type":
		if e.Method == "apps.connections.open" {
			return "channels.slack.appToken must be an app-level xapp- token"
		}
		return "channels.slack.botToken must be an xoxb- bot token"
	case "missing_scope":
		if e.Needed != "" {
			return "add the " + e.Needed + " scope to the app and reinstall it"
		}
		return "add the missing scope to the app and reinstall it"
	case "not_in_channel":
		return "invite the bot to the channel"
	case "channel_not_found":
		return "the bot cannot see this channel"
	}
	return ""
}

// authCodes are the error codes that mean the credentials are wrong: no
// point retrying soon.
var authCodes = map[string]bool{
	"invalid_auth": true, "not_authed": true, "token_revoked": true, "token_expired": true,
	"account_inactive": true, "not_allowed_token_type": true, "missing_scope": true,
	"no_permission": true, "team_access_not_granted": true,
}

// transientCodes are the ok:false answers worth retrying.
var transientCodes = map[string]bool{
	"internal_error": true, "fatal_error": true, "service_unavailable": true,
	"request_timeout": true, "team_added_to_org": true,
}

// isAuthError reports whether err says the credentials are bad.
func isAuthError(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return authCodes[ae.Code]
	}
	var se *statusError
	return errors.As(err, &se) && (se.code == http.StatusUnauthorized || se.code == http.StatusForbidden)
}

type statusError struct {
	method string
	code   int
}

func (e *statusError) Error() string {
	return fmt.Sprintf("slack: %s: HTTP %d %s", e.method, e.code, http.StatusText(e.code))
}

// call posts body (JSON; nil for none) to the Web API method with token as
// bearer, and decodes the answer into out. Rate limits come back as
// *channels.RateLimitError, answers that retrying cannot fix as
// channels.Permanent.
func (a *Adapter) call(ctx context.Context, method string, token secret.Secret, body, out any) error {
	var rd io.Reader = http.NoBody
	ctype := "application/x-www-form-urlencoded"
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return channels.Permanent(fmt.Errorf("slack: %s: %w", method, err))
		}
		rd = bytes.NewReader(b)
		ctype = "application/json; charset=utf-8"
	}
	u := a.base.JoinPath(method)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), rd)
	if err != nil {
		return channels.Permanent(fmt.Errorf("slack: %s: %w", method, err))
	}
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+token.Reveal())
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("slack: %s: %w", method, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode == http.StatusTooManyRequests {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return &channels.RateLimitError{
			RetryAfter: retryAfter(resp.Header.Get("Retry-After")),
			Err:        &statusError{method, resp.StatusCode},
		}
	}
	if resp.StatusCode/100 != 2 {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		err := &statusError{method, resp.StatusCode}
		if resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout {
			return err
		}
		return channels.Permanent(err)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("slack: %s: reading the answer: %w", method, err)
	}
	var head struct {
		OK     bool   `json:"ok"`
		Error  string `json:"error"`
		Needed string `json:"needed"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("slack: %s: the answer is not JSON: %w", method, err)
	}
	if !head.OK {
		ae := &APIError{Method: method, Code: head.Error, Needed: head.Needed}
		if ae.Code == "" {
			ae.Code = "unknown_error"
		}
		switch {
		case ae.Code == "ratelimited":
			return &channels.RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After")), Err: ae}
		case transientCodes[ae.Code]:
			return ae
		default:
			return channels.Permanent(ae)
		}
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("slack: %s: decoding the answer: %w", method, err)
		}
	}
	return nil
}

// retryAfter reads a Retry-After header (seconds, or an HTTP date); a
// missing or unreadable one means a second.
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if n, err := strconv.ParseFloat(h, 64); err == nil && n >= 0 && n < 1e6 {
		return time.Duration(n * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return time.Second
}

type authTestResult struct {
	UserID string `json:"user_id"`
	User   string `json:"user"`
	TeamID string `json:"team_id"`
	BotID  string `json:"bot_id"`
}

func (a *Adapter) authTest(ctx context.Context) (authTestResult, error) {
	var r authTestResult
	err := a.call(ctx, "auth.test", a.cfg.BotToken, nil, &r)
	if err == nil && r.UserID == "" {
		err = errors.New("slack: auth.test: the answer has no user_id")
	}
	return r, err
}

// postMessage is the body of chat.postMessage.
type postMessage struct {
	Channel  string `json:"channel"`
	Text     string `json:"text"`
	ThreadTS string `json:"thread_ts,omitempty"`
	// Plain text: no mrkdwn, and no link previews (Slack's unfurler would
	// fetch any URL the model writes, a way to carry data out).
	Mrkdwn      bool `json:"mrkdwn"`
	UnfurlLinks bool `json:"unfurl_links"`
	UnfurlMedia bool `json:"unfurl_media"`
}

// Send posts text to target.ChatID (a channel id, or a user id for a DM),
// in the thread target.ThreadID (or target.ReplyTo) when set, split into
// chunks of at most channels.SlackMaxLen characters.
func (a *Adapter) Send(ctx context.Context, target channels.Target, text string) (channels.Delivery, error) {
	var d channels.Delivery
	if target.ChatID == "" {
		return d, channels.Permanent(errors.New("slack: send: no channel id in the target"))
	}
	thread := target.ThreadID
	if thread == "" && target.ReplyTo != "" {
		thread = target.ReplyTo
		if _, ts, ok := strings.Cut(thread, ":"); ok {
			thread = ts
		}
	}
	size := func(s string) int { return channels.Runes(escapeText(s)) }
	for _, chunk := range channels.Chunk(text, channels.SlackMaxLen, size) {
		body := postMessage{Channel: target.ChatID, Text: escapeText(chunk), ThreadTS: thread}
		if err := a.post(ctx, body, target.ChatID, &d); err != nil {
			return d, err
		}
	}
	return d, nil
}

// post sends one chat.postMessage body (with retries), counts it, and adds
// the posted message's "channel:ts" to d.
func (a *Adapter) post(ctx context.Context, body any, channel string, d *channels.Delivery) error {
	var r struct {
		Channel string `json:"channel"`
		TS      string `json:"ts"`
	}
	err := channels.Retry(ctx, a.retry, func(ctx context.Context) error {
		return a.call(ctx, "chat.postMessage", a.cfg.BotToken, body, &r)
	})
	if err != nil {
		a.tracker.SendFailed(err)
		return err
	}
	a.tracker.Sent()
	if r.Channel != "" {
		channel = r.Channel
	}
	d.MessageIDs = append(d.MessageIDs, channel+":"+r.TS)
	return nil
}

// escapeText escapes the three characters Slack reads as markup in any
// text: without it "<!channel>" or "<@U123>" in a reply would notify people.
func escapeText(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
