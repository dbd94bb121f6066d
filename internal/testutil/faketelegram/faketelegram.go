// Package faketelegram is a Telegram Bot API server on loopback, for tests
// across the project. It speaks the real wire format: methods at
// /bot<token>/<method>, parameters as a query string, JSON,
// application/x-www-form-urlencoded or multipart/form-data (objects such as
// reply_parameters as JSON text), answers {"ok":true,"result":...} or
// {"ok":false,"error_code":N,"description":"..."} with the same HTTP
// status, and Telegram's parameters.retry_after on 429.
//
// It implements getMe, getUpdates (a long poll honouring offset, limit and
// timeout, confirming updates below offset), sendMessage (with an inline
// keyboard in reply_markup), editMessageReplyMarkup, answerCallbackQuery (once per pushed
// callback query, as Telegram allows), sendChatAction, setWebhook,
// deleteWebhook and getWebhookInfo. getUpdates answers 409 while
// a webhook is set, as Telegram does. Tests inject inbound traffic with Push
// (and the DM, Group, Topic, Mention, ReplyToBot, Forward, ChannelPost and
// Press builders), read what the bot sent with Sent and WaitSent, and inject
// failures with FailSend, FailSendWith, DropPolls and Redeliver.
//
// Guarantees: it listens on 127.0.0.1 only; it is closed when the test ends
// and a waiting long poll is released then; a request with any other token
// gets 401 Unauthorized, like a revoked token.
package faketelegram

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

// Defaults of a new Server.
const (
	DefaultToken    = "123456789:AAFakeTelegramTokenForTestsOnly_0123456789"
	DefaultBotID    = 123456789
	DefaultUsername = "talon_test_bot"
)

// User is a Telegram User object.
type User struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name,omitempty"`
	Username  string `json:"username,omitempty"`
}

// Chat is a Telegram Chat object.
type Chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"` // private, group, supergroup, channel
	Title     string `json:"title,omitempty"`
	Username  string `json:"username,omitempty"`
	FirstName string `json:"first_name,omitempty"`
	IsForum   bool   `json:"is_forum,omitempty"`
}

// MessageEntity is a Telegram MessageEntity; Offset and Length count
// UTF-16 code units.
type MessageEntity struct {
	Type   string `json:"type"`
	Offset int    `json:"offset"`
	Length int    `json:"length"`
	User   *User  `json:"user,omitempty"`
}

// MessageOrigin is a Telegram MessageOrigin (forward_origin).
type MessageOrigin struct {
	Type       string `json:"type"` // user, hidden_user, chat, channel
	Date       int64  `json:"date"`
	SenderUser *User  `json:"sender_user,omitempty"`
	SenderName string `json:"sender_user_name,omitempty"`
	Chat       *Chat  `json:"chat,omitempty"`
	MessageID  int    `json:"message_id,omitempty"`
}

// PhotoSize, Document and friends are file metadata.
type PhotoSize struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	Width        int    `json:"width"`
	Height       int    `json:"height"`
	FileSize     int64  `json:"file_size,omitempty"`
}

// File is the shape shared by document, video, audio, voice and sticker.
type File struct {
	FileID       string `json:"file_id"`
	FileUniqueID string `json:"file_unique_id"`
	FileName     string `json:"file_name,omitempty"`
	MimeType     string `json:"mime_type,omitempty"`
	FileSize     int64  `json:"file_size,omitempty"`
	Duration     int    `json:"duration,omitempty"`
	Emoji        string `json:"emoji,omitempty"`
	SetName      string `json:"set_name,omitempty"`
}

// TextQuote is the quoted part of a reply.
type TextQuote struct {
	Text     string `json:"text"`
	Position int    `json:"position"`
}

