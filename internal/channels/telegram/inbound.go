package telegram

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/talonclaw/talon/internal/channels"
)

// Inbound updates are decoded into the small structs below rather than the
// library's models: the models fail the whole update on a variant they do
// not know (MessageOrigin, for one), while these read only the fields the
// adapter uses and ignore everything else, so a new Bot API feature cannot
// make a message unreadable. forward_origin is not decoded at all: its
// presence is what matters.

type tgUpdate struct {
	UpdateID    int64      `json:"update_id"`
	Message     *tgMessage `json:"message"`
	ChannelPost *tgMessage `json:"channel_post"`
	// CallbackQuery is a press of an inline keyboard button the bot sent
	// (approval requests).
	CallbackQuery *tgCallback `json:"callback_query"`
	// edited_message, edited_channel_post and the other kinds are not
	// read: edits are not new messages.
}

// tgCallback is a CallbackQuery. From is who pressed the button, as
// Telegram authenticates them; Data is whatever the client says, so it is
// parsed strictly by the Router and never trusted further.
type tgCallback struct {
	ID      string     `json:"id"`
	From    tgUser     `json:"from"`
	Message *tgMessage `json:"message"` // the bot's message with the button; may be absent
	Data    string     `json:"data"`
}

type tgUser struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Username  string `json:"username"`
}

