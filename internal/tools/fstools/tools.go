package fstools

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/talonclaw/talon/internal/core"
	"github.com/talonclaw/talon/internal/policy/execplan"
)

// Tools returns read, write, edit and apply_patch.
func Tools(o Options) []core.Tool {
	return []core.Tool{readTool{o}, writeTool{o}, editTool{o}, PatchTool(o)}
}

// writePlan is the plan of a call that writes the given paths: it changes
// the host, and a path that configures programs (git hooks and config, rc
// files: execplan.ConfiguresPrograms) is named as such for the policy.
func writePlan(c core.Call, tool, summary string, canon any, paths ...string) *core.Plan {
	p := &core.Plan{Tool: tool, Effects: core.WritesHost, Args: c.Args, Summary: summary, Canon: canon}
	for _, path := range paths {
		p.Targets = append(p.Targets, core.Target{Kind: core.TargetPath, Value: path})
		if _, ok := execplan.ConfiguresPrograms(path); ok {
			p.Targets = append(p.Targets, core.Target{Kind: core.TargetProgramConfig, Value: path})
		}
	}
	return p.Seal()
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

func (readTool) Spec() core.Spec {
	return core.Spec{Name: "read", Group: "group:fs", Description: "Read a text file from the workspace. offset is the first line (1-based), limit the number of lines (default 2000).",
		Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"offset":{"type":"integer","minimum":1},"limit":{"type":"integer","minimum":1}},"required":["path"],"additionalProperties":false}`)}
}

type readArgs struct {
	Path   string `json:"path"`
	Offset int    `json:"offset"`
	Limit  int    `json:"limit"`
}

// Plan: reading a file shows the owner's data to whoever the turn answers.
func (readTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a readArgs
	if err := decode(c.Args, &a); err != nil {
		return nil, err
	}
	if a.Offset < 0 || a.Limit < 0 {
		return nil, fmt.Errorf("offset and limit must be positive")
	}
	if a.Path == "" {
		return nil, fmt.Errorf("invalid arguments: path is required")
	}
	return (&core.Plan{Tool: "read", Effects: core.ReadsPrivate, Args: c.Args, Summary: "read " + a.Path, Canon: a,
		Targets: []core.Target{{Kind: core.TargetPath, Value: a.Path}}}).Seal(), nil
}

func (t readTool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(readArgs)
	root, name, err := t.o.open(a.Path)
	if err != nil {
		return core.Result{}, err
	}
	defer root.Close()
	b, _, err := t.o.readFile(root, name, a.Path)
	if err != nil {
		return core.Result{}, err
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
		return core.Result{}, fmt.Errorf("%s has %d lines; offset %d is past the end", a.Path, len(lines), a.Offset)
	}
	end := min(start+limit, len(lines))
	out := strings.Join(lines[start:end], "")
	if end < len(lines) {
		out += fmt.Sprintf("\n[… %d more lines; read again with offset %d]", len(lines)-end, end+1)
	}
	return core.Result{Content: out}, nil
}

type writeTool struct{ o Options }

func (writeTool) Spec() core.Spec {
	return core.Spec{Name: "write", Group: "group:fs", Description: "Create or replace a file in the workspace with the given content.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"],"additionalProperties":false}`)}
}

type writeArgs struct {
	Path    string  `json:"path"`
	Content *string `json:"content"`
}

func (t writeTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a writeArgs
	if err := decode(c.Args, &a); err != nil {
		return nil, err
	}
	if a.Content == nil || a.Path == "" {
		return nil, fmt.Errorf("invalid arguments: path and content are required")
	}
	if len(*a.Content) > t.o.maxWrite() {
		return nil, fmt.Errorf("content is %d bytes, more than the %d-byte limit", len(*a.Content), t.o.maxWrite())
	}
	return writePlan(c, "write", fmt.Sprintf("write %d bytes to %s", len(*a.Content), a.Path), a, a.Path), nil
}

func (t writeTool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(writeArgs)
	root, name, err := t.o.open(a.Path)
	if err != nil {
		return core.Result{}, err
	}
	defer root.Close()
	perm := os.FileMode(0o644)
	if fi, err := root.Lstat(name); err == nil {
		if !fi.Mode().IsRegular() {
			return core.Result{}, fmt.Errorf("%s: not a regular file; not replaced", a.Path)
		}
		perm = fi.Mode().Perm()
	}
	if err := writeAtomic(root, name, []byte(*a.Content), perm); err != nil {
		return core.Result{}, explain(a.Path, err)
	}
	return core.Result{Content: fmt.Sprintf("wrote %d bytes to %s", len(*a.Content), a.Path)}, nil
}

type editTool struct{ o Options }

func (editTool) Spec() core.Spec {
	return core.Spec{Name: "edit", Group: "group:fs", Description: "Replace one exact occurrence of oldText with newText in a workspace file. oldText must occur exactly once.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"path":{"type":"string"},"oldText":{"type":"string"},"newText":{"type":"string"}},"required":["path","oldText","newText"],"additionalProperties":false}`)}
}

type editArgs struct {
	Path    string  `json:"path"`
	OldText string  `json:"oldText"`
	NewText *string `json:"newText"`
}

func (editTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a editArgs
	if err := decode(c.Args, &a); err != nil {
		return nil, err
	}
	if a.OldText == "" || a.NewText == nil || a.Path == "" {
		return nil, fmt.Errorf("invalid arguments: path, oldText (non-empty) and newText are required")
	}
	return writePlan(c, "edit", "edit "+a.Path, a, a.Path), nil
}

func (t editTool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	a := p.Canon.(editArgs)
	root, name, err := t.o.open(a.Path)
	if err != nil {
		return core.Result{}, err
	}
	defer root.Close()
	if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
		return core.Result{}, fmt.Errorf("%s: not a regular file", a.Path)
	}
	b, perm, err := t.o.readFile(root, name, a.Path)
	if err != nil {
		return core.Result{}, err
	}
	switch n := strings.Count(string(b), a.OldText); n {
	case 0:
		return core.Result{}, fmt.Errorf("%s: oldText not found (it must match exactly, whitespace included)", a.Path)
	case 1:
	default:
		return core.Result{}, fmt.Errorf("%s: oldText occurs %d times; include more surrounding text so it is unique", a.Path, n)
	}
	out := strings.Replace(string(b), a.OldText, *a.NewText, 1)
	if len(out) > t.o.maxWrite() {
		return core.Result{}, fmt.Errorf("%s: the result would be more than %d bytes", a.Path, t.o.maxWrite())
	}
	if err := writeAtomic(root, name, []byte(out), perm); err != nil {
		return core.Result{}, explain(a.Path, err)
	}
	return core.Result{Content: fmt.Sprintf("edited %s: replaced 1 occurrence", a.Path)}, nil
}
