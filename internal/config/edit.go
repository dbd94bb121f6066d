package config

import (
	"bytes"
	"reflect"
	"strings"
)

// Editing the config file in place: `talon config set` and the edits Talon
// makes itself (allow-always, channel setup) change only the text of the
// value they set, so the user's comments, key order and layout stay. The
// span editor is checked against the semantic edit: the edited text must
// parse to exactly the tree the edit was meant to produce, otherwise the
// whole file is rendered from the tree instead (comments lost, content
// right). It never writes a file whose meaning differs from the edit.

// RenderEdit returns the new file content for a config whose tree after an
// edit is want: data edited in place by textEdit when that yields want,
// else Render(want).
func RenderEdit(data []byte, want map[string]any, textEdit func([]byte) ([]byte, bool)) []byte {
	if textEdit != nil {
		if out, ok := textEdit(data); ok {
			if got, err := ParseTree(out); err == nil && reflect.DeepEqual(got, want) {
				return out
			}
		}
	}
	return Render(want)
}

// SetInText sets the value at path in the JSON5 text data, touching only
// that value's span (or inserting one member into the deepest object that
// exists on the path). ok is false when it cannot edit in place.
func SetInText(data []byte, path string, value any) (out []byte, ok bool) {
	segs, err := splitPath(path)
	if err != nil {
		return nil, false
	}
	root, ok := scanSpans(data)
	if !ok || root.kind != '{' {
		return nil, false
	}
	cur := root
	for i, seg := range segs {
		last := i == len(segs)-1
		switch cur.kind {
		case '{':
			m := cur.member(seg)
			if m == nil {
				nested := value
				for j := len(segs) - 1; j > i; j-- {
					nested = map[string]any{segs[j]: nested}
				}
				return insertMember(data, cur, seg, nested)
			}
			if last {
				return splice(data, m.val.start, m.val.end, inlineValue(value)), true
			}
			cur = m.val
		case '[':
			n, isIdx := index(seg)
			if !isIdx || n >= len(cur.elems) {
				return nil, false
			}
			if last {
				e := cur.elems[n]
				return splice(data, e.start, e.end, inlineValue(value)), true
			}
			cur = cur.elems[n]
		default:
			return nil, false
		}
	}
	return nil, false
}

// UnsetInText removes the object member at path from data, with its line
// when it has one to itself. ok is false when it cannot edit in place.
func UnsetInText(data []byte, path string) (out []byte, ok bool) {
	segs, err := splitPath(path)
	if err != nil {
		return nil, false
	}
	root, ok := scanSpans(data)
	if !ok {
		return nil, false
	}
	cur := root
	for i, seg := range segs {
		if cur.kind != '{' {
			return nil, false
		}
		idx := -1
		for j := range cur.members {
			if cur.members[j].key == seg {
				idx = j
			}
		}
		if idx < 0 {
			return nil, false
		}
		m := &cur.members[idx]
		if i < len(segs)-1 {
			cur = m.val
			continue
		}
		switch {
		case len(cur.members) == 1 && cur != root:
			// The object is left empty.
			return splice(data, cur.start, cur.end, "{}"), true
		case m.commaEnd >= 0:
			from, to := m.keyStart, m.commaEnd
			if ls := lineStart(data, from); onlySpace(data[ls:from]) {
				if le, clean := restOfLine(data, to); clean {
					from, to = ls, le
				}
			}
			return splice(data, from, to, ""), true
		case idx > 0:
			prev := cur.members[idx-1]
			return splice(data, prev.val.end, m.val.end, ""), true
		default:
			return splice(data, m.keyStart, m.val.end, ""), true
		}
	}
	return nil, false
}

// span is a value in the text: [start, end) and, for containers, what is
// inside.
type span struct {
	start, end int
	kind       byte // '{', '[' or 0 for a scalar
	members    []spanMember
	elems      []*span
	close      int // offset of the closing bracket
}

type spanMember struct {
	key      string
	keyStart int
	val      *span
	commaEnd int // offset just after the comma that follows the value, or -1
}

func (s *span) member(k string) *spanMember {
	var found *spanMember
	for i := range s.members {
		if s.members[i].key == k {
			found = &s.members[i] // the decoder keeps the last
		}
	}
	return found
}

// scanSpans reads the JSON5 text with the duplicate-key scanner's rules
// (so it agrees with the decoder about where values are) and records
// spans.
func scanSpans(data []byte) (*span, bool) {
	s := &dupScanner{data: data}
	v := spanValue(s)
	s.skip()
	if s.failed || v == nil || s.pos != len(data) {
		return nil, false
	}
	return v, true
}

