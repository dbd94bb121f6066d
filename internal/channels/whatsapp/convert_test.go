//go:build whatsapp

package whatsapp

import (
	"reflect"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/talonclaw/talon/internal/channels"
)

var (
	ownPN   = types.NewJID("4915550001", types.DefaultUserServer)
	ownLID  = types.NewJID("100000000000001", types.HiddenUserServer)
	alicePN = types.NewJID("4915550002", types.DefaultUserServer)
	// aliceDev is Alice on her second device (an AD-JID).
	aliceDev = types.NewADJID("4915550002", 0, 3)
	aliceLID = types.NewJID("200000000000002", types.HiddenUserServer)
	group    = types.NewJID("120363000000000001", types.GroupServer)
	when     = time.Date(2025, 12, 1, 10, 0, 0, 0, time.UTC)
)

func evt(chat, sender types.JID, msg *waE2E.Message, edit ...func(*events.Message)) *events.Message {
	e := &events.Message{
		Info: types.MessageInfo{
			MessageSource: types.MessageSource{Chat: chat, Sender: sender, IsGroup: chat.Server == types.GroupServer},
			ID:            "3EB0ABCDEF",
			PushName:      "Alice",
			Timestamp:     when,
		},
		Message: msg,
	}
	for _, f := range edit {
		f(e)
	}
	return e
}

func text(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }

func ext(s string, ci *waE2E.ContextInfo) *waE2E.Message {
	return &waE2E.Message{ExtendedTextMessage: &waE2E.ExtendedTextMessage{Text: proto.String(s), ContextInfo: ci}}
}

