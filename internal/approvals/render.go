package approvals

import (
	"github.com/talonclaw/talon/internal/core"

	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPlanChars caps a rendered plan; a longer one is cut with a note that
// says where to read it whole.
const MaxPlanChars = 3000

// Render is a tool call as a person reads it before approving it: for exec
// the command line (and its workdir and timeout), for every other tool its
// name and each argument on a line of its own. Whatever the model put in
// the arguments is shown, never interpreted: control characters (a newline
// that would start a fake "Reason:" line) and bidirectional overrides
// (which reorder what is displayed) are written as visible escapes, so the
// text shown is the text that runs.
func Render(tool string, args json.RawMessage) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(args, &m) != nil {
		return capPlan(Visible(tool) + " " + Visible(string(args)))
	}
	var b strings.Builder
	if tool == "exec" {
		var cmd string
		if json.Unmarshal(m["command"], &cmd) == nil {
			fmt.Fprintf(&b, "exec: %s", Visible(cmd))
			delete(m, "command")
		} else {
			b.WriteString("exec")
		}
	} else {
		b.WriteString(Visible(tool))
	}
	for _, k := range slices.Sorted(maps.Keys(m)) {
		v := m[k]
		var str string
		text := string(v)
		if json.Unmarshal(v, &str) == nil {
			text = str
		}
		fmt.Fprintf(&b, "\n  %s: %s", Visible(k), Visible(text))
	}
	out := b.String()
	if hidden(string(args)) {
		out += "\n  (the arguments hold control or direction characters, shown above as \\n, \\t, \\uXXXX)"
	}
	return capPlan(out)
}

// RenderPlan is Render followed by what the plan says the call does: its
// effects, each target and each of the tool's findings, all written
// Visible.
func RenderPlan(tool string, args json.RawMessage, p *core.Plan) string {
	out := Render(tool, args)
	if p == nil {
		return out
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n  does: %s", p.Effects)
	for _, t := range p.Targets {
		v := t.Value + t.Rest
		if t.Current {
			v += " (this conversation)"
		}
		fmt.Fprintf(&b, "\n  %s: %s", t.Kind, Visible(v))
	}
	for _, f := range p.Findings {
		fmt.Fprintf(&b, "\n  %s: %s", f.Severity, Visible(f.Reason))
	}
	return capPlan(out + b.String())
}

// hidden reports whether the JSON text of args holds an escaped control
// character or any character Visible would escape.
func hidden(s string) bool {
	var v any
	if json.Unmarshal([]byte(s), &v) != nil {
		return false
	}
	var walk func(any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return Visible(x) != x
		case map[string]any:
			for k, e := range x {
				if Visible(k) != k || walk(e) {
					return true
				}
			}
		case []any:
			for _, e := range x {
				if walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}

func capPlan(s string) string {
	if utf8.RuneCountInString(s) <= MaxPlanChars {
		return s
	}
	r := []rune(s)
	return string(r[:MaxPlanChars]) + fmt.Sprintf("\n[… the plan is %d characters long; read it whole with `talon approvals list --json` before allowing it]", len(r))
}

// Visible writes s with every control, format and bidirectional-control
// character escaped (\n, \t, \u202e …) and invalid UTF-8 as \xNN, so it
// shows on one line and in its real order. Backslashes are left as they
// are, for commands to stay readable; Render says when anything was
// escaped.
func Visible(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Bidi_Control, r) ||
			r == '\u2028' || r == '\u2029':
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
