package discord

import (
	"encoding/json"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/talonclaw/talon/internal/channels"
)

// parseMessage decodes the d of a MESSAGE_CREATE dispatch and converts it,
// as the receive loop does; ch is the channel from the gateway state (nil
// when unknown). It is the fuzz target.
func parseMessage(botID string, data []byte, ch *discordgo.Channel) (channels.Message, bool) {
	var m discordgo.Message
	if err := json.Unmarshal(data, &m); err != nil {
		return channels.Message{}, false
	}
	return toMessage(botID, &m, ch)
}

// toMessage converts a Discord message; ok is false for what the agent
// never sees: the bot's own messages, system messages (joins, pins, …) and
// messages without an id, channel or author.
//
//   - ChatType: from the channel's type when the gateway told us the
//     channel (DM, group DM, guild channel, thread); otherwise a message
//     with a guild_id is a guild channel message and one without is a DM
//     (bots are not members of group DMs in practice).
//   - Threads: ThreadID is the thread's channel id; ChatID its parent
//     channel, or the thread itself when the parent is unknown.
//   - MentionsBot: the bot's user id is in mentions. @everyone, @here and
//     role mentions are not bot mentions.
//   - ReplyTo/ReplyToBot: from referenced_message (a reply whose original
//     was deleted keeps only the id).
//   - Forwarded: a forward (message_reference type 1 or message_snapshots);
//     an empty content takes the forwarded message's text and attachments.
func toMessage(botID string, m *discordgo.Message, ch *discordgo.Channel) (channels.Message, bool) {
	if m == nil || m.ID == "" || m.ChannelID == "" || m.Author == nil || m.Author.ID == "" {
		return channels.Message{}, false
	}
	if botID != "" && m.Author.ID == botID {
		return channels.Message{}, false
	}
	switch m.Type {
	case discordgo.MessageTypeDefault, discordgo.MessageTypeReply:
	default:
		return channels.Message{}, false
	}
	out := channels.Message{
		Channel:        "discord",
		ID:             m.ID,
		SenderID:       m.Author.ID,
		SenderUsername: m.Author.Username,
		SenderName:     displayName(m),
		SenderIsBot:    m.Author.Bot || m.Author.System || m.WebhookID != "",
		ChatID:         m.ChannelID,
		GuildID:        m.GuildID,
		Text:           m.Content,
		Time:           m.Timestamp,
	}
	switch {
	case ch != nil && ch.ID == m.ChannelID:
		if out.GuildID == "" {
			out.GuildID = ch.GuildID
		}
		switch ch.Type {
		case discordgo.ChannelTypeDM:
			out.ChatType = channels.ChatDirect
		case discordgo.ChannelTypeGroupDM:
			out.ChatType = channels.ChatGroup
		case discordgo.ChannelTypeGuildPublicThread, discordgo.ChannelTypeGuildPrivateThread, discordgo.ChannelTypeGuildNewsThread:
			out.ChatType = channels.ChatChannel
			out.ThreadID = ch.ID
			if ch.ParentID != "" {
				out.ChatID = ch.ParentID
			}
		default:
			out.ChatType = channels.ChatChannel
		}
	case m.GuildID != "":
		out.ChatType = channels.ChatChannel
	default:
		out.ChatType = channels.ChatDirect
	}
	for _, u := range m.Mentions {
		if u != nil && botID != "" && u.ID == botID {
			out.MentionsBot = true
		}
	}
	ref := m.MessageReference
	if ref != nil && ref.Type == discordgo.MessageReferenceTypeDefault && (m.Type == discordgo.MessageTypeReply || m.ReferencedMessage != nil) {
		q := &channels.Quote{ID: ref.MessageID}
		if r := m.ReferencedMessage; r != nil {
			if q.ID == "" {
				q.ID = r.ID
			}
			q.Text = r.Content
			if r.Author != nil {
				q.SenderID = r.Author.ID
				out.ReplyToBot = botID != "" && r.Author.ID == botID
			}
		}
		if q.ID != "" {
			out.ReplyTo = q
		}
	}
	if (ref != nil && ref.Type == discordgo.MessageReferenceTypeForward) || len(m.MessageSnapshots) > 0 {
		out.Forwarded = true
	}
	out.Attachments = attachments(m)
	for _, snap := range m.MessageSnapshots {
		if snap.Message == nil {
			continue
		}
		if strings.TrimSpace(out.Text) == "" {
			out.Text = snap.Message.Content
		}
		out.Attachments = append(out.Attachments, attachments(snap.Message)...)
	}
	return out, true
}

func displayName(m *discordgo.Message) string {
	if m.Member != nil && m.Member.Nick != "" {
		return m.Member.Nick
	}
	if m.Author.GlobalName != "" {
		return m.Author.GlobalName
	}
	return m.Author.Username
}

// attachments lists a message's files and stickers (metadata only).
func attachments(m *discordgo.Message) []channels.Attachment {
	var out []channels.Attachment
	voice := m.Flags&discordgo.MessageFlagsIsVoiceMessage != 0
	for _, at := range m.Attachments {
		if at == nil {
			continue
		}
		mime := at.ContentType
		kind := "file"
		switch {
		case voice && strings.HasPrefix(mime, "audio/"):
			kind = "voice"
		case strings.HasPrefix(mime, "image/"):
			kind = "photo"
		case strings.HasPrefix(mime, "video/"):
			kind = "video"
		case strings.HasPrefix(mime, "audio/"):
			kind = "audio"
		}
		out = append(out, channels.Attachment{Kind: kind, Name: at.Filename, MIME: mime, Size: int64(at.Size)})
	}
	for _, st := range m.StickerItems {
		if st != nil {
			out = append(out, channels.Attachment{Kind: "sticker", Name: st.Name})
		}
	}
	return out
}
