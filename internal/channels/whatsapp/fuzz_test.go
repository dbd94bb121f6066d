//go:build whatsapp

package whatsapp

import (
	"testing"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"

	"github.com/talonclaw/talon/internal/channels"
)

// FuzzConvert feeds convert arbitrary message protobufs (the bytes
// whatsmeow decrypts) from arbitrary chats and senders: it must never
// panic, and what it lets through must be well formed and never the bot's
// own message.
func FuzzConvert(f *testing.F) {
	seed := func(chat, sender string, fromMe bool, m *waE2E.Message) {
		b, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(chat, sender, "", fromMe, b)
	}
	seed(alicePN.String(), alicePN.String(), false, text("hi"))
	seed(group.String(), aliceDev.String(), false, ext("@bot hi", &waE2E.ContextInfo{
		MentionedJID: []string{ownPN.String(), ownLID.String(), "x@@"},
		StanzaID:     proto.String("Q"), Participant: proto.String(ownPN.String()),
		QuotedMessage: &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{Caption: proto.String("doc")}},
		IsForwarded:   proto.Bool(true),
	}))
	seed(aliceLID.String(), aliceLID.String(), false, &waE2E.Message{ImageMessage: &waE2E.ImageMessage{Caption: proto.String("c"), FileLength: proto.Uint64(1 << 63)}})
	seed(types.StatusBroadcastJID.String(), alicePN.String(), false, text("status"))
	seed(alicePN.String(), ownPN.String(), true, text("mine"))
	seed("1234@broadcast", alicePN.String(), false, &waE2E.Message{AudioMessage: &waE2E.AudioMessage{PTT: proto.Bool(true)}})
	seed(alicePN.String(), alicePN.String(), false, &waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{Type: waE2E.ProtocolMessage_REVOKE.Enum()}})
	f.Add("", "", "", false, []byte{0xff, 0x01})
	f.Add("a:b.c@lid", "1.2:3@s.whatsapp.net", "5@s.whatsapp.net", false, []byte("\x0a\x02hi"))

	f.Fuzz(func(t *testing.T, chat, sender, alt string, fromMe bool, raw []byte) {
		var msg waE2E.Message
		if proto.Unmarshal(raw, &msg) != nil {
			return
		}
		c, _ := types.ParseJID(chat)
		s, _ := types.ParseJID(sender)
		sa, _ := types.ParseJID(alt)
		e := &events.Message{
			Info: types.MessageInfo{
				MessageSource: types.MessageSource{Chat: c, Sender: s, SenderAlt: sa, IsFromMe: fromMe},
				ID:            "ID1",
			},
			Message: &msg,
		}
		m, ok := convert(ownPN, ownLID, e)
		if !ok {
			return
		}
		if fromMe {
			t.Fatal("a message from the linked account got through")
		}
		if m.SenderID == "" || m.ChatID == "" || m.ID != "ID1" || m.Channel != "whatsapp" {
			t.Fatalf("incomplete message %+v", m)
		}
		if m.ChatType != channels.ChatDirect && m.ChatType != channels.ChatGroup {
			t.Fatalf("chat type %q", m.ChatType)
		}
		if sj, _ := types.ParseJID(m.SenderID); isOwn(sj, ownPN, ownLID) {
			t.Fatalf("the bot's own message got through: %+v", m)
		}
		if m.Text == "" && len(m.Attachments) == 0 {
			t.Fatalf("empty message got through: %+v", m)
		}
		if m.ChatID == types.StatusBroadcastJID.String() {
			t.Fatal("status update got through")
		}
		for _, a := range m.Attachments {
			if a.Size < 0 {
				t.Fatalf("negative size %d", a.Size)
			}
		}
	})
}
