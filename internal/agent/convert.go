package agent

import (
	"crypto/rand"
	"encoding/json"
	"strconv"
	"sync"

	"github.com/talonclaw/talon/internal/llm"
	"github.com/talonclaw/talon/internal/policy"
	"github.com/talonclaw/talon/internal/provenance"
	"github.com/talonclaw/talon/internal/store"
)

// wrapper wraps untrusted senders' messages of the history in provenance
// markers (provenance.WrapUntrustedStable) under a key secret to this
// process, remembering the result: every model call of a session wraps
// the same messages again.
type wrapper struct {
	key []byte

	mu   sync.Mutex
	memo map[string]wrapped // by ref and source
}

type wrapped struct{ content, out string }

// wrapMemo bounds the memo; past it the memo starts again.
const wrapMemo = 4096

func newWrapper() *wrapper {
	key := make([]byte, 32)
	rand.Read(key) // never fails (crypto/rand, Go 1.24+)
	return &wrapper{key: key, memo: map[string]wrapped{}}
}

func (w *wrapper) wrap(ref, source, content string) string {
	k := ref + "\x00" + source
	w.mu.Lock()
	defer w.mu.Unlock()
	if e, ok := w.memo[k]; ok && e.content == content {
		return e.out
	}
	out := provenance.WrapUntrustedStable(w.key, ref, source, content)
	if len(w.memo) >= wrapMemo {
		clear(w.memo)
	}
	w.memo[k] = wrapped{content, out}
	return out
}

// summaryPrefix marks a compaction summary in the model's context.
const summaryPrefix = "[Summary of the earlier conversation, written by you when it was compacted]\n\n"

// toLLM turns the stored transcript into model messages. It repairs what a
// crash can leave behind: an assistant tool call whose result was never
// stored gets a synthetic error result, so the provider never sees an
// unanswered call; a tool result whose call is gone is dropped.
func toLLM(hist []store.Message, w *wrapper) []llm.Message {
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
				// The marker's id is keyed by the run (one inbound message each)
				// where there is one, so it is the same before and after the
				// message is stored (a journaled turn's is stored with the
				// first response).
				ref := "id " + strconv.FormatInt(m.ID, 10)
				if m.RunID != "" {
					ref = "run " + m.RunID + " " + m.SenderID
				}
				content = w.wrap(ref, "message from "+orDefault(m.SenderID, "an untrusted sender"), content)
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
