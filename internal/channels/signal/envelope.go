package signal

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/talonclaw/talon/internal/channels"
)

// The wire shapes below follow signal-cli's JSON output (the Json* records
// of org.asamk.signal.json): a receive event's data is
// {"account": "+1555…", "envelope": {…}} or, when decryption failed,
// {"account": …, "exception": {"message", "type"}, "envelope": …}.
// Fields the adapter does not use are left out.

type notification struct {
	Account   string       `json:"account"`
	Envelope  *envelope    `json:"envelope"`
	Exception *wireFailure `json:"exception"`
}

type wireFailure struct {
	Message string `json:"message"`
	Type    string `json:"type"`
}

type envelope struct {
	Source         string          `json:"source"` // deprecated: number or uuid
	SourceNumber   string          `json:"sourceNumber"`
	SourceUUID     string          `json:"sourceUuid"`
	SourceName     string          `json:"sourceName"`
	SourceDevice   int             `json:"sourceDevice"`
	Timestamp      int64           `json:"timestamp"`
	DataMessage    *dataMessage    `json:"dataMessage"`
	EditMessage    json.RawMessage `json:"editMessage"`
	StoryMessage   json.RawMessage `json:"storyMessage"`
	SyncMessage    json.RawMessage `json:"syncMessage"`
	CallMessage    json.RawMessage `json:"callMessage"`
	ReceiptMessage json.RawMessage `json:"receiptMessage"`
	TypingMessage  json.RawMessage `json:"typingMessage"`
}

type dataMessage struct {
	Timestamp   int64            `json:"timestamp"`
	Message     *string          `json:"message"`
	GroupInfo   *groupInfo       `json:"groupInfo"`
	Mentions    []mention        `json:"mentions"`
	Quote       *quote           `json:"quote"`
	Attachments []wireAttachment `json:"attachments"`
	Reaction    json.RawMessage  `json:"reaction"`
	Sticker     json.RawMessage  `json:"sticker"`
}

type groupInfo struct {
	GroupID   string `json:"groupId"` // base64
	GroupName string `json:"groupName"`
	Type      string `json:"type"` // DELIVER or UPDATE
}

type mention struct {
	Name   string `json:"name"` // deprecated: number or uuid, not a display name
	Number string `json:"number"`
	UUID   string `json:"uuid"`
	Start  int    `json:"start"`  // UTF-16 code units
	Length int    `json:"length"` // UTF-16 code units
}

type quote struct {
	ID           int64  `json:"id"` // the quoted message's timestamp
	Author       string `json:"author"`
	AuthorNumber string `json:"authorNumber"`
	AuthorUUID   string `json:"authorUuid"`
	Text         string `json:"text"`
}

type wireAttachment struct {
	ContentType string `json:"contentType"`
	Filename    string `json:"filename"`
	ID          string `json:"id"`
	Size        int64  `json:"size"`
}

// self is who the bot is on Signal: its number and, once learnt, its ACI
// (uuid). Either may be empty.
type self struct {
	Number string
	UUID   string
}

func (s self) is(number, uuid string) bool {
	return (s.Number != "" && number == s.Number) || (s.UUID != "" && strings.EqualFold(uuid, s.UUID))
}

// parseNotification decodes one receive event's data.
func parseNotification(data []byte) (notification, error) {
	var n notification
	if err := json.Unmarshal(data, &n); err != nil {
		return notification{}, fmt.Errorf("decoding receive event: %w", err)
	}
	return n, nil
}

// senderOf is the stable id of an envelope's sender: the ACI (uuid) when
// signal-cli knows it, else the phone number. The uuid stays the same for
// the life of the account; a number can be changed or reassigned to
// someone else, so allowFrom lists should prefer uuids.
func senderOf(e *envelope) string {
	switch {
	case e.SourceUUID != "":
		return e.SourceUUID
	case e.SourceNumber != "":
		return e.SourceNumber
	}
	return e.Source
}

