package redact

// This file is the scrubber: the one place that removes the secret values
// Talon knows (config credentials, `talon secrets` entries, the gateway
// token) from text, in every form they take on the way out.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"sync/atomic"
)

// Known is one secret value the Scrubber removes.
type Known struct {
	// Name is shown in its place, as "[REDACTED:Name]": a config key path
	// ("channels.telegram.botToken") or a `talon secrets` name. Empty
	// shows Mask ("***").
	Name  string
	Value string
}

// MinSecretLen is the shortest value, and the shortest form of one (a run
// of its base64 encoding, one half of an id:secret token), that is
// scrubbed. Shorter ones would mangle ordinary text (short runs of base64
// and short words occur by chance), and short "keys" are placeholders
// ("ollama", "EMPTY", "none" for servers that want no key), not
// credentials.
const MinSecretLen = 8

// Scrubber replaces every occurrence of a known secret value in text. It is
// built once (NewScrubber) from every secret Talon holds and is immutable,
// so one Scrubber is shared by every goroutine; LiveScrubber swaps in a new
// one when the secrets change.
//
// A value is found in each form it takes when a program quotes it:
//
//   - as it is;
//   - JSON-escaped (a value with a quote, a backslash, <, > or &);
//   - percent-encoded, by any encoder and in any case of hex digit: text
//     with %XX escapes is also searched after decoding them (twice, for
//     doubly encoded text), so "123%3aAA…" and "123%3AAA…" are found as
//     "123:AA…", and so is a value with every byte escaped; a value with
//     spaces is also searched with them as "+" (query encoding);
//   - base64, standard and URL alphabet, with or without padding, at any
//     alignment inside a larger encoded blob ("Basic " + base64(user:key)):
//     for each of the three byte offsets, the run of base64 characters
//     that depend on the value alone is searched, so at most three
//     characters at each end of the value's encoding are left;
//   - each half of an id:secret token (Telegram's "123456789:AA…"): the
//     part after the first ':' is a secret of its own. The part before it
//     is one too, unless it is all digits: a numeric id is public
//     (Telegram's bot id is the bot's user id, shown by getMe and in
//     channels.status as botId), and scrubbing it would hide nothing and
//     mangle every status line.
//
// Values and forms shorter than MinSecretLen are skipped. Overlapping matches are replaced as one. What is not
// found: a value split by line breaks (MIME base64 folded at 76
// characters), hex or other encodings, a value encrypted, hashed or cut in
// pieces, and anything Talon was never told about (RedactFormats and
// Redact catch the latter by its format).
type Scrubber struct {
	needles []needle
	index   map[uint32][]int32 // needles by their first four bytes, longest first
	filter  []uint64           // bit set over the first two bytes of every needle
	minLen  int                // shortest needle
	maxLen  int                // longest needle
	// prefixes holds every proper prefix of 1-3 bytes of a needle, for
	// Stream's hold-back test.
	prefixes map[string]bool
}

type needle struct {
	s    string
	repl string
}

// span is a match in the text being scrubbed.
type span struct {
	start, end int
	repl       string
}

// NewScrubber builds a scrubber for known. Empty and too short values are
// skipped; a value listed twice is replaced with the first name given.
func NewScrubber(known []Known) *Scrubber {
	s := &Scrubber{index: map[uint32][]int32{}, filter: make([]uint64, 1<<16/64), prefixes: map[string]bool{}}
	seen := map[string]bool{}
	add := func(form, repl string) {
		if len(form) < MinSecretLen || seen[form] {
			return
		}
		seen[form] = true
		s.needles = append(s.needles, needle{s: form, repl: repl})
	}
	for _, k := range known {
		repl := Mask
		if k.Name != "" {
			repl = "[REDACTED:" + k.Name + "]"
		}
		for _, v := range valueForms(k.Value) {
			if len(v) < MinSecretLen {
				continue
			}
			for _, f := range encodedForms(v) {
				add(f, repl)
			}
			for _, f := range base64Runs(v) {
				add(f, repl)
			}
		}
	}
	// Longest first, so that where one needle is a prefix of another the
	// longer one is taken.
	slices.SortStableFunc(s.needles, func(a, b needle) int { return len(b.s) - len(a.s) })
	for i, n := range s.needles {
		k := uint32(n.s[0])<<8 | uint32(n.s[1])
		s.filter[k>>6] |= 1 << (k & 63)
		p := binary.LittleEndian.Uint32([]byte(n.s[:4]))
		s.index[p] = append(s.index[p], int32(i))
		if s.minLen == 0 || len(n.s) < s.minLen {
			s.minLen = len(n.s)
		}
		s.maxLen = max(s.maxLen, len(n.s))
		for j := 1; j < 4; j++ {
			s.prefixes[n.s[:j]] = true
		}
	}
	return s
}

