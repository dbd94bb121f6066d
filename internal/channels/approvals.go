package channels

// Approvals in chat. The Router is an approvals.Reach: a request the policy
// escalated is sent to the owner's direct chat on every channel where
// commands.ownerAllowFrom names them — the rendered plan, the reason, the
// id and how to answer, with buttons where the adapter has them — and
// whoever it reached is told how it ended. Answers come back out of band:
// "/approve ID allow-once|allow-always|deny" and button presses are taken
// in HandleBatch before the journal and the session queues, so an answer
// never waits behind the turn it unblocks, and never reaches a model.
//
// Only the owner may answer (access.IsOwner: the platform's own sender id,
// listed in commands.ownerAllowFrom). Anyone else's answer changes nothing,
// is refused and audited; an admitted sender is told so, a stranger gets
// silence, and both count against their rate limits first, so refusals
// cannot flood the audit log. The bot's own messages (SenderIsBot) are
// dropped, so a hijacked model cannot answer by having the bot post
// "/approve ...".

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/talonclaw/talon/internal/approvals"
)

// Action is a press of a button the bot sent (a Telegram callback_query, a
// Discord component interaction, a Slack block_actions payload). An
// inbound Message with an Action is handled by the Router itself and never
// becomes a turn.
type Action struct {
	// ID identifies the press for the adapter's answer (callback query
	// id, interaction id).
	ID string
	// Token is what the adapter needs besides ID to answer (Discord's
	// interaction token, Slack's response URL); never logged.
	Token string
	// Data is the button's data as the bot set it (ButtonData).
	Data string
	// MessageID is the platform id of the message holding the button.
	MessageID string
}

// Button is one button under a message.
type Button struct {
	Label string
	Data  string // what comes back in Action.Data when it is pressed
	Style string // "primary", "danger" or "" (where the platform has styles)
}

// ButtonSender is an adapter that can send a message with buttons.
type ButtonSender interface {
	SendButtons(ctx context.Context, target Target, text string, buttons []Button) (Delivery, error)
}

// ActionAnswerer is an adapter whose platform wants each button press
// answered (Telegram's answerCallbackQuery, Discord's interaction
// response); text is a short note for the presser.
type ActionAnswerer interface {
	AnswerAction(ctx context.Context, a Action, text string) error
}

// ButtonCloser is an adapter that can take the buttons off a message it
// sent with SendButtons to target (messageID as SendButtons reported it,
// the last of its Delivery; text what that message says), so an answered
// request shows no buttons to press.
type ButtonCloser interface {
	CloseButtons(ctx context.Context, target Target, messageID, text string) error
}

// DirectOpener is an adapter whose direct chat with a user has an id of
// its own (a Discord DM channel, a Slack IM), which it opens or finds.
// Without it a user's direct chat is their user id (Telegram, Signal).
type DirectOpener interface {
	OpenDirect(ctx context.Context, userID string) (Target, error)
}

// ApprovalPrefix starts the data of every approval button:
// "approve:<id>:<decision>" (at most 33 bytes; Telegram allows 64).
const ApprovalPrefix = "approve:"

// ApprovalButtons are the buttons of one request.
func ApprovalButtons(id string) []Button {
	return []Button{
		{Label: "Allow once", Data: ApprovalPrefix + id + ":" + approvals.AllowOnce, Style: "primary"},
		{Label: "Allow always", Data: ApprovalPrefix + id + ":" + approvals.AllowAlways},
		{Label: "Deny", Data: ApprovalPrefix + id + ":" + approvals.Deny, Style: "danger"},
	}
}

// ApprovalText is the message that asks the owner.
func ApprovalText(p approvals.Pending, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Approval needed (id %s)\n%s\n", p.ID, p.Plan)
	if p.Reason != "" {
		fmt.Fprintf(&b, "Why: %s\n", approvals.Visible(p.Reason))
	}
	if p.SessionKey != "" {
		fmt.Fprintf(&b, "Session: %s\n", approvals.Visible(p.SessionKey))
	}
	fmt.Fprintf(&b, "Answer: /approve %s allow-once | allow-always | deny", p.ID)
	left := p.ExpiresAt.Sub(now).Round(time.Second)
	fb := p.Fallback
	if fb == "" {
		fb = "deny"
	}
	what := "it will not run"
	if fb == "full" {
		what = "it will run anyway"
	}
	if left > 0 {
		fmt.Fprintf(&b, "\nWithout an answer within %s, tools.exec.askFallback = %s applies: %s.", left, fb, what)
	}
	return b.String()
}