// Message is a Telegram Message object (the fields the fake knows).
type Message struct {
	MessageID       int             `json:"message_id"`
	MessageThreadID int             `json:"message_thread_id,omitempty"`
	From            *User           `json:"from,omitempty"`
	SenderChat      *Chat           `json:"sender_chat,omitempty"`
	Date            int64           `json:"date"`
	Chat            Chat            `json:"chat"`
	IsTopicMessage  bool            `json:"is_topic_message,omitempty"`
	ForwardOrigin   *MessageOrigin  `json:"forward_origin,omitempty"`
	ReplyToMessage  *Message        `json:"reply_to_message,omitempty"`
	Quote           *TextQuote      `json:"quote,omitempty"`
	Text            string          `json:"text,omitempty"`
	Entities        []MessageEntity `json:"entities,omitempty"`
	Caption         string          `json:"caption,omitempty"`
	CaptionEntities []MessageEntity `json:"caption_entities,omitempty"`
	Photo           []PhotoSize     `json:"photo,omitempty"`
	Document        *File           `json:"document,omitempty"`
	Video           *File           `json:"video,omitempty"`
	Audio           *File           `json:"audio,omitempty"`
	Voice           *File           `json:"voice,omitempty"`
	Sticker         *File           `json:"sticker,omitempty"`
}

// Update is a Telegram Update object. UpdateID 0 is assigned by Push.
type Update struct {
	UpdateID          int64          `json:"update_id"`
	Message           *Message       `json:"message,omitempty"`
	EditedMessage     *Message       `json:"edited_message,omitempty"`
	ChannelPost       *Message       `json:"channel_post,omitempty"`
	EditedChannelPost *Message       `json:"edited_channel_post,omitempty"`
	CallbackQuery     *CallbackQuery `json:"callback_query,omitempty"`
}

// kind is the update's type as allowed_updates names it.
func (u Update) kind() string {
	switch {
	case u.Message != nil:
		return "message"
	case u.EditedMessage != nil:
		return "edited_message"
	case u.ChannelPost != nil:
		return "channel_post"
	case u.EditedChannelPost != nil:
		return "edited_channel_post"
	case u.CallbackQuery != nil:
		return "callback_query"
	}
	return ""
}

// CallbackQuery is a press of an inline keyboard button (Press builds one).
type CallbackQuery struct {
	ID           string   `json:"id"`
	From         User     `json:"from"`
	Message      *Message `json:"message,omitempty"`
	ChatInstance string   `json:"chat_instance"`
	Data         string   `json:"data,omitempty"`
}

// InlineButton is one button of an inline keyboard as the bot sent it.
type InlineButton struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
}

// CallbackAnswer is one answerCallbackQuery call.
type CallbackAnswer struct {
	ID        string
	Text      string
	ShowAlert bool
}

// SentMessage is one sendMessage the server accepted.
type SentMessage struct {
	ChatID    string // chat_id as sent
	Text      string
	ThreadID  int    // message_thread_id
	ReplyTo   int    // reply_parameters.message_id (or legacy reply_to_message_id)
	ParseMode string // parse_mode, "" for plain text
	MessageID int    // the id the server gave it
	// Keyboard is reply_markup.inline_keyboard, when the message has one.
	Keyboard [][]InlineButton
	At       time.Time
}

// ChatAction is one sendChatAction call.
type ChatAction struct {
	ChatID   string
	Action   string
	ThreadID int
}

// Request is one API call as the server received it.
type Request struct {
	Method string            // as in the path, e.g. "sendMessage"
	Params map[string]string // every parameter; objects and arrays as JSON text
	Token  string            // the token in the path
	At     time.Time
}

// Server is the fake. Fields are read-only after New.
type Server struct {
	URL      string // base URL to configure as apiBaseUrl
	Token    string // the only token accepted
	BotID    int64
	Username string // the bot's username, without @

	t    testing.TB
	srv  *httptest.Server
	done chan struct{}

	mu         sync.Mutex
	wake       chan struct{} // closed and replaced whenever the queue changes
	queue      []Update      // not yet confirmed, in update_id order
	redeliver  []Update      // returned once more whatever the offset
	history    []Update      // every update getUpdates returned, for Redeliver
	nextUpdate int64
	nextMsg    int
	sent       []SentMessage
	actions    []ChatAction
	answers    []CallbackAnswer
	edits      int
	callbacks  map[string]bool // callback query ids pushed and not yet answered
	nextCB     int
	reqs       []Request
	sendFail   []failure
	pollFail   []failure
	dropPolls  int
	webhookURL string
	webhookSec string
	polls      int
}

type failure struct {
	status     int
	desc       string
	retryAfter int
}

