package config

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
)

// Schema returns a JSON Schema (draft 2020-12) of the configuration file,
// generated from the config types and their tags: types, descriptions,
// defaults, enumerations, bounds, formats, required keys, and
// additionalProperties false everywhere, so an editor flags unknown keys as
// Talon does. Secrets are strings marked writeOnly.
//
// The schema checks a file as written, before ${VAR} substitution, and
// cannot express every rule (origins, cross-field rules); Validate remains
// the authority.
func Schema() []byte {
	s := objectSchema(reflect.TypeFor[Config]())
	s["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	s["title"] = "Talon configuration"
	s["description"] = "Configuration file of the Talon gateway (talon.json, JSON5). See docs/configuration.md."
	out, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("config.Schema: %v", err)) // only maps, slices and scalars: cannot fail
	}
	return append(out, '\n')
}

func objectSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required, allOf []any
	for _, f := range fieldsOf(t) {
		props[f.name] = fieldSchema(f)
		if f.required {
			required = append(required, f.name)
		}
		if f.reqIfKey != "" {
			allOf = append(allOf, map[string]any{
				"if": map[string]any{
					"properties": map[string]any{f.reqIfKey: map[string]any{"const": f.reqIfValue}},
					"required":   []any{f.reqIfKey},
				},
				"then": map[string]any{
					"properties": map[string]any{f.name: map[string]any{"minLength": 1}},
					"required":   []any{f.name},
				},
			})
		}
	}
	s := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if required != nil {
		s["required"] = required
	}
	if allOf != nil {
		s["allOf"] = allOf
	}
	return s
}

func fieldSchema(f field) map[string]any {
	s := typeSchema(f.typ, f)
	if f.doc != "" {
		s["description"] = f.doc
	}
	if f.hasDefault {
		s["default"] = f.defaultValue()
	}
	if f.enum != nil {
		s["enum"] = f.enum
	}
	if f.hasMin {
		s["minimum"] = f.min
	}
	if f.hasMax {
		s["maximum"] = f.max
	}
	if f.required && f.kind == kString {
		s["minLength"] = 1
	}
	if f.format != "" {
		target := s
		if f.kind == kSlice {
			target = s["items"].(map[string]any)
		}
		maps.Copy(target, formatSchema(f.format))
	}
	return s
}

func typeSchema(t reflect.Type, f field) map[string]any {
	switch kindOf(t) {
	case kString:
		return map[string]any{"type": "string"}
	case kSecret:
		return map[string]any{"type": "string", "writeOnly": true}
	case kBool:
		return map[string]any{"type": "boolean"}
	case kInt:
		return map[string]any{"type": "integer"}
	case kFloat:
		return map[string]any{"type": "number"}
	case kStruct:
		return objectSchema(t)
	case kPtrStruct:
		s := objectSchema(t.Elem())
		s["type"] = []any{"object", "null"}
		return s
	case kMap:
		s := map[string]any{"type": "object", "additionalProperties": typeSchema(t.Elem(), field{})}
		if f.keys == "id" {
			s["propertyNames"] = map[string]any{"pattern": idPattern}
		}
		return s
	case kSlice:
		return map[string]any{"type": "array", "items": typeSchema(t.Elem(), field{})}
	}
	panic(fmt.Sprintf("config.Schema: unsupported type %s", t))
}
