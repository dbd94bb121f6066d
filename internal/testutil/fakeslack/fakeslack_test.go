package fakeslack

import (
	"context"
	"errors"
	"io"
	"log"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackevents"
	"github.com/slack-go/slack/socketmode"
)

// The fake is checked against slack-go, an independent client of the real
// API: if slack-go accepts what the fake says, so would the real thing.

func TestSignMatchesSlackGoVerifier(t *testing.T) {
	body := MarshalCallback(New(t).NewCallback(Event{Type: "message", User: "U1", Text: "hi", TS: "1.2", Channel: "C1"}))
	req := EventRequest{Body: body, Secret: "s3cret"}.Request("http://x/")
	v, err := slack.NewSecretsVerifier(req.Header, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	v.Write(body)
	if err := v.Ensure(); err != nil {
		t.Errorf("slack-go rejects the fake's signature: %v", err)
	}
	old := EventRequest{Body: body, Secret: "s3cret", Time: time.Now().Add(-6 * time.Minute)}.Request("http://x/")
	if _, err := slack.NewSecretsVerifier(old.Header, "s3cret"); err == nil {
		t.Error("slack-go accepts a 6-minute-old timestamp; the fake's clock is off")
	}
}

func TestWebAPIWithSlackGo(t *testing.T) {
	s := New(t)
	ctx := context.Background()
	api := slack.New(s.BotToken, slack.OptionAPIURL(s.URL))
	me, err := api.AuthTestContext(ctx)
	if err != nil || me.UserID != BotUserID || me.BotID != BotID || me.TeamID != TeamID {
		t.Fatalf("auth.test = %+v, %v", me, err)
	}
	if _, err := slack.New("xoxb-wrong", slack.OptionAPIURL(s.URL)).AuthTestContext(ctx); err == nil || err.Error() != "invalid_auth" {
		t.Errorf("wrong token: %v", err)
	}
	ch, ts, err := api.PostMessageContext(ctx, "C1", slack.MsgOptionText("hello", false), slack.MsgOptionTS("1.0"))
	if err != nil || ch != "C1" || ts == "" {
		t.Fatalf("chat.postMessage = %q %q %v", ch, ts, err)
	}
	if p := s.Posts(); len(p) != 1 || p[0].Text != "hello" || p[0].ThreadTS != "1.0" || p[0].TS != ts {
		t.Errorf("posts = %+v", p)
	}
	s.Fail("chat.postMessage", Failure{Status: 429, RetryAfter: "7"}, Failure{Error: "channel_not_found"})
	_, _, err = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false))
	var rl *slack.RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
		t.Errorf("429: %v", err)
	}
	if _, _, err = api.PostMessageContext(ctx, "C1", slack.MsgOptionText("x", false)); err == nil || err.Error() != "channel_not_found" {
		t.Errorf("injected error: %v", err)
	}
	if _, _, err := api.StartSocketModeContext(ctx); err == nil {
		t.Error("apps.connections.open accepted the bot token")
	}
}

func TestSocketModeWithSlackGo(t *testing.T) {
	s := New(t)
	api := slack.New(s.BotToken, slack.OptionAPIURL(s.URL), slack.OptionAppLevelToken(s.AppToken))
	sm := socketmode.New(api, socketmode.OptionLog(log.New(io.Discard, "", 0)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sm.RunContext(ctx) }()
	defer func() { cancel(); <-done }()

	s.WaitConnected(1)
	var env Envelope
	sent := false
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev := <-sm.Events:
			switch ev.Type {
			case socketmode.EventTypeHello:
				if !sent {
					env = s.SendEvent(Event{Type: "message", User: "U1", Text: "hi", TS: "1.2", Channel: "D1", ChannelType: "im"})
					sent = true
				}
			case socketmode.EventTypeEventsAPI:
				e := ev.Data.(slackevents.EventsAPIEvent)
				m, ok := e.InnerEvent.Data.(*slackevents.MessageEvent)
				if !ok || m.Text != "hi" || m.ChannelType != "im" {
					t.Fatalf("event = %+v", e.InnerEvent.Data)
				}
				sm.Ack(*ev.Request)
				s.WaitAck(env.EnvelopeID)
				return
			}
		case <-timeout:
			t.Fatal("no event through slack-go's socketmode client")
		}
	}
}
