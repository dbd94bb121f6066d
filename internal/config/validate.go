package config

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/talonclaw/talon/internal/secret"
)

// Validate checks a tree (from ParseTree, possibly edited with SetPath or
// MergePatch) strictly against the config types, substituting ${VAR}
// references in string values from env, and returns the config with
// defaults applied. It reports every problem at once in a
// *ValidationError. The tree is not modified.
//
// Besides the JSON values ParseTree produces, the tree may hold Go integers,
// float32, json.Number and typed slices and maps; they are read as the
// JSON values they stand for.
func Validate(tree map[string]any, env LookupEnv) (*Config, error) {
	return validateWith(tree, env, nil)
}

// validateWith is Validate starting from problems already found.
func validateWith(tree map[string]any, env LookupEnv, prior []Problem) (*Config, error) {
	d := &decoder{env: env, ps: problems{list: prior}}
	var root any = map[string]any{}
	if tree != nil {
		root = d.normalize("", tree)
	}
	c := Default()
	v := reflectValue(c)
	d.decode("", root, v, field{kind: kStruct, typ: v.Type()}, false)
	checkRules(c, &d.ps)
	if err := d.ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

// decoder walks a tree and the config types side by side, storing valid
// values and recording a problem for everything else. It never stops at the
// first problem.
type decoder struct {
	env LookupEnv
	ps  problems
}

// decode stores raw into v, which has the type and tags of f. elem is true
// for list elements and map values.
func (d *decoder) decode(path string, raw any, v reflect.Value, f field, elem bool) {
	switch f.kind {
	case kStruct:
		if obj, ok := d.object(path, raw, f); ok {
			d.fields(path, obj, v)
		}
	case kPtrStruct:
		if raw == nil {
			v.Set(reflect.Zero(f.typ))
			return
		}
		if obj, ok := d.object(path, raw, f); ok {
			p := reflect.New(f.typ.Elem())
			applyDefaults(p.Elem())
			d.fields(path, obj, p.Elem())
			v.Set(p)
		}
	case kMap:
		obj, ok := d.object(path, raw, f)
		if !ok {
			return
		}
		m := reflect.MakeMapWithSize(f.typ, len(obj))
		ef := elemField(f.typ.Elem())
		for _, k := range sortedKeys(obj) {
			p := joinPath(path, k)
			if f.keys != "" {
				if msg, hint := checkKey(f.keys, k); msg != "" {
					d.ps.add(p, msg, hint)
					continue
				}
			}
			ev := reflect.New(ef.typ).Elem()
			if ef.kind == kStruct {
				applyDefaults(ev)
			}
			d.decode(p, obj[k], ev, ef, true)
			m.SetMapIndex(reflect.ValueOf(k), ev)
		}
		v.Set(m)
	case kSlice:
		arr, ok := raw.([]any)
		if !ok {
			d.wrongType(path, raw, f)
			return
		}
		s := reflect.MakeSlice(f.typ, len(arr), len(arr))
		ef := elemField(f.typ.Elem())
		ef.format = f.format
		for i, e := range arr {
			ev := s.Index(i)
			if ef.kind == kStruct {
				applyDefaults(ev)
			}
			d.decode(joinPath(path, strconv.Itoa(i)), e, ev, ef, true)
		}
		v.Set(s)
	case kString, kSecret:
		s, ok := raw.(string)
		if !ok {
			d.wrongType(path, raw, f)
			return
		}
		// A value that came from the environment is shown as written in the
		// file, never as substituted: the variable may hold a secret.
		shown := quoteShort(s)
		expanded, missing := expandEnv(s, d.env)
		if expanded != s {
			shown += " (expanded)"
		}
		s = expanded
		for _, name := range missing {
			if n, ok := strings.CutPrefix(name, "secret:"); ok {
				d.ps.add(path, fmt.Sprintf("secret %s is not in the secret store", n),
					fmt.Sprintf("talon secrets set %s, or fix the name (talon secrets list shows the names)", n))
				continue
			}
			d.ps.add(path, fmt.Sprintf("environment variable %s is not set", name),
				fmt.Sprintf("export %s or replace ${%s} with a value", name, name))
		}
		if len(missing) > 0 {
			return
		}
		if f.kind == kSecret {
			v.Set(reflect.ValueOf(secret.New(s)))
			return
		}
		if f.enum != nil && !slices.Contains(f.enum, s) {
			hint := ""
			if m := suggest(s, f.enum); m != "" {
				hint = fmt.Sprintf("did you mean %q?", m)
			}
			d.ps.add(path, fmt.Sprintf("%s is not one of %s", shown, strings.Join(f.enum, "|")), hint)
			return
		}
		if f.format != "" && (s != "" || elem) {
			if msg, hint := checkFormat(f.format, s, shown); msg != "" {
				d.ps.add(path, msg, hint)
				return
			}
		}
		v.SetString(s)
	case kBool:
		b, ok := raw.(bool)
		if !ok {
			d.wrongType(path, raw, f)
			return
		}
		v.SetBool(b)
	case kInt, kFloat:
		n, ok := raw.(float64)
		if !ok {
			d.wrongType(path, raw, f)
			return
		}
		if math.IsNaN(n) || math.IsInf(n, 0) {
			d.ps.add(path, fmt.Sprintf("want a finite number, got %s", formatNumber(n)), "")
			return
		}
		if f.kind == kInt && n != math.Trunc(n) {
			d.ps.add(path, fmt.Sprintf("want an integer, got number %s", formatNumber(n)), "")
			return
		}
		if msg := checkRange(f, n); msg != "" {
			d.ps.add(path, msg, "")
			return
		}
		if f.kind == kInt {
			v.SetInt(int64(n))
		} else {
			v.SetFloat(n)
		}
	}
}

// maxExactInt is the largest integer a JSON number (a float64) holds
// exactly; integer fields without a max tag are capped there.
const maxExactInt = 1<<53 - 1

func checkRange(f field, n float64) string {
	lo, hi := f.min, f.max
	hasLo, hasHi := f.hasMin, f.hasMax
	if f.kind == kInt && !hasLo {
		lo, hasLo = -maxExactInt, true
	}
	if f.kind == kInt && !hasHi {
		hi, hasHi = maxExactInt, true
	}
	switch {
	case f.hasMin && f.hasMax && (n < lo || n > hi):
		return fmt.Sprintf("must be between %s and %s, got %s", formatNumber(lo), formatNumber(hi), formatNumber(n))
	case hasLo && n < lo:
		return fmt.Sprintf("must be at least %s, got %s", formatNumber(lo), formatNumber(n))
	case hasHi && n > hi:
		return fmt.Sprintf("must be at most %s, got %s", formatNumber(hi), formatNumber(n))
	}
	return ""
}

// object type-checks an object value.
func (d *decoder) object(path string, raw any, f field) (map[string]any, bool) {
	obj, ok := raw.(map[string]any)
	if !ok {
		d.wrongType(path, raw, f)
	}
	return obj, ok
}

// fields decodes the keys of obj into the struct v, reporting unknown keys
// and missing required ones.
func (d *decoder) fields(path string, obj map[string]any, v reflect.Value) {
	fs := fieldsOf(v.Type())
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	for _, k := range sortedKeys(obj) {
		p := joinPath(path, k)
		i := slices.Index(names, k)
		if i < 0 {
			hint := "valid keys here: " + strings.Join(names, ", ")
			if m := suggest(k, names); m != "" {
				hint = fmt.Sprintf("did you mean %q?", m)
			}
			d.ps.add(p, fmt.Sprintf("unknown key %s", quoteShort(k)), hint)
			continue
		}
		d.decode(p, obj[k], v.FieldByIndex(fs[i].index), fs[i], false)
	}
	for _, f := range fs {
		p := joinPath(path, f.name)
		raw, present := obj[f.name]
		switch {
		case f.required && !present:
			d.ps.add(p, "missing required key", "")
		case f.required && f.kind == kString && raw != nil && v.FieldByIndex(f.index).String() == "" && !d.ps.at(p):
			d.ps.add(p, "must not be empty", "")
		case f.reqIfKey != "":
			sib, _ := lookupField(v.Type(), f.reqIfKey)
			sp := joinPath(path, f.reqIfKey)
			if v.FieldByIndex(sib.index).String() == f.reqIfValue && v.FieldByIndex(f.index).IsZero() && !d.ps.at(sp) && !d.ps.at(p) {
				d.ps.add(p, fmt.Sprintf("required when %s is %q", sp, f.reqIfValue),
					fmt.Sprintf("set %s, or change %s", p, sp))
			}
		}
	}
}

// wrongType records a type mismatch, with a hint for the usual slips.
func (d *decoder) wrongType(path string, raw any, f field) {
	secretish := f.kind == kSecret
	want := map[kind]string{
		kString: "a string", kSecret: "a string", kBool: "true or false", kInt: "an integer",
		kFloat: "a number", kStruct: "an object", kPtrStruct: "an object", kMap: "an object",
		kSlice: "an array",
	}[f.kind]
	hint := ""
	switch r := raw.(type) {
	case nil:
		hint = "remove the key to use the default"
	case float64, bool:
		if f.kind == kString || f.kind == kSecret {
			hint = "put the value in quotes"
			if !secretish {
				hint = fmt.Sprintf("put the value in quotes: \"%s\"", describeScalar(r))
			}
		}
		switch {
		case f.enum != nil:
			hint = "use one of " + strings.Join(f.enum, "|")
		case f.kind == kSlice:
			hint = fmt.Sprintf("write an array: [%s]", describeScalar(r))
		case f.kind == kBool:
			hint = "write true or false"
		}
	case string:
		switch f.kind {
		case kInt, kFloat:
			if _, err := strconv.ParseFloat(strings.TrimSpace(r), 64); err == nil {
				hint = "remove the quotes around the number"
			}
		case kBool:
			if r == "true" || r == "false" {
				hint = "remove the quotes: " + r
			}
		case kSlice:
			hint = fmt.Sprintf("write an array: [%s]", quoteShort(r))
		}
	}
	d.ps.add(path, fmt.Sprintf("want %s, got %s", want, describe(raw, secretish)), hint)
}

// elemField describes an element of a map or list.
func elemField(t reflect.Type) field {
	return field{typ: t, kind: kindOf(t)}
}

// normalize deep-copies a tree, converting Go values that stand for JSON
// values (ints, json.Number, typed slices and maps) into the types
// ParseTree produces. Anything else is a problem at its path.
func (d *decoder) normalize(path string, v any) any {
	switch x := v.(type) {
	case nil, bool, string, float64:
		return x
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			d.ps.add(path, fmt.Sprintf("invalid number %s", x), "")
			return nil
		}
		return f
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = d.normalize(joinPath(path, k), e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = d.normalize(joinPath(path, strconv.Itoa(i)), e)
		}
		return out
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.String:
		return rv.String()
	case reflect.Bool:
		return rv.Bool()
	case reflect.Slice, reflect.Array:
		if rv.Kind() == reflect.Slice && rv.IsNil() {
			return []any{}
		}
		out := make([]any, rv.Len())
		for i := range out {
			out[i] = d.normalize(joinPath(path, strconv.Itoa(i)), rv.Index(i).Interface())
		}
		return out
	case reflect.Map:
		if rv.Type().Key().Kind() == reflect.String {
			out := make(map[string]any, rv.Len())
			it := rv.MapRange()
			for it.Next() {
				k := it.Key().String()
				out[k] = d.normalize(joinPath(path, k), it.Value().Interface())
			}
			return out
		}
	case reflect.Pointer, reflect.Interface:
		if rv.IsNil() {
			return nil
		}
		return d.normalize(path, rv.Elem().Interface())
	}
	d.ps.add(path, fmt.Sprintf("unsupported value of Go type %T", v), "")
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// describe names a JSON value for an error message: `string "abc"`,
// `number 5`, `boolean true`, `array`, `object`, `null`. With secret set it
// names only the type.
func describe(v any, secret bool) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		if secret {
			return "boolean"
		}
		return "boolean " + strconv.FormatBool(x)
	case float64:
		if secret {
			return "number"
		}
		return "number " + formatNumber(x)
	case string:
		if secret {
			return "string"
		}
		return "string " + quoteShort(x)
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func describeScalar(v any) string {
	switch x := v.(type) {
	case float64:
		return formatNumber(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return ""
}

// quoteShort quotes s for a message, shortened to 40 characters.
func quoteShort(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) > n {
		s = string([]rune(s)[:n]) + "…"
	}
	return strconv.Quote(s)
}

// formatNumber prints a number the way a person would write it in the file.
func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == math.Trunc(f) && math.Abs(f) < 1e21:
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}
