package fstools

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/talonclaw/talon/internal/agent"
	"github.com/talonclaw/talon/internal/llm"
)

// Tools returns read, write, edit and apply_patch.
func Tools(o Options) []agent.Tool {
	return []agent.Tool{readTool{o}, writeTool{o}, editTool{o}, PatchTool(o)}
}

func decode(args json.RawMessage, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(args)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("invalid arguments: %v", err)
	}
	return nil
}

type readTool struct{ o Options }

func (readTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "read", Description: "Read a text file from the workspace. offset is the first line (1-based), limit the number of lines (default 2000).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"offset":{"type":"integer","minimum":1},"limit":{"type":"integer","minimum":1}},"required":["path"],"additionalProperties":false}`)}
}

func (t readTool) Run(ctx context.Context, c agent.ToolCall) (agent.ToolResult, error) {
	var a struct {
		Path   string `json:"path"`
		Offset int    `json:"offset"`
		Limit  int    `json:"limit"`
	}
	if err := decode(c.Args, &a); err != nil {
		return agent.ToolResult{}, err
	}
	if a.Offset < 0 || a.Limit < 0 {
		return agent.ToolResult{}, fmt.Errorf("offset and limit must be positive")
	}
	root, name, err := t.o.open(a.Path)
	if err != nil {
		return agent.ToolResult{}, err
	}
	defer root.Close()
	b, _, err := t.o.readFile(root, name, a.Path)
	if err != nil {
		return agent.ToolResult{}, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	start := max(a.Offset, 1) - 1
	limit := a.Limit
	if limit == 0 {
		limit = 2000
	}
	if start > len(lines) {
		return agent.ToolResult{}, fmt.Errorf("%s has %d lines; offset %d is past the end", a.Path, len(lines), a.Offset)
	}
	end := min(start+limit, len(lines))
	out := strings.Join(lines[start:end], "")
	if end < len(lines) {
		out += fmt.Sprintf("\n[… %d more lines; read again with offset %d]", len(lines)-end, end+1)
	}
	return agent.ToolResult{Content: out}, nil
}

type writeTool struct{ o Options }

func (writeTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "write", Description: "Create or replace a file in the workspace with the given content.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"],"additionalProperties":false}`)}
}

func (t writeTool) Run(ctx context.Context, c agent.ToolCall) (agent.ToolResult, error) {
	var a struct {
		Path    string  `json:"path"`
		Content *string `json:"content"`
	}
	if err := decode(c.Args, &a); err != nil {
		return agent.ToolResult{}, err
	}
	if a.Content == nil {
		return agent.ToolResult{}, fmt.Errorf("invalid arguments: content is required")
	}
	if len(*a.Content) > t.o.maxWrite() {
		return agent.ToolResult{}, fmt.Errorf("content is %d bytes, more than the %d-byte limit", len(*a.Content), t.o.maxWrite())
	}
	root, name, err := t.o.open(a.Path)
	if err != nil {
		return agent.ToolResult{}, err
	}
	defer root.Close()
	perm := os.FileMode(0o644)
	if fi, err := root.Lstat(name); err == nil {
		if !fi.Mode().IsRegular() {
			return agent.ToolResult{}, fmt.Errorf("%s: not a regular file; not replaced", a.Path)
		}
		perm = fi.Mode().Perm()
	}
	if err := writeAtomic(root, name, []byte(*a.Content), perm); err != nil {
		return agent.ToolResult{}, explain(a.Path, err)
	}
	return agent.ToolResult{Content: fmt.Sprintf("wrote %d bytes to %s", len(*a.Content), a.Path)}, nil
}

type editTool struct{ o Options }

func (editTool) Spec() llm.ToolSpec {
	return llm.ToolSpec{Name: "edit", Description: "Replace one exact occurrence of oldText with newText in a workspace file. oldText must occur exactly once.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"oldText":{"type":"string"},"newText":{"type":"string"}},"required":["path","oldText","newText"],"additionalProperties":false}`)}
}

func (t editTool) Run(ctx context.Context, c agent.ToolCall) (agent.ToolResult, error) {
	var a struct {
		Path    string  `json:"path"`
		OldText string  `json:"oldText"`
		NewText *string `json:"newText"`
	}
	if err := decode(c.Args, &a); err != nil {
		return agent.ToolResult{}, err
	}
	if a.OldText == "" || a.NewText == nil {
		return agent.ToolResult{}, fmt.Errorf("invalid arguments: oldText (non-empty) and newText are required")
	}
	root, name, err := t.o.open(a.Path)
	if err != nil {
		return agent.ToolResult{}, err
	}
	defer root.Close()
	if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return agent.ToolResult{}, fmt.Errorf("%s: not a regular file", a.Path)
	}
	b, perm, err := t.o.readFile(root, name, a.Path)
	if err != nil {
		return agent.ToolResult{}, err
	}
	switch n := strings.Count(string(b), a.OldText); n {
	case 0:
		return agent.ToolResult{}, fmt.Errorf("%s: oldText not found (it must match exactly, whitespace included)", a.Path)
	case 1:
	default:
		return agent.ToolResult{}, fmt.Errorf("%s: oldText occurs %d times; include more surrounding text so it is unique", a.Path, n)
	}
	out := strings.Replace(string(b), a.OldText, *a.NewText, 1)
	if len(out) > t.o.maxWrite() {
		return agent.ToolResult{}, fmt.Errorf("%s: the result would be more than %d bytes", a.Path, t.o.maxWrite())
	}
	if err := writeAtomic(root, name, []byte(out), perm); err != nil {
		return agent.ToolResult{}, explain(a.Path, err)
	}
	return agent.ToolResult{Content: fmt.Sprintf("edited %s: replaced 1 occurrence", a.Path)}, nil
}
