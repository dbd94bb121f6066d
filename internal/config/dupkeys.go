package config

import (
	"fmt"

	"github.com/titanous/json5"
)

// duplicateKeys reports keys that appear more than once in the same object.
// The JSON5 decoder silently keeps the last one, which hides mistakes (two
// "auth" blocks, the first forgotten), so a strict config rejects them.
//
// It runs only on input the decoder has accepted, so it is a small scanner
// that follows the decoder's grammar, including its comment rules; on
// anything it does not expect it stops and reports nothing more rather than
// guess.
func duplicateKeys(data []byte) []Problem {
	s := &dupScanner{data: data}
	s.value("")
	return s.problems
}

type dupScanner struct {
	data     []byte
	pos      int
	failed   bool
	problems []Problem
}

func (s *dupScanner) peek() (byte, bool) {
	if s.failed || s.pos >= len(s.data) {
		s.failed = true
		return 0, false
	}
	return s.data[s.pos], true
}

// skip skips white space and comments. A line comment ends at \n or \r. A
// block comment ends at the first '/' after a '*' (not necessarily right
// after it): that is how the decoder reads them, and this scanner must
// agree with the decoder about where values are.
func (s *dupScanner) skip() {
	d := s.data
	for s.pos < len(d) {
		c := d[s.pos]
		switch {
		case isSpaceByte(c):
			s.pos++
		case c == '/' && s.pos+1 < len(d) && d[s.pos+1] == '/':
			s.pos += 2
			for s.pos < len(d) && d[s.pos] != '\n' && d[s.pos] != '\r' {
				s.pos++
			}
		case c == '/' && s.pos+1 < len(d) && d[s.pos+1] == '*':
			s.pos += 2
			star := false
			for s.pos < len(d) {
				c := d[s.pos]
				s.pos++
				if star && c == '/' {
					break
				}
				if c == '*' {
					star = true
				}
			}
		default:
			return
		}
	}
}

func (s *dupScanner) value(path string) {
	s.skip()
	c, ok := s.peek()
	if !ok {
		return
	}
	switch c {
	case '{':
		s.object(path)
	case '[':
		s.array(path)
	case '"', '\'':
		s.str()
	default:
		for s.pos < len(s.data) {
			switch s.data[s.pos] {
			case ',', ']', '}', '/', ' ', '\t', '\r', '\n', '\f':
				return
			}
			s.pos++
		}
	}
}

// str skips a quoted string and returns its raw text including quotes.
func (s *dupScanner) str() []byte {
	start := s.pos
	q := s.data[s.pos]
	s.pos++
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		s.pos++
		switch c {
		case '\\':
			s.pos++
		case q:
			return s.data[start:s.pos]
		}
	}
	s.failed = true
	return nil
}

func (s *dupScanner) key() (string, bool) {
	c, ok := s.peek()
	if !ok {
		return "", false
	}
	if c == '"' || c == '\'' {
		raw := s.str()
		if raw == nil {
			return "", false
		}
		var k string
		if err := json5.Unmarshal(raw, &k); err != nil {
			return "", false
		}
		return k, true
	}
	start := s.pos
	for s.pos < len(s.data) && isKeyByte(s.data[s.pos]) {
		s.pos++
	}
	return string(s.data[start:s.pos]), s.pos > start
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$'
}

func (s *dupScanner) object(path string) {
	s.pos++ // {
	first := map[string]int{}
	for {
		s.skip()
		c, ok := s.peek()
		if !ok {
			return
		}
		if c == '}' {
			s.pos++
			return
		}
		at := s.pos
		k, ok := s.key()
		if !ok {
			s.failed = true
			return
		}
		p := joinPath(path, k)
		if prev, dup := first[k]; dup {
			line, col := position(s.data, at)
			pline, pcol := position(s.data, prev)
			s.problems = append(s.problems, Problem{
				Path:    p,
				Message: fmt.Sprintf("duplicate key at line %d, column %d (first at line %d, column %d)", line, col, pline, pcol),
				Hint:    "keep only one of them; JSON5 would silently use the last",
			})
		} else {
			first[k] = at
		}
		s.skip()
		if c, ok := s.peek(); !ok || c != ':' {
			s.failed = true
			return
		}
		s.pos++
		s.value(p)
		s.skip()
		c, ok = s.peek()
		if !ok {
			return
		}
		s.pos++
		if c == '}' {
			return
		}
		if c != ',' {
			s.failed = true
			return
		}
	}
}

func (s *dupScanner) array(path string) {
	s.pos++ // [
	for i := 0; ; i++ {
		s.skip()
		c, ok := s.peek()
		if !ok {
			return
		}
		if c == ']' {
			s.pos++
			return
		}
		s.value(joinPath(path, fmt.Sprint(i)))
		s.skip()
		c, ok = s.peek()
		if !ok {
			return
		}
		s.pos++
		if c == ']' {
			return
		}
		if c != ',' {
			s.failed = true
			return
		}
	}
}

func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'
}
