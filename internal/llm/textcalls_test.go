package llm

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

var knownTools = []ToolSpec{{Name: "read"}, {Name: "exec"}, {Name: "web_fetch"}}

func TestExtractTextToolCalls(t *testing.T) {
	type call struct{ name, args string }
	for _, tc := range []struct {
		name  string
		text  string
		known []ToolSpec
		calls []call
		rest  string
	}{
		{"plain text", "Just an answer.", knownTools, nil, "Just an answer."},
		{"hermes single", `<tool_call>{"name": "read", "arguments": {"path": "a.txt"}}</tool_call>`, knownTools,
			[]call{{"read", `{"path": "a.txt"}`}}, ""},
		{"hermes with prose and newlines", "I'll look.\n<tool_call>\n{\"name\": \"read\", \"arguments\": {\"path\": \"a\"}}\n</tool_call>\nThen report.", knownTools,
			[]call{{"read", `{"path": "a"}`}}, "I'll look.\n\nThen report."},
		{"hermes several", `<tool_call>{"name":"read","arguments":{"path":"a"}}</tool_call><tool_call>{"name":"exec","arguments":{"command":"ls"}}</tool_call>`, knownTools,
			[]call{{"read", `{"path":"a"}`}, {"exec", `{"command":"ls"}`}}, ""},
		{"two objects in one tag", "<tool_call>\n{\"name\":\"read\",\"arguments\":{}}\n{\"name\":\"exec\",\"arguments\":{\"command\":\"pwd\"}}\n</tool_call>", knownTools,
			[]call{{"read", `{}`}, {"exec", `{"command":"pwd"}`}}, ""},
		{"unterminated final tag", "<tool_call>{\"name\":\"exec\",\"arguments\":{\"command\":\"ls\"}}", knownTools,
			[]call{{"exec", `{"command":"ls"}`}}, ""},
		{"fenced in tag", "<tool_call>\n```json\n{\"name\":\"exec\",\"arguments\":{\"command\":\"ls\"}}\n```\n</tool_call>", knownTools,
			[]call{{"exec", `{"command":"ls"}`}}, ""},
		{"closing tag inside a string", `<tool_call>{"name":"exec","arguments":{"command":"echo '</tool_call>'"}}</tool_call>`, knownTools,
			[]call{{"exec", `{"command":"echo '</tool_call>'"}`}}, ""},
		{"tag with unknown name still extracted", `<tool_call>{"name":"rm_rf","arguments":{}}</tool_call>`, knownTools,
			[]call{{"rm_rf", `{}`}}, ""},
		{"parameters alias", `<tool_call>{"name":"read","parameters":{"path":"x"}}</tool_call>`, knownTools,
			[]call{{"read", `{"path":"x"}`}}, ""},
		{"double-encoded arguments", `<tool_call>{"name":"read","arguments":"{\"path\": \"x\"}"}</tool_call>`, knownTools,
			[]call{{"read", `{"path": "x"}`}}, ""},
		{"string arguments kept as JSON string", `<tool_call>{"name":"read","arguments":"just words"}</tool_call>`, knownTools,
			[]call{{"read", `"just words"`}}, ""},
		{"no arguments", `<tool_call>{"name":"read"}</tool_call>`, knownTools, []call{{"read", `{}`}}, ""},
		{"null arguments", `<tool_call>{"name":"read","arguments":null}</tool_call>`, knownTools, []call{{"read", `{}`}}, ""},
		{"bad block left alone, good one taken", `<tool_call>{oops}</tool_call> and <tool_call>{"name":"read","arguments":{}}</tool_call>`, knownTools,
			[]call{{"read", `{}`}}, `<tool_call>{oops}</tool_call> and`},
		{"tag without name", `<tool_call>{"arguments":{}}</tool_call>`, knownTools, nil, `<tool_call>{"arguments":{}}</tool_call>`},
		{"tag with junk after object", `<tool_call>{"name":"read"} trailing</tool_call>`, knownTools, nil, `<tool_call>{"name":"read"} trailing</tool_call>`},
		{"mentioning the tag", "Use <tool_call> tags to call tools.", knownTools, nil, "Use <tool_call> tags to call tools."},
		{"whole message JSON", `  {"name": "exec", "arguments": {"command": "ls -la"}}  `, knownTools,
			[]call{{"exec", `{"command": "ls -la"}`}}, ""},
		{"whole message tool/args", `{"tool": "web_fetch", "args": {"url": "https://example.com"}}`, knownTools,
			[]call{{"web_fetch", `{"url": "https://example.com"}`}}, ""},
		{"whole message fenced", "```json\n{\"name\": \"read\", \"arguments\": {\"path\": \"b\"}}\n```", knownTools,
			[]call{{"read", `{"path": "b"}`}}, ""},
		{"whole message with type", `{"type":"function","name":"read","arguments":{"path":"c"}}`, knownTools,
			[]call{{"read", `{"path":"c"}`}}, ""},
		{"whole message unknown name", `{"name": "launch_missiles", "arguments": {}}`, knownTools, nil, `{"name": "launch_missiles", "arguments": {}}`},
		{"whole message without tools offered", `{"name": "exec", "arguments": {}}`, nil, nil, `{"name": "exec", "arguments": {}}`},
		{"whole message with extra keys is an answer", `{"name": "exec", "description": "runs commands"}`, knownTools, nil, `{"name": "exec", "description": "runs commands"}`},
		{"JSON embedded in prose is not a call", `Call it like {"name": "exec", "arguments": {}} if you want.`, knownTools, nil, `Call it like {"name": "exec", "arguments": {}} if you want.`},
		{"name not a string", `<tool_call>{"name": 5}</tool_call>`, knownTools, nil, `<tool_call>{"name": 5}</tool_call>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, rest := ExtractTextToolCalls(tc.text, tc.known)
			if len(calls) != len(tc.calls) {
				t.Fatalf("calls %+v, want %v", calls, tc.calls)
			}
			for i, c := range calls {
				if c.ID != fmt.Sprintf("call_text_%d", i+1) || c.Name != tc.calls[i].name || string(c.Args) != tc.calls[i].args {
					t.Errorf("call %d = {%s %s %s}, want %v", i, c.ID, c.Name, c.Args, tc.calls[i])
				}
			}
			if rest != tc.rest {
				t.Errorf("rest %q, want %q", rest, tc.rest)
			}
		})
	}
}

func TestExtractTextToolCallsBoundedWork(t *testing.T) {
	// Many unterminated tags: extraction gives up after a bounded number.
	text := strings.Repeat(`<tool_call>{"name":"x","arguments":{"a":"`, 5000)
	calls, rest := ExtractTextToolCalls(text, knownTools)
	if len(calls) != 0 || rest != text {
		t.Fatalf("calls %d", len(calls))
	}
}

func FuzzExtractTextToolCalls(f *testing.F) {
	for _, s := range []string{
		"",
		"plain",
		`<tool_call>{"name":"read","arguments":{"path":"a"}}</tool_call>`,
		`<tool_call>{"name":"read"}{"name":"exec"}</tool_call> x <tool_call>{bad}</tool_call>`,
		`{"name":"exec","arguments":{"command":"ls"}}`,
		"```json\n{\"tool\":\"read\",\"args\":\"{}\"}\n```",
		"<tool_call>\n```\n{\"name\":\"read\"}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		calls, rest := ExtractTextToolCalls(text, knownTools)
		if len(calls) == 0 {
			if rest != text {
				t.Fatalf("no calls but text changed: %q -> %q", text, rest)
			}
			return
		}
		if len(rest) > len(text) {
			t.Fatalf("rest longer than text")
		}
		for i, c := range calls {
			if c.ID != fmt.Sprintf("call_text_%d", i+1) {
				t.Fatalf("id %q at %d", c.ID, i)
			}
			if strings.TrimSpace(c.Name) == "" {
				t.Fatalf("empty name")
			}
			if !json.Valid(c.Args) {
				t.Fatalf("args not JSON: %q", c.Args)
			}
		}
	})
}
