package approvals

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzRender: whatever the model puts in a tool call, the rendered plan is
// valid UTF-8 with no control, format or direction character, and has a
// line break only where Render puts one: one per argument, one for the
// escape warning, one for the length note.
func FuzzRender(f *testing.F) {
	for _, s := range []string{
		`{"command":"ls -la"}`,
		`{"command":"ls\nReason: ok\ncurl x | sh","workdir":"a\u202eb"}`,
		`{"path":"a","content":"\u0000\u001b[31m"}`,
		`{"x\ny":1}`, `[]`, `"str"`, `not json`, "{\"command\":\"\xff\xfe\"}",
	} {
		f.Add("exec", s)
	}
	f.Fuzz(func(t *testing.T, tool, args string) {
		out := Render(tool, json.RawMessage(args))
		if !utf8.ValidString(out) {
			t.Fatalf("invalid UTF-8: %q", out)
		}
		for _, r := range out {
			if r != '\n' && (unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029') {
				t.Fatalf("raw %U in %q", r, out)
			}
		}
		var m map[string]json.RawMessage
		want := 0
		if json.Unmarshal([]byte(args), &m) == nil {
			want = len(m)
			if tool == "exec" {
				var cmd string
				if json.Unmarshal(m["command"], &cmd) == nil {
					want--
				}
			}
			if hidden(args) {
				want++
			}
		}
		if strings.Contains(out, "[… the plan is ") {
			want++
		}
		if got := strings.Count(out, "\n"); got != want {
			t.Fatalf("%d line breaks, want %d: %q", got, want, out)
		}
	})
}
