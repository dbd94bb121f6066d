package agent

import (
	"encoding/json"

	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/security"
	"github.com/talonclaw/talon/internal/store"
)

// summaryPrefix marks a compaction summary in the model's context.
const summaryPrefix = "[Summary of the earlier conversation, written by you when it was compacted]\n\n"

// toLLM turns the stored transcript into model messages. It repairs what a
// crash can leave behind: an assistant tool call whose result was never
// stored gets a synthetic error result, so the provider never sees an
// unanswered call; a tool result whose call is gone is dropped.
func toLLM(hist []store.Message) []llm.Message {
	out := make([]llm.Message, 0, len(hist))
	var pending []llm.ToolCall // calls of the last assistant message not yet answered
	flush := func() {
		for _, c := range pending {
			out = append(out, llm.Message{Role: llm.RoleTool, ToolCallID: c.ID, ToolName: c.Name, IsError: true,
				Content: "error: this tool call was interrupted and did not complete"})
		}
		pending = nil
	}
	for _, m := range hist {
		switch m.Role {
		case "tool":
			idx := -1
			for i, c := range pending {
				if c.ID == m.ToolCallID {
					idx = i
					break
				}
			}
			if idx < 0 {
				continue // orphan result
			}
			pending = append(pending[:idx], pending[idx+1:]...)
			out = append(out, llm.Message{Role: llm.RoleTool, Content: m.Content, ToolCallID: m.ToolCallID, ToolName: m.ToolName, IsError: m.IsError})
		case "assistant":
			flush()
			var calls []llm.ToolCall
			if len(m.ToolCalls) > 0 {
				_ = json.Unmarshal(m.ToolCalls, &calls)
			}
			out = append(out, llm.Message{Role: llm.RoleAssistant, Content: m.Content, ToolCalls: calls})
			pending = append(pending, calls...)
		default: // user, system, summaries
			flush()
			content := m.Content
			if m.Summary {
				content = summaryPrefix + content
			}
			if m.Role == "user" && m.Provenance == policy.TrustUntrusted {
				// A message from anyone but the owner and the senders they
				// trust (group members, open DMs, forwards, other
				// sessions) is data, not instructions (invariant 9).
				content = security.WrapUntrusted("message from "+orDefault(m.SenderID, "an untrusted sender"), content)
			}
			out = append(out, llm.Message{Role: llm.RoleUser, Content: content})
		}
	}
	flush()
	return out
}

// estimateTokens is a cheap upper-ish estimate (4 chars a token) used for
// budgets and compaction before the provider reports real figures.
func estimateTokens(system string, msgs []llm.Message) int {
	n := len(system)
	for _, m := range msgs {
		n += len(m.Content) + 16
		for _, c := range m.ToolCalls {
			n += len(c.Name) + len(c.Args) + 16
		}
	}
	return n/4 + 1
}
