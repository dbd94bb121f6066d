package redact

import (
	"fmt"
	"strings"
	"testing"
)

// mixedText is about size bytes of what passes through Redact and
// DetectInjection: log lines, JSON, Go code, shell output and prose, with a
// credential in about one line in forty.
func mixedText(size int) string {
	base := []string{
		`time=2026-06-01T10:30:00.123Z level=INFO msg="turn finished" session=agent:main:telegram:dm:42 inputTokens=1200 outputTokens=80 durationMs=1234`,
		`{"id":"call_7","name":"web_fetch","arguments":{"url":"https://example.com/docs/install?lang=en","maxChars":20000},"usage":{"inputTokens":812}}`,
		`func (g *Gateway) Run(ctx context.Context) error { return g.srv.Serve(ctx, g.ln) } // serve until ctx is done`,
		`-rw-r--r--  1 talon talon  4096 Jun  1 10:30 config.json5`,
		`The installer copies the binary into place and follows the instructions on screen; the previous section covered Linux.`,
		`commit 3f786850e387550fdab836ed7e6dc881de23001b Author: Ann Example <ann@example.com>`,
		`GET https://api.example.com:8443/v1/chat?model=qwen3&stream=true 200 OK 143ms`,
		`    if err := store.Put(ctx, key, value); err != nil { return fmt.Errorf("store.Put: %w", err) }`,
	}
	secrets := []string{
		"OPENAI_API_KEY=" + fakeOpenAI,
		"Authorization: Bearer " + fakeBearerToken,
		`{"password":"correct-horse-battery-staple"}`,
		"cloned with " + fakeGHP,
		"bot token " + fakeTelegram + " rejected",
	}
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		if i%40 == 39 {
			b.WriteString(secrets[(i/40)%len(secrets)])
		} else {
			b.WriteString(base[i%len(base)])
		}
		b.WriteByte('\n')
	}
	return b.String()[:size]
}

// BenchmarkRedactMixed measures Redact's throughput (MB/s) on mixed text.
func BenchmarkRedactMixed(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		text := mixedText(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				Redact(text)
			}
		})
	}
}

// BenchmarkRedactProse measures Redact on prose with no credential and few
// hints in it, the cheap case.
func BenchmarkRedactProse(b *testing.B) {
	text := strings.Repeat("An ordinary paragraph of fetched text that talks about systems, instructions and clouds in passing. ", 640)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		Redact(text)
	}
}

// BenchmarkRedactFormats measures the credential-format pass that tool
// results and outbound messages get.
func BenchmarkRedactFormats(b *testing.B) {
	text := mixedText(64 << 10)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		RedactFormats(text)
	}
}

// benchKnown is n secrets as Talon holds them: config credentials and
// talon secrets entries of 30-60 characters, some id:secret tokens.
func benchKnown(n int) []Known {
	out := make([]Known, n)
	for i := range out {
		v := fmt.Sprintf("s3cr3t-%02d-%x", i, i*7919)
		v += strings.Repeat("Zq8", 8+i%10)
		if i%5 == 0 {
			v = fmt.Sprintf("%d:%s", 100000000+i, v)
		}
		out[i] = Known{Name: fmt.Sprintf("SECRET_%02d", i), Value: v}
	}
	return out
}

// BenchmarkScrubberBuild is what a config reload or a change of the
// secrets file costs (and what every streamed delta cost before the
// scrubber was shared).
func BenchmarkScrubberBuild(b *testing.B) {
	for _, n := range []int{8, 50} {
		known := benchKnown(n)
		b.Run(fmt.Sprintf("%dsecrets", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				NewScrubber(known)
			}
		})
	}
}

// BenchmarkScrubDelta is the cost of one streamed delta (a few words) with
// the shared scrubber: Scrub alone, and a Stream's Write.
func BenchmarkScrubDelta(b *testing.B) {
	s := NewScrubber(benchKnown(8))
	const delta = "Hello, the answer is"
	b.Run("Scrub", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s.Scrub(delta)
		}
	})
	b.Run("StreamWrite", func(b *testing.B) {
		b.ReportAllocs()
		w := s.Stream()
		for b.Loop() {
			w.Write(delta)
		}
	})
}

// BenchmarkScrub64KB is Scrub's throughput with 50 known secrets on 64 KB
// of mixed text holding a few of them, with and without percent escapes
// (which add a decoded pass).
func BenchmarkScrub64KB(b *testing.B) {
	known := benchKnown(50)
	s := NewScrubber(known)
	for _, esc := range []bool{false, true} {
		text := mixedText(64 << 10)
		var sb strings.Builder
		for i := 0; sb.Len() < 64<<10; i++ {
			sb.WriteString(text[:min(len(text), 1<<10)])
			if esc {
				sb.WriteString(" GET /x?q=a%2Fb ")
			}
			sb.WriteString("leaked " + known[i%len(known)].Value + "\n")
			text = text[1<<10:]
		}
		in := sb.String()
		b.Run(fmt.Sprintf("escapes=%v", esc), func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				s.Scrub(in)
			}
		})
	}
}
