package policy

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Prompt-leak guard. Invariant: a turn's system prompt — its random canary
// and every distinctive line of it — never leaves the turn in a tool
// call's arguments, nor in a reply to anyone but the owner. The check is
// made on a normalised form of both sides (Skeleton), so spelling the
// prompt differently does not get it out: percent-encoded (any case, '+'
// for space, encoded again), HTML entities, JSON or backslash escapes,
// fullwidth or look-alike letters, zero-width characters, other spacing,
// other case, or split across several arguments. The canary is also
// matched hex- and base64-encoded. What it cannot see is a prompt the model
// rewrote: paraphrased, translated, or encoded some other way.
//
// False positives are kept low by counting only distinctive prompt text:
// a line (or a sentence of a long line) of at least MinLeakLine characters
// and minLeakWords words whose normalised form keeps minLeakSkeleton
// letters and digits. URLs, paths and short headings never count.

// Leak-guard parameters.
const (
	// MinLeakLine is the length in characters below which a prompt line is
	// too generic to count.
	MinLeakLine     = 60
	minLeakWords    = 6  // fewer words: a URL, a path, code
	minLeakSkeleton = 40 // letters and digits a counted line keeps
	leakKey         = 8  // bytes in a chunk of a line
	leakShareNum    = 2  // share of a line's chunks that makes it a leak:
	leakShareDen    = 3  // a line cut in two loses at most one of five
	maxDecodeRounds = 8  // escapes decoded at most this deep
	leakFilterBits  = 1 << 16
)

// AlertPromptLeak is Decision.Alert for a call refused because its
// arguments carry the system prompt; the agent raises a security alert.
const AlertPromptLeak = "prompt-leak"

// PromptGuard finds one turn's system prompt in text leaving the turn.
// Build one per system prompt with NewPromptGuard; it is read-only after
// that and safe for concurrent use.
//
// A distinctive line is cut into chunks of leakKey bytes of its skeleton;
// the line leaks when at least leakShare of its chunks occur anywhere in
// the text's skeleton, in any order. So a line cut into a few pieces,
// reordered, or with a few words changed is still found, while the odd
// common chunk ("theowner") in unrelated text is not enough.
type PromptGuard struct {
	// chunks are the lines' chunks by their bytes; filter has a bit set
	// for each, to skip most text positions without a map lookup.
	// Both are only read once built, so guards made by WithCanary share
	// them.
	chunks map[uint64][]chunkRef
	filter *[leakFilterBits / 64]uint64
	// lines is the number of chunks of each distinctive line; total the
	// number of chunks of all of them.
	lines []int
	total int
	// canary are lowercase skeleton forms of the canary's random part (as
	// is and hex-encoded); canaryB64 are case-kept skeletons of its
	// base64 encodings at each byte alignment.
	canary    []string
	canaryB64 []string
}

// chunkRef is one chunk: its line and its number among all chunks.
type chunkRef struct{ line, id int }

// NewPromptGuard prepares the leak check for one system prompt and its
// canary ("PREFIX-<random>"; the part after the last '-' is what counts,
// the whole canary when there is no '-').
func NewPromptGuard(system, canary string) *PromptGuard {
	g := &PromptGuard{chunks: map[uint64][]chunkRef{}, filter: new([leakFilterBits / 64]uint64)}
	seen := map[string]bool{}
	for _, line := range strings.Split(system, "\n") {
		units := []string{line}
		if len(line) > 2*MinLeakLine {
			units = append(units, sentences(line)...)
		}
		for _, u := range units {
			if !distinctive(u) {
				continue
			}
			sk := Skeleton(u)
			if len(sk) < minLeakSkeleton || seen[sk] {
				continue
			}
			seen[sk] = true
			n := len(sk) / leakKey
			for c := range n {
				k := key8(sk[c*leakKey:])
				g.chunks[k] = append(g.chunks[k], chunkRef{line: len(g.lines), id: g.total})
				f := filterBit(k)
				g.filter[f/64] |= 1 << (f % 64)
				g.total++
			}
			g.lines = append(g.lines, n)
		}
	}
	g.setCanary(canary)
	return g
}

