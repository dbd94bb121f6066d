package provenance

import (
	"fmt"
	"strings"
	"testing"
)

// benchText is about size bytes of log lines, JSON and prose, the kind of
// text tool results carry.
func benchText(size int) string {
	parts := []string{
		`time=2026-06-01T10:30:00.123Z level=INFO msg="turn finished" session=agent:main:telegram:dm:42 inputTokens=1200`,
		`{"id":"call_7","name":"web_fetch","arguments":{"url":"https://example.com/docs/install?lang=en"}}`,
		"The release notes list three fixes and one new option for the scheduler; nothing else changed.",
	}
	var b strings.Builder
	for i := 0; b.Len() < size; i++ {
		b.WriteString(parts[i%len(parts)])
		b.WriteByte('\n')
	}
	return b.String()[:size]
}

// BenchmarkDetectInjectionMixed measures the injection scan (MB/s) on log lines, JSON and prose.
func BenchmarkDetectInjectionMixed(b *testing.B) {
	text := benchText(64 << 10)
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		DetectInjection(text)
	}
}

// BenchmarkWrapUntrustedToolResult measures the cost of wrapping one tool
// result (ns/op) at two typical sizes.
func BenchmarkWrapUntrustedToolResult(b *testing.B) {
	for _, size := range []int{4 << 10, 64 << 10} {
		text := benchText(size)
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				WrapUntrusted("exec ls -la", text)
			}
		})
	}
}