// valueForms is the value and the halves of an id:secret token that are
// secrets of their own (see Scrubber).
func valueForms(v string) []string {
	out := []string{v}
	if id, rest, ok := strings.Cut(v, ":"); ok {
		out = append(out, rest)
		if !allDigits(id) {
			out = append(out, id)
		}
	}
	return out
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// encodedForms is v as it is and as JSON and query encoding without
// percent escapes render it (escaped forms are found by decoding the text
// instead).
func encodedForms(v string) []string {
	out := []string{v}
	var b bytes.Buffer
	for _, html := range []bool{true, false} {
		b.Reset()
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(v) == nil {
			q := strings.TrimSuffix(b.String(), "\n")
			out = append(out, q[1:len(q)-1])
		}
	}
	if strings.Contains(v, " ") {
		out = append(out, strings.ReplaceAll(v, " ", "+"))
	}
	return out
}

// base64Runs is, for each byte offset of v in a larger base64-encoded
// blob, the run of characters that encode v's bits alone, in the standard
// and the URL alphabet.
func base64Runs(v string) []string {
	var out []string
	for off := range 3 {
		buf := make([]byte, off+len(v))
		copy(buf[off:], v)
		enc := base64.RawStdEncoding.EncodeToString(buf)
		// Character c carries bits [6c, 6c+6) of the blob; v holds bits
		// [8·off, 8·(off+len(v))).
		start := (8*off + 5) / 6
		end := 8 * (off + len(v)) / 6
		if end-start < MinSecretLen {
			continue
		}
		run := enc[start:end]
		out = append(out, run)
		if strings.ContainsAny(run, "+/") {
			u := []byte(run)
			for i, c := range u {
				switch c {
				case '+':
					u[i] = '-'
				case '/':
					u[i] = '_'
				}
			}
			out = append(out, string(u))
		}
	}
	return out
}

// Len is how many forms of secrets the scrubber searches for.
func (s *Scrubber) Len() int {
	if s == nil {
		return 0
	}
	return len(s.needles)
}

// Scrub returns text with every known secret, in every form listed on
// Scrubber, replaced by its "[REDACTED:NAME]" (or Mask). A nil Scrubber
// returns text unchanged. Text with no secret in it is returned as it is,
// without a copy.
func (s *Scrubber) Scrub(text string) string {
	spans := s.find(text)
	if len(spans) == 0 {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	last := 0
	for _, sp := range spans {
		b.WriteString(text[last:sp.start])
		b.WriteString(sp.repl)
		last = sp.end
	}
	b.WriteString(text[last:])
	return b.String()
}

// find returns the matches in text, sorted and with overlaps merged.
func (s *Scrubber) find(text string) []span {
	if s == nil || len(s.needles) == 0 || len(text) < s.minLen {
		return nil
	}
	spans := s.scan(text, nil, nil)
	// Percent-decoded text, twice over for doubly encoded URLs; off maps
	// a decoded index back to text.
	cur, off := text, []int32(nil)
	for range 2 {
		dec, doff, ok := percentDecode(cur)
		if !ok {
			break
		}
		if off != nil {
			for i, o := range doff {
				doff[i] = off[o]
			}
		}
		cur, off = dec, doff
		spans = s.scan(cur, off, spans)
	}
	if len(spans) < 2 {
		return spans
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start - b.start })
	merged := spans[:1]
	for _, sp := range spans[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end {
			last.end = max(last.end, sp.end)
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// scan appends the needles found in text; off, when not nil, maps an index
// of text to the original text (len(off) == len(text)+1).
func (s *Scrubber) scan(text string, off []int32, spans []span) []span {
	for i := 0; i+s.minLen <= len(text); i++ {
		k := uint32(text[i])<<8 | uint32(text[i+1])
		if s.filter[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		p := uint32(text[i]) | uint32(text[i+1])<<8 | uint32(text[i+2])<<16 | uint32(text[i+3])<<24
		for _, n := range s.index[p] {
			nd := &s.needles[n]
			if strings.HasPrefix(text[i:], nd.s) {
				sp := span{start: i, end: i + len(nd.s), repl: nd.repl}
				if off != nil {
					sp.start, sp.end = int(off[sp.start]), int(off[sp.end])
				}
				spans = append(spans, sp)
				break
			}
		}
	}
	return spans
}

// percentDecode decodes every valid %XX escape in s (either case of hex
// digit; '+' is left alone) and returns the decoded text with, for each of
// its indexes and its end, the index in s it came from. ok is false when s
// has no escape.
func percentDecode(s string) (dec string, off []int32, ok bool) {
	i := firstEscape(s)
	if i < 0 || len(s) >= math.MaxInt32 {
		return "", nil, false
	}
	b := make([]byte, 0, len(s))
	off = make([]int32, 0, len(s)+1)
	for j := 0; j < len(s); {
		// Copy up to the next valid escape, then decode it.
		k := i
		if k < 0 {
			k = len(s)
		}
		b = append(b, s[j:k]...)
		for ; j < k; j++ {
			off = append(off, int32(j))
		}
		if k == len(s) {
			break
		}
		b = append(b, unhex(s[k+1])<<4|unhex(s[k+2]))
		off = append(off, int32(k))
		j = k + 3
		if i = firstEscape(s[j:]); i >= 0 {
			i += j
		}
	}
	off = append(off, int32(len(s)))
	return string(b), off, true
}

// firstEscape is the index of the first valid %XX escape in s, or -1.
func firstEscape(s string) int {
	for i := 0; ; {
		j := strings.IndexByte(s[i:], '%')
		if j < 0 {
			return -1
		}
		i += j
		if i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			return i
		}
		i++
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c >= 'a':
		return c - 'a' + 10
	case c >= 'A':
		return c - 'A' + 10
	}
	return c - '0'
}

// LiveScrubber is the Scrubber in force, shared by everything that sends
// text out (the agent, the channel router and adapters, the logger). The
// owner of the secrets builds a new Scrubber when they change (a config
// reload, `talon secrets set`) and Sets it; readers never build one. The
// zero value scrubs nothing until Set. It is safe for concurrent use: Set
// is an atomic pointer swap, and a Scrub in progress finishes with the
// Scrubber it started with.
type LiveScrubber struct {
	cur atomic.Pointer[Scrubber]
}

// NewLiveScrubber returns a LiveScrubber holding s.
func NewLiveScrubber(s *Scrubber) *LiveScrubber {
	l := &LiveScrubber{}
	l.cur.Store(s)
	return l
}

// Set makes s the Scrubber in force.
func (l *LiveScrubber) Set(s *Scrubber) { l.cur.Store(s) }

// Get returns the Scrubber in force (nil before the first Set).
func (l *LiveScrubber) Get() *Scrubber {
	if l == nil {
		return nil
	}
	return l.cur.Load()
}

// Scrub is Get().Scrub(text).
func (l *LiveScrubber) Scrub(text string) string { return l.Get().Scrub(text) }

// Stream returns a Stream over the Scrubber in force now.
func (l *LiveScrubber) Stream() *Stream { return l.Get().Stream() }

// Stream scrubs text that arrives in pieces (a model's streamed reply), so
// that a secret cut across two pieces is still found: Write holds back the
// end of what it was given for as long as it could be the start of a
// secret, and returns the rest scrubbed. Flush returns what is held back.
// A Stream is used by one goroutine.
type Stream struct {
	s       *Scrubber
	pending string
}

// Stream returns a new Stream over s.
func (s *Scrubber) Stream() *Stream { return &Stream{s: s} }

// Write adds piece and returns the text that can be shown now, scrubbed
// ("" while everything is held back).
func (w *Stream) Write(piece string) string {
	buf := w.pending + piece
	if w.s.Len() == 0 {
		w.pending = ""
		return buf
	}
	cut := w.s.holdFrom(buf)
	// A match that the cut would split is held back whole: text still to
	// come may extend it (an overlapping secret), and Scrub replaces
	// overlapping matches as one. Spans are sorted and disjoint, so one
	// pass from the end finds every span the cut moves into.
	spans := w.s.find(buf)
	for i := len(spans) - 1; i >= 0; i-- {
		if sp := spans[i]; sp.start < cut && sp.end > cut {
			cut = sp.start
		}
	}
	w.pending = buf[cut:]
	return w.s.Scrub(buf[:cut])
}

// Flush returns, scrubbed, what Write held back.
func (w *Stream) Flush() string {
	out := w.s.Scrub(w.pending)
	w.pending = ""
	return out
}

// holdFrom is where the tail of buf starts that may be the beginning of a
// secret still arriving: the first index from which the rest of buf, as it
// is or percent-decoded, is a proper prefix of some needle, or an escape
// cut short ("%", "%3") at the end of buf.
func (s *Scrubber) holdFrom(buf string) int {
	cur, off := buf, []int32(nil)
	orig := func(i int) int {
		if off == nil {
			return i
		}
		return int(off[i])
	}
	hold := len(buf)
	for level := 0; ; level++ {
		end := len(cur)
		if end >= 1 && cur[end-1] == '%' {
			end--
		} else if end >= 2 && cur[end-2] == '%' && isHex(cur[end-1]) {
			end -= 2
		}
		hold = min(hold, orig(end), orig(s.prefixFrom(cur[:end])))
		if level == 2 {
			return hold
		}
		dec, doff, ok := percentDecode(cur)
		if !ok {
			return hold
		}
		if off != nil {
			for i, o := range doff {
				doff[i] = off[o]
			}
		}
		cur, off = dec, doff
	}
}

// prefixFrom is the first index from which the rest of text is a proper
// prefix of a needle, or len(text).
func (s *Scrubber) prefixFrom(text string) int {
	for i := max(0, len(text)-(s.maxLen-1)); i < len(text); i++ {
		tail := text[i:]
		if len(tail) < 4 {
			if s.prefixes[tail] {
				return i
			}
			continue
		}
		if k := uint32(tail[0])<<8 | uint32(tail[1]); s.filter[k>>6]&(1<<(k&63)) == 0 {
			continue
		}
		p := uint32(tail[0]) | uint32(tail[1])<<8 | uint32(tail[2])<<16 | uint32(tail[3])<<24
		for _, n := range s.index[p] {
			if nd := s.needles[n].s; len(nd) > len(tail) && strings.HasPrefix(nd, tail) {
				return i
			}
		}
	}
	return len(text)
}