func TestConvert(t *testing.T) {
	base := func(chatType, chatID string, f ...func(*channels.Message)) channels.Message {
		m := channels.Message{
			Channel: "whatsapp", ID: "3EB0ABCDEF", SenderID: alicePN.String(), SenderName: "Alice",
			ChatID: chatID, ChatType: chatType, Text: "hi", Time: when,
		}
		for _, g := range f {
			g(&m)
		}
		return m
	}
	dm := func(f ...func(*channels.Message)) channels.Message {
		return base(channels.ChatDirect, alicePN.String(), f...)
	}
	grp := func(f ...func(*channels.Message)) channels.Message {
		return base(channels.ChatGroup, group.String(), f...)
	}
	tests := []struct {
		name string
		in   *events.Message
		want channels.Message
		ok   bool
	}{
		{"dm conversation", evt(alicePN, alicePN, text("hi")), dm(), true},
		{"dm from a second device: sender without device", evt(alicePN, aliceDev, text("hi")), dm(), true},
		{"dm extended text", evt(alicePN, alicePN, ext("hi", nil)), dm(), true},
		{"dm with lid addressing and phone alt: phone number is the id",
			evt(aliceLID, aliceLID, text("hi"), func(e *events.Message) {
				e.Info.AddressingMode = types.AddressingModeLID
				e.Info.SenderAlt = alicePN
			}),
			base(channels.ChatDirect, aliceLID.String()), true},
		{"dm with lid only", evt(aliceLID, aliceLID, text("hi")),
			base(channels.ChatDirect, aliceLID.String(), func(m *channels.Message) { m.SenderID = aliceLID.String() }), true},
		{"group", evt(group, alicePN, text("hi")), grp(), true},
		{"group lid sender with alt", evt(group, aliceLID, text("hi"), func(e *events.Message) { e.Info.SenderAlt = alicePN }), grp(), true},
		{"group mention of own jid",
			evt(group, alicePN, ext("@4915550001 hi", &waE2E.ContextInfo{MentionedJID: []string{"4915550003@s.whatsapp.net", ownPN.String()}})),
			grp(func(m *channels.Message) { m.Text = "@4915550001 hi"; m.MentionsBot = true }), true},
		{"group mention of own lid",
			evt(group, alicePN, ext("hi", &waE2E.ContextInfo{MentionedJID: []string{ownLID.String()}})),
			grp(func(m *channels.Message) { m.MentionsBot = true }), true},
		{"group mention of own jid with a device part",
			evt(group, alicePN, ext("hi", &waE2E.ContextInfo{MentionedJID: []string{"4915550001:7@s.whatsapp.net"}})),
			grp(func(m *channels.Message) { m.MentionsBot = true }), true},
		{"group mention of someone else",
			evt(group, alicePN, ext("hi", &waE2E.ContextInfo{MentionedJID: []string{"4915550003@s.whatsapp.net", "garbage@@"}})),
			grp(), true},
		{"reply to the bot",
			evt(group, alicePN, ext("hi", &waE2E.ContextInfo{StanzaID: proto.String("Q1"), Participant: proto.String(ownPN.String()), QuotedMessage: text("earlier")})),
			grp(func(m *channels.Message) {
				m.ReplyToBot = true
				m.ReplyTo = &channels.Quote{ID: "Q1", SenderID: ownPN.String(), Text: "earlier"}
			}), true},
		{"reply to the bot's lid",
			evt(group, alicePN, ext("hi", &waE2E.ContextInfo{StanzaID: proto.String("Q1"), Participant: proto.String(ownLID.String())})),
			grp(func(m *channels.Message) {
				m.ReplyToBot = true
				m.ReplyTo = &channels.Quote{ID: "Q1", SenderID: ownLID.String()}
			}), true},
		{"reply to someone else quoting a caption",
			evt(alicePN, alicePN, ext("hi", &waE2E.ContextInfo{StanzaID: proto.String("Q2"), Participant: proto.String("4915550003@s.whatsapp.net"),
				QuotedMessage: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("look")}}})),
			dm(func(m *channels.Message) {
				m.ReplyTo = &channels.Quote{ID: "Q2", SenderID: "4915550003@s.whatsapp.net", Text: "look"}
			}), true},
		{"participant without stanza id is no reply",
			evt(alicePN, alicePN, ext("hi", &waE2E.ContextInfo{Participant: proto.String(ownPN.String())})), dm(), true},
		{"forwarded",
			evt(alicePN, alicePN, ext("hi", &waE2E.ContextInfo{IsForwarded: proto.Bool(true), ForwardingScore: proto.Uint32(2)})),
			dm(func(m *channels.Message) { m.Forwarded = true }), true},
		{"image with caption",
			evt(alicePN, alicePN, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("hi"), Mimetype: proto.String("image/jpeg"), FileLength: proto.Uint64(1234),
				ContextInfo: &waE2E.ContextInfo{IsForwarded: proto.Bool(true)}}}),
			dm(func(m *channels.Message) {
				m.Attachments = []channels.Attachment{{Kind: "photo", MIME: "image/jpeg", Size: 1234}}
				m.Forwarded = true
			}), true},
		{"video caption in a group mentioning the bot",
			evt(group, alicePN, &waE2E.Message{VideoMessage: &waE2E.VideoMessage{Caption: proto.String("hi"), Mimetype: proto.String("video/mp4"),
				ContextInfo: &waE2E.ContextInfo{MentionedJID: []string{ownPN.String()}}}}),
			grp(func(m *channels.Message) {
				m.Attachments = []channels.Attachment{{Kind: "video", MIME: "video/mp4"}}
				m.MentionsBot = true
			}), true},
		{"voice note",
			evt(alicePN, alicePN, &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true), Mimetype: proto.String("audio/ogg; codecs=opus"), FileLength: proto.Uint64(99)}}),
			dm(func(m *channels.Message) {
				m.Text = ""
				m.Attachments = []channels.Attachment{{Kind: "voice", MIME: "audio/ogg; codecs=opus", Size: 99}}
			}), true},
		{"audio file",
			evt(alicePN, alicePN, &waE2E.Message{AudioMessage: &waE2E.AudioMessage{Mimetype: proto.String("audio/mpeg")}}),
			dm(func(m *channels.Message) {
				m.Text = ""
				m.Attachments = []channels.Attachment{{Kind: "audio", MIME: "audio/mpeg"}}
			}), true},
		{"document with caption",
			evt(alicePN, alicePN, &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{FileName: proto.String("a.pdf"), Title: proto.String("A"), Caption: proto.String("hi"), Mimetype: proto.String("application/pdf"), FileLength: proto.Uint64(1 << 63)}}),
			dm(func(m *channels.Message) {
				m.Attachments = []channels.Attachment{{Kind: "document", Name: "a.pdf", MIME: "application/pdf", Size: 1<<63 - 1}}
			}), true},
		{"document without file name uses the title",
			evt(alicePN, alicePN, &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Title: proto.String("A")}}),
			dm(func(m *channels.Message) {
				m.Text = ""
				m.Attachments = []channels.Attachment{{Kind: "document", Name: "A"}}
			}), true},
		{"sticker",
			evt(alicePN, alicePN, &waE2E.Message{StickerMessage: &waE2E.StickerMessage{Mimetype: proto.String("image/webp")}}),
			dm(func(m *channels.Message) {
				m.Text = ""
				m.Attachments = []channels.Attachment{{Kind: "sticker", MIME: "image/webp"}}
			}), true},
		{"incoming broadcast list message replies in the dm",
			evt(types.NewJID("1234567890", types.BroadcastServer), aliceDev, text("hi")), dm(), true},
		{"meta ai in a group is passed on marked as a bot",
			evt(group, types.NewJID("867051314767696", types.BotServer), text("hi")),
			grp(func(m *channels.Message) { m.SenderID = "867051314767696@bot"; m.SenderIsBot = true }), true},
		{"a chat with meta ai is dropped",
			evt(types.NewJID("867051314767696", types.BotServer), types.NewJID("867051314767696", types.BotServer), text("hi")), channels.Message{}, false},

		{"from me", evt(alicePN, alicePN, text("hi"), func(e *events.Message) { e.Info.IsFromMe = true }), channels.Message{}, false},
		{"own jid as sender", evt(group, types.NewADJID(ownPN.User, 0, 2), text("hi")), channels.Message{}, false},
		{"own lid as sender", evt(group, ownLID, text("hi")), channels.Message{}, false},
		{"status broadcast", evt(types.StatusBroadcastJID, alicePN, text("my status")), channels.Message{}, false},
		{"newsletter", evt(types.NewJID("1203630000", types.NewsletterServer), types.NewJID("1203630000", types.NewsletterServer), text("news")), channels.Message{}, false},
		{"protocol message (revoke)", evt(alicePN, alicePN, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}}), channels.Message{}, false},
		{"edit", evt(alicePN, alicePN, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_MESSAGE_EDIT.Enum(), EditedMessage: text("new")}},
			func(e *events.Message) { e.IsEdit = true }), channels.Message{}, false},
		{"reaction", evt(alicePN, alicePN, &waE2E.Message{ReactionMessage: &waE2E.ReactionMessage{Text: proto.String("👍")}}), channels.Message{}, false},
		{"empty", evt(alicePN, alicePN, &waE2E.Message{}), channels.Message{}, false},
		{"sender key distribution only", evt(group, alicePN, &waE2E.Message{SenderKeyDistributionMessage: &waE2E.SenderKeyDistributionMessage{GroupID: proto.String(group.String())}}), channels.Message{}, false},
		{"nil message", evt(alicePN, alicePN, nil), channels.Message{}, false},
		{"no id", evt(alicePN, alicePN, text("hi"), func(e *events.Message) { e.Info.ID = "" }), channels.Message{}, false},
		{"no sender", evt(alicePN, types.EmptyJID, text("hi")), channels.Message{}, false},
		{"sender is a group", evt(group, group, text("hi")), channels.Message{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := convert(ownPN, ownLID, tt.in)
			if ok != tt.ok {
				t.Fatalf("ok = %v, want %v (%+v)", ok, tt.ok, got)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("convert =\n %+v\nwant\n %+v", got, tt.want)
				if got.ReplyTo != nil || tt.want.ReplyTo != nil {
					t.Errorf("ReplyTo = %+v, want %+v", got.ReplyTo, tt.want.ReplyTo)
				}
			}
		})
	}
}

// Before the LID is known (an old store), only the phone-number JID
// counts as the bot.
func TestConvertWithoutOwnLID(t *testing.T) {
	m, ok := convert(ownPN, types.EmptyJID, evt(group, alicePN, ext("hi", &waE2E.ContextInfo{MentionedJID: []string{ownLID.String()}})))
	if !ok || m.MentionsBot {
		t.Fatalf("convert = %+v, %v; a mention of an unknown LID is not the bot", m, ok)
	}
	// An empty own id matches nothing, not every empty JID.
	m, ok = convert(types.EmptyJID, types.EmptyJID, evt(group, alicePN, ext("hi", &waE2E.ContextInfo{MentionedJID: []string{""}, StanzaID: proto.String("x")})))
	if !ok || m.MentionsBot || m.ReplyToBot {
		t.Fatalf("convert = %+v, %v", m, ok)
	}
}
