package config

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/talonclaw/talon/internal/secret"
)

// kind classifies the Go types the config is made of. Every field of the
// config types is one of these; fieldsOf panics on anything else, and the
// tests walk every type, so a new field of an unsupported type fails them.
type kind int

const (
	kString kind = iota
	kSecret
	kBool
	kInt
	kFloat
	kStruct
	kPtrStruct // optional section: nil when absent
	kMap       // map[string]T
	kSlice     // []T
)

func secretType() reflect.Type { return reflect.TypeFor[secret.Secret]() }

func kindOf(t reflect.Type) kind {
	if t == secretType() {
		return kSecret
	}
	switch t.Kind() {
	case reflect.String:
		return kString
	case reflect.Bool:
		return kBool
	case reflect.Int:
		return kInt
	case reflect.Float64:
		return kFloat
	case reflect.Struct:
		return kStruct
	case reflect.Pointer:
		if t.Elem().Kind() == reflect.Struct && t.Elem() != secretType() {
			return kPtrStruct
		}
	case reflect.Map:
		if t.Key().Kind() == reflect.String {
			return kMap
		}
	case reflect.Slice:
		return kSlice
	}
	panic(fmt.Sprintf("config: unsupported field type %s", t))
}

// field is the parsed tag set of one struct field.
type field struct {
	name       string
	index      []int // reflect.Value.FieldByIndex path (embedded structs are flattened)
	typ        reflect.Type
	kind       kind
	doc        string
	def        string
	hasDefault bool
	min, max   float64
	hasMin     bool
	hasMax     bool
	enum       []string
	live       bool
	required   bool
	reqIfKey   string
	reqIfValue string
	format     string
	keys       string
}

// fieldsOf returns the config fields of struct type t in declaration order.
// It is recomputed on each call rather than cached so the package holds no
// mutable state; the types are small and this is not on a hot path.
func fieldsOf(t reflect.Type) []field {
	var out []field
	for i := range t.NumField() {
		sf := t.Field(i)
		if sf.Anonymous && sf.Type.Kind() == reflect.Struct {
			// An embedded struct's fields are the outer struct's own keys,
			// so several sections can share one set of fields.
			for _, ef := range fieldsOf(sf.Type) {
				ef.index = append([]int{i}, ef.index...)
				out = append(out, ef)
			}
			continue
		}
		if !sf.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			panic(fmt.Sprintf("config: field %s.%s has no json name", t.Name(), sf.Name))
		}
		f := field{
			name:   name,
			index:  []int{i},
			typ:    sf.Type,
			kind:   kindOf(sf.Type),
			doc:    sf.Tag.Get("doc"),
			live:   sf.Tag.Get("reload") == "live",
			format: sf.Tag.Get("format"),
			keys:   sf.Tag.Get("keys"),
		}
		f.def, f.hasDefault = sf.Tag.Lookup("default")
		if s, ok := sf.Tag.Lookup("min"); ok {
			f.min, f.hasMin = mustFloat(t, sf, s), true
		}
		if s, ok := sf.Tag.Lookup("max"); ok {
			f.max, f.hasMax = mustFloat(t, sf, s), true
		}
		if s := sf.Tag.Get("enum"); s != "" {
			f.enum = strings.Split(s, "|")
		}
		f.required = sf.Tag.Get("required") == "true"
		if s := sf.Tag.Get("requiredIf"); s != "" {
			var ok bool
			f.reqIfKey, f.reqIfValue, ok = strings.Cut(s, "=")
			if !ok {
				panic(fmt.Sprintf("config: bad requiredIf tag on %s.%s", t.Name(), sf.Name))
			}
		}
		if f.hasDefault {
			f.defaultValue() // panics early on a malformed default
		}
		out = append(out, f)
	}
	return out
}

func mustFloat(t reflect.Type, sf reflect.StructField, s string) float64 {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		panic(fmt.Sprintf("config: bad bound %q on %s.%s", s, t.Name(), sf.Name))
	}
	return v
}

// lookupField finds the field with JSON name name in struct type t.
func lookupField(t reflect.Type, name string) (field, bool) {
	for _, f := range fieldsOf(t) {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

// defaultValue is the field's default as a JSON-like value (string, bool,
// float64, []any), or nil when it has none.
func (f field) defaultValue() any {
	if !f.hasDefault {
		return nil
	}
	bad := func(err error) {
		panic(fmt.Sprintf("config: bad default %q for %s: %v", f.def, f.name, err))
	}
	switch f.kind {
	case kString:
		return f.def
	case kBool:
		b, err := strconv.ParseBool(f.def)
		if err != nil {
			bad(err)
		}
		return b
	case kInt:
		n, err := strconv.Atoi(f.def)
		if err != nil {
			bad(err)
		}
		return float64(n)
	case kFloat:
		n, err := strconv.ParseFloat(f.def, 64)
		if err != nil {
			bad(err)
		}
		return n
	case kSlice:
		if f.typ.Elem().Kind() != reflect.String {
			bad(fmt.Errorf("defaults only for lists of strings"))
		}
		out := []any{}
		if f.def != "" {
			for _, s := range strings.Split(f.def, ",") {
				out = append(out, s)
			}
		}
		return out
	}
	bad(fmt.Errorf("defaults not supported for %s", f.typ))
	return nil
}

// applyDefaults sets every field of the struct v (addressable) that has a
// default tag, recursing into nested structs. Optional sections (pointers),
// maps and lists of structs start empty; their elements get defaults when
// they are decoded.
func applyDefaults(v reflect.Value) {
	for _, f := range fieldsOf(v.Type()) {
		fv := v.FieldByIndex(f.index)
		if f.kind == kStruct {
			applyDefaults(fv)
			continue
		}
		if !f.hasDefault {
			continue
		}
		switch d := f.defaultValue().(type) {
		case string:
			fv.SetString(d)
		case bool:
			fv.SetBool(d)
		case float64:
			if f.kind == kInt {
				fv.SetInt(int64(d))
			} else {
				fv.SetFloat(d)
			}
		case []any:
			s := reflect.MakeSlice(f.typ, len(d), len(d))
			for i, e := range d {
				s.Index(i).SetString(e.(string))
			}
			fv.Set(s)
		}
	}
}

func reflectValue(c *Config) reflect.Value { return reflect.ValueOf(c).Elem() }

// childType is the type a tree key leads to from type t: a field of a
// struct, the element of a map or list. ok is false for unknown keys and
// scalar types.
func childType(t reflect.Type, key string) (field, reflect.Type, bool) {
	switch kindOf(t) {
	case kStruct:
		f, ok := lookupField(t, key)
		return f, f.typ, ok
	case kPtrStruct:
		return childType(t.Elem(), key)
	case kMap, kSlice:
		return field{}, t.Elem(), true
	}
	return field{}, nil, false
}