// New starts a server with DefaultToken, DefaultBotID and DefaultUsername;
// it is closed when the test ends.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		Token:      DefaultToken,
		BotID:      DefaultBotID,
		Username:   DefaultUsername,
		t:          t,
		done:       make(chan struct{}),
		wake:       make(chan struct{}),
		nextUpdate: 100000,
		nextMsg:    1000,
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.handle))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.done)
		s.srv.CloseClientConnections()
		s.srv.Close()
	})
	return s
}

// Bot is the bot's own User.
func (s *Server) Bot() User {
	return User{ID: s.BotID, IsBot: true, FirstName: "Talon", Username: s.Username}
}

// Push queues updates for getUpdates, giving each a fresh update_id when it
// has none, and returns their ids.
func (s *Server) Push(updates ...Update) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]int64, 0, len(updates))
	for _, u := range updates {
		if u.UpdateID == 0 {
			s.nextUpdate++
			u.UpdateID = s.nextUpdate
		} else if u.UpdateID > s.nextUpdate {
			s.nextUpdate = u.UpdateID
		}
		s.queue = append(s.queue, u)
		ids = append(ids, u.UpdateID)
	}
	s.wakeLocked()
	return ids
}

// Redeliver makes the next getUpdates return the update with id once more,
// even though the client has confirmed it (as after a poll whose answer was
// lost, or a webhook retried). It reports whether the update was known.
func (s *Server) Redeliver(id int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.delivered(id)
	if !ok {
		return false
	}
	s.redeliver = append(s.redeliver, u)
	s.wakeLocked()
	return true
}

// delivered finds an update getUpdates has returned.
func (s *Server) delivered(id int64) (Update, bool) {
	for _, u := range s.history {
		if u.UpdateID == id {
			return u, true
		}
	}
	return Update{}, false
}

func (s *Server) wakeLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// FailSend makes the next n sendMessage calls answer 429 Too Many
// Requests with parameters.retry_after = retryAfter seconds.
func (s *Server) FailSend(n, retryAfter int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.sendFail = append(s.sendFail, failure{
			status:     http.StatusTooManyRequests,
			desc:       fmt.Sprintf("Too Many Requests: retry after %d", retryAfter),
			retryAfter: retryAfter,
		})
	}
}

// FailSendWith makes the next sendMessage answer status with description,
// e.g. 403 "Forbidden: bot was blocked by the user" or 400
// "Bad Request: chat not found".
func (s *Server) FailSendWith(status int, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sendFail = append(s.sendFail, failure{status: status, desc: description})
}

// FailPollsWith makes the next getUpdates answer status with description
// (an upstream error text; tests put what they like in it, e.g. the token
// as a proxy would quote it).
func (s *Server) FailPollsWith(status int, description string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pollFail = append(s.pollFail, failure{status: status, desc: description})
}

// DropPolls makes the next n getUpdates calls close the connection without
// an answer.
func (s *Server) DropPolls(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropPolls += n
}

// Polls is how many getUpdates calls the server answered or dropped.
func (s *Server) Polls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.polls
}

// Pending is how many pushed updates are not yet confirmed.
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue)
}

// Sent returns the messages sent so far.
func (s *Server) Sent() []SentMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentMessage(nil), s.sent...)
}

// WaitSent waits until at least n messages were sent and returns them; it
// fails the test after timeout. Call it from the test's goroutine.
func (s *Server) WaitSent(n int, timeout time.Duration) []SentMessage {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got, wake := len(s.sent), s.wake
		s.mu.Unlock()
		if got >= n {
			return s.Sent()
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.t.Fatalf("faketelegram: %d messages sent, want %d within %s: %+v", got, n, timeout, s.Sent())
		}
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// Actions returns the sendChatAction calls so far.
func (s *Server) Actions() []ChatAction {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ChatAction(nil), s.actions...)
}

// Requests returns every API call so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Calls returns the calls of one method (case-insensitive).
func (s *Server) Calls(method string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if strings.EqualFold(r.Method, method) {
			out = append(out, r)
		}
	}
	return out
}

// Webhook returns the URL and secret_token of the webhook set, if any.
func (s *Server) Webhook() (url, secretToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.webhookURL, s.webhookSec
}

// SetWebhook sets a webhook as if another process had called setWebhook
// (getUpdates then answers 409 until deleteWebhook).
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.webhookURL = url
}

