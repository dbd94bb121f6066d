package redact

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/talonclaw/talon/internal/testutil/leakcheck"
)

const (
	tgToken   = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
	tgSecret  = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0"
	oddSecret = `pa ss/w:rd+"<&>%x=y?#é-0123`
)

func testScrubber() *Scrubber {
	return NewScrubber([]Known{
		{Name: "channels.telegram.botToken", Value: tgToken},
		{Name: "ODD", Value: oddSecret},
		{Name: "SHORT", Value: "abc12"},
	})
}

// lowerEscapes lower-cases the hex digits of every %XX escape.
func lowerEscapes(s string) string {
	return escapeCase(s, strings.ToLower)
}

func escapeCase(s string, f func(string) string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			b.WriteString("%" + f(s[i+1:i+3]))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// escapeAll percent-encodes every byte.
func escapeAll(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		fmt.Fprintf(&b, "%%%02x", s[i])
	}
	return b.String()
}

// encodings is every form of v the scrubber must catch, by name.
func encodings(v string) map[string]string {
	j, _ := json.Marshal(v)
	out := map[string]string{
		"raw":               v,
		"json":              string(j[1 : len(j)-1]),
		"path":              url.PathEscape(v),
		"query":             url.QueryEscape(v),
		"query-lower":       lowerEscapes(url.QueryEscape(v)),
		"query-mixed":       escapeCase(url.QueryEscape(v), func(h string) string { return strings.ToLower(h[:1]) + h[1:] }),
		"every-byte":        escapeAll(v),
		"double":            url.QueryEscape(url.QueryEscape(v)),
		"double-lower":      lowerEscapes(url.QueryEscape(url.QueryEscape(v))),
		"basic-auth":        "Basic " + base64.StdEncoding.EncodeToString([]byte("user:"+v)),
		"basic-auth-url":    base64.URLEncoding.EncodeToString([]byte("ab:" + v)),
		"base64-raw-url":    base64.RawURLEncoding.EncodeToString([]byte(v)),
		"base64-in-json":    `{"auth":"` + base64.StdEncoding.EncodeToString([]byte(`{"k":"`+v+`"}`)) + `"}`,
		"url-in-error":      `Post "https://api.telegram.org/bot` + lowerEscapes(url.QueryEscape(v)) + `/getUpdates": dial tcp: connection refused`,
		"percent-in-base64": url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("x" + v))),
	}
	for off := range 3 {
		blob := append([]byte(strings.Repeat("\x00\xff", off)[:off]), v...)
		blob = append(blob, "tail bytes"...)
		out[fmt.Sprintf("base64-std-off%d", off)] = base64.StdEncoding.EncodeToString(blob)
		out[fmt.Sprintf("base64-url-off%d", off)] = base64.RawURLEncoding.EncodeToString(blob)
	}
	return out
}

// TestInvariant10_ScrubberEveryEncoding: a known secret is removed in every
// form a program may quote it, inside surrounding text.
func TestInvariant10_ScrubberEveryEncoding(t *testing.T) {
	s := testScrubber()
	for _, v := range []string{tgToken, tgSecret, oddSecret} {
		for name, enc := range encodings(v) {
			text := "error: upstream said <" + enc + "> at 10:30"
			if leakcheck.Find(text, v) == "" {
				t.Fatalf("%s: the leak check does not see %q", name, text)
			}
			got := s.Scrub(text)
			if f := leakcheck.Find(got, v); f != "" {
				t.Errorf("%.12s… %s: %s survives in %q", v, name, f, got)
			}
			if !strings.Contains(got, "[REDACTED:") {
				t.Errorf("%.12s… %s: no marker in %q", v, name, got)
			}
			if again := s.Scrub(got); again != got {
				t.Errorf("%.12s… %s: not idempotent: %q -> %q", v, name, got, again)
			}
		}
	}
}

// TestInvariant10_ScrubberKeepsWhatIsNotSecret: the numeric id half of a
// bot token, short values, and ordinary text are left alone, and text with
// nothing to scrub comes back unchanged.
func TestInvariant10_ScrubberKeepsWhatIsNotSecret(t *testing.T) {
	s := testScrubber()
	for _, text := range []string{
		"bot 123456789 is connected (botId 123456789)",
		"abc12 is too short to be scrubbed",
		"GET https://api.example.com/v1/x?a=%2F%3a%3A 200 OK; 50% done; 100%",
		mixedText(4 << 10),
		"AAHdqTcv is only the start of it",
		"",
	} {
		if got := s.Scrub(text); got != text {
			t.Errorf("changed %q\n     to %q", text, got)
		}
	}
	if got := s.Scrub("token " + tgToken + "."); got != "token [REDACTED:channels.telegram.botToken]." {
		t.Errorf("%q", got)
	}
	// The secret half alone, as a Telegram error may quote it.
	if got := s.Scrub("secret " + tgSecret + "!"); got != "secret [REDACTED:channels.telegram.botToken]!" {
		t.Errorf("%q", got)
	}
	// Unnamed secrets show as Mask; the longest value wins where one
	// contains another.
	u := NewScrubber([]Known{{Value: "sk-live-0123456789"}, {Name: "LONG", Value: "sk-live-0123456789-extended"}})
	if got := u.Scrub("x sk-live-0123456789-extended y sk-live-0123456789 z"); got != "x [REDACTED:LONG] y *** z" {
		t.Errorf("%q", got)
	}
	var nilS *Scrubber
	if nilS.Scrub("x") != "x" || (&LiveScrubber{}).Scrub("y") != "y" {
		t.Error("nil scrubbers must scrub nothing")
	}
}

