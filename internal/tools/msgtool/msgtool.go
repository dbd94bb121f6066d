// Package msgtool implements the message tool. A message to the
// conversation the turn answers is a reply; any other target (another
// chat, another channel) is a message out, which the policy treats as
// egress and asks about in tainted sessions and for senders other than
// the owner.
package msgtool

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/talonclaw/talon/internal/core"
)

// Outbound delivers a message to a channel target other than the current
// conversation (the channel router implements it).
type Outbound interface {
	Send(ctx context.Context, channel, target, text string) error
}

// MaxText is the longest message the tool sends.
const MaxText = 16000

// New returns the message tool; out nil means no channel is connected.
func New(out Outbound) core.Tool { return tool{out} }

type tool struct{ out Outbound }

// Args are the message tool's arguments.
type Args struct {
	Action  string `json:"action"`
	Channel string `json:"channel"`
	Target  string `json:"target"`
	Text    string `json:"text"`
}

func (tool) Spec() core.Spec {
	return core.Spec{Name: "message", Group: "group:messaging", Description: "Send a message. Without channel and target it goes to the current conversation; other targets need the owner's approval.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"action":{"type":"string","enum":["send"]},"channel":{"type":"string"},"target":{"type":"string"},"text":{"type":"string"}},"required":["action","text"],"additionalProperties":false}`)}
}

func (tool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var m Args
	if err := json.Unmarshal(c.Args, &m); err != nil || m.Action != "send" || strings.TrimSpace(m.Text) == "" {
		return nil, fmt.Errorf("invalid arguments: want {action: \"send\", text, channel?, target?}")
	}
	if len(m.Text) > MaxText {
		return nil, fmt.Errorf("text is longer than %d characters", MaxText)
	}
	p := &core.Plan{Tool: "message", Args: c.Args, Canon: m}
	if m.Channel == "" && m.Target == "" {
		p.Summary = "reply in this conversation"
		p.Targets = []core.Target{{Kind: core.TargetChat, Current: true}}
	} else {
		p.Summary = fmt.Sprintf("send a message to %s %s", m.Channel, m.Target)
		p.Effects = core.Messages | core.Egress
		p.Targets = []core.Target{{Kind: core.TargetChat, Value: m.Channel + ":" + m.Target}}
	}
	return p.Seal(), nil
}

func (t tool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	m := p.Canon.(Args)
	if m.Channel == "" && m.Target == "" {
		if c.Reply != nil {
			c.Reply(m.Text)
		}
		return core.Result{Content: "delivered to the current conversation"}, nil
	}
	if t.out == nil {
		return core.Result{}, fmt.Errorf("no outbound channel is connected (channel %q)", m.Channel)
	}
	if err := t.out.Send(ctx, m.Channel, m.Target, m.Text); err != nil {
		return core.Result{}, err
	}
	return core.Result{Content: fmt.Sprintf("sent to %s %s", m.Channel, m.Target)}, nil
}
