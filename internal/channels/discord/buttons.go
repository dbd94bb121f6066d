package discord

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/talonclaw/talon/internal/channels"
)

// Approval requests carry message components (one action row of buttons);
// a press arrives as INTERACTION_CREATE (type 3, MESSAGE_COMPONENT) and is
// answered within Discord's three seconds with an ephemeral message
// (POST /interactions/{id}/{token}/callback, type 4, flags 64). The
// interaction token authenticates that answer and is valid for 15
// minutes: it is only put in that path and never logged. A DM is a
// channel of its own, opened with POST /users/@me/channels.

var (
	_ channels.ButtonSender   = (*Adapter)(nil)
	_ channels.ActionAnswerer = (*Adapter)(nil)
	_ channels.DirectOpener   = (*Adapter)(nil)
	_ channels.ButtonCloser   = (*Adapter)(nil)
)

// Discord's button styles.
const (
	stylePrimary   = 1
	styleSecondary = 2
	styleDanger    = 4
)

type component struct {
	Type       int         `json:"type"`
	Style      int         `json:"style,omitempty"`
	Label      string      `json:"label,omitempty"`
	CustomID   string      `json:"custom_id,omitempty"`
	Components []component `json:"components,omitempty"`
}

// SendButtons implements channels.ButtonSender: text in chunks as Send
// sends it, the buttons in one action row under the last chunk.
func (a *Adapter) SendButtons(ctx context.Context, target channels.Target, text string, buttons []channels.Button) (channels.Delivery, error) {
	var d channels.Delivery
	ch, err := destination(target)
	if err != nil {
		return d, err
	}
	chunks := channels.Chunk(text, channels.DiscordMaxLen, channels.Runes)
	if len(chunks) == 0 {
		return d, channels.Permanent(errors.New("discord: nothing to send: the text is empty"))
	}
	if len(chunks) > 1 {
		if d, err = a.Send(ctx, target, strings.Join(chunks[:len(chunks)-1], "")); err != nil {
			return d, err
		}
	}
	row := component{Type: 1}
	for _, b := range buttons {
		style := styleSecondary
		switch b.Style {
		case "primary":
			style = stylePrimary
		case "danger":
			style = styleDanger
		}
		row.Components = append(row.Components, component{Type: 2, Style: style, Label: b.Label, CustomID: b.Data})
	}
	body := struct {
		outMessage
		Components []component `json:"components"`
	}{outMessage{Content: chunks[len(chunks)-1], AllowedMentions: allowedMentions{Parse: []string{}}}, []component{row}}
	var got struct {
		ID string `json:"id"`
	}
	err = channels.Retry(ctx, sendPolicy, func(ctx context.Context) error {
		return a.do(ctx, http.MethodPost, "/channels/"+ch+"/messages", body, &got)
	})
	if err != nil {
		err = a.scrubErr(fmt.Errorf("discord: send to channel %s: %w", ch, err))
		a.tracker.SendFailed(err)
		return d, err
	}
	a.tracker.Sent()
	d.MessageIDs = append(d.MessageIDs, got.ID)
	return d, nil
}

// AnswerAction implements channels.ActionAnswerer: an ephemeral message
// only the presser sees.
func (a *Adapter) AnswerAction(ctx context.Context, act channels.Action, text string) error {
	if !snowflake(act.ID) || act.Token == "" || len(act.Token) > 500 {
		return channels.Permanent(errors.New("discord: not an interaction to answer"))
	}
	body := map[string]any{"type": 4, "data": map[string]any{"content": clip(text, channels.DiscordMaxLen-10), "flags": 64,
		"allowed_mentions": allowedMentions{Parse: []string{}}}}
	err := a.do(ctx, http.MethodPost, "/interactions/"+act.ID+"/"+url.PathEscape(act.Token)+"/callback", body, nil)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its text holds the URL, and so the token
		}
		return fmt.Errorf("discord: answering interaction %s: %w", act.ID, a.scrubErr(err))
	}
	return nil
}

// OpenDirect implements channels.DirectOpener: the DM channel with user
// (Discord answers with the same channel each time).
func (a *Adapter) OpenDirect(ctx context.Context, user string) (channels.Target, error) {
	if !snowflake(user) {
		return channels.Target{}, channels.Permanent(fmt.Errorf("discord: %q is not a Discord user id", clip(user, 40)))
	}
	var got struct {
		ID string `json:"id"`
	}
	if err := a.do(ctx, http.MethodPost, "/users/@me/channels", map[string]string{"recipient_id": user}, &got); err != nil {
		return channels.Target{}, a.scrubErr(fmt.Errorf("discord: opening a DM with %s: %w", user, err))
	}
	if !snowflake(got.ID) {
		return channels.Target{}, errors.New("discord: opening a DM: no channel id in the answer")
	}
	return channels.Target{ChatID: got.ID, ChatType: channels.ChatDirect}, nil
}

// onInteraction turns a button press into a Message with an Action, which
// the Router handles itself; other interactions are ignored. It runs in
// discordgo's receive loop.
func (a *Adapter) onInteraction(in *discordgo.Interaction) {
	if in == nil || in.Type != discordgo.InteractionMessageComponent || !snowflake(in.ID) || in.Token == "" {
		return
	}
	data, ok := in.Data.(discordgo.MessageComponentInteractionData)
	if !ok {
		return
	}
	u := in.User
	if in.Member != nil && in.Member.User != nil {
		u = in.Member.User
	}
	if u == nil || !snowflake(u.ID) {
		return
	}
	m := channels.Message{
		Channel:        "discord",
		Account:        a.account,
		ID:             "interaction:" + in.ID,
		SenderID:       u.ID,
		SenderUsername: u.Username,
		SenderName:     u.GlobalName,
		SenderIsBot:    u.Bot || u.ID == a.bot(),
		ChatID:         in.ChannelID,
		ChatType:       channels.ChatDirect,
		GuildID:        in.GuildID,
		Time:           time.Now().UTC(),
		Action:         &channels.Action{ID: in.ID, Token: in.Token, Data: data.CustomID},
	}
	if in.GuildID != "" {
		m.ChatType = channels.ChatChannel
	}
	if in.Message != nil {
		m.Action.MessageID = in.Message.ID
	}
	if a.dedupe.Seen(m.ID, time.Now()) {
		return
	}
	a.tracker.Received()
	if err := a.handler(a.lifeCtx(), m); err != nil {
		a.dedupe.Forget(m.ID)
		a.log.Error("discord: button press not handled", "id", in.ID, "err", err)
	}
}

// CloseButtons implements channels.ButtonCloser: the message keeps its
// text and loses its components (PATCH with "components": []).
func (a *Adapter) CloseButtons(ctx context.Context, target channels.Target, messageID, _ string) error {
	ch, err := destination(target)
	if err != nil {
		return err
	}
	if !snowflake(messageID) {
		return channels.Permanent(fmt.Errorf("discord: %q is not a Discord message id", clip(messageID, 40)))
	}
	if err := a.do(ctx, http.MethodPatch, "/channels/"+ch+"/messages/"+messageID, map[string]any{"components": []any{}}, nil); err != nil {
		return a.scrubErr(fmt.Errorf("discord: editing message %s in channel %s: %w", messageID, ch, err))
	}
	return nil
}
