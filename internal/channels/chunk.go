package channels

import (
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Message length limits of the platforms.
const (
	TelegramMaxLen = 4096  // UTF-16 code units, after entity parsing
	DiscordMaxLen  = 2000  // characters
	SlackMaxLen    = 40000 // characters of a message's text
	SignalMaxLen   = 2000  // longer texts become attachments in Signal clients
)

// Runes counts Unicode code points; UTF16Len counts UTF-16 code units, as
// Telegram does.
func Runes(s string) int    { return utf8.RuneCountInString(s) }
func UTF16Len(s string) int { return len(utf16.Encode([]rune(s))) }

// Chunk splits text into pieces no longer than limit as measured by size
// (Runes when nil). It prefers to break between paragraphs, then lines,
// then words, and splits inside a word only when one is longer than the
// limit; it never splits a UTF-8 sequence. Whitespace at the break is
// dropped; nothing else is. Empty or all-space text gives no chunks.
func Chunk(text string, limit int, size func(string) int) []string {
	if size == nil {
		size = Runes
	}
	if limit < 1 {
		limit = 1
	}
	var out []string
	rest := strings.TrimSpace(text)
	for rest != "" {
		if size(rest) <= limit {
			out = append(out, rest)
			break
		}
		cut := fit(rest, limit, size) // longest prefix that fits, in bytes
		head := rest[:cut]
		at := -1
		for _, sep := range []string{"\n\n", "\n", " "} {
			if i := strings.LastIndex(head, sep); i > 0 {
				at = i
				break
			}
		}
		if at <= 0 {
			at = cut
		}
		out = append(out, strings.TrimRightFunc(rest[:at], isSpace))
		rest = strings.TrimLeftFunc(rest[at:], isSpace)
	}
	return out
}

func isSpace(r rune) bool { return r == ' ' || r == '\n' || r == '\t' || r == '\r' }

// fit returns the byte length of the longest prefix of s, ending on a rune
// boundary and at least one rune long, whose size is at most limit.
func fit(s string, limit int, size func(string) int) int {
	bounds := make([]int, 0, len(s)+1) // byte offsets of rune starts, then len(s)
	for i := range s {
		bounds = append(bounds, i)
	}
	bounds = append(bounds, len(s))
	k := sort.Search(len(bounds), func(k int) bool { return size(s[:bounds[k]]) > limit }) - 1
	return bounds[max(k, 1)]
}
