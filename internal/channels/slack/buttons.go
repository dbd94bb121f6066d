package slack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/channels"
)

// Approval requests carry Block Kit buttons: a plain_text section (shown
// exactly as written: no mrkdwn, no mentions, no links) and an actions
// block. A press arrives over Socket Mode as an "interactive" envelope
// holding a block_actions payload; it becomes a Message with an Action
// for the Router and is acknowledged only once the Router handled it.
// In http mode the same payload comes, signed like events, as a
// form-encoded POST (payload=...) to the Interactivity Request URL, which
// is the events URL; it is answered 200 only once handled. Slack needs no
// answer to a press beyond that, so the Router answers in the chat.
//
// Typed answers: Slack's client takes any message starting with "/" as a
// slash command, so "/approve ID decision" reaches the app only as the
// slash command /approve (registered in the app's settings); its
// slash_commands envelope (or, in http mode, its form-encoded request) is
// handed over as the text it stands for.

var _ channels.ButtonSender = (*Adapter)(nil)

// sectionMax is Slack's limit on a section's text.
const sectionMax = 3000

type textObject struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type block struct {
	Type     string        `json:"type"`
	BlockID  string        `json:"block_id,omitempty"`
	Text     *textObject   `json:"text,omitempty"`
	Elements []blockButton `json:"elements,omitempty"`
}

type blockButton struct {
	Type     string     `json:"type"`
	Text     textObject `json:"text"`
	ActionID string     `json:"action_id"`
	Value    string     `json:"value"`
	Style    string     `json:"style,omitempty"`
}

// postBlocks is chat.postMessage with blocks; text is the notification
// fallback.
type postBlocks struct {
	postMessage
	Blocks []block `json:"blocks"`
}

// SendButtons implements channels.ButtonSender.
func (a *Adapter) SendButtons(ctx context.Context, target channels.Target, text string, buttons []channels.Button) (channels.Delivery, error) {
	var d channels.Delivery
	if target.ChatID == "" {
		return d, channels.Permanent(errors.New("slack: send: no channel id in the target"))
	}
	chunks := channels.Chunk(text, sectionMax, channels.Runes)
	if len(chunks) == 0 {
		return d, channels.Permanent(errors.New("slack: send: the text is empty"))
	}
	if len(chunks) > 1 {
		var err error
		if d, err = a.Send(ctx, target, strings.Join(chunks[:len(chunks)-1], "")); err != nil {
			return d, err
		}
	}
	last := chunks[len(chunks)-1]
	actions := block{Type: "actions", BlockID: "talon"}
	for _, b := range buttons {
		style := b.Style
		if style != "primary" && style != "danger" {
			style = ""
		}
		actions.Elements = append(actions.Elements, blockButton{Type: "button", Text: textObject{"plain_text", b.Label}, ActionID: b.Data, Value: b.Data, Style: style})
	}
	body := postBlocks{
		postMessage: postMessage{Channel: target.ChatID, Text: escapeText(last), ThreadTS: target.ThreadID},
		Blocks:      []block{{Type: "section", Text: &textObject{"plain_text", last}}, actions},
	}
	err := a.post(ctx, body, target.ChatID, &d)
	return d, err
}

// blockActions is the part of a block_actions payload the adapter reads.
type blockActions struct {
	Type string `json:"type"`
	User struct {
		ID       string `json:"id"`
		Username string `json:"username"`
		Name     string `json:"name"`
	} `json:"user"`
	Channel *struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
		ThreadTS  string `json:"thread_ts"`
	} `json:"container"`
	TriggerID string `json:"trigger_id"`
	Actions   []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
		ActionTS string `json:"action_ts"`
	} `json:"actions"`
}

// slashCommand is the part of a slash command request the adapter reads.
type slashCommand struct {
	Command   string `json:"command"`
	Text      string `json:"text"`
	UserID    string `json:"user_id"`
	UserName  string `json:"user_name"`
	ChannelID string `json:"channel_id"`
	TriggerID string `json:"trigger_id"`
}

// deliverSlash hands "/approve …" to the handler as the text message it
// stands for (Slack's client takes any text starting with "/" as a slash
// command, so the app registers /approve for the owner to answer with);
// other commands are ignored.
func (a *Adapter) deliverSlash(ctx context.Context, sc slashCommand) error {
	if sc.Command != "/approve" || sc.UserID == "" || sc.ChannelID == "" || sc.TriggerID == "" {
		return nil
	}
	m := channels.Message{
		Channel:        "slack",
		Account:        a.account,
		ID:             "slash:" + sc.TriggerID,
		SenderID:       sc.UserID,
		SenderUsername: sc.UserName,
		SenderIsBot:    sc.UserID == a.botUser(),
		ChatID:         sc.ChannelID,
		ChatType:       channels.ChatChannel,
		Text:           "/approve " + sc.Text,
		Time:           time.Now().UTC(),
	}
	if strings.HasPrefix(sc.ChannelID, "D") {
		m.ChatType = channels.ChatDirect
	}
	if a.seen.Seen("msg:"+m.ID, time.Now()) {
		return nil
	}
	a.handleMu.Lock()
	defer a.handleMu.Unlock()
	a.tracker.Received()
	if err := a.handler(a.handlerContext(ctx), m); err != nil {
		a.seen.Forget("msg:" + m.ID)
		return &notStoredError{err: err}
	}
	return nil
}