type tgChat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	Title     string `json:"title"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

type tgEntity struct {
	Type   string  `json:"type"`
	Offset int     `json:"offset"`
	Length int     `json:"length"`
	User   *tgUser `json:"user"`
}

type tgFile struct {
	FileName string `json:"file_name"`
	MimeType string `json:"mime_type"`
	FileSize int64  `json:"file_size"`
	Emoji    string `json:"emoji"`
}

type tgMessage struct {
	MessageID         int64           `json:"message_id"`
	MessageThreadID   int64           `json:"message_thread_id"`
	From              *tgUser         `json:"from"`
	SenderChat        *tgChat         `json:"sender_chat"`
	Date              int64           `json:"date"`
	Chat              tgChat          `json:"chat"`
	IsTopicMessage    bool            `json:"is_topic_message"`
	ForwardOrigin     json.RawMessage `json:"forward_origin"`
	ForwardFrom       *tgUser         `json:"forward_from"`      // before Bot API 7.0
	ForwardFromChat   *tgChat         `json:"forward_from_chat"` // before Bot API 7.0
	ForwardSenderName string          `json:"forward_sender_name"`
	ForwardDate       int64           `json:"forward_date"`
	ReplyToMessage    *tgMessage      `json:"reply_to_message"`
	Quote             *struct {
		Text string `json:"text"`
	} `json:"quote"`
	Text            string     `json:"text"`
	Entities        []tgEntity `json:"entities"`
	Caption         string     `json:"caption"`
	CaptionEntities []tgEntity `json:"caption_entities"`
	Photo           []tgFile   `json:"photo"`
	Document        *tgFile    `json:"document"`
	Video           *tgFile    `json:"video"`
	VideoNote       *tgFile    `json:"video_note"`
	Audio           *tgFile    `json:"audio"`
	Voice           *tgFile    `json:"voice"`
	Sticker         *tgFile    `json:"sticker"`
}

// parseUpdate converts one raw update. ok is false for updates that are
// not messages (edits, callbacks, reactions) and for service messages with
// neither text nor a file (members joining, pins). botID and botName (the
// username, without @) are who "the bot" is for mentions and replies.
func parseUpdate(raw []byte, botID int64, botName string) (m channels.Message, ok bool, err error) {
	var u tgUpdate
	if err := json.Unmarshal(raw, &u); err != nil {
		return m, false, err
	}
	if cq := u.CallbackQuery; cq != nil {
		return callback(cq, botID)
	}
	tm := u.Message
	if tm == nil {
		tm = u.ChannelPost
	}
	if tm == nil {
		return m, false, nil
	}
	m = convert(tm, botID, botName)
	if m.Text == "" && len(m.Attachments) == 0 {
		return channels.Message{}, false, nil
	}
	return m, true, nil
}

// callback turns a button press into a Message with an Action, which the
// Router handles itself (it never becomes a turn).
func callback(cq *tgCallback, botID int64) (channels.Message, bool, error) {
	if cq.ID == "" || cq.From.ID == 0 {
		return channels.Message{}, false, nil
	}
	from := strconv.FormatInt(cq.From.ID, 10)
	m := channels.Message{
		ID:             "cb:" + cq.ID,
		SenderID:       from,
		SenderUsername: cq.From.Username,
		SenderName:     strings.TrimSpace(cq.From.FirstName + " " + cq.From.LastName),
		SenderIsBot:    cq.From.IsBot || cq.From.ID == botID,
		ChatID:         from,
		ChatType:       channels.ChatDirect,
		Action:         &channels.Action{ID: cq.ID, Data: cq.Data},
		Time:           time.Now().UTC(),
	}
	if tm := cq.Message; tm != nil && tm.Chat.ID != 0 {
		m.ChatID = strconv.FormatInt(tm.Chat.ID, 10)
		m.Action.MessageID = m.ChatID + ":" + strconv.FormatInt(tm.MessageID, 10)
		if tm.Chat.Type != "private" {
			m.ChatType = channels.ChatGroup
		}
	}
	return m, true, nil
}

func convert(tm *tgMessage, botID int64, botName string) channels.Message {
	chatID := strconv.FormatInt(tm.Chat.ID, 10)
	m := channels.Message{
		ID:     chatID + ":" + strconv.FormatInt(tm.MessageID, 10),
		ChatID: chatID,
		Text:   tm.Text,
		Time:   time.Unix(tm.Date, 0).UTC(),
	}
	switch tm.Chat.Type {
	case "private":
		m.ChatType = channels.ChatDirect
	case "channel":
		m.ChatType = channels.ChatChannel
	default: // group, supergroup
		m.ChatType = channels.ChatGroup
	}
	if tm.IsTopicMessage && tm.MessageThreadID != 0 {
		m.TopicID = strconv.FormatInt(tm.MessageThreadID, 10)
	}
	m.SenderID, m.SenderUsername, m.SenderName, m.SenderIsBot = sender(tm)
	if tm.From != nil && botID != 0 && tm.From.ID == botID {
		m.SenderIsBot = true // the bot's own message
	}

	entities := tm.Entities
	if m.Text == "" {
		m.Text, entities = tm.Caption, tm.CaptionEntities
	}
	m.MentionsBot = mentions(m.Text, entities, botID, botName)

	if r := tm.ReplyToMessage; r != nil {
		q := &channels.Quote{
			ID:   strconv.FormatInt(r.Chat.ID, 10) + ":" + strconv.FormatInt(r.MessageID, 10),
			Text: r.Text,
		}
		if r.Chat.ID == 0 { // Telegram always sets it; be safe anyway
			q.ID = chatID + ":" + strconv.FormatInt(r.MessageID, 10)
		}
		if q.Text == "" {
			q.Text = r.Caption
		}
		if tm.Quote != nil && tm.Quote.Text != "" {
			q.Text = tm.Quote.Text // the part the sender selected
		}
		q.SenderID, _, _, _ = sender(r)
		m.ReplyTo = q
		m.ReplyToBot = botID != 0 && r.From != nil && r.From.ID == botID
	}

	m.Forwarded = (len(tm.ForwardOrigin) > 0 && string(tm.ForwardOrigin) != "null") ||
		tm.ForwardFrom != nil || tm.ForwardFromChat != nil || tm.ForwardSenderName != "" || tm.ForwardDate != 0

	m.Attachments = attachments(tm)
	return m
}

// sender is who wrote tm: the chat it was posted as (channel posts,
// anonymous group admins, automatic forwards from a linked channel) or the
// user.
func sender(tm *tgMessage) (id, username, name string, isBot bool) {
	if c := tm.SenderChat; c != nil {
		return strconv.FormatInt(c.ID, 10), c.Username, c.Title, false
	}
	if u := tm.From; u != nil {
		return strconv.FormatInt(u.ID, 10), u.Username, strings.TrimSpace(u.FirstName + " " + u.LastName), u.IsBot
	}
	return "", "", "", false
}

// mentions reports whether Telegram's entities say the bot was mentioned:
// "@botname", a text_mention of the bot's user, or "/command@botname".
// Entity offsets and lengths count UTF-16 code units.
func mentions(text string, entities []tgEntity, botID int64, botName string) bool {
	if len(entities) == 0 {
		return false
	}
	at := ""
	if botName != "" {
		at = "@" + botName
	}
	var u16 []uint16
	for _, e := range entities {
		switch e.Type {
		case "text_mention":
			if e.User != nil && botID != 0 && e.User.ID == botID {
				return true
			}
		case "mention", "bot_command":
			if at == "" {
				continue
			}
			if u16 == nil {
				u16 = utf16.Encode([]rune(text))
			}
			if e.Offset < 0 || e.Length <= 0 || e.Offset > len(u16) || e.Length > len(u16)-e.Offset {
				continue
			}
			s := string(utf16.Decode(u16[e.Offset : e.Offset+e.Length]))
			if e.Type == "mention" && strings.EqualFold(s, at) {
				return true
			}
			if e.Type == "bot_command" && len(s) >= len(at) && strings.EqualFold(s[len(s)-len(at):], at) {
				return true
			}
		}
	}
	return false
}

// attachments lists file metadata; nothing is downloaded.
func attachments(tm *tgMessage) []channels.Attachment {
	var out []channels.Attachment
	if n := len(tm.Photo); n > 0 {
		// Telegram lists the sizes smallest first.
		out = append(out, channels.Attachment{Kind: "photo", MIME: "image/jpeg", Size: tm.Photo[n-1].FileSize})
	}
	add := func(kind string, f *tgFile) {
		if f != nil {
			out = append(out, channels.Attachment{Kind: kind, Name: f.FileName, MIME: f.MimeType, Size: f.FileSize})
		}
	}
	add("document", tm.Document)
	add("video", tm.Video)
	add("video", tm.VideoNote)
	add("audio", tm.Audio)
	add("voice", tm.Voice)
	if s := tm.Sticker; s != nil {
		out = append(out, channels.Attachment{Kind: "sticker", Name: s.Emoji, Size: s.FileSize})
	}
	return out
}