// PostWebhook POSTs u as JSON to a webhook receiver at url, with the
// X-Telegram-Bot-Api-Secret-Token header set to secretToken unless it is
// empty, as Telegram does, and returns the HTTP status.
func PostWebhook(url, secretToken string, u Update) (int, error) {
	body, err := json.Marshal(u)
	if err != nil {
		return 0, err
	}
	return PostWebhookRaw(url, secretToken, body)
}

// PostWebhookRaw is PostWebhook with a raw body (for malformed input).
func PostWebhookRaw(url, secretToken string, body []byte) (int, error) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secretToken != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secretToken)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Builders. Each returns an Update without an id (Push assigns it) whose
// message has a fresh message_id and the current time.

func (s *Server) msg(chat Chat, from User, text string) *Message {
	s.mu.Lock()
	s.nextMsg++
	id := s.nextMsg
	s.mu.Unlock()
	f := from
	return &Message{MessageID: id, From: &f, Date: time.Now().Unix(), Chat: chat, Text: text}
}

// DM is a private message from "from" to the bot.
func (s *Server) DM(from User, text string) Update {
	chat := Chat{ID: from.ID, Type: "private", FirstName: from.FirstName, Username: from.Username}
	return Update{Message: s.msg(chat, from, text)}
}

// Group is a message in supergroup chatID (negative, e.g. -1001234).
func (s *Server) Group(chatID int64, from User, text string) Update {
	return Update{Message: s.msg(Chat{ID: chatID, Type: "supergroup", Title: "Test group"}, from, text)}
}

// Topic is a message in forum topic threadID of supergroup chatID.
func (s *Server) Topic(chatID int64, threadID int, from User, text string) Update {
	u := Update{Message: s.msg(Chat{ID: chatID, Type: "supergroup", Title: "Test forum", IsForum: true}, from, text)}
	u.Message.MessageThreadID = threadID
	u.Message.IsTopicMessage = true
	return u
}

// Mention is a group message "@<bot username> text" with the mention entity
// Telegram adds.
func (s *Server) Mention(chatID int64, from User, text string) Update {
	at := "@" + s.Username
	u := s.Group(chatID, from, at+" "+text)
	u.Message.Entities = []MessageEntity{{Type: "mention", Offset: 0, Length: UTF16Len(at)}}
	return u
}

// ReplyToBot is a group message replying to the bot's message replyTo
// (whose text was botText).
func (s *Server) ReplyToBot(chatID int64, from User, text string, replyTo int, botText string) Update {
	u := s.Group(chatID, from, text)
	bot := s.Bot()
	u.Message.ReplyToMessage = &Message{MessageID: replyTo, From: &bot, Date: time.Now().Unix() - 60, Chat: u.Message.Chat, Text: botText}
	return u
}

// Forward is a DM from "from" forwarding text written by origin.
func (s *Server) Forward(from User, text string, origin User) Update {
	u := s.DM(from, text)
	o := origin
	u.Message.ForwardOrigin = &MessageOrigin{Type: "user", Date: time.Now().Unix() - 3600, SenderUser: &o}
	return u
}

// ChannelPost is a post in channel chatID.
func (s *Server) ChannelPost(chatID int64, text string) Update {
	s.mu.Lock()
	s.nextMsg++
	id := s.nextMsg
	s.mu.Unlock()
	ch := Chat{ID: chatID, Type: "channel", Title: "Test channel"}
	c := ch
	return Update{ChannelPost: &Message{MessageID: id, SenderChat: &c, Date: time.Now().Unix(), Chat: ch, Text: text}}
}

// Press is from pressing the inline button with data under the bot's
// message sent (as Telegram reports it, whatever the data: a modified
// client can send any). Push it like any update.
func (s *Server) Press(from User, sent SentMessage, data string) Update {
	s.mu.Lock()
	s.nextCB++
	id := fmt.Sprintf("%d%06d", from.ID, s.nextCB)
	if s.callbacks == nil {
		s.callbacks = map[string]bool{}
	}
	s.callbacks[id] = true
	s.mu.Unlock()
	n, _ := strconv.ParseInt(sent.ChatID, 10, 64)
	chat := Chat{ID: n, Type: "private"}
	if n < 0 {
		chat.Type = "supergroup"
	}
	bot := s.Bot()
	msg := &Message{MessageID: sent.MessageID, From: &bot, Date: sent.At.Unix(), Chat: chat, Text: sent.Text}
	return Update{CallbackQuery: &CallbackQuery{ID: id, From: from, Message: msg, ChatInstance: "ci" + sent.ChatID, Data: data}}
}