// convert turns a notification into a Message. ok is false for what the
// agent never sees: decryption failures, sync messages (what the account's
// other devices sent), receipts, typing and call messages, stories, edits,
// group updates, reactions and other data messages without text or
// attachments, and envelopes without a sender or timestamp.
func convert(n notification, me self, account string) (m channels.Message, ok bool) {
	e := n.Envelope
	if e == nil || n.Exception != nil || e.DataMessage == nil {
		return m, false
	}
	d := e.DataMessage
	sender := senderOf(e)
	ts := e.Timestamp
	if ts == 0 {
		ts = d.Timestamp
	}
	if sender == "" || ts <= 0 {
		return m, false
	}
	text := ""
	if d.Message != nil {
		text = *d.Message
	}
	atts := attachmentsOf(d)
	if strings.TrimSpace(text) == "" && len(atts) == 0 {
		return m, false // reactions, group updates, deletes, expiry timers, …
	}
	m = channels.Message{
		Channel:     "signal",
		Account:     account,
		ID:          sender + ":" + strconv.FormatInt(ts, 10),
		SenderID:    sender,
		SenderName:  e.SourceName,
		SenderIsBot: me.is(e.SourceNumber, e.SourceUUID),
		ChatID:      sender,
		ChatType:    channels.ChatDirect,
		Attachments: atts,
		Time:        time.UnixMilli(ts),
	}
	if g := d.GroupInfo; g != nil && g.GroupID != "" {
		m.ChatID, m.ChatType = g.GroupID, channels.ChatGroup
	}
	for _, mn := range d.Mentions {
		if me.is(mn.Number, mn.UUID) {
			m.MentionsBot = true
		}
	}
	m.Text = expandMentions(text, d.Mentions)
	if q := d.Quote; q != nil && q.ID > 0 {
		author := q.AuthorUUID
		if author == "" {
			author = q.AuthorNumber
		}
		if author == "" {
			author = q.Author
		}
		m.ReplyTo = &channels.Quote{ID: author + ":" + strconv.FormatInt(q.ID, 10), SenderID: author, Text: q.Text}
		m.ReplyToBot = me.is(q.AuthorNumber, q.AuthorUUID) || (q.Author != "" && me.is(q.Author, q.Author))
	}
	return m, true
}

func attachmentsOf(d *dataMessage) []channels.Attachment {
	var out []channels.Attachment
	for _, a := range d.Attachments {
		out = append(out, channels.Attachment{Kind: kindOf(a), Name: a.Filename, MIME: a.ContentType, Size: a.Size})
	}
	if len(d.Sticker) > 0 && string(d.Sticker) != "null" {
		out = append(out, channels.Attachment{Kind: "sticker"})
	}
	return out
}

func kindOf(a wireAttachment) string {
	mime, _, _ := strings.Cut(strings.ToLower(a.ContentType), ";")
	switch {
	case strings.HasPrefix(mime, "image/"):
		return "photo"
	case strings.HasPrefix(mime, "video/"):
		return "video"
	case strings.HasPrefix(mime, "audio/"):
		if a.Filename == "" {
			return "voice" // Signal voice notes carry no file name
		}
		return "audio"
	case a.Filename != "":
		return "document"
	}
	return "file"
}

// objectReplacement is the placeholder Signal puts in the text where a
// mention is; the mention list says who it is.
const objectReplacement = '\uFFFC'

// expandMentions replaces each mention's placeholder with "@" and the
// mentioned account's number (or uuid), so the text reads naturally.
// Mentions whose range is not a placeholder inside the text are skipped.
func expandMentions(text string, ms []mention) string {
	if len(ms) == 0 || !strings.ContainsRune(text, objectReplacement) {
		return text
	}
	u := utf16.Encode([]rune(text))
	ms = append([]mention(nil), ms...)
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].Start > ms[j].Start })
	end := len(u) + 1 // mentions are applied from the back; they must not overlap
	for _, mn := range ms {
		if mn.Start < 0 || mn.Length != 1 || mn.Start+mn.Length > len(u) || mn.Start+mn.Length > end {
			continue
		}
		if u[mn.Start] != objectReplacement {
			continue
		}
		who := mn.Number
		if who == "" {
			who = mn.UUID
		}
		if who == "" {
			who = mn.Name
		}
		if who == "" {
			continue
		}
		rep := utf16.Encode([]rune("@" + who))
		u = append(u[:mn.Start], append(rep, u[mn.Start+mn.Length:]...)...)
		end = mn.Start
	}
	return string(utf16.Decode(u))
}
