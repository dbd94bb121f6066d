package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/talonclaw/talon/internal/llm"
)

// Outbound delivers a message to a channel target other than the current
// conversation. The channel adapters implement it; until they exist no
// outbound channel is connected.
type Outbound interface {
	Send(ctx context.Context, channel, target, text string) error
}

// MessageArgs are the message tool's arguments.
type MessageArgs struct {
	Action  string `json:"action"`
	Channel string `json:"channel"`
	Target  string `json:"target"`
	Text    string `json:"text"`
}

// IsCurrentConversation reports whether a message call goes to the
// conversation the turn answers (no channel or target named): the policy
// treats that as a reply, not egress.
func IsCurrentConversation(args json.RawMessage) bool {
	var a MessageArgs
	if json.Unmarshal(args, &a) != nil {
		return false
	}
	return a.Channel == "" && a.Target == ""
}

// MessageTool returns the message tool. Messages to the current
// conversation are delivered as "message" events of the turn; other targets
// go through out (nil: none connected).
func (a *Agent) MessageTool(out Outbound) Tool { return messageTool{a, out} }

type messageTool struct {
	a   *Agent
	out Outbound
}

func (messageTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "message", Description: "Send a message. Without channel and target it goes to the current conversation; other targets need the owner's approval.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"action":{"type":"string","enum":["send"]},"channel":{"type":"string"},"target":{"type":"string"},"text":{"type":"string"}},"required":["action","text"],"additionalProperties":false}`)}
}

func (t messageTool) Run(ctx context.Context, c ToolCall) (ToolResult, error) {
	var m MessageArgs
	if err := json.Unmarshal(c.Args, &m); err != nil || m.Action != "send" || strings.TrimSpace(m.Text) == "" {
		return ToolResult{}, fmt.Errorf("invalid arguments: want {action: \"send\", text, channel?, target?}")
	}
	if len(m.Text) > 16000 {
		return ToolResult{}, fmt.Errorf("text is longer than 16000 characters")
	}
	if m.Channel == "" && m.Target == "" {
		if c.emit != nil {
			c.emit(Event{Type: "message", Text: m.Text})
		}
		return ToolResult{Content: "delivered to the current conversation"}, nil
	}
	if t.out == nil {
		return ToolResult{}, fmt.Errorf("no outbound channel is connected (channel %q)", m.Channel)
	}
	if err := t.out.Send(ctx, m.Channel, m.Target, m.Text); err != nil {
		return ToolResult{}, err
	}
	return ToolResult{Content: fmt.Sprintf("sent to %s %s", m.Channel, m.Target)}, nil
}