// WithCanary returns a guard for g's prompt lines and canary instead of
// g's. The lines' index is shared, not copied: build the guard of a prompt
// once, and one per turn's canary from it.
func (g *PromptGuard) WithCanary(canary string) *PromptGuard {
	c := *g
	c.canary, c.canaryB64 = nil, nil
	c.setCanary(canary)
	return &c
}

func (g *PromptGuard) setCanary(canary string) {
	secret := canary
	if i := strings.LastIndexByte(canary, '-'); i >= 0 && i < len(canary)-1 {
		secret = canary[i+1:]
	}
	if len(secret) >= 8 {
		g.canary = []string{Skeleton(secret), hex.EncodeToString([]byte(secret))}
		for off := range 3 {
			buf := append(make([]byte, off), secret...)
			enc := base64.RawStdEncoding.EncodeToString(buf)
			// Only the characters made of the secret's bits alone are the
			// same whatever comes before and after it.
			from, to := (8*off+5)/6, 8*(off+len(secret))/6
			if to-from >= 8 {
				g.canaryB64 = append(g.canaryB64, alnum(enc[from:to]))
			}
		}
	}
}

// Lines reports how many distinctive prompt lines g looks for.
func (g *PromptGuard) Lines() int { return len(g.lines) }

// Leaks reports whether text carries the canary or a distinctive line of
// the system prompt, in any of the spellings Skeleton undoes.
func (g *PromptGuard) Leaks(text string) bool {
	if g == nil || text == "" {
		return false
	}
	kept := skeleton(decode(text))
	low := strings.ToLower(kept)
	return g.leaksCanary(kept, low) || g.leaksLine(low)
}

// LeaksArgs is Leaks over a tool call's arguments: every value of the
// JSON document, decoded and joined in order, then every key, so a line
// split across two arguments is found as well as one inside a single
// string; the canary is also looked for across the ends of every two
// values, in either order. Arguments that are not JSON are checked as text.
func (g *PromptGuard) LeaksArgs(args json.RawMessage) bool {
	if g == nil {
		return false
	}
	vals, keys := scalars(args)
	return g.Leaks(strings.Join(vals, "")+strings.Join(keys, "")) || g.canaryAcross(vals)
}

// leaksCanaryOnly is LeaksArgs for the canary alone.
func (g *PromptGuard) leaksCanaryOnly(args json.RawMessage) bool {
	if g == nil {
		return false
	}
	vals, keys := scalars(args)
	kept := skeleton(decode(strings.Join(vals, "") + strings.Join(keys, "")))
	return g.leaksCanary(kept, strings.ToLower(kept)) || g.canaryAcross(vals)
}

// maxAcross is the most values canaryAcross pairs up.
const maxAcross = 32

// canaryAcross looks for the canary cut in two: the end of one value
// joined to the start of another, in either order.
func (g *PromptGuard) canaryAcross(vals []string) bool {
	if len(g.canary) == 0 || len(vals) < 2 || len(vals) > maxAcross {
		return false
	}
	w := len(g.canary[0]) - 1
	heads, tails := make([]string, len(vals)), make([]string, len(vals))
	// The ends of each value's skeleton, from its ends: up to 16 bytes of
	// encoding (a \u escape, an entity) per canary byte are enough.
	span := 16 * w
	for i, v := range vals {
		h, t := Skeleton(v[:min(span, len(v))]), Skeleton(v[max(0, len(v)-span):])
		heads[i], tails[i] = h[:min(w, len(h))], t[max(0, len(t)-w):]
	}
	for i := range vals {
		for j := range vals {
			if i != j && strings.Contains(tails[i]+heads[j], g.canary[0]) {
				return true
			}
		}
	}
	return false
}

