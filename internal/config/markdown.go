package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
)

// Markdown returns the configuration reference, docs/configuration.md,
// generated from the same tags as the validator. A test keeps the committed
// file equal to it.
func Markdown() []byte {
	var b bytes.Buffer
	b.WriteString(markdownIntro)
	b.WriteString("\n## Strict validation\n\n")
	b.WriteString(markdownStrict)
	b.WriteString("\n```\n")
	_, err := Parse([]byte(`{gateway: {prot: 18789}, channels: {telegram: {dmPolicy: "opne"}}}`), nil)
	b.WriteString(err.Error())
	b.WriteString("\n```\n")
	b.WriteString(markdownReload)

	t := reflect.TypeFor[Config]()
	for _, f := range fieldsOf(t) {
		if f.name == "$schema" {
			continue
		}
		fmt.Fprintf(&b, "\n## `%s`\n\n%s\n\n", f.name, f.doc)
		b.WriteString("| Key | Type | Default | Reload | Description |\n")
		b.WriteString("|---|---|---|---|---|\n")
		markdownRows(&b, f.name, f.typ, f.live)
	}
	return b.Bytes()
}

// markdownRows writes one table row per key below path, in field order.
func markdownRows(b *bytes.Buffer, path string, t reflect.Type, live bool) {
	switch kindOf(t) {
	case kPtrStruct:
		t = t.Elem()
	case kMap:
		path += ".<id>"
		t = t.Elem()
	case kSlice:
		path += "[]"
		t = t.Elem()
	}
	if kindOf(t) != kStruct {
		return
	}
	for _, f := range fieldsOf(t) {
		p := path + "." + f.name
		l := live || f.live
		fmt.Fprintf(b, "| `%s` | %s | %s | %s | %s |\n",
			p, typeName(f), cell(defaultText(f)), reloadText(f, l), cell(describeField(f)))
		markdownRows(b, p, f.typ, l)
	}
}

func typeName(f field) string {
	switch f.kind {
	case kString:
		return "string"
	case kSecret:
		return "secret"
	case kBool:
		return "boolean"
	case kInt:
		return "integer"
	case kFloat:
		return "number"
	case kStruct:
		return "object"
	case kPtrStruct:
		return "object, optional"
	case kMap:
		return "map of id → object"
	case kSlice:
		if kindOf(f.typ.Elem()) == kStruct {
			return "array of objects"
		}
		return "array of strings"
	}
	return ""
}

func defaultText(f field) string {
	switch {
	case f.hasDefault:
		j, _ := json.Marshal(f.defaultValue())
		return "`" + strings.ReplaceAll(string(j), ",", ", ") + "`"
	case f.kind == kString:
		return "`\"\"`"
	case f.kind == kSlice:
		return "`[]`"
	case f.kind == kSecret:
		return "unset"
	case f.kind == kPtrStruct:
		return "absent"
	}
	return ""
}

// reloadText is live or restart for a key; for an object whose keys differ
// it is "per key".
func reloadText(f field, live bool) string {
	if live {
		return "live"
	}
	if f.kind == kStruct && hasLive(f.typ) {
		return "per key"
	}
	return "restart"
}

func hasLive(t reflect.Type) bool {
	for _, f := range fieldsOf(t) {
		if f.live || (f.kind == kStruct && hasLive(f.typ)) {
			return true
		}
	}
	return false
}

