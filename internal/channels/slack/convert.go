package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack/slackevents"

	"github.com/talonclaw/talon/internal/channels"
)

// callback is an Events API event_callback: the body Slack posts in http
// mode and the payload of an events_api envelope in Socket Mode.
type callback = slackevents.EventsAPICallbackEvent

// innerEvent is the part of a message or app_mention event the adapter
// reads (https://docs.slack.dev/reference/events/message).
type innerEvent struct {
	Type         string      `json:"type"`
	Subtype      string      `json:"subtype"`
	User         string      `json:"user"`
	BotID        string      `json:"bot_id"`
	Text         string      `json:"text"`
	TS           string      `json:"ts"`
	ThreadTS     string      `json:"thread_ts"`
	ParentUserID string      `json:"parent_user_id"`
	Channel      string      `json:"channel"`
	ChannelType  string      `json:"channel_type"`
	Files        []slackFile `json:"files"`
}

type slackFile struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Title    string `json:"title"`
	Mimetype string `json:"mimetype"`
	Filetype string `json:"filetype"`
	Size     int64  `json:"size"`
}

// messageSubtypes are the subtypes that are someone writing to the bot;
// the rest (message_changed, message_deleted, channel_join, bot_message, …)
// are dropped.
var messageSubtypes = map[string]bool{"": true, "file_share": true, "thread_broadcast": true, "me_message": true}

// parseCallback decodes an event_callback body.
func parseCallback(raw []byte) (*callback, error) {
	var cb callback
	if err := json.Unmarshal(raw, &cb); err != nil {
		return nil, fmt.Errorf("slack: malformed event: %w", err)
	}
	if cb.Type != slackevents.CallbackEvent {
		return nil, fmt.Errorf("slack: event type %q is not %s", cb.Type, slackevents.CallbackEvent)
	}
	return &cb, nil
}

// convert turns the inner event of cb into a Message; ok is false for
// events that carry nothing for the agent (other event types, edits, the
// bot's own messages).
func convert(cb *callback, account, botUser string) (m channels.Message, ok bool, err error) {
	if cb.InnerEvent == nil {
		return m, false, errors.New("slack: event_callback without an event")
	}
	var ev innerEvent
	if err := json.Unmarshal(*cb.InnerEvent, &ev); err != nil {
		return m, false, fmt.Errorf("slack: malformed %s event: %w", cb.EventID, err)
	}
	switch ev.Type {
	case "message", "app_mention":
	default:
		return m, false, nil
	}
	if !messageSubtypes[ev.Subtype] || ev.User == "" || ev.Channel == "" || ev.TS == "" {
		return m, false, nil
	}
	if botUser != "" && ev.User == botUser {
		return m, false, nil
	}
	m = channels.Message{
		Channel:     "slack",
		Account:     account,
		ID:          ev.Channel + ":" + ev.TS,
		SenderID:    ev.User,
		SenderIsBot: ev.BotID != "",
		ChatID:      ev.Channel,
		ChatType:    chatType(ev.ChannelType, ev.Channel),
		ThreadID:    ev.ThreadTS,
		Text:        unescapeText(ev.Text),
		MentionsBot: ev.Type == "app_mention" || mentions(ev.Text, botUser),
		Time:        tsTime(ev.TS),
	}
	if ev.ThreadTS != "" && ev.ThreadTS != ev.TS {
		m.ReplyTo = &channels.Quote{ID: ev.Channel + ":" + ev.ThreadTS, SenderID: ev.ParentUserID}
		m.ReplyToBot = botUser != "" && ev.ParentUserID == botUser
	}
	for _, f := range ev.Files {
		name := f.Name
		if name == "" {
			name = f.Title
		}
		m.Attachments = append(m.Attachments, channels.Attachment{
			Kind: fileKind(f.Mimetype), Name: name, MIME: f.Mimetype, Size: f.Size,
		})
	}
	return m, true, nil
}

// chatType maps Slack's channel_type; app_mention events have none, so the
// channel id's prefix decides there (D: a DM).
func chatType(channelType, channel string) string {
	switch channelType {
	case slackevents.ChannelTypeIM:
		return channels.ChatDirect
	case slackevents.ChannelTypeMPIM:
		return channels.ChatGroup
	case slackevents.ChannelTypeChannel, slackevents.ChannelTypeGroup:
		return channels.ChatChannel
	}
	if strings.HasPrefix(channel, "D") {
		return channels.ChatDirect
	}
	return channels.ChatChannel
}

// mentions reports whether Slack's mention markup for user is in text:
// "<@U123>" or "<@U123|name>".
func mentions(text, user string) bool {
	if user == "" {
		return false
	}
	return strings.Contains(text, "<@"+user+">") || strings.Contains(text, "<@"+user+"|")
}

func unescapeText(s string) string {
	if !strings.Contains(s, "&") {
		return s
	}
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func fileKind(mime string) string {
	switch {
	case strings.HasPrefix(mime, "image/"):
		return "photo"
	case strings.HasPrefix(mime, "video/"):
		return "video"
	case strings.HasPrefix(mime, "audio/"):
		return "audio"
	}
	return "file"
}

// tsTime reads a Slack ts ("1712345678.000200"); zero if it is not one.
func tsTime(ts string) time.Time {
	sec, frac, _ := strings.Cut(ts, ".")
	s, err := strconv.ParseInt(sec, 10, 64)
	if err != nil || s < 0 || s > 1<<40 {
		return time.Time{}
	}
	var us int64
	if len(frac) > 0 && len(frac) <= 6 {
		if n, err := strconv.ParseInt(frac+strings.Repeat("0", 6-len(frac)), 10, 64); err == nil && n >= 0 {
			us = n
		}
	}
	return time.Unix(s, us*1000)
}

// deliver handles one event_callback: each event id once, each message
// once (Slack sends a mention in a channel the bot reads as both a message
// and an app_mention event, with different event ids), in order. An error
// is either a malformed event (dropped) or a *notStoredError: the handler
// did not store the message, so it must not be acknowledged (invariant
// 14); its ids are forgotten so Slack's redelivery is handled.
func (a *Adapter) deliver(ctx context.Context, cb *callback) error {
	now := time.Now()
	if cb.EventID != "" && a.seen.Seen("event:"+cb.EventID, now) {
		return nil
	}
	m, ok, err := convert(cb, a.account, a.botUser())
	if err != nil || !ok {
		return err
	}
	if a.seen.Seen("msg:"+m.ID, now) {
		return nil
	}
	a.handleMu.Lock()
	defer a.handleMu.Unlock()
	a.tracker.Received()
	if err := a.handler(a.handlerContext(ctx), m); err != nil {
		a.seen.Forget("msg:" + m.ID)
		if cb.EventID != "" {
			a.seen.Forget("event:" + cb.EventID)
		}
		return &notStoredError{err: err}
	}
	return nil
}

// notStoredError is a message the handler could not store.
type notStoredError struct{ err error }

func (e *notStoredError) Error() string { return "slack: message not stored: " + e.err.Error() }
func (e *notStoredError) Unwrap() error { return e.err }
