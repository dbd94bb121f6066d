package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Render writes a tree as JSON5 text: two-space indent, unquoted keys where
// JSON5 allows, keys in the order of the Go struct fields where the key is
// known (unknown keys and map keys follow, sorted), and a `// <doc>` comment
// above every key that has a doc tag. The output is stable: the same tree
// always renders to the same bytes, and ParseTree(Render(t)) equals t.
//
// Comments of the file the tree came from are not preserved; callers that
// rewrite a user's file with it (config set, config.patch) should say so.
func Render(tree map[string]any) []byte {
	r := &renderer{}
	norm := (&decoder{}).normalize("", tree)
	m, _ := norm.(map[string]any)
	r.object(m, reflect.TypeFor[Config](), 0)
	r.b.WriteByte('\n')
	return r.b.Bytes()
}

type renderer struct {
	b bytes.Buffer
}

const commentWidth = 80

func (r *renderer) indent(n int) {
	for range n {
		r.b.WriteString("  ")
	}
}

// object renders m; t is the Go type it decodes into, or nil if unknown.
func (r *renderer) object(m map[string]any, t reflect.Type, depth int) {
	if len(m) == 0 {
		r.b.WriteString("{}")
		return
	}
	keys := orderKeys(m, t)
	r.b.WriteString("{\n")
	for i, k := range keys {
		var f field
		var ct reflect.Type
		if t != nil {
			var ok bool
			f, ct, ok = childType(t, k)
			if !ok {
				ct = nil
			}
		}
		if f.doc != "" {
			if i > 0 {
				r.b.WriteByte('\n')
			}
			r.comment(f.doc, depth+1)
		}
		r.indent(depth + 1)
		r.b.WriteString(renderKey(k))
		r.b.WriteString(": ")
		r.value(m[k], ct, depth+1)
		if i < len(keys)-1 {
			r.b.WriteByte(',')
		}
		r.b.WriteByte('\n')
	}
	r.indent(depth)
	r.b.WriteByte('}')
}

// comment writes doc as // lines wrapped at commentWidth.
func (r *renderer) comment(doc string, depth int) {
	width := max(commentWidth-2*depth-3, 30)
	line := ""
	flush := func() {
		r.indent(depth)
		r.b.WriteString("// ")
		r.b.WriteString(line)
		r.b.WriteByte('\n')
		line = ""
	}
	for _, w := range strings.Fields(doc) {
		if line != "" && len(line)+1+len(w) > width {
			flush()
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		flush()
	}
}

func (r *renderer) value(v any, t reflect.Type, depth int) {
	switch x := v.(type) {
	case map[string]any:
		r.object(x, t, depth)
	case []any:
		r.array(x, t, depth)
	default:
		r.b.WriteString(scalar(v))
	}
}

func (r *renderer) array(a []any, t reflect.Type, depth int) {
	var et reflect.Type
	if t != nil && t.Kind() == reflect.Slice {
		et = t.Elem()
	}
	inline := true
	width := 2 * depth
	for _, e := range a {
		switch e.(type) {
		case map[string]any, []any:
			inline = false
		}
		width += len(scalar(e)) + 2
	}
	if len(a) == 0 || (inline && width <= commentWidth) {
		r.b.WriteByte('[')
		for i, e := range a {
			if i > 0 {
				r.b.WriteString(", ")
			}
			r.b.WriteString(scalar(e))
		}
		r.b.WriteByte(']')
		return
	}
	r.b.WriteString("[\n")
	for i, e := range a {
		r.indent(depth + 1)
		r.value(e, et, depth+1)
		if i < len(a)-1 {
			r.b.WriteByte(',')
		}
		r.b.WriteByte('\n')
	}
	r.indent(depth)
	r.b.WriteByte(']')
}

// scalar renders a non-container value.
func scalar(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if x {
			return "true"
		}
		return "false"
	case float64:
		return formatNumber(x)
	case string:
		return quoteJSON(x)
	}
	return "null"
}

// quoteJSON quotes s as a JSON string, without HTML escaping.
func quoteJSON(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(fmt.Sprintf("config: encoding a string: %v", err)) // cannot happen for a string
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// renderKey writes a key bare when it is an identifier the JSON5 decoder
// accepts unquoted, else quoted.
func renderKey(k string) string {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return quoteJSON(k)
	}
	for i := 0; i < len(k); i++ {
		if !isKeyByte(k[i]) {
			return quoteJSON(k)
		}
	}
	return k
}

// orderKeys puts the keys of m in struct field order when t is a struct,
// followed by the rest sorted.
func orderKeys(m map[string]any, t reflect.Type) []string {
	rest := sortedKeys(m)
	if t == nil {
		return rest
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || t == secretType() {
		return rest
	}
	var out []string
	for _, f := range fieldsOf(t) {
		if _, ok := m[f.name]; ok {
			out = append(out, f.name)
		}
	}
	for _, k := range rest {
		if !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	return out
}

// DefaultFile is the configuration written on first run: the gateway on
// loopback with token authentication (token is written as given; pass ""
// to leave it out), and commented-out examples that show where models and
// channels go. It parses cleanly as is.
func DefaultFile(token string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `// Talon configuration. The format is JSON5: comments, unquoted keys and
// trailing commas are fine. Every key is described in docs/configuration.md;
// unknown keys and invalid values are errors, never silently ignored.
// String values may use environment variables: "${NAME}".
{
  gateway: {
    // TCP port the gateway listens on.
    port: %d,
    // "loopback" accepts connections from this machine only. "lan" or
    // "tailnet" make the gateway reachable from elsewhere.
    bind: "loopback",
    auth: {
      mode: "token",
`, Default().Gateway.Port)
	if token != "" {
		fmt.Fprintf(&b, `      // Clients present this token. Keep it secret; to rotate it, replace it
      // here (a running gateway picks the change up).
      token: %s,
`, quoteJSON(token))
	}
	b.WriteString(`    },
  },

  // Model providers. For example, a local Ollama server:
  // models: {
  //   providers: {
  //     local: {
  //       api: "openai-completions",
  //       baseUrl: "http://127.0.0.1:11434/v1",
  //       models: [{ id: "qwen3", contextWindow: 32768 }],
  //     },
  //   },
  // },
  // agents: { defaults: { model: "local/qwen3" } },

  // Chat channels. For example, a Telegram bot (token from @BotFather):
  // channels: {
  //   telegram: {
  //     botToken: "${TELEGRAM_BOT_TOKEN}",
  //     dmPolicy: "pairing",
  //   },
  // },
}
`)
	return []byte(b.String())
}
