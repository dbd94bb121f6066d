package discord

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/channels"
)

// sendPolicy bounds retries of one chunk.
var sendPolicy = channels.RetryPolicy{Attempts: 5, Base: 500 * time.Millisecond, Max: 60 * time.Second}

// apiError is a non-2xx answer of the REST API.
type apiError struct {
	Status  int
	Code    int    // Discord's JSON error code, e.g. 50013
	Message string // Discord's JSON message, e.g. "Missing Permissions"
}

func (e *apiError) Error() string {
	msg := fmt.Sprintf("HTTP %d", e.Status)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Code != 0 {
		msg += fmt.Sprintf(" (code %d)", e.Code)
	}
	if e.Status == http.StatusUnauthorized {
		msg += " (the bot token was refused; check channels.discord.token)"
	}
	return msg
}

// do makes one REST call: in (if not nil) as the JSON body, the 2xx answer
// decoded into out (if not nil). A 429 becomes a *channels.RateLimitError,
// any other 4xx a permanent *apiError, 5xx and transport failures stay
// retryable.
func (a *Adapter) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, a.base.String()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bot "+a.token)
	req.Header.Set("User-Agent", "DiscordBot (https://github.com/talonclaw/talon, 1)")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.client.Do(req)
	if err != nil {
		// url.Error names the URL, which holds no secret (the token is
		// in a header); redact anyway in case a base URL was odd.
		return a.scrubErr(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		if out == nil || resp.StatusCode == http.StatusNoContent {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("HTTP %d with a body that is not the expected JSON: %v", resp.StatusCode, err)
		}
		return nil
	}
	var eb struct {
		Message    string   `json:"message"`
		Code       int      `json:"code"`
		RetryAfter *float64 `json:"retry_after"`
		Global     bool     `json:"global"`
	}
	_ = json.Unmarshal(data, &eb) // a proxy's HTML error page has none of it
	ae := &apiError{Status: resp.StatusCode, Code: eb.Code, Message: clip(eb.Message, 200)}
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return &channels.RateLimitError{RetryAfter: retryAfter(eb.RetryAfter, resp.Header), Err: ae}
	case resp.StatusCode/100 == 4:
		return channels.Permanent(ae)
	default:
		return ae
	}
}

// retryAfter is the delay a 429 asks for: the JSON retry_after (seconds,
// fractional), else the Retry-After header (seconds), else
// X-RateLimit-Reset-After, else one second.
func retryAfter(js *float64, h http.Header) time.Duration {
	secs := func(f float64) (time.Duration, bool) {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
			return 0, false
		}
		f = min(f, 24*3600) // channels.Retry gives up on absurd waits
		return time.Duration(math.Ceil(f * float64(time.Second))), true
	}
	if js != nil {
		if d, ok := secs(*js); ok {
			return d
		}
	}
	for _, k := range []string{"Retry-After", "X-RateLimit-Reset-After"} {
		if v := strings.TrimSpace(h.Get(k)); v != "" {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				if d, ok := secs(f); ok {
					return d
				}
			}
		}
	}
	return time.Second
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}

// snowflake reports whether id looks like a Discord id: the REST path is
// built from it.
func snowflake(id string) bool {
	if id == "" || len(id) > 20 {
		return false
	}
	for _, c := range id {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// destination is the channel a reply to t is posted in: the thread when
// there is one (a thread is a channel of its own in Discord).
func destination(t channels.Target) (string, error) {
	id := t.ChatID
	if t.ThreadID != "" {
		id = t.ThreadID
	}
	if !snowflake(id) {
		return "", channels.Permanent(fmt.Errorf("discord: %q is not a Discord channel id", clip(id, 40)))
	}
	if t.ReplyTo != "" && !snowflake(t.ReplyTo) {
		return "", channels.Permanent(fmt.Errorf("discord: reply-to %q is not a Discord message id", clip(t.ReplyTo, 40)))
	}
	return id, nil
}

// outMessage is the body of POST /channels/{id}/messages.
type outMessage struct {
	Content         string          `json:"content"`
	AllowedMentions allowedMentions `json:"allowed_mentions"`
	Reference       *messageRefOut  `json:"message_reference,omitempty"`
}

// allowedMentions with an empty Parse and no ids: nothing the text says
// pings anyone, not @everyone, @here, a role, a user, nor the replied-to
// author.
type allowedMentions struct {
	Parse       []string `json:"parse"`
	RepliedUser bool     `json:"replied_user"`
}

type messageRefOut struct {
	MessageID       string `json:"message_id"`
	FailIfNotExists bool   `json:"fail_if_not_exists"`
}

// Send posts text to target in chunks of at most channels.DiscordMaxLen
// characters; the first chunk replies to target.ReplyTo when set. Nothing
// in the text can ping anyone (allowed_mentions parse []).
func (a *Adapter) Send(ctx context.Context, target channels.Target, text string) (channels.Delivery, error) {
	var d channels.Delivery
	ch, err := destination(target)
	if err != nil {
		a.tracker.SendFailed(err)
		return d, err
	}
	chunks := channels.Chunk(text, channels.DiscordMaxLen, channels.Runes)
	if len(chunks) == 0 {
		return d, channels.Permanent(errors.New("discord: nothing to send: the text is empty"))
	}
	for i, c := range chunks {
		body := outMessage{Content: c, AllowedMentions: allowedMentions{Parse: []string{}}}
		if i == 0 && target.ReplyTo != "" {
			body.Reference = &messageRefOut{MessageID: target.ReplyTo}
		}
		var got struct {
			ID string `json:"id"`
		}
		err := channels.Retry(ctx, sendPolicy, func(ctx context.Context) error {
			return a.do(ctx, http.MethodPost, "/channels/"+ch+"/messages", body, &got)
		})
		if err != nil {
			err = a.scrubErr(fmt.Errorf("discord: send to channel %s (part %d of %d): %w", ch, i+1, len(chunks), err))
			a.tracker.SendFailed(err)
			return d, err
		}
		a.tracker.Sent()
		d.MessageIDs = append(d.MessageIDs, got.ID)
	}
	return d, nil
}

// Typing shows "bot is typing…" in target's channel (for about ten
// seconds, or until the bot sends).
func (a *Adapter) Typing(ctx context.Context, target channels.Target) error {
	ch, err := destination(channels.Target{ChatID: target.ChatID, ThreadID: target.ThreadID})
	if err != nil {
		return err
	}
	if err := a.do(ctx, http.MethodPost, "/channels/"+ch+"/typing", nil, nil); err != nil {
		return a.scrubErr(fmt.Errorf("discord: typing in channel %s: %w", ch, err))
	}
	return nil
}
