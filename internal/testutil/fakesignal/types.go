package fakesignal

import "encoding/json"

// The types below follow signal-cli's JSON output (the Json* records in
// org.asamk.signal.json), field for field where a test may need them.

// Notification is the data of one "receive" event: what signal-cli's
// JsonReceiveMessageHandler writes.
type Notification struct {
	Account   string     `json:"account"`
	Envelope  *Envelope  `json:"envelope,omitempty"`
	Exception *Exception `json:"exception,omitempty"`
}

// Exception is sent instead of a readable message when decryption failed.
type Exception struct {
	Message string `json:"message"`
	Type    string `json:"type"` // e.g. "UntrustedIdentityException"
}

// Envelope is one received envelope.
type Envelope struct {
	Source                   string          `json:"source,omitempty"` // deprecated: number, else uuid
	SourceNumber             string          `json:"sourceNumber,omitempty"`
	SourceUUID               string          `json:"sourceUuid,omitempty"`
	SourceName               string          `json:"sourceName,omitempty"`
	SourceDevice             int             `json:"sourceDevice,omitempty"`
	Timestamp                int64           `json:"timestamp"`
	ServerReceivedTimestamp  int64           `json:"serverReceivedTimestamp"`
	ServerDeliveredTimestamp int64           `json:"serverDeliveredTimestamp"`
	DataMessage              *DataMessage    `json:"dataMessage,omitempty"`
	EditMessage              json.RawMessage `json:"editMessage,omitempty"`
	StoryMessage             json.RawMessage `json:"storyMessage,omitempty"`
	SyncMessage              *SyncMessage    `json:"syncMessage,omitempty"`
	CallMessage              json.RawMessage `json:"callMessage,omitempty"`
	ReceiptMessage           *ReceiptMessage `json:"receiptMessage,omitempty"`
	TypingMessage            *TypingMessage  `json:"typingMessage,omitempty"`
}

// DataMessage is a message with content.
type DataMessage struct {
	Timestamp          int64        `json:"timestamp"`
	Message            *string      `json:"message"` // null when there is no text
	ExpiresInSeconds   int          `json:"expiresInSeconds"`
	IsExpirationUpdate bool         `json:"isExpirationUpdate,omitempty"`
	ViewOnce           bool         `json:"viewOnce"`
	Reaction           *Reaction    `json:"reaction,omitempty"`
	Quote              *Quote       `json:"quote,omitempty"`
	Mentions           []Mention    `json:"mentions,omitempty"`
	Attachments        []Attachment `json:"attachments,omitempty"`
	Sticker            *Sticker     `json:"sticker,omitempty"`
	GroupInfo          *GroupInfo   `json:"groupInfo,omitempty"`
}

// Text is a helper for DataMessage.Message.
func Text(s string) *string { return &s }

// GroupInfo says which group a message belongs to.
type GroupInfo struct {
	GroupID   string `json:"groupId"` // base64
	GroupName string `json:"groupName,omitempty"`
	Revision  int    `json:"revision"`
	Type      string `json:"type"` // "DELIVER" or "UPDATE"
}

// Mention is an @mention; the text has U+FFFC at Start (UTF-16 units).
type Mention struct {
	Name   string `json:"name"` // deprecated: number, else uuid
	Number string `json:"number,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	Start  int    `json:"start"`
	Length int    `json:"length"`
}

// Quote is the message a reply quotes.
type Quote struct {
	ID           int64  `json:"id"` // the quoted message's timestamp
	Author       string `json:"author"`
	AuthorNumber string `json:"authorNumber,omitempty"`
	AuthorUUID   string `json:"authorUuid,omitempty"`
	Text         string `json:"text,omitempty"`
	Attachments  []any  `json:"attachments"`
}

// Attachment is a received attachment's metadata.
type Attachment struct {
	ContentType string `json:"contentType"`
	Filename    string `json:"filename,omitempty"`
	ID          string `json:"id,omitempty"`
	Size        int64  `json:"size,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	Caption     string `json:"caption,omitempty"`
}

// Sticker is a sticker message.
type Sticker struct {
	PackID    string `json:"packId"`
	StickerID int    `json:"stickerId"`
}

// Reaction is an emoji reaction to a message.
type Reaction struct {
	Emoji               string `json:"emoji"`
	TargetAuthor        string `json:"targetAuthor"`
	TargetAuthorNumber  string `json:"targetAuthorNumber,omitempty"`
	TargetAuthorUUID    string `json:"targetAuthorUuid,omitempty"`
	TargetSentTimestamp int64  `json:"targetSentTimestamp"`
	IsRemove            bool   `json:"isRemove"`
}

// SyncMessage is what the account's other devices did.
type SyncMessage struct {
	SentMessage *SentMessage `json:"sentMessage,omitempty"`
}

// SentMessage is a message another device of the account sent (a
// JsonSyncDataMessage: the data message fields are inlined).
type SentMessage struct {
	Destination       string `json:"destination,omitempty"`
	DestinationNumber string `json:"destinationNumber,omitempty"`
	DestinationUUID   string `json:"destinationUuid,omitempty"`
	DataMessage
}

// ReceiptMessage is a delivery/read receipt.
type ReceiptMessage struct {
	When       int64   `json:"when"`
	IsDelivery bool    `json:"isDelivery"`
	IsRead     bool    `json:"isRead"`
	IsViewed   bool    `json:"isViewed"`
	Timestamps []int64 `json:"timestamps"`
}

// TypingMessage is a typing indicator.
type TypingMessage struct {
	Action    string `json:"action"` // "STARTED" or "STOPPED"
	Timestamp int64  `json:"timestamp"`
	GroupID   string `json:"groupId,omitempty"`
}

// RPCError is a JSON-RPC error object as signal-cli sends it.
type RPCError struct {
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
}

// signal-cli's JSON-RPC error codes.
const (
	CodeUserError      = -1
	CodeIOError        = -3
	CodeUntrustedKey   = -4
	CodeRateLimit      = -5
	CodeCaptchaReject  = -6
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
)
