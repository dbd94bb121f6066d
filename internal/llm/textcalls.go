package llm

// Tool calls written as text. Some local models (and some servers that do
// not parse their output) put tool calls in the message text instead of the
// structured tool_calls field. This file recognises two shapes:
//
//   - Hermes/Qwen tags, one or more:
//     <tool_call>{"name": "read", "arguments": {"path": "a.txt"}}</tool_call>
//     (a closing tag may be missing at the very end of the message; a
//     ```json fence inside the tag is tolerated);
//   - a message that is nothing but one JSON object, {"name": …,
//     "arguments": …} or {"tool": …, "args": …}, accepted only when the name
//     is one of the tools offered, so that a JSON answer is not mistaken
//     for a call.
//
// Extraction only turns text into ToolCalls; every call still goes through
// the agent's policy like any other, so a model that fakes a call in text
// gains nothing it could not get with a structured call.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

const (
	toolCallClose = "</tool_call>"
	// maxTextToolCallTags bounds how many "<tool_call>" openings are tried,
	// so that hostile text full of unterminated tags stays linear-ish.
	maxTextToolCallTags = 64
)

// ExtractTextToolCalls finds tool calls written as text (see the file
// comment for the shapes) and returns them with ids "call_text_1",
// "call_text_2", … in order, and the text that remains once they are cut out,
// trimmed of surrounding space. A block that does not parse is left in the
// text untouched. When nothing is found, calls is nil and rest is text
// unchanged. Args of each call is valid JSON: the arguments object, {} when
// absent, or a JSON string when the model gave a string that is not itself
// JSON.
func ExtractTextToolCalls(text string, known []ToolSpec) (calls []ToolCall, rest string) {
	if calls, rest := extractTagged(text); len(calls) > 0 {
		return calls, rest
	}
	if c, ok := wholeMessageCall(text, known); ok {
		c.ID = "call_text_1"
		return []ToolCall{c}, ""
	}
	return nil, text
}

// extractTagged handles the <tool_call> form.
func extractTagged(text string) ([]ToolCall, string) {
	var (
		calls []ToolCall
		out   strings.Builder
		pos   int // text[:pos] is dealt with
		tries int
	)
	for tries < maxTextToolCallTags {
		k := strings.Index(text[pos:], toolCallOpen)
		if k < 0 {
			break
		}
		tries++
		start := pos + k
		found, end, ok := parseTagBody(text, start+len(toolCallOpen))
		if !ok {
			out.WriteString(text[pos : start+len(toolCallOpen)])
			pos = start + len(toolCallOpen)
			continue
		}
		out.WriteString(text[pos:start])
		for _, c := range found {
			c.ID = fmt.Sprintf("call_text_%d", len(calls)+1)
			calls = append(calls, c)
		}
		pos = end
	}
	if len(calls) == 0 {
		return nil, text
	}
	out.WriteString(text[pos:])
	return calls, strings.TrimSpace(out.String())
}

// parseTagBody parses the JSON object(s) after an opening tag at i, up to
// the closing tag (or the end of the text). It returns the calls and the
// offset just past the block.
func parseTagBody(text string, i int) ([]ToolCall, int, bool) {
	i = skipSpace(text, i)
	i = skipFence(text, i)
	var calls []ToolCall
	for {
		i = skipSpace(text, i)
		if i >= len(text) || text[i] != '{' {
			break
		}
		dec := json.NewDecoder(strings.NewReader(text[i:]))
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, 0, false
		}
		c, ok := callFromObject(raw, nil, false)
		if !ok {
			return nil, 0, false
		}
		calls = append(calls, c)
		i += int(dec.InputOffset())
	}
	if len(calls) == 0 {
		return nil, 0, false
	}
	i = skipFence(text, i)
	i = skipSpace(text, i)
	switch {
	case strings.HasPrefix(text[i:], toolCallClose):
		return calls, i + len(toolCallClose), true
	case i == len(text):
		return calls, i, true // unterminated final block
	default:
		return nil, 0, false
	}
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// skipFence skips a ``` or ```json line at i.
func skipFence(s string, i int) int {
	j := skipSpace(s, i)
	if !strings.HasPrefix(s[j:], "```") {
		return i
	}
	j += 3
	for j < len(s) && s[j] != '\n' && s[j] != '{' && s[j] != '<' {
		j++
	}
	return j
}

// wholeMessageCall handles a message that is one JSON object naming a known
// tool.
func wholeMessageCall(text string, known []ToolSpec) (ToolCall, bool) {
	if len(known) == 0 {
		return ToolCall{}, false
	}
	t := strings.TrimSpace(text)
	if strings.HasPrefix(t, "```") {
		t = strings.TrimSpace(strings.TrimSuffix(t[skipFence(t, 0):], "```"))
	}
	if !strings.HasPrefix(t, "{") || !strings.HasSuffix(t, "}") || !json.Valid([]byte(t)) {
		return ToolCall{}, false
	}
	return callFromObject(json.RawMessage(t), known, true)
}

// Keys naming the tool and its arguments in the shapes models use.
var (
	nameKeys = []string{"name", "tool"}
	argKeys  = []string{"arguments", "parameters", "args"}
)

// callFromObject reads {"name"|"tool": …, "arguments"|"parameters"|"args":
// …}. With strict, the object may hold nothing else (but "type") and the
// name must be one of known.
func callFromObject(raw json.RawMessage, known []ToolSpec, strict bool) (ToolCall, bool) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return ToolCall{}, false
	}
	var name string
	for _, k := range nameKeys {
		if v, ok := obj[k]; ok {
			if json.Unmarshal(v, &name) != nil {
				return ToolCall{}, false
			}
			break
		}
	}
	name = strings.TrimSpace(name)
	if name == "" || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return ToolCall{}, false
	}
	var args json.RawMessage
	for _, k := range argKeys {
		if v, ok := obj[k]; ok {
			args = v
			break
		}
	}
	if strict {
		for k := range obj {
			if !slices.Contains(nameKeys, k) && !slices.Contains(argKeys, k) && k != "type" {
				return ToolCall{}, false
			}
		}
		if !slices.ContainsFunc(known, func(s ToolSpec) bool { return s.Name == name }) {
			return ToolCall{}, false
		}
	}
	return ToolCall{Name: name, Args: normaliseArgs(args)}, true
}

// normaliseArgs: absent or null is {}, a string holding a JSON object is
// that object (some models encode twice), anything else stays as given.
func normaliseArgs(a json.RawMessage) json.RawMessage {
	a = bytes.TrimSpace(a)
	if len(a) == 0 || string(a) == "null" {
		return json.RawMessage("{}")
	}
	if a[0] == '"' {
		var s string
		if json.Unmarshal(a, &s) == nil {
			if t := strings.TrimSpace(s); strings.HasPrefix(t, "{") && json.Valid([]byte(t)) {
				return json.RawMessage(t)
			}
		}
	}
	out := make(json.RawMessage, len(a))
	copy(out, a)
	return out
}