// TestInvariant10_StreamScrubsSecretsCutAcrossPieces: a secret streamed in
// pieces, cut anywhere, in any encoding, never appears in what the stream
// lets out, and what it lets out is what Scrub makes of the whole.
func TestInvariant10_StreamScrubsSecretsCutAcrossPieces(t *testing.T) {
	s := testScrubber()
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range []string{tgToken, oddSecret} {
		for name, enc := range encodings(v) {
			whole := "The answer: " + enc + " and some 100% more text — done."
			for range 30 {
				w := s.Stream()
				var out strings.Builder
				for rest := whole; rest != ""; {
					n := min(len(rest), 1+rng.IntN(12))
					piece := w.Write(rest[:n])
					if f := leakcheck.Find(out.String()+piece, v); f != "" && leakcheck.Find(s.Scrub(whole), v) == "" {
						t.Fatalf("%s: %s let out after %q", name, f, out.String()+piece)
					}
					out.WriteString(piece)
					rest = rest[n:]
				}
				out.WriteString(w.Flush())
				if out.String() != s.Scrub(whole) {
					t.Fatalf("%s: stream gave %q, Scrub gives %q", name, out.String(), s.Scrub(whole))
				}
			}
		}
	}
	// Two secrets overlapping in the text: the second is not cut loose
	// when the first is complete.
	o := NewScrubber([]Known{{Name: "A", Value: "abcdefgh12"}, {Name: "B", Value: "gh12ijklmnopqrst"}})
	ow := o.Stream()
	if got := ow.Write("say abcdefgh12ij") + ow.Write("klmnopqrst.") + ow.Flush(); got != "say [REDACTED:A]." {
		t.Errorf("overlapping secrets: %q", got)
	}
	// Nothing is held back when nothing could start a secret.
	w := s.Stream()
	if got := w.Write("plain words, "); got != "plain words, " {
		t.Errorf("held back %q", got)
	}
}

// TestLiveScrubberSwap: readers see the old or the new Scrubber, never a
// torn one, while it is replaced (run with -race).
func TestLiveScrubberSwap(t *testing.T) {
	l := NewLiveScrubber(NewScrubber([]Known{{Name: "A", Value: "first-secret-value"}}))
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				got := l.Scrub("x first-secret-value second-secret-value")
				if strings.Contains(got, "first-secret-value") {
					t.Error("first secret leaked")
					return
				}
			}
		})
	}
	for range 200 {
		l.Set(NewScrubber([]Known{{Name: "A", Value: "first-secret-value"}, {Name: "B", Value: "second-secret-value"}}))
	}
	wg.Wait()
	if got := l.Scrub("second-secret-value"); got != "[REDACTED:B]" {
		t.Errorf("%q", got)
	}
}

// FuzzScrub: whatever the text around it and whichever encoding it is in,
// a known secret does not survive Scrub, Scrub is idempotent, and a
// Stream fed the text in two pieces lets out what Scrub gives.
func FuzzScrub(f *testing.F) {
	f.Add("error: ", " at 10:30", tgToken, uint8(0), 7)
	f.Add("%", "%3", "pa ss/w:rd+\"<&>%x", uint8(3), 1)
	f.Add("Basic ", "==", "0123456789abcdef", uint8(9), 20)
	f.Fuzz(func(t *testing.T, before, after, secret string, enc uint8, cut int) {
		if len(secret) < MinSecretLen || len(secret) > 200 || strings.ContainsAny(secret, "*[]") {
			return
		}
		forms := encodings(secret)
		names := make([]string, 0, len(forms))
		for n := range forms {
			names = append(names, n)
		}
		slices.Sort(names)
		text := before + forms[names[int(enc)%len(names)]] + after
		s := NewScrubber([]Known{{Value: secret}})
		got := s.Scrub(text)
		if f := leakcheck.Find(got, secret); f != "" {
			t.Fatalf("%s survives in %q (from %q)", f, got, text)
		}
		if again := s.Scrub(got); again != got {
			t.Fatalf("not idempotent: %q -> %q", got, again)
		}
		cut = min(max(cut, 0), len(text))
		w := s.Stream()
		out := w.Write(text[:cut]) + w.Write(text[cut:]) + w.Flush()
		if f := leakcheck.Find(out, secret); f != "" {
			t.Fatalf("stream: %s survives in %q (from %q)", f, out, text)
		}
		// With percent signs the text can be read two ways ("%00000" is
		// an escape or a '%' before a secret of zeros); a stream that
		// sees it in pieces may scrub more, never less.
		if out != got && !strings.Contains(text, "%") {
			t.Fatalf("stream %q, Scrub %q", out, got)
		}
	})
}