// Answers returns the answerCallbackQuery calls so far.
func (s *Server) Answers() []CallbackAnswer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]CallbackAnswer(nil), s.answers...)
}

// WaitAnswers waits until at least n callback queries were answered.
func (s *Server) WaitAnswers(n int, timeout time.Duration) []CallbackAnswer {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s.mu.Lock()
		got, wake := len(s.answers), s.wake
		s.mu.Unlock()
		if got >= n {
			return s.Answers()
		}
		left := time.Until(deadline)
		if left <= 0 {
			s.t.Fatalf("faketelegram: %d callback queries answered, want %d within %s", got, n, timeout)
		}
		t := time.NewTimer(left)
		select {
		case <-wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// UTF16Len counts UTF-16 code units, the unit of entity offsets.
func UTF16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// The API.

type apiResponse struct {
	OK          bool        `json:"ok"`
	Result      any         `json:"result,omitempty"`
	ErrorCode   int         `json:"error_code,omitempty"`
	Description string      `json:"description,omitempty"`
	Parameters  *parameters `json:"parameters,omitempty"`
}

type parameters struct {
	RetryAfter int `json:"retry_after,omitempty"`
}

func reply(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(apiResponse{OK: true, Result: result})
}

func fail(w http.ResponseWriter, status int, desc string, retryAfter int) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	r := apiResponse{ErrorCode: status, Description: desc}
	if retryAfter > 0 {
		r.Parameters = &parameters{RetryAfter: retryAfter}
	}
	json.NewEncoder(w).Encode(r)
}

func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	token, method, ok2 := strings.Cut(rest, "/")
	if !ok || !ok2 || method == "" {
		fail(w, http.StatusNotFound, "Not Found", 0)
		return
	}
	params, err := readParams(r)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{Method: method, Params: params, Token: token, At: time.Now()})
	s.mu.Unlock()
	if token != s.Token {
		fail(w, http.StatusUnauthorized, "Unauthorized", 0)
		return
	}
	if err != nil {
		fail(w, http.StatusBadRequest, "Bad Request: "+err.Error(), 0)
		return
	}
	switch strings.ToLower(method) {
	case "getme":
		reply(w, map[string]any{
			"id": s.BotID, "is_bot": true, "first_name": "Talon", "username": s.Username,
			"can_join_groups": true, "can_read_all_group_messages": false, "supports_inline_queries": false,
		})
	case "getupdates":
		s.getUpdates(w, r, params)
	case "sendmessage":
		s.sendMessage(w, params)
	case "sendchataction":
		if params["chat_id"] == "" || params["action"] == "" {
			fail(w, http.StatusBadRequest, "Bad Request: chat_id and action are required", 0)
			return
		}
		thread, _ := strconv.Atoi(params["message_thread_id"])
		s.mu.Lock()
		s.actions = append(s.actions, ChatAction{ChatID: params["chat_id"], Action: params["action"], ThreadID: thread})
		s.mu.Unlock()
		reply(w, true)
	case "editmessagereplymarkup":
		s.editReplyMarkup(w, params)
	case "answercallbackquery":
		id := params["callback_query_id"]
		s.mu.Lock()
		if !s.callbacks[id] {
			s.mu.Unlock()
			fail(w, http.StatusBadRequest, "Bad Request: query is too old and response timeout expired or query ID is invalid", 0)
			return
		}
		delete(s.callbacks, id)
		s.answers = append(s.answers, CallbackAnswer{ID: id, Text: params["text"], ShowAlert: params["show_alert"] == "true"})
		s.wakeLocked()
		s.mu.Unlock()
		reply(w, true)
	case "setwebhook":
		u := params["url"]
		if u != "" && !strings.HasPrefix(u, "https://") {
			fail(w, http.StatusBadRequest, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook", 0)
			return
		}
		s.mu.Lock()
		s.webhookURL, s.webhookSec = u, params["secret_token"]
		s.wakeLocked() // a waiting getUpdates now conflicts
		s.mu.Unlock()
		reply(w, true)
	case "deletewebhook":
		s.mu.Lock()
		s.webhookURL, s.webhookSec = "", ""
		if params["drop_pending_updates"] == "true" {
			s.queue = nil
		}
		s.mu.Unlock()
		reply(w, true)
	case "getwebhookinfo":
		s.mu.Lock()
		info := map[string]any{"url": s.webhookURL, "has_custom_certificate": false, "pending_update_count": len(s.queue)}
		s.mu.Unlock()
		reply(w, info)
	default:
		fail(w, http.StatusNotFound, "Not Found: method not found", 0)
	}
}