// serveInteractive handles an authenticated form-encoded request: an
// interactivity payload (payload=…) or a slash command (command=…).
func (a *Adapter) serveInteractive(ctx context.Context, w http.ResponseWriter, body []byte) {
	vals, err := url.ParseQuery(string(body))
	payload := vals.Get("payload")
	if err == nil && payload == "" && vals.Get("command") != "" {
		err = a.deliverSlash(ctx, slashCommand{Command: vals.Get("command"), Text: vals.Get("text"), UserID: vals.Get("user_id"),
			UserName: vals.Get("user_name"), ChannelID: vals.Get("channel_id"), TriggerID: vals.Get("trigger_id")})
		var ns *notStoredError
		if errors.As(err, &ns) {
			http.Error(w, "not stored, retry later", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	if err != nil || payload == "" {
		http.Error(w, "malformed interactivity request", http.StatusBadRequest)
		return
	}
	if err := a.deliverActions(ctx, json.RawMessage(payload)); err != nil {
		var ns *notStoredError
		if errors.As(err, &ns) {
			http.Error(w, "not stored, retry later", http.StatusInternalServerError)
			return
		}
		a.log.Warn("slack: interactivity: bad payload", "err", err)
		http.Error(w, "malformed payload", http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// deliverActions hands each action of an interactive payload to the
// handler; an error means one was not handled and the envelope must not
// be acknowledged. Other interactive payloads are ignored.
func (a *Adapter) deliverActions(ctx context.Context, payload json.RawMessage) error {
	var p blockActions
	if err := json.Unmarshal(payload, &p); err != nil {
		return fmt.Errorf("slack: interactive payload: %w", err)
	}
	if p.Type != "block_actions" || p.User.ID == "" {
		return nil
	}
	ch := p.Container.ChannelID
	if p.Channel != nil && p.Channel.ID != "" {
		ch = p.Channel.ID
	}
	if ch == "" {
		return nil
	}
	for i, act := range p.Actions {
		id := p.TriggerID + ":" + act.ActionTS + ":" + fmt.Sprint(i)
		m := channels.Message{
			Channel:        "slack",
			Account:        a.account,
			ID:             "action:" + id,
			SenderID:       p.User.ID,
			SenderUsername: p.User.Username,
			SenderName:     p.User.Name,
			SenderIsBot:    p.User.ID == a.botUser(),
			ChatID:         ch,
			ChatType:       channels.ChatChannel,
			ThreadID:       p.Container.ThreadTS,
			Time:           time.Now().UTC(),
			Action:         &channels.Action{ID: id, Data: act.Value, MessageID: ch + ":" + p.Container.MessageTS},
		}
		if strings.HasPrefix(ch, "D") {
			m.ChatType = channels.ChatDirect
		}
		now := time.Now()
		if a.seen.Seen("msg:"+m.ID, now) {
			continue
		}
		a.handleMu.Lock()
		a.tracker.Received()
		err := a.handler(a.handlerContext(ctx), m)
		a.handleMu.Unlock()
		if err != nil {
			a.seen.Forget("msg:" + m.ID)
			return &notStoredError{err: err}
		}
	}
	return nil
}

var _ channels.ButtonCloser = (*Adapter)(nil)

// CloseButtons implements channels.ButtonCloser with chat.update: the
// message keeps its section (text as SendButtons sent it) and loses its
// actions block. messageID is "<channel>:<ts>" as SendButtons reports it.
func (a *Adapter) CloseButtons(ctx context.Context, _ channels.Target, messageID, text string) error {
	ch, ts, ok := strings.Cut(messageID, ":")
	chunks := channels.Chunk(text, sectionMax, channels.Runes)
	if !ok || ch == "" || ts == "" || len(chunks) == 0 {
		return channels.Permanent(fmt.Errorf("slack: cannot edit %q", messageID))
	}
	last := chunks[len(chunks)-1]
	body := struct {
		Channel string  `json:"channel"`
		TS      string  `json:"ts"`
		Text    string  `json:"text"`
		Blocks  []block `json:"blocks"`
	}{ch, ts, escapeText(last), []block{{Type: "section", Text: &textObject{"plain_text", last}}}}
	return channels.Retry(ctx, a.retry, func(ctx context.Context) error {
		return a.call(ctx, "chat.update", a.cfg.BotToken, body, nil)
	})
}
