// Package channels connects chat platforms to the agent. Each platform has
// an adapter in its own subpackage (telegram, discord, slack, signal,
// whatsapp) that turns the platform's updates into Messages and sends
// replies; the Router in this package applies access control
// (internal/access), routes each message to its session and sends the
// agent's reply back to the same conversation.
//
// An adapter never decides who may talk to the agent: it reports every
// message it sees, with the platform's own ids, and the Router decides.
package channels

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Chat types of a Message.
const (
	ChatDirect  = "direct"  // one-to-one with the bot
	ChatGroup   = "group"   // a group chat (Telegram group, Signal group, Slack/Discord private group DM)
	ChatChannel = "channel" // a broadcast channel or a server channel (Discord guild channel, Slack channel)
)

// Message is one inbound message, normalised across platforms.
type Message struct {
	Channel string // "telegram", "discord", "slack", "signal", "whatsapp"
	Account string // the config account id ("default" for the top-level credentials)
	// ID is the platform's id of this message (or update), unique within
	// the account; the Router drops a Message whose ID it has already seen.
	ID string

	SenderID       string // the platform's stable id of the sender (never a display name)
	SenderUsername string // @username where the platform has one
	SenderName     string // display name; informational only
	SenderIsBot    bool   // the sender is a bot (the Router ignores bots)

	ChatID   string // where to reply: the DM chat, group or channel id
	ChatType string // ChatDirect, ChatGroup or ChatChannel
	ThreadID string // Slack thread ts, Discord thread id
	TopicID  string // Telegram forum topic (message_thread_id)
	GuildID  string // Discord guild

	Text        string
	MentionsBot bool // the platform says the bot was @mentioned
	ReplyToBot  bool // the message replies to one of the bot's messages
	ReplyTo     *Quote
	Forwarded   bool // forwarded from someone else: the text is not the sender's own
	Attachments []Attachment
	Time        time.Time
	// Action is set for a button press (approvals.go); such a message is
	// handled by the Router and never becomes a turn or a journal row.
	Action *Action `json:"-"`
}

// Quote is the message a Message replies to.
type Quote struct {
	ID       string
	SenderID string
	Text     string
}

// Attachment is metadata of a file sent with a message; contents are not
// downloaded.
type Attachment struct {
	Kind string // photo, video, audio, voice, document, sticker, file
	Name string
	MIME string
	Size int64
}

// Target is where a reply goes.
type Target struct {
	ChatID   string
	ChatType string // as in Message; some platforms need it (Signal groups)
	ThreadID string
	TopicID  string
	ReplyTo  string // message id to reply to, where the platform supports it
}

// TargetOf is the target that answers m in its conversation.
func TargetOf(m Message) Target {
	return Target{ChatID: m.ChatID, ChatType: m.ChatType, ThreadID: m.ThreadID, TopicID: m.TopicID}
}

// Delivery is what Send did.
type Delivery struct {
	MessageIDs []string // platform ids of the messages sent, one per chunk
}

// Handler receives inbound messages, called by adapters from their receive
// loop, one message at a time in the order the platform delivered them. It
// returns nil once the message is durably stored (or deliberately dropped:
// a duplicate, a bot, a refused sender); only then may the adapter tell the
// platform the message was received (advance a Telegram offset, ack a Slack
// envelope, answer a webhook 200). A non-nil error means nothing was
// stored: the adapter must not acknowledge the message, so the platform
// delivers it again (invariant 14). It takes about one fsync.
type Handler func(ctx context.Context, m Message) error

// BatchHandler handles messages received together (one getUpdates answer)
// in order, as a Handler handles each, with errs[i] for ms[i]; the Router's
// HandleBatch stores them in one durable commit. An adapter acknowledges
// the prefix of ms whose errors are nil.
type BatchHandler func(ctx context.Context, ms []Message) (errs []error)

// Adapter is one connected account of one platform.
type Adapter interface {
	// Channel is the platform name, e.g. "telegram"; Account the config
	// account id.
	Channel() string
	Account() string
	// Start connects and begins delivering messages to the handler given
	// when the adapter was made. It returns once the adapter runs in the
	// background; connection failures after that are retried with
	// jittered backoff and reported in Status. An error means the adapter
	// cannot run at all (bad configuration, webhook without a secret).
	Start(ctx context.Context) error
	// Stop disconnects and waits for the background work to end.
	Stop(ctx context.Context) error
	// Send delivers text to target, split into chunks the platform
	// accepts, retrying on the platform's rate-limit answers.
	Send(ctx context.Context, target Target, text string) (Delivery, error)
	// Typing shows a typing indicator where the platform has one.
	Typing(ctx context.Context, target Target) error
	// Status reports the connection state and counters.
	Status() Status
}

// Connection states in Status.
const (
	StateStopped      = "stopped"
	StateConnecting   = "connecting"
	StateConnected    = "connected"
	StateReconnecting = "reconnecting"
	StateError        = "error" // cannot run (bad credentials); not retried
)

// Status is an adapter's state as channels.status reports it.
type Status struct {
	Channel     string    `json:"channel"`
	Account     string    `json:"account"`
	State       string    `json:"state"`
	Mode        string    `json:"mode,omitempty"` // polling, webhook, socket, http, …
	BotID       string    `json:"botId,omitempty"`
	BotName     string    `json:"botName,omitempty"`
	LastError   string    `json:"lastError,omitempty"`
	LastErrorAt time.Time `json:"lastErrorAt,omitzero"`
	ConnectedAt time.Time `json:"connectedAt,omitzero"`
	Received    int64     `json:"received"`
	Sent        int64     `json:"sent"`
	SendErrors  int64     `json:"sendErrors"`
	Reconnects  int64     `json:"reconnects"`
}

// RateLimitError is a platform's "slow down" answer (Telegram's
// parameters.retry_after, an HTTP 429 with Retry-After, Discord's
// retry_after). Send retries after RetryAfter.
type RateLimitError struct {
	RetryAfter time.Duration
	Err        error
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("rate limited by the platform (retry after %s): %v", e.RetryAfter, e.Err)
}

func (e *RateLimitError) Unwrap() error { return e.Err }

// PermanentError marks a failure that retrying cannot fix (bad token, chat
// not found, message too long).
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent wraps err as a PermanentError (nil stays nil).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{err}
}

// IsPermanent reports whether err is marked permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}