func (s *Server) getUpdates(w http.ResponseWriter, r *http.Request, p map[string]string) {
	offset, _ := strconv.ParseInt(p["offset"], 10, 64)
	limit, _ := strconv.Atoi(p["limit"])
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	timeout, _ := strconv.Atoi(p["timeout"])
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	var allowed map[string]bool
	if au := p["allowed_updates"]; au != "" {
		var kinds []string
		if json.Unmarshal([]byte(au), &kinds) == nil && len(kinds) > 0 {
			allowed = map[string]bool{}
			for _, k := range kinds {
				allowed[k] = true
			}
		}
	}

	s.mu.Lock()
	s.polls++
	if len(s.pollFail) > 0 {
		f := s.pollFail[0]
		s.pollFail = s.pollFail[1:]
		s.mu.Unlock()
		fail(w, f.status, f.desc, f.retryAfter)
		return
	}
	if s.dropPolls > 0 {
		s.dropPolls--
		s.mu.Unlock()
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	}
	s.mu.Unlock()

	for {
		s.mu.Lock()
		if s.webhookURL != "" {
			s.mu.Unlock()
			fail(w, http.StatusConflict, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", 0)
			return
		}
		// An offset confirms every update below it.
		if offset > 0 {
			keep := s.queue[:0]
			for _, u := range s.queue {
				if u.UpdateID >= offset {
					keep = append(keep, u)
				}
			}
			s.queue = keep
		}
		var out []Update
		out = append(out, s.redeliver...)
		s.redeliver = nil
		for _, u := range s.queue {
			if len(out) >= limit {
				break
			}
			if allowed != nil && !allowed[u.kind()] {
				continue // Telegram does not send kinds the bot did not ask for
			}
			out = append(out, u)
		}
		if offset < 0 && len(out) > int(-offset) {
			out = out[len(out)-int(-offset):]
		}
		wake := s.wake
		if len(out) > 0 || !time.Now().Before(deadline) {
			s.history = append(s.history, out...)
			s.mu.Unlock()
			if out == nil {
				out = []Update{}
			}
			reply(w, out)
			return
		}
		s.mu.Unlock()
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-wake:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		case <-s.done:
			t.Stop()
			return
		}
		t.Stop()
	}
}