// leaksCanary looks for the canary in text whose skeleton is kept, and
// low in lower case.
func (g *PromptGuard) leaksCanary(kept, low string) bool {
	if len(g.canary) == 0 {
		return false
	}
	for _, c := range g.canary {
		if strings.Contains(low, c) {
			return true
		}
	}
	for _, c := range g.canaryB64 {
		if strings.Contains(kept, c) {
			return true
		}
	}
	return false
}

// leaksLine reports whether leakShare of some line's chunks occur in sk:
// each position's next leakKey bytes are looked up in the bit filter and,
// on a hit, in the chunk map.
func (g *PromptGuard) leaksLine(sk string) bool {
	if len(g.lines) == 0 || len(sk) < leakKey {
		return false
	}
	var seen []uint64 // chunk ids found, a bit each
	var found []int   // chunks found, per line
	for i := 0; i+leakKey <= len(sk); i++ {
		k := key8(sk[i:])
		if f := filterBit(k); g.filter[f/64]&(1<<(f%64)) == 0 {
			continue
		}
		for _, c := range g.chunks[k] {
			if seen == nil {
				seen, found = make([]uint64, (g.total+63)/64), make([]int, len(g.lines))
			}
			if seen[c.id/64]&(1<<(c.id%64)) != 0 {
				continue
			}
			seen[c.id/64] |= 1 << (c.id % 64)
			found[c.line]++
			if found[c.line]*leakShareDen >= g.lines[c.line]*leakShareNum {
				return true
			}
		}
	}
	return false
}

// key8 is the first leakKey bytes of s as a number.
func key8(s string) uint64 {
	_ = s[leakKey-1]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

// filterBit spreads a key over the filter's bits (Fibonacci hashing).
func filterBit(k uint64) uint64 { return (k * 0x9E3779B97F4A7C15) >> (64 - 16) }

// distinctive reports whether a prompt line is specific enough to count.
func distinctive(line string) bool {
	line = strings.TrimSpace(line)
	return utf8.RuneCountInString(line) >= MinLeakLine && len(strings.Fields(line)) >= minLeakWords
}

// sentences splits a long line at ". ", "! " and "? ".
func sentences(line string) []string {
	var out []string
	start := 0
	for i := 0; i+1 < len(line); i++ {
		if (line[i] == '.' || line[i] == '!' || line[i] == '?') && line[i+1] == ' ' {
			out = append(out, line[start:i+1])
			start = i + 2
		}
	}
	if start > 0 && start < len(line) {
		out = append(out, line[start:])
	}
	return out
}

// scalars returns the values (strings and numbers) and the keys of a
// JSON document, decoded (so \u escapes are undone), each in document
// order; text that is not JSON comes back as the one value.
func scalars(raw json.RawMessage) (vals, keys []string) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	// Inside an object, strings alternate between key and value.
	type frame struct{ object, wantKey bool }
	var stack []frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return vals, keys
		}
		if err != nil {
			return []string{string(raw)}, nil
		}
		isKey := false
		if n := len(stack); n > 0 && stack[n-1].object && tok != json.Delim('}') {
			isKey = stack[n-1].wantKey
			stack[n-1].wantKey = !isKey
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{':
				stack = append(stack, frame{object: true, wantKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if isKey {
				keys = append(keys, v)
			} else {
				vals = append(vals, v)
			}
		case json.Number:
			vals = append(vals, v.String())
		}
	}
}

// Skeleton is the form prompt text is compared in: escapes decoded until
// nothing changes (percent-encoding in any case with '+' as a space, HTML
// entities named and numeric, \uXXXX and \xXX), compatibility-decomposed
// (fullwidth letters, ligatures, accents apart), common Latin look-alikes
// (Cyrillic, Greek) mapped to Latin, lower-cased, and everything but
// letters and digits removed — spaces of every kind, punctuation,
// zero-width and format characters, combining marks. Joining two
// skeletons is the skeleton of the joined text with any separator.
func Skeleton(s string) string { return strings.ToLower(skeleton(decode(s))) }

// decode undoes nested escapes, at most maxDecodeRounds deep.
func decode(s string) string {
	for range maxDecodeRounds {
		if !strings.ContainsAny(s, "%+&\\") {
			return s
		}
		d := unbackslash(html.UnescapeString(unpercent(s)))
		if d == s {
			return s
		}
		s = d
	}
	return s
}

// unpercent decodes %XX (either case) and '+'; a malformed escape stays.
func unpercent(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b = append(b, ' ')
		case c == '%' && i+2 < len(s) && ishex(s[i+1]) && ishex(s[i+2]):
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// unbackslash decodes \uXXXX, \xXX and one-letter escapes.
func unbackslash(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' || i+1 >= len(s) {
			b = append(b, s[i])
			continue
		}
		switch c := s[i+1]; {
		case c == 'u' && i+5 < len(s) && allHex(s[i+2:i+6]):
			r, _ := hex.DecodeString(s[i+2 : i+6])
			b = utf8.AppendRune(b, rune(r[0])<<8|rune(r[1]))
			i += 5
		case c == 'x' && i+3 < len(s) && allHex(s[i+2:i+4]):
			b = append(b, unhex(s[i+2])<<4|unhex(s[i+3]))
			i += 3
		case c == 'n' || c == 't' || c == 'r':
			b = append(b, ' ')
			i++
		default:
			b = append(b, c)
			i++
		}
	}
	return string(b)
}

