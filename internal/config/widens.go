package config

import (
	"fmt"
	"reflect"
	"strings"
)

// The widens tag says how a key changes what strangers or the agent can do,
// and which `talon security audit` check reports it. Every key carries it,
// on itself or on a section above it (a section's tag covers every key
// below it that has none), so a new key cannot be added without saying
// whether it widens exposure:
//
//	widens:"VALUE => CHECK; VALUE => CHECK"  the key widens exposure; set to
//	                                         VALUE (a JSON5 literal, '…'
//	                                         quotes allowed) it is reported
//	                                         by the audit check CHECK
//	widens:"-: REASON"                       no check: REASON says why
//
// A CHECK may contain "<channel>" for the channel whose section holds the
// key ("channels.<channel>.dm.open"). Keys of type secret need no tag: a
// literal value is reported by secrets.plaintext, whatever the key.
//
// The security package ties each CHECK to its check table and proves, per
// trigger, that setting VALUE in a secure configuration makes the audit
// report CHECK; docs/security-audit.md is generated from these tags.

// Widening is one key of the configuration and how it widens exposure.
type Widening struct {
	// Key is the key path; "*" stands for a map key or a list index, as in
	// SecretKeys.
	Key string
	// Doc is the key's description.
	Doc string
	// Triggers are the values that widen exposure and the check that
	// reports each. Empty when Reason is set.
	Triggers []WideningTrigger
	// Reason says why the key needs no check.
	Reason string
	// From is the key whose tag this one inherits ("" for its own).
	From string
	// Secret marks a key of type secret (its literal trigger is implicit).
	Secret bool
}

// WideningTrigger is one value of a key and the audit check that reports it.
type WideningTrigger struct {
	Value string // JSON5 literal
	Check string
}

// SecretLiteralCheck is the audit check that reports any key of type secret
// holding a literal value instead of a ${NAME} or ${secret:NAME} reference.
const SecretLiteralCheck = "secrets.plaintext"

// Widenings lists every key of the configuration with its widens
// classification, in declaration order. A key with no classification (its
// own or a section's) is listed with neither Triggers nor Reason; the tests
// refuse that.
func Widenings() []Widening {
	var out []Widening
	walkWidens(reflect.TypeFor[Config](), "", nil, &out)
	return out
}

type widensTag struct {
	from     string
	triggers []WideningTrigger
	reason   string
}

func walkWidens(t reflect.Type, path string, inherited *widensTag, out *[]Widening) {
	for _, f := range fieldsOf(t) {
		p := joinKey(path, f.name)
		sf := t.FieldByIndex(f.index)
		tag := inherited
		if s, ok := sf.Tag.Lookup("widens"); ok {
			parsed := parseWidens(p, s)
			parsed.from = p
			tag = &parsed
		}
		// Descend into sections; a map or list of sections is a section.
		// A map or list of plain values is one key.
		ft, sp := f.typ, p
		for kindOf(ft) == kMap || kindOf(ft) == kSlice {
			ft, sp = ft.Elem(), joinKey(sp, "*")
		}
		if kindOf(ft) == kPtrStruct {
			ft = ft.Elem()
		}
		if kindOf(ft) == kStruct {
			walkWidens(ft, sp, tag, out)
			continue
		}
		w := Widening{Key: p, Doc: f.doc, Secret: f.kind == kSecret}
		if tag != nil {
			w.Triggers = append(w.Triggers, tag.triggers...)
			w.Reason = tag.reason
			if tag.from != p {
				w.From = tag.from
			}
		}
		if w.Secret {
			w.Triggers = append(w.Triggers, WideningTrigger{Value: "'literal-secret-value-0123456789abcdef'", Check: SecretLiteralCheck})
			w.Reason = ""
		}
		*out = append(*out, w)
	}
}

// parseWidens reads one widens tag; a malformed tag is a programming error
// the tests hit at once.
func parseWidens(key, s string) widensTag {
	if r, ok := strings.CutPrefix(s, "-:"); ok {
		r = strings.TrimSpace(r)
		if r == "" {
			panic(fmt.Sprintf("config: widens tag of %s gives no reason", key))
		}
		return widensTag{reason: r}
	}
	var t widensTag
	for _, part := range strings.Split(s, ";") {
		v, c, ok := strings.Cut(part, "=>")
		v, c = strings.TrimSpace(v), strings.TrimSpace(c)
		if !ok || v == "" || c == "" || strings.ContainsAny(c, " \t") {
			panic(fmt.Sprintf("config: bad widens tag %q on %s (want \"VALUE => CHECK; …\" or \"-: REASON\")", s, key))
		}
		if _, err := unmarshalJSON5([]byte(v)); err != nil {
			panic(fmt.Sprintf("config: widens tag of %s: %s is not a JSON5 value: %v", key, v, err))
		}
		t.triggers = append(t.triggers, WideningTrigger{Value: v, Check: c})
	}
	return t
}