// describeField is the doc followed by the value constraints.
func describeField(f field) string {
	parts := []string{f.doc}
	if f.enum != nil {
		vals := make([]string, len(f.enum))
		for i, e := range f.enum {
			vals[i] = "`" + e + "`"
		}
		parts = append(parts, "One of "+strings.Join(vals, ", ")+".")
	}
	switch {
	case f.hasMin && f.hasMax:
		parts = append(parts, fmt.Sprintf("From %s to %s.", formatNumber(f.min), formatNumber(f.max)))
	case f.hasMin:
		parts = append(parts, fmt.Sprintf("At least %s.", formatNumber(f.min)))
	case f.hasMax:
		parts = append(parts, fmt.Sprintf("At most %s.", formatNumber(f.max)))
	}
	switch f.format {
	case "ip":
		parts = append(parts, "An IP address.")
	case "ip-or-cidr":
		parts = append(parts, "Each an IP address or CIDR range.")
	case "http-url":
		parts = append(parts, "An absolute http or https URL.")
	case "origin":
		parts = append(parts, "Each `scheme://host[:port]`; `*` and `null` are refused.")
	case "model-ref":
		parts = append(parts, "Written `<provider id>/<model id>`.")
	case "e164":
		parts = append(parts, "E.164: `+` and 7 to 15 digits.")
	case "fetch-host":
		parts = append(parts, "Each `host`, `*.domain` or IP, with an optional `:port`.")
	}
	if f.keys == "id" {
		parts = append(parts, "Ids match `"+idPattern+"`.")
	}
	if f.required {
		parts = append(parts, "Required.")
	}
	if f.reqIfKey != "" {
		parts = append(parts, fmt.Sprintf("Required when `%s` is `%q`.", f.reqIfKey, f.reqIfValue))
	}
	return strings.Join(parts, " ")
}

// cell escapes text for a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}

const markdownIntro = `# Configuration reference

<!-- Generated from internal/config/types.go; do not edit. Regenerate with
     go test ./internal/config -run TestDocs -update -->

Talon reads one configuration file: ` + "`$TALON_CONFIG_PATH`" + `, by default
` + "`$TALON_STATE_DIR/talon.json`" + ` (` + "`~/.talon/talon.json`" + `). It may contain secrets;
keep it readable by its owner only (mode 0600).

## Format

The file is [JSON5](https://json5.org): JSON plus comments (` + "`//`" + ` and ` + "`/* */`" + `),
unquoted keys, single-quoted strings, trailing commas and hexadecimal numbers. The top
level is an object. Keys not marked required are optional; an absent key has the default
listed below.
` + "`$schema`" + ` may name a JSON Schema for editor completion; Talon ignores it.

## Environment variables

A string value may contain ` + "`${NAME}`" + ` references, where NAME is upper-case letters,
digits and ` + "`_`" + ` and does not start with a digit. They are replaced with the
variable's value when the file is loaded, which is the usual way to keep secrets out
of the file:

` + "```json5" + `
{ gateway: { auth: { token: "${TALON_GATEWAY_TOKEN}" } } }
` + "```" + `

- A reference to a variable that is not set is an error at that key. A variable set
  to the empty string substitutes as empty.
- ` + "`$${NAME}`" + ` stands for the literal text ` + "`${NAME}`" + `.
- ` + "`${name}`" + ` (lower case) is not a reference and stays as written.
- Only string values are substituted, never keys; numbers and booleans cannot come
  from a variable.

Keys of type *secret* (tokens, passwords, API keys) are never shown: Talon prints
them as ` + "`***`" + `.

Which keys widen what strangers or the agent can do, and the ` + "`talon security audit`" + `
check that reports each, is listed in [security-audit.md](security-audit.md).

## Key paths

A key is named by its dotted path: ` + "`gateway.auth.mode`" + `; map entries by their id:
` + "`models.providers.local.baseUrl`" + `; array elements by index:
` + "`tools.exec.allowlist.0`" + `. In the tables below ` + "`<id>`" + ` stands for any map key and
` + "`[]`" + ` for any array element.
`

const markdownStrict = `Talon refuses a configuration with any problem: an unknown key, a value of the wrong
type, a number out of range, a value that is not one of those allowed, a duplicate key,
text after the closing brace, or a broken rule between keys (for example
` + "`gateway.bind`" + ` other than ` + "`\"loopback\"`" + ` with ` + "`gateway.auth.mode` `\"none\"`" + `). It reports
every problem at once, each with its key path and, where it helps, a hint:
`

const markdownReload = `
## Reloading

With ` + "`gateway.reload.mode`" + ` ` + "`\"hot\"`" + ` (the default) the gateway watches the file. When it
changes and is valid, changes to keys marked **live** take effect at once; keys marked
**restart** take effect when the gateway is restarted. When the new file is invalid its
problems are reported and the running configuration stays in force.
`