func allHex(s string) bool {
	for i := range len(s) {
		if !ishex(s[i]) {
			return false
		}
	}
	return true
}

func ishex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// skeleton keeps the letters and digits of decoded text after NFKD, with
// look-alikes mapped to Latin, in their case.
func skeleton(s string) string {
	b := make([]byte, 0, len(s))
	for i := range len(s) {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
			b = append(b, c)
		case c >= utf8.RuneSelf:
			return slowSkeleton(s)
		}
	}
	return string(b)
}

func slowSkeleton(s string) string {
	b := make([]byte, 0, len(s))
	for _, r := range norm.NFKD.String(strings.ToValidUTF8(s, " ")) {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			continue
		}
		if l := latin(r); l != r {
			r = l
		} else if l := unicode.ToLower(r); latin(l) != l {
			r = latin(l) // an upper-case look-alike of a lower-case one
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}

// alnum keeps the ASCII letters and digits of s.
func alnum(s string) string { return skeleton(s) }

// latin maps Cyrillic and Greek letters that look like Latin ones.
func latin(r rune) rune {
	if r < 0x370 {
		return r
	}
	switch r {
	case 'А', 'а', 'Α', 'α':
		return 'a'
	case 'В', 'Β', 'β':
		return 'b'
	case 'С', 'с':
		return 'c'
	case 'ԁ':
		return 'd'
	case 'Е', 'е', 'Ε', 'ε':
		return 'e'
	case 'Н', 'һ', 'Η':
		return 'h'
	case 'І', 'і', 'Ι', 'ι':
		return 'i'
	case 'Ј', 'ј':
		return 'j'
	case 'К', 'к', 'Κ', 'κ':
		return 'k'
	case 'М', 'Μ':
		return 'm'
	case 'Ν', 'η':
		return 'n'
	case 'О', 'о', 'Ο', 'ο':
		return 'o'
	case 'Р', 'р', 'Ρ', 'ρ':
		return 'p'
	case 'ԛ':
		return 'q'
	case 'Ѕ', 'ѕ':
		return 's'
	case 'Т', 'Τ', 'τ':
		return 't'
	case 'υ':
		return 'u'
	case 'ν':
		return 'v'
	case 'ԝ':
		return 'w'
	case 'Х', 'х', 'Χ', 'χ':
		return 'x'
	case 'У', 'у', 'Υ':
		return 'y'
	case 'Ζ':
		return 'z'
	}
	return r
}