func (s *Server) sendMessage(w http.ResponseWriter, p map[string]string) {
	chatID, text := p["chat_id"], p["text"]
	switch {
	case chatID == "":
		fail(w, http.StatusBadRequest, "Bad Request: chat_id is empty", 0)
		return
	case strings.TrimSpace(text) == "":
		fail(w, http.StatusBadRequest, "Bad Request: message text is empty", 0)
		return
	case UTF16Len(text) > 4096:
		fail(w, http.StatusBadRequest, "Bad Request: message is too long", 0)
		return
	}
	s.mu.Lock()
	if len(s.sendFail) > 0 {
		f := s.sendFail[0]
		s.sendFail = s.sendFail[1:]
		s.mu.Unlock()
		fail(w, f.status, f.desc, f.retryAfter)
		return
	}
	thread, _ := strconv.Atoi(p["message_thread_id"])
	replyTo, _ := strconv.Atoi(p["reply_to_message_id"])
	if rp := p["reply_parameters"]; rp != "" {
		var v struct {
			MessageID int `json:"message_id"`
		}
		if err := json.Unmarshal([]byte(rp), &v); err != nil {
			s.mu.Unlock()
			fail(w, http.StatusBadRequest, "Bad Request: can't parse reply parameters JSON object", 0)
			return
		}
		replyTo = v.MessageID
	}
	var keyboard [][]InlineButton
	if rm := p["reply_markup"]; rm != "" {
		var v struct {
			InlineKeyboard [][]InlineButton `json:"inline_keyboard"`
		}
		if err := json.Unmarshal([]byte(rm), &v); err != nil {
			s.mu.Unlock()
			fail(w, http.StatusBadRequest, "Bad Request: can't parse reply keyboard markup JSON object", 0)
			return
		}
		for _, row := range v.InlineKeyboard {
			for _, b := range row {
				if b.Text == "" || len(b.CallbackData) > 64 || (b.CallbackData == "" && b.URL == "") {
					s.mu.Unlock()
					fail(w, http.StatusBadRequest, "Bad Request: BUTTON_DATA_INVALID", 0)
					return
				}
			}
		}
		keyboard = v.InlineKeyboard
	}
	s.nextMsg++
	id := s.nextMsg
	s.sent = append(s.sent, SentMessage{ChatID: chatID, Text: text, ThreadID: thread, ReplyTo: replyTo, ParseMode: p["parse_mode"], MessageID: id, At: time.Now(), Keyboard: keyboard})
	s.wakeLocked()
	s.mu.Unlock()

	n, _ := strconv.ParseInt(chatID, 10, 64)
	chat := Chat{ID: n, Type: "private"}
	if n < 0 {
		chat.Type = "supergroup"
	}
	bot := s.Bot()
	m := Message{MessageID: id, From: &bot, Date: time.Now().Unix(), Chat: chat, Text: text, MessageThreadID: thread, IsTopicMessage: thread != 0}
	reply(w, m)
}

// editReplyMarkup replaces the inline keyboard of a message the bot sent
// (an empty or missing reply_markup removes it), as Telegram does: an
// unknown message, or no change, is a 400.
func (s *Server) editReplyMarkup(w http.ResponseWriter, p map[string]string) {
	msgID, _ := strconv.Atoi(p["message_id"])
	var v struct {
		InlineKeyboard [][]InlineButton `json:"inline_keyboard"`
	}
	if rm := p["reply_markup"]; rm != "" {
		if err := json.Unmarshal([]byte(rm), &v); err != nil {
			fail(w, http.StatusBadRequest, "Bad Request: can't parse reply keyboard markup JSON object", 0)
			return
		}
	}
	var kb [][]InlineButton
	for _, row := range v.InlineKeyboard {
		if len(row) > 0 {
			kb = append(kb, row)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.sent {
		m := &s.sent[i]
		if m.ChatID != p["chat_id"] || m.MessageID != msgID {
			continue
		}
		if len(kb) == 0 && len(m.Keyboard) == 0 {
			fail(w, http.StatusBadRequest, "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message", 0)
			return
		}
		m.Keyboard = kb
		s.edits++
		s.wakeLocked()
		n, _ := strconv.ParseInt(m.ChatID, 10, 64)
		bot := s.Bot()
		reply(w, Message{MessageID: m.MessageID, From: &bot, Date: m.At.Unix(), Chat: Chat{ID: n, Type: "private"}, Text: m.Text})
		return
	}
	fail(w, http.StatusBadRequest, "Bad Request: message to edit not found", 0)
}

// Edits is how many editMessageReplyMarkup calls changed a message.
func (s *Server) Edits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.edits
}

// readParams collects a request's parameters from the query string and a
// JSON, urlencoded or multipart body. Non-string JSON values are kept as
// their JSON text, as the form encodings carry them.
func readParams(r *http.Request) (map[string]string, error) {
	p := map[string]string{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	if r.Body == nil {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
	if err != nil {
		return p, err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		// Clients send an empty body (even an empty multipart one) for
		// methods without parameters; Telegram accepts that.
		return p, nil
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		var m map[string]json.RawMessage
		if err := json.Unmarshal(body, &m); err != nil {
			return p, fmt.Errorf("can't parse JSON: %v", err)
		}
		for k, v := range m {
			var str string
			if json.Unmarshal(v, &str) == nil {
				p[k] = str
			} else {
				p[k] = string(v)
			}
		}
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return p, err
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
	case "multipart/form-data":
		if err := r.ParseMultipartForm(10 << 20); err != nil {
			return p, err
		}
		for k, v := range r.MultipartForm.Value {
			p[k] = v[0]
		}
	}
	return p, nil
}
