package fstools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/talonclaw/talon/internal/core"
)

// The apply_patch envelope:
//
//	*** Begin Patch
//	*** Add File: path        followed by lines starting with "+"
//	*** Delete File: path
//	*** Update File: path     optionally "*** Move to: newpath", then hunks:
//	@@ optional context line
//	 context line
//	-removed line
//	+added line
//	*** End Patch
//
// A patch applies completely or not at all: every change is computed and
// checked first, then written; every path goes through the workspace root.

type fileOp struct {
	kind   string // add | delete | update
	path   string
	moveTo string
	lines  []string // add: content lines
	hunks  []hunk
}

type hunk struct {
	anchor string   // "@@ anchor" text, may be empty
	lines  []string // with their ' ', '-', '+' prefixes
}

func parsePatch(text string) ([]fileOp, error) {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "*** Begin Patch" || strings.TrimSpace(lines[len(lines)-1]) != "*** End Patch" {
		return nil, errors.New("a patch starts with \"*** Begin Patch\" and ends with \"*** End Patch\"")
	}
	var ops []fileOp
	var cur *fileOp
	for i, l := range lines[1 : len(lines)-1] {
		n := i + 2
		switch {
		case strings.HasPrefix(l, "*** Add File: "):
			ops = append(ops, fileOp{kind: "add", path: strings.TrimSpace(strings.TrimPrefix(l, "*** Add File: "))})
			cur = &ops[len(ops)-1]
		case strings.HasPrefix(l, "*** Delete File: "):
			ops = append(ops, fileOp{kind: "delete", path: strings.TrimSpace(strings.TrimPrefix(l, "*** Delete File: "))})
			cur = &ops[len(ops)-1]
		case strings.HasPrefix(l, "*** Update File: "):
			ops = append(ops, fileOp{kind: "update", path: strings.TrimSpace(strings.TrimPrefix(l, "*** Update File: "))})
			cur = &ops[len(ops)-1]
		case strings.HasPrefix(l, "*** Move to: "):
			if cur == nil || cur.kind != "update" || len(cur.hunks) > 0 {
				return nil, fmt.Errorf("line %d: \"*** Move to:\" must follow \"*** Update File:\"", n)
			}
			cur.moveTo = strings.TrimSpace(strings.TrimPrefix(l, "*** Move to: "))
		case l == "*** End of File":
		case cur == nil:
			return nil, fmt.Errorf("line %d: expected a \"*** Add/Update/Delete File:\" header", n)
		case cur.kind == "add":
			if !strings.HasPrefix(l, "+") {
				return nil, fmt.Errorf("line %d: lines of an added file start with \"+\"", n)
			}
			cur.lines = append(cur.lines, l[1:])
		case cur.kind == "delete":
			return nil, fmt.Errorf("line %d: a deleted file has no content lines", n)
		case strings.HasPrefix(l, "@@"):
			cur.hunks = append(cur.hunks, hunk{anchor: strings.TrimSpace(strings.TrimPrefix(l, "@@"))})
		case l == "" || l[0] == ' ' || l[0] == '-' || l[0] == '+':
			if len(cur.hunks) == 0 {
				cur.hunks = append(cur.hunks, hunk{})
			}
			if l == "" {
				l = " "
			}
			h := &cur.hunks[len(cur.hunks)-1]
			h.lines = append(h.lines, l)
		default:
			return nil, fmt.Errorf("line %d: unexpected %q", n, l)
		}
	}
	if len(ops) == 0 {
		return nil, errors.New("the patch changes no file")
	}
	return ops, nil
}

// applyHunks applies hunks to content in order; each hunk's old lines must
// match exactly once after the previous hunk (and after its anchor).
func applyHunks(path, content string, hunks []hunk) (string, error) {
	lines := strings.Split(content, "\n")
	pos := 0
	for hi, h := range hunks {
		var old, repl []string
		for _, l := range h.lines {
			switch l[0] {
			case ' ':
				old, repl = append(old, l[1:]), append(repl, l[1:])
			case '-':
				old = append(old, l[1:])
			case '+':
				repl = append(repl, l[1:])
			}
		}
		start := pos
		if h.anchor != "" {
			found := -1
			for i := pos; i < len(lines); i++ {
				if strings.Contains(lines[i], h.anchor) {
					found = i
					break
				}
			}
			if found < 0 {
				return "", fmt.Errorf("%s: hunk %d: anchor %q not found", path, hi+1, h.anchor)
			}
			start = found
		}
		at := -1
		for i := start; i+len(old) <= len(lines); i++ {
			if equalLines(lines[i:i+len(old)], old) {
				at = i
				break
			}
		}
		if at < 0 || len(old) == 0 && len(repl) == 0 {
			return "", fmt.Errorf("%s: hunk %d: its context and removed lines do not match the file", path, hi+1)
		}
		lines = append(lines[:at], append(append([]string{}, repl...), lines[at+len(old):]...)...)
		pos = at + len(repl)
	}
	return strings.Join(lines, "\n"), nil
}

func equalLines(a, b []string) bool {
	for i := range a {
		if strings.TrimRight(a[i], " \t") != strings.TrimRight(b[i], " \t") {
			return false
		}
	}
	return true
}