func spanValue(s *dupScanner) *span {
	s.skip()
	c, ok := s.peek()
	if !ok {
		return nil
	}
	sp := &span{start: s.pos}
	switch c {
	case '{':
		sp.kind = '{'
		s.pos++
		for {
			s.skip()
			c, ok := s.peek()
			if !ok {
				return nil
			}
			if c == '}' {
				sp.close = s.pos
				s.pos++
				break
			}
			at := s.pos
			k, ok := s.key()
			if !ok {
				s.failed = true
				return nil
			}
			s.skip()
			if c, ok := s.peek(); !ok || c != ':' {
				s.failed = true
				return nil
			}
			s.pos++
			v := spanValue(s)
			if v == nil {
				return nil
			}
			m := spanMember{key: k, keyStart: at, val: v, commaEnd: -1}
			s.skip()
			c, ok = s.peek()
			if !ok {
				return nil
			}
			if c == ',' {
				s.pos++
				m.commaEnd = s.pos
			}
			sp.members = append(sp.members, m)
			if c == '}' {
				continue
			}
			if c != ',' {
				s.failed = true
				return nil
			}
		}
	case '[':
		sp.kind = '['
		s.pos++
		for {
			s.skip()
			c, ok := s.peek()
			if !ok {
				return nil
			}
			if c == ']' {
				sp.close = s.pos
				s.pos++
				break
			}
			v := spanValue(s)
			if v == nil {
				return nil
			}
			sp.elems = append(sp.elems, v)
			s.skip()
			c, ok = s.peek()
			if !ok {
				return nil
			}
			if c == ',' {
				s.pos++
			} else if c != ']' {
				s.failed = true
				return nil
			}
		}
	default:
		s.value("")
		if s.failed {
			return nil
		}
	}
	sp.end = s.pos
	return sp
}

// insertMember adds key: value as the last member of obj, in the style of
// the member before it (its own line with the same indent, or inline).
func insertMember(data []byte, obj *span, key string, value any) ([]byte, bool) {
	member := renderKey(key) + ": " + inlineValue(value)
	if len(obj.members) == 0 {
		return splice(data, obj.start, obj.end, "{ "+member+" }"), true
	}
	last := obj.members[len(obj.members)-1]
	ls := lineStart(data, last.keyStart)
	if !onlySpace(data[ls:last.keyStart]) {
		// Inline object: { a: 1, b: 2 }.
		if last.commaEnd >= 0 {
			return splice(data, last.commaEnd, last.commaEnd, " "+member+","), true
		}
		return splice(data, last.val.end, last.val.end, ", "+member), true
	}
	indent := string(data[ls:last.keyStart])
	if last.commaEnd >= 0 {
		if le, clean := restOfLine(data, last.commaEnd); clean {
			// After the line's newline (le includes it), keeping a comment
			// that ends the previous line where it is.
			return splice(data, le, le, indent+member+",\n"), true
		}
		return splice(data, last.commaEnd, last.commaEnd, "\n"+indent+member+","), true
	}
	return splice(data, last.val.end, last.val.end, ",\n"+indent+member), true
}

// inlineValue renders a value on one line.
func inlineValue(v any) string {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			return "{}"
		}
		parts := make([]string, 0, len(x))
		for _, k := range sortedKeys(x) {
			parts = append(parts, renderKey(k)+": "+inlineValue(x[k]))
		}
		return "{ " + strings.Join(parts, ", ") + " }"
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			parts = append(parts, inlineValue(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return scalar(v)
}

func splice(data []byte, from, to int, with string) []byte {
	var b bytes.Buffer
	b.Grow(len(data) + len(with))
	b.Write(data[:from])
	b.WriteString(with)
	b.Write(data[to:])
	return b.Bytes()
}

func lineStart(data []byte, pos int) int {
	for pos > 0 && data[pos-1] != '\n' {
		pos--
	}
	return pos
}

func onlySpace(b []byte) bool {
	return len(bytes.TrimLeft(b, " \t")) == 0
}

// restOfLine reports where the line that pos is on ends (after its
// newline) and whether the rest of it is only space or a line comment.
func restOfLine(data []byte, pos int) (int, bool) {
	end := pos
	for end < len(data) && data[end] != '\n' {
		end++
	}
	rest := bytes.TrimSpace(data[pos:end])
	clean := len(rest) == 0 || (bytes.HasPrefix(rest, []byte("//")) && !bytes.Contains(rest, []byte("*/")))
	if end < len(data) {
		end++
	}
	return end, clean && end <= len(data) && (end == len(data) || data[end-1] == '\n')
}
