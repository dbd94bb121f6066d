package telegram

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-telegram/bot"
	"github.com/go-telegram/bot/models"

	"github.com/talonclaw/talon/internal/channels"
)

// Send implements channels.Adapter: text goes out as plain text (no
// parse_mode, so nothing in it is read as markup) in chunks of at most
// channels.TelegramMaxLen UTF-16 code units, each retried on Telegram's
// retry_after. The first chunk replies to target.ReplyTo when it is set.
func (a *Adapter) Send(ctx context.Context, target channels.Target, text string) (channels.Delivery, error) {
	var d channels.Delivery
	chatID, err := chatParam(target.ChatID)
	if err != nil {
		return d, err
	}
	thread, err := threadParam(target.TopicID)
	if err != nil {
		return d, err
	}
	replyTo := replyParam(target.ReplyTo)
	for i, chunk := range channels.Chunk(text, channels.TelegramMaxLen, channels.UTF16Len) {
		p := &bot.SendMessageParams{ChatID: chatID, Text: chunk, MessageThreadID: thread}
		if i == 0 && replyTo != 0 {
			// Without allow_sending_without_reply a deleted original
			// would make the whole answer fail.
			p.ReplyParameters = &models.ReplyParameters{MessageID: replyTo, AllowSendingWithoutReply: true}
		}
		var sent *models.Message
		err := channels.Retry(ctx, channels.RetryPolicy{}, func(ctx context.Context) error {
			m, err := a.api.SendMessage(ctx, p)
			if err != nil {
				return a.apiError("sendMessage", err)
			}
			sent = m
			return nil
		})
		if err != nil {
			a.tracker.SendFailed(err)
			return d, err
		}
		a.tracker.Sent()
		id := fmt.Sprint(sent.ID)
		if sent.Chat.ID != 0 {
			id = fmt.Sprintf("%d:%d", sent.Chat.ID, sent.ID)
		}
		d.MessageIDs = append(d.MessageIDs, id)
	}
	return d, nil
}

// Typing implements channels.Adapter with sendChatAction "typing", which
// Telegram shows for about five seconds.
func (a *Adapter) Typing(ctx context.Context, target channels.Target) error {
	chatID, err := chatParam(target.ChatID)
	if err != nil {
		return err
	}
	thread, err := threadParam(target.TopicID)
	if err != nil {
		return err
	}
	_, err = a.api.SendChatAction(ctx, &bot.SendChatActionParams{ChatID: chatID, MessageThreadID: thread, Action: models.ChatActionTyping})
	if err != nil {
		return a.apiError("sendChatAction", err)
	}
	return nil
}

// chatParam is a chat_id: a number, or "@channelusername".
func chatParam(s string) (any, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	if len(s) > 1 && s[0] == '@' && !strings.ContainsAny(s, " \t\r\n") {
		return s, nil
	}
	return nil, channels.Permanent(fmt.Errorf("telegram: chat id %q is neither a number nor @channelusername", s))
}

// threadParam is a message_thread_id (a forum topic), or 0 for none.
func threadParam(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, channels.Permanent(fmt.Errorf("telegram: topic id %q is not a message_thread_id", s))
	}
	return n, nil
}

// replyParam takes the message id from a Message.ID ("<chat id>:<message
// id>") or a bare message id; anything else is no reply.
func replyParam(s string) int {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		s = s[i+1:]
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0
	}
	return n
}

// errUnauthorized is what a rejected bot token unwraps to.
var errUnauthorized = errors.New("telegram: unauthorized")

// apiError is an error whose message is already free of the token. It
// keeps no link to the error it was made from, which may carry the token
// in a request URL; kind is a sentinel safe to expose (errUnauthorized, a
// context error) or nil.
type apiError struct {
	msg  string
	kind error
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.kind }

// apiError turns an error of the library (or of a raw call) into one the
// rest of the program may print: token scrubbed, Telegram's 429 as a
// channels.RateLimitError, other 4xx answers as channels.Permanent.
func (a *Adapter) apiError(method string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		// The URL of a Bot API request contains the token; drop it
		// rather than trust every layer to have redacted it.
		err = fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	msg := fmt.Sprintf("telegram: %s: %s", method, a.scrub(err.Error()))
	var kind error
	switch {
	case errors.Is(err, context.Canceled):
		kind = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		kind = context.DeadlineExceeded
	}
	var tm *bot.TooManyRequestsError
	var mig *bot.MigrateError
	switch {
	case errors.Is(err, bot.ErrorUnauthorized):
		return a.unauthorized()
	case errors.As(err, &tm):
		return &channels.RateLimitError{RetryAfter: retryAfter(tm.RetryAfter), Err: &apiError{msg: msg}}
	case errors.As(err, &mig):
		return channels.Permanent(&apiError{msg: msg + fmt.Sprintf(" (hint: the group became supergroup %d)", mig.MigrateToChatID)})
	case errors.Is(err, bot.ErrorForbidden), errors.Is(err, bot.ErrorBadRequest), errors.Is(err, bot.ErrorNotFound):
		return channels.Permanent(&apiError{msg: msg})
	}
	return &apiError{msg: msg, kind: kind}
}