type patchTool struct{ o Options }

// PatchTool returns apply_patch.
func PatchTool(o Options) core.Tool { return patchTool{o} }

func (patchTool) Spec() core.Spec {
	return core.Spec{Name: "apply_patch", Group: "group:fs", Description: "Apply a multi-file patch in the *** Begin Patch / *** Add File: / *** Update File: / *** Delete File: / *** End Patch format. It applies completely or not at all.",
		Parameters: json.RawMessage(`{"type":"object","properties":{"patch":{"type":"string"}},"required":["patch"],"additionalProperties":false}`)}
}

// Plan parses the patch once; the plan names every path it writes,
// deletes or moves to, and Run applies exactly these parsed operations.
func (t patchTool) Plan(_ context.Context, c core.Call) (*core.Plan, error) {
	var a struct {
		Patch string `json:"patch"`
	}
	if err := decode(c.Args, &a); err != nil {
		return nil, err
	}
	if len(a.Patch) > t.o.maxWrite() {
		return nil, fmt.Errorf("patch is larger than %d bytes", t.o.maxWrite())
	}
	ops, err := parsePatch(a.Patch)
	if err != nil {
		return nil, err
	}
	var paths, detail []string
	for _, op := range ops {
		paths = append(paths, op.path)
		line := op.kind + " " + op.path
		if op.moveTo != "" {
			paths = append(paths, op.moveTo)
			line += " → " + op.moveTo
		}
		detail = append(detail, line)
	}
	p := writePlan(c, "apply_patch", fmt.Sprintf("apply a patch to %d file(s)", len(ops)), ops, paths...)
	p.Detail = detail
	return p.Seal(), nil
}

func (t patchTool) Run(ctx context.Context, c core.Call, p *core.Plan) (core.Result, error) {
	ops := p.Canon.([]fileOp)
	// Phase 1: compute every result, touching nothing.
	type write struct {
		root        *os.Root
		name, shown string
		data        []byte
		perm        os.FileMode
		remove      bool
	}
	var writes []write
	defer func() {
		for _, w := range writes {
			w.root.Close()
		}
	}()
	for _, op := range ops {
		root, name, err := t.o.open(op.path)
		if err != nil {
			return core.Result{}, fmt.Errorf("%s: %w", op.path, err)
		}
		switch op.kind {
		case "add":
			if err := addable(root, name); err != nil {
				root.Close()
				return core.Result{}, fmt.Errorf("%s: %w", op.path, err)
			}
			writes = append(writes, write{root: root, name: name, shown: op.path, data: []byte(strings.Join(op.lines, "\n") + "\n"), perm: 0o644})
		case "delete":
			fi, err := root.Lstat(name)
			if err != nil || !fi.Mode().IsRegular() {
				root.Close()
				return core.Result{}, fmt.Errorf("%s: cannot delete (missing or not a regular file)", op.path)
			}
			writes = append(writes, write{root: root, name: name, shown: op.path, remove: true})
		case "update":
			if fi, err := root.Lstat(name); err == nil && !fi.Mode().IsRegular() {
				root.Close()
				return core.Result{}, fmt.Errorf("%s: not a regular file", op.path)
			}
			b, perm, err := t.o.readFile(root, name, op.path)
			if err != nil {
				root.Close()
				return core.Result{}, err
			}
			out, err := applyHunks(op.path, string(b), op.hunks)
			if err != nil {
				root.Close()
				return core.Result{}, err
			}
			if op.moveTo != "" {
				r2, n2, err := t.o.open(op.moveTo)
				if err == nil {
					if err = addable(r2, n2); err != nil {
						r2.Close()
					}
				}
				if err != nil {
					root.Close()
					return core.Result{}, fmt.Errorf("%s: %w", op.moveTo, err)
				}
				writes = append(writes, write{root: r2, name: n2, shown: op.moveTo, data: []byte(out), perm: perm},
					write{root: root, name: name, shown: op.path, remove: true})
				continue
			}
			writes = append(writes, write{root: root, name: name, shown: op.path, data: []byte(out), perm: perm})
		}
	}
	// Phase 2: write.
	var done []string
	for _, w := range writes {
		var err error
		if w.remove {
			err = w.root.Remove(w.name)
		} else {
			err = writeAtomic(w.root, w.name, w.data, w.perm)
		}
		if err != nil {
			return core.Result{}, fmt.Errorf("%s: %v (already applied: %s)", w.shown, explain(w.shown, err), strings.Join(done, ", "))
		}
		done = append(done, w.shown)
	}
	return core.Result{Content: "applied: " + strings.Join(done, ", ")}, nil
}

// addable checks, before anything is written, that a new file can be
// created at name: it must not exist, and its nearest existing ancestor
// must be a directory inside the root (a symlink out fails here, not half
// way through the patch).
func addable(root *os.Root, name string) error {
	_, err := root.Lstat(name)
	if err == nil {
		return errors.New("already exists (use *** Update File:)")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return explain(name, err)
	}
	for dir := filepath.Dir(name); dir != "." && dir != "/"; dir = filepath.Dir(dir) {
		fi, err := root.Stat(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return explain(dir, err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	return nil
}
