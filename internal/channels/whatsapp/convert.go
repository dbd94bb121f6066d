//go:build whatsapp

package whatsapp

import (
	"math"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/talonclaw/talon/internal/channels"
)

// isUserServer reports whether server addresses a person: a phone-number
// JID, a LID (WhatsApp's privacy id), or their hosted (business API) forms.
func isUserServer(server string) bool {
	switch server {
	case types.DefaultUserServer, types.HiddenUserServer, types.HostedServer, types.HostedLIDServer:
		return true
	}
	return false
}

// sameUser reports whether a and b are the same account, ignoring devices.
func sameUser(a, b types.JID) bool {
	return !a.IsEmpty() && !b.IsEmpty() && a.User == b.User && a.Server == b.Server
}

// isOwn reports whether jid is the linked account under either of its ids.
func isOwn(jid, own, ownLID types.JID) bool {
	return sameUser(jid, own) || sameUser(jid, ownLID)
}

// parseUser parses a JID found inside a message (mentions, quoted
// participant); garbage gives the empty JID.
func parseUser(s string) types.JID {
	if s == "" {
		return types.EmptyJID
	}
	j, err := types.ParseJID(s)
	if err != nil {
		return types.EmptyJID
	}
	return j.ToNonAD()
}

// senderID is the stable id of a sender: the phone-number JID where
// WhatsApp gives one (the sender itself or, under LID addressing, the
// alternative address the server adds), else the LID. Owners configure
// allowFrom with phone numbers, so the phone-number form is preferred.
func senderID(sender, alt types.JID) types.JID {
	sender, alt = sender.ToNonAD(), alt.ToNonAD()
	if sender.Server == types.HiddenUserServer && !alt.IsEmpty() && alt.Server == types.DefaultUserServer {
		return alt
	}
	return sender
}

// convert turns a whatsmeow message event into a channels.Message. It
// reports false for what the agent must not see: messages from the linked
// account itself (its phone or another linked device), status updates,
// newsletters, reactions, edits, revokes and other protocol messages, and
// anything with neither text nor an attachment. own and ownLID are the
// linked account's phone-number JID and LID (either may be empty).
func convert(own, ownLID types.JID, evt *events.Message) (channels.Message, bool) {
	if evt == nil || evt.Message == nil {
		return channels.Message{}, false
	}
	info := evt.Info
	if info.IsFromMe || info.ID == "" || info.Sender.IsEmpty() || info.Chat.IsEmpty() {
		return channels.Message{}, false
	}
	if !isUserServer(info.Sender.Server) && info.Sender.Server != types.BotServer {
		return channels.Message{}, false
	}
	if isOwn(info.Sender, own, ownLID) || isOwn(info.SenderAlt, own, ownLID) {
		return channels.Message{}, false
	}
	sender := senderID(info.Sender, info.SenderAlt)

	m := channels.Message{
		Channel:     "whatsapp",
		ID:          info.ID,
		SenderID:    sender.String(),
		SenderName:  info.PushName,
		SenderIsBot: info.Sender.IsBot(),
		Time:        info.Timestamp,
	}
	switch {
	case info.Chat.Server == types.GroupServer:
		m.ChatType = channels.ChatGroup
		m.ChatID = info.Chat.ToNonAD().String()
	case isUserServer(info.Chat.Server):
		m.ChatType = channels.ChatDirect
		m.ChatID = info.Chat.ToNonAD().String()
	case info.Chat.IsBroadcastList():
		// A message to one of the sender's broadcast lists shows up in the
		// direct chat with them; replies go there too.
		m.ChatType = channels.ChatDirect
		m.ChatID = info.Sender.ToNonAD().String()
	default: // status@broadcast, newsletters, anything new
		return channels.Message{}, false
	}

	msg := evt.Message
	if msg.ProtocolMessage != nil || msg.ReactionMessage != nil || msg.EncReactionMessage != nil ||
		msg.PollUpdateMessage != nil || msg.KeepInChatMessage != nil || msg.PinInChatMessage != nil || evt.IsEdit {
		return channels.Message{}, false
	}

	text, ctx, atts := content(msg)
	m.Text = text
	m.Attachments = atts
	if m.Text == "" && len(m.Attachments) == 0 {
		return channels.Message{}, false
	}
	if ctx != nil {
		for _, s := range ctx.GetMentionedJID() {
			if isOwn(parseUser(s), own, ownLID) {
				m.MentionsBot = true
				break
			}
		}
		m.Forwarded = ctx.GetIsForwarded()
		if id := ctx.GetStanzaID(); id != "" {
			author := parseUser(ctx.GetParticipant())
			q := &channels.Quote{ID: id, Text: quotedText(ctx.GetQuotedMessage())}
			if !author.IsEmpty() {
				q.SenderID = author.String()
			}
			m.ReplyTo = q
			m.ReplyToBot = isOwn(author, own, ownLID)
		}
	}
	return m, true
}

// content is a message's text, the context info that carries mentions,
// quotes and the forwarded flag, and attachment metadata.
func content(msg *waE2E.Message) (string, *waE2E.ContextInfo, []channels.Attachment) {
	var atts []channels.Attachment
	att := func(kind, name, mime string, size uint64) {
		atts = append(atts, channels.Attachment{Kind: kind, Name: name, MIME: mime, Size: clampSize(size)})
	}
	switch {
	case msg.GetConversation() != "":
		// Plain text has no context info of its own.
		return msg.GetConversation(), nil, nil
	case msg.ExtendedTextMessage != nil:
		x := msg.ExtendedTextMessage
		return x.GetText(), x.GetContextInfo(), nil
	case msg.ImageMessage != nil:
		x := msg.ImageMessage
		att("photo", "", x.GetMimetype(), x.GetFileLength())
		return x.GetCaption(), x.GetContextInfo(), atts
	case msg.VideoMessage != nil:
		x := msg.VideoMessage
		att("video", "", x.GetMimetype(), x.GetFileLength())
		return x.GetCaption(), x.GetContextInfo(), atts
	case msg.PtvMessage != nil: // a round video note
		x := msg.PtvMessage
		att("video", "", x.GetMimetype(), x.GetFileLength())
		return x.GetCaption(), x.GetContextInfo(), atts
	case msg.AudioMessage != nil:
		x := msg.AudioMessage
		kind := "audio"
		if x.GetPTT() {
			kind = "voice"
		}
		att(kind, "", x.GetMimetype(), x.GetFileLength())
		return "", x.GetContextInfo(), atts
	case msg.DocumentMessage != nil:
		x := msg.DocumentMessage
		name := x.GetFileName()
		if name == "" {
			name = x.GetTitle()
		}
		att("document", name, x.GetMimetype(), x.GetFileLength())
		return x.GetCaption(), x.GetContextInfo(), atts
	case msg.StickerMessage != nil:
		x := msg.StickerMessage
		att("sticker", "", x.GetMimetype(), x.GetFileLength())
		return "", x.GetContextInfo(), atts
	}
	return "", nil, nil
}

// quotedText is the text of a quoted message, or its caption.
func quotedText(q *waE2E.Message) string {
	if q == nil {
		return ""
	}
	text, _, _ := content(q)
	return text
}

func clampSize(n uint64) int64 {
	if n > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(n)
}
