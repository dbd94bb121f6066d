package discord

import (
	"testing"
	"unicode/utf8"

	"github.com/bwmarrin/discordgo"

	"github.com/talonclaw/talon/internal/channels"
	"github.com/talonclaw/talon/internal/testutil/fakediscord"
)

// FuzzParseMessage feeds arbitrary MESSAGE_CREATE payloads to the inbound
// parser, as a hostile or broken gateway would: it must never panic, never
// deliver the bot's own message, and whatever it delivers has the ids the
// Router relies on.
func FuzzParseMessage(f *testing.F) {
	bot := fakediscord.BotID
	f.Add(msg("1", dm, "", alice, "hi", ""), uint8(0))
	f.Add(msg("2", text, guild, alice, "<@"+bot+">", `"mentions":[{"id":"`+bot+`"}]`), uint8(0))
	f.Add(msg("3", text, guild, bot, "mine", ""), uint8(11))
	f.Add(msg("4", dm, "", alice, "", `"message_reference":{"type":1,"message_id":"8"},"message_snapshots":[{"message":{"content":"fw"}},{"message":null}]`), uint8(1))
	f.Add(msg("5", dm, "", alice, "re", `"type":19,"referenced_message":{"id":"9","author":null}`), uint8(3))
	f.Add(`{"id":"6","channel_id":"7","author":{"id":"8"},"attachments":[null,{"content_type":"audio/x"}],"sticker_items":[null],"mentions":[null],"flags":8192}`, uint8(3))
	f.Add(`{"id":1}`, uint8(0))
	f.Add(`null`, uint8(0))
	f.Add(`{"timestamp":"not a time"}`, uint8(0))
	f.Fuzz(func(t *testing.T, data string, chType uint8) {
		var ch *discordgo.Channel
		if chType != 0 {
			ch = &discordgo.Channel{ID: dm, Type: discordgo.ChannelType(chType % 16), ParentID: text, GuildID: guild}
		}
		m, ok := parseMessage(bot, []byte(data), ch)
		if !ok {
			return
		}
		if m.ID == "" || m.SenderID == "" || m.ChatID == "" {
			t.Fatalf("delivered without ids: %+v", m)
		}
		if m.SenderID == bot {
			t.Fatalf("delivered the bot's own message: %+v", m)
		}
		switch m.ChatType {
		case channels.ChatDirect, channels.ChatGroup, channels.ChatChannel:
		default:
			t.Fatalf("chat type %q", m.ChatType)
		}
		if utf8.ValidString(data) && !utf8.ValidString(m.Text) {
			t.Fatalf("text not valid UTF-8")
		}
	})
}
