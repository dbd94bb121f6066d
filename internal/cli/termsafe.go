package cli

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// visible makes text from the model, a tool or a stranger safe to print on
// a terminal: control characters (ESC, which starts terminal escape
// sequences such as OSC 52 clipboard writes or cursor moves; CR, which lets
// a later part of a line print over an earlier one; the C1 range), and the
// bidirectional and zero-width formatting characters that make text read
// differently from what it is, are shown as \u{XXXX} instead of being
// obeyed. Newlines and tabs stay. Bytes that are not UTF-8 (a rune cut
// between two streamed deltas) pass through unchanged, so concatenated
// deltas read the same as the whole text.
//
// Every command that prints such text to a person goes through it: the
// approval question above all, where what the person reads must be the
// plan that will run.
func visible(s string) string {
	clean := true
	for _, r := range s {
		if hidden(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size <= 1 {
			b.WriteByte(s[i])
			i++
			continue
		}
		if hidden(r) {
			fmt.Fprintf(&b, `\u{%04X}`, r)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// hidden reports whether printing r as it is would change how the
// surrounding text looks or what the terminal does.
func hidden(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
		return true
	case r == 0x061c, r == 0x200b, r == 0x200c, r == 0x200d, r == 0x200e, r == 0x200f, r == 0x2060, r == 0xfeff:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}