// unauthorized is the error of a rejected token (HTTP 401 from any method).
func (a *Adapter) unauthorized() error {
	return channels.Permanent(&apiError{
		msg:  fmt.Sprintf("telegram: the bot token was rejected (401) (hint: check %sbotToken)", a.key()),
		kind: errUnauthorized,
	})
}

// retryAfter converts Telegram's retry_after seconds; a 429 without one
// still waits a second.
func retryAfter(sec int) time.Duration {
	return time.Duration(max(sec, 1)) * time.Second
}

// key is the config path of this account's settings, for hints.
func (a *Adapter) key() string {
	if a.account == "default" {
		return "channels.telegram."
	}
	return "channels.telegram.accounts." + a.account + "."
}

// SendButtons implements channels.ButtonSender: text as Send sends it, with
// the buttons as an inline keyboard (one row) under its last chunk. A
// press comes back as a callback_query update (channels.Action).
func (a *Adapter) SendButtons(ctx context.Context, target channels.Target, text string, buttons []channels.Button) (channels.Delivery, error) {
	chunks := channels.Chunk(text, channels.TelegramMaxLen, channels.UTF16Len)
	var d channels.Delivery
	if len(chunks) > 1 {
		var err error
		if d, err = a.Send(ctx, target, strings.Join(chunks[:len(chunks)-1], "")); err != nil {
			return d, err
		}
	}
	chatID, err := chatParam(target.ChatID)
	if err != nil {
		return d, err
	}
	thread, err := threadParam(target.TopicID)
	if err != nil {
		return d, err
	}
	row := make([]models.InlineKeyboardButton, len(buttons))
	for i, b := range buttons {
		row[i] = models.InlineKeyboardButton{Text: b.Label, CallbackData: b.Data}
	}
	p := &bot.SendMessageParams{ChatID: chatID, Text: chunks[len(chunks)-1], MessageThreadID: thread,
		ReplyMarkup: models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{row}}}
	var sent *models.Message
	err = channels.Retry(ctx, channels.RetryPolicy{}, func(ctx context.Context) error {
		m, err := a.api.SendMessage(ctx, p)
		if err != nil {
			return a.apiError("sendMessage", err)
		}
		sent = m
		return nil
	})
	if err != nil {
		a.tracker.SendFailed(err)
		return d, err
	}
	a.tracker.Sent()
	d.MessageIDs = append(d.MessageIDs, fmt.Sprintf("%d:%d", sent.Chat.ID, sent.ID))
	return d, nil
}

// AnswerAction implements channels.ActionAnswerer with answerCallbackQuery,
// which Telegram wants for every press (the button spins until then);
// text shows to the presser alone, as a short notice.
func (a *Adapter) AnswerAction(ctx context.Context, act channels.Action, text string) error {
	if len([]rune(text)) > 200 {
		text = string([]rune(text)[:200])
	}
	_, err := a.api.AnswerCallbackQuery(ctx, &bot.AnswerCallbackQueryParams{CallbackQueryID: act.ID, Text: text})
	if err != nil {
		return a.apiError("answerCallbackQuery", err)
	}
	return nil
}

// CloseButtons implements channels.ButtonCloser with
// editMessageReplyMarkup and an empty keyboard; messageID is
// "<chat id>:<message id>" as SendButtons reports it.
func (a *Adapter) CloseButtons(ctx context.Context, _ channels.Target, messageID, _ string) error {
	chat, msg, ok := strings.Cut(messageID, ":")
	id, err := strconv.Atoi(msg)
	if !ok || err != nil || id <= 0 {
		return channels.Permanent(fmt.Errorf("telegram: %q is not a message id", messageID))
	}
	chatID, err := chatParam(chat)
	if err != nil {
		return err
	}
	_, err = a.api.EditMessageReplyMarkup(ctx, &bot.EditMessageReplyMarkupParams{ChatID: chatID, MessageID: id,
		ReplyMarkup: models.InlineKeyboardMarkup{InlineKeyboard: [][]models.InlineKeyboardButton{}}})
	if err != nil {
		return a.apiError("editMessageReplyMarkup", err)
	}
	return nil
}
